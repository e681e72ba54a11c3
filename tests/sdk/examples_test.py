"""Daytona's published Python examples of work inside a sandbox (commands, sessions and their
streamed logs, files, PTYs, git with a language server, computer use), condensed and run as a
user would against the server the test started, each checking what the example prints or
leaves behind. Where an example needs the internet it is adapted: the repository it clones is
a local bare one (EXAMPLES_REPOS, which the server shows sandboxes read-only), and packages it
installs are already on the sandbox's `PATH` (EXAMPLES_SANDBOX_PATH).

SWEEP_CASE picks the run: `examples` (all of them), or one regression case named after what
broke. Prints `examples: done` at the end.
"""

import asyncio
import base64
import os
import shutil
import subprocess

from daytona import (
    AsyncDaytona,
    CreateSandboxFromImageParams,
    CreateSandboxFromSnapshotParams,
    DaytonaBadRequestError,
    DaytonaConfig,
    DaytonaError,
    FileUpload,
    Image,
    LspCompletionPosition,
    PtySize,
    ScreenshotOptions,
    ScreenshotRegion,
    SessionExecuteRequest,
)
from sdk_script import output_until, raises, read_until, run_case, shell, stepper

step = stepper("examples")

# The file the git-lsp example fixes, shared with the TypeScript script.
APP_TS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "examples", "learn-typescript-app.ts"
)


def async_config():
    """The async client's configuration of the server under test."""
    return DaytonaConfig(api_key=os.environ["DAYTONA_API_KEY"], api_url=os.environ["DAYTONA_API_URL"])


def bare_repository():
    """A `file://` URL of a bare repository holding `step09_class/app.ts` on `master`."""
    root = os.environ["EXAMPLES_REPOS"]
    work = os.path.join(root, "learn-typescript")
    bare = os.path.join(root, "learn-typescript.git")
    if not os.path.isdir(bare):
        os.makedirs(os.path.join(work, "step09_class"))
        shutil.copyfile(APP_TS, os.path.join(work, "step09_class", "app.ts"))
        git = ["git", "-c", "user.name=examples", "-c", "user.email=examples@localhost"]
        subprocess.run([*git, "init", "-q", "-b", "master", work], check=True)
        subprocess.run([*git, "-C", work, "add", "."], check=True)
        subprocess.run([*git, "-C", work, "commit", "-qm", "a class to fix"], check=True)
        subprocess.run(["git", "clone", "-q", "--bare", work, bare], check=True)
    return f"file://{bare}"


def exec_command(daytona):
    step("exec-command: code_run and exec")
    sandbox = daytona.create(CreateSandboxFromImageParams(image="python:3.9.23-slim", language="python"))
    reply = sandbox.process.code_run('print("Hello World!")')
    assert (reply.exit_code, reply.result) == (0, "Hello World!\n"), reply
    reply = sandbox.process.exec('echo "Hello World from exec!"', timeout=10)
    assert (reply.exit_code, reply.result) == (0, "Hello World from exec!\n"), reply
    daytona.delete(sandbox)


def exec_session(daytona):
    step("exec-command: a session keeps its shell's state")
    sandbox = daytona.create()
    sandbox.process.create_session("exec-session-1")
    assert sandbox.process.get_session("exec-session-1").commands == []
    first = sandbox.process.execute_session_command("exec-session-1", SessionExecuteRequest(command="export FOO=BAR"))
    assert first.exit_code == 0, first
    commands = sandbox.process.get_session("exec-session-1").commands
    assert [(c.command, c.exit_code) for c in commands] == [("export FOO=BAR", 0)], commands
    assert sandbox.process.get_session_command("exec-session-1", first.cmd_id).command == "export FOO=BAR"
    second = sandbox.process.execute_session_command("exec-session-1", SessionExecuteRequest(command="echo $FOO"))
    assert (second.exit_code, second.stdout) == (0, "BAR\n"), second
    logs = sandbox.process.get_session_command_logs("exec-session-1", second.cmd_id)
    assert (logs.stdout, logs.stderr) == ("BAR\n", ""), logs
    assert [s.session_id for s in sandbox.process.list_sessions()] == ["exec-session-1"]
    sandbox.process.delete_session("exec-session-1")
    assert sandbox.process.list_sessions() == []
    daytona.delete(sandbox)


def exec_logs_async(daytona):
    step("exec-command: logs stream while the command reads its input")
    sandbox = daytona.create()
    sandbox.process.create_session("exec-session-1")
    command = sandbox.process.execute_session_command(
        "exec-session-1",
        SessionExecuteRequest(
            command=(
                'printf "Enter your name: \\n" && read name && printf "Hello, %s\\n" "$name"; '
                'counter=1; while (( counter <= 3 )); do echo "Count: $counter"; '
                "((counter++)); sleep 1; done; non-existent-command"
            ),
            run_async=True,
        ),
    )
    stdout, stderr = [], []

    async def follow():
        logs = asyncio.create_task(
            sandbox.process.get_session_command_logs_async(
                "exec-session-1", command.cmd_id, stdout.append, stderr.append
            )
        )
        # The log echoes input where it arrives: after the question, once it was asked.
        await output_until(stdout, "Enter your name: ")
        sandbox.process.send_session_command_input("exec-session-1", command.cmd_id, "Alice")
        await logs

    asyncio.run(follow())
    # The daemon echoes input into the log as stdout.
    assert "".join(stdout) == "Enter your name: \nAlice\nHello, Alice\nCount: 1\nCount: 2\nCount: 3\n", stdout
    assert "non-existent-command" in "".join(stderr), stderr
    assert sandbox.process.get_session_command("exec-session-1", command.cmd_id).exit_code == 127
    daytona.delete(sandbox)


def file_operations(daytona):
    step("file-operations: upload, run, search, replace, download under `~`")
    sandbox = daytona.create(CreateSandboxFromSnapshotParams(language="python"))
    assert sandbox.fs.list_files("~") == []
    new_dir = "~/project-files"
    sandbox.fs.create_folder(new_dir, "755")
    config = '{\n  "name": "project-config",\n  "settings": {\n    "debug": true\n  }\n}'
    local = os.path.join(os.environ["EXAMPLES_REPOS"], "local-example.txt")
    with open(local, "w", encoding="utf-8") as f:
        f.write("This is a local file created for demonstration purposes")
    sandbox.fs.upload_files(
        [
            FileUpload(source=local, destination=os.path.join(new_dir, "example.txt")),
            FileUpload(source=config.encode(), destination=os.path.join(new_dir, "config.json")),
            FileUpload(
                source=b'#!/bin/bash\necho "Hello from script!"\nexit 0', destination=os.path.join(new_dir, "script.sh")
            ),
        ]
    )
    listing = shell(sandbox, f"ls {new_dir}")
    assert listing.split() == ["config.json", "example.txt", "script.sh"], listing
    shell(sandbox, f"chmod +x {new_dir}/script.sh")
    assert shell(sandbox, f"{new_dir}/script.sh") == "Hello from script!\n"
    matches = sandbox.fs.search_files(new_dir, "*.json")
    assert matches.files == ["/home/daytona/project-files/config.json"], matches
    sandbox.fs.replace_in_files([os.path.join(new_dir, "config.json")], '"debug": true', '"debug": false')
    assert b'"debug": false' in sandbox.fs.download_file(os.path.join(new_dir, "config.json"))
    sandbox.fs.upload_file(b"Config: Production mode", os.path.join(new_dir, "report.txt"))
    assert shell(sandbox, "cat /home/daytona/project-files/report.txt") == "Config: Production mode"
    names = sorted(f.name for f in sandbox.fs.list_files("~/project-files"))
    assert names == ["config.json", "example.txt", "report.txt", "script.sh"], names
    daytona.delete(sandbox)


async def file_operations_async():
    step("file-operations (async): the same under `~`")
    async with AsyncDaytona(async_config()) as daytona:
        sandbox = await daytona.create(CreateSandboxFromSnapshotParams(language="python"))
        assert await sandbox.fs.list_files("~") == []
        await sandbox.fs.create_folder("~/project-files", "755")
        await sandbox.fs.upload_files([FileUpload(source=b'{"debug": true}', destination="~/project-files/c.json")])
        found = await sandbox.fs.search_files("~/project-files", "*.json")
        assert found.files == ["/home/daytona/project-files/c.json"], found
        await sandbox.fs.replace_in_files(["~/project-files/c.json"], '"debug": true', '"debug": false')
        assert await sandbox.fs.download_file("~/project-files/c.json") == b'{"debug": false}'
        await daytona.delete(sandbox)


def pty(daytona):
    step("pty: an interactive shell, resized, then exited")
    sandbox = daytona.create()
    handle = sandbox.process.create_pty_session(id="interactive-pty-session", pty_size=PtySize(cols=120, rows=30))
    # Each line waits for the prompt that asks for it: lines typed before the shell reads at
    # its prompt are lost, and a loaded machine starts it later than the example's second.
    output = read_until(handle, "$ ")
    handle.send_input('printf "Enter your name: " && read name && printf "Hello, %s\\n" "$name"\n')
    output += read_until(handle, "\rEnter your name: ")
    handle.send_input("Alice\n")
    output += read_until(handle, "Hello, Alice")
    handle.resize(PtySize(cols=80, rows=25))
    handle.send_input("stty size\n")
    handle.send_input("exit\n")
    output += b"".join(handle).decode(errors="replace")
    assert "Hello, Alice" in output and "25 80" in output, output
    assert (handle.exit_code, handle.error) == (0, None), (handle.exit_code, handle.error)

    step("pty: a looping command, killed")
    handle = sandbox.process.create_pty_session(id="kill-pty-session", pty_size=PtySize(cols=120, rows=30))
    read_until(handle, "$ ")
    handle.send_input('while true; do echo "Running... $(date)"; sleep 1; done\n')
    read_until(handle, "\nRunning...")
    handle.kill()
    handle.wait(timeout=60)
    assert (handle.exit_code, handle.error) == (137, "SIGKILL"), (handle.exit_code, handle.error)
    daytona.delete(sandbox)


async def pty_async():
    step("pty (async): resize answers the new size, wait the exit code")
    async with AsyncDaytona(async_config()) as daytona:
        sandbox = await daytona.create()
        chunks = []
        handle = await sandbox.process.create_pty_session(
            id="interactive-pty-session", pty_size=PtySize(cols=120, rows=30), on_data=chunks.append
        )
        await output_until(chunks, "$ ")
        await handle.send_input('printf "Enter your name: " && read name && printf "Hello, %s\\n" "$name"\n')
        await output_until(chunks, "\rEnter your name: ")
        await handle.send_input("Bob\n")
        info = await sandbox.process.resize_pty_session("interactive-pty-session", PtySize(cols=80, rows=25))
        assert (info.cols, info.rows) == (80, 25), info
        await handle.send_input("exit\n")
        result = await handle.wait()
        assert (result.exit_code, result.error) == (0, None), result
        assert "Hello, Bob" in b"".join(chunks).decode(errors="replace"), chunks
        await daytona.delete(sandbox)


def git_lsp(daytona):
    step("git-lsp: clone, find the line, open it in the TypeScript server, fix it")
    sandbox = daytona.create(
        CreateSandboxFromImageParams(
            image=Image.base("ubuntu:25.10"), env_vars={"PATH": os.environ["EXAMPLES_SANDBOX_PATH"]}
        )
    )
    project = "learn-typescript"
    sandbox.git.clone(bare_repository(), project, "master")
    sandbox.git.pull(project)
    matches = sandbox.fs.find_files(project, "var obj1 = new Base();")
    assert [(m.file, m.line) for m in matches] == [("learn-typescript/step09_class/app.ts", 13)], matches
    lsp = sandbox.create_lsp_server("typescript", project)
    lsp.start()
    lsp.did_open(matches[0].file)
    symbols = {s.name for s in lsp.document_symbols(matches[0].file)}
    assert {"Base", "E", "describe", "obj1"} <= symbols, symbols
    sandbox.fs.replace_in_files([matches[0].file], "var obj1 = new Base();", "var obj1 = new E();")
    lsp.did_close(matches[0].file)
    lsp.did_open(matches[0].file)
    assert "new E()" in shell(sandbox, f"cat {project}/step09_class/app.ts")
    # The example passes a plain dict, which this SDK cannot send; its position type can.
    raises(DaytonaError, lambda: lsp.completions(matches[0].file, {"line": 12, "character": 18}), "'line'")
    labels = {
        item.label for item in lsp.completions(matches[0].file, LspCompletionPosition(line=12, character=18)).items
    }
    assert {"Base", "E", "obj1"} <= labels, sorted(labels)[:20]
    lsp.stop()
    daytona.delete(sandbox)


def computer_use(daytona):
    step("computer-use: display, screenshots, mouse, keyboard, stop")
    # Daytona's `windows-core` snapshot does not exist here, and says so in Daytona's words.
    raises(
        DaytonaBadRequestError,
        lambda: daytona.create(CreateSandboxFromSnapshotParams(snapshot="windows-core"), timeout=120),
        "windows-core",
    )
    sandbox = daytona.create(CreateSandboxFromSnapshotParams(), timeout=120)
    raises(DaytonaBadRequestError, sandbox.computer_use.display.get_info, "start")
    sandbox.computer_use.start()
    display = sandbox.computer_use.display.get_info().displays[0]
    assert (display.width, display.height) == (1024, 768), display
    assert sandbox.computer_use.display.get_windows().windows is not None
    shot = sandbox.computer_use.screenshot.take_full_screen()
    assert base64.b64decode(shot.screenshot).startswith(b"\x89PNG"), shot.size_bytes
    region = sandbox.computer_use.screenshot.take_region(ScreenshotRegion(x=100, y=100, width=400, height=300))
    assert base64.b64decode(region.screenshot).startswith(b"\x89PNG")
    small = sandbox.computer_use.screenshot.take_compressed(
        ScreenshotOptions(show_cursor=False, fmt="jpeg", quality=75, scale=0.5)
    )
    assert base64.b64decode(small.screenshot).startswith(b"\xff\xd8"), small.size_bytes
    moved = sandbox.computer_use.mouse.move(400, 300)
    assert (moved.x, moved.y) == (400, 300), moved
    position_now = sandbox.computer_use.mouse.get_position()
    assert (position_now.x, position_now.y) == (400, 300), position_now
    click = sandbox.computer_use.mouse.click(500, 400, button="left", double=True)
    assert (click.x, click.y) == (500, 400), click
    assert sandbox.computer_use.mouse.scroll(500, 400, direction="down", amount=3)
    drag = sandbox.computer_use.mouse.drag(100, 100, 300, 200, button="left")
    assert (drag.x, drag.y) == (300, 200), drag
    sandbox.computer_use.keyboard.type("Hello from Daytona SDK!")
    sandbox.computer_use.keyboard.press("Return")
    sandbox.computer_use.keyboard.hotkey("ctrl+a")
    stopped = sandbox.computer_use.stop()
    assert not any(process.running for process in stopped.status.values()), stopped
    daytona.delete(sandbox)


def examples(daytona):
    exec_command(daytona)
    exec_session(daytona)
    exec_logs_async(daytona)
    file_operations(daytona)
    asyncio.run(file_operations_async())
    pty(daytona)
    asyncio.run(pty_async())
    git_lsp(daytona)
    computer_use(daytona)


def tilde_paths(daytona):
    """`~` in a file, search or git path is the home, as the examples use it."""
    sandbox = daytona.create()
    shell(sandbox, "mkdir -p ~/seen && echo hi > ~/seen/a.txt")
    assert [f.name for f in sandbox.fs.list_files("~")] == ["seen"]
    assert [f.name for f in sandbox.fs.list_files("~/seen")] == ["a.txt"]
    sandbox.fs.create_folder("~/made", "755")
    assert shell(sandbox, "test -d /home/daytona/made && echo yes") == "yes\n"
    assert sandbox.fs.get_file_info("~/seen/a.txt").size == 3
    sandbox.fs.set_file_permissions("~/seen/a.txt", mode="600")
    assert shell(sandbox, "stat -c %a /home/daytona/seen/a.txt") == "600\n"
    sandbox.fs.move_files("~/seen/a.txt", "~/made/b.txt")
    assert sandbox.fs.search_files("~", "*.txt").files == ["/home/daytona/made/b.txt"]
    assert [m.file for m in sandbox.fs.find_files("~/made", "hi")] == ["/home/daytona/made/b.txt"]
    sandbox.fs.delete_file("~/made/b.txt")
    assert shell(sandbox, "ls -A ~/made") == ""
    sandbox.git.clone(bare_repository(), "~/repo")
    assert sandbox.git.status("~/repo").current_branch == "master"
    assert shell(sandbox, "ls -A /home/daytona").split() == ["made", "repo", "seen"]
    daytona.delete(sandbox)


def lsp_find_files_path(daytona):
    """`find_files(project, ...)` answers paths that start with the project; the language
    server opens them where they are, not below the project a second time."""
    sandbox = daytona.create(CreateSandboxFromSnapshotParams(env_vars={"PATH": os.environ["EXAMPLES_SANDBOX_PATH"]}))
    sandbox.git.clone(bare_repository(), "learn-typescript")
    match = sandbox.fs.find_files("learn-typescript", "var obj1")[0]
    assert match.file == "learn-typescript/step09_class/app.ts", match
    lsp = sandbox.create_lsp_server("typescript", "learn-typescript")
    lsp.start()
    lsp.did_open(match.file)
    assert "obj1" in {s.name for s in lsp.document_symbols(match.file)}
    # A path below the project still means what it meant.
    lsp.did_open("step09_class/app.ts")
    assert "obj1" in {s.name for s in lsp.document_symbols("step09_class/app.ts")}
    lsp.stop()
    # A project under `~` is the home's, and so are its documents.
    home = sandbox.create_lsp_server("typescript", "~/learn-typescript")
    home.start()
    home.did_open("~/learn-typescript/step09_class/app.ts")
    symbols = home.document_symbols("~/learn-typescript/step09_class/app.ts")
    assert {s.location.uri for s in symbols} == {"file:///home/daytona/learn-typescript/step09_class/app.ts"}
    home.stop()
    daytona.delete(sandbox)


if __name__ == "__main__":
    run_case(
        {"examples": examples, "tilde-paths": tilde_paths, "lsp-find-files-path": lsp_find_files_path},
        "examples: done",
    )
