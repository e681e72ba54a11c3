"""The official Daytona Python SDK builds images and opens preview links against `ralph-town serve`.

Run by `tests/serve_sdk_build.rs` with DAYTONA_API_URL and DAYTONA_API_KEY pointing at an
in-process server. A declarative `Image` is built (its steps really run) while the SDK follows
the build logs through its callback; a failing image fails the create with the build's reason;
a snapshot is built from an `Image` with `on_logs`; a web server started in the sandbox is
fetched through `get_preview_link` (with its token) and a signed preview URL. Any failure exits
non-zero with a traceback.
"""

import uuid

from daytona import (
    CreateSandboxFromImageParams,
    CreateSandboxFromSnapshotParams,
    CreateSnapshotParams,
    DaytonaError,
    Image,
    ListSandboxesQuery,
    SessionExecuteRequest,
)
from sdk_script import client, fetch, run_script, stepper, until


step = stepper("sdk-build")


# A web server on a port the kernel picks as it binds, which it writes down once it listens:
# a port probed free and released first may be taken by then on a busy machine.
WEB_SERVER = (
    "import http.server, os; "
    "server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), http.server.SimpleHTTPRequestHandler); "
    "open('port.tmp', 'w').write(str(server.server_address[1])); os.rename('port.tmp', 'port'); "
    "server.serve_forever()"
)


def main():
    daytona = client()
    run = uuid.uuid4().hex[:8]

    step("create from an Image, following its build logs")
    image = (
        Image.base("python:3.12-slim")
        .run_commands(f"mkdir -p /opt/sdk-{run} && echo built-{run} > /opt/sdk-{run}/file")
        .env({"SDK_IMAGE": f"image-{run}"})
    )
    logs = []
    sandbox = daytona.create(
        CreateSandboxFromImageParams(image=image), timeout=180, on_snapshot_create_logs=logs.append
    )
    assert sandbox.state == "started", sandbox.state
    text = "\n".join(logs)
    assert "cannot be pulled here" in text, text
    assert f"mkdir -p /opt/sdk-{run}" in text, text
    assert "Successfully built daytona-" in text, text
    result = sandbox.process.exec(f"cat /opt/sdk-{run}/file && echo $SDK_IMAGE")
    assert result.exit_code == 0, result.result
    assert result.result.split() == [f"built-{run}", f"image-{run}"], result.result

    step("an image whose step fails fails the create with the build's reason")
    broken = Image.base("debian:12").run_commands(f"echo broken-{run} && exit 4")
    broken_logs = []
    try:
        daytona.create(
            CreateSandboxFromImageParams(image=broken, labels={"sdk-build": run}),
            timeout=180,
            on_snapshot_create_logs=broken_logs.append,
        )
        raise AssertionError("a failed build created a sandbox")
    except DaytonaError as error:
        assert "exited with code 4" in str(error), str(error)
    assert f"broken-{run}" in "\n".join(broken_logs), broken_logs
    for leftover in daytona.list(ListSandboxesQuery(labels={"sdk-build": run})):
        assert leftover.state == "build_failed", leftover.state
        daytona.delete(leftover)

    step("build a snapshot from an Image with on_logs")
    snapshot_logs = []
    snapshot = daytona.snapshot.create(
        CreateSnapshotParams(
            name=f"sdk-built-{run}",
            image=Image.base("debian:12").run_commands(f"echo snapshot-{run} > /opt/snapshot-{run}"),
        ),
        on_logs=snapshot_logs.append,
    )
    assert snapshot.state == "active", snapshot.state
    assert f"snapshot-{run}" in "\n".join(snapshot_logs), snapshot_logs
    from_snapshot = daytona.create(CreateSandboxFromSnapshotParams(snapshot=snapshot.name))
    assert from_snapshot.process.exec(f"cat /opt/snapshot-{run}").result.strip() == f"snapshot-{run}"

    step("a web server in the sandbox, through its preview link")
    sandbox.process.exec(f"echo page-{run} > page.txt")
    sandbox.process.create_session("web")
    sandbox.process.execute_session_command(
        "web", SessionExecuteRequest(command=f'python3 -c "{WEB_SERVER}"', run_async=True)
    )
    port = int(until("the web server listens", lambda: sandbox.process.exec("cat port 2>/dev/null").result.strip()))
    link = sandbox.get_preview_link(port)
    status, body = fetch(f"{link.url}/page.txt", {"x-daytona-preview-token": link.token})
    assert (status, body.strip()) == (200, f"page-{run}"), (status, body)
    status, _ = fetch(f"{link.url}/page.txt")
    assert status == 401, status

    step("and through a signed preview URL")
    signed = sandbox.create_signed_preview_url(port, expires_in_seconds=120)
    assert signed.port == port
    status, body = fetch(f"{signed.url}/page.txt")
    assert (status, body.strip()) == (200, f"page-{run}"), (status, body)
    sandbox.expire_signed_preview_url(port, signed.token)
    status, _ = fetch(f"{signed.url}/page.txt")
    assert status == 401, status

    for made in (sandbox, from_snapshot):
        daytona.delete(made)
    step("done")


if __name__ == "__main__":
    run_script(main)
