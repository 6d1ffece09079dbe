"""Confirm tokens: single use, 5-minute TTL, bound to the request, its instance and its client;
a client's pending confirmations are limited without ever touching another client's."""

from __future__ import annotations

import dataclasses

import pytest
from support.fakes import Clock

from xo_mcp.front.confirmations import (
    MAX_PENDING_PER_CLIENT,
    TTL_S,
    ConfirmError,
    MemoryConfirmStore,
)
from xo_mcp.wire.messages import Action, ClientIdentity

pytestmark = pytest.mark.anyio

ACTION = Action(
    instance="production",
    operation="StartVm",
    method="POST",
    path="/vms/abc/actions/start",
    body={"hostId": "h1"},
)
ALICE = ClientIdentity(name="alice")
BOB = ClientIdentity(name="bob")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> MemoryConfirmStore:
    return MemoryConfirmStore(clock=clock)


async def issue(
    store: MemoryConfirmStore, client: ClientIdentity = ALICE, **changes: object
) -> str:
    return await store.issue(
        dataclasses.replace(ACTION, **changes), client, limit=MAX_PENDING_PER_CLIENT
    )


async def test_a_token_confirms_its_request_once(store: MemoryConfirmStore) -> None:
    token = await issue(store)
    assert await store.redeem(token, ALICE, "production") == ACTION
    with pytest.raises(ConfirmError, match="Invalid or expired confirmation token"):
        await store.redeem(token, ALICE, "production")


async def test_tokens_are_unguessable_and_distinct(store: MemoryConfirmStore) -> None:
    tokens = {await issue(store, ClientIdentity(name=f"c{i}")) for i in range(50)}
    assert len(tokens) == 50
    assert all(len(token) >= 24 for token in tokens)
    assert len(store) == 50


async def test_expiry(store: MemoryConfirmStore, clock: Clock) -> None:
    token = await issue(store)
    clock.now += TTL_S - 1
    fresh = await issue(store)
    clock.now += 2  # the first is now older than five minutes, the second is not
    with pytest.raises(ConfirmError, match="expired") as caught:
        await store.redeem(token, ALICE, "production")
    assert caught.value.expired is not None  # its audit line will say `expired`
    await store.redeem(fresh, ALICE, "production")
    assert TTL_S == 300


async def test_expired_tokens_are_swept_once(store: MemoryConfirmStore, clock: Clock) -> None:
    await issue(store)
    await issue(store)
    clock.now += TTL_S + 1
    assert len(store) == 0
    assert len(await store.sweep()) == 2
    assert await store.sweep() == []


async def test_bound_to_the_client(store: MemoryConfirmStore) -> None:
    token = await issue(store)
    with pytest.raises(ConfirmError, match="issued to another client"):
        await store.redeem(token, BOB, "production")
    with pytest.raises(ConfirmError, match="Invalid or expired"):
        await store.redeem(token, ALICE, "production")


async def test_an_oauth_subject_is_part_of_the_client(store: MemoryConfirmStore) -> None:
    team = ClientIdentity(name="team", subject="bot-1")
    token = await issue(store, team)
    with pytest.raises(ConfirmError, match="another client"):
        await store.redeem(token, ClientIdentity(name="team", subject="bot-2"), "production")


async def test_non_ascii_clients(store: MemoryConfirmStore) -> None:
    token = await issue(store, ClientIdentity(name="équipe-ops"))
    with pytest.raises(ConfirmError, match="another client"):
        await store.redeem(token, ClientIdentity(name="équipe-dev"), "production")
    token = await issue(store, ClientIdentity(name="équipe-ops"))
    await store.redeem(token, ClientIdentity(name="équipe-ops"), "production")


async def test_instance_prefix_and_its_message(store: MemoryConfirmStore) -> None:
    token = await issue(store)
    assert token.startswith("production.")
    with pytest.raises(ConfirmError) as caught:
        await store.redeem(token, ALICE, "staging")
    assert "belongs to instance 'production', not 'staging'" in str(caught.value)
    await store.redeem(token, ALICE, "production")  # not spent by the wrong instance


async def test_unknown_token_without_instances(store: MemoryConfirmStore) -> None:
    with pytest.raises(ConfirmError, match="Please retry the operation"):
        await store.redeem("made.up", ALICE, None)


async def test_revoke(store: MemoryConfirmStore) -> None:
    token = await issue(store)
    pending = await store.revoke(token)
    assert pending is not None and pending.client == ALICE
    assert await store.revoke("never-issued") is None
    with pytest.raises(ConfirmError):
        await store.redeem(token, ALICE, "production")


async def test_one_client_cannot_evict_another(store: MemoryConfirmStore) -> None:
    """The limit is per client and instance: a looping model is stopped, nobody else is."""
    bobs = await issue(store, BOB)
    for _ in range(MAX_PENDING_PER_CLIENT):
        await issue(store)
    with pytest.raises(ConfirmError, match="Too many pending confirmations for client alice"):
        await issue(store)
    await issue(store, instance="staging")  # another instance has its own allowance
    assert await store.redeem(bobs, BOB, "production") == ACTION


async def test_the_store_is_bounded(clock: Clock) -> None:
    store = MemoryConfirmStore(clock=clock, max_total=3)
    for i in range(3):
        await issue(store, ClientIdentity(name=f"c{i}"))
    with pytest.raises(ConfirmError, match="retry later"):
        await issue(store, ClientIdentity(name="c9"))
