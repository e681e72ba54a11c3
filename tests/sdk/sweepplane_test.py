"""Control-plane calls of the official Python SDK, sync and async, one case per run
(`SWEEP_CASE`), run by `tests/serve_sdk_sweepplane.rs`: what a local sandbox cannot be (a GPU,
KVM, another OS user) is refused with Daytona's error classes and nothing is left behind, and
the lifecycle, snapshot and volume calls no other script makes answer as Daytona does. Each
case prints `sweepplane: done` at the end.
"""

import asyncio
import os
import uuid

from daytona import (
    AsyncDaytona,
    CreateSandboxFromImageParams,
    CreateSandboxFromSnapshotParams,
    CreateSnapshotParams,
    DaytonaConfig,
    ListSandboxesQuery,
    Resources,
    SandboxState,
)
from daytona.common.errors import (
    DaytonaBadRequestError,
    DaytonaConflictError,
    DaytonaNotFoundError,
    DaytonaUnprocessableEntityError,
)

from daytona_api_client.exceptions import BadRequestException, NotFoundException

from sdk_script import raises, run_case, shell, stepper

step = stepper("sweepplane")


def ids(daytona):
    return {sandbox.id for sandbox in daytona.list()}


def impossible_sandboxes_are_refused(daytona):
    run = uuid.uuid4().hex[:8]
    before = ids(daytona)
    step("a GPU: first it must be ephemeral, then there is none")
    gpu = Resources(gpu=1)
    raises(
        DaytonaBadRequestError,
        lambda: daytona.create(CreateSandboxFromImageParams(image="debian:12.4", resources=gpu)),
        "GPU sandboxes must be ephemeral",
    )
    ephemeral = CreateSandboxFromImageParams(image="debian:12.4", resources=gpu, ephemeral=True)
    raises(
        DaytonaBadRequestError,
        lambda: daytona.create(ephemeral),
        "Total GPU limit exceeded. Maximum allowed: 0.",
    )
    step("a GPU snapshot is recorded, a sandbox of it is refused")
    snapshot = f"sweepplane-gpu-{run}"
    daytona.snapshot.create(CreateSnapshotParams(name=snapshot, image="debian:12.4", resources=gpu))
    raises(
        DaytonaBadRequestError,
        lambda: daytona.create(CreateSandboxFromSnapshotParams(snapshot=snapshot, ephemeral=True)),
        "Total GPU limit exceeded",
    )
    step("KVM and a user other than `daytona` and `root`")
    kvm = CreateSandboxFromSnapshotParams(kvm=True)
    raises(DaytonaUnprocessableEntityError, lambda: daytona.create(kvm), "KVM", "`kvm`")
    other = CreateSandboxFromSnapshotParams(os_user="nobody2")
    raises(DaytonaUnprocessableEntityError, lambda: daytona.create(other), "`nobody2`", "`daytona`")
    assert ids(daytona) == before, "a refused create left a sandbox"
    step("the user local sandboxes have, named outright")
    sandbox = daytona.create(CreateSandboxFromSnapshotParams(os_user="daytona", kvm=False))
    assert sandbox.user == "daytona", sandbox.user
    assert shell(sandbox, "whoami").strip() == "daytona"
    sandbox.delete()


def lifecycle_calls_answer_as_daytona(daytona):
    run = uuid.uuid4().hex[:8]
    sandbox = daytona.create(CreateSandboxFromSnapshotParams(name=f"sweepplane-{run}", public=True))
    step("set_public, refresh_data, refresh_activity")
    sandbox.set_public(False)
    assert sandbox.public is False
    sandbox.refresh_data()
    assert sandbox.public is False, "set_public did not reach the server"
    before = sandbox.last_activity_at
    sandbox.refresh_activity()
    sandbox.refresh_data()
    assert sandbox.last_activity_at >= before, (before, sandbox.last_activity_at)
    step("the waits return at once in the state they wait for")
    sandbox.wait_for_sandbox_start()
    sandbox.wait_for_resize_complete()
    step("a forced stop, then the waits for stop")
    sandbox.stop(force=True)
    assert sandbox.state == SandboxState.STOPPED, sandbox.state
    sandbox.wait_for_sandbox_stop()
    step("recover and pause of a sandbox that is neither errored nor started")
    raises(DaytonaBadRequestError, sandbox.recover, "not in a recoverable state")
    raises(DaytonaBadRequestError, sandbox.pause, "started state")
    step("start, then pause: local sandboxes are containers, never paused")
    daytona.start(sandbox)
    raises(DaytonaUnprocessableEntityError, sandbox.pause, "Pausing is not supported")
    step("resize, and the resizes Daytona refuses")
    sandbox.resize(Resources(cpu=2, memory=2))
    assert (sandbox.cpu, sandbox.memory, sandbox.state) == (2, 2, SandboxState.STARTED)
    raises(DaytonaBadRequestError, lambda: sandbox.resize(Resources(disk=5)), "stopped sandbox")
    raises(DaytonaBadRequestError, lambda: sandbox.resize(Resources(cpu=1)), "stopped state")
    step("a fork's name is taken once")
    fork = sandbox.fork(name=f"sweepplane-fork-{run}")
    raises(DaytonaConflictError, lambda: sandbox.fork(name=fork.name), "already exists")
    step("delete waits for destroyed when asked; a deleted sandbox is not found")
    fork.delete(wait=True)
    assert fork.state == SandboxState.DESTROYED, fork.state
    daytona.delete(sandbox, wait=True)
    raises(DaytonaNotFoundError, lambda: daytona.get(sandbox.id), "not found")
    raises(DaytonaNotFoundError, sandbox.delete, "not found")


def snapshot_activate_answers_as_daytona(daytona):
    run = uuid.uuid4().hex[:8]
    name = f"sweepplane-snap-{run}"
    daytona.snapshot.create(CreateSnapshotParams(name=name, image="debian:12.4"))
    # The SDK's `activate` passes the API client's own exceptions through, as it does on Daytona.
    step("an active snapshot is not activated again")
    raises(BadRequestException, lambda: daytona.snapshot.activate(name), "already active")
    step("a snapshot that does not exist")
    raises(NotFoundException, lambda: daytona.snapshot.activate("sweepplane-none"), "not found")
    daytona.snapshot.delete(daytona.snapshot.get(name))
    raises(DaytonaNotFoundError, lambda: daytona.snapshot.get(name), "not found")


def async_client_covers_the_plane(_daytona):
    async def main():
        config = DaytonaConfig(
            api_key=os.environ["DAYTONA_API_KEY"], api_url=os.environ["DAYTONA_API_URL"]
        )
        async with AsyncDaytona(config) as daytona:
            run = uuid.uuid4().hex[:8]
            step("async: create, list by label, stop, start")
            sandbox = await daytona.create(CreateSandboxFromSnapshotParams(labels={"run": run}))
            query = ListSandboxesQuery(labels={"run": run})
            assert [s.id async for s in daytona.list(query)] == [sandbox.id]
            await daytona.stop(sandbox)
            await daytona.start(sandbox)
            step("async: refused as the sync client is")
            try:
                await daytona.create(CreateSandboxFromSnapshotParams(os_user="nobody2"))
            except DaytonaUnprocessableEntityError as error:
                assert "`nobody2`" in str(error), str(error)
            else:
                raise AssertionError("a `nobody2` sandbox was created")
            step("async: volumes and snapshots")
            volume = await daytona.volume.get(f"sweepplane-{run}", create=True)
            assert volume.name in [v.name for v in await daytona.volume.list()]
            await sandbox.create_snapshot(f"sweepplane-async-{run}")
            page = await daytona.snapshot.list(page=1, limit=100)
            assert f"sweepplane-async-{run}" in [s.name for s in page.items]
            await daytona.delete(sandbox, wait=True)
            assert [s.id async for s in daytona.list(query)] == []

    asyncio.run(main())


CASES = {
    "impossible": impossible_sandboxes_are_refused,
    "lifecycle": lifecycle_calls_answer_as_daytona,
    "activate": snapshot_activate_answers_as_daytona,
    "async": async_client_covers_the_plane,
}


run_case(CASES, "sweepplane: done")
