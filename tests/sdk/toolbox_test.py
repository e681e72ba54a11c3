"""The official Daytona Python SDK's git, file-system, lifecycle and volume calls against
`ralph-town serve`.

Run by `tests/serve_sdk_toolbox.rs` with DAYTONA_API_URL and DAYTONA_API_KEY pointing at an
in-process server. Every remote is local: a bare repository made inside the sandbox. Each step
asserts what the SDK returned or raised; any failure exits non-zero with a traceback.
"""

import time

from daytona import (
    CreateSandboxFromSnapshotParams,
    DaytonaBadRequestError,
    DaytonaFileNotFoundError,
    DaytonaGitBranchExistsError,
    DaytonaGitBranchNotFoundError,
    DaytonaGitRepoNotFoundError,
    DaytonaUnprocessableEntityError,
    ListSandboxesQuery,
    Resources,
    VolumeMount,
)
from daytona_api_client import SandboxListSortDirection, SandboxListSortField
from sdk_script import client, fresh_sandbox, raises, run_script, shell, stepper


step = stepper("sdk-toolbox")


def git_steps(sandbox):
    step("git: clone a local bare remote")
    shell(
        sandbox,
        "git init -q -b main seed && cd seed && echo one > file.txt && git add . && "
        "git -c user.name=s -c user.email=s@example.com commit -qm one && cd .. && "
        "git clone -q --bare seed remote.git",
    )
    sandbox.git.clone(url="remote.git", path="work")
    sandbox.git.clone(url="remote.git", path="other")
    status = sandbox.git.status("work")
    assert status.current_branch == "main" and status.file_status == [], status

    step("git: add, commit, status")
    sandbox.fs.upload_file(b"two\n", "work/file.txt")
    sandbox.fs.upload_file(b"new\n", "work/new.txt")
    status = sandbox.git.status("work")
    states = {entry.name: (entry.staging, entry.worktree) for entry in status.file_status}
    assert states["file.txt"][1] == "Modified" and states["new.txt"][0] == "Untracked", states
    sandbox.git.add("work", ["."])
    commit = sandbox.git.commit("work", "second", "Ann", "ann@example.com")
    assert len(commit.sha) == 40, commit.sha
    assert sandbox.git.status("work").ahead == 1

    step("git: branches")
    sandbox.git.create_branch("work", "topic")
    branches = sandbox.git.branches("work")
    assert sorted(branches.branches) == ["main", "topic"], branches
    raises(DaytonaGitBranchExistsError, lambda: sandbox.git.create_branch("work", "topic"))
    sandbox.git.checkout_branch("work", "main")
    sandbox.git.delete_branch("work", "topic")
    raises(DaytonaGitBranchNotFoundError, lambda: sandbox.git.checkout_branch("work", "nope"))

    step("git: push and pull")
    sandbox.git.push("work")
    sandbox.git.pull("other")
    assert sandbox.fs.download_file("other/file.txt") == b"two\n"
    raises(DaytonaGitRepoNotFoundError, lambda: sandbox.git.status("not-a-repo"))


def fs_steps(sandbox):
    step("fs: folders, find, search, replace")
    sandbox.fs.create_folder("docs/deep", "755")
    sandbox.fs.upload_file(b"alpha\nTODO beta\n", "docs/a.md")
    sandbox.fs.upload_file(b"TODO gamma\n", "docs/deep/b.md")
    matches = sandbox.fs.find_files("docs", "TODO")
    assert sorted((m.file, m.line) for m in matches) == [("docs/a.md", 2), ("docs/deep/b.md", 1)]
    found = sandbox.fs.search_files("docs", "*.md")
    assert found.files == ["docs/a.md", "docs/deep/b.md"], found.files
    results = sandbox.fs.replace_in_files(["docs/a.md", "docs/gone.md"], "TODO", "DONE")
    assert [r.success for r in results] == [True, False], results
    assert sandbox.fs.download_file("docs/a.md") == b"alpha\nDONE beta\n"

    step("fs: move, permissions, info, list, delete")
    sandbox.fs.move_files("docs/a.md", "docs/deep/moved.md")
    sandbox.fs.set_file_permissions("docs/deep/moved.md", mode="600")
    info = sandbox.fs.get_file_info("docs/deep/moved.md")
    assert (info.name, info.permissions, info.is_dir) == ("moved.md", "0600", False), info
    names = sorted(entry.name for entry in sandbox.fs.list_files("docs/deep"))
    assert names == ["b.md", "moved.md"], names
    sandbox.fs.delete_file("docs", recursive=True)
    raises(DaytonaFileNotFoundError, lambda: sandbox.fs.get_file_info("docs"))
    raises(DaytonaFileNotFoundError, lambda: sandbox.fs.download_file("docs/deep/moved.md"))


def lifecycle_steps(daytona, sandbox, run):
    step("lifecycle: timers, ttl, env, metrics, ssh validation")
    sandbox.set_autostop_interval(0)
    sandbox.set_auto_archive_interval(60)
    sandbox.set_auto_delete_interval(-1)
    sandbox.set_ttl(120)
    sandbox.refresh_data()
    assert sandbox.auto_destroy_at, "set_ttl gives the sandbox a destroy time"
    sandbox.set_ttl(0)
    sandbox.update_env({"SDK_ADDED": "added"})
    assert shell(sandbox, "echo $SDK_ADDED").strip() == "added"
    metrics = sandbox.get_metrics_latest()
    assert metrics.cpu_count == 1 and metrics.mem_total == 1 << 30, metrics
    assert metrics.disk_used > 0, metrics
    access = sandbox.create_ssh_access(expires_in_minutes=5)
    assert sandbox.validate_ssh_access(access.token).valid
    sandbox.revoke_ssh_access(access.token)
    assert not sandbox.validate_ssh_access(access.token).valid

    step("lifecycle: resize, recover, pause")
    sandbox.resize(Resources(cpu=2, memory=2))
    assert (sandbox.cpu, sandbox.memory) == (2, 2), (sandbox.cpu, sandbox.memory)
    raises(DaytonaBadRequestError, sandbox.recover)
    raises(DaytonaUnprocessableEntityError, sandbox.pause)

    step("lifecycle: snapshot and fork carry the files")
    sandbox.fs.upload_file(b"carried\n", "carry/me.txt")
    name = f"sdk-snap-{run}:1"
    sandbox.create_snapshot(name)
    assert sandbox.state == "started", sandbox.state
    from_snapshot = daytona.create(CreateSandboxFromSnapshotParams(snapshot=name))
    assert from_snapshot.fs.download_file("carry/me.txt") == b"carried\n"
    fork = sandbox.fork(name=f"sdk-fork-{run}")
    assert fork.id != sandbox.id and fork.state == "started", fork.state
    assert fork.fs.download_file("carry/me.txt") == b"carried\n"
    from_snapshot.delete()
    fork.delete()
    daytona.snapshot.delete(daytona.snapshot.get(name))

    step("lifecycle: stop, archive, start")
    sandbox.stop()
    sandbox.archive()
    assert sandbox.state == "archived", sandbox.state
    sandbox.start()
    assert sandbox.state == "started", sandbox.state
    assert sandbox.fs.download_file("carry/me.txt") == b"carried\n"


def volume_steps(daytona, run):
    step("volumes: create, get, list")
    volume = daytona.volume.create(f"sdk-vol-{run}")
    deadline = time.time() + 30
    while volume.state != "ready":
        assert time.time() < deadline, volume.state
        time.sleep(0.1)
        volume = daytona.volume.get(volume.name)
    assert volume.id in [v.id for v in daytona.volume.list()]

    step("volumes: one sandbox writes, another reads")
    writer = daytona.create(
        CreateSandboxFromSnapshotParams(
            volumes=[VolumeMount(volume_id=volume.id, mount_path="/home/daytona/vol")]
        )
    )
    shell(writer, "echo shared > vol/note.txt")
    reader = daytona.create(
        CreateSandboxFromSnapshotParams(
            volumes=[VolumeMount(volume_id=volume.name, mount_path="/home/daytona/data")]
        )
    )
    assert reader.fs.download_file("data/note.txt") == b"shared\n"
    writer.delete()
    reader.delete()
    daytona.volume.delete(volume)


def ordering_steps(daytona, run):
    step("list: sort and order")
    for name in ["b", "a", "c"]:
        daytona.create(
            CreateSandboxFromSnapshotParams(name=f"{run}-{name}", labels={"sdk-order": run})
        )
    query = ListSandboxesQuery(
        labels={"sdk-order": run},
        sort=SandboxListSortField.NAME,
        order=SandboxListSortDirection.ASC,
        limit=1,
    )
    names = [s.name for s in daytona.list(query)]
    assert names == [f"{run}-a", f"{run}-b", f"{run}-c"], names
    query.order = SandboxListSortDirection.DESC
    names = [s.name for s in daytona.list(query)]
    assert names == [f"{run}-c", f"{run}-b", f"{run}-a"], names
    for sandbox in daytona.list(ListSandboxesQuery(labels={"sdk-order": run})):
        sandbox.delete()


def main():
    daytona = client()
    run, sandbox = fresh_sandbox(daytona, "sdk-toolbox")
    git_steps(sandbox)
    fs_steps(sandbox)
    lifecycle_steps(daytona, sandbox, run)
    volume_steps(daytona, run)
    ordering_steps(daytona, run)
    sandbox.delete()
    step("done")


if __name__ == "__main__":
    run_script(main)
