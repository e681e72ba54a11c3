"""The toolbox guides a Python user copies from, run end to end against `ralph-town serve` by
`tests/serve_sdk_guidestool.rs`: code and commands, sessions and their logs, the file system,
git, the language server, pseudo terminals and the desktop. Each snippet runs as a user would
write it (a local remote instead of GitHub, no `pip install`), and its result is asserted.

The environment: GIT_REMOTE_URL, GIT_REMOTE_USER and GIT_REMOTE_PASSWORD (a smart-HTTP remote on
loopback wanting those credentials, its `main` holding `README.md`), LSP_SANDBOX_PATH (the `PATH`
that finds `pylsp` and `typescript-language-server`) and GUIDE_DESKTOP (set when X tools are
installed); GUIDES may name the guides to run. SWEEP_CASE picks `guides`, or one call that once
failed; `guidestool: done` ends a run that passed.
"""

import asyncio
import base64
import os
import tempfile
import time

from daytona import (
    CodeRunParams,
    DaytonaBadRequestError,
    DaytonaError,
    DaytonaNotFoundError,
    FileDownloadRequest,
    FileUpload,
    OutputMessage,
    ScreenshotOptions,
    ScreenshotRegion,
    SessionExecuteRequest,
)
from daytona.common.lsp_server import LspCompletionPosition
from daytona.common.pty import PtySize

from sdk_script import fresh_sandbox, raises, run_case, shell, stepper, until

step = stepper("guidestool")


def code_execution(sandbox):
    step("code_run: a function and its output")
    response = sandbox.process.code_run('''
def greet(name):
    return f"Hello, {name}!"

print(greet("Daytona"))
''')
    assert (response.exit_code, response.result) == (0, "Hello, Daytona!\n"), response

    step("code_run: argv and environment variables")
    response = sandbox.process.code_run(
        'import os, sys\nprint(f"Hello, {sys.argv[1]}!")\nprint(f"FOO: {os.environ[\'FOO\']}")',
        params=CodeRunParams(argv=["Daytona"], env={"FOO": "BAR"}),
    )
    assert response.result == "Hello, Daytona!\nFOO: BAR\n", response

    step("code_run: a timeout longer than the code")
    response = sandbox.process.code_run('import time\ntime.sleep(2)\nprint("Done")', timeout=5)
    assert (response.exit_code, response.result) == (0, "Done\n"), response

    step("code_run: a timeout shorter than the code")
    # The daemon answers 408, which this SDK's `code_run` raises as it comes.
    raises(Exception, lambda: sandbox.process.code_run("import time\ntime.sleep(30)", timeout=2), "timeout")

    step("code interpreter: the shared default context and a callback")
    seen = []

    def handle_stdout(message: OutputMessage):
        seen.append(message.output)

    result = sandbox.code_interpreter.run_code(
        "counter = 1\nprint(f'Counter initialized at {counter}')", on_stdout=handle_stdout
    )
    assert result.stdout == "Counter initialized at 1\n" and result.error is None, result
    assert "".join(seen) == "Counter initialized at 1\n", seen
    result = sandbox.code_interpreter.run_code("counter += 1\nprint(counter)")
    assert result.stdout == "2\n", result

    step("code interpreter: an isolated context")
    ctx = sandbox.code_interpreter.create_context()
    try:
        sandbox.code_interpreter.run_code("value = 'stored in ctx'", context=ctx)
        seen.clear()
        sandbox.code_interpreter.run_code("print(value)", context=ctx, on_stdout=handle_stdout)
        assert "".join(seen) == "stored in ctx\n", seen
        missing = sandbox.code_interpreter.run_code("print(value)")
        assert missing.error is not None and missing.error.name == "NameError", missing
        assert ctx.id in [c.id for c in sandbox.code_interpreter.list_contexts()]
    finally:
        sandbox.code_interpreter.delete_context(ctx)
    assert ctx.id not in [c.id for c in sandbox.code_interpreter.list_contexts()]

    step("code interpreter: environment variables, stderr, errors and a timeout")
    result = sandbox.code_interpreter.run_code(
        "import os\nprint(os.environ['GREETING'])", envs={"GREETING": "hi there"}
    )
    assert result.stdout == "hi there\n", result
    errors, warnings = [], []
    result = sandbox.code_interpreter.run_code(
        "import sys\nprint('careful', file=sys.stderr)\n1 / 0",
        on_stderr=lambda message: warnings.append(message.output),
        on_error=errors.append,
    )
    assert "careful" in "".join(warnings) and result.error.name == "ZeroDivisionError", result
    assert [error.name for error in errors] == ["ZeroDivisionError"], errors
    raises(DaytonaError, lambda: sandbox.code_interpreter.run_code("import time\ntime.sleep(30)", timeout=2))
    assert sandbox.code_interpreter.run_code("print(counter)").stdout == "2\n"

    step("exec: a working directory, environment variables and a timeout")
    home = sandbox.get_user_home_dir()
    sandbox.fs.create_folder("workspace/src", "755")
    sandbox.fs.upload_file(b"x", "workspace/src/main.py")
    response = sandbox.process.exec("ls -la", cwd="workspace/src")
    assert response.exit_code == 0 and "main.py" in response.result, response
    response = sandbox.process.exec("pwd", cwd=f"{home}/workspace/src")
    assert response.result.strip() == f"{home}/workspace/src", response
    response = sandbox.process.exec("echo $CUSTOM_SECRET", env={"CUSTOM_SECRET": "DAYTONA"})
    assert response.result == "DAYTONA\n", response
    response = sandbox.process.exec("sleep 1 && echo finished", timeout=5)
    assert response.result == "finished\n", response
    started = time.monotonic()
    try:
        response = sandbox.process.exec("sleep 30 && echo finished", timeout=2)
    except DaytonaError as error:
        assert "timeout" in str(error).lower() or "timed out" in str(error).lower(), error
    else:
        assert response.exit_code != 0 and "finished" not in response.result, response
    assert time.monotonic() - started < 25, "the timeout did not end the command"
    response = sandbox.process.exec("echo oops >&2; exit 3")
    assert (response.exit_code, response.result) == (3, "oops\n"), response


def sessions(sandbox):
    process = sandbox.process
    session_id = "my-session"
    step("sessions: create, execute, keep state")
    process.create_session(session_id)
    home = sandbox.get_user_home_dir()
    process.execute_session_command(session_id, SessionExecuteRequest(command=f"cd {home}"))
    process.execute_session_command(session_id, SessionExecuteRequest(command="export GREETING=hi"))
    response = process.execute_session_command(session_id, SessionExecuteRequest(command="pwd; echo $GREETING"))
    assert (response.exit_code, response.stdout) == (0, f"{home}\nhi\n"), response
    response = process.execute_session_command(
        session_id, SessionExecuteRequest(command="echo out; echo err >&2; false")
    )
    assert (response.exit_code, response.stdout, response.stderr) == (1, "out\n", "err\n"), response

    step("sessions: get, list and one command")
    session = process.get_session(session_id)
    assert session.session_id == session_id and len(session.commands) == 4, session
    for command in session.commands:
        assert command.command and command.exit_code is not None, command
    assert session_id in [s.session_id for s in process.list_sessions()]
    command = process.get_session_command(session_id, response.cmd_id)
    assert (command.command, command.exit_code) == ("echo out; echo err >&2; false", 1), command

    step("sessions: an asynchronous command, its logs while it runs and after")
    command = process.execute_session_command(
        session_id,
        SessionExecuteRequest(
            command='for i in {1..3}; do echo "Step $i"; echo "Error $i" >&2; sleep 0.5; done',
            run_async=True,
        ),
    )
    assert command.exit_code is None, command
    stdout, stderr = [], []
    asyncio.run(
        process.get_session_command_logs_async(session_id, command.cmd_id, stdout.append, stderr.append)
    )
    assert "".join(stdout) == "Step 1\nStep 2\nStep 3\n", stdout
    assert "".join(stderr) == "Error 1\nError 2\nError 3\n", stderr
    logs = process.get_session_command_logs(session_id, command.cmd_id)
    assert (logs.stdout, logs.stderr) == ("Step 1\nStep 2\nStep 3\n", "Error 1\nError 2\nError 3\n"), logs
    assert process.get_session_command(session_id, command.cmd_id).exit_code == 0

    step("sessions: the deprecated var_async flag")
    command = process.execute_session_command(
        session_id, SessionExecuteRequest(command="sleep 0.3; echo late", var_async=True)
    )
    until("the command ends", lambda: process.get_session_command(session_id, command.cmd_id).exit_code == 0)
    assert process.get_session_command_logs(session_id, command.cmd_id).stdout == "late\n"

    step("sessions: input to a running command")
    command = process.execute_session_command(
        session_id,
        SessionExecuteRequest(command='read -p "Enter your name: " name && echo "Hello, $name!"', run_async=True),
    )
    process.send_session_command_input(session_id, command.cmd_id, "Alice\n")
    until("the command ends", lambda: process.get_session_command(session_id, command.cmd_id).exit_code == 0)
    assert "Hello, Alice!" in process.get_session_command_logs(session_id, command.cmd_id).stdout

    step("sessions: a synchronous command with a timeout")
    try:
        process.execute_session_command(session_id, SessionExecuteRequest(command="sleep 30"), timeout=2)
    except DaytonaError:
        pass
    response = process.execute_session_command(session_id, SessionExecuteRequest(command="echo alive"))
    assert response.stdout == "alive\n", response

    step("sessions: delete, then the session is gone")
    process.delete_session(session_id)
    assert session_id not in [s.session_id for s in process.list_sessions()]
    raises(DaytonaNotFoundError, lambda: process.get_session(session_id))


def file_system(sandbox):
    fs = sandbox.fs
    home = sandbox.get_user_home_dir()
    local = tempfile.mkdtemp(prefix="guidestool-")
    step("fs: create a folder with permissions, upload, list and describe")
    fs.create_folder("workspace/data", "755")
    fs.create_folder("workspace/secrets", "700")
    assert fs.get_file_info("workspace/secrets").mode.endswith("rwx------"), fs.get_file_info("workspace/secrets")
    with open(f"{local}/local_file.txt", "wb") as f:
        f.write(b"from a local file\n")
    with open(f"{local}/local_file.txt", "rb") as f:
        content = f.read()
    fs.upload_file(content, "workspace/data/file.txt")
    fs.upload_file(f"{local}/local_file.txt", "workspace/data/streamed.txt")
    files = {file.name: file for file in fs.list_files("workspace/data")}
    assert set(files) == {"file.txt", "streamed.txt"}, files
    assert (files["file.txt"].is_dir, files["file.txt"].size) == (False, len(content)), files
    info = fs.get_file_info("workspace/data/file.txt")
    assert (info.size, info.is_dir, info.name) == (len(content), False, "file.txt"), info
    assert info.mod_time and info.mode and info.permissions, info
    assert fs.get_file_info("workspace/data").is_dir

    step("fs: upload several files")
    fs.upload_files(
        [
            FileUpload(source=f"{local}/local_file.txt", destination="workspace/data/one.txt"),
            FileUpload(source=b'{"key": "value"}', destination="workspace/data/config.json"),
            FileUpload(source=b"#!/bin/bash\necho Hello\n", destination="workspace/data/script.sh"),
        ]
    )
    assert fs.download_file("workspace/data/config.json") == b'{"key": "value"}'

    step("fs: download to memory, to a local file, several, and as a stream")
    assert fs.download_file("workspace/data/file.txt") == content
    fs.download_file("workspace/data/file.txt", f"{local}/downloaded.txt")
    with open(f"{local}/downloaded.txt", "rb") as f:
        assert f.read() == content
    results = fs.download_files(
        [
            FileDownloadRequest(source="workspace/data/one.txt", destination=f"{local}/one.txt"),
            FileDownloadRequest(source="workspace/data/config.json"),
            FileDownloadRequest(source="workspace/data/missing.txt"),
        ]
    )
    assert results[0].error is None and results[0].result == f"{local}/one.txt", results[0]
    with open(f"{local}/one.txt", "rb") as f:
        assert f.read() == content
    assert results[1].result == b'{"key": "value"}', results[1]
    assert results[2].error and results[2].result is None, results[2]
    big = os.urandom(3 << 20)
    fs.upload_file(big, "workspace/data/big.bin")
    assert b"".join(fs.download_file_stream("workspace/data/big.bin")) == big
    raises(DaytonaNotFoundError, lambda: fs.download_file("workspace/data/missing.txt"))

    step("fs: permissions")
    fs.set_file_permissions("workspace/data/script.sh", mode="755")
    assert fs.get_file_info("workspace/data/script.sh").permissions == "0755"
    assert sandbox.process.exec("workspace/data/script.sh").result == "Hello\n"
    owner = fs.get_file_info("workspace/data/script.sh").owner
    fs.set_file_permissions("workspace/data/script.sh", mode="644", owner=owner)
    info = fs.get_file_info("workspace/data/script.sh")
    assert (info.permissions, info.owner) == ("0644", owner), info

    step("fs: find, search, replace and move")
    fs.upload_file(b"def main():\n    print('old_version')\n", "workspace/src/app.py")
    fs.upload_file(b"text-of-interest here\nnothing\n", "workspace/src/notes.txt")
    # Paths come back spelled from the start the call gave, as the daemon walks them.
    matches = fs.find_files(path="workspace/src", pattern="text-of-interest")
    assert [(m.file, m.line, m.content) for m in matches] == [
        ("workspace/src/notes.txt", 1, "text-of-interest here")
    ], matches
    matches = fs.find_files(path=f"{home}/workspace/src", pattern="print")
    assert [(m.file, m.line) for m in matches] == [(f"{home}/workspace/src/app.py", 2)], matches
    found = fs.search_files("workspace", "*.json")
    assert found.files == ["workspace/data/config.json"], found
    results = fs.replace_in_files(files=["workspace/src/app.py"], pattern="old_version", new_value="new_version")
    assert [(r.file, r.success) for r in results] == [("workspace/src/app.py", True)], results
    assert b"new_version" in fs.download_file("workspace/src/app.py")
    fs.move_files("workspace/data/file.txt", "workspace/data/renamed.txt")
    names = {file.name for file in fs.list_files("workspace/data")}
    assert "renamed.txt" in names and "file.txt" not in names, names

    step("fs: delete a file and a folder")
    fs.delete_file("workspace/data/renamed.txt")
    raises(DaytonaNotFoundError, lambda: fs.get_file_info("workspace/data/renamed.txt"))
    raises(DaytonaBadRequestError, lambda: fs.delete_file("workspace/secrets"), "without recursive flag")
    assert fs.get_file_info("workspace/secrets").is_dir
    fs.delete_file("workspace/secrets", recursive=True)
    assert "secrets" not in {file.name for file in fs.list_files("workspace")}


def git(sandbox):
    url = os.environ["GIT_REMOTE_URL"]
    user, password = os.environ["GIT_REMOTE_USER"], os.environ["GIT_REMOTE_PASSWORD"]
    repo = "workspace/repo"
    home = sandbox.get_user_home_dir()

    step("git: clone with credentials, then status and branches")
    sandbox.git.clone(url=url, path=repo, username=user, password=password)
    status = sandbox.git.status(repo)
    assert (status.current_branch, status.ahead, status.behind) == ("main", 0, 0), status
    assert status.branch_published and status.file_status == [], status
    assert sandbox.git.branches(repo).branches == ["main"]
    raises(DaytonaError, lambda: sandbox.git.clone(url=url, path="workspace/refused"))

    step("git: add, commit, push a branch")
    sandbox.git.create_branch(repo, "new-feature")
    assert sandbox.git.status(repo).current_branch == "new-feature"
    sandbox.fs.upload_file(b"feature\n", f"{repo}/feature.txt")
    status = sandbox.git.status(repo)
    assert [(f.name, f.worktree) for f in status.file_status] == [("feature.txt", "Untracked")], status
    sandbox.git.add(repo, ["feature.txt"])
    assert sandbox.git.status(repo).file_status[0].staging == "Added"
    commit = sandbox.git.commit(path=repo, message="Add feature", author="John Doe", email="john@example.com")
    assert len(commit.sha) == 40, commit
    log = sandbox.process.exec(f"git -C {repo} log -1 --format='%an <%ae> %s'").result.strip()
    assert log == "John Doe <john@example.com> Add feature", log
    sandbox.git.push(path=repo, username=user, password=password)

    step("git: checkout, pull, create and delete branches")
    sandbox.git.checkout_branch(repo, "main")
    assert sandbox.git.status(repo).current_branch == "main"
    sandbox.git.clone(url=url, path="workspace/feature", branch="new-feature", username=user, password=password)
    assert sandbox.git.status("workspace/feature").current_branch == "new-feature"
    assert sandbox.fs.download_file("workspace/feature/feature.txt") == b"feature\n"
    sandbox.git.clone(url=url, path="workspace/other", username=user, password=password)
    sandbox.fs.upload_file(b"more\n", "workspace/other/more.txt")
    sandbox.git.add("workspace/other", ["."])
    sandbox.git.commit("workspace/other", "More", "Jane", "jane@example.com")
    sandbox.git.push("workspace/other", username=user, password=password)
    assert sandbox.git.status(repo).behind == 0
    sandbox.git.pull(path=repo, username=user, password=password)
    assert sandbox.fs.download_file(f"{repo}/more.txt") == b"more\n"
    status = sandbox.git.status(repo)
    assert (status.current_branch, status.ahead, status.behind) == ("main", 0, 0), status
    sandbox.git.create_branch(repo, "scratch")
    sandbox.git.checkout_branch(repo, "main")
    sandbox.git.delete_branch(repo, "scratch")
    assert "scratch" not in sandbox.git.branches(repo).branches
    raises(DaytonaError, lambda: sandbox.git.checkout_branch(repo, "no-such-branch"))

    step("git: clone at a commit")
    sandbox.git.clone(url=url, path="workspace/pinned", commit_id=commit.sha, username=user, password=password)
    head = sandbox.process.exec("git -C workspace/pinned rev-parse HEAD").result.strip()
    assert head == commit.sha, head
    assert "more.txt" not in {f.name for f in sandbox.fs.list_files("workspace/pinned")}
    assert sandbox.process.exec(f"ls {home}/workspace/pinned/feature.txt").exit_code == 0


def language_server(sandbox):
    step("lsp: a Python project: start, open, symbols, completions, stop")
    project = "workspace/project"
    sandbox.fs.create_folder(project, "755")
    sandbox.fs.upload_file(
        b"class User:\n    def greet(self):\n        return 'hi'\n\n\ndef helper():\n    return User()\n\n\nhelper().gr",
        f"{project}/main.py",
    )
    home = sandbox.get_user_home_dir()
    path = f"{home}/{project}/main.py"
    lsp = sandbox.create_lsp_server("python", project)
    lsp.start()
    lsp.did_open(path)
    symbols = lsp.document_symbols(path)
    assert {"User", "helper"} <= {symbol.name for symbol in symbols}, symbols
    completions = lsp.completions(path, LspCompletionPosition(line=9, character=11))
    assert "greet" in {item.insert_text for item in completions.items}, completions
    # pylsp, Daytona's Python server too, has no `workspace/symbol`.
    raises(DaytonaError, lambda: lsp.sandbox_symbols("User"), "workspace/symbol")
    lsp.did_close(path)
    lsp.stop()

    step("lsp: a TypeScript project: sandbox_symbols")
    sandbox.fs.upload_file(b"export class Account {\n  id = 1;\n}\n", "workspace/web/index.ts")
    lsp = sandbox.create_lsp_server("typescript", "workspace/web")
    lsp.start()
    lsp.did_open("index.ts")
    found = lsp.sandbox_symbols("Account")
    assert any(symbol.name == "Account" for symbol in found), found
    lsp.stop()


def pty(sandbox):
    process = sandbox.process
    home = sandbox.get_user_home_dir()
    step("pty: create with a working directory, environment and size, then list and describe")
    pty_handle = process.create_pty_session(
        id="my-session", cwd=home, envs={"TERM": "xterm-256color"}, pty_size=PtySize(cols=120, rows=30)
    )
    assert "my-session" in [s.id for s in process.list_pty_sessions()]
    info = process.get_pty_session_info("my-session")
    assert (info.cols, info.rows, info.cwd, info.active) == (120, 30, home, True), info
    other = process.connect_pty_session("my-session")
    other.disconnect()

    step("pty: an interactive command, a resize, then exit")
    pty_handle.send_input(
        'printf "Are you accepting the terms and conditions? (y/n): " && read confirm && '
        'if [ "$confirm" = "y" ]; then echo "You accepted"; else echo "You did not accept"; fi\n'
    )
    time.sleep(1)
    pty_handle.send_input("y\n")
    info = pty_handle.resize(PtySize(cols=210, rows=110))
    assert (info.cols, info.rows) == (210, 110), info
    pty_handle.send_input("exit\n")
    output = b"".join(pty_handle).decode("utf-8", errors="replace")
    assert "You accepted" in output, output
    assert pty_handle.exit_code == 0, pty_handle.exit_code

    step("pty: a long-running process, killed")
    pty_handle = process.create_pty_session(id="long-running", pty_size=PtySize(cols=120, rows=30))
    pty_handle.send_input('while true; do echo "Running... $(date)"; sleep 1; done\n')
    time.sleep(2)
    pty_handle.kill()
    result = pty_handle.wait()
    assert result.exit_code != 0 or result.error, result
    until("the killed session is gone", lambda: "long-running" not in [s.id for s in process.list_pty_sessions()])


def desktop(sandbox):
    computer = sandbox.computer_use
    step("computer use: start and status")
    computer.start()
    until("the desktop runs", lambda: computer.get_status().status == "active", seconds=90)
    assert computer.get_process_status("xvfb").running

    step("computer use: mouse")
    moved = computer.mouse.move(100, 200)
    assert (moved.x, moved.y) == (100, 200), moved
    computer.mouse.click(100, 200)
    computer.mouse.click(500, 300, "right")
    computer.mouse.click(100, 200, double=True)
    dragged = computer.mouse.drag(50, 50, 150, 150)
    assert (dragged.x, dragged.y) == (150, 150), dragged
    assert computer.mouse.scroll(100, 200, "down", 3)
    position = computer.mouse.get_position()
    assert (position.x, position.y) == (100, 200), position

    step("computer use: keyboard")
    computer.keyboard.type("Hello, World!")
    computer.keyboard.type("Slow typing", 50)
    computer.keyboard.press("Return")
    computer.keyboard.press("c", ["ctrl"])
    computer.keyboard.hotkey("ctrl+c")

    step("computer use: screenshots")
    screenshot = computer.screenshot.take_full_screen()
    assert screenshot.screenshot and screenshot.size_bytes, screenshot
    region = computer.screenshot.take_region(ScreenshotRegion(x=100, y=100, width=300, height=200))
    png = base64.b64decode(region.screenshot)
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (300, 200), png[:24]
    compressed = computer.screenshot.take_compressed(ScreenshotOptions(fmt="jpeg", quality=80, scale=0.5))
    assert base64.b64decode(compressed.screenshot)[:2] == b"\xff\xd8", compressed.size_bytes

    step("computer use: display and windows")
    display = computer.display.get_info()
    assert display.displays and display.displays[0].width > 0, display
    windows = computer.display.get_windows()
    assert all(window.id for window in windows.windows), windows

    step("computer use: a recording")
    recording = computer.recording.start("test-recording")
    time.sleep(2)
    stopped = computer.recording.stop(recording.id)
    assert (stopped.status, stopped.id) == ("completed", recording.id), stopped
    assert stopped.duration_seconds > 0, stopped
    assert recording.id in [r.id for r in computer.recording.list().recordings]
    assert computer.recording.get(recording.id).file_path
    local = tempfile.mkdtemp(prefix="guidestool-")
    computer.recording.download(recording.id, f"{local}/recording.mp4")
    assert os.path.getsize(f"{local}/recording.mp4") > 0
    computer.recording.delete(recording.id)

    step("computer use: stop")
    computer.stop()


GUIDES = {
    "code": code_execution,
    "sessions": sessions,
    "files": file_system,
    "git": git,
    "lsp": language_server,
    "pty": pty,
    "desktop": desktop,
}


def directory_deleted_only_when_recursive(daytona):
    _, sandbox = fresh_sandbox(daytona, "guides-delete")
    fs = sandbox.fs
    fs.create_folder("empty", "755")
    fs.upload_file(b"kept", "full/kept.txt")
    shell(sandbox, "ln -s full link")
    for folder in ["empty", "full", "link"]:
        step(f"delete_file({folder!r}) without recursive is refused")
        raises(DaytonaBadRequestError, lambda: fs.delete_file(folder), "cannot delete directory without recursive flag")
        assert fs.get_file_info(folder).name == folder
    step("with recursive: the folders go, a link without its target")
    for folder in ["empty", "link"]:
        fs.delete_file(folder, recursive=True)
        raises(DaytonaNotFoundError, lambda: fs.get_file_info(folder))
    assert fs.download_file("full/kept.txt") == b"kept"
    fs.delete_file("full", recursive=True)
    assert "full" not in {f.name for f in fs.list_files(".")}
    sandbox.delete()


def guides(daytona):
    chosen = [
        name
        for name in (os.environ.get("GUIDES") or " ".join(GUIDES)).split()
        if (name != "lsp" or "LSP_SANDBOX_PATH" in os.environ)
        and (name != "desktop" or "GUIDE_DESKTOP" in os.environ)
    ]
    env = {"PATH": os.environ["LSP_SANDBOX_PATH"]} if "LSP_SANDBOX_PATH" in os.environ else {}
    _, sandbox = fresh_sandbox(daytona, "guides", env_vars=env)
    for name in chosen:
        GUIDES[name](sandbox)
    sandbox.delete()


CASES = {
    "guides": guides,
    "delete-directory": directory_deleted_only_when_recursive,
}


run_case(CASES, "guidestool: done")
