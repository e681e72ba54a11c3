"""The official Daytona Python SDK against `ralph-town serve`.

Run by `tests/serve_sdk.rs` with DAYTONA_API_URL and DAYTONA_API_KEY pointing at an in-process
server. Each step asserts what the SDK returned; any failure exits non-zero with a traceback.
"""

import uuid

from daytona import (
    CreateSandboxFromSnapshotParams,
    CreateSnapshotParams,
    DaytonaNotFoundError,
    ListSandboxesQuery,
)
from sdk_script import client, run_script, stepper


step = stepper("sdk")


def main():
    daytona = client()
    run = uuid.uuid4().hex[:8]

    step("create a snapshot")
    snapshot = daytona.snapshot.create(CreateSnapshotParams(name=f"sdk-{run}:1", image="debian:12"))
    assert snapshot.state == "active", snapshot.state
    assert daytona.snapshot.get(snapshot.name).id == snapshot.id

    step("create a sandbox from it, with labels and env")
    labels = {"sdk-run": run, "role": "tester"}
    sandbox = daytona.create(
        CreateSandboxFromSnapshotParams(
            snapshot=snapshot.name,
            labels=labels,
            env_vars={"SDK_GREETING": "hello from the sdk"},
            auto_stop_interval=30,
        ),
        timeout=60,
    )
    assert sandbox.state == "started", sandbox.state
    assert sandbox.labels["sdk-run"] == run
    assert sandbox.snapshot == snapshot.name

    step("get it back by id and by name")
    assert daytona.get(sandbox.id).id == sandbox.id
    assert daytona.get(sandbox.name).id == sandbox.id

    step("list by labels")
    other = daytona.create(CreateSandboxFromSnapshotParams(labels={"sdk-run": run, "role": "other"}))
    found = [s.id for s in daytona.list(ListSandboxesQuery(labels=labels))]
    assert found == [sandbox.id], found
    everyone = {s.id for s in daytona.list(ListSandboxesQuery(labels={"sdk-run": run}, limit=1))}
    assert everyone == {sandbox.id, other.id}, everyone

    step("exec with real exit codes")
    reply = sandbox.process.exec("echo $SDK_GREETING; echo oops >&2; exit 3")
    assert reply.exit_code == 3, reply
    assert "hello from the sdk" in reply.result and "oops" in reply.result, reply.result
    reply = sandbox.process.exec("echo $ONE", env={"ONE": "1"})
    assert (reply.exit_code, reply.result.strip()) == (0, "1"), reply

    step("upload then download a file")
    content = b"line one\nline two\n\x00\xff"
    sandbox.fs.upload_file(content, "sdk/uploaded.bin")
    assert sandbox.fs.download_file("sdk/uploaded.bin") == content
    names = [entry.name for entry in sandbox.fs.list_files("sdk")]
    assert names == ["uploaded.bin"], names

    step("create SSH access")
    access = sandbox.create_ssh_access(expires_in_minutes=5)
    assert len(access.token) == 32 and access.token.isalnum(), access.token
    assert access.token in access.ssh_command, access.ssh_command

    step("delete, then 404")
    sandbox.delete()
    try:
        daytona.get(sandbox.id)
    except DaytonaNotFoundError:
        pass
    else:
        raise AssertionError("the deleted sandbox is still there")
    other.delete()
    daytona.snapshot.delete(snapshot)
    step("done")


if __name__ == "__main__":
    run_script(main)
