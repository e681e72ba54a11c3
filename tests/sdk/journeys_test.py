"""Whole journeys of a sandbox's life with the official Python SDK's async client
(`AsyncDaytona`), as Daytona's guides walk them, against `ralph-town serve`: one journey or one
regression case per run (`SWEEP_CASE`), run by `tests/serve_sdk_journeys.rs`. Each step asserts
what the SDK returns or raises; the script prints `journeys: done` at the end.
"""

import asyncio
import socket
import uuid

from daytona import (
    CreateSandboxFromImageParams,
    CreateSandboxFromSnapshotParams,
    DaytonaConflictError,
    DaytonaError,
    DaytonaFileNotFoundError,
    DaytonaNotFoundError,
    DaytonaTimeoutError,
    Image,
    ListSandboxesQuery,
    SessionExecuteRequest,
    VolumeMount,
)
from daytona.common.errors import (
    DaytonaCommandAlreadyCompletedError,
    DaytonaGitRepoNotFoundError,
    DaytonaSessionEndedError,
)

from sdk_script import fetch, run_async_case, stepper
from sdk_script import raises_async as raises
from sdk_script import shell_async as shell

step = stepper("journeys")


def app_image(run):
    """An image a guide would write: a base, an environment, a working directory and a step
    that leaves files in it and outside the home."""
    return (
        Image.base("python:3.12-slim")
        .env({"APP_MODE": f"mode-{run}"})
        .workdir("/home/daytona/app")
        .run_commands(
            f"mkdir -p /home/daytona/app /opt/app-{run}",
            f"echo seed-{run} > /home/daytona/app/seed.txt",
            f"echo tool-{run} > /opt/app-{run}/tool.txt",
        )
    )


async def image_kept_by_snapshot(daytona):
    run = uuid.uuid4().hex[:8]
    step("a sandbox from an image, then a snapshot of it")
    source = await daytona.create(CreateSandboxFromImageParams(image=app_image(run)), timeout=180)
    await source.fs.upload_file(f"notes-{run}\n".encode(), "notes.txt")
    await source.create_snapshot(f"journey-{run}")
    step("a sandbox from that snapshot has the image's environment, directory and files")
    copy = await daytona.create(CreateSandboxFromSnapshotParams(snapshot=f"journey-{run}"))
    assert await copy.get_work_dir() == "/home/daytona/app"
    seen = await shell(copy, f"pwd; echo $APP_MODE; cat notes.txt seed.txt /opt/app-{run}/tool.txt")
    assert seen.split() == [
        "/home/daytona/app",
        f"mode-{run}",
        f"notes-{run}",
        f"seed-{run}",
        f"tool-{run}",
    ], seen
    for sandbox in (copy, source):
        await sandbox.delete()
    await daytona.snapshot.delete(await daytona.snapshot.get(f"journey-{run}"))


async def ended_session(daytona):
    sandbox = await daytona.create()
    process = sandbox.process
    await process.create_session("work")
    done = await process.execute_session_command("work", SessionExecuteRequest(command="echo done"))
    step("input to a command that has completed")
    await raises(
        DaytonaCommandAlreadyCompletedError,
        process.send_session_command_input("work", done.cmd_id, "late"),
        "already completed",
    )
    step("a command that exits the session's shell, then one more")
    leaving = SessionExecuteRequest(command="exit 3")
    await raises(DaytonaSessionEndedError, process.execute_session_command("work", leaving), "work")
    after = SessionExecuteRequest(command="echo again")
    await raises(DaytonaSessionEndedError, process.execute_session_command("work", after), "ended")
    step("the session is still listed and can be deleted, then made again")
    assert "work" in [session.session_id for session in await process.list_sessions()]
    await process.delete_session("work")
    await process.create_session("work")
    again = await process.execute_session_command("work", SessionExecuteRequest(command="echo again"))
    assert (again.exit_code, again.stdout) == (0, "again\n"), again
    await sandbox.delete()


async def image_home_writable(daytona):
    run = uuid.uuid4().hex[:8]
    # A fresh image each run: the first sandbox of an image is made while it builds.
    image = (
        Image.base("python:3.12-slim")
        .workdir(f"/home/daytona/work-{run}")
        .run_commands(f"mkdir -p /home/daytona/made-{run} && echo {run} > /home/daytona/made-{run}/file")
    )
    for turn in ("first", "second"):
        step(f"the {turn} sandbox of a new image writes where the image made directories")
        sandbox = await daytona.create(CreateSandboxFromImageParams(image=image), timeout=180)
        await sandbox.fs.create_folder("sub", "755")
        await sandbox.fs.upload_file(b"mine", f"/home/daytona/made-{run}/mine.txt")
        await shell(sandbox, f"echo more >> /home/daytona/made-{run}/file && touch here.txt")
        owners = await shell(sandbox, f"stat -c %U . sub here.txt /home/daytona/made-{run}/file")
        assert owners.split() == ["daytona"] * 4, owners
        await sandbox.delete()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def image_life(daytona):
    run = uuid.uuid4().hex[:8]
    step("create from a declarative image, following its build")
    logs = []
    sandbox = await daytona.create(
        CreateSandboxFromImageParams(
            image=app_image(run), labels={"journey": run}, auto_stop_interval=30, auto_delete_interval=120
        ),
        timeout=180,
        on_snapshot_create_logs=logs.append,
    )
    assert f"echo tool-{run}" in "\n".join(logs), logs
    assert (sandbox.auto_stop_interval, sandbox.auto_delete_interval) == (30, 120)
    assert await sandbox.get_work_dir() == "/home/daytona/app"

    step("files relative to the working directory")
    await sandbox.fs.upload_file(f"notes-{run}\n".encode(), "notes/today.txt")
    assert await sandbox.fs.download_file("/home/daytona/app/notes/today.txt") == f"notes-{run}\n".encode()
    assert sorted(f.name for f in await sandbox.fs.list_files(".")) == ["notes", "seed.txt"]
    assert await shell(sandbox, "cat notes/today.txt seed.txt") == f"notes-{run}\nseed-{run}\n"

    step("a git repository with a local bare remote: clone, branch, commit, push, pull")
    await shell(
        sandbox,
        "git init -q --bare -b main /home/daytona/remote.git && git init -q -b main /tmp/seed"
        " && cd /tmp/seed && git -c user.name=a -c user.email=a@example.com commit -q --allow-empty -m init"
        " && git push -q /home/daytona/remote.git main",
    )
    git = sandbox.git
    await git.clone("/home/daytona/remote.git", "repo")
    assert (await git.status("repo")).current_branch == "main"
    await git.create_branch("repo", "feature")
    await sandbox.fs.upload_file(b"feature\n", "repo/feature.txt")
    await git.add("repo", ["feature.txt"])
    assert [f.name for f in (await git.status("repo")).file_status] == ["feature.txt"]
    commit = await git.commit("repo", "add feature", "Jo", "jo@example.com")
    await git.push("repo")
    pushed = await shell(sandbox, "git -C /home/daytona/remote.git rev-parse feature")
    assert pushed.strip() == commit.sha, (pushed, commit.sha)
    await git.checkout_branch("repo", "main")
    await shell(
        sandbox,
        "cd /tmp/seed && git -c user.name=a -c user.email=a@example.com commit -q --allow-empty -m more && git push -q /home/daytona/remote.git main",
    )
    await git.pull("repo")
    status = await git.status("repo")
    assert (status.current_branch, status.ahead, status.behind) == ("main", 0, 0), status
    assert sorted((await git.branches("repo")).branches) == ["feature", "main"]

    step("a background web server, through its preview link and a signed URL")
    port = free_port()
    await shell(sandbox, f"nohup python3 -m http.server {port} --bind 127.0.0.1 > web.log 2>&1 &")
    link = await sandbox.get_preview_link(port)
    got = fetch(f"{link.url}/seed.txt", {"x-daytona-preview-token": link.token})
    assert got == (200, f"seed-{run}\n"), got
    assert fetch(f"{link.url}/seed.txt")[0] == 401
    signed = await sandbox.create_signed_preview_url(port, expires_in_seconds=120)
    assert fetch(f"{signed.url}/seed.txt") == (200, f"seed-{run}\n")

    step("a long command in a session, its logs streamed")
    await sandbox.process.create_session("long")
    long = "for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.2; done; pwd; echo $APP_MODE"
    command = await sandbox.process.execute_session_command(
        "long", SessionExecuteRequest(command=long, run_async=True)
    )
    out, err = [], []
    await sandbox.process.get_session_command_logs_async("long", command.cmd_id, out.append, err.append)
    assert "".join(out) == f"out1\nout2\nout3\n/home/daytona/app\nmode-{run}\n", out
    assert "".join(err) == "err1\nerr2\nerr3\n", err
    assert (await sandbox.process.get_session_command("long", command.cmd_id)).exit_code == 0

    step("an interpreter context keeps its state")
    context = await sandbox.code_interpreter.create_context()
    first = await sandbox.code_interpreter.run_code(
        "import os; kept = 21; print(os.getcwd())", context=context
    )
    assert (first.stdout, first.error) == ("/home/daytona/app\n", None), first
    chunks = []
    second = await sandbox.code_interpreter.run_code(
        "print(kept * 2)", context=context, on_stdout=lambda message: chunks.append(message.output)
    )
    assert (second.stdout, "".join(chunks)) == ("42\n", "42\n"), (second, chunks)
    await sandbox.code_interpreter.delete_context(context)

    step("stop and start, archive and start: the files stay")
    await sandbox.stop()
    assert sandbox.state == "stopped"
    await sandbox.start()
    await sandbox.stop()
    await sandbox.archive()
    await sandbox.refresh_data()
    assert sandbox.state == "archived"
    await sandbox.start()
    assert sandbox.state == "started"
    kept = f"/home/daytona/app\nmode-{run}\nnotes-{run}\ntool-{run}\n"
    check = f"pwd; echo $APP_MODE; cat notes/today.txt /opt/app-{run}/tool.txt"
    assert await shell(sandbox, check) == kept

    step("a fork and a snapshot keep the files and the image")
    fork = await sandbox.fork(name=f"fork-{run}")
    assert await shell(fork, check) == kept
    await sandbox.create_snapshot(f"life-{run}")
    copy = await daytona.create(CreateSandboxFromSnapshotParams(snapshot=f"life-{run}"))
    assert await shell(copy, check) == kept

    step("listed by label, then deleted")
    listed = sorted([found.name async for found in daytona.list(ListSandboxesQuery(labels={"journey": run}))])
    assert listed == sorted([sandbox.name, f"fork-{run}"]), listed
    for made in (copy, fork, sandbox):
        await made.delete()
    await daytona.snapshot.delete(await daytona.snapshot.get(f"life-{run}"))
    assert [found async for found in daytona.list(ListSandboxesQuery(labels={"journey": run}))] == []


async def shared_volume(daytona):
    run = uuid.uuid4().hex[:8]
    step("a volume, ready")
    volume = await daytona.volume.get(f"shared-{run}", create=True)
    for _ in range(300):
        volume = await daytona.volume.get(f"shared-{run}")
        if volume.state == "ready":
            break
        await asyncio.sleep(0.2)
    assert volume.state == "ready", volume.state
    step("two sandboxes mount it, with labels and timers")
    writer = await daytona.create(
        CreateSandboxFromSnapshotParams(
            name=f"writer-{run}",
            labels={"team": run, "role": "writer"},
            volumes=[VolumeMount(volume_id=volume.id, mount_path="/home/daytona/shared")],
            auto_stop_interval=15,
            auto_archive_interval=60,
            auto_delete_interval=-1,
        )
    )
    reader = await daytona.create(
        CreateSandboxFromSnapshotParams(
            name=f"reader-{run}",
            labels={"team": run, "role": "reader"},
            volumes=[VolumeMount(volume_id=volume.id, mount_path="/home/daytona/data")],
            ephemeral=True,
        )
    )
    assert (writer.auto_stop_interval, writer.auto_archive_interval, writer.auto_delete_interval) == (
        15,
        60,
        -1,
    )
    assert (reader.auto_stop_interval, reader.auto_delete_interval) == (15, 0)
    step("written in one, read in the other")
    await writer.fs.upload_file(f"hello-{run}".encode(), "shared/hello.txt")
    assert await reader.fs.download_file("data/hello.txt") == f"hello-{run}".encode()
    await shell(reader, f"echo back-{run} > data/back.txt")
    assert await writer.fs.download_file("shared/back.txt") == f"back-{run}\n".encode()
    step("labels changed, listed and read back")
    await writer.set_labels({"team": run, "role": "writer", "stage": "2"})
    assert (await daytona.get(writer.name)).labels["stage"] == "2"
    writers = [
        found.name async for found in daytona.list(ListSandboxesQuery(labels={"team": run, "role": "writer"}))
    ]
    assert writers == [f"writer-{run}"], writers
    team = sorted([found.name async for found in daytona.list(ListSandboxesQuery(labels={"team": run}))])
    assert team == [f"reader-{run}", f"writer-{run}"], team
    step("timers changed and read back")
    await writer.set_autostop_interval(0)
    await writer.set_auto_archive_interval(5)
    await writer.set_auto_delete_interval(30)
    again = await daytona.get(writer.id)
    assert (again.auto_stop_interval, again.auto_archive_interval, again.auto_delete_interval) == (0, 5, 30)
    step("a volume in use is not deleted; once free, it is")
    await raises(DaytonaConflictError, daytona.volume.delete(volume), "in use")
    await writer.delete()
    await reader.delete()
    for _ in range(300):
        try:
            await daytona.volume.delete(volume)
            break
        except DaytonaConflictError:
            await asyncio.sleep(0.2)
    else:
        raise AssertionError("the volume stayed in use")


async def errors(daytona):
    run = uuid.uuid4().hex[:8]
    sandbox = await daytona.create()
    step("missing files")
    for call in (
        sandbox.fs.download_file("nope/missing.txt"),
        sandbox.fs.get_file_info("/home/daytona/missing"),
        sandbox.fs.list_files("/home/daytona/missing"),
        sandbox.fs.delete_file("/home/daytona/missing"),
    ):
        await raises(DaytonaFileNotFoundError, call, "missing")
    step("missing sandbox, session, command, snapshot and volume")
    await raises(DaytonaNotFoundError, daytona.get(f"missing-{run}"), f"missing-{run}")
    await raises(DaytonaNotFoundError, sandbox.process.get_session("nothing"), "nothing")
    await raises(
        DaytonaNotFoundError,
        sandbox.process.execute_session_command("nothing", SessionExecuteRequest(command="true")),
        "nothing",
    )
    await sandbox.process.create_session("here")
    await raises(DaytonaConflictError, sandbox.process.create_session("here"), "here")
    await raises(DaytonaNotFoundError, sandbox.process.get_session_command("here", "nocmd"), "nocmd")
    await raises(DaytonaNotFoundError, sandbox.process.delete_session("nothing"), "nothing")
    await raises(DaytonaNotFoundError, daytona.snapshot.get(f"missing-{run}"), f"missing-{run}")
    await raises(DaytonaNotFoundError, daytona.volume.get(f"missing-{run}"), f"missing-{run}")
    await raises(
        DaytonaError,
        daytona.create(CreateSandboxFromSnapshotParams(snapshot=f"missing-{run}")),
        f"missing-{run}",
    )
    await raises(DaytonaGitRepoNotFoundError, sandbox.git.status("norepo"), "norepo")
    step("timeouts")
    await raises(DaytonaTimeoutError, sandbox.process.exec("sleep 30", timeout=1), "timeout")
    context = await sandbox.code_interpreter.create_context()
    await raises(
        DaytonaTimeoutError,
        sandbox.code_interpreter.run_code("import time; time.sleep(30)", context=context, timeout=1),
        "timed out",
    )
    after = await sandbox.code_interpreter.run_code("print('after')", context=context)
    assert after.stdout == "after\n", after
    step("a deleted sandbox")
    await sandbox.delete()
    await raises(DaytonaNotFoundError, sandbox.process.exec("true"), sandbox.id)
    await raises(DaytonaNotFoundError, sandbox.refresh_data(), sandbox.id)


CASES = {
    "image-home": image_home_writable,
    "image-life": image_life,
    "shared-volume": shared_volume,
    "errors": errors,
    "ended-session": ended_session,
    "image-snapshot": image_kept_by_snapshot,
}


run_async_case(CASES, "journeys: done")
