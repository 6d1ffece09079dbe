"""The fleet gateway (`xo-mcp-fleet run --listen`): what it adds per call, what it carries, what
it costs in memory and in tool-list bytes.

- overhead: `vms_query` through the gateway's /mcp against the same worker served directly
  (`xo-mcp --listen 127.0.0.1:PORT`), same client, same era, calls alternating between the two;
- throughput: 8 concurrent sessions (asyncio tasks, raw HTTP client) of mixed query tools, 20 s;
- memory: a 10-instance fleet (launcher + supervisord + workers) against 10 official servers;
- tools/list bytes: a 5-instance fleet's aggregated /mcp against 5 official servers.

The gateway and the direct worker run twice: as shipped, and through bench/nodelay.py, which
only turns TCP_NODELAY on (see there): the difference is what that one-line fix is worth.

    .venv/bin/python bench/gateway.py [--seconds S] [--calls N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from common import (
    BENCH,
    NODELAY,
    OFFICIAL,
    PYTHON,
    CodeCopy,
    HttpSession,
    NpmPeers,
    Row,
    Sim,
    StdioServer,
    clean_env,
    code_copy,
    command_line,
    compare,
    cpu_seconds,
    descendants,
    free_port,
    log,
    machine,
    machine_ticks,
    npm_peers,
    pss_kb,
    rss_kb,
    scratch_dir,
    start_fast_sim,
    stop_process,
    summary,
    tools_bytes,
    write_json,
)
from support.clients import LEGACY, MODERN, http_client
from support.processes import Fleet

ADMIN = ("admin", "GW_ADMIN_TOKEN", "admin-token-0123456789abcdef")
VIEWER = ("viewer", "GW_VIEWER_TOKEN", "viewer-token-0123456789abcdef")
QUERY = ("vms_query", {"operation": "GetVms"})
MIXED = (
    ("vms_query", {"operation": "GetVms"}),
    ("hosts_query", {"operation": "GetHosts"}),
    ("pools_query", {"operation": "GetPools"}),
    ("srs_query", {"operation": "GetSrs"}),
    ("networks_query", {"operation": "GetNetworks"}),
)
CONCURRENCY = 8
CLIENTS = {
    "sdk-legacy": "Python SDK Client, handshake era (2025-11-25), httpx2",
    "sdk-modern": "Python SDK Client, 2026-07-28 (stateless requests)",
    "raw": "raw HTTP/1.1 keep-alive client (bench/common.py), handshake era",
    "ts-sdk": "TypeScript SDK Client (npm @modelcontextprotocol/sdk@1), as most MCP hosts embed",
}
WARM_UP = 20


@dataclass(frozen=True)
class Setup:
    sim: Sim
    code: CodeCopy
    scratch: Path
    peers: NpmPeers

    def env(self, names: Sequence[str] = (), **extra: str) -> dict[str, str]:
        tokens = {token_env(name): self.sim.token for name in names}
        return clean_env(**tokens, **self.code.env(), **extra)


def token_env(instance: str) -> str:
    """One variable per instance: two instances naming the same `token_env` break the fleet
    (the launcher pops the variable for the first; see the report on fleet/secrets.py)."""
    return "XO_TOKEN_" + instance.upper().replace("-", "_")


# --- processes under test -------------------------------------------------------------------


def fleet_toml(
    setup: Setup, names: list[str], *, actions: bool = False, clients: bool = False
) -> str:
    lines = [f"[defaults]\nactions = {'true' if actions else 'false'}\n"]
    if clients:
        lines.append(
            f'[[gateway.clients]]\nname = "{ADMIN[0]}"\ntoken_env = "{ADMIN[1]}"\n'
            f'[[gateway.clients]]\nname = "{VIEWER[0]}"\ntoken_env = "{VIEWER[1]}"\n'
            "read_only = true\n"
        )
    for name in names:
        lines.append(
            f'[instances.{name}]\nurl = "{setup.sim.url}"\ntoken_env = "{token_env(name)}"\n'
        )
    return "\n".join(lines)


@contextlib.contextmanager
def fleet(
    setup: Setup, label: str, names: list[str], toml: str, *, nodelay: bool
) -> Iterator[Fleet]:
    """`xo-mcp-fleet run --listen` on a free loopback port, stopped (SIGTERM) on the way out."""
    home = setup.scratch / label
    home.mkdir(mode=0o700)
    runtime = home / "run"
    config = home / "fleet.toml"
    config.write_text(f'runtime_dir = "{runtime}"\n{toml}', encoding="utf-8")
    stderr_path = home / "fleet.stderr"
    port = free_port()
    start = [*NODELAY, "xo_mcp.fleet"] if nodelay else [PYTHON, "-m", "xo_mcp.fleet"]
    command = [*start, "run", "--config", str(config), "--listen", f"127.0.0.1:{port}"]
    env = setup.env(names, **{ADMIN[1]: ADMIN[2], VIEWER[1]: VIEWER[2]})
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
            cwd=setup.code.cwd,
        )
    running = Fleet(process, config, runtime, stderr_path, f"http://127.0.0.1:{port}")
    try:
        states = running.wait_ready(timeout_s=180, states=("ready", "failed", "disabled"))
        if any(state != "ready" for state in states["instances"].values()):
            raise RuntimeError(f"fleet {label} did not come up: {states}\n{running.stderr()}")
        yield running
    finally:
        code, _ = running.stop(timeout_s=30)
        if code not in (0, -15):
            log(f"fleet {label} exited {code}; its stderr is in {stderr_path}")


@contextlib.contextmanager
def direct_worker(setup: Setup, *, nodelay: bool) -> Iterator[str]:
    """The same worker served directly: `xo-mcp --listen 127.0.0.1:PORT`; yields its /mcp URL."""
    port = free_port()
    start = [*NODELAY, "xo_mcp.worker"] if nodelay else [PYTHON, "-m", "xo_mcp.worker"]
    env = setup.env(XO_URL=setup.sim.url, XO_TOKEN=setup.sim.token)
    process = subprocess.Popen(
        [*start, "--listen", f"127.0.0.1:{port}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=setup.code.cwd,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_status(url, process)
        yield f"{url}/mcp"
    finally:
        stop_process(process)


def _wait_status(url: str, process: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the worker exited {process.returncode}")
        with contextlib.suppress(httpx2.HTTPError):
            if httpx2.get(f"{url}/status", timeout=2, trust_env=False).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the worker at {url} did not answer within {timeout_s}s")


def fleet_pids(running: Fleet) -> dict[str, int]:
    """launcher, supervisord and one entry per worker (named by its instance's directory)."""
    pids = {"launcher": running.process.pid}
    for pid in descendants(running.process.pid):
        line = command_line(pid)
        if "supervisord" in line:
            pids["supervisord"] = pid
        elif "xo_mcp.worker" in line and "--runtime-dir" in line:
            name = Path(line.split("--runtime-dir", 1)[1].split()[0]).name
            pids[f"worker {name}"] = pid
        else:
            pids[f"other {pid}"] = pid
    return pids


# --- overhead: gateway vs direct, call by call ---------------------------------------------


Call = Callable[[], Awaitable[Any]]


async def _alternate(paths: dict[str, Call], warm_up: int, calls: int) -> dict[str, list[float]]:
    latencies: dict[str, list[float]] = {label: [] for label in paths}
    for index in range(warm_up + calls):
        for label, call in paths.items():
            started = time.perf_counter()
            await call()
            if index >= warm_up:
                latencies[label].append((time.perf_counter() - started) * 1000)
    return latencies


@contextlib.asynccontextmanager
async def _sdk_calls(
    gateway_url: str, direct_url: str, mode: str
) -> AsyncIterator[dict[str, Call]]:
    async with (
        http_client(f"{gateway_url}/mcp", mode=mode) as via_gateway,
        http_client(direct_url, mode=mode) as direct,
    ):

        async def gateway_call() -> Any:
            result = await via_gateway.call_tool(QUERY[0], {**QUERY[1], "instance": "alpha"})
            assert not result.is_error, result
            return result

        async def direct_call() -> Any:
            result = await direct.call_tool(*QUERY)
            assert not result.is_error, result
            return result

        yield {"gateway": gateway_call, "direct": direct_call}


@contextlib.asynccontextmanager
async def _raw_calls(gateway_url: str, direct_url: str) -> AsyncIterator[dict[str, Call]]:
    via_gateway = _session(gateway_url + "/mcp")
    direct = _session(direct_url)
    await via_gateway.open()
    await direct.open()
    try:
        yield {
            "gateway": lambda: via_gateway.call(QUERY[0], {**QUERY[1], "instance": "alpha"}),
            "direct": lambda: direct.call(*QUERY),
        }
    finally:
        await via_gateway.close()
        await direct.close()


def _session(url: str, token: str | None = None) -> HttpSession:
    rest = url.split("://", 1)[1]
    address, path = rest.split("/", 1)
    host, port = address.rsplit(":", 1)
    return HttpSession(host, int(port), "/" + path, token)


def _ts_latencies(
    peers: NpmPeers, gateway_url: str, direct_url: str, warm_up: int, calls: int
) -> dict[str, list[float]]:
    """The TypeScript SDK client (bench/ts_client.mjs), run where node resolves the SDK."""
    script = peers.root / "xo-mcp-bench-ts-client.mjs"
    shutil.copyfile(BENCH / "ts_client.mjs", script)
    targets = [f"{gateway_url}/mcp", json.dumps({**QUERY[1], "instance": "alpha"})]
    targets += [direct_url, json.dumps(QUERY[1])]
    result = subprocess.run(
        ["node", str(script), str(warm_up), str(calls), *targets],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=peers.root,
        env=clean_env(NODE_NO_WARNINGS="1"),
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the TypeScript client failed: {result.stderr[-1500:]}")
    latencies: dict[str, list[float]] = json.loads(result.stdout.strip().splitlines()[-1])
    return latencies


async def _latencies(
    peers: NpmPeers, client: str, gateway_url: str, direct_url: str, warm_up: int, calls: int
) -> dict[str, list[float]]:
    if client == "ts-sdk":
        return _ts_latencies(peers, gateway_url, direct_url, warm_up, calls)
    paths = (
        _raw_calls(gateway_url, direct_url)
        if client == "raw"
        else _sdk_calls(gateway_url, direct_url, LEGACY if client == "sdk-legacy" else MODERN)
    )
    async with paths as calls_by_path:
        return await _alternate(calls_by_path, warm_up, calls)


async def overhead(
    peers: NpmPeers,
    gateway_url: str,
    direct_url: str,
    clients: list[str],
    warm_up: int,
    calls: int,
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for client in clients:
        latencies = await _latencies(peers, client, gateway_url, direct_url, warm_up, calls)
        gateway, direct = summary(latencies["gateway"], 3), summary(latencies["direct"], 3)
        found[client] = {
            "client": CLIENTS[client],
            "gateway_ms": gateway,
            "direct_ms": direct,
            "added_p50_ms": round(gateway["median"] - direct["median"], 3),
            "added_p99_ms": round(gateway["p99"] - direct["p99"], 3),
        }
    return found


# --- throughput -----------------------------------------------------------------------------


Snapshot = Callable[[], dict[str, float]]


async def _load(
    url: str, instances: list[str], seconds: float, warm_s: float, snapshot: Snapshot
) -> dict[str, Any]:
    sessions = [_session(url + "/mcp") for _ in range(CONCURRENCY)]
    for session in sessions:
        await session.open()
    latencies: list[float] = []
    state: dict[str, Any] = {"measuring": False, "calls": 0, "errors": 0}
    stop_at = time.monotonic() + warm_s + seconds

    async def one_client(index: int, session: HttpSession) -> None:
        turn = index
        while time.monotonic() < stop_at:
            tool, arguments = MIXED[turn % len(MIXED)]
            instance = instances[turn % len(instances)]
            turn += 1
            started = time.perf_counter()
            try:
                await session.call(tool, {**arguments, "instance": instance})
            except Exception as error:  # this session is unusable now: count it and stop it
                state["errors"] += 1
                state.setdefault("first_error", f"{type(error).__name__}: {error}"[:300])
                return
            if state["measuring"]:
                latencies.append((time.perf_counter() - started) * 1000)
                state["calls"] += 1

    tasks = [asyncio.ensure_future(one_client(i, s)) for i, s in enumerate(sessions)]
    await asyncio.sleep(warm_s)
    before = snapshot()
    started = time.monotonic()
    state["measuring"] = True
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    after = snapshot()
    for session in sessions:
        await session.close()
    used = {label: after[label] - before[label] for label in before}
    return {**state, "seconds": elapsed, "latencies": latencies, "cpu": used}


def throughput(
    setup: Setup, running: Fleet, instances: list[str], seconds: float
) -> dict[str, Any]:
    """Calls/s through the port, and who spent the CPU meanwhile (the client included)."""
    assert running.url is not None
    pids = {**fleet_pids(running), "simulator": setup.sim.process.pid}
    client = "client (this process)"

    def snapshot() -> dict[str, float]:
        busy, total = machine_ticks()
        cpu = {label: cpu_seconds(pid) for label, pid in pids.items()}
        return {**cpu, client: time.process_time(), "busy": busy, "total": total}

    load = asyncio.run(_load(running.url, instances, seconds, 2.0, snapshot))
    ticks = load["cpu"].pop("busy"), load["cpu"].pop("total")
    wall, cpu, calls = load["seconds"], load["cpu"], max(load["calls"], 1)
    return {
        "concurrency": CONCURRENCY,
        "client": f"{CONCURRENCY} asyncio tasks in one process, raw HTTP/1.1 keep-alive, one "
        "session (initialize handshake) each",
        "tools": [f"{tool} {arguments['operation']}" for tool, arguments in MIXED],
        "instances": instances,
        "seconds": round(wall, 2),
        "calls": load["calls"],
        "errors": load["errors"],
        "first_error": load.get("first_error"),
        "calls_per_s": round(load["calls"] / wall, 1),
        "latency_ms": summary(load["latencies"], 2) if load["latencies"] else None,
        "cpu_percent_of_one_core": {k: round(v / wall * 100, 1) for k, v in cpu.items()},
        "cpu_ms_per_call": {k: round(v / calls * 1000, 3) for k, v in cpu.items()},
        "machine_busy_percent": round(ticks[0] / max(ticks[1], 1) * 100, 1),
        # What these processes' CPU per call would allow on an otherwise idle machine.
        "cpu_bound_ceiling_calls_per_s": round(
            (os.cpu_count() or 1) * 1000 / max(sum(v / calls * 1000 for v in cpu.values()), 1e-9)
        ),
        "nproc": os.cpu_count(),
    }


# --- memory: 10 instances vs 10 official servers --------------------------------------------


async def _touch_every_instance(url: str, names: list[str], token: str | None = None) -> None:
    session = _session(url + "/mcp", token)
    await session.open()
    try:
        await session.list_tools()
        for name in names:
            await session.call(QUERY[0], {**QUERY[1], "instance": name})
    finally:
        await session.close()


def fleet_memory(running: Fleet, names: list[str]) -> dict[str, Any]:
    assert running.url is not None
    asyncio.run(_touch_every_instance(running.url, names))
    pids = fleet_pids(running)
    rss = {label: rss_kb(pid) for label, pid in pids.items()}
    pss = {label: pss_kb(pid) for label, pid in pids.items()}
    return {
        "processes": len(pids),
        "rss_kb": rss,
        "pss_kb": pss,
        "rss_total_kb": sum(rss.values()),
        "pss_total_kb": sum(pss.values()),
    }


@contextlib.contextmanager
def official_servers(
    setup: Setup, count: int, *, actions: bool
) -> Iterator[list[tuple[StdioServer, list[Any], int]]]:
    """`count` official servers, each after its tools/list and one vms_query call."""
    env = clean_env(XO_URL=setup.sim.url, XO_TOKEN=setup.sim.token, NODE_NO_WARNINGS="1")
    if actions:
        env["XO_MCP_ENABLE_ACTIONS"] = "1"
    servers: list[tuple[StdioServer, list[Any], int]] = []
    try:
        with (setup.scratch / "official.stderr").open("ab") as errors:
            for _ in range(count):
                server = StdioServer.spawn(setup.peers.official_server, env, errors)
                tools, size = server.handshake_and_list()
                servers.append((server, tools, size))
            for server, _, _ in servers:
                server.call(*QUERY)
        yield servers
    finally:
        for server, _, _ in servers:
            server.close()


def official_memory(servers: list[tuple[StdioServer, list[Any], int]]) -> dict[str, Any]:
    rss = [rss_kb(server.pid) for server, _, _ in servers]
    pss = [pss_kb(server.pid) for server, _, _ in servers]
    return {
        "processes": len(servers),
        "rss_kb": rss,
        "pss_kb": pss,
        "rss_total_kb": sum(rss),
        "pss_total_kb": sum(pss),
    }


# --- tools/list bytes -----------------------------------------------------------------------


async def _gateway_tools(url: str, token: str) -> dict[str, Any]:
    session = _session(url + "/mcp", token)
    await session.open()
    try:
        tools, wire = await session.list_tools()
    finally:
        await session.close()
    return {"tools": len(tools), "array_bytes": tools_bytes(tools), "response_bytes": wire}


def official_tools(servers: list[tuple[StdioServer, list[Any], int]]) -> dict[str, Any]:
    return {
        "servers": len(servers),
        "tools_each": [len(tools) for _, tools, _ in servers],
        "array_bytes": sum(tools_bytes(tools) for _, tools, _ in servers),
        "response_bytes": sum(size for _, _, size in servers),
    }


# --- the whole area -------------------------------------------------------------------------


def _names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{index:02d}" for index in range(1, count + 1)]


def port_phase(setup: Setup, *, nodelay: bool, seconds: float, calls: int) -> dict[str, Any]:
    """Overhead and throughput, with the gateway and the worker as shipped or with NODELAY."""
    label = "nodelay" if nodelay else "shipped"
    names = ["alpha", "beta"]
    clients = (
        ["sdk-legacy", "sdk-modern", "raw", "ts-sdk"]
        if nodelay
        else ["sdk-legacy", "raw", "ts-sdk"]
    )
    # As shipped, a reused connection waits ~40 ms per request: fewer calls tell as much.
    measured = calls if nodelay else max(calls // 3, 30)
    with (
        fleet(setup, f"pair-{label}", names, fleet_toml(setup, names), nodelay=nodelay) as running,
        direct_worker(setup, nodelay=nodelay) as direct_url,
    ):
        assert running.url is not None
        log(f"gateway ({label}): overhead, {WARM_UP} + {measured} calls per path and client")
        found = asyncio.run(
            overhead(setup.peers, running.url, direct_url, clients, WARM_UP, measured)
        )
        log(f"gateway ({label}): throughput, {CONCURRENCY} sessions, {seconds:g} s")
        load = throughput(setup, running, names, seconds)
    return {"overhead": found, "throughput": load}


def memory_phase(setup: Setup) -> dict[str, Any]:
    names = _names("xo", 10)
    log("gateway: memory, a 10-instance fleet")
    with fleet(setup, "ten", names, fleet_toml(setup, names), nodelay=False) as running:
        ours = fleet_memory(running, names)
    log("gateway: memory, 10 official servers")
    with official_servers(setup, 10, actions=False) as servers:
        theirs = official_memory(servers)
        read_only = official_tools(servers[:5])
    log("gateway: tools/list bytes, a 5-instance fleet")
    names = _names("xo", 5)
    toml = fleet_toml(setup, names, actions=True, clients=True)
    with fleet(setup, "five", names, toml, nodelay=False) as running:
        assert running.url is not None
        admin = asyncio.run(_gateway_tools(running.url, ADMIN[2]))
        viewer = asyncio.run(_gateway_tools(running.url, VIEWER[2]))
    with official_servers(setup, 5, actions=True) as servers:
        actions = official_tools(servers)
    return {
        "fleet_10": ours,
        "official_10": theirs,
        "tools_list": {
            "actions": {"gateway": admin, "official_5": actions},
            "read_only": {"gateway": viewer, "official_5": read_only},
        },
    }


def _overhead_row(label: str, client: str, numbers: dict[str, Any]) -> Row:
    """As shipped, a ~40 ms delayed-ACK stall lands on the gateway path, the direct one or
    neither, connection by connection: the difference means nothing then, so only the
    TCP_NODELAY rows are judged against the target."""
    gateway, direct = numbers["gateway_ms"], numbers["direct_ms"]
    added = numbers["added_p50_ms"]
    judged = label != "as shipped"
    note = (
        f"added {added:+.2f} ms; p99 {gateway['p99']:.2f} vs {direct['p99']:.2f} ms "
        f"({numbers['added_p99_ms']:+.2f})"
    )
    if not judged:
        note += "; not judged: Nagle/delayed-ACK stall"
    return Row(
        f"gateway overhead, p50 ({label}, {client})",
        gateway["median"],
        direct["median"],
        "ms",
        "<= 1 ms added" if judged else "(reported)",
        added <= 1.0 if judged else None,
        note=note,
    )


def rows(shipped: dict[str, Any], fixed: dict[str, Any], memory: dict[str, Any]) -> list[Row]:
    found: list[Row] = []
    for label, phase in (("as shipped", shipped), ("TCP_NODELAY", fixed)):
        for client, numbers in phase["overhead"].items():
            found.append(_overhead_row(label, client, numbers))
        load = phase["throughput"]
        found.append(
            Row(
                f"throughput, {CONCURRENCY} sessions, mixed queries ({label})",
                load["calls_per_s"],
                None,
                "calls/s",
                ">= 500",
                load["calls_per_s"] >= 500,
                note=f"client CPU {load['cpu_percent_of_one_core']['client (this process)']}% "
                "of one core",
            )
        )
    mib = 1024
    ours, theirs = memory["fleet_10"], memory["official_10"]
    for kind in ("rss", "pss"):
        found.append(
            compare(
                f"10 instances, {kind.upper()} sum (fleet vs 10 official)",
                round(ours[f"{kind}_total_kb"] / mib, 1),
                round(theirs[f"{kind}_total_kb"] / mib, 1),
                "MiB",
                0.6,
                note=f"{ours['processes']} processes vs {theirs['processes']}",
            )
        )
    for mode, numbers in memory["tools_list"].items():
        found.append(
            compare(
                f"tools/list bytes, 5 instances, {mode.replace('_', '-')}",
                numbers["gateway"]["array_bytes"],
                numbers["official_5"]["array_bytes"],
                "bytes",
                0.25,
                note=f"{numbers['gateway']['tools']} tools vs "
                f"{sum(numbers['official_5']['tools_each'])}",
            )
        )
    return found


def run(peers: NpmPeers, *, seconds: float = 20.0, calls: int = 300) -> dict[str, Any]:
    started = time.monotonic()
    sim = start_fast_sim("--spec", str(peers.real_spec))
    try:
        with scratch_dir("xo-bench-gw-") as scratch:
            setup = Setup(sim, code_copy(scratch, compiled=True), scratch, peers)
            shipped = port_phase(setup, nodelay=False, seconds=seconds, calls=calls)
            fixed = port_phase(setup, nodelay=True, seconds=seconds, calls=calls)
            memory = memory_phase(setup)
    finally:
        sim.stop()
    return {
        "area": "gateway",
        "peer": OFFICIAL,
        "machine": machine(),
        "simulator": "xo-mcp-sim --spec <@xen-orchestra/rest-api@0.39.0 swagger.json>, TCP_NODELAY",
        "code": "a copy of xo_mcp/ with bytecode precompiled, first on PYTHONPATH",
        "as_shipped": shipped,
        "tcp_nodelay": fixed,
        "memory_and_tools": memory,
        "rows": rows(shipped, fixed, memory),
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="throughput window")
    parser.add_argument("--calls", type=int, default=300, help="measured calls per path")
    args = parser.parse_args()
    result = run(npm_peers(), seconds=args.seconds, calls=args.calls)
    print(write_json("gateway", result))


if __name__ == "__main__":
    main()
