"""Calls of the official Python SDK that once failed against `ralph-town serve`, one case per
run (`SWEEP_CASE`), run by `tests/serve_sdk_sweep.rs`: each case asserts what the SDK returns
or raises, and prints `sweep: done` at the end.
"""

import datetime
import os

from daytona import CodeRunParams, ListSandboxesQuery
from daytona.common.errors import DaytonaGitBranchNotFoundError, DaytonaGitRepoNotFoundError

from sdk_script import client, fresh_sandbox, raises, run_script, shell, stepper

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


CASES = {
    "git-not-found": git_not_found,
    "owner-daytona": owner_daytona,
}


def main():
    CASES[os.environ["SWEEP_CASE"]](client())
    print("sweep: done", flush=True)


run_script(main)
