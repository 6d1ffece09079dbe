"""Failures stay with their instance: down workers fail fast, a killed worker fails its call
cleanly, the rest of the fleet keeps serving; progress and cancellation pass through."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from support.clients import LEGACY, MODERN, http_client, text
from support.fleetfile import fleet_toml, instance
from support.pids import worker_pid
from support.processes import Fleet, Sim, clean_env, free_port, start_fleet, start_sim

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def slow_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Sim]]:
    """`healthy` on a simulator whose actions take 2 s, and `broken` on a closed port."""
    sim = start_sim("--seed", "4", "--action-seconds", "2")
    tmp: Path = tmp_path_factory.mktemp("slow")
    (tmp / "token").write_text(sim.token)
    token = tmp / "token"
    toml = fleet_toml(
        supervision={"failed_retry_s": 600},
        instances={
            "healthy": instance(sim, token_file=token, actions=True, timeout_s=20),
            "broken": instance(f"http://127.0.0.1:{free_port()}", token_file=token),
        },
    )
    fleet = start_fleet(tmp, toml, env=clean_env())
    try:
        fleet.wait_ready(states=("ready", "failed"), timeout_s=60)
        yield fleet, sim
    finally:
        fleet.stop()
        sim.stop()


async def test_a_down_instance_fails_fast_and_clearly(slow_fleet: tuple[Fleet, Sim]) -> None:
    fleet, _ = slow_fleet
    assert fleet.readyz()["instances"] == {"healthy": "ready", "broken": "failed"}
    async with http_client(f"{fleet.url}/mcp") as client:
        down = await client.call_tool("check_connection", {"instance": "broken"})
        up = await client.call_tool("check_connection", {"instance": "healthy"})
        both = await client.call_tool("get_infrastructure_summary", {})
    assert down.is_error and "instance 'broken' is not available (failed" in text(down)
    # "not available" is the gateway's own answer: no XO request (and no timeout) was waited for
    assert "Unable to reach XO server" in text(down)
    assert not up.is_error
    assert "# Instance broken (error)" in text(both) and "## Pools" in text(both)


async def test_a_worker_killed_mid_call_fails_that_call_only(slow_fleet: tuple[Fleet, Sim]) -> None:
    fleet, sim = slow_fleet
    sim.set_faults([{"route": "GET /vms", "latency_ms": 3000}])
    try:
        results: list[Any] = []
        async with http_client(f"{fleet.url}/mcp") as client, anyio.create_task_group() as group:

            async def slow_call() -> None:
                arguments = {"instance": "healthy", "operation": "GetVms"}
                results.append(await client.call_tool("vms_query", arguments))

            group.start_soon(slow_call)
            await anyio.sleep(1)
            os.kill(worker_pid(fleet.runtime_dir, "healthy"), signal.SIGKILL)
        assert results[0].is_error
        assert "worker stopped during the call" in text(results[0])
    finally:
        sim.clear_faults()
    fleet.wait_ready(states=("ready", "failed"))
    async with http_client(f"{fleet.url}/mcp") as client:
        with anyio.fail_after(20):
            while True:
                check = await client.call_tool("check_connection", {"instance": "healthy"})
                if not check.is_error:
                    break
                print(text(check))
                await anyio.sleep(0.5)


@pytest.mark.parametrize("mode", [LEGACY, MODERN])
async def test_progress_reaches_the_client(slow_fleet: tuple[Fleet, Sim], mode: str) -> None:
    fleet, sim = slow_fleet
    vm_id = sim.rest("/vms", fields="id", filter="power_state:Running", limit="1")[0]["id"]
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with http_client(f"{fleet.url}/mcp", mode=mode) as client:
        arguments = {"instance": "healthy", "operation": "SnapshotVm", "id": vm_id, "wait": True}
        preview = await client.call_tool("vms_action", arguments)
        token = text(preview).split('confirm_token: "')[1].split('"')[0]
        result = await client.call_tool(
            "vms_action", {**arguments, "confirm_token": token}, progress_callback=on_progress
        )
    assert "finished: success" in text(result), text(result)
    assert progress, "no progress notification was forwarded"


async def test_cancellation_reaches_the_worker(slow_fleet: tuple[Fleet, Sim]) -> None:
    fleet, sim = slow_fleet
    sim.set_faults([{"route": "GET /pools", "stall": True}])
    try:
        async with http_client(f"{fleet.url}/mcp") as client:
            async with anyio.create_task_group() as group:
                group.start_soon(
                    client.call_tool,
                    "pools_query",
                    {"instance": "healthy", "operation": "GetPools"},
                )
                with anyio.fail_after(10):
                    while sim.control("GET", "state")["in_flight"] == 0:
                        await anyio.sleep(0.1)
                group.cancel_scope.cancel()  # the client sends notifications/cancelled
            with anyio.fail_after(10):
                while sim.control("GET", "state")["in_flight"] > 0:
                    await anyio.sleep(0.1)
            sim.clear_faults()
            after = await client.call_tool(
                "pools_query", {"instance": "healthy", "operation": "GetPools"}
            )
        assert not after.is_error
    finally:
        sim.clear_faults()
