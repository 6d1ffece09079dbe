"""kill -9 of a worker under load: its siblings keep a 100 % success rate, its in-flight calls
fail cleanly (a tool error saying what happened, never a protocol error or a hang), and it is
back shortly; the figure (kill → first successful call) goes to docs/reliability.md.

tests/fleet/test_lifecycle.py kills a worker next to one calling client; tests/gateway/
test_resilience.py fails one in-flight call. This test puts the fleet under load (six clients,
in-flight calls at every moment) and repeats the kill. Losing supervisord itself (exit 70) is
tests/fleet/test_lifecycle.py::test_losing_supervisord_stops_the_fleet_with_exit_70.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest
from reliability.relkit import figure, load_average, restarts
from support.clients import http_client, text
from support.fleetfile import fleet_toml, instance
from support.pids import worker_pids
from support.processes import (
    Fleet,
    Sim,
    kill,
    secret_file,
    sims_and_fleet,
    wait_for,
)

pytestmark = pytest.mark.anyio

INSTANCES = ("alpha", "beta", "gamma")
CLIENTS_PER_INSTANCE = 2
KILLS = 3
QUERY = {"operation": "GetVms", "fields": "name_label,power_state", "limit": 5}
# What a call to the killed instance may answer while it is away.
CLEAN_ERRORS = (
    "instance 'alpha': the worker stopped during the call (it is being restarted)",
    "instance 'alpha' is not available (starting",
)


@dataclass(frozen=True)
class Outcome:
    instance: str
    started: float
    ended: float
    ok: bool
    detail: str


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[tuple[Fleet, list[Sim]]]:
    def fleet_file(sims: dict[str, Sim]) -> tuple[str, dict[str, str]]:
        token = secret_file(tmp_path, "token", sims["alpha"].token)
        # alpha's XO is a little slow, so that calls are in flight whenever alpha is killed.
        sims["alpha"].set_faults([{"route": "GET /vms*", "latency_ms": 150}])
        toml = fleet_toml(
            instances={
                name: instance(sims["alpha" if name == "alpha" else "others"], token_file=token)
                for name in INSTANCES
            }
        )
        return toml, {}

    seeds = {"alpha": ("--seed", "1"), "others": ("--seed", "2")}
    with sims_and_fleet(tmp_path, seeds, fleet_file) as (fleet, sims):
        yield fleet, list(sims.values())


async def test_a_killed_worker_under_load(trio: tuple[Fleet, list[Sim]]) -> None:
    fleet, _ = trio
    assert fleet.url is not None
    mcp = f"{fleet.url}/mcp"
    outcomes: list[Outcome] = []
    stop = anyio.Event()

    async def client_loop(instance: str) -> None:
        async with http_client(mcp) as client:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    result = await client.call_tool("vms_query", {"instance": instance, **QUERY})
                except Exception as error:  # never acceptable, whatever the instance
                    outcomes.append(
                        Outcome(instance, started, time.monotonic(), False, repr(error))
                    )
                    continue
                ok = not result.is_error
                outcomes.append(Outcome(instance, started, time.monotonic(), ok, text(result)))

    kills: list[float] = []
    async with anyio.create_task_group() as group:
        for instance in INSTANCES:
            for _ in range(CLIENTS_PER_INSTANCE):
                group.start_soon(client_loop, instance)
        await anyio.sleep(2)
        for _ in range(KILLS):
            pid = worker_pids(fleet.runtime_dir)["alpha"]
            kills.append(time.monotonic())
            kill(pid)
            await anyio.to_thread.run_sync(
                lambda: wait_for(lambda: fleet.readyz()["instances"]["alpha"] == "ready", 60)
            )
            await anyio.sleep(2)
        stop.set()
        group.cancel_scope.deadline = anyio.current_time() + 60
    load = load_average()

    back = [_back_after(outcomes, at) for at in kills]
    siblings = [o for o in outcomes if o.instance != "alpha"]
    alpha_failures = [o for o in outcomes if o.instance == "alpha" and not o.ok]
    in_flight = [o for o in alpha_failures if "stopped during the call" in o.detail]
    figure(
        "kill -9 under load: back after (kill → first successful call)",
        max(back),
        " s (max)",
        each_s=[round(b, 2) for b in back],
        median_s=round(statistics.median(back), 2),
        load_average=round(load, 2),
    )
    figure(
        "kill -9 under load: sibling calls",
        len(siblings),
        "",
        failed=sum(not o.ok for o in siblings),
    )
    figure(
        "kill -9 under load: calls to the killed instance that failed",
        len(alpha_failures),
        "",
        in_flight=len(in_flight),
        slowest_failure_s=round(max((o.ended - o.started for o in alpha_failures), default=0), 2),
    )
    assert [o.detail for o in siblings if not o.ok] == []
    assert len(siblings) > 50
    unclean = [o.detail for o in alpha_failures if not o.detail.startswith(CLEAN_ERRORS)]
    assert unclean == []
    assert in_flight, "no call was in flight at any kill: the test did not test that"
    assert restarts(fleet.url, "alpha") == KILLS
    assert restarts(fleet.url, "beta") == restarts(fleet.url, "gamma") == 0


def _back_after(outcomes: list[Outcome], killed_at: float) -> float:
    """Seconds from the kill to the end of the first successful call started after it."""
    ends = [o.ended for o in outcomes if o.instance == "alpha" and o.ok and o.started >= killed_at]
    return min(ends) - killed_at
