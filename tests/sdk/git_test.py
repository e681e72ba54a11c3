"""The official Daytona Python SDK's repository and configuration git calls against
`ralph-town serve`: `sandbox.git.init`, `reset`, `restore`, `remote_add`, `remotes`,
`remote_get`, `set_config`, `get_config`, `configure_user` and `dangerously_authenticate`.

Run by `tests/serve_sdk_git.rs` with DAYTONA_API_URL and DAYTONA_API_KEY pointing at an
in-process server, GIT_REMOTE_URL at a smart-HTTP git server on loopback that wants Basic auth
(`ann` and GIT_REMOTE_PASSWORD). Each step asserts what the SDK returned or raised; any failure
exits non-zero with a traceback.
"""

import os
from urllib.parse import urlsplit

from daytona import (
    DaytonaBadRequestError,
    DaytonaConflictError,
    DaytonaForbiddenError,
    DaytonaGitAuthFailedError,
    DaytonaNotFoundError,
)
from sdk_script import client, fresh_sandbox, raises, run_script, shell, stepper


step = stepper("sdk-git")


def states(sandbox, path):
    status = sandbox.git.status(path)
    return {entry.name: (entry.staging, entry.worktree) for entry in status.file_status}


def init_and_config(sandbox):
    step("init: a named first branch, a bare repository, no second init")
    sandbox.git.init("fresh", initial_branch="trunk")
    assert sandbox.git.status("fresh").current_branch == "trunk"
    sandbox.git.init("remote.git", bare=True)
    assert shell(sandbox, "git --git-dir=remote.git rev-parse --is-bare-repository").strip() == "true"
    raises(DaytonaConflictError, lambda: sandbox.git.init("fresh"))
    raises(DaytonaBadRequestError, lambda: sandbox.git.init("odd", initial_branch="a..b"))

    step("config: global in the sandbox home, local in the repository, system read-only")
    sandbox.git.configure_user("Ann Local", "ann@example.com", scope="local", path="fresh")
    assert sandbox.git.get_config("user.name", scope="local", path="fresh") == "Ann Local"
    assert shell(sandbox, "git -C fresh config user.email").strip() == "ann@example.com"
    sandbox.git.set_config("core.editor", "vi -e")
    assert sandbox.git.get_config("core.editor") == "vi -e"
    assert "vi -e" in shell(sandbox, "cat ~/.gitconfig")
    sandbox.git.set_config("sdk.empty", "")
    assert sandbox.git.get_config("sdk.empty") == ""
    assert sandbox.git.get_config("sdk.never-set") is None
    raises(DaytonaForbiddenError, lambda: sandbox.git.set_config("user.name", "x", scope="system"))
    raises(DaytonaBadRequestError, lambda: sandbox.git.get_config("nosection"))
    raises(DaytonaBadRequestError, lambda: sandbox.git.set_config("user.name", "x", scope="local"))


def reset_and_restore(sandbox):
    step("reset: mixed unstages, hard moves back")
    sandbox.fs.upload_file(b"one\n", "fresh/file.txt")
    sandbox.git.add("fresh", ["file.txt"])
    first = sandbox.git.commit("fresh", "one", "Ann", "ann@example.com")
    sandbox.fs.upload_file(b"two\n", "fresh/file.txt")
    sandbox.git.add("fresh", ["file.txt"])
    assert states(sandbox, "fresh")["file.txt"] == ("Modified", "Unmodified")
    sandbox.git.reset("fresh")
    assert states(sandbox, "fresh")["file.txt"] == ("Unmodified", "Modified")
    sandbox.git.add("fresh", ["file.txt"])
    sandbox.git.commit("fresh", "two", "Ann", "ann@example.com")
    sandbox.git.reset("fresh", mode="hard", target="HEAD~1")
    head = shell(sandbox, "git -C fresh rev-parse HEAD").strip()
    assert head == first.sha, (head, first.sha)
    assert sandbox.fs.download_file("fresh/file.txt") == b"one\n"
    raises(DaytonaBadRequestError, lambda: sandbox.git.reset("fresh", mode="sideways"))

    step("restore: the working tree by default, the index when staged")
    sandbox.fs.upload_file(b"scribbled\n", "fresh/file.txt")
    sandbox.git.restore("fresh", ["file.txt"])
    assert sandbox.fs.download_file("fresh/file.txt") == b"one\n"
    sandbox.fs.upload_file(b"staged\n", "fresh/file.txt")
    sandbox.git.add("fresh", ["file.txt"])
    sandbox.git.restore("fresh", ["file.txt"], staged=True)
    assert states(sandbox, "fresh")["file.txt"] == ("Unmodified", "Modified")
    assert sandbox.fs.download_file("fresh/file.txt") == b"staged\n"
    sandbox.git.restore("fresh", ["file.txt"], source="HEAD", staged=True, worktree=True)
    assert sandbox.fs.download_file("fresh/file.txt") == b"one\n"
    raises(DaytonaNotFoundError, lambda: sandbox.git.restore("fresh", ["no-such-file"]))


def remotes(sandbox):
    step("remotes: add, list, get, overwrite, fetch")
    assert sandbox.git.remotes("fresh").remotes == []
    sandbox.git.remote_add("fresh", "origin", "../remote.git")
    sandbox.git.push("fresh", branch="trunk")
    raises(DaytonaConflictError, lambda: sandbox.git.remote_add("fresh", "origin", "../elsewhere.git"))
    secret_url = "https://ann:remote-url-secret@example.invalid/x.git"
    sandbox.git.remote_add("fresh", "origin", secret_url, overwrite=True)
    listed = {remote.name: remote.url for remote in sandbox.git.remotes("fresh").remotes}
    assert listed == {"origin": "https://ann@example.invalid/x.git"}, listed
    assert sandbox.git.remote_get("fresh", "nope") is None
    sandbox.git.remote_add("fresh", "mirror", "../remote.git", fetch=True)
    assert "mirror/trunk" in shell(sandbox, "git -C fresh branch -r")
    assert sandbox.git.remote_get("fresh", "mirror") == "../remote.git"


def credentials(sandbox):
    step("dangerously_authenticate: later git calls authenticate without a password")
    url = os.environ["GIT_REMOTE_URL"]
    password = os.environ["GIT_REMOTE_PASSWORD"]
    raises(DaytonaGitAuthFailedError, lambda: sandbox.git.clone(url=url, path="before"))
    host = urlsplit(url).netloc
    sandbox.git.dangerously_authenticate("ann", password, host=host, protocol="http")
    sandbox.git.clone(url=url, path="authed")
    assert sandbox.fs.download_file("authed/README.md") == b"over http\n"
    assert shell(sandbox, "stat -c %a ~/.git-credentials").strip() == "600"
    raises(
        DaytonaBadRequestError,
        lambda: sandbox.git.dangerously_authenticate("ann", "x\nhost=evil", host=host),
    )


def main():
    daytona = client()
    _, sandbox = fresh_sandbox(daytona, "sdk-git")
    init_and_config(sandbox)
    reset_and_restore(sandbox)
    remotes(sandbox)
    credentials(sandbox)
    sandbox.delete()
    step("done")


if __name__ == "__main__":
    run_script(main)
