"""Build contexts from the official Python SDK (`Image.add_local_file`, `add_local_dir`), run by
`tests/serve_python_contexts.rs` in a mount namespace of its own whose CA bundle it controls:
the SDK's uploader takes only HTTPS storage that this machine's bundle vouches for. One case
per run (`SWEEP_CASE`): `untrusted` (the bundle lacks serve's loopback CA: the create is
refused with the reason and the CA to trust, and nothing is left behind) and `trusted` (the
files reach a sandbox built from the image, and a snapshot built from it). Each case prints
`contexts: done` at the end.
"""

import os
import tempfile

from daytona import CreateSandboxFromImageParams, CreateSandboxFromSnapshotParams, CreateSnapshotParams, Image
from daytona.common.errors import DaytonaUnprocessableEntityError

from sdk_script import raises, run_case, shell, stepper

step = stepper("contexts")
RUN = os.urandom(4).hex()


def local_context():
    """A file and a folder (with a nested file) on this machine, to copy into images."""
    root = tempfile.mkdtemp()
    single = os.path.join(root, "notes.txt")
    with open(single, "w") as file:
        file.write(f"notes {RUN}\n")
    folder = os.path.join(root, "app")
    os.makedirs(os.path.join(folder, "lib"))
    with open(os.path.join(folder, "main.py"), "w") as file:
        file.write(f"print('main {RUN}')\n")
    with open(os.path.join(folder, "lib", "util.py"), "w") as file:
        file.write(f"VALUE = '{RUN}'\n")
    return single, folder


def untrusted(daytona):
    step("refused while the bundle lacks the loopback CA")
    single, _ = local_context()
    before = {sandbox.id for sandbox in daytona.list()}
    image = Image.base("debian:12").add_local_file(single, "/opt/notes.txt")
    raises(
        DaytonaUnprocessableEntityError,
        lambda: daytona.create(CreateSandboxFromImageParams(image=image)),
        "plain-HTTP storage",
        "loopback CA",
        os.environ["LOOPBACK_CA"],
        "update-ca-certificates",
    )
    assert {sandbox.id for sandbox in daytona.list()} == before


def trusted(daytona):
    single, folder = local_context()
    step("a sandbox from an image with a local file and folder")
    image = (
        Image.base("debian:12")
        .add_local_file(single, "/opt/notes.txt")
        .add_local_dir(folder, "/home/daytona/app")
        .run_commands("cat /opt/notes.txt > /opt/copied.txt")
    )
    logs = []
    sandbox = daytona.create(CreateSandboxFromImageParams(image=image), on_snapshot_create_logs=logs.append)
    assert shell(sandbox, "cat /opt/notes.txt") == f"notes {RUN}\n"
    assert shell(sandbox, "cat /opt/copied.txt") == f"notes {RUN}\n"
    assert shell(sandbox, "cd /home/daytona/app && python3 main.py") == f"main {RUN}\n"
    assert shell(sandbox, "cat /home/daytona/app/lib/util.py") == f"VALUE = '{RUN}'\n"
    assert logs, "the build's log was followed"
    daytona.delete(sandbox)

    step("a snapshot from an image with a local folder, and a sandbox of it")
    name = f"contexts-{RUN}"
    daytona.snapshot.create(
        CreateSnapshotParams(name=name, image=Image.base("debian:12").add_local_dir(folder, "/srv/app"))
    )
    sandbox = daytona.create(CreateSandboxFromSnapshotParams(snapshot=name))
    assert shell(sandbox, "cat /srv/app/lib/util.py") == f"VALUE = '{RUN}'\n"
    daytona.delete(sandbox)
    daytona.snapshot.delete(daytona.snapshot.get(name))


run_case({"untrusted": untrusted, "trusted": trusted}, "contexts: done")
