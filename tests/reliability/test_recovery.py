"""An XO that is unreachable when the fleet starts: its instance is reported failed (not a
crash, not a restart loop), retried with a growing delay while the rest of the fleet serves,
and ready once XO answers.

The retry schedule itself (doubling, capped) is proven with a fake clock in
tests/fleet/test_supervision.py; tests/fleet/test_lifecycle.py shows a failing instance next
to a serving one. This test adds the figures: spawn times, retry gaps, time to recover.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

import anyio
import pytest
from fleet.fleetkit import launch, running, secret_file, wait_for
from reliability.relkit import figure, keep_calling, load_average, sim_on, timed_call
from support.clients import http_client
from support.processes import Fleet, Sim, free_port

pytestmark = pytest.mark.anyio

SPAWNED = re.compile(r"^(\S+ \S+) INFO spawned: 'late' with pid", re.MULTILINE)
OBSERVE_S = 12.0


def spawn_times(fleet: Fleet) -> list[float]:
    """supervisord's own timestamps of every start of the `late` worker."""
    stamps = [datetime.strptime(s, "%Y-%m-%d %H:%M:%S,%f") for s in SPAWNED.findall(fleet.stderr())]
    return [(stamp - stamps[0]).total_seconds() for stamp in stamps]


def retry_attempts(fleet: Fleet) -> int:
    return fleet.stderr().count("late: retrying the failed worker")


async def test_an_unreachable_xo_is_retried_with_backoff_and_recovers(
    tmp_path: Path, sim: Sim
) -> None:
    port = free_port()  # nothing listens there yet
    token = secret_file(tmp_path, "token", sim.token)
    toml = f"""
[supervision]
failed_retry_s = 0.5
failed_retry_max_s = 4

[instances.steady]
url = "{sim.url}"
token_file = "{token}"

[instances.late]
url = "http://127.0.0.1:{port}"
token_file = "{token}"
"""
    late: Sim | None = None
    with running(launch(tmp_path, toml)) as fleet:
        try:
            started = time.monotonic()
            ready = fleet.wait_ready(timeout_s=60, states=("ready", "failed"))
            settled = time.monotonic() - started
            mcp = f"{fleet.url}/mcp"
            steady = {"instance": "steady", "operation": "GetVms", "limit": 1}
            async with keep_calling(mcp, "vms_query", steady) as tally, http_client(mcp) as client:
                down = await timed_call(client, "check_connection", {"instance": "late"})
                await anyio.sleep(OBSERVE_S)
                spawns = spawn_times(fleet)
                attempts = retry_attempts(fleet)
                late = sim_on(port, "--seed", "2")
                appeared = time.monotonic()
                await anyio.to_thread.run_sync(
                    lambda: wait_for(lambda: fleet.readyz()["instances"]["late"] == "ready", 60)
                )
                recovered = time.monotonic() - appeared
                back = await timed_call(client, "check_connection", {"instance": "late"})
            assert fleet.process.poll() is None
        finally:
            if late is not None:
                late.stop()

    gaps = [round(b - a, 2) for a, b in zip(spawns, spawns[1:], strict=False)]
    figure("XO unreachable at start: fleet settled after", settled, " s")
    figure("XO unreachable at start: call to it returned after", down.seconds, " s")
    figure(
        "XO unreachable at start: worker starts while down",
        len(spawns),
        "",
        window_s=round(spawns[-1], 1),
        gaps_s=gaps,
        launcher_retries=attempts,
    )
    figure("XO unreachable at start: ready after XO appeared", recovered, " s")
    figure("load average (1 min)", load_average())
    assert ready["instances"] == {"steady": "ready", "late": "failed"}
    assert down.is_error and "instance 'late' is not available (failed" in down.text
    assert "Unable to reach XO server" in down.text, down.text
    # No crash loop: supervisord's own retries (startretries = 2) then the launcher's,
    # each round further apart than the one before.
    assert attempts >= 2
    assert len(spawns) <= 3 * (attempts + 1)
    assert not back.is_error, back.text
    assert tally.failures == [] and tally.calls > 0
