"""Daytona's guides to the control plane, as a user copies them, run with the official Python
SDK against `ralph-town serve` by `tests/serve_sdk_guidesplane.rs`: configuration, sandbox
management and lifecycle, snapshots, the declarative builder, volumes, secrets, network limits,
preview links, SSH access, regions and the errors a user meets. Each guide's calls run as
written; a step that needs the internet is changed only there (an image from `Image.base`
instead of `Image.debian_slim`, which installs with apt and pip first; no `pip_install`).
Every step asserts what the guide shows. One case per run (`SWEEP_CASE`): `guides`, or a
regression case named after what once failed; the script prints `guidesplane: done` at the end.
"""

import os
import tempfile
import urllib.parse
import uuid

from daytona import (
    CreateSandboxFromImageParams,
    CreateSandboxFromSnapshotParams,
    CreateSnapshotParams,
    Daytona,
    DaytonaConfig,
    DaytonaError,
    DaytonaNotFoundError,
    Image,
    Resources,
    SandboxState,
    VolumeMount,
)
from daytona.common.errors import DaytonaAuthenticationError
from daytona.common.secret import CreateSecretParams
from daytona_api_client.exceptions import NotFoundException

from sdk_script import fetch, raises, run_case, shell, stepper, until

step = stepper("guidesplane")
RUN = uuid.uuid4().hex[:8]
BASE = "python:3.12-slim-bookworm"


def configuration():
    step("configuration: in code, from the environment, and from a .env file")
    url, key = os.environ["DAYTONA_API_URL"], os.environ["DAYTONA_API_KEY"]
    in_code = Daytona(DaytonaConfig(api_key=key, api_url=url))
    from_env = Daytona()
    assert {s.id for s in in_code.list()} == {s.id for s in from_env.list()}
    with tempfile.TemporaryDirectory() as folder:
        with open(os.path.join(folder, ".env"), "w") as dotenv:
            dotenv.write(f"DAYTONA_API_KEY={key}\n")
        # The pinned SDK never takes the API URL from a dotenv file, only the key.
        saved = {"DAYTONA_API_KEY": os.environ.pop("DAYTONA_API_KEY")}
        cwd = os.getcwd()
        try:
            os.chdir(folder)
            list(Daytona().list())
        finally:
            os.chdir(cwd)
            os.environ.update(saved)
    step("configuration: a wrong key is the SDK's authentication error")
    wrong = Daytona(DaytonaConfig(api_key="dtn_wrong_key", api_url=url))
    raises(DaytonaAuthenticationError, lambda: list(wrong.list()))


def getting_started(daytona):
    step("getting started: create, run code, delete")
    sandbox = daytona.create()
    assert sandbox.id and sandbox.state == SandboxState.STARTED, sandbox.state
    response = sandbox.process.exec("echo 'Hello, World!'")
    assert response.result.strip() == "Hello, World!", response.result
    sandbox.delete()
    raises(DaytonaNotFoundError, lambda: daytona.get(sandbox.id))


def creation_parameters(daytona):
    step("create with a language and labels")
    coded = daytona.create(CreateSandboxFromSnapshotParams(language="python"))
    assert coded.labels.get("code-toolbox-language") == "python", coded.labels
    labelled = daytona.create(CreateSandboxFromSnapshotParams(labels={"SOME_LABEL": "my-label"}))
    assert labelled.labels["SOME_LABEL"] == "my-label"
    step("create with a name, env vars, public and every timer")
    named = daytona.create(
        CreateSandboxFromSnapshotParams(
            name=f"guide-{RUN}",
            env_vars={"NODE_ENV": "production"},
            public=True,
            auto_stop_interval=0,
            auto_archive_interval=60,
            auto_delete_interval=120,
        )
    )
    assert (named.name, named.public) == (f"guide-{RUN}", True)
    assert (named.auto_stop_interval, named.auto_archive_interval) == (0, 60)
    assert named.auto_delete_interval == 120
    assert shell(named, "echo $NODE_ENV").strip() == "production"
    step("create with resources from an image")
    sized = daytona.create(
        CreateSandboxFromImageParams(image=Image.base(BASE), resources=Resources(cpu=2, memory=4, disk=8)),
        timeout=0,
    )
    assert (sized.cpu, sized.memory, sized.disk) == (2, 4, 8)
    step("an ephemeral sandbox is deleted once stopped")
    ephemeral = daytona.create(CreateSandboxFromSnapshotParams(ephemeral=True, auto_stop_interval=5))
    assert (ephemeral.auto_delete_interval, ephemeral.auto_stop_interval) == (0, 5)
    ephemeral.stop()
    until("the ephemeral sandbox is gone", lambda: not any(s.id == ephemeral.id for s in daytona.list()))
    for sandbox in (coded, labelled, sized):
        sandbox.delete()
    return named


def lifecycle(daytona, sandbox):
    step("lifecycle: stop, start, list and get")
    sandbox.stop()
    assert sandbox.state == SandboxState.STOPPED
    sandbox.start()
    assert sandbox.state == SandboxState.STARTED
    assert sandbox.id in [s.id for s in daytona.list()]
    assert daytona.get(sandbox.name).id == sandbox.id
    step("lifecycle: labels, timers and a refresh")
    sandbox.set_labels({"stage": "guide"})
    sandbox.set_autostop_interval(30)
    sandbox.set_auto_archive_interval(90)
    sandbox.set_auto_delete_interval(0)
    sandbox.set_auto_delete_interval(-1)
    sandbox.refresh_data()
    assert sandbox.labels["stage"] == "guide"
    assert (sandbox.auto_stop_interval, sandbox.auto_archive_interval) == (30, 90)
    assert sandbox.auto_delete_interval == -1
    step("lifecycle: resize started, then stopped")
    sandbox.resize(Resources(cpu=2, memory=4))
    assert (sandbox.cpu, sandbox.memory) == (2, 4)
    sandbox.stop()
    sandbox.resize(Resources(cpu=4, memory=8, disk=20))
    sandbox.start()
    assert (sandbox.cpu, sandbox.memory, sandbox.disk) == (4, 8, 20)
    step("lifecycle: recover, only when recoverable")
    assert not sandbox.recoverable
    if sandbox.recoverable:
        sandbox.recover()
    raises(DaytonaError, sandbox.recover)
    step("lifecycle: fork and snapshot of a sandbox")
    shell(sandbox, "echo forked > kept.txt")
    forked = sandbox._experimental_fork(name=f"my-forked-sandbox-{RUN}")
    assert shell(forked, "cat kept.txt").strip() == "forked"
    sandbox._experimental_create_snapshot(f"my-sandbox-snapshot-{RUN}")
    assert daytona.snapshot.get(f"my-sandbox-snapshot-{RUN}").state == "active"
    forked.delete()
    step("lifecycle: archive, then start again")
    sandbox.stop()
    sandbox.archive()
    assert sandbox.state == SandboxState.ARCHIVED
    sandbox.start()
    assert shell(sandbox, "cat kept.txt").strip() == "forked"
    sandbox.delete()


def snapshots(daytona):
    step("snapshots: create from an image with resources, streaming the build log")
    logs = []
    name = f"my-snapshot-{RUN}"
    daytona.snapshot.create(
        CreateSnapshotParams(name=name, image=Image.base(BASE), resources=Resources(cpu=2, memory=4, disk=8)),
        on_logs=logs.append,
    )
    assert logs, "no build log"
    snapshot = daytona.snapshot.get(name)
    assert (snapshot.state, snapshot.cpu, snapshot.mem, snapshot.disk) == ("active", 2, 4, 8)
    assert name in [s.name for s in daytona.snapshot.list().items]
    step("snapshots: a sandbox from it, with every timer the guide shows")
    for timers in ({"auto_stop_interval": 0}, {"auto_archive_interval": 60}, {"auto_delete_interval": 60}):
        sandbox = daytona.create(CreateSandboxFromSnapshotParams(snapshot=name, **timers))
        assert (sandbox.snapshot, sandbox.cpu) == (name, 2)
        sandbox.delete()
    step("snapshots: activating an active one is Daytona's 400; delete")
    # The pinned SDK passes this one on as its API client's own exception, not a DaytonaError.
    raises(Exception, lambda: daytona.snapshot.activate(snapshot), "is already active")
    daytona.snapshot.delete(snapshot)
    raises(DaytonaNotFoundError, lambda: daytona.snapshot.get(name))
    step("snapshots: an image that needs the internet fails with the build's reason")
    error = raises(
        DaytonaError,
        lambda: daytona.create(CreateSandboxFromImageParams(image=Image.debian_slim("3.12")), timeout=0),
    )
    assert "apt-get" in str(error) or "build" in str(error).lower(), str(error)


def declarative_builder(daytona):
    step("declarative builder: an image built on create, streaming the build log")
    logs = []
    image = Image.base(BASE).workdir("/home/daytona")
    sandbox = daytona.create(CreateSandboxFromImageParams(image=image), timeout=0, on_snapshot_create_logs=logs.append)
    assert logs and sandbox.get_work_dir() == "/home/daytona"
    sandbox.delete()
    step("declarative builder: a pre-built snapshot of an image")
    snapshot_name = f"data-science-snapshot-{RUN}"
    daytona.snapshot.create(CreateSnapshotParams(name=snapshot_name, image=image), on_logs=logs.append)
    sandbox = daytona.create(CreateSandboxFromSnapshotParams(snapshot=snapshot_name))
    assert sandbox.get_work_dir() == "/home/daytona"
    sandbox.delete()
    step("declarative builder: env, workdir, commands, entrypoint, cmd, Dockerfile commands")
    image = (
        Image.base(BASE)
        .env({"PROJECT_ROOT": "/home/daytona"})
        .workdir("/home/daytona")
        .run_commands("mkdir -p /home/daytona/workspace", "echo built > /home/daytona/workspace/mark")
        .entrypoint(["/bin/bash"])
        .cmd(["/bin/bash"])
        .dockerfile_commands(["RUN echo 'Hello, world!' > /home/daytona/hello"])
    )
    sandbox = daytona.create(CreateSandboxFromImageParams(image=image), timeout=0)
    seen = shell(sandbox, "echo $PROJECT_ROOT; cat workspace/mark hello").split("\n")
    assert seen[:3] == ["/home/daytona", "built", "Hello, world!"], seen
    sandbox.delete()
    step("declarative builder: from a Dockerfile, and extended")
    with tempfile.TemporaryDirectory() as folder:
        dockerfile = os.path.join(folder, "Dockerfile")
        with open(dockerfile, "w") as out:
            out.write(f"FROM {BASE}\nENV FROM_FILE=yes\nRUN echo dockerfile > /tmp/made\n")
        for image in (Image.from_dockerfile(dockerfile), Image.from_dockerfile(dockerfile).env({"MORE": "1"})):
            sandbox = daytona.create(CreateSandboxFromImageParams(image=image), timeout=0)
            assert shell(sandbox, "echo $FROM_FILE").strip() == "yes"
            sandbox.delete()


def volumes(daytona):
    step("volumes: create, get or create, list")
    created = daytona.volume.create(f"my-awesome-volume-{RUN}")
    assert daytona.volume.get(f"my-awesome-volume-{RUN}", create=True).id == created.id
    volume = daytona.volume.get(f"my-volume-{RUN}", create=True)
    assert {created.name, volume.name} <= {v.name for v in daytona.volume.list()}
    step("volumes: mounted whole and by subpath")
    mount_dir_1 = "/home/daytona/volume"
    whole = daytona.create(
        CreateSandboxFromSnapshotParams(
            language="python", volumes=[VolumeMount(volume_id=volume.id, mount_path=mount_dir_1)]
        )
    )
    alice = daytona.create(
        CreateSandboxFromSnapshotParams(
            language="python",
            volumes=[VolumeMount(volume_id=volume.id, mount_path=mount_dir_1, subpath="users/alice")],
        )
    )
    alice.fs.upload_file(b"Hello from Daytona volume!", "/home/daytona/volume/example.txt")
    assert whole.fs.download_file(f"{mount_dir_1}/users/alice/example.txt") == b"Hello from Daytona volume!"
    alice.delete()
    whole.delete()
    step("volumes: the data outlives its sandboxes; delete")
    again = daytona.create(
        CreateSandboxFromSnapshotParams(volumes=[VolumeMount(volume_id=volume.id, mount_path="/home/daytona/data")])
    )
    assert shell(again, "cat /home/daytona/data/users/alice/example.txt") == "Hello from Daytona volume!"
    again.delete()
    for each in (created, volume):
        daytona.volume.delete(daytona.volume.get(each.name))


def secrets(daytona):
    step("secrets: a sandbox sees the placeholder, never the value")
    secret = daytona.secret.create(
        CreateSecretParams(name=f"anthropic_{RUN}", value=f"sk-guide-{RUN}", hosts=["api.anthropic.com"])
    )
    assert secret.placeholder and secret.placeholder != f"sk-guide-{RUN}"
    assert secret.id in [s.id for s in daytona.secret.list().items]
    sandbox = daytona.create(CreateSandboxFromSnapshotParams(secrets={"ANTHROPIC_API_KEY": secret.name}))
    assert shell(sandbox, "echo $ANTHROPIC_API_KEY").strip() == secret.placeholder
    sandbox.delete()
    daytona.secret.delete(secret.id)
    # As its docstring says, the pinned SDK raises its API client's `NotFoundException` here.
    raises(NotFoundException, lambda: daytona.secret.get(secret.id))


def network_limits(daytona):
    step("network limits: an allow list and a blocked sandbox")
    allowed = daytona.create(
        CreateSandboxFromSnapshotParams(network_allow_list="208.80.154.232/32,199.16.156.103/32,192.168.1.0/24")
    )
    assert allowed.network_allow_list == "208.80.154.232/32,199.16.156.103/32,192.168.1.0/24"
    blocked = daytona.create(CreateSandboxFromSnapshotParams(network_block_all=True))
    assert blocked.network_block_all
    port = urllib.parse.urlsplit(os.environ["DAYTONA_API_URL"]).port
    reach = "python3 -c \"import socket; socket.create_connection(('{}', %d), 3)\"" % port
    opened = daytona.create()
    assert opened.process.exec(reach.format("127.0.0.1")).exit_code == 0
    for host in ("127.0.0.1", "10.0.2.2"):
        assert blocked.process.exec(reach.format(host)).exit_code != 0, host
    for sandbox in (allowed, blocked, opened):
        sandbox.delete()
    step("network limits: an entry that is no IPv4 CIDR is refused, naming it")
    raises(DaytonaError, lambda: daytona.create(CreateSandboxFromSnapshotParams(network_allow_list="wikipedia.org")), "wikipedia.org")


def web_terminal(sandbox):
    step("web terminal: its port serves the terminal page")
    terminal = sandbox.get_preview_link(22222)
    status, body = fetch(terminal.url, {"x-daytona-preview-token": terminal.token}, seconds=0)
    assert status == 200 and "<html" in body and "xterm.js" in body, (status, body)


def preview_and_ssh(daytona):
    sandbox = daytona.create()
    sandbox.process.exec("mkdir -p site && echo preview-works > site/index.html")
    sandbox.process.exec("cd site && nohup python3 -m http.server 3000 > /dev/null 2>&1 &")
    step("preview: a standard link with its token in the header")
    preview_info = sandbox.get_preview_link(3000)
    assert preview_info.url and preview_info.token
    assert fetch(preview_info.url, {"x-daytona-preview-token": preview_info.token}) == (200, "preview-works\n")
    assert fetch(preview_info.url)[0] in (401, 403)
    step("preview: a signed link, then revoked")
    signed_url = sandbox.create_signed_preview_url(3000, expires_in_seconds=3600)
    assert fetch(signed_url.url) == (200, "preview-works\n")
    sandbox.expire_signed_preview_url(3000, signed_url.token)
    assert fetch(signed_url.url)[0] in (401, 403, 404)
    web_terminal(sandbox)
    step("ssh: create, validate and revoke access")
    ssh_access = sandbox.create_ssh_access(expires_in_minutes=60)
    assert ssh_access.token and sandbox.validate_ssh_access(ssh_access.token).valid
    sandbox.revoke_ssh_access(token=ssh_access.token)
    assert not sandbox.validate_ssh_access(ssh_access.token).valid
    # Revoking every token at once (no `token`) is a newer SDK's: the pinned one requires it.
    sandbox.delete()


def regions_and_errors(daytona):
    step("regions: a target this server does not have is Daytona's not-found error")
    url, key = os.environ["DAYTONA_API_URL"], os.environ["DAYTONA_API_KEY"]
    elsewhere = Daytona(DaytonaConfig(api_key=key, api_url=url, target="us"))
    raises(DaytonaNotFoundError, elsewhere.create, "Region")
    step("errors: what does not exist is the SDK's not-found error")
    raises(DaytonaNotFoundError, lambda: daytona.get("sandbox-abc123"))
    raises(DaytonaNotFoundError, lambda: daytona.snapshot.get("no-such-snapshot"))
    raises(DaytonaNotFoundError, lambda: daytona.volume.get("no-such-volume"))


def guides(daytona):
    configuration()
    getting_started(daytona)
    lifecycle(daytona, creation_parameters(daytona))
    snapshots(daytona)
    declarative_builder(daytona)
    volumes(daytona)
    secrets(daytona)
    network_limits(daytona)
    preview_and_ssh(daytona)
    regions_and_errors(daytona)


def allow_list_of_eleven(daytona):
    step("an allow list of more than 10 networks is Daytona's 400")
    eleven = ",".join(f"10.0.0.{host}/32" for host in range(11))
    raises(
        DaytonaError,
        lambda: daytona.create(CreateSandboxFromSnapshotParams(network_allow_list=eleven)),
        "Network allow list cannot contain more than 10 networks",
    )
    ten = daytona.create(CreateSandboxFromSnapshotParams(network_allow_list=eleven.rsplit(",", 1)[0]))
    assert ten.network_allow_list == eleven.rsplit(",", 1)[0]
    raises(DaytonaError, lambda: ten.update_network_settings(network_allow_list=eleven), "more than 10 networks")
    ten.delete()


def signed_preview_over_a_day(daytona):
    step("a signed preview link lives from 1 second to 24 hours")
    sandbox = daytona.create()
    for seconds in (0, 86401):
        raises(
            DaytonaError,
            lambda: sandbox.create_signed_preview_url(3000, expires_in_seconds=seconds),
            "expiresInSeconds must be between 1 second and 24 hours",
        )
    for seconds in (1, 86400):
        assert sandbox.create_signed_preview_url(3000, expires_in_seconds=seconds).url
    sandbox.delete()


CASES = {
    "guides": guides,
    "web-terminal": lambda daytona: web_terminal(daytona.create()),
    "allow-list-of-eleven": allow_list_of_eleven,
    "signed-preview-over-a-day": signed_preview_over_a_day,
}


run_case(CASES, "guidesplane: done")
