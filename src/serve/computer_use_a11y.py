"""The accessibility routes of computer use, run inside the sandbox by `computer_use_a11y.rs`.

Speaks AT-SPI's D-Bus protocol directly through Gio (python3-gi), as Daytona's daemon does
through godbus: the bus address comes from the session bus (`org.a11y.Bus.GetAddress`), and node
ids are `bus-name:object-path`. Reads one request from the `DAYTONA_A11Y_REQUEST` environment
variable (`{"op": "tree"|"find"|"focus"|"invoke"|"value", ...}`) and prints one JSON line:
`{"status": 200, "body": ...}`, `{"status": 400|404|500|503, "error": "..."}`, or
`{"status": 503, "missing": "launcher"|"python3-gi"}` for a program the sandbox lacks (the
server names its package). It changes nothing but the node it is asked to act on.
"""

import json
import os
import re
import sys

try:
    from gi.repository import Gio, GLib
except ImportError:
    # A `python3` first on PATH without the system's PyGObject (a virtualenv, pyenv).
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3", "-c", os.environ["DAYTONA_A11Y_SCRIPT"]])
    print(json.dumps({"status": 503, "missing": "python3-gi"}))
    sys.exit(0)

REGISTRY = "org.a11y.atspi.Registry"
ROOT = "/org/a11y/atspi/accessible/root"
ACCESSIBLE = "org.a11y.atspi.Accessible"
COMPONENT = "org.a11y.atspi.Component"
ACTION = "org.a11y.atspi.Action"
EDITABLE_TEXT = "org.a11y.atspi.EditableText"
VALUE = "org.a11y.atspi.Value"
# Generous for a loaded machine, short of the route's own time limit.
TIMEOUT_MS = 10000
WALK_BUDGET = 20000
FIND_DEFAULT_LIMIT = 500
FIND_CEILING_LIMIT = 5000
STATE_ACTIVE = 1
# AT-SPI's StateType by bit index (at-spi2-core `xml/Registry.xml`), in Daytona's spelling.
STATES = [
    "invalid", "active", "armed", "busy", "checked", "collapsed", "defunct", "editable",
    "enabled", "expandable", "expanded", "focusable", "focused", "has_tooltip", "horizontal",
    "iconified", "modal", "multi_line", "multiselectable", "opaque", "pressed", "resizable",
    "selectable", "selected", "sensitive", "showing", "single_line", "stale", "transient",
    "vertical", "visible", "manages_descendants", "indeterminate", "required", "truncated",
    "animated", "invalid_entry", "supports_autocompletion", "selectable_text", "is_default",
    "visited", "checkable", "has_popup", "read_only",
]
GONE = {
    # The application left the bus while the call waited (it exited or crashed).
    "org.freedesktop.DBus.Error.NoReply",
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
    "org.freedesktop.DBus.Error.UnknownObject",
}
UNSUPPORTED = {
    "org.freedesktop.DBus.Error.UnknownMethod",
    "org.freedesktop.DBus.Error.UnknownInterface",
    "org.freedesktop.DBus.Error.UnknownProperty",
    "org.freedesktop.DBus.Error.NotSupported",
}


class Failure(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Missing(Exception):
    """A program the sandbox lacks, by the name the server knows it."""


def log_tail():
    try:
        with open(os.environ.get("DAYTONA_A11Y_LOG", ""), encoding="utf-8", errors="replace") as log:
            return " ".join(log.read().split("\n")[-5:]).strip() or "no error was logged"
    except OSError:
        return "no error was logged"


def not_found(node_id):
    return Failure(404, f"accessibility node not found: {node_id}")


def not_supported(detail):
    return Failure(400, f"action not supported by node: {detail}")


def classify(error, node_id):
    """A D-Bus error as the daemon answers it: a node that is gone is 404, an interface it
    lacks is 400, anything else 500."""
    name = Gio.DBusError.get_remote_error(error) or ""
    if name in GONE:
        return not_found(node_id)
    if name in UNSUPPORTED:
        return not_supported(Gio.DBusError.strip_remote_error(error) or error.message)
    return Failure(500, error.message)


class Bus:
    def __init__(self, connection):
        self.connection = connection
        # Applications that let a call time out in this request: asked nothing more, so that
        # one hung program costs one timeout, not one per node.
        self.unresponsive = set()

    def call(self, sender, path, interface, method, args, reply, node_id=None):
        if sender in self.unresponsive:
            raise Failure(500, f"application {sender} does not answer on the accessibility bus")
        try:
            return self.connection.call_sync(
                sender, path, interface, method, args,
                GLib.VariantType.new(reply) if reply else None,
                Gio.DBusCallFlags.NONE, TIMEOUT_MS, None,
            ).unpack()
        except GLib.Error as error:
            if error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.TIMED_OUT):
                self.unresponsive.add(sender)
            failure = classify(error, node_id or f"{sender}:{path}")
            if sender == REGISTRY and failure.status in (404, 500):
                # The registry is the bus's own: without it no node can be found at all.
                failure = Failure(503, f"accessibility registry not running: {error.message}: {log_tail()}")
            raise failure from None

    def prop(self, sender, path, interface, name):
        (value,) = self.call(sender, path, "org.freedesktop.DBus.Properties", "Get",
                             GLib.Variant("(ss)", (interface, name)), "(v)")
        return value


def connect():
    """The AT-SPI bus, found as every client finds it: the session bus's `org.a11y.Bus`."""
    unreachable = "accessibility bus not reachable"
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        if not os.environ.get("DAYTONA_A11Y_LAUNCHER"):
            raise Missing("launcher")
        raise Failure(503, f"{unreachable}: the session bus did not start with the display "
                      f"(stop and start computer use): {log_tail()}")
    try:
        session = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        (address,) = session.call_sync(
            "org.a11y.Bus", "/org/a11y/bus", "org.a11y.Bus", "GetAddress", None,
            GLib.VariantType.new("(s)"), Gio.DBusCallFlags.NONE, TIMEOUT_MS, None,
        ).unpack()
        flags = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
                 | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)
        return Bus(Gio.DBusConnection.new_for_address_sync(address, flags, None, None))
    except GLib.Error as error:
        raise Failure(503, f"{unreachable}: {error.message}") from None


def parse_id(node_id):
    """`bus-name:object-path`: the separator is the `:` just before the path's first `/`."""
    if not isinstance(node_id, str) or not node_id:
        raise Failure(400, "invalid accessibility request: `id` is required")
    slash = node_id.find("/")
    if slash <= 1 or node_id[slash - 1] != ":":
        raise Failure(400, f"invalid accessibility request: node id `{node_id}` is not `bus-name:object-path`")
    sender, path = node_id[:slash - 1], node_id[slash:]
    if not Gio.dbus_is_name(sender) or not GLib.Variant.is_object_path(path):
        raise Failure(400, f"invalid accessibility request: node id `{node_id}` is not `bus-name:object-path`")
    return sender, path


def children(bus, sender, path):
    (refs,) = bus.call(sender, path, ACCESSIBLE, "GetChildren", None, "(a(so))")
    return refs


def state_names(bits):
    return [name for index, name in enumerate(STATES)
            if index // 32 < len(bits) and bits[index // 32] & (1 << (index % 32))]


def action_names(bus, sender, path):
    count = bus.prop(sender, path, ACTION, "NActions")
    return [bus.call(sender, path, ACTION, "GetName", GLib.Variant("(i)", (i,)), "(s)")[0]
            for i in range(max(count, 0))]


def node(bus, sender, path):
    """A node's fields but its children; optional parts a node does not offer are left empty."""
    (role,) = bus.call(sender, path, ACCESSIBLE, "GetRoleName", None, "(s)")
    result = {"id": f"{sender}:{path}", "role": role, "name": "", "description": "",
              "bounds": {"x": 0, "y": 0, "width": 0, "height": 0}, "states": [], "actions": []}
    for field, prop in (("name", "Name"), ("description", "Description")):
        try:
            result[field] = bus.prop(sender, path, ACCESSIBLE, prop) or ""
        except Failure:
            pass
    try:
        result["states"] = state_names(bus.call(sender, path, ACCESSIBLE, "GetState", None, "(au)")[0])
    except Failure:
        pass
    try:
        (interfaces,) = bus.call(sender, path, ACCESSIBLE, "GetInterfaces", None, "(as)")
    except Failure:
        interfaces = []
    if COMPONENT in interfaces:
        try:
            x, y, width, height = bus.call(sender, path, COMPONENT, "GetExtents",
                                           GLib.Variant("(u)", (0,)), "((iiii))")[0]
            result["bounds"] = {"x": x, "y": y, "width": width, "height": height}
        except Failure:
            pass
    if ACTION in interfaces:
        try:
            result["actions"] = action_names(bus, sender, path)
        except Failure:
            pass
    return result


def scope_root(bus, request):
    scope = str(request.get("scope") or "focused").strip().lower()
    if scope == "all":
        return REGISTRY, ROOT
    apps = children(bus, REGISTRY, ROOT)
    if scope == "focused":
        if not apps:
            raise Failure(404, "no accessible root for focused window: no application is registered on the accessibility bus")
        for app in apps:
            try:
                for window in children(bus, *app):
                    bits = bus.call(*window, ACCESSIBLE, "GetState", None, "(au)")[0]
                    if bits and bits[0] & (1 << STATE_ACTIVE):
                        return app
            except Failure:
                continue
        return apps[0]
    if scope == "pid":
        pid = request.get("pid")
        if not isinstance(pid, int) or pid <= 0:
            raise Failure(400, "invalid accessibility request: pid must be positive when scope is pid")
        for app in apps:
            try:
                (app_pid,) = bus.call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                      "org.freedesktop.DBus", "GetConnectionUnixProcessID",
                                      GLib.Variant("(s)", (app[0],)), "(u)")
            except Failure:
                continue
            if app_pid == pid:
                return app
        raise Failure(404, f"no accessible root for focused window: no application with pid {pid} is registered on the accessibility bus")
    raise Failure(400, f"invalid accessibility scope: got `{scope}`, expected focused|pid|all")


def walk(bus, sender, path, depth, budget, visit):
    """Depth first from (sender, path): `visit(node)` returns False to stop. A child that goes
    away mid-walk, or whose application does not answer, is skipped (a hung program must not
    hide every other one's nodes); `budget` (a one-element list) bounds the nodes read."""
    budget[0] -= 1
    current = node(bus, sender, path)
    if not visit(current, depth) or depth == 0:
        return current
    try:
        refs = children(bus, sender, path)
    except Failure as failure:
        if failure.status == 404:
            return current
        raise
    kids = []
    for child_sender, child_path in refs:
        if budget[0] <= 0:
            break
        try:
            kids.append(walk(bus, child_sender, child_path, depth - 1 if depth > 0 else depth, budget, visit))
        except Failure as failure:
            if failure.status != 404 and child_sender not in bus.unresponsive:
                raise
    if kids:
        current["children"] = kids
    return current


def tree(bus, request):
    depth = request.get("maxDepth", -1)
    if not isinstance(depth, int):
        raise Failure(400, "invalid accessibility request: maxDepth must be an integer")
    budget = [WALK_BUDGET]
    root = walk(bus, *scope_root(bus, request), depth, budget, lambda _node, _depth: True)
    return {"root": root, "truncated": budget[0] <= 0}


def matcher(request):
    role = str(request.get("role") or "").lower()
    name = request.get("name") or ""
    mode = request.get("nameMatch") or "substring"
    states = request.get("states") or []
    if mode not in ("exact", "substring", "regex"):
        raise Failure(400, f"invalid accessibility request: unknown nameMatch mode `{mode}`, want exact|substring|regex")
    pattern = None
    if name and mode == "regex":
        try:
            pattern = re.compile(name)
        except re.error as error:
            raise Failure(400, f"invalid accessibility request: invalid regex for name filter: {error}") from None

    def matches(candidate):
        if role and candidate["role"].lower() != role:
            return False
        if name and not ((mode == "exact" and candidate["name"] == name)
                         or (mode == "substring" and name in candidate["name"])
                         or (pattern is not None and pattern.search(candidate["name"]))):
            return False
        return all(state in candidate["states"] for state in states)

    return matches


def find(bus, request):
    matches = matcher(request)
    limit = request.get("limit") or 0
    limit = FIND_DEFAULT_LIMIT if limit <= 0 else min(limit, FIND_CEILING_LIMIT)
    found = []

    budget = [WALK_BUDGET]

    def visit(candidate, _depth):
        if matches(candidate):
            found.append({key: value for key, value in candidate.items() if key != "children"})
        if len(found) >= limit:
            budget[0] = 0  # the walk stops here
        return budget[0] > 0

    walk(bus, *scope_root(bus, request), -1, budget, visit)
    return {"matches": found, "truncated": budget[0] <= 0}


def focus(bus, request):
    sender, path = parse_id(request.get("id"))
    (done,) = bus.call(sender, path, COMPONENT, "GrabFocus", None, "(b)")
    if not done:
        raise not_supported(f"`{request['id']}` refused the focus")
    return {}


def invoke(bus, request):
    sender, path = parse_id(request.get("id"))
    node(bus, sender, path)  # 404 for a node that is not there, before its actions
    actions = action_names(bus, sender, path)
    wanted = request.get("action") or ""
    if not actions:
        raise not_supported(f"`{request['id']}` has no actions")
    index = 0 if not wanted else next(
        (i for i, action in enumerate(actions) if action.lower() == wanted.lower()), -1)
    if index < 0:
        raise not_supported(f"`{request['id']}` has no action `{wanted}` (it has: {', '.join(actions)})")
    (done,) = bus.call(sender, path, ACTION, "DoAction", GLib.Variant("(i)", (index,)), "(b)")
    if not done:
        raise not_supported(f"DoAction({index}) returned false")
    return {}


def set_value(bus, request):
    sender, path = parse_id(request.get("id"))
    value = request.get("value") or ""
    node(bus, sender, path)  # 404 for a node that is not there
    try:
        # Toolkits answer false although they changed the text: the call succeeding is enough.
        bus.call(sender, path, EDITABLE_TEXT, "SetTextContents", GLib.Variant("(s)", (value,)), "(b)")
        return {}
    except Failure as failure:
        if failure.status != 400:
            raise
    try:
        number = float(value)
    except ValueError:
        raise not_supported(f"`{request['id']}` has no editable text and `{value}` is not a number") from None
    bus.call(sender, path, "org.freedesktop.DBus.Properties", "Set",
             GLib.Variant("(ssv)", (VALUE, "CurrentValue", GLib.Variant("d", number))), None)
    return {}


OPERATIONS = {"tree": tree, "find": find, "focus": focus, "invoke": invoke, "value": set_value}


def main():
    try:
        request = json.loads(os.environ.get("DAYTONA_A11Y_REQUEST", "{}"))
        body = OPERATIONS[request["op"]](connect(), request)
        print(json.dumps({"status": 200, "body": body}))
    except Failure as failure:
        print(json.dumps({"status": failure.status, "error": str(failure)}))
    except Missing as missing:
        print(json.dumps({"status": 503, "missing": str(missing)}))
    except Exception as error:  # noqa: BLE001 - the route answers 500 with it, not a traceback
        print(json.dumps({"status": 500, "error": f"accessibility query failed: {error!r}"}))


main()
