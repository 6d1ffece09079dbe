"""XO misbehaving mid-session, seen through the fleet's HTTP port: every call to the faulty
instance ends within its timeout + 1 s with a clear error, its worker is never restarted, and
its sibling never fails a call meanwhile.

`flaky` (timeout_s = 2) is the instance whose XO misbehaves: its simulator's fault switches
(`/_sim/faults`, `/_sim/tokens`, `/_sim/mcp`) are flipped, or the simulator is stopped and
started again on the same port. `steady` is called back to back the whole time. `big` holds
enough VMs for an answer far beyond what a tool may return.

Worker-level versions of some of these (one worker over stdio) are in
tests/worker/test_integration_errors.py; these add the gateway, the metrics and the sibling.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from reliability.relkit import (
    figure,
    keep_calling,
    restarts,
    sim_on,
    timed_call,
)
from support.clients import http_client, text
from support.pids import worker_pids
from support.processes import (
    FleetRig,
    Sim,
    free_port,
    kill,
    running,
    secret_file,
    start_fleet,
    start_sim,
    wait_for,
)

pytestmark = pytest.mark.anyio

TIMEOUT_S = 2.0
LIST = {"operation": "GetVms", "fields": "name_label", "limit": 1}
STEADY = {"instance": "steady", **LIST}
FLAKY = {"instance": "flaky", **LIST}


@dataclass
class FaultFleet(FleetRig):
    steady: Sim
    big: Sim
    flaky: Sim
    flaky_port: int

    @property
    def mcp(self) -> str:
        return f"{self.url}/mcp"

    def restart_flaky(self, *args: str) -> Sim:
        """XO comes back (on the same address), possibly with other options."""
        self.flaky.stop()
        self.flaky = sim_on(self.flaky_port, "--seed", "2", "--action-seconds", "0.05", *args)
        return self.flaky

    def flaky_pid(self) -> int:
        return worker_pids(self.fleet.runtime_dir)["flaky"]


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultFleet]:
    base: Path = tmp_path_factory.mktemp("faults")
    port = free_port()
    sims: list[Sim] = []
    holder: FaultFleet | None = None
    try:
        sims += [start_sim("--seed", "1"), start_sim("--seed", "5", "--vms", "600")]
        sims.append(sim_on(port, "--seed", "2", "--action-seconds", "0.05"))
        steady, big, flaky = sims
        token = secret_file(base, "token", steady.token)  # every simulator takes "sim-token"
        toml = f"""
[supervision]
disabled_poll_s = 0.3
failed_retry_s = 0.5
failed_retry_max_s = 2

[instances.steady]
url = "{steady.url}"
token_file = "{token}"

[instances.flaky]
url = "{flaky.url}"
token_file = "{token}"
timeout_s = {TIMEOUT_S}
actions = true

[instances.big]
url = "{big.url}"
token_file = "{token}"
"""
        holder = FaultFleet(start_fleet(base, toml), steady, big, flaky, port)
        with running(holder.fleet):
            holder.fleet.wait_ready(timeout_s=60)
            yield holder
    finally:
        # The flaky XO may have been replaced by the tests: stop the current one too.
        for sim in [*sims, *([holder.flaky] if holder else [])]:
            sim.stop()


@pytest.fixture(autouse=True)
def healthy(faulty: FaultFleet) -> Iterator[FaultFleet]:
    """Each test starts from, and leaves, a healthy flaky XO and a ready fleet."""
    yield faulty
    if faulty.flaky.process.poll() is not None:
        faulty.restart_flaky()
    faulty.flaky.clear_faults()
    faulty.flaky.set_mcp(True)
    faulty.flaky.tokens(add=faulty.flaky.token)
    faulty.fleet.wait_ready(timeout_s=60)


@dataclass(frozen=True)
class Fault:
    name: str
    rules: list[dict[str, Any]]
    expected: str  # in the tool's error text
    arguments: dict[str, Any] | None = None


FAULTS = [
    Fault("stall", [{"route": "GET /vms*", "stall": True}], "timed out after 2s"),
    Fault("slow", [{"route": "GET /vms*", "latency_ms": 5000}], "timed out after 2s"),
    Fault("http-500", [{"route": "GET /vms*", "error_rate": 1.0}], "XO API error (500"),
    Fault("dropped", [{"route": "GET /vms*", "drop_rate": 1.0}], "failed (peer closed"),
]


async def _fault_episode(faulty: FaultFleet, rules: list[dict[str, Any]], arguments: Any) -> Any:
    """One call to flaky under `rules` while steady is called back to back; then recovery."""
    async with (
        keep_calling(faulty.mcp, "vms_query", STEADY) as tally,
        http_client(faulty.mcp) as client,
    ):
        assert not (await client.call_tool("vms_query", FLAKY)).is_error
        faulty.flaky.set_faults(rules)
        with anyio.fail_after(TIMEOUT_S + 15):  # generous; the figure is what counts
            call = await timed_call(client, "vms_query", arguments)
        faulty.flaky.clear_faults()
        after = await client.call_tool("vms_query", FLAKY)
    assert not after.is_error, text(after)
    assert tally.failures == [] and tally.calls > 0
    return call


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.name for fault in FAULTS])
async def test_a_fault_fails_the_call_clearly_within_the_timeout(
    faulty: FaultFleet, fault: Fault
) -> None:
    before, pid = restarts(faulty.url, "flaky"), faulty.flaky_pid()
    call = await _fault_episode(faulty, fault.rules, FLAKY)
    figure(f"fault {fault.name}: call returned after", call.seconds, " s", timeout_s=TIMEOUT_S)
    assert call.is_error and fault.expected in call.text, call.text
    assert call.text.startswith("Failed to query vms: ")
    assert restarts(faulty.url, "flaky") == before and faulty.flaky_pid() == pid


async def test_malformed_json_is_a_clear_error(faulty: FaultFleet) -> None:
    """XO's JSON cut in half: the official server's JSON.parse fails the call; so must ours,
    rather than hand half a document to the model as if it were the answer."""
    vm = faulty.flaky.rest("/vms", fields="id", limit="1")[0]["id"]
    get_vm = {"instance": "flaky", "operation": "GetVm", "id": vm}
    rules = [{"route": "GET /vms/*", "malformed_rate": 1.0}]
    call = await _fault_episode(faulty, rules, get_vm)
    figure("fault malformed-json: call returned after", call.seconds, " s")
    assert call.is_error and "JSON" in call.text, call.text


async def test_xo_going_away_and_coming_back(faulty: FaultFleet) -> None:
    pid = faulty.flaky_pid()
    async with (
        keep_calling(faulty.mcp, "vms_query", STEADY) as tally,
        http_client(faulty.mcp) as client,
    ):
        faulty.flaky.stop()
        down = await timed_call(client, "vms_query", FLAKY)
        check = await timed_call(client, "check_connection", {"instance": "flaky"})
        faulty.restart_flaky()
        back = await timed_call(client, "vms_query", FLAKY)
    figure("XO stopped: call returned after", down.seconds, " s")
    assert down.is_error and "Cannot connect to XO server" in down.text, down.text
    assert "connection refused" in down.text
    assert check.is_error and check.text.startswith("Connection test failed: Cannot connect")
    assert not back.is_error, back.text  # the same worker, no restart needed
    assert faulty.flaky_pid() == pid
    assert tally.failures == [] and tally.calls > 0


async def test_xo_dying_mid_call(faulty: FaultFleet) -> None:
    """XO's process ends while it holds a request: the call ends at once, not at the timeout."""
    faulty.flaky.set_faults([{"route": "GET /vms*", "stall": True}])
    calls: list[Any] = []
    async with http_client(faulty.mcp) as client, anyio.create_task_group() as group:

        async def stalled() -> None:
            calls.append(await timed_call(client, "vms_query", FLAKY))

        group.start_soon(stalled)
        with anyio.fail_after(10):
            while faulty.flaky.control("GET", "state")["in_flight"] == 0:
                await anyio.sleep(0.05)
        faulty.flaky.process.kill()
        faulty.flaky.process.wait()
    call = calls[0]
    figure("XO killed mid-call: call returned after", call.seconds, " s")
    assert call.is_error and call.text.startswith("Failed to query vms: "), call.text
    assert "timed out" in call.text or "failed (" in call.text


async def test_huge_answers_are_capped_with_a_notice(faulty: FaultFleet) -> None:
    arguments = {"instance": "big", "operation": "GetVms", "fields": "*"}
    async with http_client(faulty.mcp) as client:
        call = await timed_call(client, "vms_query", arguments)
        small = await client.call_tool("vms_query", {**arguments, "limit": 2})
    figure("huge answer: characters returned", len(call.text), "", elapsed_s=round(call.seconds, 3))
    assert not call.is_error
    assert "[truncated: showing the first 200000 of " in call.text
    assert "Narrow the query with `filter`, `fields` or `limit`" in call.text
    assert len(call.text) < 200_000 + 300
    assert "[truncated" not in text(small)


async def test_a_revoked_token_fails_clearly_without_a_restart_storm(faulty: FaultFleet) -> None:
    before, pid = restarts(faulty.url, "flaky"), faulty.flaky_pid()
    async with http_client(faulty.mcp) as client:
        faulty.flaky.tokens(revoke=faulty.flaky.token)
        calls = []
        for _ in range(10):  # about 3 s: ten supervision polls, six kill-switch polls
            calls.append(await timed_call(client, "vms_query", FLAKY))
            await anyio.sleep(0.3)
        state = faulty.fleet.readyz()["instances"]["flaky"]
        faulty.flaky.tokens(add=faulty.flaky.token)
        back = await client.call_tool("vms_query", FLAKY)
    slowest = max(call.seconds for call in calls)
    figure("token revoked: slowest call", slowest, " s", calls=len(calls))
    figure("token revoked: worker restarts", restarts(faulty.url, "flaky") - before)
    for call in calls:
        # The fleet file said token_file: the message names that key, not XO_TOKEN.
        assert call.is_error and "Authentication failed: check instances.flaky.token_file" in (
            call.text
        )
    assert state == "ready"  # XO answers; only the credential is wrong
    assert restarts(faulty.url, "flaky") == before and faulty.flaky_pid() == pid
    assert not back.is_error


async def test_the_kill_switch_fails_clearly_without_a_restart_storm(faulty: FaultFleet) -> None:
    before, pid = restarts(faulty.url, "flaky"), faulty.flaky_pid()
    spawns = len(faulty.fleet.said("worker started", instance="flaky"))
    async with (
        keep_calling(faulty.mcp, "vms_query", STEADY) as tally,
        http_client(faulty.mcp) as client,
    ):
        faulty.flaky.set_mcp(False)
        calls = []
        for _ in range(10):
            calls.append(await timed_call(client, "vms_query", FLAKY))
            await anyio.sleep(0.3)
        state = faulty.fleet.readyz()["instances"]["flaky"]
        faulty.flaky.set_mcp(True)
        await anyio.to_thread.run_sync(
            lambda: wait_for(lambda: faulty.fleet.readyz()["instances"]["flaky"] == "ready", 30)
        )
        back = await client.call_tool("vms_query", FLAKY)
    figure("kill switch: slowest call", max(call.seconds for call in calls), " s")
    figure("kill switch: worker restarts", restarts(faulty.url, "flaky") - before)
    for call in calls:
        assert call.is_error and "MCP disabled by admin" in call.text, call.text
    assert state == "disabled by admin"
    assert restarts(faulty.url, "flaky") == before and faulty.flaky_pid() == pid
    assert len(faulty.fleet.said("worker started", instance="flaky")) == spawns
    assert not back.is_error, text(back)
    assert tally.failures == [] and tally.calls > 0


async def test_a_malformed_spec_fails_the_restart_cleanly(
    faulty: FaultFleet, tmp_path: Path
) -> None:
    """XO comes back serving a broken OpenAPI document; the worker is restarted (a restart
    re-reads the spec): it refuses to start with a clear reason, the instance is reported
    failed and retried with backoff, the rest of the fleet serves, and the instance returns
    once XO serves a valid spec again."""
    bad = tmp_path / "swagger.json"
    bad.write_text('{"openapi": "3.0.0", "paths": {"/vms": {"get": ', encoding="utf-8")
    async with (
        keep_calling(faulty.mcp, "vms_query", STEADY) as tally,
        http_client(faulty.mcp) as client,
    ):
        faulty.restart_flaky("--spec", str(bad))
        kill(faulty.flaky_pid())

        def failed() -> bool:
            return faulty.fleet.readyz()["instances"]["flaky"] == "failed"

        await anyio.to_thread.run_sync(lambda: wait_for(failed, 60, "flaky failed"))
        down = await timed_call(client, "vms_query", FLAKY)
        status = await client.call_tool("fleet_status", {})
        row = next(r for r in status.structured_content["instances"] if r["instance"] == "flaky")
        faulty.restart_flaky()
        await anyio.to_thread.run_sync(
            lambda: wait_for(lambda: faulty.fleet.readyz()["instances"]["flaky"] == "ready", 60)
        )
        back = await client.call_tool("vms_query", FLAKY)
    figure("malformed spec: call to the failed instance returned after", down.seconds, " s")
    assert down.is_error and "instance 'flaky' is not available (failed" in down.text
    assert "is not valid JSON" in down.text, down.text
    assert "is not valid JSON" in (row["last_error"] or "")
    assert faulty.fleet.process.poll() is None
    assert "Traceback" not in faulty.fleet.stderr()
    assert not back.is_error, text(back)
    assert tally.failures == [] and tally.calls > 0
