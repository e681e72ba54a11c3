"""Process sessions, code_run and the code interpreter of the official Daytona Python SDK against `ralph-town serve`.

Run by `tests/sessions.rs` with DAYTONA_API_URL and DAYTONA_API_KEY pointing at an in-process
server. Each step asserts what the SDK returned; any failure exits non-zero with a traceback.
"""

import asyncio
import time

from daytona import DaytonaTimeoutError, SessionExecuteRequest
from sdk_script import client, run_script, stepper


step = stepper("sdk")


def wait_for_exit(sandbox, session, command_id, limit=30):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        command = sandbox.process.get_session_command(session, command_id)
        if command.exit_code is not None:
            return command.exit_code
        time.sleep(0.05)
    raise AssertionError(f"command {command_id} never ended")


def main():
    daytona = client()
    sandbox = daytona.create(timeout=60)
    process = sandbox.process

    step("code_run, the quickstart's first call")
    reply = process.code_run("import sys\nprint(1 + 1)\nprint('to stderr', file=sys.stderr)")
    assert reply.exit_code == 0, reply
    assert reply.result.startswith("2\n"), reply.result
    reply = process.code_run("raise SystemExit(5)")
    assert reply.exit_code == 5, reply

    step("create a session; state carries over from one command to the next")
    process.create_session("sdk-session")
    first = process.execute_session_command(
        "sdk-session", SessionExecuteRequest(command="mkdir -p sdk-dir && cd sdk-dir && export SDK_VAR=kept")
    )
    assert first.exit_code == 0, first
    reply = process.execute_session_command(
        "sdk-session", SessionExecuteRequest(command='echo "$SDK_VAR $(basename "$PWD")"; echo warned >&2')
    )
    assert reply.exit_code == 0, reply
    assert reply.stdout == "kept sdk-dir\n", repr(reply.stdout)
    assert reply.stderr == "warned\n", repr(reply.stderr)

    step("run_async answers at once; the command runs on")
    started = process.execute_session_command(
        "sdk-session",
        SessionExecuteRequest(command="for n in 1 2 3; do echo tick-$n; sleep 0.3; done; echo tock >&2", run_async=True),
    )
    assert started.cmd_id and started.exit_code is None, started
    assert process.get_session_command("sdk-session", started.cmd_id).exit_code is None

    step("follow its logs with callbacks")
    out, err = [], []
    asyncio.run(
        process.get_session_command_logs_async("sdk-session", started.cmd_id, out.append, err.append)
    )
    assert "".join(out) == "tick-1\ntick-2\ntick-3\n", out
    assert "".join(err) == "tock\n", err
    assert len(out) >= 2, f"the logs arrived as they were written: {out}"
    assert wait_for_exit(sandbox, "sdk-session", started.cmd_id) == 0

    step("read the logs of a finished command")
    logs = process.get_session_command_logs("sdk-session", started.cmd_id)
    assert logs.stdout == "tick-1\ntick-2\ntick-3\n", repr(logs.stdout)
    assert logs.stderr == "tock\n", repr(logs.stderr)

    step("send input to a command waiting in read")
    reader = process.execute_session_command(
        "sdk-session", SessionExecuteRequest(command='read -r answer; echo "answer: $answer"', run_async=True)
    )
    process.send_session_command_input("sdk-session", reader.cmd_id, "forty-two")
    assert wait_for_exit(sandbox, "sdk-session", reader.cmd_id) == 0
    logs = process.get_session_command_logs("sdk-session", reader.cmd_id)
    assert logs.stdout.endswith("answer: forty-two\n"), repr(logs.stdout)

    step("list, get and delete sessions")
    process.create_session("sdk-other")
    sessions = {session.session_id: session for session in process.list_sessions()}
    assert set(sessions) == {"sdk-session", "sdk-other"}, sessions
    commands = process.get_session("sdk-session").commands
    assert [c.exit_code for c in commands] == [0, 0, 0, 0], commands
    process.delete_session("sdk-other")
    assert [s.session_id for s in process.list_sessions()] == ["sdk-session"]

    step("a session id is any name, as the daemon takes it, and never a command")
    odd = "my session ü $(touch pwned)"
    process.create_session(odd)
    ran = process.execute_session_command(odd, SessionExecuteRequest(command="echo hi"))
    assert (ran.exit_code, ran.stdout.strip()) == (0, "hi"), ran
    assert odd in {session.session_id for session in process.list_sessions()}
    assert process.get_session(odd).commands[0].exit_code == 0
    process.delete_session(odd)
    left = sandbox.process.exec("ls -a; ls pwned 2>/dev/null; echo .").result
    assert "pwned" not in left, left

    step("the code interpreter keeps state between runs")
    interpreter = sandbox.code_interpreter
    out = []
    result = interpreter.run_code("counter = 41\nprint('set')", on_stdout=lambda m: out.append(m.output))
    assert result.stdout == "set\n" and result.error is None, result
    assert out == ["set\n"], out
    result = interpreter.run_code("import sys\ncounter += 1\nprint(counter)\nprint('warn', file=sys.stderr)")
    assert (result.stdout, result.stderr) == ("42\n", "warn\n"), result
    result = interpreter.run_code("import os\nprint(os.environ['RUN_VAR'])", envs={"RUN_VAR": "from-envs"})
    assert result.stdout == "from-envs\n", result

    step("an error comes with its name, value and traceback")
    result = interpreter.run_code("1 / 0")
    assert result.error is not None and result.error.name == "ZeroDivisionError", result
    assert "division by zero" in result.error.value and "Traceback" in result.error.traceback, result.error

    step("contexts are isolated, listed and deleted; a timeout is an error")
    context = interpreter.create_context(cwd="/tmp")
    assert context.cwd == "/tmp" and context.language == "python", context
    result = interpreter.run_code("import os\nprint(os.getcwd(), 'counter' in globals())", context=context)
    assert result.stdout == "/tmp False\n", result
    assert [c.id for c in interpreter.list_contexts()] == [context.id]
    try:
        interpreter.run_code("import time\ntime.sleep(30)", context=context, timeout=1)
        raise AssertionError("the run did not time out")
    except DaytonaTimeoutError:
        pass
    assert interpreter.run_code("print('after')", context=context).stdout == "after\n"
    interpreter.delete_context(context)
    assert interpreter.list_contexts() == []
    assert [s.session_id for s in process.list_sessions()] == ["sdk-session"], "interpreter sessions stay hidden"

    sandbox.delete()
    step("done")


if __name__ == "__main__":
    run_script(main)
