"""Calls of the official Python SDK on a sandbox's toolbox (files, git, processes, the code
interpreter, language servers, computer use) that once failed against `ralph-town serve`,
one case per run (`SWEEP_CASE`), run by `tests/serve_sdk_sweeptool.rs`: each case asserts
what the SDK returns or raises, and prints `sweeptool: done` at the end.
"""

import asyncio
import io
import os
import tempfile

from daytona import AsyncDaytona, DaytonaConfig, FileDownloadRequest, SessionExecuteRequest
from daytona.common.errors import (
    DaytonaBadRequestError,
    DaytonaError,
    DaytonaFileNotFoundError,
    DaytonaNotFoundError,
)

from sdk_script import fresh_sandbox, raises, run_case, stepper, until

step = stepper("sweeptool")


def find_in_one_file(daytona):
    _, sandbox = fresh_sandbox(daytona, "sweeptool-find")
    fs = sandbox.fs
    home = sandbox.get_user_home_dir()
    fs.upload_file(b"foo1\nbar here\nfoo2 bar\n", "notes.txt")
    for path in ["notes.txt", f"{home}/notes.txt"]:
        step(f"find in the one file {path}")
        found = [(m.file, m.line, m.content) for m in fs.find_files(path, "bar")]
        assert found == [(path, 2, "bar here"), (path, 3, "foo2 bar")], found
    step("find in a folder names each file as the walk reaches it")
    fs.upload_file(b"bar\n", "sub/other.txt")
    found = [(m.file, m.line) for m in fs.find_files(home, "bar")]
    assert found == [(f"{home}/notes.txt", 2), (f"{home}/notes.txt", 3), (f"{home}/sub/other.txt", 1)], found
    step("the pattern is a text, not a regular expression")
    assert fs.find_files("notes.txt", "foo[0-9]") == []
    step("a start that looks like an option is reported as the request spelled it")
    fs.upload_file(b"bar\n", "-dash.txt")
    assert [m.file for m in fs.find_files("-dash.txt", "bar")] == ["-dash.txt"]
    assert fs.search_files("-dash.txt", "*.txt").files == ["-dash.txt"]
    sandbox.delete()


def interpreter_environment_persists(daytona):
    _, sandbox = fresh_sandbox(daytona, "sweeptool-env")
    interpreter = sandbox.code_interpreter
    context = interpreter.create_context()
    for where in [None, context]:
        name = "default" if where is None else "new"
        step(f"{name} context: what the code sets in os.environ stays for later runs")
        ran = interpreter.run_code("import os; os.environ['KEPT'] = 'yes'", context=where)
        assert ran.error is None, ran
        shown = interpreter.run_code("import os; print(os.environ.get('KEPT'))", context=where)
        assert shown.stdout == "yes\n", shown
        step(f"{name} context: a run's envs last for that run only")
        ran = interpreter.run_code(
            "import os; print(os.environ['KEPT'], os.environ['ONCE'])",
            context=where,
            envs={"KEPT": "for-now", "ONCE": "1"},
        )
        assert ran.stdout == "for-now 1\n", ran
        after = interpreter.run_code(
            "import os; print(os.environ['KEPT'], os.environ.get('ONCE'))", context=where
        )
        assert after.stdout == "yes None\n", after
    step("a syntax error names the code as Daytona's worker does")
    broken = interpreter.run_code("def (")
    assert broken.error.name == "SyntaxError" and "(<string>, line 1)" in broken.error.value, broken
    interpreter.delete_context(context)
    raises(DaytonaNotFoundError, lambda: interpreter.delete_context(context), "context not found")
    sandbox.delete()


def streams_bulk_and_input(daytona):
    _, sandbox = fresh_sandbox(daytona, "sweeptool-streams")
    fs = sandbox.fs
    home = sandbox.get_user_home_dir()
    local = tempfile.mkdtemp()
    step("upload_file_stream from a file object, bytes and a local file path")
    seen = []
    fs.upload_file_stream(io.BytesIO(b"abcd"), "streamed/chunks.txt", on_progress=seen.append)
    assert seen and seen[-1].bytes_sent == 4, seen
    fs.upload_file_stream(b"plain", f"{home}/streamed/bytes.txt")
    with open(os.path.join(local, "source.bin"), "wb") as source:
        source.write(os.urandom(200_000))
    fs.upload_file_stream(os.path.join(local, "source.bin"), "streamed/file.bin")
    step("download_file_stream in chunks; a missing file is FILE_NOT_FOUND")
    assert b"".join(fs.download_file_stream("streamed/chunks.txt")) == b"abcd"
    with open(os.path.join(local, "source.bin"), "rb") as source:
        assert b"".join(fs.download_file_stream("streamed/file.bin")) == source.read()
    raises(DaytonaFileNotFoundError, lambda: b"".join(fs.download_file_stream("streamed/nope")))
    step("download_files: to memory, to a local file, and a missing one")
    target = os.path.join(local, "got.txt")
    replies = fs.download_files(
        [
            FileDownloadRequest(source="streamed/bytes.txt"),
            FileDownloadRequest(source="streamed/chunks.txt", destination=target),
            FileDownloadRequest(source="streamed/nope"),
        ]
    )
    assert replies[0].result == b"plain" and replies[0].error is None, replies[0]
    assert replies[1].result == target, replies[1]
    with open(target, "rb") as got:
        assert got.read() == b"abcd"
    assert replies[2].result is None and replies[2].error_details.status_code == 404, replies[2]
    step("send_session_command_input reaches a waiting command, echoed unless suppressed")
    process = sandbox.process
    process.create_session("asking")
    for suppress, expected in [(False, "ann\nhello ann\n"), (True, "hello ann\n")]:
        asked = process.execute_session_command(
            "asking",
            SessionExecuteRequest(
                command="read name; echo hello $name", run_async=True, suppress_input_echo=suppress
            ),
        )
        process.send_session_command_input("asking", asked.cmd_id, "ann\n")
        until("the command ends", lambda: process.get_session_command("asking", asked.cmd_id).exit_code == 0)
        logs = process.get_session_command_logs("asking", asked.cmd_id)
        assert logs.stdout == expected, (suppress, logs)
    step("there is no entrypoint: its session and logs are 404")
    raises(DaytonaNotFoundError, process.get_entrypoint_logs, "entrypoint")
    raises(DaytonaNotFoundError, process.get_entrypoint_session, "entrypoint")
    step("the same through the async client")
    asyncio.run(streams_async(sandbox.id, local))
    sandbox.delete()


async def streams_async(sandbox_id, local):
    config = DaytonaConfig(api_key=os.environ["DAYTONA_API_KEY"], api_url=os.environ["DAYTONA_API_URL"])
    async with AsyncDaytona(config) as daytona:
        sandbox = await daytona.get(sandbox_id)
        fs = sandbox.fs

        async def chunks():
            yield b"as"
            yield b"ync"

        seen = []
        await fs.upload_file_stream(chunks(), "streamed/async.txt", on_progress=seen.append)
        assert seen and seen[-1].bytes_sent == 5, seen
        assert b"".join([chunk async for chunk in await fs.download_file_stream("streamed/async.txt")]) == b"async"
        target = os.path.join(local, "async.txt")
        replies = await fs.download_files(
            [FileDownloadRequest(source="streamed/async.txt", destination=target), FileDownloadRequest(source="nope")]
        )
        assert replies[0].result == target and replies[1].error_details.status_code == 404, replies
        try:
            await sandbox.process.get_entrypoint_logs()
        except DaytonaNotFoundError:
            pass
        else:
            raise AssertionError("the entrypoint logs were found")


def input_devices(daytona):
    _, sandbox = fresh_sandbox(daytona, "sweeptool-input")
    computer = sandbox.computer_use
    computer.start()
    step("a button held from one place and let go at another")
    held = computer.mouse.down(40, 50)
    assert (held.x, held.y) == (40, 50), held
    released = computer.mouse.up(90, 60, "left")
    assert (released.x, released.y) == (90, 60), released
    position = computer.mouse.get_position()
    assert (position.x, position.y) == (90, 60), position
    step("the right button held where the pointer is")
    held = computer.mouse.down(button="right")
    assert (held.x, held.y) == (90, 60), held
    computer.mouse.up(button="right")
    step("a key held and let go")
    computer.keyboard.down("shift")
    computer.keyboard.up("shift")
    step("restart the display; the other processes are not run locally")
    restarted = computer.restart_process("xvfb")
    assert restarted.process_name == "xvfb", restarted
    until("the display runs again", lambda: computer.get_process_status("xvfb").running)
    raises(DaytonaBadRequestError, lambda: computer.restart_process("xfce4"), "xfce4")
    step("a key held after stop is refused")
    computer.stop()
    raises(DaytonaError, lambda: computer.keyboard.down("a"), "start")
    sandbox.delete()


CASES = {
    "find-in-one-file": find_in_one_file,
    "interpreter-env": interpreter_environment_persists,
    "streams-bulk-input": streams_bulk_and_input,
    "input-devices": input_devices,
}


run_case(CASES, "sweeptool: done")
