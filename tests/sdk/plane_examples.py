"""Daytona's own control-plane examples, condensed, as a user runs them against `ralph-town
serve` with the official Python SDK: lifecycle, auto-archive, auto-delete, network settings,
pagination, region, volumes, declarative images, fork and snapshot, and state events. Run by
`tests/serve_sdk_plane.rs`; each part checks what the example would print, and the script
prints `plane-examples: done` at the end.

Changed from the examples only where they need the internet: images start from `Image.base`
(`Image.debian_slim` installs packages with apt and pip first), and nothing is installed. Each
image also carries the run's tag (`EXAMPLE_RUN`), so that it is built, not found built. The
local file of the first image is refused (the SDK's uploader will not use plain HTTP).
"""

import os
import random
import socket
import tempfile
import time
import urllib.error
import urllib.request
import uuid

from daytona import (
    CreateSandboxFromImageParams,
    CreateSandboxFromSnapshotParams,
    CreateSnapshotParams,
    Daytona,
    DaytonaConfig,
    Image,
    ListSandboxesQuery,
    Resources,
    SandboxListSortDirection,
    SandboxListSortField,
    SandboxState,
    VolumeMount,
)
from daytona.common.secret import CreateSecretParams
from daytona.common.errors import (
    DaytonaBadRequestError,
    DaytonaNotFoundError,
    DaytonaUnprocessableEntityError,
)

from sdk_script import client, raises, run_script, stepper, until

step = stepper("plane-examples")
RUN = uuid.uuid4().hex[:8]


def lifecycle(daytona):
    step("lifecycle")
    sandbox = daytona.create()
    sandbox.set_labels({"public": "true"})
    daytona.stop(sandbox)
    assert sandbox.state == SandboxState.STOPPED, sandbox.state
    daytona.start(sandbox)
    assert sandbox.state == SandboxState.STARTED, sandbox.state
    existing = daytona.get(sandbox.id)
    assert existing.labels["public"] == "true", existing.labels
    reply = existing.process.exec('echo "Hello World from exec!"', cwd="/home/daytona", timeout=10)
    assert (reply.exit_code, reply.result) == (0, "Hello World from exec!\n"), reply
    dev = daytona.create(CreateSandboxFromSnapshotParams(labels={"env": "dev", "run": RUN}))
    listed = [
        found.id
        for found in daytona.list(
            ListSandboxesQuery(
                limit=10,
                labels={"env": "dev", "run": RUN},
                states=[SandboxState.STARTED],
                sort=SandboxListSortField.CREATEDAT,
                order=SandboxListSortDirection.DESC,
            )
        )
    ]
    assert listed == [dev.id], listed
    daytona.delete(sandbox)
    daytona.delete(dev)
    raises(DaytonaNotFoundError, lambda: daytona.get(sandbox.id))


def auto_archive(daytona):
    step("auto-archive")
    first = daytona.create()
    assert first.auto_archive_interval == 10080
    first.set_auto_archive_interval(60)
    assert first.auto_archive_interval == 60
    most = daytona.create(CreateSandboxFromSnapshotParams(auto_archive_interval=0))
    assert most.auto_archive_interval == 43200
    day = daytona.create(CreateSandboxFromSnapshotParams(auto_archive_interval=1440))
    assert day.auto_archive_interval == 1440
    for sandbox in [first, most, day]:
        sandbox.delete()


def auto_delete(daytona):
    step("auto-delete")
    first = daytona.create()
    seen = [first.auto_delete_interval]
    for minutes in [60, 0, -1]:
        first.set_auto_delete_interval(minutes)
        seen.append(first.auto_delete_interval)
    assert seen == [-1, 60, 0, -1], seen
    day = daytona.create(CreateSandboxFromSnapshotParams(auto_delete_interval=1440))
    assert day.auto_delete_interval == 1440
    first.delete()
    day.delete()


def connects(sandbox, port, host="127.0.0.1"):
    """Whether a command in `sandbox` connects to `port` of `host` (its own loopback by default)."""
    probe = f"python3 -c \"import socket; socket.create_connection(('{host}', {port}), 2)\""
    return sandbox.process.exec(probe).exit_code == 0


# This machine's loopback, as a sandbox with a network of its own reaches it: its gateway.
GATEWAY = "10.0.2.2"


def network_settings(daytona):
    step("network settings: open, blocked, allow lists, and changes in place")
    sandbox = daytona.create()
    assert (sandbox.network_block_all, sandbox.network_allow_list) == (False, None)
    blocked = daytona.create(CreateSandboxFromSnapshotParams(network_block_all=True))
    assert blocked.network_block_all is True
    allowed = daytona.create(CreateSandboxFromSnapshotParams(network_allow_list="10.0.2.2/32"))
    assert (allowed.network_block_all, allowed.network_allow_list) == (False, "10.0.2.2/32")
    elsewhere = daytona.create(
        CreateSandboxFromSnapshotParams(network_allow_list="192.168.1.0/16,10.0.0.0/24")
    )
    assert daytona.get(elsewhere.id).network_allow_list == "192.168.1.0/16,10.0.0.0/24"
    # A server of this machine: the open sandbox reaches it on the loopback it shares, the one
    # allowed its gateway through the gateway, the blocked one and the one allowed other
    # networks not at all.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        assert connects(sandbox, port)
        assert connects(allowed, port, GATEWAY)
        for shut in (blocked, elsewhere):
            assert not connects(shut, port, GATEWAY), shut.id
            assert not connects(shut, port), shut.id
        # The sandbox cannot lift its own filter.
        lift = allowed.process.exec("nft flush ruleset; ip link set tap0 down")
        assert lift.exit_code != 0, lift.result
        assert connects(allowed, port, GATEWAY)

        step("network settings change in place")
        blocked.update_network_settings(network_allow_list="10.0.2.0/24")
        assert (blocked.network_block_all, blocked.network_allow_list) == (False, "10.0.2.0/24")
        assert connects(blocked, port, GATEWAY)
        allowed.update_network_settings(network_block_all=True)
        assert daytona.get(allowed.id).network_block_all is True
        assert not connects(allowed, port, GATEWAY)
        elsewhere.update_network_settings(network_block_all=False)
        assert daytona.get(elsewhere.id).network_allow_list is None
        assert connects(elsewhere, port, GATEWAY)
        # And across a restart.
        allowed.stop()
        allowed.start()
        assert not connects(allowed, port, GATEWAY)
        allowed.update_network_settings(network_allow_list="10.0.2.2/32")
        assert connects(allowed, port, GATEWAY)

        step("an open sandbox gets a network of its own once nothing of its own runs")
        sandbox.update_network_settings(network_block_all=False)
        sandbox.process.exec("nohup sleep 317 >/dev/null 2>&1 &")
        raises(
            DaytonaUnprocessableEntityError,
            lambda: sandbox.update_network_settings(network_block_all=True),
            "sleep 317",
        )
        assert connects(sandbox, port)
        sandbox.process.exec("pkill -f 'sleep 31[7]'")
        until("the sleep to end", lambda: sandbox.process.exec("pgrep -f 'sleep 31[7]'").exit_code != 0)
        sandbox.update_network_settings(network_block_all=True)
        assert daytona.get(sandbox.id).network_block_all is True
        assert not connects(sandbox, port) and not connects(sandbox, port, GATEWAY)
        sandbox.update_network_settings(network_allow_list="10.0.2.2/32")
        assert connects(sandbox, port, GATEWAY)
    # A sandbox with a network of its own asks its own name server, and has its own loopback,
    # which all its commands share.
    assert "nameserver 10.0.2.3" in allowed.process.exec("cat /etc/resolv.conf").result
    inside = random.randint(20000, 29999)
    blocked.update_network_settings(network_block_all=True)
    blocked.process.exec(
        f"mkdir -p /tmp/site && echo walled > /tmp/site/index.html && cd /tmp/site && "
        f"nohup python3 -m http.server {inside} >/dev/null 2>&1 &"
    )
    until("the blocked sandbox's own server", lambda: connects(blocked, inside))
    # Its preview link reaches that server on the sandbox's own loopback.
    link = blocked.get_preview_link(inside)
    request = urllib.request.Request(link.url, headers={"x-daytona-preview-token": link.token})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert (response.status, response.read().decode().strip()) == (200, "walled")
    idle = blocked.get_preview_link(inside + 1)
    try:
        urllib.request.urlopen(
            urllib.request.Request(idle.url, headers={"x-daytona-preview-token": idle.token}), timeout=10
        )
        raise AssertionError("a port where nothing listens answered")
    except urllib.error.HTTPError as error:
        assert error.code == 502 and "nothing listens" in error.read().decode(), error

    step("secrets and domain lists on a network of its own; bad lists with the reason")
    # Secrets travel through `serve`'s proxy, which listens on the sandbox's own loopback.
    secret = daytona.secret.create(CreateSecretParams(name=f"net-{uuid.uuid4().hex[:8]}", value="v"))
    blocked.update_secrets({"TOKEN": secret.name})
    proxy = blocked.process.exec('printf %s "$HTTP_PROXY"').result
    assert proxy.endswith("@127.0.0.1:24681"), proxy
    raises(
        DaytonaBadRequestError,
        lambda: daytona.create(CreateSandboxFromSnapshotParams(network_allow_list="10.0.0.0/8,example.com")),
        "example.com",
    )
    raises(
        DaytonaBadRequestError,
        lambda: daytona.create(CreateSandboxFromSnapshotParams(domain_allow_list="example.com,10.0.0.1")),
        "`10.0.0.1`",
    )
    listed = daytona.create(CreateSandboxFromSnapshotParams(domain_allow_list="Example.com"))
    assert daytona.get(listed.id).domain_allow_list == "example.com"
    for each in (blocked, allowed, elsewhere, sandbox, listed):
        each.delete()


def pagination(daytona):
    step("pagination of snapshots")
    total = daytona.snapshot.list().total
    assert daytona.snapshot.list(page=1, limit=1).total == total
    second = daytona.snapshot.list(page=2, limit=10)
    assert second.total == total and len(second.items) == max(0, min(10, total - 10)), second


def region():
    step("region: `us` and `eu` are not found")
    daytona = Daytona(
        DaytonaConfig(
            api_key=os.environ["DAYTONA_API_KEY"], api_url=os.environ["DAYTONA_API_URL"], target="us"
        )
    )
    stamp = int(time.time() * 1000)
    for name, region_id in [(f"us-{stamp}", "us"), (f"eu-{stamp}", "eu")]:
        params = CreateSnapshotParams(name=name, image=Image.base("debian:12"), region_id=region_id)
        raises(DaytonaNotFoundError, lambda: daytona.snapshot.create(params), "Region not found")
        snapshot = CreateSandboxFromSnapshotParams(snapshot=name)
        raises(DaytonaNotFoundError, lambda: daytona.create(snapshot), "Region not found")


def volumes(daytona):
    step("volumes")
    volume = daytona.volume.get(f"my-volume-{RUN}", create=True)

    def mounted(path, subpath=None):
        mount = VolumeMount(volume_id=volume.id, mount_path=path, subpath=subpath)
        return daytona.create(CreateSandboxFromSnapshotParams(language="python", volumes=[mount]))

    first = mounted("/home/daytona/volume")
    first.fs.create_folder("/home/daytona/volume/new-dir", "755")
    first.fs.upload_file(b"Hello, World!", "/home/daytona/volume/new-file.txt")
    second = mounted("/home/daytona/my-files")
    names = sorted(entry.name for entry in second.fs.list_files("/home/daytona/my-files"))
    assert names == ["new-dir", "new-file.txt"], names
    assert second.fs.download_file("/home/daytona/my-files/new-file.txt") == b"Hello, World!"
    third = mounted("/home/daytona/subpath", "users/alice")
    third.fs.upload_file(b"Hello from Alice's subpath!", "/home/daytona/subpath/alice-file.txt")
    shown = first.fs.download_file("/home/daytona/volume/users/alice/alice-file.txt")
    assert shown == b"Hello from Alice's subpath!", shown
    for sandbox in [first, second, third]:
        daytona.delete(sandbox)


def declarative_image(daytona):
    step("declarative image: a snapshot, then a sandbox from a dynamic image")
    local = os.path.join(tempfile.mkdtemp(), "file_example.txt")
    with open(local, "w") as file:
        file.write("Hello, World!")
    with_file = Image.base("python:3.12-slim-bookworm").add_local_file(
        local, "/home/daytona/workspace/file_example.txt"
    )
    named = CreateSnapshotParams(name=f"python-example:{RUN}-file", image=with_file)
    raises(
        DaytonaUnprocessableEntityError,
        lambda: daytona.snapshot.create(named),
        "plain-HTTP storage",
    )
    image = (
        Image.base("python:3.12-slim-bookworm")
        .run_commands("mkdir -p /home/daytona/workspace")
        .workdir("/home/daytona/workspace")
        .env({"MY_ENV_VAR": "My Environment Variable", "EXAMPLE_RUN": RUN})
    )
    logs = []
    name = f"python-example:{RUN}"
    daytona.snapshot.create(
        CreateSnapshotParams(name=name, image=image, resources=Resources(cpu=1, memory=1, disk=3)),
        on_logs=logs.append,
    )
    # The SDK follows the build's log only once it has seen the snapshot building: a build
    # done between two of its polls (one `mkdir`) is reported created with no log.
    if any("BUILDING" in line for line in logs):
        assert any("mkdir -p /home/daytona/workspace" in line for line in logs), logs
    assert logs[-1].startswith(f"Created snapshot {name}"), logs
    first = daytona.create(CreateSandboxFromSnapshotParams(snapshot=name))
    reply = first.process.exec("pwd && echo $MY_ENV_VAR")
    assert reply.result == "/home/daytona/workspace\nMy Environment Variable\n", reply
    daytona.delete(first)
    dynamic = (
        Image.base("python:3.11-slim-bookworm")
        .run_commands("mkdir -p /home/daytona/project")
        .workdir("/home/daytona/project")
        .env({"ENV_VAR": "My Environment Variable", "EXAMPLE_RUN": RUN})
    )
    logs.clear()
    second = daytona.create(
        CreateSandboxFromImageParams(image=dynamic), timeout=0, on_snapshot_create_logs=logs.append
    )
    assert any("mkdir -p /home/daytona/project" in line for line in logs), logs
    reply = second.process.exec("pwd && echo $ENV_VAR")
    assert reply.result == "/home/daytona/project\nMy Environment Variable\n", reply
    daytona.delete(second)


def fork_and_snapshot(daytona):
    step("fork, then a snapshot of the fork")
    sandbox = daytona.create()
    sandbox.process.exec('echo "Hello from the original sandbox" > /home/daytona/test.txt')
    forked = sandbox.fork()
    assert forked.process.exec("cat /home/daytona/test.txt").result == (
        "Hello from the original sandbox\n"
    )
    forked.process.exec('echo "Modified in fork" >> /home/daytona/test.txt')
    name = f"my-fork-snapshot-{RUN}"
    forked.create_snapshot(name)
    copy = daytona.create(CreateSandboxFromSnapshotParams(snapshot=name))
    assert copy.process.exec("cat /home/daytona/test.txt").result == (
        "Hello from the original sandbox\nModified in fork\n"
    )
    assert sandbox.process.exec("cat /home/daytona/test.txt").result == (
        "Hello from the original sandbox\n"
    )
    for made in [copy, forked, sandbox]:
        made.delete()


def events(daytona):
    step("state events reach a sandbox object without a refresh")
    sandbox = daytona.create()
    assert daytona._event_dispatcher.is_connected
    other = daytona.get(sandbox.id)
    sandbox._sandbox_api.stop_sandbox(sandbox.id)
    until("the stop reaches both objects", lambda: sandbox.state == other.state == "stopped")
    daytona.delete(sandbox)


def main():
    daytona = client()
    lifecycle(daytona)
    auto_archive(daytona)
    auto_delete(daytona)
    network_settings(daytona)
    pagination(daytona)
    region()
    volumes(daytona)
    declarative_image(daytona)
    fork_and_snapshot(daytona)
    events(daytona)
    print("plane-examples: done", flush=True)


run_script(main)
