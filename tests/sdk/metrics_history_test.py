"""`get_metrics` over time through the official Python SDK: serve samples every started
sandbox on its `metrics-interval` (a few hundred milliseconds in this test), the SDK's window
selects from the samples kept, a sample sees what the sandbox wrote, and a stopped sandbox gets
no new points. `METRICS_INTERVAL_SECONDS` is the interval the server was started with.
"""

import os
import time
from datetime import datetime, timedelta, timezone

from sdk_script import client, fresh_sandbox, run_script, shell, stepper

step = stepper("sdk-metrics-history")
INTERVAL = float(os.environ["METRICS_INTERVAL_SECONDS"])


def wait_for(what, condition, seconds=60):
    """The first truthy `condition()` within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(INTERVAL / 2)
    raise AssertionError(f"timed out waiting for {what}")


def main():
    daytona = client()
    _, sandbox = fresh_sandbox(daytona, "sdk-metrics-history")

    step("several samples accumulate, in time order, with the sandbox's limits")
    samples = wait_for("four samples", lambda: (s := sandbox.get_metrics()) and len(s) >= 4 and s)
    stamps = [sample.timestamp for sample in samples]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), stamps
    assert all(s.cpu_count == 1 and s.disk_total == 3 << 30 and s.mem_total == 1 << 30 for s in samples)
    assert all(s.disk_used > 0 for s in samples), samples

    step("a window holds exactly the samples inside it, ends included")
    middle = sandbox.get_metrics(start=stamps[1], end=stamps[2])
    assert [s.timestamp for s in middle] == stamps[1:3], (middle, stamps)
    assert sandbox.get_metrics(start=stamps[1], end=stamps[1])[0].timestamp == stamps[1]
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    assert sandbox.get_metrics(start=future, end=future + timedelta(hours=1)) == []
    past = datetime(2020, 1, 1, tzinfo=timezone.utc)
    assert sandbox.get_metrics(start=past, end=past + timedelta(days=1)) == []

    step("a later sample sees what the sandbox wrote")
    before = sandbox.get_metrics()[-1]
    shell(sandbox, "head -c 4194304 /dev/zero > ballast")
    grown = wait_for(
        "a sample with the ballast",
        lambda: [s for s in sandbox.get_metrics(start=before.timestamp) if s.disk_used >= before.disk_used + (4 << 20)],
    )
    assert grown[0].timestamp > before.timestamp, (grown[0], before)

    step("a stopped sandbox keeps its points and gets no new ones")
    sandbox.stop()
    # A sample begun before the stop may still land.
    time.sleep(INTERVAL * 3)
    kept = sandbox.get_metrics()
    assert len(kept) >= len(samples) + 1, (len(kept), len(samples))
    time.sleep(INTERVAL * 6)
    later = sandbox.get_metrics()
    assert [s.timestamp for s in later] == [s.timestamp for s in kept], (len(later), len(kept))

    step("a started sandbox is sampled again")
    sandbox.start()
    wait_for("a sample after the start", lambda: len(sandbox.get_metrics()) > len(kept))

    daytona.delete(sandbox)
    step("done")


if __name__ == "__main__":
    run_script(main)
