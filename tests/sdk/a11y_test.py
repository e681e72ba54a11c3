"""The official Daytona Python SDK's accessibility calls against `ralph-town serve`.

Run by `tests/serve_a11y.rs` with DAYTONA_API_URL and DAYTONA_API_KEY pointing at an
in-process server. Starts computer use, runs a real GTK 3 window in the sandbox
(`a11y_window.py`: a labelled button whose click writes `~/clicked.txt`, and a named entry whose
every change is written to `~/entry.txt`), then reads its tree, finds its nodes, sets the
entry's text, clicks the button and moves the focus through AT-SPI, and checks the errors. Stopping computer use, and deleting
the sandbox after a second start, must leave none of the sandbox's bus processes on the host.
Any failure exits non-zero.
"""

import os
import uuid

from daytona import (
    CreateSandboxFromSnapshotParams,
    DaytonaBadRequestError,
    DaytonaNotFoundError,
)
from daytona.common.errors import DaytonaA11yUnavailableError
from daytona_toolbox_api_client.models.session_execute_request import SessionExecuteRequest
from sdk_script import client, flatten, host_processes, raises, run_script, shell, stepper, until


step = stepper("a11y")

RUN = uuid.uuid4().hex[:8]

# The processes of the buses, by their (truncated) command names.
BUS_PROGRAMS = ("dbus-daemon", "at-spi-bus-laun", "at-spi2-registr")


def bus_processes():
    """{host pid: name} of this run's sandbox's bus processes (their environment names the run)."""
    return host_processes(BUS_PROGRAMS, f"COMPUTER_USE_RUN={RUN}")


def main():
    daytona = client()
    params = CreateSandboxFromSnapshotParams(env_vars={"COMPUTER_USE_RUN": RUN})
    sandbox = daytona.create(params, timeout=60)
    computer = sandbox.computer_use
    a11y = computer.accessibility

    step("nothing before start")
    raises(DaytonaBadRequestError, a11y.get_tree, "not started")
    assert not bus_processes()

    step("start runs the buses")
    computer.start()
    running = set(bus_processes().values())
    assert {"dbus-daemon", "at-spi-bus-laun"} <= running, running
    assert shell(sandbox, 'echo "$DBUS_SESSION_BUS_ADDRESS"').startswith("unix:path=/tmp/daytona-a11y.")
    assert shell(sandbox, 'echo "$GTK_MODULES"').strip() == "gail:atk-bridge"

    step("a GTK window")
    sandbox.fs.upload_file(os.path.join(os.path.dirname(__file__), "a11y_window.py"), "probe.py")
    sandbox.process.create_session("desktop")
    app = sandbox.process.execute_session_command(
        "desktop", SessionExecuteRequest(command="python3 probe.py", run_async=True)
    )
    button = until(
        "the button among the nodes",
        lambda: a11y.find_nodes(scope="all", role="push button", name="Press me").matches,
        detail=lambda: sandbox.process.get_session_command_logs("desktop", app.cmd_id),
    )[0]
    assert button.actions == ["click"], button
    assert "focusable" in button.states and "showing" in button.states, button
    assert button.bounds.width > 0 and button.bounds.height > 0, button

    step("the tree")
    tree = a11y.get_tree(scope="all")
    assert tree.root.role == "desktop frame" and not tree.truncated, tree.root
    nodes = {(node.role, node.name): node for node in flatten(tree.root)}
    for role, name in [
        ("application", "probe.py"),
        ("frame", "A11y Probe"),
        ("push button", "Press me"),
        ("text", "Your name"),
    ]:
        assert (role, name) in nodes, (role, name, sorted(nodes))
    assert nodes[("push button", "Press me")].id == button.id

    step("the tree of one program, by the pid a command sees")
    pid = int(shell(
        sandbox,
        "for f in /proc/[0-9]*; do "
        "[ \"$(tr '\\0' ' ' < $f/cmdline 2>/dev/null)\" = 'python3 probe.py ' ] && echo ${f#/proc/}; "
        "done; true",
    ).split()[0])
    own = a11y.get_tree(scope="pid", pid=pid)
    assert own.root.role == "application" and own.root.name == "probe.py", own.root
    assert ("push button", "Press me") in {(n.role, n.name) for n in flatten(own.root)}
    focused = a11y.get_tree()
    assert (focused.root.role, focused.root.name) == ("application", "probe.py"), focused.root
    shallow = a11y.get_tree(scope="all", max_depth=1)
    assert shallow.root.children and all(not child.children for child in shallow.root.children)
    assert not a11y.get_tree(scope="all", max_depth=0).root.children

    step("find")
    entry = a11y.find_nodes(role="text", name="Your name", name_match="exact").matches
    assert len(entry) == 1 and "editable" in entry[0].states, entry
    entry = entry[0]
    assert not entry.children
    assert a11y.find_nodes(scope="all", name="^Press", name_match="regex").matches[0].id == button.id
    assert not a11y.find_nodes(scope="all", name="Press", name_match="exact").matches
    limited = a11y.find_nodes(scope="all", limit=2)
    assert len(limited.matches) == 2 and limited.truncated, limited
    raises(DaytonaBadRequestError, lambda: a11y.find_nodes(name="(", name_match="regex"), "invalid regex")
    raises(DaytonaBadRequestError, lambda: a11y.find_nodes(name_match="fuzzy"), "nameMatch")
    raises(DaytonaBadRequestError, lambda: a11y.get_tree(scope="everything"), "invalid accessibility scope")

    step("set the entry's text")
    a11y.set_node_value(entry.id, "typed through AT-SPI")
    until(
        "the entry's text in ~/entry.txt",
        lambda: shell(sandbox, "cat ~/entry.txt 2>/dev/null || true") == "typed through AT-SPI",
    )
    raises(DaytonaBadRequestError, lambda: a11y.set_node_value(button.id, "words"), "not a number")

    step("invoke the button")
    assert shell(sandbox, "cat ~/clicked.txt 2>/dev/null || true") == ""
    a11y.invoke_node(button.id)
    until("the click in ~/clicked.txt", lambda: shell(sandbox, "cat ~/clicked.txt 2>/dev/null || true") == "clicked")
    raises(DaytonaBadRequestError, lambda: a11y.invoke_node(button.id, action="dance"), "no action `dance`")

    step("focus the entry")
    a11y.focus_node(button.id)
    until("the button focused", lambda: "focused" in a11y.find_nodes(scope="all", role="push button").matches[0].states)
    a11y.focus_node(entry.id)
    until(
        "the entry focused",
        lambda: [node.id for node in a11y.find_nodes(scope="all", states=["focused"]).matches] == [entry.id],
    )

    step("unknown and malformed node ids")
    gone = entry.id.rsplit("/", 1)[0] + "/999999"
    raises(DaytonaNotFoundError, lambda: a11y.focus_node(gone), "accessibility node not found")
    raises(DaytonaNotFoundError, lambda: a11y.invoke_node(":1.9999:/org/a11y/atspi/accessible/1"), "not found")
    raises(DaytonaNotFoundError, lambda: a11y.set_node_value(gone, "x"), "not found")
    raises(DaytonaBadRequestError, lambda: a11y.focus_node("no-path"), "bus-name:object-path")

    step("a bus that is gone is Daytona's A11Y_UNAVAILABLE")
    shell(sandbox, "mv ~/.daytona/computeruse/bus.address ~/bus.address")
    raises(DaytonaA11yUnavailableError, a11y.get_tree, "accessibility bus not reachable", "stop and start")
    shell(sandbox, "mv ~/bus.address ~/.daytona/computeruse/bus.address")
    assert a11y.find_nodes(role="push button").matches

    step("stop ends the buses")
    computer.stop()
    until("no bus process left", lambda: not bus_processes(), seconds=20, detail=bus_processes)
    assert shell(sandbox, 'echo "$DBUS_SESSION_BUS_ADDRESS"').strip() == ""
    assert shell(sandbox, "ls -d /tmp/daytona-a11y.* 2>/dev/null || true") == ""
    raises(DaytonaBadRequestError, a11y.get_tree, "not started")

    step("deleting the sandbox ends them too")
    computer.start()
    assert bus_processes(), "no bus after the second start"
    sandbox.delete()
    until("no bus process left", lambda: not bus_processes(), seconds=20, detail=bus_processes)

    step("a sandbox whose python3 lacks PyGObject is told the package")
    params = CreateSandboxFromSnapshotParams(env_vars={"PYTHONPATH": "/tmp/no-gi"})
    bare = daytona.create(params, timeout=60)
    shell(bare, "mkdir -p /tmp/no-gi/gi && echo 'raise ImportError(\"no gi here\")' >/tmp/no-gi/gi/__init__.py")
    bare.computer_use.start()
    raises(
        DaytonaA11yUnavailableError,
        bare.computer_use.accessibility.get_tree,
        "`python3-gi` is not installed",
        "apt-get install python3-gi",
    )
    bare.delete()
    print("a11y: done", flush=True)


run_script(main)
