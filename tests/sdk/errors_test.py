"""What the official Python SDK raises against `ralph-town serve` when a call cannot be done:
one case per run (`SWEEP_CASE`), run by `tests/serve_sdk_errors.rs`. Each check names the
error class, the status and a part of the message Daytona's server (or its daemon) answers in
the same situation, and prints `errors: done` at the end.
"""

import asyncio
import os
import time

from daytona import (
    CreateSandboxFromImageParams,
    CreateSandboxFromSnapshotParams,
    CreateSnapshotParams,
    Image,
    PtySize,
    Resources,
    SessionExecuteRequest,
    VolumeMount,
)
from daytona.common.errors import (
    DaytonaBadRequestError,
    DaytonaConflictError,
    DaytonaError,
    DaytonaFileNotFoundError,
    DaytonaGitBranchExistsError,
    DaytonaGitBranchNotFoundError,
    DaytonaGitRepoNotFoundError,
    DaytonaNotFoundError,
    DaytonaTimeoutError,
)

from sdk_script import async_client, fresh_sandbox, raises, raises_async, run_case, run_script, stepper

step = stepper("errors")
DONE = "errors: done"


def fails(error_class, status, call, *words):
    """[`raises`], and the error carries `status` (None: raised by the SDK before any request)."""
    error = raises(error_class, call, *words)
    assert error.status_code == status, (status, error.status_code, str(error))
    return error


def missing(daytona):
    run, sandbox = fresh_sandbox(daytona, "errors-gone")
    sandbox.delete(wait=True)
    home = "/home/daytona"
    gone = f"Sandbox with ID or name {sandbox.id} not found"
    fails(DaytonaNotFoundError, 404, lambda: daytona.get(f"errors-gone-{run}"), f"errors-gone-{run} not found")
    step("the control plane: 404 with Daytona's message")
    for name, call in [
        ("get", lambda: daytona.get(sandbox.id)),
        ("start", sandbox.start),
        ("stop", sandbox.stop),
        ("delete", sandbox.delete),
        ("labels", lambda: sandbox.set_labels({"a": "b"})),
        ("ttl", lambda: sandbox.set_ttl(10)),
        ("autostop", lambda: sandbox.set_autostop_interval(10)),
        ("autoarchive", lambda: sandbox.set_auto_archive_interval(10)),
        ("autodelete", lambda: sandbox.set_auto_delete_interval(10)),
        ("resize", lambda: sandbox.resize(Resources(cpu=1))),
        ("fork", sandbox.fork),
        ("snapshot", lambda: sandbox.create_snapshot(f"errors-{run}")),
        ("preview link", lambda: sandbox.get_preview_link(3000)),
        ("ssh access", sandbox.create_ssh_access),
        ("archive", sandbox.archive),
        ("public", lambda: sandbox.set_public(True)),
    ]:
        step(name)
        fails(DaytonaNotFoundError, 404, call, gone)
    step("the toolbox: 404 naming the sandbox")
    for name, call in [
        ("exec", lambda: sandbox.process.exec("true")),
        ("files", lambda: sandbox.fs.list_files(home)),
        ("git", lambda: sandbox.git.status(home)),
        ("session", lambda: sandbox.process.create_session("s")),
    ]:
        step(name)
        fails(DaytonaNotFoundError, 404, call, f"sandbox {sandbox.id} not found")
    step("an upload: the SDK's own DaytonaError, with the status and the sandbox")
    fails(DaytonaError, 404, lambda: sandbox.fs.upload_file(b"x", f"{home}/x"), sandbox.id, "not found")


def states(daytona):
    run, sandbox = fresh_sandbox(daytona, "errors-state")
    home = sandbox.get_user_home_dir()
    step("start of a started sandbox does nothing")
    sandbox.start()
    step("archive of a started sandbox: 400")
    fails(DaytonaBadRequestError, 400, sandbox.archive, "Sandbox is not stopped")
    step("resize of a started sandbox: no disk, no smaller CPU")
    fails(DaytonaBadRequestError, 400, lambda: sandbox.resize(Resources(disk=5)), "Disk resize", "stopped")
    sandbox.resize(Resources(cpu=2))
    fails(
        DaytonaBadRequestError,
        400,
        lambda: sandbox.resize(Resources(cpu=1)),
        "Sandbox must be in stopped state to decrease the number of CPU cores",
    )
    shell = sandbox.process.exec(f"git init -q -b main {home}/repo")
    assert shell.exit_code == 0, shell.result
    sandbox.stop()
    step("the toolbox of a stopped sandbox: 409 saying its state")
    for name, call in [
        ("exec", lambda: sandbox.process.exec("true")),
        ("files", lambda: sandbox.fs.list_files(home)),
        ("git", lambda: sandbox.git.status(f"{home}/repo")),
        ("session", lambda: sandbox.process.create_session("s")),
    ]:
        step(name)
        fails(DaytonaConflictError, 409, call, "Sandbox is not started (state: stopped)")
    step("stop of a stopped sandbox, fork of a stopped one: 400")
    fails(DaytonaBadRequestError, 400, sandbox.stop, "Sandbox is not in a stoppable state")
    fails(DaytonaBadRequestError, 400, sandbox.fork, "Sandbox must be in started state to fork")
    step("resize of a stopped sandbox to what it has, or a smaller disk: 400")
    fails(DaytonaBadRequestError, 400, lambda: sandbox.resize(Resources(cpu=sandbox.cpu)), "No resource changes")
    fails(DaytonaBadRequestError, 400, lambda: sandbox.resize(Resources(disk=1)), "disk size cannot be decreased")
    step("a snapshot of a stopped sandbox is allowed, as on Daytona")
    sandbox.create_snapshot(f"errors-stopped-{run}")
    step("waiting for a start that never comes: the SDK's timeout")
    raises(DaytonaTimeoutError, lambda: sandbox.wait_for_sandbox_start(timeout=0.5), "wait_for_sandbox_start")
    sandbox.archive()
    fails(DaytonaConflictError, 409, lambda: sandbox.process.exec("true"), "(state: archived)")


def inputs(daytona):
    run, sandbox = fresh_sandbox(daytona, "errors-input")
    home = sandbox.get_user_home_dir()
    step("a duplicate sandbox name: 409")
    fails(
        DaytonaConflictError,
        409,
        lambda: daytona.create(CreateSandboxFromSnapshotParams(name=f"errors-input-{run}")),
        f"Sandbox with name errors-input-{run} already exists",
    )
    step("an unknown snapshot: 400; an unknown volume: 404")
    fails(
        DaytonaBadRequestError,
        400,
        lambda: daytona.create(CreateSandboxFromSnapshotParams(snapshot="no-such-snapshot")),
        "Snapshot no-such-snapshot not found",
    )
    fails(
        DaytonaNotFoundError,
        404,
        lambda: daytona.create(
            CreateSandboxFromSnapshotParams(volumes=[VolumeMount(volume_id="no-such-volume", mount_path="/v")])
        ),
        "Volume 'no-such-volume' not found",
    )
    fails(DaytonaNotFoundError, 404, lambda: daytona.snapshot.get("no-such-snapshot"), "no-such-snapshot")
    fails(DaytonaNotFoundError, 404, lambda: daytona.volume.get("no-such-volume"), "no-such-volume")
    step("a duplicate snapshot name: 409; a duplicate volume name: 400")
    sandbox.create_snapshot(f"errors-snap-{run}")
    fails(
        DaytonaConflictError,
        409,
        lambda: daytona.snapshot.create(CreateSnapshotParams(name=f"errors-snap-{run}", image="debian:12")),
        f'Snapshot with name "errors-snap-{run}" already exists',
    )
    volume = daytona.volume.create(f"errors-vol-{run}")
    fails(
        DaytonaBadRequestError,
        400,
        lambda: daytona.volume.create(f"errors-vol-{run}"),
        f"Volume with name errors-vol-{run} already exists",
    )
    step("negative intervals: the SDK refuses them before asking")
    fails(DaytonaBadRequestError, None, lambda: sandbox.set_autostop_interval(-1), "non-negative")
    fails(DaytonaBadRequestError, None, lambda: sandbox.set_auto_archive_interval(-1), "non-negative")
    step("a bad port: 400")
    fails(DaytonaBadRequestError, 400, lambda: sandbox.get_preview_link(0), "Invalid port")
    step("files: missing, or outside what a local sandbox shows")
    for call in [
        lambda: sandbox.fs.list_files(f"{home}/nope"),
        lambda: sandbox.fs.download_file(f"{home}/nope"),
        lambda: sandbox.fs.get_file_info(f"{home}/nope"),
        lambda: sandbox.fs.delete_file(f"{home}/nope"),
        lambda: sandbox.fs.move_files(f"{home}/nope", f"{home}/other"),
    ]:
        fails(DaytonaFileNotFoundError, 404, call, f"{home}/nope")
    fails(DaytonaBadRequestError, 400, lambda: sandbox.fs.download_file("/root/x"), "/root/x", "outside")
    step("git: not a repository, a missing branch, an existing one")
    fails(DaytonaGitRepoNotFoundError, 404, lambda: sandbox.git.status(home), "not a git repository")
    repo = f"{home}/repo"
    made = sandbox.process.exec(
        f"git init -q -b main {repo} && git -C {repo} -c user.name=t -c user.email=t@t commit -q --allow-empty -m m"
    )
    assert made.exit_code == 0, made.result
    fails(DaytonaGitBranchNotFoundError, 404, lambda: sandbox.git.checkout_branch(repo, "nope"), "nope")
    fails(DaytonaGitBranchNotFoundError, 404, lambda: sandbox.git.delete_branch(repo, "nope"), "nope")
    fails(DaytonaGitBranchExistsError, 409, lambda: sandbox.git.create_branch(repo, "main"), "main")
    step("sessions, commands and PTYs that do not exist: 404")
    fails(DaytonaNotFoundError, 404, lambda: sandbox.process.get_session("nope"), "session", "nope")
    fails(
        DaytonaNotFoundError,
        404,
        lambda: sandbox.process.execute_session_command("nope", SessionExecuteRequest(command="true")),
        "nope",
    )
    sandbox.process.create_session("here")
    fails(DaytonaConflictError, 409, lambda: sandbox.process.create_session("here"), "already exists")
    fails(DaytonaNotFoundError, 404, lambda: sandbox.process.get_session_command("here", "nope"), "command", "nope")
    fails(DaytonaNotFoundError, 404, lambda: sandbox.process.get_pty_session_info("nope"), "PTY session nope not found")
    fails(DaytonaNotFoundError, 404, lambda: sandbox.process.kill_pty_session("nope"), "PTY session nope not found")
    fails(
        DaytonaNotFoundError,
        404,
        lambda: sandbox.process.resize_pty_session("nope", PtySize(rows=10, cols=10)),
        "PTY session nope not found",
    )
    step("a volume in use cannot be deleted: 409")
    for _ in range(100):
        volume = daytona.volume.get(f"errors-vol-{run}")
        if volume.state == "ready":
            break
        time.sleep(0.1)
    daytona.create(
        CreateSandboxFromSnapshotParams(volumes=[VolumeMount(volume_id=volume.id, mount_path=f"{home}/volume")])
    )
    fails(DaytonaConflictError, 409, lambda: daytona.volume.delete(volume), "in use")


def timeouts(daytona):
    _, sandbox = fresh_sandbox(daytona, "errors-time")
    step("a command past its timeout: 408")
    fails(DaytonaTimeoutError, 408, lambda: sandbox.process.exec("sleep 5", timeout=1), "command execution timeout")
    step("a create that does not start in time: the SDK's timeout, naming the sandbox")
    # The timeout must outlast the create request itself (on a loaded machine that alone has
    # taken over half a second), or the SDK has no id to name; the build (no `apt-get`, which
    # fails offline at once) outlasts the timeout.
    image = Image.base("debian:bookworm-slim").run_commands("sleep 20")
    raises(
        DaytonaTimeoutError,
        lambda: daytona.create(CreateSandboxFromImageParams(image=image), timeout=3),
        "exceeded timeout",
        "was created before the timeout",
    )
    step("a negative timeout: refused before asking")
    fails(DaytonaBadRequestError, None, lambda: sandbox.start(timeout=-1), "non-negative")


def quota(daytona):
    _, first = fresh_sandbox(daytona, "errors-quota")
    _, second = fresh_sandbox(daytona, "errors-quota")
    total = "Total CPU limit exceeded. Maximum allowed: 2."
    step("create, resize and fork over the organisation's CPU quota: 400")
    fails(DaytonaBadRequestError, 400, lambda: fresh_sandbox(daytona, "errors-quota"), total)
    fails(DaytonaBadRequestError, 400, lambda: first.resize(Resources(cpu=2)), total)
    fails(DaytonaBadRequestError, 400, first.fork, total)
    step("start over it: 400")
    second.stop()
    second.resize(Resources(cpu=2))
    fails(DaytonaBadRequestError, 400, second.start, total)


def transitions(daytona):
    _, sandbox = fresh_sandbox(daytona, "errors-moving")
    sandbox.stop()
    step("a sandbox that is starting")
    sandbox._sandbox_api.start_sandbox(sandbox.id)  # pylint: disable=protected-access
    moving = daytona.get(sandbox.id)
    assert moving.state == "starting", moving.state
    in_progress = "Sandbox state change in progress"
    for name, call in [
        ("delete", moving.delete),
        ("stop", moving.stop),
        ("start", moving.start),
        ("archive", moving.archive),
        ("resize", lambda: moving.resize(Resources(memory=2))),
    ]:
        step(name)
        fails(DaytonaConflictError, 409, call, in_progress)
    fails(DaytonaBadRequestError, 400, moving.fork, "Sandbox must be in started state to fork")
    fails(DaytonaBadRequestError, 400, lambda: moving.create_snapshot("x"), "started or stopped state")
    fails(DaytonaConflictError, 409, lambda: moving.process.exec("true"), "(state: starting)")


async def asynchronous():
    async with async_client() as daytona:
        sandbox = await daytona.create()
        home = await sandbox.get_user_home_dir()
        step("async: a command past its timeout, a missing file, a stopped sandbox")
        error = await raises_async(DaytonaTimeoutError, sandbox.process.exec("sleep 5", timeout=1), "timeout")
        assert error.status_code == 408, error.status_code
        await raises_async(DaytonaFileNotFoundError, sandbox.fs.download_file(f"{home}/nope"), "nope")
        await raises_async(DaytonaGitRepoNotFoundError, sandbox.git.status(home), "not a git repository")
        await raises_async(DaytonaBadRequestError, sandbox.archive(), "Sandbox is not stopped")
        await sandbox.stop()
        await raises_async(DaytonaConflictError, sandbox.process.exec("true"), "(state: stopped)")
        await raises_async(DaytonaBadRequestError, sandbox.stop(), "stoppable")
        step("async: a deleted sandbox")
        await sandbox.delete(wait=True)
        for call in [daytona.get(sandbox.id), sandbox.start(), sandbox.set_labels({"a": "b"}), sandbox.fork()]:
            error = await raises_async(DaytonaNotFoundError, call, f"Sandbox with ID or name {sandbox.id} not found")
            assert error.status_code == 404, error.status_code
        await raises_async(DaytonaNotFoundError, sandbox.process.exec("true"), f"sandbox {sandbox.id} not found")
    print(DONE, flush=True)


CASES = {
    "missing": missing,
    "states": states,
    "inputs": inputs,
    "timeouts": timeouts,
    "quota": quota,
    "transitions": transitions,
}

if __name__ == "__main__":
    if os.environ["SWEEP_CASE"] == "async":
        run_script(lambda: asyncio.run(asynchronous()))
    else:
        run_case(CASES, DONE)
