"""Calls of the official Python SDK that once failed against `ralph-town serve`, one case per
run (`SWEEP_CASE`), run by `tests/serve_sdk_sweep.rs`: each case asserts what the SDK returns
or raises, and prints `sweep: done` at the end.
"""

import datetime
import tempfile

from daytona import CodeRunParams, CreateSandboxFromImageParams, Image, ListSandboxesQuery
from daytona.common.errors import (
    DaytonaGitBranchNotFoundError,
    DaytonaGitRepoNotFoundError,
    DaytonaUnprocessableEntityError,
)

from sdk_script import fresh_sandbox, raises, run_case, shell, stepper

step = stepper("sweep")


def git_not_found(daytona):
    _, sandbox = fresh_sandbox(daytona, "sweep-git")
    home = sandbox.get_user_home_dir()
    step("a clone of a local path that does not exist")
    raises(
        DaytonaGitRepoNotFoundError,
        lambda: sandbox.git.clone(f"{home}/no-such-repo", f"{home}/a"),
        "no-such-repo",
    )
    step("a clone of a branch the repository lacks")
    shell(
        sandbox,
        f"git init -q -b main {home}/origin && cd {home}/origin"
        " && git -c user.name=t -c user.email=t@t commit -q --allow-empty -m first",
    )
    raises(
        DaytonaGitBranchNotFoundError,
        lambda: sandbox.git.clone(f"{home}/origin", f"{home}/b", branch="nope"),
        "nope",
    )
    sandbox.git.clone(f"{home}/origin", f"{home}/c", branch="main")
    assert sandbox.git.status(f"{home}/c").current_branch == "main"
    sandbox.delete()


def owner_daytona(daytona):
    _, sandbox = fresh_sandbox(daytona, "sweep-owner")
    home = sandbox.get_user_home_dir()
    path = f"{home}/owned.txt"
    sandbox.fs.upload_file(b"x", path)
    step("owner and group `daytona`, the sandbox user")
    sandbox.fs.set_file_permissions(path, mode="640", owner="daytona", group="daytona")
    ids = shell(sandbox, f"stat -c '%u %g %a' {path}; id -u; id -g").split()
    assert ids == [ids[3], ids[4], "640", ids[3], ids[4]], ids
    step("only the owner or only the group")
    sandbox.fs.set_file_permissions(path, owner="daytona")
    sandbox.fs.set_file_permissions(path, group="daytona")
    sandbox.delete()


def owner_shown(daytona):
    _, sandbox = fresh_sandbox(daytona, "sweep-shown")
    home = sandbox.get_user_home_dir()
    sandbox.fs.upload_file(b"x", f"{home}/mine.txt")
    step("the sandbox user's files show owner and group `daytona`")
    info = sandbox.fs.get_file_info(f"{home}/mine.txt")
    assert (info.owner, info.group) == ("daytona", "daytona"), info
    listed = {f.name: f for f in sandbox.fs.list_files(home)}
    assert (listed["mine.txt"].owner, listed["mine.txt"].group) == ("daytona", "daytona")
    step("others' files keep their own names")
    root = sandbox.fs.get_file_info("/tmp")
    assert root.owner != "daytona" or shell(sandbox, "stat -c %u /tmp").strip() == shell(
        sandbox, "id -u"
    ).strip(), root
    sandbox.delete()


def list_filters(daytona):
    run, plain = fresh_sandbox(daytona, "sweep-list", labels={"sweep": "list"})
    _, public = fresh_sandbox(daytona, "sweep-list", labels={"sweep": "list"}, public=True)
    ours = {plain.id, public.id}

    def listed(**query):
        return {s.id for s in daytona.list(ListSandboxesQuery(labels={"sweep": "list"}, **query))}

    step("times")
    long_ago = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    assert listed(created_at_before=long_ago) == set(), "created before 2000"
    assert listed(created_at_after=long_ago) == ours
    assert listed(last_activity_before=long_ago) == set()
    in_a_day = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    assert listed(created_at_after=in_a_day) == set()
    assert listed(created_at_before=in_a_day) == ours
    step("values")
    assert listed(is_public=True) == {public.id}
    assert listed(is_public=False) == {plain.id}
    assert listed(min_cpu=plain.cpu, max_cpu=plain.cpu) == ours
    assert listed(min_cpu=plain.cpu + 1) == set()
    assert listed(max_memory_gib=plain.memory) == ours
    assert listed(min_memory_gib=plain.memory + 1) == set()
    assert listed(min_disk_gib=plain.disk) == ours
    assert listed(snapshots=[plain.snapshot]) == ours
    assert listed(snapshots=["no-such-snapshot"]) == set()
    assert listed(is_recoverable=True) == set()
    plain.delete()
    public.delete()


def typescript(daytona):
    _, sandbox = fresh_sandbox(daytona, "sweep-ts", language="typescript")
    step("TypeScript code_run")
    reply = sandbox.process.code_run(
        'const n: number = 2; console.log("ts", n, process.argv.slice(2))',
        params=CodeRunParams(argv=["x"]),
    )
    has_ts_node = shell(sandbox, "command -v ts-node || true").strip() != ""
    if has_ts_node:
        assert reply.exit_code == 0 and "ts 2 [ 'x' ]" in reply.result, reply
    else:
        assert reply.exit_code == 127, reply
        assert "ts-node is not installed" in reply.result, reply
        assert shell(sandbox, "ls -A ~/.npm 2>/dev/null | wc -l").strip() == "0", "npx downloaded"
    sandbox.delete()


def local_file_image(daytona):
    step("an Image that copies a local file")
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as local:
        local.write("context\n")
        local.flush()
        image = Image.base("debian:12").add_local_file(local.name, "/opt/context.txt")
        before = {s.id for s in daytona.list()}
        raises(
            DaytonaUnprocessableEntityError,
            lambda: daytona.create(CreateSandboxFromImageParams(image=image), timeout=60),
            "Python SDK",
            "addLocalFile",
        )
        assert {s.id for s in daytona.list()} == before, "a sandbox was left behind"


CASES = {
    "git-not-found": git_not_found,
    "owner-daytona": owner_daytona,
    "owner-shown": owner_shown,
    "list-filters": list_filters,
    "typescript": typescript,
    "local-file-image": local_file_image,
}


run_case(CASES, "sweep: done")
