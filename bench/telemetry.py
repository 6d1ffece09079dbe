"""What traces and structured logs cost per tool call: three fleets side by side in one run.

- before: the code of BASELINE (`--baseline`), before request ids, the log relay and
          OpenTelemetry;
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
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from common import (
    HttpSession,
    clean_env,
    code_at,
    code_copy,
    cpu_seconds,
    descendants,
    document,
    log,
    summary,
    write_json,
)
from support.fleetfile import fleet_toml, instance
from support.otlp import Receiver, otlp_receiver
from support.processes import Fleet, Sim, scratch_dir, start_fleet, start_sim, wait_until_serving

# main just before request ids, the log relay and OpenTelemetry merged (750a482): the issue's
# own cost. Main before the whole round (76a96650e015) also counts per-client limits and
# session binding, +0.2 ms p50 (run with --baseline to see it).
BASELINE = "075dbda3dc5b"
QUERY = ("vms_query", {"operation": "GetVms", "limit": 5, "instance": "alpha"})
WARM_UP = 50


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


def run(
    peers: Any = None, calls: int = 1000, *, quick: bool = False, baseline: str = BASELINE
) -> dict[str, Any]:
    """`peers` (npm) are not needed here: every fleet is xo-mcp."""
    if quick:
        calls = 200
    started = time.monotonic()
    sim = wait_until_serving(start_sim())
    try:
        with scratch_dir("xo-bench-otel-") as scratch, otlp_receiver() as receiver:
            before_code = code_at(baseline, scratch)
            current = code_copy(scratch, compiled=True).root
            with contextlib.ExitStack() as stack:
                fleets = {}
                if before_code is not None:
                    home = scratch / "fleet-before"
                    fleets["before"] = stack.enter_context(fleet(home, sim, before_code, None))
                off = fleet(scratch / "fleet-off", sim, current, None)
                fleets["off"] = stack.enter_context(off)
                on = fleet(scratch / "fleet-on", sim, current, receiver.url)
                fleets["on"] = stack.enter_context(on)
                log(f"telemetry: {calls} calls each, alternating: {', '.join(fleets)}")
                figures = asyncio.run(measure(fleets, calls))
            exported = spans_in(receiver, calls)
    finally:
        sim.stop()
    return document(
        "telemetry",
        started,
        baseline=baseline if before_code is not None else None,
        calls=calls,
        tool=QUERY[0],
        figures=figures,
        added_p50_ms=_deltas(figures, lambda numbers: numbers["latency_ms"]["median"]),
        added_cpu_ms_per_call=_deltas(figures, lambda numbers: numbers["cpu_ms_per_call"]),
        spans_exported=exported,
        rows=[],
    )


def _deltas(figures: dict[str, Any], pick: Callable[[Any], float]) -> dict[str, float]:
    pairs = [("off", "before"), ("on", "off")]
    return {
        f"{one} vs {other}": round(pick(figures[one]) - pick(figures[other]), 3)
        for one, other in pairs
        if one in figures and other in figures
    }


def section(found: dict[str, Any]) -> list[str]:
    """Logs and traces per call: this code with telemetry off and on, against the code before."""
    before = (
        f"the code before request ids, the log relay and OpenTelemetry (`{found['baseline']}`), "
    )
    lines = [
        "## Logs and traces",
        "",
        f"`{found['tool']}` through one-instance fleets, {found['calls']} calls each after "
        f"{WARM_UP} warm-up, alternating call by call (bench/telemetry.py): "
        f"{before if found['baseline'] else ''}this code with telemetry off (the default), and "
        "with `[telemetry] otlp_endpoint` set (a loopback OTLP/HTTP receiver decoding every span).",
        "",
        "| fleet | p50 | p90 | p99 | fleet CPU per call |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, numbers in found["figures"].items():
        latency = numbers["latency_ms"]
        lines.append(
            f"| {label} | {latency['median']} ms | {latency['p90']} ms | {latency['p99']} ms | "
            f"{numbers['cpu_ms_per_call']} ms |"
        )
    added, cpu = found["added_p50_ms"], found["added_cpu_ms_per_call"]
    meaning = {
        "off vs before": "a request id per call, its X-Request-Id header, the tracing hooks that "
        "find tracing off",
        "on vs off": "three spans, their context on the wire, batched export",
    }
    lines.append("")
    for pair, delta in added.items():
        lines.append(
            f"- {pair.capitalize()}: {delta:+} ms p50, {cpu[pair]:+} ms CPU per call "
            f"({meaning[pair]})."
        )
    spans = ", ".join(f"{name} {count}" for name, count in found["spans_exported"].items())
    lines.append(f"- Spans received: {spans}.")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=1000, help="measured calls per fleet")
    parser.add_argument(
        "--baseline", default=BASELINE, help="the code of 'before' (a git revision)"
    )
    options = parser.parse_args()
    found = run(calls=options.calls, baseline=options.baseline)
    print(write_json("telemetry", found))


if __name__ == "__main__":
    main()
