"""The worker (`xo-mcp`) against the official `@xen-orchestra/mcp` 1.4.2, side by side.

Both serve the same simulated XO (the REAL 0.39.0 spec, token auth) over stdio, driven by the
raw JSON-RPC driver of common.py:

- cold start: spawn → initialize, initialized and tools/list written at once → the tools/list
  answer arrives; N runs, the variants interleaved round by round;
- warm `vms_query` (GetVms): 20 warm-up calls, then 300 measured calls, the two servers
  alternating call by call so that machine noise hits both alike;
- memory: VmRSS (and PSS) of the server process after 100 calls.

Our worker runs from a copy of xo_mcp/ in two variants: bytecode precompiled (as in the image)
and from source with PYTHONDONTWRITEBYTECODE=1 (this machine's default: every start compiles).

    .venv/bin/python bench/worker_vs_official.py [--runs N] [--calls N]
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    PYTHON,
    CodeCopy,
    NpmPeers,
    Row,
    Sim,
    StdioServer,
    clean_env,
    code_copy,
    compare,
    cpu_seconds,
    document,
    log,
    pss_kb,
    rss_kb,
    run_from_cli,
    sim_and_scratch,
    summary,
)

WORKER = [PYTHON, "-m", "xo_mcp.worker"]
QUERY = ("vms_query", {"operation": "GetVms"})
WARM_UP = 20
RSS_AFTER = 100


@dataclass(frozen=True)
class Contender:
    label: str
    command: list[str]
    env: dict[str, str]
    cwd: Path | None = None


def contenders(sim: Sim, peers: NpmPeers, compiled: CodeCopy, source: CodeCopy) -> list[Contender]:
    xo = {"XO_URL": sim.url, "XO_TOKEN": sim.token}
    return [
        Contender("ours (precompiled)", WORKER, clean_env(**xo, **compiled.env()), compiled.cwd),
        Contender("ours (from source)", WORKER, clean_env(**xo, **source.env()), source.cwd),
        Contender("official", peers.official_server, clean_env(**xo, NODE_NO_WARNINGS="1")),
    ]


def _cold_once(contender: Contender, stderr: Path) -> tuple[float, int]:
    with stderr.open("ab") as errors:
        server = StdioServer.spawn(contender.command, contender.env, errors, contender.cwd)
        try:
            tools, _ = server.handshake_and_list()
            elapsed_ms = (time.perf_counter() - server.started) * 1000
        finally:
            server.close()
    return elapsed_ms, len(tools)


def cold_start(every: list[Contender], runs: int, scratch: Path) -> dict[str, Any]:
    times: dict[str, list[float]] = {c.label: [] for c in every}
    tools: dict[str, int] = {}
    for round_ in range(runs):
        # Rotate who goes first: a busy neighbour then hurts every contender in turn.
        order = every[round_ % len(every) :] + every[: round_ % len(every)]
        for contender in order:
            elapsed, count = _cold_once(contender, scratch / "cold.stderr")
            times[contender.label].append(elapsed)
            tools[contender.label] = count
    return {
        label: {
            **summary(values, 1),
            "tools": tools[label],
            "runs_ms": [round(v, 1) for v in values],
        }
        for label, values in times.items()
    }


def _rounded(values: list[float]) -> list[float]:
    return [round(value, 1) for value in values]


# What each kind of worker imports before it can serve, exactly as a real start does, but in one
# thread (a standalone start loads the SDK in a thread while it contacts XO; two threads taking
# turns on the GIL would blur the blame). A fleet worker must not load the MCP SDK at all.
IMPORT_PROBES = {
    "standalone (stdio MCP)": (
        "xo_mcp.worker.cli, xo_mcp.worker.boot, xo_mcp.worker.server, xo_mcp.worker.transport, "
        "mcp.server.stdio"
    ),
    "fleet (--gateway-socket)": (
        "xo_mcp.worker.cli, xo_mcp.sandbox, xo_mcp.worker.boot, xo_mcp.worker.gateway_socket"
    ),
}
PROBE = """\
import sys, time
started = time.perf_counter()
import {modules}
elapsed = round((time.perf_counter() - started) * 1000, 1)
print(elapsed, int(any(name.split(".")[0] in ("mcp", "mcp_types") for name in sys.modules)))
"""
IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (.*)$")


def import_profile(contender: Contender, modules: str, top: int = 10) -> dict[str, Any]:
    """`-X importtime` of a worker's imports: wall time, and self time summed per package."""
    result = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", PROBE.format(modules=modules)],
        env=contender.env,
        cwd=contender.cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    totals: dict[str, int] = {}
    count = 0
    for line in result.stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if match is not None:
            count += 1
            package = match.group(3).strip().split(".")[0]
            totals[package] = totals.get(package, 0) + int(match.group(1))
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:top]
    wall_ms, sdk_loaded = result.stdout.split()
    return {
        "imports": modules,
        "wall_ms": float(wall_ms),
        "modules": count,
        "mcp_sdk_loaded": sdk_loaded == "1",
        "self_ms_by_package": {name: round(us / 1000, 1) for name, us in ranked},
    }


@dataclass
class Warm:
    contender: Contender
    server: StdioServer
    latencies_ms: list[float] = field(default_factory=list)
    calls: int = 0
    rss_kb: dict[int, int] = field(default_factory=dict)  # calls made -> VmRSS
    pss_kb: dict[int, int] = field(default_factory=dict)
    cpu_start: float = 0.0
    rss_after: int = RSS_AFTER

    def call(self) -> float:
        started = time.perf_counter()
        self.server.call(*QUERY)
        elapsed = (time.perf_counter() - started) * 1000
        self.calls += 1
        if self.calls == self.rss_after:
            self.memory()
        return elapsed

    def memory(self) -> None:
        self.rss_kb[self.calls] = rss_kb(self.server.pid)
        self.pss_kb[self.calls] = pss_kb(self.server.pid)


def warm_calls(pair: list[Contender], calls: int, scratch: Path) -> dict[str, Any]:
    warms: list[Warm] = []
    try:
        with (scratch / "warm.stderr").open("ab") as errors:
            for contender in pair:
                server = StdioServer.spawn(contender.command, contender.env, errors, contender.cwd)
                server.handshake_and_list()
                warms.append(Warm(contender, server, rss_after=min(RSS_AFTER, WARM_UP + calls)))
            for _ in range(WARM_UP):
                for warm in warms:
                    warm.call()
            for warm in warms:
                warm.cpu_start = cpu_seconds(warm.server.pid)
            for _ in range(calls):
                for warm in warms:
                    warm.latencies_ms.append(warm.call())
            for warm in warms:
                warm.memory()
            return {warm.contender.label: _warm_result(warm, calls) for warm in warms}
    finally:
        for warm in warms:
            warm.server.close()


def _warm_result(warm: Warm, calls: int) -> dict[str, Any]:
    cpu_ms = (cpu_seconds(warm.server.pid) - warm.cpu_start) * 1000
    return {
        **summary(warm.latencies_ms, 3),
        "server_cpu_ms_per_call": round(cpu_ms / calls, 3),
        "rss_after": warm.rss_after,
        "rss_kb": warm.rss_kb,
        "pss_kb": warm.pss_kb,
    }


def rows(cold: dict[str, Any], warm: dict[str, Any]) -> list[Row]:
    ours, source, peer = "ours (precompiled)", "ours (from source)", "official"
    mib = 1024
    return [
        compare("cold start, median", cold[ours]["median"], cold[peer]["median"], "ms", 1.0),
        compare("cold start, p90", cold[ours]["p90"], cold[peer]["p90"], "ms", 1.0),
        compare(
            "cold start, median (from source, PYTHONDONTWRITEBYTECODE=1)",
            cold[source]["median"],
            cold[peer]["median"],
            "ms",
            1.0,
        ),
        compare("warm vms_query, p50", warm[ours]["median"], warm[peer]["median"], "ms", 1.0),
        compare("warm vms_query, p99", warm[ours]["p99"], warm[peer]["p99"], "ms", 1.0),
        compare(
            f"RSS after {RSS_AFTER} calls",
            round(warm[ours]["rss_kb"][warm[ours]["rss_after"]] / mib, 1),
            round(warm[peer]["rss_kb"][warm[peer]["rss_after"]] / mib, 1),
            "MiB",
            0.6,
        ),
    ]


def run(peers: NpmPeers, *, runs: int = 10, calls: int = 300) -> dict[str, Any]:
    started = time.monotonic()
    with sim_and_scratch(peers, "xo-bench-worker-") as (sim, scratch):
        every = contenders(
            sim, peers, code_copy(scratch, compiled=True), code_copy(scratch, compiled=False)
        )
        log(f"worker vs official: cold start x{runs} each")
        cold = cold_start(every, runs, scratch)
        log(f"worker vs official: {WARM_UP} + {calls} warm calls each")
        warm = warm_calls([every[0], every[2]], calls, scratch)
        profiles = {
            kind: import_profile(every[0], modules) for kind, modules in IMPORT_PROBES.items()
        }
    return document(
        "worker_vs_official",
        started,
        cold_start_ms=cold,
        warm_vms_query_ms=warm,
        import_profiles_precompiled=profiles,
        rows=rows(cold, warm),
    )


def main() -> None:
    run_from_cli(
        "worker_vs_official",
        __doc__,
        run,
        runs="cold starts per contender",
        calls="measured warm calls",
    )


if __name__ == "__main__":
    main()
