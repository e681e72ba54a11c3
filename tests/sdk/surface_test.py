"""The official Daytona Python SDK's public methods that no other script calls, against
`ralph-town serve`, one case per run (`SWEEP_CASE`), run by `tests/serve_sdk_surface.rs`: the
deprecated aliases (`get_user_root_dir`, `workspace_symbols`), a terminal handle's
`session_id`, warm-pool updates and deletes, the `pip_install` image steps (which need the
internet, so their builds fail with the build's reason), and the async client's lifecycle,
secret, snapshot, git, terminal, computer-use and accessibility calls. Each case asserts what
the SDK returns or raises and prints `surface: done` at the end; any failure exits non-zero
with a traceback.
"""

import asyncio
import json
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

from daytona import (
    CreateSandboxFromImageParams,
    CreateSandboxFromSnapshotParams,
    CreateSecretParams,
    CreateSnapshotParams,
    DaytonaBadRequestError,
    DaytonaError,
    DaytonaNotFoundError,
    DaytonaUnprocessableEntityError,
    Image,
    PtySize,
    Resources,
    SandboxState,
    SessionExecuteRequest,
    UpdateSecretParams,
)
from daytona_api_client.exceptions import NotFoundException, UnprocessableEntityException
from daytona_api_client_async.exceptions import NotFoundException as AsyncNotFoundException
from daytona_api_client_async.exceptions import UnprocessableEntityException as AsyncUnprocessableEntityException

from sdk_script import async_client, flatten, raises, raises_async, read_until, run_script, shell, shell_async, stepper

step = stepper("surface")

RUN = uuid.uuid4().hex[:8]


def named(prefix):
    """A name for this run's `prefix` object."""
    return f"{prefix}-{RUN}"


def sync_sandbox(daytona):
    step("get_user_root_dir: the deprecated name of get_user_home_dir")
    sandbox = daytona.create(CreateSandboxFromSnapshotParams(name=named("surface-sync")))
    assert sandbox.get_user_root_dir() == sandbox.get_user_home_dir() == "/home/daytona"

    step("a terminal handle's session_id, exit_code and error")
    handle = sandbox.process.create_pty_session(named("term"), pty_size=PtySize(cols=80, rows=24))
    assert handle.session_id == named("term"), handle.session_id
    assert (handle.exit_code, handle.error) == (None, None), (handle.exit_code, handle.error)
    handle.wait_for_connection()
    read_until(handle, "$")
    handle.send_input("exit 7\n")
    result = handle.wait(timeout=30)
    assert (result.exit_code, handle.exit_code) == (7, 7), (result, handle.exit_code)
    assert handle.error == "non-zero exit", handle.error
    handle.disconnect()

    step("warm pools: none to update or delete, and none can be made")
    assert daytona.warm_pool.list() == []
    raises(UnprocessableEntityException, lambda: daytona.warm_pool.create("daytona-small", 2), "Warm pools")
    raises(NotFoundException, lambda: daytona.warm_pool.update("no-such-pool", 3), "no-such-pool")
    raises(NotFoundException, lambda: daytona.warm_pool.delete("no-such-pool"), "no-such-pool")
    sandbox.delete()


def pip_images(daytona):
    """The `pip_install` steps: the Dockerfile the SDK sends, and the build that runs it here,
    offline on this machine's file system, failing at the pip step with the build's reason."""
    folder = tempfile.mkdtemp()
    requirements = os.path.join(folder, "requirements.txt")
    with open(requirements, "w") as out:
        out.write("six==1.16.0\n")
    pyproject = os.path.join(folder, "pyproject.toml")
    with open(pyproject, "w") as out:
        out.write(
            '[project]\nname = "app"\nversion = "0.1.0"\ndependencies = ["six>=1.16"]\n'
            '[project.optional-dependencies]\ndev = ["pytest"]\n'
        )
    images = {
        "pip_install": Image.base("python:3.12-slim").pip_install(
            ["six", "idna"], find_links=["/wheels"], index_url="http://127.0.0.1:9/simple", pre=True
        ),
        "pip_install_from_requirements": Image.base("python:3.12-slim").pip_install_from_requirements(requirements),
        "pip_install_from_pyproject": Image.base("python:3.12-slim").pip_install_from_pyproject(
            pyproject, optional_dependencies=["dev"]
        ),
    }
    dockerfile = images["pip_install"].dockerfile()
    assert (
        "RUN python -m pip install idna six --find-links /wheels --index-url http://127.0.0.1:9/simple --pre"
        in dockerfile
    ), dockerfile
    assert "COPY" in images["pip_install_from_requirements"].dockerfile()
    assert "six>=1.16" in images["pip_install_from_pyproject"].dockerfile()
    assert "pytest" in images["pip_install_from_pyproject"].dockerfile()
    for name, image in images.items():
        step(f"{name}: the build fails at its first step that needs the image, saying why")
        logs = []
        error = raises(
            DaytonaError,
            lambda: daytona.create(
                CreateSandboxFromImageParams(image=image, labels={"surface": RUN}),
                timeout=0,
                on_snapshot_create_logs=logs.append,
            ),
        )
        if "loopback CA" in str(error):
            # The requirements file travels as a build context, which the Python SDK uploads
            # only over HTTPS this machine trusts (`tests/serve_python_contexts.rs`).
            assert name == "pip_install_from_requirements", error
            continue
        # The requirements file is copied to `/.requirements.txt`, outside what a layer keeps.
        copied = name == "pip_install_from_requirements"
        cause = "Read-only file system" if copied else "python: not found"
        for words in ("BUILD_FAILED", cause, "is not pulled here"):
            assert words in str(error), error
        assert ("COPY" if copied else "pip install") in "\n".join(logs), (error, logs)
    step("a Dockerfile step of the image's own still builds")
    image = Image.base("python:3.12-slim").dockerfile_commands(["RUN python3 -c 'print(6*7)' > /opt/answer"])
    sandbox = daytona.create(CreateSandboxFromImageParams(image=image), timeout=0)
    assert shell(sandbox, "cat /opt/answer").strip() == "42"
    sandbox.delete()


async def async_sandbox(daytona):
    sandbox = await daytona.create(CreateSandboxFromSnapshotParams(name=named("surface-async"), public=True))
    step("async: home, metrics now and over time")
    assert await sandbox.get_user_root_dir() == await sandbox.get_user_home_dir() == "/home/daytona"
    latest = await sandbox.get_metrics_latest()
    assert latest.cpu_count == 1 and latest.mem_total == 1 << 30 and latest.disk_used > 0, latest
    now = datetime.now(timezone.utc)
    points = await sandbox.get_metrics(start=now - timedelta(minutes=5), end=now + timedelta(minutes=1))
    assert points and all(point.mem_total == 1 << 30 for point in points), points

    step("async: public, timers, ttl, activity, env")
    await sandbox.set_public(False)
    await sandbox.refresh_data()
    assert sandbox.public is False
    await raises_async(DaytonaUnprocessableEntityError, sandbox.set_auto_pause_interval(5), "Pausing")
    await sandbox.set_ttl(90)
    await sandbox.refresh_data()
    assert sandbox.auto_destroy_at, "set_ttl gives the sandbox a destroy time"
    await sandbox.set_ttl(0)
    before = sandbox.last_activity_at
    await sandbox.refresh_activity()
    await sandbox.refresh_data()
    assert sandbox.last_activity_at >= before, (before, sandbox.last_activity_at)
    await sandbox.update_env({"SURFACE_ENV": "from-async"})
    assert (await shell_async(sandbox, "echo $SURFACE_ENV")).strip() == "from-async"

    step("async: signed URLs stop working when the key rotates")
    await sandbox.fs.upload_file(b"signed", "signed.txt")
    url = await sandbox.download_url("signed.txt")
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"signed"
    await sandbox.rotate_signing_key()
    try:
        urllib.request.urlopen(url, timeout=10)
        raise AssertionError("a URL signed before the rotation still works")
    except urllib.error.HTTPError as error:
        assert error.code in (401, 403), error.code

    step("async: network settings")
    await sandbox.update_network_settings(network_allow_list="10.0.2.2/32")
    await sandbox.refresh_data()
    assert sandbox.network_allow_list == "10.0.2.2/32", sandbox.network_allow_list
    await sandbox.update_network_settings(network_block_all=False)
    await raises_async(
        DaytonaBadRequestError,
        sandbox.update_network_settings(network_allow_list=",".join(f"10.0.{i}.0/24" for i in range(11))),
        "10",
    )

    step("async: SSH access is made, validated and revoked")
    access = await sandbox.create_ssh_access(expires_in_minutes=5)
    assert access.token and (await sandbox.validate_ssh_access(access.token)).valid
    await sandbox.revoke_ssh_access(access.token)
    assert not (await sandbox.validate_ssh_access(access.token)).valid

    step("async: resize, recover and pause answer as Daytona's")
    await sandbox.resize(Resources(cpu=2, memory=2))
    await sandbox.wait_for_resize_complete()
    assert (sandbox.cpu, sandbox.memory, sandbox.state) == (2, 2, SandboxState.STARTED)
    assert (await shell_async(sandbox, "nproc")).strip() == str(min(2, os.cpu_count()))
    await raises_async(DaytonaBadRequestError, sandbox.recover(), "recoverable")
    await raises_async(DaytonaUnprocessableEntityError, sandbox.pause(), "Pausing is not supported")
    await sandbox.stop()
    await raises_async(DaytonaBadRequestError, sandbox.pause(), "started state")
    await sandbox.delete()


def deactivate(name):
    """Deactivates snapshot `name` through the API (the SDKs have no call for it; Daytona does
    it to a snapshot unused for long), so that `activate` has something to do."""
    api = os.environ["DAYTONA_API_URL"]
    request = urllib.request.Request(
        f"{api}/snapshots/{urllib.request.quote(name, safe='')}",
        headers={"Authorization": f"Bearer {os.environ['DAYTONA_API_KEY']}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        snapshot_id = json.loads(response.read())["id"]
    request = urllib.request.Request(
        f"{api}/snapshots/{snapshot_id}/deactivate",
        method="POST",
        headers={"Authorization": f"Bearer {os.environ['DAYTONA_API_KEY']}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 204), response.status


async def async_services(daytona):
    step("async secrets: create, get, list, update, delete")
    made = await daytona.secret.create(
        CreateSecretParams(name=named("SURFACE_TOKEN"), value="not-a-real-value", description="first")
    )
    assert (await daytona.secret.get(made.id)).name == named("SURFACE_TOKEN")
    listed = await daytona.secret.list(name=named("SURFACE_TOKEN"))
    assert [secret.id for secret in listed.items] == [made.id], listed
    updated = await daytona.secret.update(made.id, UpdateSecretParams(description="second"))
    assert updated.description == "second", updated
    sandbox = await daytona.create(CreateSandboxFromSnapshotParams(name=named("surface-vault")))
    await sandbox.update_secrets({"API_TOKEN": named("SURFACE_TOKEN")})
    placeholder = (await shell_async(sandbox, "echo $API_TOKEN")).strip()
    assert placeholder and "not-a-real-value" not in placeholder, placeholder
    await raises_async(DaytonaBadRequestError, sandbox.update_secrets({"OTHER": "no-such-secret"}), "not found")
    await sandbox.delete()
    await daytona.secret.delete(made.id)
    await raises_async(AsyncNotFoundException, daytona.secret.get(made.id))

    step("async snapshots: activate an inactive one")
    name = named("surface-snap")
    await daytona.snapshot.create(CreateSnapshotParams(name=name, image=Image.base("debian:12")))
    deactivate(name)
    assert (await daytona.snapshot.get(name)).state == "inactive"
    activated = await daytona.snapshot.activate(await daytona.snapshot.get(name))
    assert activated.state == "active", activated.state
    await daytona.snapshot.delete(activated)

    step("async warm pools: none, and none can be made")
    assert await daytona.warm_pool.list() == []
    await raises_async(AsyncUnprocessableEntityException, daytona.warm_pool.create("daytona-small", 1), "Warm pools")
    await raises_async(AsyncNotFoundException, daytona.warm_pool.update("no-such-pool", 2), "no-such-pool")
    await raises_async(AsyncNotFoundException, daytona.warm_pool.delete("no-such-pool"), "no-such-pool")


async def async_git_and_terminal(daytona):
    sandbox = await daytona.create(CreateSandboxFromSnapshotParams(name=named("surface-git")))
    step("async git: configure_user, then a commit carries it")
    await sandbox.git.init("repo")
    await sandbox.git.configure_user("Ann Async", "ann@example.com", scope="local", path="repo")
    assert await sandbox.git.get_config("user.name", scope="local", path="repo") == "Ann Async"
    await sandbox.fs.upload_file(b"one\n", "repo/one.txt")
    await sandbox.git.add("repo", ["one.txt"])
    await sandbox.git.commit("repo", "one", "Ann Async", "ann@example.com")
    assert (await shell_async(sandbox, "git -C repo log -1 --format=%an")).strip() == "Ann Async"

    step("async git: dangerously_authenticate, then a clone needs no password")
    url = os.environ["GIT_REMOTE_URL"]
    password = os.environ["GIT_REMOTE_PASSWORD"]
    host = urllib.parse.urlsplit(url).netloc
    await sandbox.git.dangerously_authenticate("ann", password, host=host, protocol="http")
    await sandbox.git.clone(url=url, path="authed")
    assert await sandbox.fs.download_file("authed/README.md") == b"over http\n"
    assert (await shell_async(sandbox, "stat -c %a ~/.git-credentials")).strip() == "600"

    step("async terminal handle: session_id, exit_code, error")
    seen = bytearray()
    handle = await sandbox.process.create_pty_session(named("term"), seen.extend)
    assert handle.session_id == named("term"), handle.session_id
    assert (handle.exit_code, handle.error) == (None, None)
    await handle.wait_for_connection()
    await handle.send_input("exit 4\n")
    result = await handle.wait()
    assert (result.exit_code, handle.exit_code, handle.error) == (4, 4, "non-zero exit"), (result, handle.error)
    killed = await sandbox.process.create_pty_session(named("killed"), lambda _: None)
    await killed.wait_for_connection()
    await killed.kill()
    await killed.wait()
    assert (killed.exit_code, killed.error) == (137, "SIGKILL"), (killed.exit_code, killed.error)
    await sandbox.delete()


async def async_desktop(daytona):
    sandbox = await daytona.create(CreateSandboxFromSnapshotParams(name=named("surface-desktop")))
    computer = sandbox.computer_use
    await computer.start()
    step("async processes: restart the display; logs and errors")
    restarted = await computer.restart_process("xvfb")
    assert restarted.process_name == "xvfb", restarted
    deadline = asyncio.get_running_loop().time() + 60
    while not (await computer.get_process_status("xvfb")).running:
        assert asyncio.get_running_loop().time() < deadline, "the display never ran again"
        await asyncio.sleep(0.2)
    assert isinstance((await computer.get_process_logs("xvfb")).logs, str)
    assert isinstance((await computer.get_process_errors("xvfb")).errors, str)
    await raises_async(DaytonaError, computer.get_process_logs("novnc"), "not run by local sandboxes")
    await raises_async(DaytonaBadRequestError, computer.restart_process("xfce4"), "xfce4")

    step("async mouse and keyboard: held and let go")
    held = await computer.mouse.down(40, 50)
    assert (held.x, held.y) == (40, 50), held
    released = await computer.mouse.up(90, 60, "left")
    assert (released.x, released.y) == (90, 60), released
    await computer.keyboard.down("shift")
    await computer.keyboard.up("shift")

    step("async accessibility: a GTK window's tree, nodes, value, invoke, focus")
    a11y = computer.accessibility
    await sandbox.fs.upload_file(os.path.join(os.path.dirname(__file__), "a11y_window.py"), "probe.py")
    await sandbox.process.create_session("desktop")
    await sandbox.process.execute_session_command(
        "desktop", SessionExecuteRequest(command="python3 probe.py", run_async=True)
    )
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        found = (await a11y.find_nodes(scope="all", role="push button", name="Press me")).matches
        if found:
            break
        assert asyncio.get_running_loop().time() < deadline, "the window never showed its button"
        await asyncio.sleep(0.2)
    button = found[0]
    tree = await a11y.get_tree(scope="all")
    nodes = {(node.role, node.name): node for node in flatten(tree.root)}
    entry = nodes[("text", "Your name")]
    await a11y.set_node_value(entry.id, "typed async")
    await until_file(sandbox, "entry.txt", "typed async")
    await a11y.invoke_node(button.id)
    await until_file(sandbox, "clicked.txt", "clicked")
    await a11y.focus_node(entry.id)
    await raises_async(DaytonaNotFoundError, a11y.focus_node(":1.9999:/org/a11y/atspi/accessible/1"), "not found")
    await computer.stop()
    await sandbox.delete()


async def until_file(sandbox, path, text, seconds=60):
    """Waits until `path` in the sandbox's home holds `text`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        reply = await sandbox.process.exec(f"cat ~/{path} 2>/dev/null || true")
        if reply.result.strip() == text:
            return
        assert asyncio.get_running_loop().time() < deadline, f"never: {text!r} in {path}: {reply.result!r}"
        await asyncio.sleep(0.2)


TYPESCRIPT_SOURCE = """export function describeShape(sides: number): string {
  return "sides " + sides
}
"""


def lsp_workspace_symbols(daytona):
    step("workspace_symbols: the deprecated name of sandbox_symbols, sync and async")
    sandbox = daytona.create(
        CreateSandboxFromSnapshotParams(name=named("surface-lsp"), env_vars={"PATH": os.environ["LSP_SANDBOX_PATH"]})
    )
    project = f"{sandbox.get_user_home_dir()}/shapes"
    path = f"{project}/shapes.ts"
    sandbox.fs.create_folder(project, "755")
    sandbox.fs.upload_file(TYPESCRIPT_SOURCE.encode(), path)
    server = sandbox.create_lsp_server("typescript", project)
    server.start()
    server.did_open(path)
    found = server.workspace_symbols("describeShape")
    assert any(s.name == "describeShape" and s.location.uri == f"file://{path}" for s in found), found
    server.stop()
    sandbox_id = sandbox.id

    async def through_async():
        async with async_client() as client:
            same = await client.get(sandbox_id)
            lsp = same.create_lsp_server("typescript", project)
            await lsp.start()
            await lsp.did_open(path)
            found = await lsp.workspace_symbols("describeShape")
            assert any(s.name == "describeShape" for s in found), found
            await lsp.stop()

    asyncio.run(through_async())
    sandbox.delete()


SYNC_CASES = {"sync-sandbox": sync_sandbox, "pip-images": pip_images, "lsp": lsp_workspace_symbols}
ASYNC_CASES = {
    "async-sandbox": async_sandbox,
    "async-services": async_services,
    "async-git-terminal": async_git_and_terminal,
    "async-desktop": async_desktop,
}


def main():
    from sdk_script import client

    case = os.environ["SWEEP_CASE"]
    if case in SYNC_CASES:
        SYNC_CASES[case](client())
    else:

        async def run():
            async with async_client() as daytona:
                await ASYNC_CASES[case](daytona)

        asyncio.run(run())
    print("surface: done", flush=True)


run_script(main)
