# The Python worker behind a `serve` interpreter context: one per context, run as an async
# command of a process session. It reads one JSON request per line on stdin
# ({"run", "code", "envs"?, "timeout"?}) and runs the code in globals that persist between
# requests. On stdout it writes one JSON record per line, each tagged with the request's "run":
# {"type": "stdout"|"stderr", "text"}, {"type": "error", "name", "value", "traceback"}, and
# last {"type": "control", "text": "completed"|"interrupted"|"timeout"}.
import json
import os
import signal
import sys
import traceback

PROTOCOL = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
# Requests come on a copy of stdin; the user's code gets an empty one. Otherwise `input()`
# would read the next request, and `exit()` (which closes sys.stdin) would end the worker and
# leave its context dead for every later run.
REQUESTS = os.fdopen(os.dup(0), "r", encoding="utf-8")
os.dup2(os.open(os.devnull, os.O_RDONLY), 0)


def emit(record):
    # A timeout's alarm must not cut a record in half: the reader would lose the run's end.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    try:
        PROTOCOL.write(json.dumps(record) + "\n")
        PROTOCOL.flush()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


class Output:
    """sys.stdout or sys.stderr during a run: whole lines (or 1 KiB) become records."""

    def __init__(self, run, kind):
        self.run, self.kind, self.pending = run, kind, ""

    def write(self, text):
        text = str(text)
        self.pending += text
        if "\n" in text or len(self.pending) >= 1024:
            self.flush()
        return len(text)

    def flush(self):
        if self.pending:
            emit({"run": self.run, "type": self.kind, "text": self.pending})
            self.pending = ""

    def isatty(self):
        return False

    encoding = "utf-8"


# The file name of the user's code, which a SyntaxError names, as Daytona's worker does.
SOURCE = "<string>"


class TimedOut(BaseException):
    pass


def on_alarm(_signum, _frame):
    raise TimedOut()


def user_traceback(error):
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == SOURCE]
    lines = ["Traceback (most recent call last):\n"] if frames else []
    for frame in frames:
        lines.append(f'  File "<stdin>", line {frame.lineno}\n')
        if frame.line:
            lines.append(f"    {frame.line}\n")
    lines.append(f"{type(error).__name__}: {error}\n")
    return "".join(lines)


def set_env(values):
    """Sets (or, for None, unsets) each of `values`; returns what they were before."""
    before = {}
    for key, value in values.items():
        before[key] = os.environ.get(key)
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = str(value)
    return before


def run(request, scope):
    tag = request.get("run")
    # A run's `envs` last for that run only; what the code itself sets in `os.environ` stays
    # for the context's later runs, as it does in Daytona's worker.
    saved = set_env({str(k): v for k, v in (request.get("envs") or {}).items()})
    sys.stdout, sys.stderr = Output(tag, "stdout"), Output(tag, "stderr")
    if sys.stdin is None or sys.stdin.closed:
        sys.stdin = open(os.devnull, encoding="utf-8")
    control = "completed"
    timeout = request.get("timeout") or 0
    try:
        if timeout > 0:
            signal.setitimer(signal.ITIMER_REAL, timeout)
        exec(compile(request.get("code", ""), SOURCE, "exec"), scope)
    except TimedOut:
        control = "timeout"
    except KeyboardInterrupt:
        control = "interrupted"
    except SystemExit:
        pass
    except BaseException as error:  # the user's code failed: report it, keep serving
        sys.stdout.flush()
        sys.stderr.flush()
        emit({"run": tag, "type": "error", "name": type(error).__name__, "value": str(error),
              "traceback": user_traceback(error)})
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        set_env(saved)
    emit({"run": tag, "type": "control", "text": control})


def main():
    signal.signal(signal.SIGALRM, on_alarm)
    scope = {"__name__": "__main__", "__builtins__": __builtins__}
    for line in REQUESTS:
        try:
            request = json.loads(line)
        except ValueError:
            continue
        run(request, scope)


main()
