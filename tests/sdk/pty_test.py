"""The official Daytona Python SDK's PTY sessions against `ralph-town serve`.

Run by `tests/serve_pty.rs` with DAYTONA_API_URL and DAYTONA_API_KEY pointing at an in-process
server: create (the SDK's one-round-trip create-connect, with an environment), send input and
read output, resize and see the new size, reconnect, list and get, kill, and an exit code.
Each step asserts what the SDK returned; any failure exits non-zero with a traceback.
"""

import uuid

from daytona.common.pty import PtySize
from sdk_script import client, read_until, run_script, stepper


step = stepper("sdk")


def main():
    daytona = client()
    run = uuid.uuid4().hex[:8]
    sandbox = daytona.create(timeout=60)
    process = sandbox.process

    step("create a PTY with a size and an environment")
    session = f"pty-{run}"
    handle = process.create_pty_session(
        id=session, envs={"PTY_GREETING": "hello-pty"}, pty_size=PtySize(rows=17, cols=91)
    )
    assert handle.is_connected()
    handle.send_input("stty size; echo \"greeting=$PTY_GREETING\"\n")
    text = read_until(handle, "greeting=hello-pty")
    assert "17 91" in text, text

    step("resize it and see the new size")
    info = process.resize_pty_session(session, PtySize(rows=33, cols=120))
    assert (info.rows, info.cols) == (33, 120), info
    handle.send_input("stty size\n")
    read_until(handle, "33 120")

    step("list and get it")
    listed = {pty.id: pty for pty in process.list_pty_sessions()}
    assert listed[session].active, listed
    assert process.get_pty_session_info(session).cols == 120

    step("connect a second client to it")
    handle.disconnect()
    second = process.connect_pty_session(session)
    second.send_input("echo again-$((40 + 2))\n")
    read_until(second, "again-42")

    step("exit with a code")
    second.send_input("exit 3\n")
    result = second.wait(timeout=20)
    assert result.exit_code == 3, result
    names = [pty.id for pty in process.list_pty_sessions()]
    assert session not in names, names

    step("kill a running one")
    doomed = process.create_pty_session(id=f"doomed-{run}")
    doomed.send_input("echo ready-to-die\n")
    read_until(doomed, "ready-to-die")
    doomed.kill()
    result = doomed.wait(timeout=20)
    assert result.exit_code == 137, result
    assert f"doomed-{run}" not in [pty.id for pty in process.list_pty_sessions()]

    sandbox.delete()
    step("done")


if __name__ == "__main__":
    run_script(main)
