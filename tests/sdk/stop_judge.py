"""What a graceful stop of `ralph-town serve` promises its clients, judged from the client's
side for the official Python SDK: every request sent before the stop is answered, and a
transport error (a refused connection, one closed unanswered) meets only requests sent after it.

Imported by `restart_test.py`. Importing it hooks the SDK's transports (urllib3 for the API and
the toolbox, httpcore for files) and the socket layer under them, to know when the current
request of each thread first wrote to its socket: on loopback, its bytes are then at the server.
"""

import socket
import sys
import threading
import time

import httpcore
import httpx
import urllib3
from daytona import DaytonaError

# How long a call is taken again while the server is away.
PATIENCE = 120


class Judge:
    """The stop's moment and what went wrong, shared by every thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.answered = 0
        self.stop_at = None
        self.violations = []
        # Transport errors after the stop, for requests sent after it: expected, counted.
        self.retried = 0

    def violation(self, text):
        with self.lock:
            self.violations.append(text)
        print(f"restart: VIOLATION {text}", file=sys.stderr, flush=True)

    def count(self):
        with self.lock:
            self.answered += 1

    def stopping(self):
        """Marks the stop's moment: from now on the server may go away."""
        with self.lock:
            self.stop_at = time.monotonic()

    def transport_error(self, what, error):
        """A transport error is fine only after the stop, for a request sent after it."""
        stop = self.stop_at
        first_sent = getattr(sent, "at", None)
        if stop is None:
            self.violation(f"{what}: a transport error before the stop: {error!r}")
        elif first_sent is not None and first_sent < stop:
            self.violation(
                f"{what}: a request sent {stop - first_sent:.3f} s before the stop got no answer: {error!r}"
            )
        else:
            with self.lock:
                self.retried += 1


judge = Judge()

# The moment the current request of this thread first wrote to its socket, and its URL; `notify`
# (an event) is set when a `/process/execute` request of this thread is first written.
sent = threading.local()


def _recording(original):
    def send(self, data, *rest):
        result = original(self, data, *rest)
        if getattr(sent, "at", None) is None:
            sent.at = time.monotonic()
            notify = getattr(sent, "notify", None)
            if notify is not None and "/process/execute" in getattr(sent, "url", ""):
                notify.set()
        return result

    return send


socket.socket.send = _recording(socket.socket.send)
socket.socket.sendall = _recording(socket.socket.sendall)


def _request_starts(original, url_of):
    def request(self, *args, **kwargs):
        sent.at = None
        sent.url = url_of(*args, **kwargs)
        return original(self, *args, **kwargs)

    return request


urllib3.connection.HTTPConnection.request = _request_starts(
    urllib3.connection.HTTPConnection.request, lambda method, url, *_, **__: url
)
httpcore.HTTP11Connection.handle_request = _request_starts(
    httpcore.HTTP11Connection.handle_request, lambda request: str(request.url)
)

# urllib3 takes some calls again itself (the toolbox client retries a connection closed
# unanswered): each of those is judged as it happens.
_increment = urllib3.util.retry.Retry.increment


def _judged_increment(self, method=None, url=None, response=None, error=None, **rest):
    if error is not None:
        judge.transport_error(f"{method} {url} (retried by urllib3)", error)
    return _increment(self, method=method, url=url, response=response, error=error, **rest)


urllib3.util.retry.Retry.increment = _judged_increment


def is_transport(error):
    """Whether `error` (or what caused it) is a connection refused, reset or closed unanswered."""
    seen = error
    while seen is not None:
        if isinstance(seen, (ConnectionError, urllib3.exceptions.HTTPError, httpx.TransportError)):
            return True
        if isinstance(seen, DaytonaError) and seen.status_code is not None:
            return False
        seen = seen.__cause__ or seen.__context__
    return "Connection refused" in str(error) or "connection" in type(error).__name__.lower()


def call(what, first, again=None):
    """`first()`, taken again (with `again`, if given) after each transport error until it is
    answered; an answer with an error is raised, a 5xx being a violation."""
    deadline = time.monotonic() + PATIENCE
    attempt = first
    while True:
        sent.at = None
        try:
            result = attempt()
        except Exception as error:  # noqa: BLE001 - judged below
            if isinstance(error, DaytonaError) and (error.status_code or 0) >= 500:
                judge.violation(f"{what}: answered {error.status_code}: {error}")
                raise
            if not is_transport(error):
                raise
            judge.transport_error(what, error)
            assert time.monotonic() < deadline, f"{what}: no answer for {PATIENCE} s: {error!r}"
            time.sleep(0.05)
            attempt = again or first
            continue
        judge.count()
        return result
