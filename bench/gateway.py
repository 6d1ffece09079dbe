"""The fleet gateway (`xo-mcp-fleet run --listen`): what it adds per call, what it carries, what
it costs in memory and in tool-list bytes.

- overhead: `vms_query` through the gateway's /mcp against the same worker code served directly
  as a standalone MCP server (`xo-mcp --listen 127.0.0.1:PORT`), same client, same era, calls
  alternating between the two. A fleet worker does not speak MCP (the gateway, in the launcher,
  does; it reaches its workers over a private JSON-lines unix socket), so the direct path is the
  nearest thing to "the same worker without a gateway";
- throughput: 8 concurrent sessions (asyncio tasks, raw HTTP client) of mixed query tools, 20 s;
- profile: the same load again with the launcher under cProfile (bench/cprofiled.py), to show
  where the gateway's CPU per call goes;
- memory: a 10-instance fleet (launcher + supervisord + workers) against 10 official servers;
- tools/list bytes: a 5-instance fleet's aggregated /mcp against 5 official servers, compact
  (the default) and with full descriptions (`[gateway] compact_tools = false`).

    .venv/bin/python bench/gateway.py [--seconds S] [--calls N] [--profile-seconds S]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pstats
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from common import (
    BENCH,
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
    cpu_split,
    descendants,
    document,
    free_port,
    log,
    machine_ticks,
    pss_kb,
    ratio,
    rss_kb,
    run_from_cli,
    sim_and_scratch,
    stop_process,
    summary,
    tools_bytes,
)
from support.clients import LEGACY, MODERN, http_client
from support.processes import Fleet, start_fleet

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
CPROFILED = BENCH / "cprofiled.py"
WARM_UP = 20


@dataclass(frozen=True)
class Setup:
    sim: Sim
    code: CodeCopy
    scratch: Path
    peers: NpmPeers

    def env(self, names: Sequence[str] = (), **extra: str) -> dict[str, str]:
        tokens = {token_env(name): self.sim.token for name in names}
        env: dict[str, str] = clean_env(**tokens, **self.code.env(), **extra)
        return env


def token_env(instance: str) -> str:
    """One variable per instance, as a fleet of distinct XOs would have (instances may also
    share one variable)."""
    return "XO_TOKEN_" + instance.upper().replace("-", "_")


# --- processes under test -------------------------------------------------------------------


def fleet_toml(
    setup: Setup,
    names: list[str],
    *,
    actions: bool = False,
    clients: bool = False,
    compact: bool = True,
) -> str:
    lines = [] if compact else ["[gateway]\ncompact_tools = false\n"]
    lines.append(f"[defaults]\nactions = {'true' if actions else 'false'}\n")
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
    setup: Setup, label: str, names: list[str], toml: str, *, profile: Path | None = None
) -> Iterator[Fleet]:
    """`xo-mcp-fleet run --listen` on a free loopback port, stopped (SIGTERM) on the way out;
    with `profile`, under bench/cprofiled.py (armed by SIGUSR1, written there on SIGUSR2)."""
    home = setup.scratch / label
    home.mkdir(mode=0o700)
    python = (PYTHON,) if profile is None else (PYTHON, str(CPROFILED), str(profile))
    env = setup.env(names, **{ADMIN[1]: ADMIN[2], VIEWER[1]: VIEWER[2]})
    running = start_fleet(home, toml, env=env, python=python, cwd=setup.code.cwd)
    try:
        states = running.wait_ready(timeout_s=180, states=("ready", "failed", "disabled"))
        if any(state != "ready" for state in states["instances"].values()):
            raise RuntimeError(f"fleet {label} did not come up: {states}\n{running.stderr()}")
        yield running
    finally:
        code, _ = running.stop(timeout_s=30)
        if code not in (0, -15):
            log(f"fleet {label} exited {code}; its stderr is in {running.stderr_path}")


@contextlib.contextmanager
def direct_worker(setup: Setup) -> Iterator[str]:
    """The same worker code as a standalone MCP server, `xo-mcp --listen 127.0.0.1:PORT`;
    yields its /mcp URL."""
    port = free_port()
    env = setup.env(XO_URL=setup.sim.url, XO_TOKEN=setup.sim.token)
    process = subprocess.Popen(
        [PYTHON, "-m", "xo_mcp.worker", "--listen", f"127.0.0.1:{port}"],
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
        stop_process(process, timeout_s=10)


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
    setup: Setup,
    running: Fleet,
    instances: list[str],
    seconds: float,
    *,
    window: Callable[[bool], None] | None = None,
    others: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Calls/s through the port, and who spent the CPU meanwhile (the client included, and
    `others`, e.g. a Redis server). `window(True)` is called as the measured window opens,
    `window(False)` as it closes."""
    assert running.url is not None
    pids = {**fleet_pids(running), "simulator": setup.sim.process.pid, **(others or {})}
    client = "client (this process)"
    opened: list[bool] = []

    def snapshot() -> dict[str, float]:
        if window is not None and opened:
            window(False)
        busy, total = machine_ticks()
        cpu = {label: cpu_seconds(pid) for label, pid in pids.items()}
        user, system = cpu_split(pids["launcher"])
        found = {**cpu, client: time.process_time(), "busy": busy, "total": total}
        found |= {"launcher user": user, "launcher system": system}
        if window is not None and not opened:
            window(True)
        opened.append(True)
        return found

    load = asyncio.run(_load(running.url, instances, seconds, 2.0, snapshot))
    ticks = load["cpu"].pop("busy"), load["cpu"].pop("total")
    split = {part: load["cpu"].pop(f"launcher {part}") for part in ("user", "system")}
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
        # The launcher's system time is mostly its socket calls (loopback TCP to the client,
        # unix sockets to the workers); its user time is Python.
        "launcher_cpu_ms_per_call": {k: round(v / calls * 1000, 3) for k, v in split.items()},
        "machine_busy_percent": round(ticks[0] / max(ticks[1], 1) * 100, 1),
        # What these processes' CPU per call would allow on an otherwise idle machine: all of
        # them sharing the cores, and the launcher alone (one event loop: one core at most).
        "cpu_bound_ceiling_calls_per_s": round(
            (os.cpu_count() or 1) * 1000 / max(sum(v / calls * 1000 for v in cpu.values()), 1e-9)
        ),
        "launcher_bound_calls_per_s": round(1 / max(cpu["launcher"] / calls, 1e-9)),
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


def port_phase(setup: Setup, *, seconds: float, calls: int) -> dict[str, Any]:
    """Overhead (every client) and throughput through a 2-instance fleet's HTTP port."""
    names = ["alpha", "beta"]
    with (
        fleet(setup, "pair", names, fleet_toml(setup, names)) as running,
        direct_worker(setup) as direct_url,
    ):
        assert running.url is not None
        log(f"gateway: overhead, {WARM_UP} + {calls} calls per path and client")
        found = asyncio.run(
            overhead(setup.peers, running.url, direct_url, list(CLIENTS), WARM_UP, calls)
        )
        log(f"gateway: throughput, {CONCURRENCY} sessions, {seconds:g} s")
        load = throughput(setup, running, names, seconds)
    return {"overhead": found, "throughput": load}


# --- profile: where the launcher's CPU goes under the throughput load ----------------------


def _area(path: str, function: str) -> str:
    """Who owns a profiled function: a package, a part of xo_mcp, the stdlib or C code."""
    if path == "~":
        return "C code: " + _builtin_owner(function)
    if path.startswith("<"):
        return "stdlib (frozen or generated code)"
    parts = Path(path).parts
    if "site-packages" in parts:
        package = parts[parts.index("site-packages") + 1]
        return package.removesuffix(".py")
    if "xo_mcp" in parts:
        at = len(parts) - 1 - parts[::-1].index("xo_mcp")
        return ".".join(part.removesuffix(".py") for part in parts[at : at + 2])
    name = Path(path).stem if Path(path).parent.name.startswith("python3") else None
    return f"stdlib {name or Path(path).parent.name}"


def _builtin_owner(function: str) -> str:
    """The C module of a built-in: `<method 'send' of '_socket.socket' objects>` → _socket,
    `<built-in method _asyncio.get_running_loop>` → _asyncio, `str` methods → builtins."""
    if " of '" in function:
        owner = function.split(" of '", 1)[1].split("'", 1)[0]
        return owner.split(".", 1)[0] if "." in owner else "builtins"
    words = function.strip("<>{}").split()
    if len(words) >= 3 and words[:2] == ["built-in", "method"] and "." in words[2]:
        return words[2].split(".", 1)[0]
    return "builtins"


def _label(key: tuple[str, int, str]) -> str:
    path, line, function = key
    if path == "~":
        return function
    parts = Path(path).parts
    for root in ("site-packages", "xo_mcp"):
        if root in parts:
            at = len(parts) - 1 - parts[::-1].index(root)
            path = "/".join(parts[at + (root == "site-packages") :])
            break
    else:
        path = Path(path).name
    return f"{path}:{line} {function}"


# What one tools/call makes the launcher do, counted exactly (the timer plays no part in counts).
ProfileKey = tuple[str, int, str]  # (file, line, function), as pstats keys its entries
COUNTED: dict[str, Callable[[ProfileKey], bool]] = {
    "function calls (Python and C)": lambda key: True,
    "asyncio tasks created": lambda key: (
        key[0].endswith("base_events.py") and key[2] == "create_task"
    ),
    "socket send() calls": lambda key: key[2] == "<method 'send' of '_socket.socket' objects>",
    "unix connections opened": lambda key: (
        key[2] == "<method 'connect' of '_socket.socket' objects>"
    ),
    "pydantic validations": lambda key: "SchemaValidator" in key[2] and "validate_" in key[2],
}


def summarize_profile(
    path: Path, calls: int, cpu_ms_per_call: float, top: int = 12
) -> dict[str, Any]:
    """Own time by area and by function, as shares of the profiled CPU time and as an estimate in
    ms per call (share x the launcher's CPU per call measured without the profiler)."""
    stats: dict[Any, Any] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    total = sum(own for _, _, own, _, _ in stats.values()) or 1e-9
    areas: dict[str, float] = {}
    for key, (_, _, own, _, _) in stats.items():
        area = _area(key[0], key[2])
        areas[area] = areas.get(area, 0.0) + own

    def share(own: float) -> dict[str, float]:
        return {
            "share": round(own / total, 3),
            "est_ms_per_call": round(own / total * cpu_ms_per_call, 3),
        }

    ranked = sorted(stats.items(), key=lambda item: -item[1][2])[:top]
    return {
        "calls": calls,
        "profiled_cpu_ms_per_call": round(total / calls * 1000, 3),
        "per_call": {
            name: round(sum(v[1] for k, v in stats.items() if wanted(k)) / calls, 1)
            for name, wanted in COUNTED.items()
        },
        "own_time_by_area": {
            area: share(own) for area, own in sorted(areas.items(), key=lambda item: -item[1])[:top]
        },
        "top_functions_own_time": {_label(key): share(values[2]) for key, values in ranked},
    }


def _wait_for_profile(path: Path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, EOFError, ValueError, TypeError):
            pstats.Stats(str(path))
            return
        time.sleep(0.1)
    raise RuntimeError(f"the launcher wrote no profile to {path}")


def profile_phase(setup: Setup, *, seconds: float, unprofiled_ms: float) -> dict[str, Any]:
    """The throughput load again, the launcher under cProfile for the measured window.
    `unprofiled_ms`: the launcher's CPU per call without the profiler, to scale shares by."""
    names = ["alpha", "beta"]
    out = setup.scratch / "launcher.prof"
    with fleet(setup, "profiled", names, fleet_toml(setup, names), profile=out) as running:
        launcher = running.process.pid

        def window(opening: bool) -> None:
            os.kill(launcher, signal.SIGUSR1 if opening else signal.SIGUSR2)

        log(f"gateway: the same load, launcher under cProfile, {seconds:g} s")
        load = throughput(setup, running, names, seconds, window=window)
        _wait_for_profile(out)
    return {
        "how": "bench/cprofiled.py around `python -m xo_mcp.fleet`, armed for the measured "
        "window only; main thread; timer: the thread's CPU time",
        "load": {key: load[key] for key in ("calls", "seconds", "calls_per_s", "cpu_ms_per_call")},
        **summarize_profile(out, max(load["calls"], 1), unprofiled_ms),
    }


# --- memory and tool lists ------------------------------------------------------------------


def memory_phase(setup: Setup) -> dict[str, Any]:
    names = _names("xo", 10)
    log("gateway: memory, a 10-instance fleet")
    with fleet(setup, "ten", names, fleet_toml(setup, names)) as running:
        ours = fleet_memory(running, names)
    log("gateway: memory, 10 official servers")
    with official_servers(setup, 10, actions=False) as servers:
        theirs = official_memory(servers)
        read_only = official_tools(servers[:5])
    log("gateway: tools/list bytes, a 5-instance fleet, compact then full descriptions")
    names = _names("xo", 5)
    toml = fleet_toml(setup, names, actions=True, clients=True)
    with fleet(setup, "five", names, toml) as running:
        assert running.url is not None
        admin = asyncio.run(_gateway_tools(running.url, ADMIN[2]))
        viewer = asyncio.run(_gateway_tools(running.url, VIEWER[2]))
    toml = fleet_toml(setup, names, actions=True, clients=True, compact=False)
    with fleet(setup, "five-full", names, toml) as running:
        assert running.url is not None
        admin_full = asyncio.run(_gateway_tools(running.url, ADMIN[2]))
    with official_servers(setup, 5, actions=True) as servers:
        actions = official_tools(servers)
    return {
        "fleet_10": ours,
        "official_10": theirs,
        "tools_list": {
            "actions": {"gateway": admin, "official_5": actions},
            "read_only": {"gateway": viewer, "official_5": read_only},
            "actions_full": {"gateway": admin_full, "official_5": actions},
        },
    }


def _overhead_row(client: str, numbers: dict[str, Any]) -> Row:
    gateway, direct = numbers["gateway_ms"], numbers["direct_ms"]
    added = numbers["added_p50_ms"]
    return Row(
        f"gateway overhead, p50 ({client})",
        gateway["median"],
        direct["median"],
        "ms",
        "<= 1 ms added",
        added <= 1.0,
        note=f"added {added:+.2f} ms; p99 {gateway['p99']:.2f} vs {direct['p99']:.2f} ms "
        f"({numbers['added_p99_ms']:+.2f})",
    )


def _throughput_row(load: dict[str, Any]) -> Row:
    client = load["cpu_percent_of_one_core"]["client (this process)"]
    return Row(
        f"throughput, {CONCURRENCY} sessions, mixed queries",
        load["calls_per_s"],
        None,
        "calls/s",
        ">= 500",
        load["calls_per_s"] >= 500,
        note=f"launcher {load['cpu_ms_per_call']['launcher']} ms CPU per call (one core: at "
        f"most {load['launcher_bound_calls_per_s']} calls/s); client CPU {client}% of one core",
    )


def rows(port: dict[str, Any], memory: dict[str, Any]) -> list[Row]:
    found = [_overhead_row(client, numbers) for client, numbers in port["overhead"].items()]
    found.append(_throughput_row(port["throughput"]))
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
        found.append(_tools_row(mode, numbers))
    return found


TOOL_LIST_GOAL = 24_000  # bytes (≈ 6k tokens), aggregated and compact, actions on
TOOL_LISTS = {  # mode: (label, target ratio to 5 official servers; None: no target set)
    "actions": ("actions, compact", 0.06),
    "read_only": ("read-only, compact", None),
    "actions_full": ("actions, full descriptions", 0.25),
}


def _tools_row(mode: str, numbers: dict[str, Any]) -> Row:
    label, limit = TOOL_LISTS[mode]
    ours = numbers["gateway"]["array_bytes"]
    note = f"{numbers['gateway']['tools']} tools vs {sum(numbers['official_5']['tools_each'])}"
    if mode == "actions":
        met = "met" if ours <= TOOL_LIST_GOAL else "missed"
        note += f"; goal <= {TOOL_LIST_GOAL:,} bytes {met}"
    scenario, peer = f"tools/list bytes, 5 instances, {label}", numbers["official_5"]["array_bytes"]
    if limit is None:
        return Row(scenario, ours, peer, "bytes", "—", None, ratio(ours, peer), note)
    row = compare(scenario, ours, peer, "bytes", limit, note=note)
    if mode == "actions" and ours > TOOL_LIST_GOAL:
        row.met = False
    return row


def run(
    peers: NpmPeers, *, seconds: float = 20.0, calls: int = 300, profile_seconds: float = 10.0
) -> dict[str, Any]:
    started = time.monotonic()
    with sim_and_scratch(peers, "xo-bench-gw-") as (sim, scratch):
        setup = Setup(sim, code_copy(scratch, compiled=True), scratch, peers)
        port = port_phase(setup, seconds=seconds, calls=calls)
        profile = None
        if profile_seconds:
            launcher_ms = port["throughput"]["cpu_ms_per_call"]["launcher"]
            profile = profile_phase(setup, seconds=profile_seconds, unprofiled_ms=launcher_ms)
        memory = memory_phase(setup)
    return document(
        "gateway",
        started,
        code="a copy of xo_mcp/ with bytecode precompiled, first on PYTHONPATH",
        direct="the same worker code as a standalone MCP server: xo-mcp --listen 127.0.0.1:PORT",
        **port,
        launcher_profile=profile,
        memory_and_tools=memory,
        rows=rows(port, memory),
    )


def main() -> None:
    run_from_cli(
        "gateway",
        __doc__,
        run,
        seconds="throughput window",
        calls="measured calls per path",
        profile_seconds="profiled window (0: no profile)",
    )


if __name__ == "__main__":
    main()
