"""What the shared state of replicas (`[gateway.state]`, a real Redis on loopback) costs one
replica, against the same fleet with its state in memory (the default):

- per confirmation: an action previewed (a token issued: one Lua script) then confirmed (the
  token taken: another), through each fleet alternately, call by call, in both protocol eras;
  goal <= 1 ms added at p50;
- the store alone: a token issued then redeemed, straight on each store (no MCP, no XO), to
  show what the round trips to Redis are of the figure above;
- per query: `vms_query` through each fleet alternately, in both protocol eras (a handshake-era
  answer is an SSE stream whose events go to the event store: Redis with the shared state);
  goal: nothing added;
- CPU per call: the throughput load of bench/gateway.py (8 sessions, mixed queries) through
  each fleet, the launcher's CPU per call (and Redis's);
- memory: each launcher's RSS after the load.

One replica of each kind: three replicas on this 2-core machine would only measure the
machine, so no scaling figure is taken here (tests/container/test_replicas.py shows three).

    .venv/bin/python bench/replicas.py [--seconds S] [--calls N]
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import gateway
from common import (
    NpmPeers,
    Row,
    code_copy,
    document,
    log,
    measured,
    rss_kb,
    run_from_cli,
    sim_and_scratch,
)
from common import summary as stats
from support.clients import LEGACY, MODERN, http_client, text
from support.fleetfile import fleet_toml, instance
from support.processes import Fleet, secret_file
from support.redis_server import PASSWORD, RedisServer

from xo_mcp.front.confirmations import ConfirmStore, MemoryConfirmStore
from xo_mcp.gateway.shared_state import SharedState, StateSettings
from xo_mcp.wire.messages import Action, ClientIdentity

WARM_UP = 20
KINDS = ("memory", "shared")
QUERY = ("vms_query", {"instance": "alpha", "operation": "GetVms", "fields": "name_label"})


def replica_toml(setup: gateway.Setup, redis: RedisServer | None) -> str:
    """One instance, actions on; with `redis`, the state replicas share (and their one key)."""
    table: dict[str, Any] = {}
    if redis is not None:
        table = {
            "state": {
                "url": redis.url,
                "password_file": secret_file(setup.scratch, "redis-password", PASSWORD),
            },
            "state_key_file": secret_file(setup.scratch, "state-key", "b" * 48),
        }
    alpha = instance(setup.sim, token_env=gateway.token_env("alpha"), actions=True)
    return fleet_toml(gateway=table or None, instances={"alpha": alpha})


@contextlib.contextmanager
def two_fleets(setup: gateway.Setup, redis: RedisServer) -> Iterator[dict[str, Fleet]]:
    with (
        gateway.fleet(setup, "memory", ["alpha"], replica_toml(setup, None)) as memory,
        gateway.fleet(setup, "shared", ["alpha"], replica_toml(setup, redis)) as shared,
    ):
        yield {"memory": memory, "shared": shared}


def _url(running: Fleet) -> str:
    assert running.url is not None
    return f"{running.url}/mcp"


async def _alternating(
    fleets: dict[str, Fleet], mode: str, calls: int, one: Callable[[Any, int, str], Awaitable[None]]
) -> dict[str, list[float]]:
    """`one(client, index, kind)` through each fleet in turn, WARM_UP + `calls` times; the
    latency of each measured one, per fleet."""
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    async with (
        http_client(_url(fleets["memory"]), mode=mode) as memory,
        http_client(_url(fleets["shared"]), mode=mode) as shared,
    ):
        clients = {"memory": memory, "shared": shared}
        for index in range(WARM_UP + calls):
            for kind, client in clients.items():
                started = time.perf_counter()
                await one(client, index, kind)
                if index >= WARM_UP:
                    latencies[kind].append((time.perf_counter() - started) * 1000)
    return latencies


async def _confirmations(
    fleets: dict[str, Fleet], vm: str, mode: str, calls: int
) -> dict[str, list[float]]:
    """Preview then confirm: a tag put, then taken off again, so that the VM stays as it was."""

    async def confirmed(client: Any, index: int, kind: str) -> None:
        operation = "PutVmTag" if index % 2 == 0 else "DeleteVmTag"
        arguments = {"instance": "alpha", "operation": operation, "id": vm, "tag": "bench"}
        preview = await client.call_tool("vms_action", arguments)
        token = text(preview).split('confirm_token: "', 1)[1].split('"', 1)[0]
        done = await client.call_tool("vms_action", {**arguments, "confirm_token": token})
        if done.is_error:
            raise RuntimeError(f"{kind}: the confirmed call failed: {text(done)}")

    return await _alternating(fleets, mode, calls, confirmed)


async def _queries(fleets: dict[str, Fleet], mode: str, calls: int) -> dict[str, list[float]]:
    async def query(client: Any, index: int, kind: str) -> None:
        result = await client.call_tool(*QUERY)
        if result.is_error:
            raise RuntimeError(f"{kind}: {text(result)}")

    return await _alternating(fleets, mode, calls, query)


def _added(latencies: dict[str, list[float]], what: str) -> dict[str, Any]:
    memory, shared = stats(latencies["memory"], 3), stats(latencies["shared"], 3)
    return {
        "what": what,
        "memory_ms": memory,
        "shared_ms": shared,
        "added_p50_ms": round(shared["median"] - memory["median"], 3),
        "added_p99_ms": round(shared["p99"] - memory["p99"], 3),
    }


async def _store_pairs(redis: RedisServer, calls: int) -> dict[str, list[float]]:
    """issue + redeem on each store, alternately."""
    shared = SharedState.of(StateSettings(redis.url, PASSWORD, key_prefix="bench-store:"))
    stores: dict[str, ConfirmStore] = {"memory": MemoryConfirmStore(), "shared": shared.confirms}
    action = Action(instance="alpha", operation="PutVmTag", method="PUT", path="/vms/v/tags/t")
    client = ClientIdentity(name="bench")
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    try:
        for index in range(WARM_UP + calls):
            for kind, store in stores.items():
                started = time.perf_counter()
                token = await store.issue(action, client, limit=100)
                await store.redeem(token, client, "alpha")
                if index >= WARM_UP:
                    latencies[kind].append((time.perf_counter() - started) * 1000)
    finally:
        await shared.close()
    return latencies


def latency_phase(
    setup: gateway.Setup, fleets: dict[str, Fleet], redis: RedisServer, calls: int
) -> dict[str, dict[str, Any]]:
    vm = setup.sim.rest("/vms", fields="id", limit="1")[0]["id"]
    found: dict[str, dict[str, Any]] = {}
    for label, mode in (
        ("confirmation, 2026-07-28", MODERN),
        ("confirmation, handshake era", LEGACY),
    ):
        log(f"replicas: per {label}, {WARM_UP} + {calls} per fleet, alternating")
        found[label] = _added(
            asyncio.run(_confirmations(fleets, vm, mode, calls)),
            f"preview (token issued) + confirm (token taken, PutVmTag/DeleteVmTag run), {mode} "
            "SDK client without elicitation",
        )
    log(f"replicas: the store alone, {WARM_UP} + {calls} issue + redeem per store")
    found["store alone: issue + redeem"] = _added(
        asyncio.run(_store_pairs(redis, calls)),
        "RedisConfirmStore against MemoryConfirmStore, in this process: the round trips alone",
    )
    for label, mode in (("query, handshake era", LEGACY), ("query, 2026-07-28", MODERN)):
        log(f"replicas: per {label}, {WARM_UP} + {calls} per fleet, alternating")
        found[label] = _added(
            asyncio.run(_queries(fleets, mode, calls)), f"vms_query GetVms, {mode} SDK client"
        )
    return found


def load_phase(
    setup: gateway.Setup, fleets: dict[str, Fleet], redis: RedisServer, seconds: float
) -> dict[str, Any]:
    """The throughput load through each fleet in turn; then each launcher's RSS."""
    assert redis.process is not None
    found: dict[str, Any] = {}
    for kind, running in fleets.items():
        log(f"replicas: throughput through the {kind} fleet, {seconds:g} s")
        others = {"redis": redis.process.pid} if kind == "shared" else None
        load = gateway.throughput(setup, running, ["alpha"], seconds, others=others)
        found[kind] = {
            "calls_per_s": load["calls_per_s"],
            "errors": load["errors"],
            "latency_ms": load["latency_ms"],
            "cpu_ms_per_call": load["cpu_ms_per_call"],
            "launcher_rss_kb": rss_kb(running.process.pid),
        }
    return found


def rows(latency: dict[str, dict[str, Any]], load: dict[str, Any]) -> list[Row]:
    found = []
    for label, numbers in latency.items():
        added = numbers["added_p50_ms"]
        goal, limit = ("none added", 0.2)
        if label.startswith(("confirmation", "store")):
            goal, limit = ("<= 1 ms added", 1.0)
        found.append(
            Row(
                f"shared state: {label}, p50",
                numbers["shared_ms"]["median"],
                numbers["memory_ms"]["median"],
                "ms",
                goal + (" (noise: 0.2 ms)" if limit < 1 else ""),
                added <= limit,
                note=f"added {added:+.2f} ms; p99 {numbers['shared_ms']['p99']:.2f} vs "
                f"{numbers['memory_ms']['p99']:.2f} ms ({numbers['added_p99_ms']:+.2f})",
            )
        )
    memory, shared = load["memory"], load["shared"]
    cpu = (shared["cpu_ms_per_call"]["launcher"], memory["cpu_ms_per_call"]["launcher"])
    redis_ms = shared["cpu_ms_per_call"].get("redis", 0.0)
    found.append(
        Row(
            "shared state: launcher CPU per call (throughput load)",
            cpu[0],
            cpu[1],
            "ms",
            "unchanged (<= 1.1x)",
            cpu[0] <= cpu[1] * 1.1,
            round(cpu[0] / cpu[1], 3) if cpu[1] else None,
            note=f"Redis {redis_ms} ms per call besides; {shared['calls_per_s']} vs "
            f"{memory['calls_per_s']} calls/s",
        )
    )
    rss = (shared["launcher_rss_kb"] / 1024, memory["launcher_rss_kb"] / 1024)
    found.append(
        Row(
            "shared state: launcher RSS after the load",
            round(rss[0], 1),
            round(rss[1], 1),
            "MiB",
            "—",
            None,
            round(rss[0] / rss[1], 3),
            note="one replica; each replica's workers are as without the store",
        )
    )
    return found


def run(
    peers: NpmPeers, *, seconds: float = 20.0, calls: int = 300, quick: bool = False
) -> dict[str, Any]:
    if quick:
        seconds, calls = 5.0, 60
    started = time.monotonic()
    with sim_and_scratch(peers, "xo-bench-replicas-") as (sim, scratch):
        setup = gateway.Setup(sim, code_copy(scratch, compiled=True), scratch, peers)
        (scratch / "redis").mkdir()
        redis = RedisServer(scratch / "redis")
        try:
            with two_fleets(setup, redis) as fleets:
                latency = latency_phase(setup, fleets, redis, calls)
                load = load_phase(setup, fleets, redis, seconds)
        finally:
            redis.stop()
    return document(
        "replicas",
        started,
        store="redis-server (Debian) on loopback, password, no persistence",
        latency=latency,
        load=load,
        rows=rows(latency, load),
    )


def section(shared: dict[str, Any]) -> list[str]:
    return [
        "## Replicas: the shared state's cost to one replica",
        "",
        f"bench/replicas.py, {shared['at']}: the same one-instance fleet twice, its state in "
        "memory (the default) and in a Redis server on loopback (`[gateway.state]`, as "
        "replicas run), "
        f"{measured(shared['latency'], 'shared_ms')} through each, alternating call by call; "
        '"ours" is the shared state, "peer" the state in memory. A confirmation is a preview '
        "(a token issued: one Lua script) and a confirmed call (the token taken: one script, "
        "then its client's count); queries never reach the store (stream events stay in each "
        "replica's memory: a stream can only be resumed where its session lives). One replica "
        "of each kind: three on 2 cores would measure the machine, not the store.",
        "",
        *_table_lines(shared),
    ]


def _table_lines(shared: dict[str, Any]) -> list[str]:
    lines = [
        "| what | state in memory p50 / p99 | shared state p50 / p99 | added p50 |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, numbers in shared["latency"].items():
        memory, store = numbers["memory_ms"], numbers["shared_ms"]
        lines.append(
            f"| {label} | {memory['median']} / {memory['p99']} ms | {store['median']} / "
            f"{store['p99']} ms | {numbers['added_p50_ms']:+.2f} ms |"
        )
    lines += ["", "| throughput load | calls/s | CPU per call | launcher RSS after |"]
    lines += ["| --- | ---: | --- | ---: |"]
    for kind, load in shared["load"].items():
        cpu = ", ".join(f"{name} {ms} ms" for name, ms in load["cpu_ms_per_call"].items())
        lines.append(
            f"| state {kind} | {load['calls_per_s']} ({load['errors']} errors) | {cpu} | "
            f"{load['launcher_rss_kb'] / 1024:.1f} MiB |"
        )
    return lines


def main() -> None:
    run_from_cli(
        "replicas",
        __doc__,
        run,
        seconds="throughput window per fleet",
        calls="measured calls per fleet",
    )


if __name__ == "__main__":
    main()
