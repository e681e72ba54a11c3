"""Whole journeys of a sandbox's life with the official Python SDK's async client
(`AsyncDaytona`), as Daytona's guides walk them, against `ralph-town serve`: one journey or one
regression case per run (`SWEEP_CASE`), run by `tests/serve_sdk_journeys.rs`. Each step asserts
what the SDK returns or raises; the script prints `journeys: done` at the end.
"""

import asyncio
import os
import uuid

from daytona import (
    AsyncDaytona,
    CreateSandboxFromImageParams,
    CreateSandboxFromSnapshotParams,
    DaytonaConfig,
    Image,
    SessionExecuteRequest,
)
from daytona.common.errors import DaytonaCommandAlreadyCompletedError, DaytonaSessionEndedError

from sdk_script import run_script, stepper

step = stepper("journeys")


def async_client():
    """The async client of the server under test."""
    return AsyncDaytona(
        DaytonaConfig(api_key=os.environ["DAYTONA_API_KEY"], api_url=os.environ["DAYTONA_API_URL"])
    )


async def shell(sandbox, command):
    """The output of `command` in `sandbox`, which must exit 0."""
    reply = await sandbox.process.exec(command)
    assert reply.exit_code == 0, (command, reply.result)
    return reply.result


def app_image(run):
    """An image a guide would write: a base, an environment, a working directory and a step
    that leaves files in it and outside the home."""
    return (
        Image.base("python:3.12-slim")
        .env({"APP_MODE": f"mode-{run}"})
        .workdir("/home/daytona/app")
        .run_commands(
            f"mkdir -p /home/daytona/app /opt/app-{run}",
            f"echo seed-{run} > /home/daytona/app/seed.txt",
            f"echo tool-{run} > /opt/app-{run}/tool.txt",
        )
    )


async def image_kept_by_snapshot(daytona):
    run = uuid.uuid4().hex[:8]
    step("a sandbox from an image, then a snapshot of it")
    source = await daytona.create(CreateSandboxFromImageParams(image=app_image(run)), timeout=180)
    await source.fs.upload_file(f"notes-{run}\n".encode(), "notes.txt")
    await source.create_snapshot(f"journey-{run}")
    step("a sandbox from that snapshot has the image's environment, directory and files")
    copy = await daytona.create(CreateSandboxFromSnapshotParams(snapshot=f"journey-{run}"))
    assert await copy.get_work_dir() == "/home/daytona/app"
    seen = await shell(copy, f"pwd; echo $APP_MODE; cat notes.txt seed.txt /opt/app-{run}/tool.txt")
    assert seen.split() == [
        "/home/daytona/app",
        f"mode-{run}",
        f"notes-{run}",
        f"seed-{run}",
        f"tool-{run}",
    ], seen
    for sandbox in (copy, source):
        await sandbox.delete()
    await daytona.snapshot.delete(await daytona.snapshot.get(f"journey-{run}"))


async def raises(error_class, call, *words):
    """The error awaiting `call` raises, which must be an `error_class` whose text holds every
    word."""
    try:
        await call
    except error_class as error:
        assert all(word in str(error) for word in words), (words, str(error))
        return error
    raise AssertionError(f"expected {error_class.__name__}")


async def ended_session(daytona):
    sandbox = await daytona.create()
    process = sandbox.process
    await process.create_session("work")
    done = await process.execute_session_command("work", SessionExecuteRequest(command="echo done"))
    step("input to a command that has completed")
    await raises(
        DaytonaCommandAlreadyCompletedError,
        process.send_session_command_input("work", done.cmd_id, "late"),
        "already completed",
    )
    step("a command that exits the session's shell, then one more")
    leaving = SessionExecuteRequest(command="exit 3")
    await raises(DaytonaSessionEndedError, process.execute_session_command("work", leaving), "work")
    after = SessionExecuteRequest(command="echo again")
    await raises(DaytonaSessionEndedError, process.execute_session_command("work", after), "ended")
    step("the session is still listed and can be deleted, then made again")
    assert "work" in [session.session_id for session in await process.list_sessions()]
    await process.delete_session("work")
    await process.create_session("work")
    again = await process.execute_session_command("work", SessionExecuteRequest(command="echo again"))
    assert (again.exit_code, again.stdout) == (0, "again\n"), again
    await sandbox.delete()


CASES = {
    "ended-session": ended_session,
    "image-snapshot": image_kept_by_snapshot,
}


async def main():
    async with async_client() as daytona:
        await CASES[os.environ["SWEEP_CASE"]](daytona)
    print("journeys: done", flush=True)


if __name__ == "__main__":
    run_script(lambda: asyncio.run(main()))
