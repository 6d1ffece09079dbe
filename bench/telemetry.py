"""What traces and structured logs cost per tool call: three fleets side by side in one run.

- today:  the code this branch started from (`--baseline`, default: its merge base with main),
          before request ids, the log relay and OpenTelemetry;
- off:    this code, telemetry off (the default);
- on:     this code with `[telemetry] otlp_endpoint` pointing at a loopback OTLP/HTTP receiver
          (tests/support/otlp.py, which decodes every span: 3 per call, gateway, worker, XO).

Each fleet serves one instance on the same simulator; `vms_query` calls alternate between the
three over raw HTTP/1.1 keep-alive sessions (bench/common.py), so that load on the machine hits
all three alike. Reported: latency per call (p50, p90, p99) and the CPU seconds the fleet's
processes (launcher with the gateway, supervisord, worker) spend per call.

    .venv/bin/python bench/telemetry.py [--calls N] [--baseline REV]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import tarfile
import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

from common import (
    PYTHON,
    REPO,
    HttpSession,
    clean_env,
    code_copy,
    cpu_seconds,
    descendants,
    log,
    machine,
    summary,
    write_json,
)
from support.fleetfile import fleet_toml, instance
from support.otlp import Receiver, otlp_receiver
from support.processes import Fleet, Sim, scratch_dir, start_fleet, start_sim, wait_until_serving

QUERY = ("vms_query", {"operation": "GetVms", "limit": 5, "instance": "alpha"})
WARM_UP = 50


def baseline_code(scratch: Path, revision: str) -> Path:
    """xo_mcp/ (and supervisor/, which it links to) as they were at `revision`, compiled, in
    their own folder; returns that folder."""
    root = scratch / "today"
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", revision, "xo_mcp", "supervisor"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(root, filter="data")
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(root / "xo_mcp")], check=True)
    return root


@contextlib.contextmanager
def fleet(home: Path, sim: Sim, code_root: Path, otlp: str | None) -> Iterator[Fleet]:
    home.mkdir(mode=0o700)
    tables: dict[str, Any] = {"telemetry": {"otlp_endpoint": otlp}} if otlp else {}
    toml = fleet_toml(instances={"alpha": instance(sim, token_env="ALPHA_TOKEN")}, **tables)
    env = clean_env(ALPHA_TOKEN=sim.token, PYTHONPATH=str(code_root), PYTHONDONTWRITEBYTECODE="1")
    running = start_fleet(home, toml, env=env, cwd=code_root.parent)
    try:
        running.wait_ready(timeout_s=120)
        yield running
    finally:
        running.stop(timeout_s=30)


def fleet_cpu(running: Fleet) -> float:
    pids = [running.process.pid, *descendants(running.process.pid)]
    return sum(cpu_seconds(pid) for pid in pids)


async def measure(fleets: dict[str, Fleet], calls: int) -> dict[str, Any]:
    sessions: dict[str, HttpSession] = {}
    for label, running in fleets.items():
        assert running.url is not None
        port = int(running.url.rsplit(":", 1)[1])
        sessions[label] = HttpSession("127.0.0.1", port)
        await sessions[label].open()
    latencies: dict[str, list[float]] = {label: [] for label in fleets}
    cpu: dict[str, float] = {}
    try:
        for index in range(WARM_UP + calls):
            if index == WARM_UP:
                cpu = {label: fleet_cpu(running) for label, running in fleets.items()}
            for label, session in sessions.items():
                started = time.perf_counter()
                await session.call(*QUERY)
                if index >= WARM_UP:
                    latencies[label].append((time.perf_counter() - started) * 1000)
        spent = {label: fleet_cpu(running) - cpu[label] for label, running in fleets.items()}
    finally:
        for session in sessions.values():
            await session.close()
    return {
        label: {
            "latency_ms": summary(latencies[label], 3),
            "cpu_ms_per_call": round(spent[label] / calls * 1000, 3),
        }
        for label in fleets
    }


def spans_in(receiver: Receiver, calls: int) -> dict[str, int]:
    deadline = time.monotonic() + 15
    while len(receiver.spans) < 3 * (calls + WARM_UP) and time.monotonic() < deadline:
        time.sleep(0.2)
    names: dict[str, int] = {}
    for span in receiver.spans:
        names[span.name] = names.get(span.name, 0) + 1
    return names


def run(calls: int, baseline: str) -> dict[str, Any]:
    started = time.monotonic()
    sim = wait_until_serving(start_sim())
    try:
        with scratch_dir("xo-bench-otel-") as scratch, otlp_receiver() as receiver:
            today = baseline_code(scratch, baseline)
            current = code_copy(scratch, compiled=True).root
            with (
                fleet(scratch / "fleet-today", sim, today, None) as before,
                fleet(scratch / "fleet-off", sim, current, None) as off,
                fleet(scratch / "fleet-on", sim, current, receiver.url) as on,
            ):
                log(f"{calls} calls each, alternating: today ({baseline}), off, on")
                figures = asyncio.run(measure({"today": before, "off": off, "on": on}, calls))
            exported = spans_in(receiver, calls)
    finally:
        sim.stop()
    p50 = {label: figures[label]["latency_ms"]["median"] for label in figures}
    cpu = {label: figures[label]["cpu_ms_per_call"] for label in figures}
    return {
        "area": "telemetry",
        "machine": machine(),
        "baseline": baseline,
        "calls": calls,
        "tool": QUERY[0],
        "figures": figures,
        "added_p50_ms": {
            "off vs today": round(p50["off"] - p50["today"], 3),
            "on vs off": round(p50["on"] - p50["off"], 3),
        },
        "added_cpu_ms_per_call": {
            "off vs today": round(cpu["off"] - cpu["today"], 3),
            "on vs off": round(cpu["on"] - cpu["off"], 3),
        },
        "spans_exported": exported,
        "seconds": round(time.monotonic() - started, 1),
    }


def merge_base() -> str:
    found = subprocess.run(
        ["git", "-C", str(REPO), "merge-base", "HEAD", "main"], capture_output=True, text=True
    )
    return found.stdout.strip()[:12] or "HEAD"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=600, help="measured calls per fleet")
    parser.add_argument("--baseline", default=None, help="the code of 'today' (a git revision)")
    options = parser.parse_args()
    print(write_json("telemetry", run(options.calls, options.baseline or merge_base())))


if __name__ == "__main__":
    main()
