"""The official Daytona Python SDK's computer use against `ralph-town serve`.

Run by `tests/serve_computer_use.rs` with DAYTONA_API_URL and DAYTONA_API_KEY pointing at an
in-process server and SHOTS naming a directory for the screenshots (the Rust side decodes them).
Starts the display, shows a real `xterm` running `cat > ~/typed.txt`, finds it among the
windows, moves and clicks the mouse, types into it and reads the file, takes screenshots and
records the screen (ffmpeg), then stops the display and checks on the host that its `Xvfb` is gone; then starts it again and
deletes the sandbox, which must end that `Xvfb` too. Any failure exits non-zero.
"""

import base64
import os
import time
import uuid

from daytona import CreateSandboxFromSnapshotParams, DaytonaError
from daytona.common.computer_use import ScreenshotOptions, ScreenshotRegion
from daytona_toolbox_api_client.models.session_execute_request import SessionExecuteRequest
from sdk_script import client, host_processes, raises, run_script, shell, stepper, until


step = stepper("computer use")


RUN = uuid.uuid4().hex[:8]


def xvfb_pids():
    """The host pids of the `Xvfb`s of this run's sandbox (its environment names the run)."""
    return set(host_processes(("Xvfb",), f"COMPUTER_USE_RUN={RUN}"))


def gone(pids, seconds=20):
    """Waits until none of `pids` runs (a killed process may linger a moment as a zombie)."""
    deadline = time.monotonic() + seconds
    while pids & xvfb_pids():
        assert time.monotonic() < deadline, f"Xvfb still runs: {pids & xvfb_pids()}"
        time.sleep(0.1)


def save(name, response):
    with open(os.path.join(os.environ["SHOTS"], name), "wb") as file:
        file.write(base64.b64decode(response.screenshot))


def main():
    daytona = client()
    params = CreateSandboxFromSnapshotParams(env_vars={"COMPUTER_USE_RUN": RUN})
    sandbox = daytona.create(params, timeout=60)
    computer = sandbox.computer_use
    assert not xvfb_pids()

    step("nothing runs before start")
    assert computer.get_status().status == "inactive"
    raises(DaytonaError, computer.mouse.get_position, "not started")

    step("start")
    started = computer.start()
    assert started.status["xvfb"].running, started
    assert started.status["xvfb"].pid, started
    assert not started.status["novnc"].running, started
    assert computer.get_status().status == "active"
    assert computer.get_process_status("xvfb").running
    assert not computer.get_process_status("x11vnc").running
    raises(DaytonaError, lambda: computer.get_process_logs("novnc"), "not run by local sandboxes")
    raises(DaytonaError, lambda: computer.get_process_status("nope"), "process nope not found")
    assert isinstance(computer.get_process_errors("xvfb").errors, str)
    mine = xvfb_pids()
    assert mine, "no new Xvfb on the host"
    info = computer.display.get_info()
    assert (info.displays[0].width, info.displays[0].height) == (1024, 768), info
    assert shell(sandbox, 'echo "$DISPLAY"').strip().startswith(":")

    step("a real window")
    sandbox.process.create_session("desktop")
    xterm = sandbox.process.execute_session_command(
        "desktop",
        SessionExecuteRequest(
            command="xterm -geometry 80x24+0+0 -title typing-target -e sh -c 'cat > ~/typed.txt'",
            run_async=True,
        ),
    )
    window = until(
        "the xterm among the windows",
        lambda: [w for w in computer.display.get_windows().windows if w.title == "typing-target"],
        detail=lambda: (
            computer.display.get_windows(),
            sandbox.process.get_session_command_logs("desktop", xterm.cmd_id),
            computer.get_process_errors("xvfb").errors,
        ),
    )[0]
    assert window.width > 100 and window.height > 100, window

    step("mouse")
    moved = computer.mouse.move(100, 120)
    assert (moved.x, moved.y) == (100, 120), moved
    position = computer.mouse.get_position()
    assert (position.x, position.y) == (100, 120), position
    clicked = computer.mouse.click(110, 130)
    assert (clicked.x, clicked.y) == (110, 130), clicked
    computer.mouse.scroll(110, 130, "down", 2)
    dragged = computer.mouse.drag(110, 130, 120, 140)
    assert (dragged.x, dragged.y) == (120, 140), dragged
    raises(DaytonaError, lambda: computer.mouse.click(1, 1, button="sideways"), "invalid button")

    step("keyboard into the xterm")
    computer.keyboard.type("hello from the keyboard\n")
    computer.keyboard.press("a", modifiers=["shift"])
    computer.keyboard.press("enter")
    until(
        "the typed lines in ~/typed.txt",
        lambda: shell(sandbox, "cat ~/typed.txt 2>/dev/null || true") == "hello from the keyboard\nA\n",
    )
    raises(DaytonaError, lambda: computer.keyboard.press("no-such-key!"), "invalid key")

    step("screenshots")
    save("full.png", computer.screenshot.take_full_screen())
    shot = computer.screenshot.take_full_screen(show_cursor=True)
    assert (shot.cursor_position.x, shot.cursor_position.y) == (120, 140), shot.cursor_position
    save("cursor.png", shot)
    region = ScreenshotRegion(x=10, y=20, width=300, height=200)
    save("region.png", computer.screenshot.take_region(region))
    save(
        "compressed.jpg",
        computer.screenshot.take_compressed(ScreenshotOptions(fmt="jpeg", quality=60, scale=0.5)),
    )
    save("region-compressed.png", computer.screenshot.take_compressed_region(region, ScreenshotOptions(scale=0.5)))
    outside = ScreenshotRegion(x=1000, y=0, width=300, height=200)
    raises(DaytonaError, lambda: computer.screenshot.take_region(outside), "outside the 1024x768 display")

    step("recordings")
    recordings = computer.recording
    raises(DaytonaError, lambda: recordings.start("../escape"), "invalid label")
    started = recordings.start("demo-1")
    assert started.status == "recording" and "_demo-1_" in started.file_name, started
    raises(DaytonaError, lambda: recordings.delete(started.id), "stop it first")
    computer.mouse.move(300, 300)
    time.sleep(1.5)
    done = recordings.stop(started.id)
    assert done.status == "completed" and done.size_bytes > 0 and done.duration_seconds > 1, done
    assert started.id in [r.id for r in recordings.list().recordings]
    assert recordings.get(started.id).status == "completed"
    recordings.download(started.id, os.path.join(os.environ["SHOTS"], "recording.mp4"))
    recordings.delete(started.id)
    raises(DaytonaError, lambda: recordings.get(started.id), "recording not found")
    raises(DaytonaError, lambda: recordings.stop(started.id), "recording not found")
    # Left running: stopping computer use ends it.
    left = recordings.start()

    step("a hotkey ends the xterm")
    computer.keyboard.hotkey("ctrl+d")
    until(
        "the xterm gone",
        lambda: not [w for w in computer.display.get_windows().windows if w.title == "typing-target"],
    )

    step("stop")
    stopped = computer.stop()
    assert not stopped.status["xvfb"].running, stopped
    assert computer.get_status().status == "inactive"
    raises(DaytonaError, computer.mouse.get_position, "not started")
    gone(mine)
    ended = recordings.get(left.id)
    log = shell(sandbox, f"cat ~/.daytona/recordings/{left.id}.log || true")
    assert ended.status == "completed" and ended.size_bytes > 0, (ended, log)

    step("deleting the sandbox ends its display")
    computer.start()
    again = xvfb_pids()
    assert again, "no Xvfb after the second start"
    sandbox.delete()
    gone(again)
    print("computer use: done", flush=True)


run_script(main)
