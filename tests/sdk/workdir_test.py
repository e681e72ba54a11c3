"""The official Daytona Python SDK works in the image's `WORKDIR` against `ralph-town serve`.

Run by `tests/serve_sdk_workdir.rs` with DAYTONA_API_URL and DAYTONA_API_KEY pointing at an
in-process server. A sandbox built from `Image....workdir("/opt/app")` answers `get_work_dir()`
with it and runs commands there (exec, a session command, code_run, a terminal, a relative `cwd` under it),
while its home stays `/home/daytona`; relative file paths (upload, download, replace) lie
under the `WORKDIR` as the commands' do; an image without `WORKDIR`, and a plain sandbox, work in
the home; a `WORKDIR` in the home that a command moved away falls back to the home. The last line
names the `WORKDIR` sandbox, which the Rust side then reaches with the CLI. Any failure exits
non-zero with a traceback.
"""

import uuid

from daytona import CreateSandboxFromImageParams, Image, SessionExecuteRequest
from pty_test import read_until
from sdk_script import client, run_script, shell, stepper


step = stepper("sdk-workdir")
HOME = "/home/daytona"


def built(daytona, image):
    """A started sandbox of `image`, built here."""
    sandbox = daytona.create(CreateSandboxFromImageParams(image=image), timeout=180)
    assert sandbox.state == "started", sandbox.state
    return sandbox


def session_pwd(sandbox, session):
    """What `pwd` prints in a new session of `sandbox`."""
    sandbox.process.create_session(session)
    reply = sandbox.process.execute_session_command(
        session, SessionExecuteRequest(command="pwd", run_async=False)
    )
    assert reply.exit_code == 0, reply
    return (reply.stdout or reply.output).strip()


def main():
    daytona = client()
    run = uuid.uuid4().hex[:8]

    step("an image with WORKDIR /opt/app")
    image = (
        Image.base("debian:12")
        .workdir("/opt/app")
        .run_commands(f"mkdir sub && echo {run} > marker")
    )
    sandbox = built(daytona, image)
    assert sandbox.get_work_dir() == "/opt/app", sandbox.get_work_dir()
    assert sandbox.get_user_home_dir() == HOME, sandbox.get_user_home_dir()
    assert shell(sandbox, "pwd").strip() == "/opt/app"
    assert shell(sandbox, "cat marker").strip() == run
    assert shell(sandbox, "echo $HOME").strip() == HOME

    step("a relative cwd lies under the WORKDIR, an absolute one and ~ stay as given")
    reply = sandbox.process.exec("pwd", cwd="sub")
    assert (reply.exit_code, reply.result.strip()) == (0, "/opt/app/sub"), reply.result
    reply = sandbox.process.exec("pwd", cwd="/tmp")
    assert (reply.exit_code, reply.result.strip()) == (0, "/tmp"), reply.result
    reply = sandbox.process.exec("pwd", cwd="~")
    assert (reply.exit_code, reply.result.strip()) == (0, HOME), reply.result

    step("a session command and code_run start there too")
    assert session_pwd(sandbox, f"workdir-{run}") == "/opt/app"
    reply = sandbox.process.code_run("import os\nprint(os.getcwd())")
    assert (reply.exit_code, reply.result.strip()) == (0, "/opt/app"), reply.result

    step("a terminal starts there")
    terminal = sandbox.process.create_pty_session(id=f"pty-{run}")
    terminal.send_input("echo at:$(pwd):end\n")
    read_until(terminal, "at:/opt/app:end")
    terminal.kill()
    terminal.disconnect()

    step("an image without WORKDIR works in the home")
    plain_image = Image.base("debian:12").env({"WORKDIR_RUN": run})
    plain = built(daytona, plain_image)
    assert plain.get_work_dir() == HOME, plain.get_work_dir()
    assert shell(plain, "pwd").strip() == HOME
    assert shell(plain, "echo $WORKDIR_RUN").strip() == run

    step("a WORKDIR in the home, moved away by a command, falls back to the home")
    home_image = Image.base("debian:12").workdir(f"{HOME}/project").run_commands("touch here")
    in_home = built(daytona, home_image)
    assert in_home.get_work_dir() == f"{HOME}/project", in_home.get_work_dir()
    assert shell(in_home, "ls").split() == ["here"]

    step("relative file paths lie under the WORKDIR too, as commands see them")
    in_home.fs.upload_file(run.encode(), "uploaded.txt")
    assert shell(in_home, "cat uploaded.txt").strip() == run
    assert in_home.fs.download_file("uploaded.txt") == run.encode()
    in_home.fs.replace_in_files(["uploaded.txt"], run, "replaced")
    assert shell(in_home, "cat uploaded.txt").strip() == "replaced"
    assert in_home.fs.download_file(f"{HOME}/project/uploaded.txt") == b"replaced"
    shell(in_home, f"mv {HOME}/project {HOME}/moved")
    assert in_home.get_work_dir() == HOME, in_home.get_work_dir()
    assert session_pwd(in_home, f"gone-{run}") == HOME

    step("a sandbox of no image works in the home")
    fresh = daytona.create()
    assert fresh.get_work_dir() == HOME, fresh.get_work_dir()
    assert shell(fresh, "pwd").strip() == HOME

    print(f"sdk-workdir: sandbox {sandbox.id}", flush=True)
    step("done")


if __name__ == "__main__":
    run_script(main)
