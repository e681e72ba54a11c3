"""Control-plane calls of the official Python SDK that once did not answer as Daytona does,
one case per run (`SWEEP_CASE`), run by `tests/serve_sdk_plane.rs`: each case asserts what
the SDK returns or raises, and prints `plane: done` at the end.
"""

import os
import uuid

from daytona import (
    CreateSandboxFromSnapshotParams,
    CreateSnapshotParams,
    Daytona,
    DaytonaConfig,
    VolumeMount,
)
from daytona.common.errors import DaytonaNotFoundError

from sdk_script import raises, run_case, shell, stepper

step = stepper("plane")


def region_other_than_local_is_not_found(daytona):
    run = uuid.uuid4().hex[:8]
    before = {sandbox.id for sandbox in daytona.list()}
    step("a client whose target is `us` creates nothing")
    us = Daytona(
        DaytonaConfig(
            api_key=os.environ["DAYTONA_API_KEY"], api_url=os.environ["DAYTONA_API_URL"], target="us"
        )
    )
    raises(DaytonaNotFoundError, us.create, "Region not found", "`us`")
    assert {sandbox.id for sandbox in daytona.list()} == before
    step("a snapshot in region `eu` is not made")
    eu = CreateSnapshotParams(name=f"plane-eu-{run}", image="debian:12.4", region_id="eu")
    raises(DaytonaNotFoundError, lambda: daytona.snapshot.create(eu), "Region not found", "`eu`")
    raises(DaytonaNotFoundError, lambda: daytona.snapshot.get(eu.name))
    step("the local region, named or not")
    local = CreateSnapshotParams(name=f"plane-local-{run}", image="debian:12.4", region_id="local")
    assert daytona.snapshot.create(local).region_ids == ["local"]
    sandbox = daytona.create(CreateSandboxFromSnapshotParams(target="local"))
    assert sandbox.target == "local", sandbox.target
    sandbox.delete()
    assert daytona.create().target == "local"


def volume_subpath_leaves_its_root_writable(daytona):
    volume = daytona.volume.get(f"plane-{uuid.uuid4().hex[:8]}", create=True)
    whole = daytona.create(
        CreateSandboxFromSnapshotParams(
            volumes=[VolumeMount(volume_id=volume.id, mount_path="/home/daytona/all")]
        )
    )
    shell(whole, "touch /home/daytona/all/first")
    step("a second sandbox mounts a subpath the volume did not have")
    alice = daytona.create(
        CreateSandboxFromSnapshotParams(
            volumes=[
                VolumeMount(
                    volume_id=volume.id, mount_path="/home/daytona/alice", subpath="users/alice"
                )
            ]
        )
    )
    alice.fs.upload_file(b"alice", "/home/daytona/alice/a.txt")
    step("the sandbox mounting the root writes beside the subpath")
    users = [entry for entry in whole.fs.list_files("/home/daytona/all") if entry.name == "users"]
    assert [entry.owner for entry in users] == ["daytona"], users
    whole.fs.create_folder("/home/daytona/all/users/bob", "755")
    whole.fs.upload_file(b"bob", "/home/daytona/all/users/bob/b.txt")
    assert whole.fs.download_file("/home/daytona/all/users/alice/a.txt") == b"alice"
    alice.delete()
    whole.delete()


CASES = {
    "region": region_other_than_local_is_not_found,
    "volume-subpath": volume_subpath_leaves_its_root_writable,
}


run_case(CASES, "plane: done")
