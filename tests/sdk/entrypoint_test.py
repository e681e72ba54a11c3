"""The official Daytona Python SDK's entrypoint session against `ralph-town serve`.

Run by `tests/serve_entrypoint.rs`, one case per run (`SWEEP_CASE`), with DAYTONA_API_URL and
DAYTONA_API_KEY pointing at an in-process server. A snapshot's `entrypoint`, a declarative
image's `.entrypoint([...])` and a Dockerfile's shell-form `ENTRYPOINT` run in their sandboxes
as the async command `entrypoint_command` of the session `entrypoint`: the session shows the
command (and its exit code once it ends), its logs keep stdout and stderr apart, following them
receives what is written after the call, the list of sessions leaves it out, commands, input and
deletion are refused with the SDK's 400 class, a stop ends its processes (looked for in the
host's /proc, the tests run on the same host) and a start runs it again, and forks and
snapshots of the sandbox run it too, and the async client reads the same session and logs. A
default sandbox has no entrypoint: the SDK's not-found class. Any failure exits non-zero with a
traceback.
"""

import asyncio
import os
import uuid

from daytona import (
    CreateSandboxFromImageParams,
    CreateSandboxFromSnapshotParams,
    CreateSnapshotParams,
    DaytonaNotFoundError,
    DaytonaValidationError,
    Image,
    SessionExecuteRequest,
)
from sdk_script import async_client, output_until, raises, raises_async, run_case, stepper, until


step = stepper("entrypoint")

# Writes a line to each stream, then prints what is put in `poke` until `stop` appears, and ends
# with exit code 3. Runs in the sandbox's home, where the SDK's relative uploads land.
LOOP = (
    'echo "out-$MARK"; echo "err-$MARK" >&2; '
    "while [ ! -e stop ]; do if [ -e poke ]; then cat poke; rm -f poke; fi; sleep 0.1; done; "
    'echo "bye-$MARK"; exit 3'
)
ENTRYPOINT = ["/bin/sh", "-c", LOOP]


def quoted(words):
    """The command line the daemon runs for `words`: each single-quoted, joined by spaces."""
    return " ".join("'" + word.replace("'", "'\\''") + "'" for word in words)


def marked(run):
    """Command lines of this host's processes whose environment holds `MARK=run`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                if f"MARK={run}".encode() not in environ.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                found.append(cmdline.read().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            pass
    return found


def looping(run):
    """Whether the entrypoint's loop of the sandbox marked `run` runs on this host."""
    return any("poke" in line for line in marked(run))


def entrypoint_command(sandbox):
    """The entrypoint session's one command, which must be the entrypoint's."""
    session = sandbox.process.get_entrypoint_session()
    assert session.session_id == "entrypoint", session
    assert [command.id for command in session.commands] == ["entrypoint_command"], session
    return session.commands[0]


def logs_are(sandbox, stdout, stderr):
    """Waits until the entrypoint's logs are `stdout` and `stderr`, each on its own."""

    def now():
        logs = sandbox.process.get_entrypoint_logs()
        return logs.stdout == stdout and logs.stderr == stderr and logs

    until("the entrypoint's logs", now, detail=lambda: sandbox.process.get_entrypoint_logs())


def refused(sandbox):
    process = sandbox.process
    raises(
        DaytonaValidationError,
        lambda: process.execute_session_command("entrypoint", SessionExecuteRequest(command="true")),
        "can't execute command in entrypoint session",
    )
    raises(
        DaytonaValidationError,
        lambda: process.send_session_command_input("entrypoint", "entrypoint_command", "x"),
        "can't send input to entrypoint session",
    )
    raises(DaytonaValidationError, lambda: process.delete_session("entrypoint"), "can't delete entrypoint session")
    raises(DaytonaValidationError, lambda: process.create_session("entrypoint"), "reserved")


async def follow(sandbox, run):
    """Follows the entrypoint's logs while a line is written after the call, then ends it."""
    out, err = [], []
    following = asyncio.create_task(sandbox.process.get_entrypoint_logs_async(out.append, err.append))
    await output_until(out, f"out-{run}")
    await output_until(err, f"err-{run}")
    await asyncio.to_thread(sandbox.fs.upload_file, f"later-{run}\n".encode(), "poke")
    await output_until(out, f"later-{run}")
    # The follow ends when the command does.
    await asyncio.to_thread(sandbox.fs.upload_file, b"", "stop")
    await asyncio.wait_for(following, 60)
    assert "".join(out) == f"out-{run}\nlater-{run}\nbye-{run}\n", out
    assert "".join(err) == f"err-{run}\n", err


async def read_async(sandbox_id, run):
    """The async client's `get_entrypoint_session` and `get_entrypoint_logs` on the running one."""
    async with async_client() as daytona:
        sandbox = await daytona.get(sandbox_id)
        session = await sandbox.process.get_entrypoint_session()
        assert session.session_id == "entrypoint", session
        [command] = session.commands
        assert (command.id, command.command, command.exit_code) == (
            "entrypoint_command",
            quoted(ENTRYPOINT),
            None,
        ), command
        logs = await sandbox.process.get_entrypoint_logs()
        assert (logs.stdout, logs.stderr) == (f"out-{run}\n", f"err-{run}\n"), logs
        await raises_async(DaytonaValidationError, sandbox.process.delete_session("entrypoint"), "can't delete")


def snapshot(daytona):
    run = uuid.uuid4().hex[:8]
    step("a snapshot with an entrypoint")
    name = f"entrypoint-{run}"
    daytona.snapshot.create(CreateSnapshotParams(name=name, image="debian:12.1", entrypoint=ENTRYPOINT))
    assert daytona.snapshot.get(name).entrypoint == ENTRYPOINT
    sandbox = daytona.create(CreateSandboxFromSnapshotParams(snapshot=name, env_vars={"MARK": run}))

    step("its sandbox shows the entrypoint session with the command, still running")
    command = entrypoint_command(sandbox)
    assert command.command == quoted(ENTRYPOINT), command
    assert command.exit_code is None, command
    logs_are(sandbox, f"out-{run}\n", f"err-{run}\n")
    assert "entrypoint" not in [session.session_id for session in sandbox.process.list_sessions()]
    refused(sandbox)

    step("a stop ends its processes, a start runs it again")
    until("the entrypoint runs on the host", lambda: looping(run))
    sandbox.stop()
    until("nothing of the sandbox runs after the stop", lambda: not marked(run), detail=lambda: marked(run))
    sandbox.start()
    until("the entrypoint runs again", lambda: looping(run))
    assert entrypoint_command(sandbox).exit_code is None
    logs_are(sandbox, f"out-{run}\n", f"err-{run}\n")

    step("a fork and a snapshot of the sandbox run it too")
    forked = sandbox.fork()
    assert entrypoint_command(forked).command == quoted(ENTRYPOINT)
    logs_are(forked, f"out-{run}\n", f"err-{run}\n")
    forked.delete()
    kept = f"entrypoint-kept-{run}"
    sandbox.create_snapshot(kept)
    assert daytona.snapshot.get(kept).entrypoint == ENTRYPOINT
    copy = daytona.create(CreateSandboxFromSnapshotParams(snapshot=kept))
    assert entrypoint_command(copy).command == quoted(ENTRYPOINT)
    copy.delete()

    step("the async client reads the same session and logs")
    asyncio.run(read_async(sandbox.id, run))

    step("following its logs receives lines written after the call, until it ends")
    asyncio.run(follow(sandbox, run))
    until("the entrypoint's exit code", lambda: entrypoint_command(sandbox).exit_code == 3)
    assert not looping(run)
    sandbox.delete()
    for made in (kept, name):
        daytona.snapshot.delete(daytona.snapshot.get(made))


def images(daytona):
    run = uuid.uuid4().hex[:8]
    step("a declarative image's entrypoint runs in its sandboxes")
    words = ["/bin/sh", "-c", "echo image-$MARK; exec sleep 600"]
    image = Image.base("debian:12").entrypoint(words)
    sandbox = daytona.create(CreateSandboxFromImageParams(image=image, env_vars={"MARK": run}), timeout=180)
    assert entrypoint_command(sandbox).command == quoted(words)
    logs_are(sandbox, f"image-{run}\n", "")
    sandbox.delete()

    step("a Dockerfile's shell-form ENTRYPOINT runs by /bin/sh -c, its variables read when it runs")
    name = f"entrypoint-shell-{run}"
    line = 'echo "shell-$MARK" >&2; exec sleep 600'
    image = Image.base("debian:12").dockerfile_commands([f"ENTRYPOINT {line}"])
    daytona.snapshot.create(CreateSnapshotParams(name=name, image=image))
    assert daytona.snapshot.get(name).entrypoint == ["/bin/sh", "-c", line]
    sandbox = daytona.create(CreateSandboxFromSnapshotParams(snapshot=name, env_vars={"MARK": run}))
    assert entrypoint_command(sandbox).command == quoted(["/bin/sh", "-c", line])
    logs_are(sandbox, "", f"shell-{run}\n")
    sandbox.delete()
    daytona.snapshot.delete(daytona.snapshot.get(name))


def default(daytona):
    step("a default sandbox has no entrypoint: the SDK's not-found class")
    assert daytona.snapshot.get("daytona-small").entrypoint is None
    sandbox = daytona.create()
    raises(DaytonaNotFoundError, sandbox.process.get_entrypoint_session, "entrypoint")
    raises(DaytonaNotFoundError, sandbox.process.get_entrypoint_logs, "entrypoint")
    # Still closed to commands, as on Daytona, where the check comes before the session's.
    refused(sandbox)
    sandbox.delete()


CASES = {"snapshot": snapshot, "images": images, "default": default}

if __name__ == "__main__":
    run_case(CASES, "entrypoint: done")
