"""The official Daytona Python SDK's `os_user` (and an image's `USER`) against `ralph-town serve`.

Run by `tests/serve_os_user.rs`, one case per run (`SWEEP_CASE`), with DAYTONA_API_URL and
DAYTONA_API_KEY pointing at an in-process server. A root sandbox runs every kind of process
(exec, a session command, a PTY, code_run) as uid 0 with `/root` as its home, which is the same
directory as `/home/daytona`, yet cannot write the host's files, mount, or undo its network
filter; an image's final `USER` makes its sandboxes root or `daytona`, and a snapshot or fork of
a root sandbox is root too; a default sandbox is unchanged; another user is a 422 that names the
possible ones and leaves nothing behind. Lines `os-user: <name> <id>` name sandboxes whose home
the Rust side then inspects on the host. Any failure exits non-zero with a traceback.
"""

import os
import urllib.parse
import uuid

from daytona import (
    CreateSandboxFromImageParams,
    CreateSandboxFromSnapshotParams,
    DaytonaError,
    DaytonaUnprocessableEntityError,
    Image,
    SessionExecuteRequest,
)
from sdk_script import raises, read_until, run_case, shell, stepper


step = stepper("os-user")


def failing(sandbox, command):
    """The output of `command` in `sandbox`, which must fail."""
    reply = sandbox.process.exec(command)
    assert reply.exit_code != 0, (command, reply.result)
    return reply.result


def whoami(sandbox):
    """Who exec runs as in `sandbox`: uid, name, `HOME`, `USER` and `LOGNAME`, one line."""
    return shell(sandbox, 'echo "$(id -u) $(id -g) $(whoami) $HOME $USER $LOGNAME"').strip()


def root(daytona):
    step("create with os_user root")
    sandbox = daytona.create(CreateSandboxFromSnapshotParams(os_user="root"))
    print(f"os-user: root {sandbox.id}", flush=True)
    assert sandbox.user == "root", sandbox.user
    assert daytona.get(sandbox.id).user == "root"
    assert whoami(sandbox) == "0 0 root /root root root", whoami(sandbox)
    assert sandbox.get_user_home_dir() == "/root", sandbox.get_user_home_dir()
    assert sandbox.get_work_dir() == "/root", sandbox.get_work_dir()
    assert shell(sandbox, "pwd").strip() == "/root"
    assert shell(sandbox, "cd ~ && pwd").strip() == "/root"

    step("a file uploaded to a relative path is at /root and at /home/daytona")
    sandbox.fs.upload_file(b"relative", "notes/a.txt")
    assert shell(sandbox, "cat /root/notes/a.txt") == "relative"
    assert shell(sandbox, "cat /home/daytona/notes/a.txt") == "relative"
    sandbox.fs.upload_file(b"absolute", "/root/b.txt")
    assert sandbox.fs.download_file("/home/daytona/b.txt") == b"absolute"
    shell(sandbox, "echo written-inside > /home/daytona/c.txt")
    assert sandbox.fs.download_file("/root/c.txt") == b"written-inside\n"
    assert sandbox.fs.download_file("c.txt") == b"written-inside\n"
    info = sandbox.fs.get_file_info("notes/a.txt")
    assert (info.owner, info.group) == ("root", "root"), (info.owner, info.group)
    listed = {entry.name: entry for entry in sandbox.fs.list_files("/root")}
    assert listed["b.txt"].owner == "root", listed["b.txt"]
    sandbox.fs.set_file_permissions("notes/a.txt", owner="root", group="root", mode="600")
    assert sandbox.fs.get_file_info("/root/notes/a.txt").permissions == "0600"
    raises(DaytonaError, lambda: sandbox.fs.set_file_permissions("notes/a.txt", owner="daytona"), "only user is root")
    info = sandbox.fs.get_file_info("notes/a.txt")
    assert (info.owner, info.group) == ("root", "root"), (info.owner, info.group)

    step("a session command, a PTY and code_run run as root")
    session = f"root-{uuid.uuid4().hex[:8]}"
    sandbox.process.create_session(session)
    reply = sandbox.process.execute_session_command(
        session, SessionExecuteRequest(command='echo "$(id -u) $(whoami) $HOME $PWD"', run_async=False)
    )
    assert reply.exit_code == 0, reply
    assert (reply.stdout or reply.output).strip() == "0 root /root /root", reply
    pty = sandbox.process.create_pty_session(id=f"pty-{session}")
    pty.send_input('echo "pty-$(id -u)-$(whoami)-$HOME"\n')
    read_until(pty, "pty-0-root-/root")
    pty.disconnect()
    ran = sandbox.process.code_run("import os; print(os.getuid(), os.path.expanduser('~'))")
    assert ran.exit_code == 0, ran
    assert ran.result.strip() == "0 /root", ran.result

    step("root of its own namespace only: no capability, a read-only host, no mount")
    status = shell(sandbox, "grep CapEff /proc/self/status")
    assert status.split()[1] == "0000000000000000", status
    assert "Read-only file system" in failing(sandbox, "touch /etc/x"), "touch /etc/x"
    failing(sandbox, "echo x > /usr/x")
    failing(sandbox, "cat /etc/shadow")
    failing(sandbox, "mount -t tmpfs none /mnt")
    failing(sandbox, "chown 1234 /root/b.txt")


def root_blocked(daytona):
    step("a root sandbox cannot change its network filter")
    sandbox = daytona.create(CreateSandboxFromSnapshotParams(os_user="root", network_block_all=True))
    assert sandbox.user == "root" and sandbox.network_block_all
    assert whoami(sandbox).startswith("0 0 root ")
    port = urllib.parse.urlsplit(os.environ["DAYTONA_API_URL"]).port
    reach = f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 2)\""
    failing(sandbox, reach)
    failing(sandbox, "ip link set lo down")
    failing(sandbox, "nft flush ruleset")
    failing(sandbox, "ip route add default dev lo")
    failing(sandbox, reach)
    sandbox.delete()


def root_copies(daytona):
    step("a snapshot and a fork of a root sandbox are root")
    run = uuid.uuid4().hex[:8]
    source = daytona.create(CreateSandboxFromSnapshotParams(os_user="root"))
    shell(source, "echo kept > /root/kept.txt")
    snapshot = f"os-user-root-{run}"
    source.create_snapshot(snapshot)
    copy = daytona.create(CreateSandboxFromSnapshotParams(snapshot=snapshot))
    assert copy.user == "root", copy.user
    assert whoami(copy) == "0 0 root /root root root", whoami(copy)
    assert shell(copy, "cat /root/kept.txt") == "kept\n"
    asked = daytona.create(CreateSandboxFromSnapshotParams(snapshot=snapshot, os_user="daytona"))
    assert asked.user == "daytona", asked.user
    assert whoami(asked) == "1000 1000 daytona /home/daytona daytona daytona", whoami(asked)
    assert shell(asked, "cat kept.txt") == "kept\n"
    forked = source.fork()
    assert forked.user == "root", forked.user
    assert whoami(forked) == "0 0 root /root root root", whoami(forked)
    for sandbox in (forked, asked, copy, source):
        sandbox.delete()


def built(daytona, image, **params):
    """A started sandbox of `image`, built here."""
    sandbox = daytona.create(CreateSandboxFromImageParams(image=image, **params), timeout=180)
    assert sandbox.state == "started", sandbox.state
    return sandbox


def image_root(daytona):
    step("an image whose last USER is root makes root sandboxes")
    run = uuid.uuid4().hex[:8]
    image = Image.base("debian:12").dockerfile_commands(
        ["USER root", f"RUN echo {run} > /root/from-image"]
    )
    sandbox = built(daytona, image)
    print(f"os-user: image-root {sandbox.id}", flush=True)
    assert sandbox.user == "root", sandbox.user
    assert whoami(sandbox) == "0 0 root /root root root", whoami(sandbox)
    assert sandbox.get_user_home_dir() == "/root"
    assert shell(sandbox, "cat /root/from-image").strip() == run
    assert shell(sandbox, "cat /home/daytona/from-image").strip() == run
    step("the same image asked for as daytona")
    asked = built(daytona, image, os_user="daytona")
    assert asked.user == "daytona", asked.user
    assert whoami(asked) == "1000 1000 daytona /home/daytona daytona daytona", whoami(asked)
    asked.delete()


def image_back_to_daytona(daytona):
    step("an image that ends USER daytona after USER root makes daytona sandboxes")
    image = Image.base("debian:12").dockerfile_commands(
        ["USER root", "RUN touch /opt/made-as-root", "USER daytona"]
    )
    sandbox = built(daytona, image)
    assert sandbox.user == "daytona", sandbox.user
    assert whoami(sandbox) == "1000 1000 daytona /home/daytona daytona daytona", whoami(sandbox)
    assert sandbox.get_user_home_dir() == "/home/daytona"
    shell(sandbox, "test -e /opt/made-as-root")
    sandbox.delete()
    step("an image that ends with a user no local sandbox can be says its sandboxes run as daytona")
    logs = []
    other = daytona.create(
        CreateSandboxFromImageParams(image=Image.base("debian:12").dockerfile_commands(["USER nobody", "RUN true"])),
        timeout=180,
        on_snapshot_create_logs=logs.append,
    )
    assert other.user == "daytona", other.user
    assert whoami(other) == "1000 1000 daytona /home/daytona daytona daytona", whoami(other)
    assert any("sandboxes of this image run as `daytona`" in line for line in logs), logs
    other.delete()


def default(daytona):
    step("a default sandbox is daytona, uid 1000, at /home/daytona")
    sandbox = daytona.create()
    assert sandbox.user == "daytona", sandbox.user
    assert whoami(sandbox) == "1000 1000 daytona /home/daytona daytona daytona", whoami(sandbox)
    assert sandbox.get_user_home_dir() == "/home/daytona"
    assert sandbox.get_work_dir() == "/home/daytona"
    sandbox.fs.upload_file(b"x", "x.txt")
    assert sandbox.fs.get_file_info("x.txt").owner == "daytona"
    assert shell(sandbox, "ls -A /root") == "", "the host's /root shows"
    sandbox.delete()


def refused(daytona):
    step("another user is a 422 that names the possible ones")
    before = {sandbox.id for sandbox in daytona.list()}
    other = CreateSandboxFromSnapshotParams(os_user="nobody2")
    raises(DaytonaUnprocessableEntityError, lambda: daytona.create(other), "`nobody2`", "`daytona`", "`root`")
    after = {sandbox.id for sandbox in daytona.list()}
    assert after == before, "a refused create left a sandbox"


CASES = {
    "root": root,
    "root_blocked": root_blocked,
    "root_copies": root_copies,
    "image_root": image_root,
    "image_back_to_daytona": image_back_to_daytona,
    "default": default,
    "refused": refused,
}

if __name__ == "__main__":
    run_case(CASES, "os-user: done")
