"""Drives `ralph-town mcp` with the official MCP Python SDK's stdio client.

Usage: mcp_client_test.py BINARY SCENARIO DIR

The server is spawned with this process's environment (the Rust test sets `RALPH_TOWN_HOME`,
`HOME` and the sentinel secrets) in DIR, where the Rust test wrote the team files. Every answer is
checked for the sentinel values, which must never appear in one, nor in the server's stderr.
Prints `mcp: done` at the end; any failed check raises.
"""

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile

from mcp import ClientSession, StdioServerParameters, stdio_client

TEAM_TOOLS = {
    "team_plan": ["file"],
    "team_up": ["file"],
    "team_status": ["file"],
    "team_down": ["file"],
}

SANDBOX_TOOLS = {
    "sandbox_create": [],
    "sandbox_ssh": ["sandbox"],
    "sandbox_list": [],
    "sandbox_exec": ["sandbox", "command"],
    "sandbox_delete": ["sandbox"],
    "sandbox_preflight": [],
    "sandbox_run": ["command"],
    "sandbox_env_list": ["sandbox"],
    "sandbox_env_set": ["sandbox"],
}

# The teammates-at-work tools, tested by `mcp_work_test.py`.
WORK_TOOLS = [
    "team_logs",
    "team_wait",
    "teammate_status",
    "teammate_restart",
    "teammate_exec",
    "teammate_read_file",
    "teammate_write_file",
    "teammate_edit_file",
    "teammate_list_files",
    "teammate_diff",
]

SENTINELS = [value for name, value in os.environ.items() if name.startswith("SENTINEL_")]


def check(condition, message):
    if not condition:
        raise AssertionError(message)


class Client:
    """A session plus the checks every answer must pass."""

    def __init__(self, session):
        self.session = session
        self.answers = []

    async def call(self, name, arguments, error=False):
        result = await self.session.call_tool(name, arguments)
        dump = json.dumps(
            {
                "content": [block.model_dump(mode="json") for block in result.content],
                "structured": result.structured_content,
            }
        )
        for sentinel in SENTINELS:
            check(sentinel not in dump, f"{name} answered with a secret value: {dump}")
        check(
            result.is_error == error,
            f"{name} {arguments}: is_error={result.is_error}, expected {error}: {dump}",
        )
        check(result.structured_content is not None, f"{name}: no structured content: {dump}")
        text = "\n".join(block.text for block in result.content if block.type == "text")
        self.answers.append(dump)
        print(f"mcp: {name} -> {'error' if result.is_error else 'ok'}", flush=True)
        return result.structured_content, text


def cli(binary, directory, *args):
    """Runs the CLI itself, for steps the tools under test do not cover."""
    output = subprocess.run(
        [binary, *args], cwd=directory, capture_output=True, text=True, env=os.environ
    )
    check(output.returncode == 0, f"{args}: {output.stdout}{output.stderr}")
    return output.stdout


async def check_tools(session, expected):
    listed = await session.list_tools()
    tools = {tool.name: tool for tool in listed.tools}
    check(set(expected) <= set(tools), f"missing tools: {set(expected) - set(tools)}")
    for name, required in expected.items():
        schema = tools[name].input_schema
        check(schema.get("type") == "object", f"{name}: schema {schema}")
        check(
            sorted(schema.get("required", [])) == sorted(required),
            f"{name}: required {schema.get('required')}, expected {required}",
        )
        check(tools[name].description, f"{name} has no description")
        for property_name, prop in schema.get("properties", {}).items():
            check(prop.get("description"), f"{name}.{property_name} has no description")
    return tools


async def team(client, binary, directory):
    tools = await check_tools(client.session, TEAM_TOOLS)
    up_properties = tools["team_up"].input_schema["properties"]
    for argument in ["confirm", "force", "prune", "only", "force_recreate", "no_setup"]:
        check(argument in up_properties, f"team_up has no `{argument}`")
    for argument in ["confirm", "force"]:
        check(argument in tools["team_down"].input_schema["properties"], f"team_down: `{argument}`")

    plan, text = await client.call("team_plan", {"file": "team.toml"})
    check(plan["has_changes"] and not plan["destructive"], plan)
    check([c["action"] for c in plan["plan"]["changes"]] == ["create", "create"], plan)
    check("+ alice" in text and "+ bob" in text, text)

    # A misspelt `only` name selects nothing silently no more.
    failed, text = await client.call("team_plan", {"file": "team.toml", "only": ["alcie"]}, error=True)
    check("alcie" in text and "did you mean `alice`" in text, text)

    up, text = await client.call("team_up", {"file": "team.toml"})
    check(up["ok"] and len(up["results"]) == 2, up)
    check(all(result["ok"] for result in up["results"]), up)

    status, text = await client.call("team_status", {"file": "team.toml"})
    rows = {row["teammate"]: row for row in status["teammates"]}
    check(sorted(rows) == ["alice", "bob"], status)
    check(all(row["state"] == "started" and row["setup"] == "ok" for row in rows.values()), status)
    check(rows["alice"]["sandbox_id"] in text, text)
    first_ids = {name: row["sandbox_id"] for name, row in rows.items()}

    plan, _ = await client.call("team_plan", {"file": "team.toml"})
    check(not plan["has_changes"], plan)

    # Deleting the team needs `confirm`; without it, nothing is deleted.
    refused, text = await client.call("team_down", {"file": "team.toml"}, error=True)
    check("`confirm: true`" in text and first_ids["alice"] in text, text)
    check(refused["code"] == "run::refused", refused)

    # Unsaved work in alice's clone: `team_down` refuses and deletes nothing.
    cli(binary, directory, "exec", "alice", "--", "sh", "-c", "echo draft > notes-in-progress.txt")
    refused, text = await client.call("team_down", {"file": "team.toml", "confirm": True}, error=True)
    check("notes-in-progress.txt" in text, text)
    check("`force: true`" in text, text)
    status, _ = await client.call("team_status", {"file": "team.toml"})
    check({row["teammate"]: row["sandbox_id"] for row in status["teammates"]} == first_ids, status)

    # A changed branch recreates bob: refused without `confirm`, nothing changes.
    with open(os.path.join(directory, "team.toml")) as file:
        team_text = file.read()
    with open(os.path.join(directory, "team.toml"), "w") as file:
        file.write(team_text.replace("feature/new", "feature/renamed"))
    refused, text = await client.call("team_up", {"file": "team.toml"}, error=True)
    check("`confirm: true`" in text, text)
    check("-/+ bob" in text, text)
    check(refused["plan"]["summary"]["recreate"] == 1, refused)
    status, _ = await client.call("team_status", {"file": "team.toml"})
    check({row["teammate"]: row["sandbox_id"] for row in status["teammates"]} == first_ids, status)

    up, text = await client.call("team_up", {"file": "team.toml", "confirm": True})
    check(up["ok"], up)
    check([(r["teammate"], r["action"]) for r in up["results"]] == [("bob", "recreate")], up)
    status, _ = await client.call("team_status", {"file": "team.toml"})
    rows = {row["teammate"]: row for row in status["teammates"]}
    check(rows["alice"]["sandbox_id"] == first_ids["alice"], status)
    check(rows["bob"]["sandbox_id"] != first_ids["bob"], status)
    check(rows["bob"]["branch"] == "feature/renamed", status)

    down, text = await client.call("team_down", {"file": "team.toml", "confirm": True, "force": True})
    check(down["ok"] and len(down["removed"]) == 2, down)
    status, _ = await client.call("team_status", {"file": "team.toml"})
    check(all(row["state"] == "missing" for row in status["teammates"]), status)

    # A bad team file is a tool error carrying the diagnostic: what, where, and a suggestion.
    bad, text = await client.call("team_plan", {"file": "bad.toml"}, error=True)
    check("brnach" in text and "bad.toml" in text, text)
    check("branch" in (bad.get("help") or "") or "branch" in text, bad)
    missing, text = await client.call("team_status", {"file": "no-such-team.toml"}, error=True)
    check("no-such-team.toml" in text, text)

    # A secret missing on the host stops `team_up` before anything is created.
    missing, text = await client.call("team_up", {"file": "needs-secret.toml"}, error=True)
    check("NOT_SET_ON_THE_HOST" in text, text)


async def sandboxes(client, binary, directory):
    tools = await check_tools(client.session, {**TEAM_TOOLS, **SANDBOX_TOOLS})
    check(
        set(tools) == set(TEAM_TOOLS) | set(SANDBOX_TOOLS) | set(WORK_TOOLS),
        f"unexpected tools: {sorted(tools)}",
    )
    check("provider" in tools["sandbox_exec"].input_schema["properties"], "no `provider`")
    secret = os.environ["SENTINEL_SANDBOX"]
    origin = os.environ["ORIGIN"]

    # Every `env` entry is kept, values with `=` included, in either form.
    created, text = await client.call(
        "sandbox_create",
        {"name": "solo", "env": ["PLAIN=one", "SECOND=two=2", f"API_TOKEN={secret}"]},
    )
    sandbox = created["sandbox"]["id"]
    check(created["sandbox"]["state"] == "started", created)
    check(sandbox in text, text)
    check(any("API_TOKEN" in warning for warning in created["warnings"]), created)
    other, _ = await client.call(
        "sandbox_create", {"provider": "local", "env": {"FIRST": "a", "OTHER": "b"}}
    )
    other = other["sandbox"]["id"]

    listed, text = await client.call("sandbox_list", {})
    ids = [entry["id"] for entry in listed["sandboxes"]]
    check(sandbox in ids and other in ids, listed)

    ran, text = await client.call(
        "sandbox_exec", {"sandbox": sandbox, "command": 'echo "$PLAIN/$SECOND"'}
    )
    check(ran["exit_code"] == 0 and ran["output"] == "one/two=2\n", ran)
    check("one/two=2" in text, text)
    ran, _ = await client.call("sandbox_exec", {"sandbox": other, "command": 'echo "$FIRST$OTHER"'})
    check(ran["output"] == "ab\n", ran)
    ran, _ = await client.call(
        "sandbox_exec",
        {"sandbox": sandbox, "command": 'echo "$ONE $TWO"', "env": ["ONE=1", "TWO=2"]},
    )
    check(ran["output"] == "1 2\n", ran)

    # A failing command is a tool error that still carries its output and exit code.
    failed, text = await client.call(
        "sandbox_exec",
        {"sandbox": sandbox, "command": "echo out; echo err >&2; exit 3"},
        error=True,
    )
    check(failed["exit_code"] == 3, failed)
    check("out" in failed["output"] and "err" in failed["output"], failed)
    check("exit code 3" in text and "out" in text, text)

    changed, text = await client.call(
        "sandbox_env_set",
        {"sandbox": sandbox, "env": {"LATER": "three", "DB_PASSWORD": secret}, "unset": ["PLAIN"]},
    )
    check(changed["set"] == ["DB_PASSWORD", "LATER"] and changed["unset"] == ["PLAIN"], changed)
    listing, text = await client.call("sandbox_env_list", {"sandbox": sandbox})
    env = listing["env"]
    check(env.get("LATER") == "three" and env.get("SECOND") == "two=2", listing)
    check("PLAIN" not in env, listing)
    check(env.get("API_TOKEN") == "<redacted>" and env.get("DB_PASSWORD") == "<redacted>", listing)
    ran, _ = await client.call("sandbox_exec", {"sandbox": sandbox, "command": 'echo "$LATER"'})
    check(ran["output"] == "three\n", ran)

    access, text = await client.call("sandbox_ssh", {"sandbox": sandbox})
    check(access["kind"] == "local" and access["sandbox_id"] == sandbox, access)
    check(access["argv"][:3] == ["ralph-town", "sandbox", "ssh"] and sandbox in access["argv"], access)
    check(access["command"] in text, text)

    report, text = await client.call(
        "sandbox_run",
        {
            "command": "git rev-parse --abbrev-ref HEAD && cat branch.txt",
            "repo": origin,
            "branch": "feature/existing",
        },
    )
    check(report["exit_code"] == 0 and report["deleted"], report)
    check(report["output"].split() == ["feature/existing", "feature/existing"], report)
    report, text = await client.call("sandbox_run", {"command": "echo gone; exit 7"}, error=True)
    check(report["exit_code"] == 7 and "gone" in report["output"] and report["deleted"], report)

    report, text = await client.call("sandbox_preflight", {"tools": ["/usr/bin/git"]})
    check(report["passed"] and report["deleted"], report)
    check(report["tools"] == [{"path": "/usr/bin/git", "found": True}], report)
    report, text = await client.call(
        "sandbox_preflight", {"tools": ["/usr/bin/git", "/no/such/tool"]}, error=True
    )
    check(not report["passed"] and "/no/such/tool" in text, report)

    # Error paths: tool errors with the reason, never protocol errors.
    failed, text = await client.call(
        "sandbox_exec", {"sandbox": "no-such-sandbox", "command": "true"}, error=True
    )
    check("no-such-sandbox" in text, text)
    failed, text = await client.call(
        "sandbox_create", {"env": ["NO_EQUALS_SIGN"]}, error=True
    )
    check("`=`" in text, text)
    failed, text = await client.call(
        "sandbox_preflight", {"tools": ["git"]}, error=True
    )
    check("full path" in text, text)

    for victim in [sandbox, other]:
        deleted, text = await client.call("sandbox_delete", {"sandbox": victim})
        check(deleted["deleted"], deleted)
    listed, _ = await client.call("sandbox_list", {})
    check(listed["sandboxes"] == [], listed)
    failed, text = await client.call("sandbox_delete", {"sandbox": sandbox}, error=True)
    check(sandbox in text, text)


async def daytona(client, binary, directory):
    """The same tools through the `daytona` provider (`RALPH_TOWN_PROVIDER=daytona`)."""
    await check_tools(client.session, {**TEAM_TOOLS, **SANDBOX_TOOLS})
    created, _ = await client.call("sandbox_create", {"env": {"A": "1", "B": "2"}})
    sandbox = created["sandbox"]["id"]
    ran, _ = await client.call("sandbox_exec", {"sandbox": sandbox, "command": 'echo "$A$B"'})
    check(ran["output"] == "12\n" and ran["via"] == "exec", ran)
    failed, text = await client.call(
        "sandbox_exec", {"sandbox": sandbox, "command": "echo no; exit 4"}, error=True
    )
    check(failed["exit_code"] == 4 and "no" in failed["output"], failed)

    # Usable credentials: the token, the command that uses it, and when it expires.
    access, text = await client.call("sandbox_ssh", {"sandbox": sandbox, "expires_in_minutes": 5})
    check(access["kind"] == "ssh" and access["token"], access)
    check(access["token"] in access["command"] and access["command"] in text, access)
    check(access["expires_at"] > created["sandbox"]["created_at"], access)

    await client.call("sandbox_env_set", {"sandbox": sandbox, "env": ["LATER=3"]})
    listing, _ = await client.call("sandbox_env_list", {"sandbox": sandbox})
    check(listing["env"].get("LATER") == "3", listing)

    listed, _ = await client.call("sandbox_list", {"provider": "daytona"})
    check(sandbox in [entry["id"] for entry in listed["sandboxes"]], listed)
    await client.call("sandbox_delete", {"sandbox": sandbox})
    failed, text = await client.call("sandbox_exec", {"sandbox": sandbox, "command": "true"}, error=True)
    check(sandbox in text, text)

    plan, _ = await client.call("team_plan", {"file": "team.toml"})
    check(plan["provider"] == "daytona" and plan["plan"]["summary"]["create"] == 1, plan)
    up, _ = await client.call("team_up", {"file": "team.toml"})
    check(up["ok"], up)
    status, _ = await client.call("team_status", {"file": "team.toml"})
    check([(r["teammate"], r["state"], r["setup"]) for r in status["teammates"]] == [("alice", "started", "ok")], status)
    down, _ = await client.call("team_down", {"file": "team.toml", "confirm": True})
    check(down["ok"] and len(down["removed"]) == 1, down)


def expand(text):
    """`${NAME}` and `${NAME:-default}` from this environment, as MCP clients expand them."""
    return re.sub(
        r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}",
        lambda match: os.environ.get(match.group(1)) or (match.group(2) or ""),
        text,
    )


def example_server(directory):
    """The server as `examples/mcp.json` configures it, found on `PATH` as a client finds it."""
    with open(os.environ["EXAMPLE_CONFIG"]) as file:
        config = json.load(file)["mcpServers"]["ralph-town"]
    check(config["command"] == "ralph-town" and config["args"] == ["mcp"], config)
    env = {name: expand(value) for name, value in config.get("env", {}).items()}
    check(env["RALPH_TOWN_PROVIDER"] == "local", env)
    return StdioServerParameters(
        command=config["command"],
        args=config["args"],
        env={**os.environ, **env},
        cwd=directory,
    )


async def example(client, binary, directory):
    await check_tools(client.session, {**TEAM_TOOLS, **SANDBOX_TOOLS})
    created, _ = await client.call("sandbox_create", {})
    listed, _ = await client.call("sandbox_list", {})
    check([entry["id"] for entry in listed["sandboxes"]] == [created["sandbox"]["id"]], listed)
    await client.call("sandbox_delete", {"sandbox": created["sandbox"]["id"]})


async def pathological(client, binary, directory):
    """Team files that once crashed or flooded the server each get an error answer, in time."""
    for name, code in [
        ("wide.toml", "team::unknown_key"),
        ("many.toml", None),
        ("huge.toml", "team::too_large"),
    ]:
        answer, text = await asyncio.wait_for(
            client.call("team_plan", {"file": name}, error=True), timeout=60
        )
        check(answer["code"] == code, f"{name}: {answer}")
        check(len(text) < 300_000, f"{name}: an answer of {len(text)} characters")
    check("500 problems" in client.answers[1], client.answers[1][:2000])
    check("450 more not listed" in client.answers[1], client.answers[1][:2000])
    # The server is still there.
    await check_tools(client.session, TEAM_TOOLS)


async def main():
    binary, scenario, directory = sys.argv[1:4]
    if scenario == "example":
        server = example_server(directory)
    else:
        server = StdioServerParameters(
            command=binary, args=["mcp"], env=dict(os.environ), cwd=directory
        )
    with tempfile.TemporaryFile(mode="w+") as errlog:
        try:
            async with stdio_client(server, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    initialized = await session.initialize()
                    check(initialized.server_info.name == "ralph-town", initialized)
                    check(initialized.capabilities.tools is not None, initialized)
                    client = Client(session)
                    await {
                        "team": team,
                        "sandboxes": sandboxes,
                        "daytona": daytona,
                        "example": example,
                        "pathological": pathological,
                    }[scenario](client, binary, directory)
        finally:
            errlog.seek(0)
            log = errlog.read()
            sys.stderr.write(log)
        for sentinel in SENTINELS:
            check(sentinel not in log, "the server logged a secret value")
    print("mcp: done", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
