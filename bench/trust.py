"""The HTTP port's trust model, measured: what authentication costs per call (a static token,
a JWT with cached keys) against the port before this work, and what an idle session costs.

"Before" is the gateway of BASELINE (the release before the trust model: a hand-written token
check, sessions owned by nobody), run from a copy of its code; "after" is this checkout. Both
serve the same fleet file shape over the same simulator, and the calls are interleaved, call by
call, so that the machine's load weighs on both alike. The call is `fleet_status`, answered by
the gateway itself: what is measured is the port, not a worker or XO.

    .venv/bin/python bench/trust.py [--calls N] [--sessions N]
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import (
    HttpSession,
    Row,
    code_at,
    compare,
    document,
    log,
    rss_kb,
    run_from_cli,
    summary,
)
from support.fleetfile import client, fleet_toml, instance
from support.oidc import TestKey, claims_for, static_issuer
from support.processes import Fleet, clean_env, scratch_dir, secret_file, start_fleet, start_sim

BASELINE = "e926c3b"  # the release before the trust model (issue 11)
TOKEN = "bench-static-token-0123456789abcdef"
AUDIENCE = "https://bench.test/mcp"
STATUS = ("fleet_status", {})


@dataclass
class Port:
    label: str
    fleet: Fleet
    token: str

    @property
    def address(self) -> tuple[str, int]:
        assert self.fleet.url is not None
        host, port = self.fleet.url.removeprefix("http://").rsplit(":", 1)
        return host, int(port)


@contextlib.contextmanager
def port(
    label: str, scratch: Path, toml: str, token: str, env: dict[str, str], code: Path | None
) -> Iterator[Port]:
    base = scratch / label
    base.mkdir()
    extra = {"PYTHONPATH": str(code)} if code is not None else {}
    fleet = start_fleet(base, toml, env=clean_env(**env, **extra), cwd=str(base))
    try:
        fleet.wait_ready(timeout_s=60)
        yield Port(label, fleet, token)
    finally:
        fleet.stop()


async def latencies(ports: list[Port], calls: int, warm_up: int = 200) -> dict[str, list[float]]:
    sessions = {}
    for each in ports:
        host, number = each.address
        sessions[each.label] = HttpSession(host, number, "/mcp", each.token)
        await sessions[each.label].open()
    found: dict[str, list[float]] = {label: [] for label in sessions}
    try:
        for index in range(warm_up + calls):
            for label, session in sessions.items():
                started = time.perf_counter()
                await session.call(*STATUS)
                if index >= warm_up:
                    found[label].append((time.perf_counter() - started) * 1000)
    finally:
        for session in sessions.values():
            await session.close()
    return found


async def idle_session_kib(each: Port, sessions: int) -> float:
    """Launcher memory per open, idle session: RSS before and after opening `sessions`."""
    host, number = each.address
    before = rss_kb(each.fleet.process.pid)
    opened = []
    for _ in range(sessions):
        session = HttpSession(host, number, "/mcp", each.token)
        await session.open()
        await session.close()  # the connection goes; the session stays until it idles out
        opened.append(session)
    await asyncio.sleep(1)
    return (rss_kb(each.fleet.process.pid) - before) / sessions


def run(
    peers: Any = None, calls: int = 3000, sessions: int = 1000, *, quick: bool = False
) -> dict[str, Any]:
    """`peers` (npm) are not needed here: both sides are xo-mcp."""
    if quick:
        calls, sessions = 300, 200
    started = time.monotonic()
    sim = start_sim("--seed", "1")
    key = TestKey("RS256")
    try:
        with scratch_dir("xo-bench-trust-") as scratch, static_issuer(key) as issuer:
            static = secret_file(scratch, "client", TOKEN)
            common = {"instances": {"alpha": instance(sim, token_env="XO_TOKEN")}}
            env = {"XO_TOKEN": sim.token}
            before_toml = fleet_toml(clients=[client("bench", token_file=static)], **common)
            after_toml = fleet_toml(
                gateway={"oauth": {"issuer": issuer.issuer, "audience": AUDIENCE}},
                clients=[
                    client("bench", token_file=static, max_sessions=sessions + 10),
                    client("robot", subject="robot", max_sessions=sessions + 10),
                ],
                **common,
            )
            claims = claims_for(issuer.issuer, AUDIENCE, sub="robot", exp=int(time.time()) + 7200)
            jwt = key.sign(claims)
            code = code_at(BASELINE, scratch)
            with contextlib.ExitStack() as stack:
                ports = []
                if code is not None:
                    before = port("before", scratch, before_toml, TOKEN, env, code)
                    ports.append(stack.enter_context(before))
                after = stack.enter_context(port("after", scratch, after_toml, TOKEN, env, None))
                ports += [after, Port("after-jwt", after.fleet, jwt)]
                log(f"trust: {calls} interleaved calls on {', '.join(p.label for p in ports)}")
                measured = asyncio.run(latencies(ports, calls))
                memory = {
                    each.label: asyncio.run(idle_session_kib(each, sessions))
                    for each in ports
                    if each.label != "after-jwt"
                }
    finally:
        sim.stop()
    figures = {label: summary(values) for label, values in measured.items()}
    found = document(
        "trust",
        started,
        calls=calls,
        sessions=sessions,
        latency_ms=figures,
        idle_session_kib=memory,
    )
    return {**found, "rows": [row.as_dict() for row in rows(found)]}


def section(found: dict[str, Any]) -> list[str]:
    latency = found["latency_ms"]
    lines = [
        "## HTTP port: trust model",
        "",
        f"`fleet_status` (answered by the gateway itself) on three ports, {found['calls']} "
        "calls each, interleaved call by call: **before** = the port of "
        f"`{BASELINE}` (a hand-written token check), **after** = this checkout with a static "
        "token, and with a JWT access token (RS256, keys cached); then the launcher's memory "
        f"per idle session, {found['sessions']} sessions opened on each.",
        "",
        "| port | p50 | p90 | p99 |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, figures in latency.items():
        lines.append(
            f"| {label} | {figures['median']} ms | {figures['p90']} ms | {figures['p99']} ms |"
        )
    return lines


def rows(result: dict[str, Any]) -> list[Row]:
    latency = result["latency_ms"]
    found: list[Row] = []
    before = latency.get("before")
    for label in ("after", "after-jwt"):
        ours = latency[label]["median"]
        scenario = "port call p50, " + ("static token" if label == "after" else "JWT (keys cached)")
        if before is None:
            found.append(Row(scenario, ours, None, "ms", "<= +0.1 ms", None, note="no baseline"))
            continue
        added = round(ours - before["median"], 3)
        met = added <= 0.1
        found.append(
            Row(scenario, ours, before["median"], "ms", "<= +0.1 ms", met, note=f"{added:+.3f} ms")
        )
    memory = result["idle_session_kib"]
    if "before" in memory:
        found.append(
            compare(
                "memory per idle session",
                memory["after"],
                memory["before"],
                "KiB",
                1.1,
                "the event store primes each stream",
            )
        )
    return found


def main() -> None:
    run_from_cli(
        "trust", __doc__ or "", run, calls="interleaved calls per port", sessions="idle sessions"
    )


if __name__ == "__main__":
    main()
