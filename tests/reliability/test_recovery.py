"""An XO that cannot be used when the fleet starts: its instance is reported failed (not a
crash, not a restart loop, not "starting" forever), retried with a growing delay while the
rest of the fleet serves, and ready once XO answers.

Two ways for XO to be unusable at start:
- refused   nothing listens at its address: the worker fails within a fraction of a second;
- slow 500  XO answers its MCP status probe with an error after 1.5 s, as an overloaded XO or
            a proxy in front of it would: the worker fails after supervisord's `startsecs`
            (1 s), which supervisord would take for a successful start (and restart at once,
            forever) were it not for the worker's exit code 4, "could not start".

The retry schedule itself (doubling, capped) is proven with a fake clock in
tests/fleet/test_supervision.py; tests/fleet/test_lifecycle.py shows a failing instance next
to a serving one. This file adds the processes' view and the figures.
"""

from __future__ import annotations

import itertools
import time
from datetime import datetime
from pathlib import Path

import anyio
import pytest
from reliability.relkit import figure, keep_calling, load_average, sim_on, timed_call
from support.clients import http_client
from support.processes import (
    Fleet,
    Sim,
    free_port,
    running,
    secret_file,
    start_fleet,
    start_sim,
    wait_for,
)

pytestmark = pytest.mark.anyio

SLOW_500 = "route=GET /mcp/status,latency_ms=1500,error_rate=1"
OBSERVE_S = 8.0


def spawn_times(fleet: Fleet) -> list[float]:
    """supervisord's own timestamps of every start of the `late` worker (its "spawned" lines,
    as the launcher relays them), from the first."""
    starts = [
        record
        for record in fleet.said("worker started", instance="late")
        if record["component"] == "supervisord"
    ]
    stamps = [datetime.fromisoformat(record["ts"].replace("Z", "+00:00")) for record in starts]
    return [(stamp - stamps[0]).total_seconds() for stamp in stamps]


def fleet_toml(tmp_path: Path, steady: Sim, late_url: str) -> str:
    token = secret_file(tmp_path, "token", steady.token)
    return f"""
[supervision]
failed_retry_s = 0.5
failed_retry_max_s = 4

[instances.steady]
url = "{steady.url}"
token_file = "{token}"

[instances.late]
url = "{late_url}"
token_file = "{token}"
"""


async def _episode(
    fleet: Fleet, case: str, late: Sim | None, port: int, settle_s: float
) -> dict[str, object]:
    """Settle, observe the failed instance while steady serves, let XO answer, recover."""
    started = time.monotonic()
    ready = fleet.wait_ready(timeout_s=settle_s, states=("ready", "failed"))
    settled = time.monotonic() - started
    mcp = f"{fleet.url}/mcp"
    steady = {"instance": "steady", "operation": "GetVms", "limit": 1}
    states: list[str] = []
    async with keep_calling(mcp, "vms_query", steady) as tally, http_client(mcp) as client:
        down = await timed_call(client, "check_connection", {"instance": "late"})
        until = time.monotonic() + OBSERVE_S
        while time.monotonic() < until:
            states.append(fleet.readyz()["instances"]["late"])
            await anyio.sleep(0.25)
        spawns = spawn_times(fleet)
        attempts = len(fleet.said("retrying the failed worker", instance="late"))
        if late is None:
            late = sim_on(port, "--seed", "2")
        else:
            late.clear_faults()
        fixed = time.monotonic()
        await anyio.to_thread.run_sync(
            lambda: wait_for(lambda: fleet.readyz()["instances"]["late"] == "ready", 60)
        )
        recovered = time.monotonic() - fixed
        back = await timed_call(client, "check_connection", {"instance": "late"})
    late.stop()
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(spawns)]
    figure(f"XO {case} at start: fleet settled after", settled, " s")
    figure(f"XO {case} at start: call to it returned after", down.seconds, " s")
    figure(
        f"XO {case} at start: worker starts while down",
        len(spawns),
        "",
        window_s=round(spawns[-1], 1),
        gaps_s=gaps,
        launcher_retries=attempts,
    )
    figure(f"XO {case} at start: ready after XO was fixed", recovered, " s")
    figure("load average (1 min)", load_average())
    assert ready["instances"] == {"steady": "ready", "late": "failed"}
    assert down.is_error and "instance 'late' is not available (failed" in down.text
    assert set(states) == {"failed"}, states  # reported failed throughout, no flapping
    assert fleet.process.poll() is None
    # Backoff, not a loop: at most supervisord's own three tries (startretries = 2) per round,
    # and every new round is one of the launcher's retries, each later than the one before.
    assert len(spawns) <= 3 * (attempts + 1), gaps
    assert not back.is_error, back.text
    assert tally.failures == [] and tally.calls > 0
    return {"down": down.text, "spawns": len(spawns), "attempts": attempts}


async def test_a_refused_xo_is_reported_failed_and_recovers(tmp_path: Path, sim: Sim) -> None:
    port = free_port()  # nothing listens there until the test starts XO
    with running(
        start_fleet(tmp_path, fleet_toml(tmp_path, sim, f"http://127.0.0.1:{port}"))
    ) as fleet:
        seen = await _episode(fleet, "refused", None, port, settle_s=30)
    assert "Unable to reach XO server" in str(seen["down"]), seen["down"]


async def test_an_xo_failing_slowly_is_retried_with_backoff_not_in_a_loop(
    tmp_path: Path, sim: Sim
) -> None:
    late = start_sim("--seed", "2", "--fault", SLOW_500)
    try:
        with running(start_fleet(tmp_path, fleet_toml(tmp_path, sim, late.url))) as fleet:
            seen = await _episode(fleet, "answering 500 after 1.5 s", late, 0, settle_s=25)
    finally:
        late.stop()
    assert "Unable to verify MCP status (HTTP 500)" in str(seen["down"]), seen["down"]
