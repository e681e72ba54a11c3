"""Drives the teammates-at-work tools of `ralph-town mcp` with the official MCP Python SDK.

Usage: mcp_work_test.py BINARY DIR

The Rust test (`tests/mcp_work.rs`) wrote DIR/team.toml (two teammates with a command and the
secret `GH_TOKEN`) and ran `up`; this script watches and steers the team through the tools.
Every answer is checked for the sentinel secret values, which must never appear in one, nor in
the server's stderr. Prints `mcp: done` at the end; any failed check raises.
"""

import asyncio
import os
import sys
import tempfile

from mcp import ClientSession, StdioServerParameters, stdio_client

# The checked call (no secret in any answer, the expected error flag) of the team tools' test.
from mcp_client_test import SENTINELS, Client, check

WORK_TOOLS = {
    "team_logs": ["file"],
    "team_wait": ["file"],
    "teammate_status": ["file", "teammate"],
    "teammate_restart": ["file", "teammate"],
    "teammate_exec": ["file", "teammate", "command"],
    "teammate_read_file": ["file", "teammate", "path"],
    "teammate_write_file": ["file", "teammate", "path", "content"],
    "teammate_edit_file": ["file", "teammate", "path", "old_text", "new_text"],
    "teammate_list_files": ["file", "teammate"],
    "teammate_diff": ["file", "teammate"],
}

async def work(session):
    client = Client(session)
    listed = await session.list_tools()
    tools = {tool.name: tool for tool in listed.tools}
    for name, required in WORK_TOOLS.items():
        check(name in tools, f"missing tool {name}")
        schema = tools[name].input_schema
        check(sorted(schema.get("required", [])) == sorted(required), f"{name}: {schema}")
        for prop_name, prop in schema.get("properties", {}).items():
            check(prop.get("description"), f"{name}.{prop_name} has no description")

    file = {"file": "team.toml"}
    waited, text = await client.call("team_wait", {**file, "timeout_seconds": 120}, error=True)
    codes = {
        entry["teammate"]: [run["exit_code"] for run in entry["command"]["runs"]]
        for entry in waited["teammates"]
    }
    check(codes == {"alice": [0], "bob": [5]}, waited)
    check(not waited["ok"] and not waited["timed_out"], waited)
    waited, _ = await client.call("team_wait", {**file, "teammates": ["alice"]})
    check(waited["ok"], waited)

    logs, text = await client.call("team_logs", {**file, "tail": 50})
    lines = [(line["teammate"], line["line"]) for line in logs["lines"]]
    check(("alice", "alice wrote the note") in lines, lines)
    check(("bob", "bob gives up") in lines, lines)
    check("<secret>" in text, text)  # the command echoed its secret; the answer hides it

    status, text = await client.call("teammate_status", {**file, "teammate": "alice"})
    check(status["command"]["state"] == "exited", status)
    check(status["work"]["ahead"] == 1 and status["work"]["dirty"] == 0, status)
    check(status["work"]["last_commit"] == "alice: note", status)

    # A teammate that declares no command has no command state (not "not started"), only work.
    status, text = await client.call("teammate_status", {**file, "teammate": "dave"})
    check(status["command"] is None, status)
    check(status["work"]["ahead"] == 0, status)
    check(text.startswith("dave: no command"), text)

    # Files of the workdir, and nothing outside it.
    alice = {**file, "teammate": "alice"}
    read, text = await client.call("teammate_read_file", {**alice, "path": "note.txt"})
    check(read["content"] == "a note\n", read)
    await client.call("teammate_write_file", {**alice, "path": "docs/plan.md", "content": "one\ntwo\n"})
    await client.call("teammate_edit_file", {**alice, "path": "docs/plan.md", "old_text": "two", "new_text": "three"})
    read, _ = await client.call("teammate_read_file", {**alice, "path": "docs/plan.md"})
    check(read["content"] == "one\nthree\n", read)
    _, text = await client.call("teammate_edit_file", {**alice, "path": "docs/plan.md", "old_text": "e", "new_text": "E"}, error=True
    )
    check("not exactly once" in text, text)
    _, text = await client.call("teammate_edit_file", {**alice, "path": "docs/plan.md", "old_text": "absent", "new_text": "x"}, error=True
    )
    check("0 times" in text, text)
    read, _ = await client.call("teammate_read_file", {**alice, "path": "docs/plan.md"})
    check(read["content"] == "one\nthree\n", read)
    for path in ["../outside.txt", "/etc/passwd", "docs/../../x"]:
        _, text = await client.call("teammate_read_file", {**alice, "path": path}, error=True)
        check("outside the teammate's workdir" in text, text)
        await client.call("teammate_write_file", {**alice, "path": path, "content": "x"}, error=True)
    listing, _ = await client.call("teammate_list_files", {**alice})
    check("f note.txt" in listing["entries"] and "d docs" in listing["entries"], listing)
    check(not any(".git" in entry for entry in listing["entries"]), listing)

    executed, _ = await client.call("teammate_exec", {**alice, "command": "git status --porcelain; pwd"})
    check("?? docs/" in executed["output"], executed)
    check(executed["exit_code"] == 0, executed)
    failed, _ = await client.call("teammate_exec", {**alice, "command": "exit 9"}, error=True)
    check(failed["exit_code"] == 9, failed)

    diff, text = await client.call("teammate_diff", {**alice})
    check("note.txt" in text and "+a note" in text, text)

    restarted, _ = await client.call("teammate_restart", {**file, "teammate": "bob"})
    check(restarted["action"] == "started", restarted)
    waited, _ = await client.call("team_wait", {**file, "teammates": ["bob"], "timeout_seconds": 120}, error=True)
    check([run["exit_code"] for run in waited["teammates"][0]["command"]["runs"]] == [5], waited)

    _, text = await client.call("teammate_status", {**file, "teammate": "carol"}, error=True)
    check("no teammate `carol`" in text, text)


async def main():
    binary, directory = sys.argv[1:3]
    server = StdioServerParameters(command=binary, args=["mcp"], env=dict(os.environ), cwd=directory)
    with tempfile.TemporaryFile(mode="w+") as errlog:
        try:
            async with stdio_client(server, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    await work(session)
        finally:
            errlog.seek(0)
            log = errlog.read()
            sys.stderr.write(log)
        for sentinel in SENTINELS:
            check(sentinel not in log, "the server logged a secret value")
    print("mcp: done", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
