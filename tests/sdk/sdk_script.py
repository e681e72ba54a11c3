"""What the official-SDK test scripts beside this file share: the client of the server the
test started (DAYTONA_API_URL, DAYTONA_API_KEY), step lines the Rust side waits for, shell
commands that must succeed, expected errors, and the exit status a failure gives.

The scripts import it by name: run as files, their own directory is on `sys.path`.
"""

import asyncio
import os
import sys
import time
import traceback
import urllib.error
import urllib.request
import uuid

from daytona import AsyncDaytona, CreateSandboxFromSnapshotParams, Daytona, DaytonaConfig


def config():
    """The configuration of a client of the server under test."""
    return DaytonaConfig(api_key=os.environ["DAYTONA_API_KEY"], api_url=os.environ["DAYTONA_API_URL"])


def client():
    """The SDK's client of the server under test."""
    return Daytona(config())


def async_client():
    """The SDK's async client of the server under test (`async with` it)."""
    return AsyncDaytona(config())


def fresh_sandbox(daytona, prefix, **params):
    """A random tag for this run, and a new sandbox named `{prefix}-{tag}` made with `params`."""
    run = uuid.uuid4().hex[:8]
    return run, daytona.create(CreateSandboxFromSnapshotParams(name=f"{prefix}-{run}", **params))


def stepper(prefix):
    """A `step(name)` printing `prefix: name` at once, so a failure shows how far it got."""

    def step(name):
        print(f"{prefix}: {name}", flush=True)

    return step


def shell(sandbox, command):
    """The output of `command` in `sandbox`, which must exit 0."""
    reply = sandbox.process.exec(command)
    assert reply.exit_code == 0, (command, reply.result)
    return reply.result


async def shell_async(sandbox, command):
    """[`shell`] through the async client."""
    reply = await sandbox.process.exec(command)
    assert reply.exit_code == 0, (command, reply.result)
    return reply.result


async def raises_async(error_class, call, *words):
    """[`raises`] for an awaitable `call`."""
    try:
        await call
    except error_class as error:
        assert all(word in str(error) for word in words), (words, str(error))
        return error
    raise AssertionError(f"expected {error_class.__name__}")


def raises(error_class, call, *words):
    """The error `call` raises, which must be an `error_class` whose text holds every word."""
    try:
        call()
    except error_class as error:
        text = str(error)
        assert all(word in text for word in words), (words, text)
        return error
    raise AssertionError(f"expected {error_class.__name__}")


def until(what, check, seconds=60, detail=lambda: ""):
    """Polls `check` until it returns something true; fails after `seconds` (generous: a loaded
    machine starts X clients slowly), saying what `detail` returns."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"never: {what} {detail()}"
        time.sleep(0.2)


def host_processes(programs, marker):
    """{host pid: command name} of the processes named one of `programs` (as `/proc/*/comm`
    spells them, cut at 15 characters) whose environment holds `marker` (`NAME=value`, set on
    the sandbox that started them). The tests run on the same host as `serve`."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as comm:
                    name = comm.read().strip()
                if name not in programs:
                    continue
                with open(f"/proc/{entry}/environ", "rb") as environ:
                    if marker.encode() in environ.read().split(b"\0"):
                        found[int(entry)] = name
            except OSError:
                pass
    return found


def flatten(node):
    """Every node of an accessibility tree, `node` first."""
    yield node
    for child in node.children or []:
        yield from flatten(child)


def read_until(handle, needle, seconds=60):
    """Output of the PTY `handle` until it holds `needle` (or fails after `seconds`). A shell
    loses lines typed before it is reading at its prompt (bash reads ahead as it starts), so
    input waits for the output that says the shell is ready for it."""
    seen = bytearray()
    deadline = time.monotonic() + seconds
    while needle.encode() not in seen:
        assert time.monotonic() < deadline, f"never saw {needle!r} in {bytes(seen)!r}"
        result = handle.wait(on_data=seen.extend, timeout=0.2)
        assert result.exit_code is None, f"the shell exited ({result}) before {needle!r}: {bytes(seen)!r}"
    return seen.decode(errors="replace")


async def output_until(chunks, needle, seconds=60):
    """What a callback gathered in `chunks` (bytes of a PTY, or text of a command's log), once
    it holds `needle` (or fails after `seconds`)."""
    deadline = time.monotonic() + seconds

    def text():
        joined = b"".join(chunks) if chunks and isinstance(chunks[0], bytes) else "".join(chunks)
        return joined.decode(errors="replace") if isinstance(joined, bytes) else joined

    while needle not in text():
        assert time.monotonic() < deadline, f"never saw {needle!r} in {text()!r}"
        await asyncio.sleep(0.05)
    return text()


def run_script(main):
    """Runs `main`; any failure prints its traceback and exits 1."""
    try:
        main()
    except Exception:  # noqa: BLE001 - the traceback is the report
        traceback.print_exc()
        sys.exit(1)


def run_case(cases, done):
    """Runs the case `SWEEP_CASE` names from `cases` against a fresh client, then prints
    `done`; any failure prints its traceback and exits 1."""
    run_script(lambda: (cases[os.environ["SWEEP_CASE"]](client()), print(done, flush=True)))


def run_async_case(cases, done):
    """[`run_case`] for coroutine cases, each given a fresh async client."""

    async def main():
        async with async_client() as daytona:
            await cases[os.environ["SWEEP_CASE"]](daytona)
        print(done, flush=True)

    run_script(lambda: asyncio.run(main()))


def fetch(url, headers=None, seconds=30):
    """The status and body of GET `url`, waiting while the server inside starts (502)."""
    deadline = time.monotonic() + seconds
    while True:
        request = urllib.request.Request(url, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            if error.code != 502 or time.monotonic() > deadline:
                return error.code, error.read().decode()
        time.sleep(0.1)
