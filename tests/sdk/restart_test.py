"""The official Daytona Python SDK at work while `ralph-town serve` is stopped cleanly and started
again on the same state root and port.

Run by `tests/serve_restart_load.rs`, which starts the real binary. RESTART_WORKERS threads share
one client, each living sandbox lives (a named, labelled create, an exec, an upload and a
download, a session, then either a command left running in it, kept to the end, or stops and
starts and a delete); a lister checks no name is listed twice. After a seeded number of answered
calls (RESTART_SEED picks it), and once a command is left running and a slow exec is under
way, the script prints `restart: stop now`: the Rust side sends SIGTERM, checks that `serve`
exits 0, starts it again and writes `restarted` to this script's standard input.

A call that meets a transport error is taken again as a user would, idempotently (a create
answered 409 was made; a delete answered 404 was done; `stop_judge.py` judges each transport
error). What is judged:
- no transport error before the stop, and none for a request whose bytes were sent before the
  stop (a graceful stop answers every request already sent); the slow exec's answer is whole;
- no 5xx and no wrong answer, ever;
- after the restart, every sandbox whose create was answered (and no delete sent) is listed
  once, with the same id; every command left running before the stop still runs (its heartbeat
  file moves) and its log is kept;
- at the end everything is deleted and nothing of this run is listed.
"""

import os
import random
import sys
import threading
import time
import uuid

from daytona import (
    CreateSandboxFromSnapshotParams,
    DaytonaConflictError,
    DaytonaNotFoundError,
    ListSandboxesQuery,
    SessionExecuteRequest,
)
from sdk_script import client, run_script, stepper
from stop_judge import call, judge, sent

step = stepper("restart")
SEED = int(os.environ.get("RESTART_SEED", "1"))
WORKERS = int(os.environ.get("RESTART_WORKERS", "4"))
RUN = uuid.uuid4().hex[:8]


class Journal:
    """What the workers did, shared by every thread."""

    def __init__(self):
        self.lock = judge.lock
        self.stop_after = random.Random(SEED).randrange(12, 60)
        # name -> {"id": id once answered, "delete_sent": bool}
        self.names = {}
        # (sandbox, session, command id, tag, whether it ran before the stop)
        self.kept = []
        self.restarted = threading.Event()


journal = Journal()


def create(daytona, name, tag, worker):
    """Sandbox `name`, made once however often the create is taken again."""
    params = CreateSandboxFromSnapshotParams(
        name=name,
        labels={"restart": RUN, "worker": str(worker)},
        env_vars={"TAG": tag},
        auto_stop_interval=0,
    )

    def again():
        try:
            return daytona.create(params)
        except DaytonaConflictError:
            sandbox = daytona.get(name)
            sandbox.wait_for_sandbox_start()
            return sandbox

    with journal.lock:
        journal.names[name] = {"id": None, "delete_sent": False}
    sandbox = call(f"create {name}", lambda: daytona.create(params), again)
    assert sandbox.name == name, (sandbox.name, name)
    with journal.lock:
        journal.names[name]["id"] = sandbox.id
    return sandbox


def delete(daytona, sandbox):
    with journal.lock:
        journal.names[sandbox.name]["delete_sent"] = True

    def again():
        try:
            daytona.delete(sandbox, wait=True)
        except DaytonaNotFoundError:
            pass

    call(f"delete {sandbox.name}", lambda: daytona.delete(sandbox, wait=True), again)


def shell(sandbox, command):
    reply = call(f"exec in {sandbox.name}", lambda: sandbox.process.exec(command))
    assert reply.exit_code == 0, (command, reply.result)
    return reply.result


def settled(sandbox, wanted):
    """Whether `sandbox` is (or becomes) `wanted`, once no change of it runs."""
    for _ in range(600):
        call(f"refresh {sandbox.name}", sandbox.refresh_data)
        if sandbox.state in ("started", "stopped"):
            return sandbox.state == wanted
        time.sleep(0.05)
    raise AssertionError(f"{sandbox.name} never settled: {sandbox.state}")


def stop_and_start(sandbox):
    def stop_again():
        if not settled(sandbox, "stopped"):
            sandbox.stop()

    def start_again():
        if not settled(sandbox, "started"):
            sandbox.start()

    call(f"stop {sandbox.name}", sandbox.stop, stop_again)
    assert settled(sandbox, "stopped"), sandbox.state
    call(f"start {sandbox.name}", sandbox.start, start_again)
    assert settled(sandbox, "started"), sandbox.state


HEARTBEAT = 'echo "start-$TAG"; i=0; while :; do i=$((i+1)); echo $i > "beat-$TAG"; sleep 0.2; done'


def keep_running(sandbox, session, tag):
    """Leaves the heartbeat running in `session`; the command's id."""
    request = SessionExecuteRequest(command=HEARTBEAT, run_async=True)

    def again():
        # Only if the first try did not start it: one heartbeat per session.
        commands = sandbox.process.get_session(session).commands or []
        running = [command for command in commands if command.command == HEARTBEAT]
        if running:
            return running[0]
        return sandbox.process.execute_session_command(session, request)

    ran = call(f"heartbeat in {sandbox.name}", lambda: sandbox.process.execute_session_command(session, request), again)
    return getattr(ran, "cmd_id", None) or ran.id


def life(daytona, worker, number, dice):
    """One sandbox's life; `True` when it was kept with a command running."""
    tag = f"{worker}-{number}"
    sandbox = create(daytona, f"restart-{RUN}-{tag}", tag, worker)
    assert shell(sandbox, 'echo "$TAG"') == f"{tag}\n"
    data = os.urandom(32 * 1024) + tag.encode()
    call(f"upload to {sandbox.name}", lambda: sandbox.fs.upload_file(data, f"data-{tag}.bin"))
    assert call(f"download from {sandbox.name}", lambda: sandbox.fs.download_file(f"data-{tag}.bin")) == data

    session = f"session-{tag}"

    def create_session_again():
        try:
            sandbox.process.create_session(session)
        except DaytonaConflictError:
            pass

    call(f"session in {sandbox.name}", lambda: sandbox.process.create_session(session), create_session_again)
    export = SessionExecuteRequest(command='export KEPT="$TAG"')
    call("export", lambda: sandbox.process.execute_session_command(session, export))
    echo = SessionExecuteRequest(command='echo "kept $KEPT"')
    reply = call("echo", lambda: sandbox.process.execute_session_command(session, echo))
    assert reply.stdout == f"kept {tag}\n", repr(reply.stdout)

    if dice.random() < 0.3:
        before = judge.stop_at is None
        command = keep_running(sandbox, session, tag)
        with journal.lock:
            journal.kept.append((sandbox, session, command, tag, before))
        return True
    if dice.random() < 0.5:
        stop_and_start(sandbox)
        assert shell(sandbox, f'echo "$TAG"; cat data-{tag}.bin | wc -c') == f"{tag}\n{len(data)}\n"
    delete(daytona, sandbox)
    return False


def worker(daytona, number):
    """Lives until one begun after the restart is over."""
    dice = random.Random(SEED * 1000 + number)
    for round_ in range(1000):
        after = journal.restarted.is_set()
        life(daytona, number, round_, dice)
        if after:
            return
    raise AssertionError(f"worker {number} never saw the restart")


def lister(daytona, stop):
    listings = 0
    while not stop.is_set() or listings == 0:
        items = call("list", lambda: list(daytona.list(ListSandboxesQuery(labels={"restart": RUN}))))
        names = [item.name for item in items]
        assert len(names) == len(set(names)), f"a name listed twice: {sorted(names)}"
        listings += 1
        time.sleep(0.05)
    return listings


def stopper(daytona):
    """Asks for the stop after the seeded number of answers, once a command is kept running and
    with a slow exec under way; that exec must be answered whole."""
    while True:
        with journal.lock:
            ready = judge.answered >= journal.stop_after and journal.kept
        if ready:
            break
        time.sleep(0.01)
    sandbox = create(daytona, f"restart-{RUN}-slow", "slow", "slow")
    under_way = threading.Event()
    answer = {}

    def slow():
        sent.notify = under_way
        answer["reply"] = sandbox.process.exec('sleep 2; echo "slow $TAG"')

    thread = threading.Thread(target=slow)
    thread.start()
    assert under_way.wait(60), "the slow exec was never sent"
    judge.stopping()
    step(f"stop now (after {judge.answered} answered calls)")
    thread.join()
    reply = answer.get("reply")
    assert reply is not None, "the slow exec in flight at the stop was not answered"
    assert (reply.exit_code, reply.result) == (0, "slow slow\n"), reply
    return sandbox


def check_after_restart(daytona):
    """Every sandbox whose create was answered before the listing, and no delete sent, is listed
    once with its id."""
    with journal.lock:
        made = {name: fate["id"] for name, fate in journal.names.items() if fate["id"]}
    items = call("list after the restart", lambda: list(daytona.list(ListSandboxesQuery(labels={"restart": RUN}))))
    listed = {}
    for item in items:
        assert item.name not in listed, f"{item.name} listed twice"
        listed[item.name] = item.id
    with journal.lock:
        kept = {name: made[name] for name in made if not journal.names[name]["delete_sent"]}
    for name, id_ in kept.items():
        assert listed.get(name) == id_, f"{name} (created as {id_}) is listed as {listed.get(name)}"
    step(f"after the restart: {len(kept)} sandboxes there with their ids")


def heartbeat(sandbox, tag):
    return shell(sandbox, f'cat "beat-{tag}"').strip()


def check_kept(sandbox, session, command, tag):
    """The command left running still runs, and its log is kept."""
    state = call("command", lambda: sandbox.process.get_session_command(session, command))
    assert state.exit_code is None, f"{sandbox.name}: the command ended: {state}"
    logs = call("logs", lambda: sandbox.process.get_session_command_logs(session, command))
    assert f"start-{tag}" in (logs.stdout or logs.output or ""), f"{sandbox.name}: log lost: {logs}"
    first = heartbeat(sandbox, tag)
    deadline = time.monotonic() + 60
    while heartbeat(sandbox, tag) == first:
        assert time.monotonic() < deadline, f"{sandbox.name}: the heartbeat stopped at {first}"
        time.sleep(0.1)


def read_restarted():
    for line in sys.stdin:
        if line.strip() == "restarted":
            step("the server is back")
            journal.restarted.set()
            return


def main():
    daytona = client()
    step(f"run {RUN}, seed {SEED}: stop after {journal.stop_after} answered calls, {WORKERS} workers")
    threading.Thread(target=read_restarted, daemon=True).start()
    stop = threading.Event()
    results = {}

    def run(name, target, *args):
        try:
            results[name] = target(*args)
        except BaseException as error:  # noqa: BLE001 - reported below
            results[name] = error
            judge.violation(f"{name}: {error!r}")

    threads = [threading.Thread(target=run, args=(f"worker {n}", worker, daytona, n)) for n in range(WORKERS)]
    threads.append(threading.Thread(target=run, args=("stopper", stopper, daytona)))
    listing = threading.Thread(target=run, args=("lister", lister, daytona, stop))
    for thread in [*threads, listing]:
        thread.start()
    assert journal.restarted.wait(300), "the server never came back"
    run("check after the restart", check_after_restart, daytona)
    for thread in threads:
        thread.join()
    stop.set()
    listing.join()
    assert not judge.violations, "\n".join(judge.violations)
    before = [kept for kept in journal.kept if kept[4]]
    assert before, "no command was left running before the stop"
    for sandbox, session, command, tag, _ in journal.kept:
        check_kept(sandbox, session, command, tag)
    step(f"{len(before)} commands left running before the stop still run, logs kept")
    step(f"{judge.answered} calls answered, {judge.retried} transport errors while the server was away")
    delete(daytona, results["stopper"])
    for sandbox, *_ in journal.kept:
        delete(daytona, sandbox)
    left = [item.name for item in daytona.list(ListSandboxesQuery(labels={"restart": RUN}))]
    assert left == [], f"sandboxes left: {left}"
    assert not judge.violations, "\n".join(judge.violations)
    print("restart: done", flush=True)


run_script(main)
