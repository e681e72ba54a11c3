"""More calls of the official Python SDK that once failed against `ralph-town serve`, one case
per run (`SWEEP_CASE`), run by `tests/serve_sdk_sweep2.rs`: each case asserts what the SDK
returns or raises, and prints `sweep2: done` at the end.
"""

from daytona import FileUpload, PtySize
from daytona.common.errors import DaytonaError

from sdk_script import fresh_sandbox, run_case, stepper

step = stepper("sweep2")


def pty_listed_once_created(daytona):
    _, sandbox = fresh_sandbox(daytona, "sweep2-pty")
    process = sandbox.process
    for attempt in range(3):
        session = f"pty-{attempt}"
        step(f"{session}: created, then at once listed, described, resized and joined")
        handle = process.create_pty_session(session, pty_size=PtySize(rows=20, cols=60))
        assert session in [s.id for s in process.list_pty_sessions()], session
        info = process.get_pty_session_info(session)
        assert (info.id, info.rows, info.cols, info.active) == (session, 20, 60, True), info
        resized = process.resize_pty_session(session, PtySize(rows=30, cols=90))
        assert (resized.rows, resized.cols) == (30, 90), resized
        other = process.connect_pty_session(session)
        other.disconnect()
        process.kill_pty_session(session)
        handle.disconnect()
    sandbox.delete()


def interpreter_survives_exit_and_input(daytona):
    _, sandbox = fresh_sandbox(daytona, "sweep2-interpreter")
    interpreter = sandbox.code_interpreter
    context = interpreter.create_context()
    for where in [None, context]:
        step(f"exit() and input() in the {'default' if where is None else 'new'} context")
        assert interpreter.run_code("kept = 7", context=where).error is None
        ended = interpreter.run_code("print('bye'); exit()", context=where)
        assert (ended.stdout, ended.error) == ("bye\n", None), ended
        assert interpreter.run_code("print(kept)", context=where).stdout == "7\n"
        asked = interpreter.run_code("input()", context=where, timeout=10)
        assert asked.error is not None and asked.error.name == "EOFError", asked
        assert interpreter.run_code("print(kept + 1)", context=where).stdout == "8\n"
    interpreter.delete_context(context)
    sandbox.delete()


def bulk_upload_lists_each_failed_file(daytona):
    _, sandbox = fresh_sandbox(daytona, "sweep2-upload")
    home = sandbox.get_user_home_dir()
    step("one file of three cannot be written")
    files = [
        FileUpload(b"first", f"{home}/first.txt"),
        FileUpload(b"refused", "/usr/refused.txt"),
        FileUpload(b"last", f"{home}/last.txt"),
    ]
    try:
        sandbox.fs.upload_files(files)
    except DaytonaError as error:
        assert error.status_code == 400, repr(error)
        text = str(error)
        assert "400: /usr/refused.txt: " in text and "statusCode" not in text, text
    else:
        raise AssertionError("the upload of /usr/refused.txt succeeded")
    step("the others were written")
    assert sandbox.fs.download_file(f"{home}/first.txt") == b"first"
    assert sandbox.fs.download_file(f"{home}/last.txt") == b"last"
    sandbox.delete()


CASES = {
    "pty-listed": pty_listed_once_created,
    "interpreter-exit": interpreter_survives_exit_and_input,
    "bulk-upload-errors": bulk_upload_lists_each_failed_file,
}


run_case(CASES, "sweep2: done")
