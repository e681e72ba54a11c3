"""Many clients of the official Daytona Python SDK at once against one `ralph-town serve`.

Run by `tests/serve_soak.rs` with DAYTONA_API_URL and DAYTONA_API_KEY pointing at an
in-process server and SOAK_REPOS at a directory sandboxes see (a bare repository to clone is
made there). SOAK_WORKERS threads share one `Daytona` client, each living SOAK_ROUNDS sandbox
lives (create with labels, exec, file upload and download, a session, a git clone, a labels
update, a filtered list, stop and start, delete); meanwhile a thread lists and checks that no
sandbox is listed twice, another races requests on one sandbox (two creates of one name, start
while stopping, delete while an exec runs, two deletes), and an async client runs lives with
`asyncio.gather`. A bounded number of rounds, not a time.

Nothing may fail in transport: every retry urllib3 makes (the toolbox client retries a
connection closed without an answer, which would hide one) is recorded and fails the run, and
a 5xx is never expected. Any failure exits non-zero with a traceback.
"""

import asyncio
import hashlib
import os
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import urllib3
from daytona import (
    CreateSandboxFromSnapshotParams,
    DaytonaConflictError,
    DaytonaError,
    ListSandboxesQuery,
    SessionExecuteRequest,
)
from sdk_script import async_client, client, run_script, shell, shell_async, stepper


step = stepper("soak")
WORKERS = int(os.environ.get("SOAK_WORKERS", "8"))
ROUNDS = int(os.environ.get("SOAK_ROUNDS", "3"))

# Every transport error urllib3 met, retried or not: a lost connection must never happen.
transport_errors = []
_increment = urllib3.util.retry.Retry.increment


def _recording_increment(self, method=None, url=None, response=None, error=None, **rest):
    if error is not None:
        transport_errors.append(f"{method} {url}: {error!r}")
    return _increment(self, method=method, url=url, response=response, error=error, **rest)


urllib3.util.retry.Retry.increment = _recording_increment

# The body of a request leaves a little after its headers, as on a slow link: a route that
# answers without reading it must still leave the connection usable for the next request.
_request, _endheaders = urllib3.connection.HTTPConnection.request, urllib3.connection.HTTPConnection.endheaders


def _request_with_body_late(self, method, url, body=None, *args, **kwargs):
    self.soak_body_follows = body is not None
    return _request(self, method, url, body, *args, **kwargs)


def _endheaders_then_wait(self, *args, **kwargs):
    _endheaders(self, *args, **kwargs)
    if getattr(self, "soak_body_follows", False):
        time.sleep(0.01)


urllib3.connection.HTTPConnection.request = _request_with_body_late
urllib3.connection.HTTPConnection.endheaders = _endheaders_then_wait


def bare_repository():
    """A `file://` URL of a bare repository holding `README` (`soak`)."""
    root = os.environ["SOAK_REPOS"]
    work, bare = os.path.join(root, "work"), os.path.join(root, "soak.git")
    git = ["git", "-c", "user.name=soak", "-c", "user.email=soak@localhost"]
    subprocess.run([*git, "init", "-q", "-b", "main", work], check=True)
    with open(os.path.join(work, "README"), "w") as readme:
        readme.write("soak\n")
    subprocess.run([*git, "-C", work, "add", "."], check=True)
    subprocess.run([*git, "-C", work, "commit", "-qm", "soak"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", work, bare], check=True)
    return f"file://{bare}"


# A client of its own over pooled connections (urllib3, as the SDK), for the actions clients
# send `{}` to although the route reads no body.
pooled = urllib3.PoolManager(maxsize=WORKERS, retries=False)


def pooled_post(path, expected):
    """POST `{}` to the API's `path`, then GET the sandbox back on the pool; both answered."""
    api, headers = os.environ["DAYTONA_API_URL"], {"Authorization": f"Bearer {os.environ['DAYTONA_API_KEY']}"}
    reply = pooled.request("POST", f"{api}{path}", json={}, headers=headers)
    assert reply.status == expected, (path, reply.status, reply.data)
    reply = pooled.request("GET", f"{api}/sandbox/{path.split('/')[2]}", headers=headers)
    assert reply.status == 200, (path, reply.status, reply.data)


def refused(call):
    """Runs `call`; an API error is returned if it is no 5xx (a race may refuse), else raised."""
    try:
        call()
    except DaytonaError as error:
        assert error.status_code is not None and error.status_code < 500, repr(error)
        return error
    return None


def life(daytona, run, repo, worker, round_):
    """One sandbox's life, checking each answer is this sandbox's own."""
    tag = f"{worker}-{round_}"
    labels = {"soak": run, "worker": str(worker)}
    sandbox = daytona.create(
        CreateSandboxFromSnapshotParams(name=f"soak-{run}-{tag}", labels=labels, env_vars={"SOAK_TAG": tag})
    )
    assert shell(sandbox, 'echo "$SOAK_TAG"') == f"{tag}\n"
    data = os.urandom(64 * 1024) + tag.encode()
    sandbox.fs.upload_file(data, f"data-{tag}.bin")
    assert sandbox.fs.download_file(f"data-{tag}.bin") == data
    assert shell(sandbox, f"sha256sum data-{tag}.bin").split()[0] == hashlib.sha256(data).hexdigest()

    session = f"session-{tag}"
    sandbox.process.create_session(session)
    sandbox.process.execute_session_command(session, SessionExecuteRequest(command='export KEPT="$SOAK_TAG"'))
    reply = sandbox.process.execute_session_command(session, SessionExecuteRequest(command='echo "kept $KEPT"'))
    assert reply.stdout == f"kept {tag}\n", repr(reply.stdout)
    sandbox.process.delete_session(session)

    sandbox.git.clone(repo, "repo")
    assert sandbox.fs.download_file("repo/README") == b"soak\n"

    updated = {**labels, "round": str(round_)}
    assert sandbox.set_labels(updated).items() >= updated.items()
    listed = [item.id for item in daytona.list(ListSandboxesQuery(labels=updated))]
    assert listed == [sandbox.id], (listed, sandbox.id)

    for _ in range(3):
        pooled_post(f"/sandbox/{sandbox.id}/last-activity", 201)
        pooled_post(f"/sandbox/{sandbox.id}/start", 200)

    sandbox.stop()
    assert sandbox.state == "stopped", sandbox.state
    sandbox.start()
    assert sandbox.state == "started", sandbox.state
    assert shell(sandbox, f'echo "$SOAK_TAG"; cat data-{tag}.bin | sha256sum') == (
        f"{tag}\n{hashlib.sha256(data).hexdigest()}  -\n"
    )
    daytona.delete(sandbox, wait=True)


def lives(daytona, run, repo, worker):
    for round_ in range(ROUNDS):
        life(daytona, run, repo, worker, round_)


def lister(daytona, run, stop):
    """Lists this run's sandboxes until `stop`; no listing may show one twice."""
    listings = 0
    while not stop.is_set() or listings == 0:
        ids = [item.id for item in daytona.list(ListSandboxesQuery(labels={"soak": run}))]
        assert len(ids) == len(set(ids)), f"a sandbox listed twice: {ids}"
        listings += 1
    return listings


def at_once(*calls):
    """Runs `calls` at the same moment, each in its own thread; their results or errors."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        try:
            return call()
        except Exception as error:  # noqa: BLE001 - the caller judges each outcome
            return error

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def settle(daytona, sandbox):
    """`sandbox` once no state change of it runs."""
    for _ in range(300):
        sandbox.refresh_data()
        if sandbox.state in ("started", "stopped"):
            return sandbox
        assert sandbox.state not in ("error", "build_failed"), sandbox.state
        threading.Event().wait(0.1)
    raise AssertionError(f"{sandbox.id} never settled: {sandbox.state}")


def races(daytona, run):
    """Requests that race on one sandbox; none may answer a 5xx or leave anything behind."""
    labels = {"soak": run, "races": "1"}
    for attempt in range(2):
        name = f"soak-{run}-twin-{attempt}"
        params = CreateSandboxFromSnapshotParams(name=name, labels=labels)
        results = at_once(lambda: daytona.create(params), lambda: daytona.create(params))
        won = [result for result in results if not isinstance(result, Exception)]
        lost = [result for result in results if isinstance(result, Exception)]
        assert len(won) == 1 and len(lost) == 1, results
        assert isinstance(lost[0], DaytonaConflictError), repr(lost[0])
        assert "already exists" in str(lost[0]), str(lost[0])
        daytona.delete(won[0], wait=True)

    sandbox = daytona.create(CreateSandboxFromSnapshotParams(name=f"soak-{run}-racer", labels=labels))
    for result in at_once(lambda: refused(sandbox.stop), lambda: refused(sandbox.start)):
        assert not isinstance(result, Exception) or isinstance(result, DaytonaError), repr(result)
    settle(daytona, sandbox)
    if sandbox.state == "stopped":
        sandbox.start()
    assert shell(sandbox, "echo alive") == "alive\n"

    def long_exec():
        try:
            return sandbox.process.exec("sleep 2; echo finished")
        except DaytonaError as error:
            assert error.status_code is not None and error.status_code < 500, repr(error)
            return error

    def delete_soon():
        threading.Event().wait(0.5)
        return refused(lambda: daytona.delete(sandbox))

    results = at_once(long_exec, delete_soon, delete_soon)
    assert all(not isinstance(result, Exception) or isinstance(result, DaytonaError) for result in results), results
    for _ in range(300):
        try:
            daytona.get(sandbox.id)
        except DaytonaError as error:
            assert error.status_code == 404, repr(error)
            break
        threading.Event().wait(0.1)
    else:
        raise AssertionError(f"{sandbox.id} never went away after two deletes")


async def async_lives(run):
    """Lives through the async client, gathered."""

    async def one(daytona, index):
        tag = f"async-{index}"
        sandbox = await daytona.create(
            CreateSandboxFromSnapshotParams(labels={"soak": run, "async": tag}, env_vars={"SOAK_TAG": tag})
        )
        assert await shell_async(sandbox, 'echo "$SOAK_TAG"') == f"{tag}\n"
        data = f"{tag} {uuid.uuid4()}".encode()
        await sandbox.fs.upload_file(data, "async.txt")
        assert await sandbox.fs.download_file("async.txt") == data
        listed = [item.id async for item in daytona.list(ListSandboxesQuery(labels={"async": tag}))]
        assert listed == [sandbox.id], (listed, sandbox.id)
        await daytona.delete(sandbox, wait=True)

    async with async_client() as daytona:
        await asyncio.gather(*(one(daytona, index) for index in range(WORKERS)))


def main():
    run = uuid.uuid4().hex[:8]
    repo = bare_repository()
    daytona = client()
    step(f"{WORKERS} workers, {ROUNDS} rounds each, a lister, the races and an async client")
    stop = threading.Event()
    with ThreadPoolExecutor(WORKERS + 3) as pool:
        listing = pool.submit(lister, daytona, run, stop)
        workers = [pool.submit(lives, daytona, run, repo, worker) for worker in range(WORKERS)]
        racing = pool.submit(races, daytona, run)
        gathered = pool.submit(lambda: asyncio.run(async_lives(run)))
        try:
            for future in [*workers, racing, gathered]:
                future.result()
        finally:
            stop.set()
        step(f"listed {listing.result()} times")
    left = [item.id for item in daytona.list(ListSandboxesQuery(labels={"soak": run}))]
    assert left == [], f"sandboxes left: {left}"
    assert transport_errors == [], f"transport errors: {transport_errors}"
    print("soak: done", flush=True)


run_script(main)
