"""State shared by replicas, in a real Redis server: confirm tokens redeemed exactly once by
whichever replica, per-client limits and rates across replicas, and a
store that stops answering (clear errors, queries unaffected, recovery without a restart).

Each "replica" is a SharedState of its own (its own connection pool), as in separate processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from support.fakes import Clock
from support.redis_server import PASSWORD, RedisServer

from xo_mcp.front.confirmations import TTL_S, ConfirmError
from xo_mcp.gateway.shared_state import SharedState, StateSettings
from xo_mcp.wire.messages import Action, ClientIdentity

pytestmark = pytest.mark.anyio
ACTION = Action(instance="staging", operation="StartVm", method="POST", path="/vms/v/actions/start")
OPS = ClientIdentity(name="ops")
DEV = ClientIdentity(name="dev")


def settings(server: RedisServer, prefix: str) -> StateSettings:
    return StateSettings(url=server.url, password=PASSWORD, key_prefix=prefix)


@pytest.fixture
async def replicas(
    redis_server: RedisServer, request: pytest.FixtureRequest
) -> AsyncIterator[list[SharedState]]:
    prefix = f"test-{request.node.name}:"[:60]
    states = [SharedState.of(settings(redis_server, prefix)) for _ in range(3)]
    yield states
    for state in states:
        await state.close()


async def test_a_token_from_one_replica_is_redeemed_by_another_once(
    replicas: list[SharedState],
) -> None:
    one, two, three = (state.confirms for state in replicas)
    token = await one.issue(ACTION, OPS, limit=5)
    assert await two.redeem(token, OPS, "staging") == ACTION
    with pytest.raises(ConfirmError, match="Invalid or expired"):
        await three.redeem(token, OPS, "staging")


async def test_concurrent_redeems_let_exactly_one_through(replicas: list[SharedState]) -> None:
    token = await replicas[0].confirms.issue(ACTION, OPS, limit=5)
    attempts = [replicas[i % 3].confirms.redeem(token, OPS, "staging") for i in range(30)]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    assert sum(1 for r in results if r == ACTION) == 1
    assert all(isinstance(r, ConfirmError) for r in results if r != ACTION)


async def test_the_binding_holds_across_replicas(replicas: list[SharedState]) -> None:
    one, two, _ = (state.confirms for state in replicas)
    token = await one.issue(ACTION, OPS, limit=5)
    with pytest.raises(ConfirmError, match="belongs to instance 'staging', not 'production'"):
        await two.redeem(token, OPS, "production")  # the wrong instance does not spend it
    with pytest.raises(ConfirmError, match="another client"):
        await two.redeem(token, DEV, "staging")  # another client does (it was misused)
    with pytest.raises(ConfirmError, match="Invalid or expired"):
        await one.redeem(token, OPS, "staging")


async def test_the_pending_limit_is_per_client_across_replicas(replicas: list[SharedState]) -> None:
    for state in replicas:
        await state.confirms.issue(ACTION, OPS, limit=3)
    with pytest.raises(ConfirmError, match="Too many pending confirmations for client ops"):
        await replicas[0].confirms.issue(ACTION, OPS, limit=3)
    await replicas[1].confirms.issue(ACTION, DEV, limit=3)  # another client is not touched


async def test_a_spent_token_leaves_its_clients_count(replicas: list[SharedState]) -> None:
    """Redeemed by its owner (the count leaves in the same script) or by another client (the
    owner's count, found afterwards): either way its owner may ask for one more."""
    one, two, _ = (state.confirms for state in replicas)
    tokens = [await one.issue(ACTION, OPS, limit=2) for _ in range(2)]
    assert await two.redeem(tokens[0], OPS, "staging") == ACTION
    tokens.append(await one.issue(ACTION, OPS, limit=2))
    with pytest.raises(ConfirmError, match="another client"):
        await two.redeem(tokens[1], DEV, "staging")
    await one.issue(ACTION, OPS, limit=2)
    with pytest.raises(ConfirmError, match="Too many pending confirmations"):
        await one.issue(ACTION, OPS, limit=2)


async def test_expired_tokens_are_swept_once_whichever_replica_sweeps(
    replicas: list[SharedState],
) -> None:
    clock = Clock()
    for state in replicas:
        state.confirms.clock = clock
    token = await replicas[0].confirms.issue(ACTION, OPS, limit=5)
    clock.now += TTL_S + 1
    swept = [await state.confirms.sweep() for state in replicas]
    assert [len(found) for found in swept] == [1, 0, 0]
    assert swept[0][0].action == ACTION and swept[0][0].client == OPS
    with pytest.raises(ConfirmError):
        await replicas[1].confirms.redeem(token, OPS, "staging")


async def test_a_request_rate_is_shared_by_replicas(replicas: list[SharedState]) -> None:
    waits = [await replicas[i % 3].rates.wait_s("chatty", 6) for i in range(8)]
    assert waits[:6] == [0.0] * 6 and all(wait > 0 for wait in waits[6:])


async def test_a_store_that_stops_answering_fails_fast_and_recovers(
    fresh_redis: RedisServer,
) -> None:
    state = SharedState.of(settings(fresh_redis, "outage:"))
    try:
        token = await state.confirms.issue(ACTION, OPS, limit=5)
        fresh_redis.stop()
        with pytest.raises(ConfirmError, match=r"does not answer.*queries still work"):
            await asyncio.wait_for(state.confirms.issue(ACTION, OPS, limit=5), 5)
        with pytest.raises(ConfirmError, match="does not answer"):
            await asyncio.wait_for(state.confirms.redeem(token, OPS, "staging"), 5)
        assert await asyncio.wait_for(state.rates.wait_s("ops", 5), 5) == 0.0  # not blocked
        fresh_redis.start()  # same port, empty: a restarted server without persistence
        again = await state.confirms.issue(ACTION, OPS, limit=5)
        assert await state.confirms.redeem(again, OPS, "staging") == ACTION
    finally:
        await state.close()
