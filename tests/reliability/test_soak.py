"""A bounded soak through the HTTP port: eight concurrent clients, each with its own session
for the whole run, mixing queries and confirmed actions on two instances. Zero failed calls;
the memory of the launcher and the workers grows by at most 10 % from the end of the warm-up to
the end of the run; their file-descriptor count does not grow.

XO_MCP_SOAK_S sets the duration (default 120 s; docs/reliability.md quotes a longer run).
Memory and descriptors are read while the clients pause between two calls, so that both
readings see the same quiet state: sessions open, no call in flight, and each worker's pool of
keep-alive connections to XO pruned to one (after an idle spell longer than its expiry, one
call per instance makes the pool drop its stale connections; otherwise the pool holds as many
as the busiest moment needed, a different number at each reading). Under load the descriptor
count follows the calls in flight; it is sampled every half second and reported, not asserted.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from reliability.relkit import fd_count, figure, load_average, rss_kib
from support.clients import http_client, text
from support.fleetfile import client, fleet_toml, instance
from support.pids import supervisord_pid, worker_pids
from support.processes import (
    Fleet,
    Sim,
    secret_file,
    sims_and_fleet,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SOAK_S = float(os.environ.get("XO_MCP_SOAK_S", "120"))
WARM_UP_S = min(30.0, max(10.0, SOAK_S * 0.15))
CLIENTS = 8
INSTANCES = ("production", "staging")
CLIENT_TOKEN = "soak-client-token-5e8d0a7c31"
KEEPALIVE_S = 5.0  # httpx's keep-alive expiry, and uvicorn's idle timeout on the XO side
# Room for a client's keep-alive connection more or less at one reading; a leak of one
# descriptor per 1 000 calls would add over 20 in the default run.
FD_SLACK = 2


@pytest.fixture
def soak_fleet(tmp_path: Path) -> Iterator[tuple[Fleet, dict[str, Sim]]]:
    def fleet_file(sims: dict[str, Sim]) -> tuple[str, dict[str, str]]:
        token = secret_file(tmp_path, "xo-token", sims["production"].token)
        toml = fleet_toml(
            clients=[client("soak", token_env="SOAK_TOKEN")],
            instances={
                name: instance(sim, token_file=token, actions=True) for name, sim in sims.items()
            },
        )
        return toml, {"SOAK_TOKEN": CLIENT_TOKEN}

    seeds = {"production": ("--seed", "1"), "staging": ("--seed", "2")}
    with sims_and_fleet(tmp_path, seeds, fleet_file) as (fleet, sims):
        yield fleet, sims


@dataclass
class Gate:
    """Lets the controller pause every client between two calls."""

    paused: bool = False
    done: bool = False
    idle: int = 0
    resume: anyio.Event = field(default_factory=anyio.Event)

    async def checkpoint(self) -> None:
        if not self.paused:
            return
        self.idle += 1
        await self.resume.wait()
        self.idle -= 1

    async def pause(self, url: str) -> None:
        """Every client idle, then the workers' XO pools pruned (see the module's docstring)."""
        self.resume = anyio.Event()
        self.paused = True
        with anyio.fail_after(120):
            while self.idle < CLIENTS:
                await anyio.sleep(0.05)
        await anyio.sleep(KEEPALIVE_S + 1)
        async with http_client(url, token=CLIENT_TOKEN) as client:
            for instance in INSTANCES:
                await client.call_tool("check_connection", {"instance": instance})
        await anyio.sleep(1.0)

    def go(self) -> None:
        self.paused = False
        self.resume.set()


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    actions: int = 0


def _resources(fleet: Fleet) -> dict[str, int]:
    pids = [fleet.process.pid, *worker_pids(fleet.runtime_dir).values()]
    supervisor = supervisord_pid(fleet.runtime_dir)
    return {
        "rss_kib": sum(rss_kib(pid) for pid in pids),
        "fds": sum(fd_count(pid) for pid in pids),
        "supervisord_rss_kib": rss_kib(supervisor) if supervisor else 0,
        "processes": len(pids),
    }


async def _client(
    number: int, url: str, vms: dict[str, list[str]], gate: Gate, out: Results
) -> None:
    rng = random.Random(number)
    async with http_client(url, token=CLIENT_TOKEN) as client:

        async def call(tool: str, arguments: dict[str, Any]) -> str:
            started = time.monotonic()
            try:
                result = await client.call_tool(tool, arguments)
            except Exception as error:
                out.failures.append(f"{tool}: {error!r}")
                return ""
            out.latencies.append(time.monotonic() - started)
            if result.is_error:
                out.failures.append(f"{tool} {arguments}: {text(result)[:300]}")
            return text(result)

        async def confirmed(instance: str, operation: str, vm: str, tag: str) -> None:
            arguments = {"instance": instance, "operation": operation, "id": vm, "tag": tag}
            preview = await call("vms_action", arguments)
            token = (
                preview.split('confirm_token: "')[1].split('"')[0]
                if "confirm_token" in preview
                else ""
            )
            if not token:
                out.failures.append(f"no confirmation for {operation}: {preview[:200]}")
                return
            await call("vms_action", {**arguments, "confirm_token": token})
            out.actions += 1

        while True:
            await gate.checkpoint()
            if gate.done:
                return
            instance = rng.choice(INSTANCES)
            roll = rng.random()
            if roll < 0.2:
                vm, tag = rng.choice(vms[instance]), f"soak-{number}"
                await confirmed(instance, "PutVmTag", vm, tag)
                await confirmed(instance, "DeleteVmTag", vm, tag)
            elif roll < 0.6:
                await call("vms_query", {"instance": instance, "operation": "GetVms", "limit": 5})
            elif roll < 0.75:
                await call("hosts_query", {"instance": instance, "operation": "GetHosts"})
            elif roll < 0.85:
                await call("get_infrastructure_summary", {})
            elif roll < 0.95:
                await call("check_connection", {"instance": instance})
            else:
                await call("fleet_status", {})


async def test_a_soak_of_eight_clients(soak_fleet: tuple[Fleet, dict[str, Sim]]) -> None:
    fleet, sims = soak_fleet
    url = f"{fleet.url}/mcp"
    vms = {
        name: [vm["id"] for vm in sim.rest("/vms", fields="id", limit="4")]
        for name, sim in sims.items()
    }
    gate, out = Gate(), Results()
    started = time.monotonic()
    async with anyio.create_task_group() as group:
        for number in range(CLIENTS):
            group.start_soon(_client, number, url, vms, gate, out)
        await anyio.sleep(WARM_UP_S)
        await gate.pause(url)
        warm = _resources(fleet)
        warm_calls = len(out.latencies)
        gate.go()
        measured_from = time.monotonic()
        fds: list[int] = []
        until = measured_from + max(0.0, SOAK_S - WARM_UP_S)
        while time.monotonic() < until:
            fds.append(_resources(fleet)["fds"])
            await anyio.sleep(0.5)
        measured_s = time.monotonic() - measured_from
        await gate.pause(url)
        end = _resources(fleet)
        gate.done = True
        gate.go()
        group.cancel_scope.deadline = anyio.current_time() + 60
    load = load_average()
    calls = len(out.latencies)
    growth = (end["rss_kib"] - warm["rss_kib"]) / warm["rss_kib"] * 100
    latencies = sorted(out.latencies)
    figure(
        "soak: calls",
        calls,
        "",
        duration_s=round(time.monotonic() - started),
        clients=CLIENTS,
        confirmed_actions=out.actions,
        failed=len(out.failures),
        calls_per_s=round((calls - warm_calls) / measured_s, 1),
    )
    figure(
        "soak: latency p50",
        statistics.median(latencies),
        " s",
        p95_s=round(latencies[int(len(latencies) * 0.95)], 3),
        max_s=round(latencies[-1], 3),
    )
    figure(
        "soak: RSS growth after warm-up (launcher + workers)",
        round(growth, 2),
        " %",
        warm_kib=warm["rss_kib"],
        end_kib=end["rss_kib"],
        supervisord_kib=f"{warm['supervisord_rss_kib']}->{end['supervisord_rss_kib']}",
    )
    quarter = max(1, len(fds) // 4)
    first, last = statistics.median(fds[:quarter]), statistics.median(fds[-quarter:])
    floors = f"{min(fds[:quarter])}->{min(fds[-quarter:])}"
    figure(
        "soak: file descriptors, paused at the end (launcher + workers)",
        end["fds"],
        "",
        paused_after_warm_up=warm["fds"],
        under_load_median_first_to_last_quarter=f"{first}->{last}",
        under_load_range=f"{min(fds)}-{max(fds)}",
        under_load_floors=floors,
    )
    figure("load average (1 min)", load)
    assert out.failures == []
    assert calls > CLIENTS * 10 and out.actions > 0
    assert growth <= 10.0
    assert end["fds"] <= warm["fds"] + FD_SLACK
    assert end["processes"] == warm["processes"] == 1 + len(INSTANCES)
