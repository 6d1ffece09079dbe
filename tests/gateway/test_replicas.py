"""Two replicas of the gateway (two launchers, same fleet, one Redis, one state key): what one
hands out, the other honours, once. The same with real containers behind HAProxy is
tests/container/test_replicas.py; this file checks the protocol without an engine.
"""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2
import mcp_types as types
import pytest
from support.clients import MODERN, http_client, text
from support.fleetfile import client, fleet_toml, instance
from support.processes import Fleet, Sim, clean_env, running, secret_file, start_fleet, start_sim
from support.redis_server import PASSWORD, RedisServer
from support.rpc import MCP_HEADERS, initialize, request

pytestmark = pytest.mark.anyio
ADMIN = "replicas-admin-token-3b7e91c4"
OPS = "replicas-ops-token-8d2a6f05"
CONFIRM = re.compile(r'confirm_token: "([^"]+)"')


@dataclass
class Pair:
    one: Fleet
    two: Fleet
    staging: Sim


def replica_toml(base: Path, sim: Sim, redis: RedisServer, **gateway: object) -> str:
    """The replicas' common fleet file (start_fleet gives each its own runtime directory)."""
    return fleet_toml(
        gateway={
            "state": {"url": redis.url, "password_env": "REDIS_PASSWORD", "key_prefix": "pair:"},
            "state_key_file": secret_file(base, "state-key", "k" * 48),
            "drain_s": 10,
            **gateway,
        },
        clients=[
            client("admin", token_file=secret_file(base, "admin", ADMIN)),
            client("ops", token_file=secret_file(base, "ops", OPS)),
        ],
        instances={"staging": instance(sim, token_env="XO_TOKEN", actions=True)},
    )


@contextmanager
def one_replica(
    base: Path, redis: RedisServer, sim_args: tuple[str, ...], **gateway: object
) -> Iterator[tuple[Fleet, Sim]]:
    """A replica of its own on a simulator of its own, ready."""
    sim = start_sim(*sim_args)
    try:
        toml = replica_toml(base, sim, redis, **gateway)
        env = clean_env(XO_TOKEN=sim.token, REDIS_PASSWORD=PASSWORD)
        with running(start_fleet(base, toml, env=env)) as fleet:
            fleet.wait_ready(timeout_s=60)
            yield fleet, sim
    finally:
        sim.stop()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Pair]:
    base = tmp_path_factory.mktemp("replicas")
    sim = start_sim("--seed", "2")
    env = clean_env(XO_TOKEN=sim.token, REDIS_PASSWORD=PASSWORD)
    try:
        with ExitStack() as stack:
            fleets = []
            for name in ("one", "two"):
                (base / name).mkdir()
                toml = replica_toml(base, sim, redis_server)
                fleets.append(stack.enter_context(running(start_fleet(base / name, toml, env=env))))
            for fleet in fleets:
                fleet.wait_ready(timeout_s=60)
            yield Pair(fleets[0], fleets[1], sim)
    finally:
        sim.stop()


def vm_of(sim: Sim) -> str:
    vm: str = sim.rest("/vms", fields="id", limit="1")[0]["id"]
    return vm


def tags(sim: Sim, vm: str) -> list[str]:
    found: list[str] = sim.rest(f"/vms/{vm}", fields="tags")["tags"]
    return found


async def test_a_token_from_one_replica_runs_once_through_the_other(pair: Pair) -> None:
    vm = vm_of(pair.staging)
    arguments = {"instance": "staging", "operation": "PutVmTag", "id": vm, "tag": "across"}
    async with http_client(f"{pair.one.url}/mcp", token=ADMIN) as one:
        preview = await one.call_tool("vms_action", arguments)
    token = CONFIRM.search(text(preview))
    assert token is not None, text(preview)
    confirmed = {**arguments, "confirm_token": token.group(1)}
    async with http_client(f"{pair.two.url}/mcp", token=ADMIN) as two:
        done = await two.call_tool("vms_action", confirmed)
    async with http_client(f"{pair.one.url}/mcp", token=ADMIN) as one:
        replay = await one.call_tool("vms_action", confirmed)
    assert not done.is_error, text(done)
    assert "across" in tags(pair.staging, vm)
    assert replay.is_error and "Invalid or expired" in text(replay)


async def test_an_elicitation_round_trip_split_across_replicas(pair: Pair) -> None:
    """2026-07-28: the input-required answer goes to the replica that did not ask."""
    vm = vm_of(pair.staging)
    arguments = {"instance": "staging", "operation": "PutVmTag", "id": vm, "tag": "split"}

    async def never(*_: object) -> types.ElicitResult:
        raise AssertionError("the retry is driven by hand here")

    async with http_client(
        f"{pair.one.url}/mcp", token=ADMIN, mode=MODERN, elicitation_callback=never
    ) as one:
        asked = await one.session.call_tool("vms_action", arguments, allow_input_required=True)
    assert isinstance(asked, types.InputRequiredResult) and asked.request_state
    yes = {"confirm": types.ElicitResult(action="accept", content={"confirm": True})}
    async with http_client(f"{pair.two.url}/mcp", token=OPS, mode=MODERN) as thief:
        with pytest.raises(Exception, match="requestState"):  # bound to the admin, not ops
            await thief.call_tool(
                "vms_action", arguments, input_responses=yes, request_state=asked.request_state
            )
    async with http_client(f"{pair.two.url}/mcp", token=ADMIN, mode=MODERN) as two:
        done = await two.call_tool(
            "vms_action", arguments, input_responses=yes, request_state=asked.request_state
        )
        replay = await two.call_tool(
            "vms_action", arguments, input_responses=yes, request_state=asked.request_state
        )
    assert not done.is_error, text(done)
    assert "split" in tags(pair.staging, vm)
    assert replay.is_error and "Invalid or expired" in text(replay)


async def test_a_replica_drains_on_sigterm(tmp_path: Path, redis_server: RedisServer) -> None:
    """Not ready at once, no new session, the call in flight finishes, then exit 0."""
    slow_actions = ("--seed", "4", "--action-seconds", "3")  # a StartVm task lasts 3 s
    with one_replica(tmp_path, redis_server, slow_actions) as (fleet, sim):
        halted = sim.rest("/vms", fields="id", filter="power_state:Halted")[0]["id"]
        start = {"instance": "staging", "operation": "StartVm", "id": halted, "wait": True}
        async with http_client(f"{fleet.url}/mcp", token=ADMIN) as admin:
            token = CONFIRM.search(text(await admin.call_tool("vms_action", start)))
            assert token is not None
            call = asyncio.ensure_future(
                admin.call_tool("vms_action", {**start, "confirm_token": token.group(1)})
            )
            await anyio.sleep(1)  # the action's task runs for 3 s
            fleet.process.send_signal(signal.SIGTERM)
            await anyio.sleep(0.3)
            assert fleet.readyz_status() == 503
            headers = {**MCP_HEADERS, "Authorization": f"Bearer {ADMIN}"}
            refused = httpx2.post(f"{fleet.url}/mcp", headers=headers, json=initialize(), timeout=5)
            assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
            done = await call
        assert not done.is_error and "finished: success" in text(done), text(done)
        assert fleet.process.wait(30) == 0


async def test_stateless_sessions_need_no_affinity(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """`sessions = "stateless"`: no session id, so any replica may answer any request; a
    confirmation is a token even for a client that could elicit (no back channel)."""
    stateless = {"sessions": "stateless"}
    with one_replica(tmp_path, redis_server, ("--seed", "5"), **stateless) as (fleet, sim):
        headers = {**MCP_HEADERS, "Authorization": f"Bearer {ADMIN}"}
        opened = httpx2.post(f"{fleet.url}/mcp", headers=headers, json=initialize(), timeout=10)
        assert opened.status_code == 200 and "mcp-session-id" not in opened.headers
        listed = httpx2.post(
            f"{fleet.url}/mcp",
            headers={**headers, "Mcp-Protocol-Version": "2025-11-25"},
            json=request(2, "tools/list"),
            timeout=10,
        )
        assert listed.status_code == 200 and "vms_action" in listed.text

        async def human(*_: object) -> types.ElicitResult:
            raise AssertionError("no live elicitation without a session")

        vm = vm_of(sim)
        arguments = {"instance": "staging", "operation": "PutVmTag", "id": vm, "tag": "t"}
        async with http_client(
            f"{fleet.url}/mcp", token=ADMIN, elicitation_callback=human
        ) as client_:
            preview = await client_.call_tool("vms_action", arguments)
        assert CONFIRM.search(text(preview)), text(preview)


async def test_a_drain_serves_until_requests_stop_coming(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """SIGTERM: not ready at once, but requests that still come (the load balancer has not
    noticed yet) are served, handshake-era ones too when sessions are stateless (none opens a
    session); once none came for a second, exit 0."""
    stateless = {"sessions": "stateless"}
    with one_replica(tmp_path, redis_server, ("--seed", "6"), **stateless) as (fleet, _):
        headers = {
            **MCP_HEADERS,
            "Authorization": f"Bearer {ADMIN}",
            "Mcp-Protocol-Version": "2025-11-25",
        }
        async with httpx2.AsyncClient(headers=headers, timeout=10) as http:
            for number in range(16):  # 4 s of traffic, SIGTERM after the first second
                if number == 4:
                    fleet.process.send_signal(signal.SIGTERM)
                    await anyio.sleep(0.1)
                listed = await http.post(f"{fleet.url}/mcp", json=request(number, "tools/list"))
                assert listed.status_code == 200 and "vms_action" in listed.text
                assert fleet.readyz_status() == (503 if number >= 4 else 200)
                await anyio.sleep(0.25)
        assert fleet.process.poll() is None  # still there while requests came
        assert fleet.process.wait(15) == 0
