"""Linked sandboxes through the official Daytona Python SDK against `ralph-town serve`.

Run by `tests/serve_sdk_linked.rs` with DAYTONA_API_URL and DAYTONA_API_KEY pointing at an
in-process server. As Daytona's linked-sandbox example does: an ephemeral follower linked to an
owner reports the link, reaches a server the owner started in the background by the owner's
name, and Daytona's rules refuse a follower that is not ephemeral, a link to a follower and a
link to a sandbox that does not exist. A sandbox of a link cannot have a network of its own
here (the follower reaches its owner on this machine's loopback): such a link, or a change
giving one of a link its own network, is refused with the reason and leaves nothing behind.
Any failure exits non-zero with a traceback.
"""

import random
import uuid

from daytona import CreateSandboxFromSnapshotParams, DaytonaError, DaytonaNotFoundError
from daytona.common.errors import DaytonaUnprocessableEntityError
from sdk_script import client, raises, run_script, shell, stepper


step = stepper("sdk-linked")


def main():
    daytona = client()
    run = uuid.uuid4().hex[:8]
    port = random.randint(20000, 29999)

    step("an ephemeral follower of an owner")
    owner = daytona.create(CreateSandboxFromSnapshotParams(name=f"owner-{run}"))
    follower = daytona.create(
        CreateSandboxFromSnapshotParams(linked_sandbox=owner.id, ephemeral=True)
    )
    assert follower.linked_sandbox_id == owner.id, follower.linked_sandbox_id
    assert daytona.get(follower.id).linked_sandbox_id == owner.id
    assert owner.linked_sandbox_id is None

    step("Daytona's rules")
    raises(
        DaytonaError,
        lambda: daytona.create(CreateSandboxFromSnapshotParams(linked_sandbox=owner.id)),
        "must be ephemeral",
    )
    raises(
        DaytonaError,
        lambda: daytona.create(
            CreateSandboxFromSnapshotParams(linked_sandbox=follower.id, ephemeral=True)
        ),
        "itself linked",
    )
    raises(
        DaytonaNotFoundError,
        lambda: daytona.create(
            CreateSandboxFromSnapshotParams(linked_sandbox=f"missing-{run}", ephemeral=True)
        ),
        "not found",
    )

    step("no network of its own for a sandbox of a link")
    before = {sandbox.id for sandbox in daytona.list()}
    raises(
        DaytonaUnprocessableEntityError,
        lambda: daytona.create(
            CreateSandboxFromSnapshotParams(
                linked_sandbox=owner.id, ephemeral=True, network_block_all=True
            )
        ),
        "network of their own",
    )
    blocked = daytona.create(CreateSandboxFromSnapshotParams(network_block_all=True))
    raises(
        DaytonaUnprocessableEntityError,
        lambda: daytona.create(
            CreateSandboxFromSnapshotParams(linked_sandbox=blocked.id, ephemeral=True)
        ),
        "network of their own",
    )
    daytona.delete(blocked)
    assert {sandbox.id for sandbox in daytona.list()} == before
    for member in (owner, follower):
        raises(
            DaytonaUnprocessableEntityError,
            lambda: member.update_network_settings(network_block_all=True),
            "network of their own",
        )

    step("the follower reaches the owner's server by the owner's name")
    started = owner.process.exec(
        "mkdir -p /tmp/lnk && echo 'hello from owner' > /tmp/lnk/index.html && cd /tmp/lnk && "
        f"nohup python3 -m http.server {port} > /tmp/lnk/srv.log 2>&1 & "
        f"for _ in $(seq 1 100); do python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 1)\" "
        "2>/dev/null && echo READY && exit 0; sleep 0.1; done; cat /tmp/lnk/srv.log; exit 1",
        timeout=30,
    )
    assert started.exit_code == 0 and "READY" in started.result, started.result
    fetch = (
        "python3 -c \"import urllib.request; "
        f"print(urllib.request.urlopen('http://{owner.name}:{port}/', timeout=5).read().decode())\""
    )
    reply = follower.process.exec(fetch, timeout=15)
    assert reply.exit_code == 0 and "hello from owner" in reply.result, reply.result
    # Only the follower knows the name.
    assert owner.name not in shell(owner, "cat /etc/hosts")

    daytona.delete(follower)
    daytona.delete(owner)
    print("sdk-linked: done", flush=True)


if __name__ == "__main__":
    run_script(main)
