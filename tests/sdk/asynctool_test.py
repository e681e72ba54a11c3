"""The official Python SDK's async client (`AsyncDaytona`) on a sandbox's toolbox (files, git,
processes, terminals, the code interpreter, language servers, computer use) against
`ralph-town serve`, one case per run (`SWEEP_CASE`), run by `tests/serve_sdk_asynctool.rs`:
each case asserts what the SDK returns or raises, as the sync client gets it, and prints
`asynctool: done` at the end.
"""

import asyncio
import base64
import os
import socket
import tempfile
import urllib.request
import uuid

from daytona import (
    CreateSandboxFromSnapshotParams,
    FileDownloadRequest,
    CodeRunParams,
    CreateSandboxFromImageParams,
    CreateSnapshotParams,
    FileUpload,
    Image,
    ListSandboxesQuery,
    PtySize,
    SessionExecuteRequest,
)
from daytona.common.lsp_server import LspCompletionPosition
from daytona.common.computer_use import ScreenshotOptions, ScreenshotRegion
from daytona.common.errors import (
    DaytonaBadRequestError,
    DaytonaError,
    DaytonaFileNotFoundError,
    DaytonaNotFoundError,
    DaytonaTimeoutError,
)

from sdk_script import fetch, run_async_case, stepper
from sdk_script import client as sync_client
from sdk_script import raises_async as raises
from sdk_script import shell_async as shell

step = stepper("asynctool")


async def fresh(daytona, prefix, **params):
    """A new sandbox named `{prefix}-{a random tag}`, made with `params`."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return await daytona.create(CreateSandboxFromSnapshotParams(name=name, **params))


async def fresh_home(daytona, prefix, **params):
    """[`fresh`]'s sandbox and its user's home."""
    sandbox = await fresh(daytona, prefix, **params)
    return sandbox, await sandbox.get_user_home_dir()


async def files(daytona):
    sandbox, home = await fresh_home(daytona, "asynctool-fs")
    fs = sandbox.fs
    local = tempfile.mkdtemp()
    step("upload_file from bytes and from a local path, download to memory and to a file")
    await fs.upload_file(b"one\ntwo\n", "a/one.txt")
    source = os.path.join(local, "source.bin")
    with open(source, "wb") as out:
        out.write(os.urandom(300_000))
    await fs.upload_file(source, f"{home}/a/big.bin")
    assert await fs.download_file("a/one.txt") == b"one\ntwo\n"
    target = os.path.join(local, "big.bin")
    assert await fs.download_file("a/big.bin", target) is None
    with open(source, "rb") as a, open(target, "rb") as b:
        assert a.read() == b.read()
    step("upload_files: bytes, a file object and a path at once")
    await fs.upload_files(
        [
            FileUpload(source=b"x", destination="many/x.txt"),
            FileUpload(source=b"y", destination="many/y.txt"),
            FileUpload(source=source, destination=f"{home}/many/z.bin"),
        ]
    )
    assert sorted(f.name for f in await fs.list_files("many")) == ["x.txt", "y.txt", "z.bin"]
    step("download_files to memory and to files, with a missing one")
    replies = await fs.download_files(
        [
            FileDownloadRequest(source="many/x.txt"),
            FileDownloadRequest(source="many/z.bin", destination=os.path.join(local, "z.bin")),
            FileDownloadRequest(source="many/nope"),
        ]
    )
    assert replies[0].result == b"x" and replies[0].error is None, replies[0]
    assert replies[1].result == os.path.join(local, "z.bin"), replies[1]
    assert replies[2].result is None and replies[2].error_details.status_code == 404, replies[2]
    step("download_file_stream with progress; a missing file")
    seen = []
    got = b"".join([chunk async for chunk in await fs.download_file_stream("a/big.bin", on_progress=seen.append)])
    with open(source, "rb") as a:
        assert got == a.read()
    assert seen and seen[-1].bytes_received == 300_000, seen[-1:]
    await raises(
        DaytonaFileNotFoundError,
        _drain(fs.download_file_stream("a/nope")),
    )
    step("upload_file_stream from a local path, and from an async source with an async callback")
    progress = []
    await fs.upload_file_stream(source, "streamed/big.bin", on_progress=lambda e: progress.append(e.bytes_sent))
    assert progress and progress[-1] == 300_000, progress[-1:]
    assert await fs.download_file("streamed/big.bin") == got
    progress.clear()

    async def on_progress(event):
        progress.append(event.bytes_sent)

    async def chunks():
        for piece in (b"ab", b"", b"cd" * 40_000):
            yield piece

    await fs.upload_file_stream(chunks(), "streamed/chunks.txt", on_progress=on_progress)
    assert progress and progress[-1] == 80_002, progress[-1:]
    assert await fs.download_file("streamed/chunks.txt") == b"ab" + b"cd" * 40_000
    step("create_folder, get_file_info, set_file_permissions")
    await fs.create_folder("made/deep", "750")
    info = await fs.get_file_info("made/deep")
    assert (info.is_dir, info.permissions, info.path) == (True, "0750", f"{home}/made/deep"), info
    await fs.set_file_permissions("a/one.txt", mode="600")
    info = await fs.get_file_info("a/one.txt")
    assert (info.name, info.size, info.is_dir) == ("one.txt", 8, False), info
    assert info.permissions.endswith("600"), info
    step("find, search, replace")
    found = [(m.file, m.line, m.content) for m in await fs.find_files("a", "two")]
    assert found == [("a/one.txt", 2, "two")], found
    searched = await fs.search_files("many", "*.txt")
    assert sorted(searched.files) == ["many/x.txt", "many/y.txt"], searched
    replaced = await fs.replace_in_files(["a/one.txt", "a/nope.txt"], "two", "three")
    assert [r.success for r in replaced] == [True, False], replaced
    assert await fs.download_file("a/one.txt") == b"one\nthree\n"
    step("move, delete, recursive delete")
    await fs.move_files("a/one.txt", "made/one.txt")
    assert await fs.download_file("made/one.txt") == b"one\nthree\n"
    await raises(DaytonaFileNotFoundError, fs.get_file_info("a/one.txt"))
    await fs.delete_file("made/one.txt")
    await raises(DaytonaError, fs.delete_file("made"))
    await fs.delete_file("made", recursive=True)
    await raises(DaytonaFileNotFoundError, fs.list_files("made"))
    await raises(DaytonaFileNotFoundError, fs.download_file("made/one.txt"))
    await raises(DaytonaFileNotFoundError, fs.move_files("nothing", "else"))
    await sandbox.delete()


async def git(daytona):
    sandbox, home = await fresh_home(daytona, "asynctool-git")
    await shell(
        sandbox,
        "git init -q --bare -b main remote.git && git init -q -b main seed && cd seed"
        " && git -c user.name=a -c user.email=a@example.com commit -q --allow-empty -m one"
        " && git -c user.name=a -c user.email=a@example.com commit -q --allow-empty -m two"
        " && git branch side && git push -q ../remote.git main side",
    )
    first = (await shell(sandbox, "git -C seed rev-parse HEAD~1")).strip()
    git = sandbox.git
    step("clone: whole, at a branch, at a commit; a missing source")
    await git.clone(f"{home}/remote.git", "repo")
    await git.clone(f"{home}/remote.git", "side", branch="side")
    assert (await git.status("side")).current_branch == "side"
    await git.clone(f"{home}/remote.git", "old", commit_id=first)
    assert (await shell(sandbox, "git -C old rev-parse HEAD")).strip() == first
    await raises(DaytonaError, git.clone(f"{home}/nothing.git", "none"))
    step("status, branches, create, checkout, delete")
    status = await git.status("repo")
    assert (status.current_branch, status.ahead, status.behind, status.file_status) == ("main", 0, 0, []), status
    assert sorted((await git.branches("repo")).branches) == ["main"]
    await git.create_branch("repo", "feature")
    await git.checkout_branch("repo", "feature")
    assert (await git.status("repo")).current_branch == "feature"
    step("add, commit, push, pull")
    await sandbox.fs.upload_file(b"new\n", "repo/new.txt")
    assert [(f.name, f.worktree) for f in (await git.status("repo")).file_status] == [("new.txt", "Untracked")]
    await git.add("repo", ["new.txt"])
    assert [(f.name, f.staging) for f in (await git.status("repo")).file_status] == [("new.txt", "Added")]
    made = await git.commit("repo", "add new", "Jo", "jo@example.com")
    assert len(made.sha) == 40, made
    await git.push("repo")
    assert (await shell(sandbox, "git -C remote.git rev-parse feature")).strip() == made.sha
    await git.checkout_branch("repo", "main")
    await git.delete_branch("repo", "feature")
    assert sorted((await git.branches("repo")).branches) == ["main"]
    await shell(
        sandbox,
        "cd seed && git -c user.name=a -c user.email=a@example.com commit -q --allow-empty -m three"
        " && git push -q ../remote.git main",
    )
    await git.pull("repo")
    assert (await shell(sandbox, "git -C repo log -1 --format=%s")).strip() == "three"
    step("init, remotes, config, reset, restore")
    await git.init("fresh", initial_branch="trunk")
    assert (await git.status("fresh")).current_branch == "trunk"
    await git.remote_add("fresh", "origin", f"{home}/remote.git")
    assert await git.remote_get("fresh", "origin") == f"{home}/remote.git"
    assert [r.name for r in (await git.remotes("fresh")).remotes] == ["origin"]
    await git.set_config("user.name", "Local Jo", scope="local", path="repo")
    assert await git.get_config("user.name", scope="local", path="repo") == "Local Jo"
    assert await git.get_config("no.such", scope="local", path="repo") is None
    await sandbox.fs.upload_file(b"kept\n", "repo/kept.txt")
    await git.add("repo", ["kept.txt"])
    await git.commit("repo", "add kept", "Jo", "jo@example.com")
    await sandbox.fs.upload_file(b"changed\n", "repo/kept.txt")
    await git.restore("repo", ["kept.txt"])
    assert await sandbox.fs.download_file("repo/kept.txt") == b"kept\n"
    await git.reset("repo", mode="hard", target="HEAD~1")
    assert (await shell(sandbox, "git -C repo log -1 --format=%s")).strip() == "three"
    step("a folder that is no repository")
    await raises(DaytonaError, git.status("nowhere"))
    await raises(DaytonaError, git.branches("nowhere"))
    await sandbox.delete()


async def process(daytona):
    sandbox, home = await fresh_home(daytona, "asynctool-process", env_vars={"FROM_SANDBOX": "s"})
    process = sandbox.process
    step("exec with cwd, env and a timeout; a failing command; a timeout")
    await sandbox.fs.create_folder("work", "755")
    ran = await process.exec("pwd; echo $GREETING $FROM_SANDBOX", cwd="work", env={"GREETING": "hi"})
    assert (ran.exit_code, ran.result) == (0, f"{home}/work\nhi s\n"), ran
    assert ran.artifacts.stdout == ran.result, ran
    failed = await process.exec("echo oops >&2; exit 3")
    assert (failed.exit_code, failed.result) == (3, "oops\n"), failed
    await raises(DaytonaTimeoutError, process.exec("sleep 30", timeout=1))
    step("code_run with argv and env; a failing script")
    run = await process.code_run(
        "import os, sys; print(sys.argv[1:], os.environ['WHO'])",
        params=CodeRunParams(argv=["a", "b"], env={"WHO": "me"}),
    )
    assert (run.exit_code, run.result) == (0, "['a', 'b'] me\n"), run
    broken = await process.code_run("raise SystemExit(4)")
    assert broken.exit_code == 4, broken
    step("sessions: create, get, list, exec sync and async, command, logs")
    await process.create_session("work")
    first = await process.execute_session_command("work", SessionExecuteRequest(command="cd work && export X=1"))
    assert first.exit_code == 0, first
    again = await process.execute_session_command("work", SessionExecuteRequest(command="pwd; echo $X; echo e >&2"))
    assert (again.exit_code, again.stdout, again.stderr) == (0, f"{home}/work\n1\n", "e\n"), again
    session = await process.get_session("work")
    assert [c.command for c in session.commands] == ["cd work && export X=1", "pwd; echo $X; echo e >&2"]
    assert "work" in [s.session_id for s in await process.list_sessions()]
    long = await process.execute_session_command(
        "work",
        SessionExecuteRequest(command="for i in 1 2 3; do echo o$i; echo e$i >&2; sleep 0.3; done", run_async=True),
    )
    assert long.exit_code is None, long
    out, err = [], []

    async def on_err(chunk):
        err.append(chunk)

    await process.get_session_command_logs_async("work", long.cmd_id, out.append, on_err)
    assert ("".join(out), "".join(err)) == ("o1\no2\no3\n", "e1\ne2\ne3\n"), (out, err)
    command = await process.get_session_command("work", long.cmd_id)
    assert command.exit_code == 0, command
    logs = await process.get_session_command_logs("work", long.cmd_id)
    assert (logs.stdout, logs.stderr) == ("o1\no2\no3\n", "e1\ne2\ne3\n"), logs
    step("logs of a finished command followed again end at once")
    out.clear()
    await process.get_session_command_logs_async("work", again.cmd_id, out.append, lambda _: None)
    assert "".join(out) == f"{home}/work\n1\n", out
    step("send input to a waiting command")
    asked = await process.execute_session_command(
        "work", SessionExecuteRequest(command="read n; echo got $n", run_async=True)
    )
    await process.send_session_command_input("work", asked.cmd_id, "ten\n")
    for _ in range(100):
        if (await process.get_session_command("work", asked.cmd_id)).exit_code is not None:
            break
        await asyncio.sleep(0.1)
    assert (await process.get_session_command_logs("work", asked.cmd_id)).stdout.endswith("got ten\n")
    step("missing sessions and commands; delete")
    await raises(DaytonaNotFoundError, process.get_session_command("work", "nope"))
    await raises(DaytonaNotFoundError, process.get_session_command_logs("work", "nope"))
    # The WebSocket's refused handshake is no API error to the SDK: a DaytonaError naming the 404.
    await raises(DaytonaError, process.get_session_command_logs_async("work", "nope", print, print), "404")
    await raises(DaytonaError, process.get_entrypoint_logs_async(print, print), "404")
    await process.delete_session("work")
    await raises(DaytonaNotFoundError, process.get_session("work"))
    assert "work" not in [s.session_id for s in await process.list_sessions()]
    await sandbox.delete()


async def pty(daytona):
    sandbox, home = await fresh_home(daytona, "asynctool-pty")
    process = sandbox.process
    step("create_pty_session with cwd, envs and a size; an async on_data")
    seen = bytearray()

    async def on_data(data):
        seen.extend(data)

    await sandbox.fs.create_folder("here", "755")
    handle = await process.create_pty_session(
        "term", on_data, cwd=f"{home}/here", envs={"SHOWN": "yes"}, pty_size=PtySize(cols=100, rows=30)
    )
    await handle.wait_for_connection()
    await handle.send_input("echo $SHOWN $(pwd) $(stty size)\n")
    await until_async("the echo", lambda: f"yes {home}/here 30 100".encode() in seen, lambda: bytes(seen))
    step("list and info; resize through the handle and the process")
    listed = await process.list_pty_sessions()
    assert [p.id for p in listed] == ["term"], listed
    info = await process.get_pty_session_info("term")
    assert (info.id, info.cols, info.rows, info.active) == ("term", 100, 30, True), info
    resized = await handle.resize(PtySize(cols=90, rows=20))
    assert (resized.cols, resized.rows) == (90, 20), resized
    resized = await process.resize_pty_session("term", PtySize(cols=80, rows=24))
    assert (resized.cols, resized.rows) == (80, 24), resized
    step("a second client connects to the same terminal, sync on_data")
    other = bytearray()
    second = await process.connect_pty_session("term", other.extend)
    await second.wait_for_connection()
    await second.send_input("echo both-$((40+2))\n")
    await until_async("both see it", lambda: b"both-42" in seen and b"both-42" in other, lambda: bytes(other))
    await second.disconnect()
    step("exit ends it with its code")
    await handle.send_input("exit 5\n")
    result = await handle.wait()
    assert result.exit_code == 5, result
    await handle.disconnect()
    step("a killed terminal")
    killed = await process.create_pty_session("killed", lambda _: None)
    await killed.wait_for_connection()
    await killed.kill()
    result = await killed.wait()
    assert result.exit_code != 0 or result.error, result
    await process.create_pty_session("gone", lambda _: None)
    await process.kill_pty_session("gone")
    await raises(DaytonaNotFoundError, process.get_pty_session_info("nothing"))
    await sandbox.delete()


async def interpreter(daytona):
    sandbox, home = await fresh_home(daytona, "asynctool-interp")
    code = sandbox.code_interpreter
    step("the default context keeps state; callbacks see the output")
    # Only plain functions: 0.226.1's async `run_code` calls a coroutine callback without
    # awaiting it, so an `async def` handler never runs (the SDK's, not the server's doing).
    out, err, errors = [], [], []
    first = await code.run_code(
        "import sys; kept = 20; print('o1'); print('e1', file=sys.stderr)",
        on_stdout=lambda m: out.append(m.output),
        on_stderr=lambda m: err.append(m.output),
    )
    assert (first.stdout, first.stderr, first.error) == ("o1\n", "e1\n", None), first
    assert ("".join(out), "".join(err)) == ("o1\n", "e1\n"), (out, err)
    second = await code.run_code("print(kept + 1)")
    assert second.stdout == "21\n", second
    step("an exception reaches on_error and the result")
    failed = await code.run_code("1 / 0", on_error=errors.append)
    assert failed.error.name == "ZeroDivisionError", failed
    assert [e.name for e in errors] == ["ZeroDivisionError"], errors
    step("contexts: made with a cwd, listed, isolated, deleted")
    await sandbox.fs.create_folder("ctx", "755")
    context = await code.create_context(cwd=f"{home}/ctx")
    assert context.cwd == f"{home}/ctx" and context.language == "python", context
    assert context.id in [c.id for c in await code.list_contexts()]
    ran = await code.run_code("import os; print(os.getcwd()); print('kept' in globals())", context=context)
    assert ran.stdout == f"{home}/ctx\nFalse\n", ran
    step("envs for one run; a timeout keeps the context usable")
    ran = await code.run_code("import os; print(os.environ['ONE'])", context=context, envs={"ONE": "1"})
    assert ran.stdout == "1\n", ran
    await raises(DaytonaTimeoutError, code.run_code("import time; time.sleep(30)", context=context, timeout=1))
    after = await code.run_code("print('after')", context=context)
    assert after.stdout == "after\n", after
    await code.delete_context(context)
    assert context.id not in [c.id for c in await code.list_contexts()]
    # The daemon closes the socket with 1008; the SDK names it a connection error.
    await raises(DaytonaError, code.run_code("print(1)", context=context), "context not found")
    await raises(DaytonaNotFoundError, code.delete_context(context))
    await sandbox.delete()


async def computer_use(daytona):
    sandbox = await fresh(daytona, "asynctool-desktop")
    computer = sandbox.computer_use
    step("before start: inactive, and the mouse refused")
    assert (await computer.get_status()).status == "inactive"
    await raises(DaytonaError, computer.mouse.get_position(), "not started")
    step("start; status of the display")
    started = await computer.start()
    assert started.status["xvfb"].running, started
    assert (await computer.get_process_status("xvfb")).running
    info = await computer.display.get_info()
    assert (info.displays[0].width, info.displays[0].height) == (1024, 768), info
    assert isinstance((await computer.display.get_windows()).windows, list)
    step("mouse: move, click, drag, scroll, position")
    moved = await computer.mouse.move(100, 120)
    assert (moved.x, moved.y) == (100, 120), moved
    clicked = await computer.mouse.click(30, 40, button="left", double=True)
    assert (clicked.x, clicked.y) == (30, 40), clicked
    dragged = await computer.mouse.drag(10, 10, 60, 70)
    assert (dragged.x, dragged.y) == (60, 70), dragged
    assert await computer.mouse.scroll(60, 70, "down", 2)
    position = await computer.mouse.get_position()
    assert (position.x, position.y) == (60, 70), position
    step("keyboard: type, press, hotkey")
    await computer.keyboard.type("hi", delay=1)
    await computer.keyboard.press("Return")
    await computer.keyboard.press("a", ["ctrl"])
    await computer.keyboard.hotkey("ctrl+shift+t")
    step("screenshots: full, region, compressed")
    shot = await computer.screenshot.take_full_screen(show_cursor=True)
    assert png_size(shot) == (1024, 768), png_size(shot)
    assert shot.cursor_position is not None, shot.cursor_position
    region = await computer.screenshot.take_region(ScreenshotRegion(x=10, y=20, width=100, height=50))
    assert png_size(region) == (100, 50), png_size(region)
    small = await computer.screenshot.take_compressed(ScreenshotOptions(fmt="jpeg", quality=50, scale=0.5))
    assert base64.b64decode(small.screenshot)[:2] == b"\xff\xd8", small.size_bytes
    part = await computer.screenshot.take_compressed_region(
        ScreenshotRegion(x=0, y=0, width=200, height=100), ScreenshotOptions(fmt="png")
    )
    assert png_size(part) == (200, 100), png_size(part)
    step("a recording: start, list, get, stop, download, delete")
    recording = await computer.recording.start("clip")
    assert recording.id in [r.id for r in (await computer.recording.list()).recordings]
    await asyncio.sleep(1)
    stopped = await computer.recording.stop(recording.id)
    assert stopped.status != "recording", stopped
    assert (await computer.recording.get(recording.id)).id == recording.id
    local = os.path.join(tempfile.mkdtemp(), "clip.mp4")
    await computer.recording.download(recording.id, local)
    assert os.path.getsize(local) > 0
    await computer.recording.delete(recording.id)
    await raises(DaytonaNotFoundError, computer.recording.get(recording.id))
    step("stop")
    await computer.stop()
    assert (await computer.get_status()).status == "inactive"
    await sandbox.delete()


PYTHON_SOURCE = """class Greeter:
    def greet(self, name):
        return "hello " + name


def shout(text):
    return text.upper()


import os
os.pa"""


async def lsp(daytona):
    sandbox, home = await fresh_home(daytona, "asynctool-lsp", env_vars={"PATH": os.environ["LSP_SANDBOX_PATH"]})
    project = f"{home}/project"
    path = f"{project}/app.py"
    await sandbox.fs.upload_file(PYTHON_SOURCE.encode(), path)
    server = sandbox.create_lsp_server("python", project)
    step("start, did_open, document_symbols")
    await server.start()
    await server.did_open(path)
    symbols = await server.document_symbols(path)
    assert {"Greeter", "greet", "shout"} <= {s.name for s in symbols}, symbols
    greeter = next(s for s in symbols if s.name == "Greeter")
    assert (greeter.kind, greeter.location.uri) == (5, f"file://{path}"), greeter
    step("completions; relative paths are below the project")
    items = (await server.completions(path, LspCompletionPosition(line=10, character=5))).items
    assert "path" in {item.label for item in items}, [item.label for item in items][:20]
    assert {s.name for s in await server.document_symbols("app.py")} == {s.name for s in symbols}
    step("pylsp answers no workspace symbols: the daemon's 400")
    await raises(DaytonaBadRequestError, server.sandbox_symbols("Greeter"), "workspace/symbol")
    step("did_close, stop; a stopped server")
    await server.did_close(path)
    await server.stop()
    await raises(DaytonaBadRequestError, server.document_symbols(path), "server not initialized")
    await raises(DaytonaBadRequestError, sandbox.create_lsp_server("cobol", project).start(), "cobol")
    await sandbox.delete()


async def plane(daytona):
    run = uuid.uuid4().hex[:8]
    step("create from an Image, following its build logs")
    image = Image.base("python:3.12-slim").run_commands(f"echo built-{run} > /opt/file-{run}").env({"R": run})
    logs = []
    sandbox = await daytona.create(
        CreateSandboxFromImageParams(image=image, labels={"asynctool": run}),
        timeout=180,
        on_snapshot_create_logs=logs.append,
    )
    assert sandbox.state == "started", sandbox.state
    assert f"echo built-{run}" in "\n".join(logs), logs
    assert (await shell(sandbox, f"cat /opt/file-{run}; echo $R")).split() == [f"built-{run}", run]
    step("a failed build fails the create with its reason")
    broken = []
    await raises(
        DaytonaError,
        daytona.create(
            CreateSandboxFromImageParams(image=Image.base("debian:12").run_commands("exit 4"), labels={"broken": run}),
            timeout=180,
            on_snapshot_create_logs=broken.append,
        ),
        "exited with code 4",
    )
    async for leftover in daytona.list(ListSandboxesQuery(labels={"broken": run})):
        await daytona.delete(leftover)
    step("a snapshot built from an Image with on_logs, and a sandbox from it")
    snapshot_logs = []
    snapshot = await daytona.snapshot.create(
        CreateSnapshotParams(
            name=f"asynctool-{run}", image=Image.base("debian:12").run_commands(f"echo snap-{run} > /opt/snap")
        ),
        on_logs=snapshot_logs.append,
    )
    assert snapshot.state == "active", snapshot.state
    assert f"snap-{run}" in "\n".join(snapshot_logs), snapshot_logs
    assert (await daytona.snapshot.get(snapshot.name)).id == snapshot.id
    copy = await daytona.create(CreateSandboxFromSnapshotParams(snapshot=snapshot.name, labels={"asynctool": run}))
    assert (await shell(copy, "cat /opt/snap")).strip() == f"snap-{run}"
    step("get by id and name; list by label, page by page")
    assert (await daytona.get(sandbox.id)).name == sandbox.name
    assert (await daytona.get(sandbox.name)).id == sandbox.id
    listed = sorted([s.id async for s in daytona.list(ListSandboxesQuery(labels={"asynctool": run}, limit=1))])
    assert listed == sorted([sandbox.id, copy.id]), listed
    step("labels and timers")
    assert await sandbox.set_labels({"asynctool": run, "more": "1"}) == {"asynctool": run, "more": "1"}
    await sandbox.set_autostop_interval(30)
    await sandbox.set_auto_archive_interval(120)
    await sandbox.set_auto_delete_interval(-1)
    again = await daytona.get(sandbox.id)
    assert (again.labels["more"], again.auto_stop_interval, again.auto_archive_interval, again.auto_delete_interval) == (
        "1", 30, 120, -1
    ), again
    step("preview links: token, signed, expired")
    port = free_port()
    await shell(sandbox, f"echo page-{run} > page.txt; nohup python3 -m http.server {port} --bind 127.0.0.1 >/dev/null 2>&1 &")
    link = await sandbox.get_preview_link(port)
    assert fetch(f"{link.url}/page.txt", {"x-daytona-preview-token": link.token}) == (200, f"page-{run}\n")
    signed = await sandbox.create_signed_preview_url(port, expires_in_seconds=60)
    assert fetch(f"{signed.url}/page.txt") == (200, f"page-{run}\n")
    await sandbox.expire_signed_preview_url(port, signed.token)
    assert fetch(f"{signed.url}/page.txt")[0] != 200
    step("signed file URLs: upload then download")
    put = await sandbox.upload_url("signed/up.txt")
    with urllib.request.urlopen(urllib.request.Request(put, data=b"up", method="POST", headers={"content-type": "application/octet-stream"}), timeout=10) as reply:
        assert reply.status == 200, reply.status
    got = await sandbox.download_url("signed/up.txt")
    with urllib.request.urlopen(got, timeout=10) as reply:
        assert reply.read() == b"up"
    step("stop, start, archive, start; the files stay")
    await daytona.stop(sandbox)
    assert sandbox.state == "stopped", sandbox.state
    await daytona.start(sandbox)
    await sandbox.stop()
    await sandbox.archive()
    await sandbox.refresh_data()
    assert sandbox.state == "archived", sandbox.state
    await sandbox.start()
    assert (await shell(sandbox, "cat page.txt")).strip() == f"page-{run}"
    step("volumes")
    volume = await daytona.volume.create(f"asynctool-{run}")
    assert volume.name in [v.name for v in await daytona.volume.list()]
    for _ in range(300):
        if (await daytona.volume.get(volume.name)).state == "ready":
            break
        await asyncio.sleep(0.2)
    await daytona.volume.delete(await daytona.volume.get(volume.name))
    step("delete; a deleted sandbox is not found")
    for made in (copy, sandbox):
        await daytona.delete(made)
    await raises(DaytonaNotFoundError, daytona.get(sandbox.id))
    await daytona.snapshot.delete(snapshot)
    await raises(DaytonaNotFoundError, daytona.snapshot.get(snapshot.name))


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def png_size(shot):
    """The width and height a PNG screenshot's header gives."""
    data = base64.b64decode(shot.screenshot)
    assert data[:4] == b"\x89PNG", data[:8]
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


async def concurrent_runs(daytona):
    sandbox = await fresh(daytona, "asynctool-gather")
    code = sandbox.code_interpreter
    step("the first runs in the default context, all at once, start one interpreter")
    runs = await asyncio.gather(
        *[code.run_code(f"import os, time; time.sleep(0.2); print({i}, os.getpid())") for i in range(4)]
    )
    assert [run.stdout.split()[0] for run in runs] == ["0", "1", "2", "3"], runs
    assert len({run.stdout.split()[1] for run in runs}) == 1, runs
    step("runs at once in a new context each see their own output, in one interpreter")
    context = await code.create_context()
    runs = await asyncio.gather(*[code.run_code(f"k{i} = {i}; print(k{i})", context=context) for i in range(5)])
    assert [run.stdout for run in runs] == [f"{i}\n" for i in range(5)], runs
    assert (await code.run_code("print(k0 + k4)", context=context)).stdout == "4\n"
    await sandbox.delete()


async def long_command(daytona):
    sandbox, home = await fresh_home(daytona, "asynctool-long")
    process = sandbox.process
    body = "y" * 300_000
    step("a 300 kB command writes its heredoc, in a cwd, with env, as the daemon's shell runs it")
    await sandbox.fs.create_folder("out", "755")
    ran = await process.exec(
        f"cat > big.txt <<'EOF'\n{body}\nEOF\nwc -c < big.txt; pwd; echo $WHO; echo $0", cwd=f"{home}/out", env={"WHO": "me"}
    )
    assert (ran.exit_code, ran.result.split()[:3]) == (0, ["300001", f"{home}/out", "me"]), ran.result[:200]
    assert await sandbox.fs.download_file("out/big.txt") == f"{body}\n".encode()
    step("its exit code, and the same through the sync client")
    failed = await process.exec(f"true {body}; exit 9")
    assert failed.exit_code == 9, failed.result[:200]
    synced = await asyncio.to_thread(lambda: sync_client().get(sandbox.id).process.exec(f": {body}; echo sync"))
    assert (synced.exit_code, synced.result) == (0, "sync\n"), synced.result[:200]
    step("a missing cwd is -1 as for any command; nothing is left behind")
    missing = await process.exec(f": {body}", cwd="/nowhere")
    assert missing.exit_code == -1, missing.result[:200]
    left = await process.exec("ls -A ~/.daytona/exec 2>/dev/null | wc -l")
    assert left.result.strip() == "0", left.result
    await sandbox.delete()


async def until_async(what, check, detail=lambda: "", seconds=30):
    for _ in range(int(seconds * 10)):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never: {what} {detail()}")


async def stream_names(daytona):
    sandbox = await fresh(daytona, "asynctool-names")
    fs = sandbox.fs
    names = ["ünï cödé.txt", "tick ✓.txt", 'quo"te.txt', "back\\slash.txt", "plain name.txt"]
    for index, name in enumerate(names):
        await fs.upload_file(f"content {index}".encode(), f"odd/{name}")
    for index, name in enumerate(names):
        step(f"download_file_stream of {name!r}, async and sync")
        assert await _drain(fs.download_file_stream(f"odd/{name}")) == f"content {index}".encode()
        assert await asyncio.to_thread(_sync_stream, sandbox.id, f"odd/{name}") == f"content {index}".encode()
        step(f"download_file and download_files of {name!r} still name it")
        assert await fs.download_file(f"odd/{name}") == f"content {index}".encode()
        replies = await fs.download_files([FileDownloadRequest(source=f"odd/{name}")])
        assert (replies[0].source, replies[0].result) == (f"odd/{name}", f"content {index}".encode()), replies
    await sandbox.delete()


def _sync_stream(sandbox_id, path):
    return b"".join(sync_client().get(sandbox_id).fs.download_file_stream(path))


async def _drain(stream):
    return b"".join([chunk async for chunk in await stream])


CASES = {
    "files": files,
    "git": git,
    "process": process,
    "pty": pty,
    "interpreter": interpreter,
    "computer-use": computer_use,
    "lsp": lsp,
    "plane": plane,
    "stream-names": stream_names,
    "concurrent-runs": concurrent_runs,
    "long-command": long_command,
}


run_async_case(CASES, "asynctool: done")
