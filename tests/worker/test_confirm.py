"""Confirm tokens: single use, 5-minute TTL, bound to operation, path, body and principal."""

from __future__ import annotations

import pytest
from support.fakes import Clock

from xo_mcp.worker.confirm import MAX_PENDING, TTL_S, ConfirmError, ConfirmStore

REQUEST = ("StartVm", "POST", "/vms/abc/actions/start", {"hostId": "h1"})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> ConfirmStore:
    return ConfirmStore(clock=clock)


def test_a_token_confirms_its_request_once(store: ConfirmStore) -> None:
    token = store.issue(*REQUEST)
    pending = store.consume(token, *REQUEST)
    assert (pending.operation, pending.path, pending.body) == ("StartVm", REQUEST[2], REQUEST[3])
    with pytest.raises(ConfirmError, match="Invalid or expired confirmation token"):
        store.consume(token, *REQUEST)


def test_tokens_are_unguessable_and_distinct(store: ConfirmStore) -> None:
    tokens = {store.issue(*REQUEST) for _ in range(50)}
    assert len(tokens) == 50
    assert all(len(token) >= 24 for token in tokens)
    assert len(store) == 50


def test_expiry(store: ConfirmStore, clock: Clock) -> None:
    token = store.issue(*REQUEST)
    clock.now += TTL_S - 1
    fresh = store.issue(*REQUEST)
    clock.now += 2  # the first is now older than five minutes, the second is not
    with pytest.raises(ConfirmError, match="expired"):
        store.consume(token, *REQUEST)
    store.consume(fresh, *REQUEST)
    assert TTL_S == 300


def test_expired_tokens_are_forgotten(store: ConfirmStore, clock: Clock) -> None:
    store.issue(*REQUEST)
    store.issue(*REQUEST)
    clock.now += TTL_S + 1
    assert len(store) == 0


@pytest.mark.parametrize(
    "other",
    [
        ("StopVm", "POST", "/vms/abc/actions/start", {"hostId": "h1"}),  # operation
        ("StartVm", "PUT", "/vms/abc/actions/start", {"hostId": "h1"}),  # method
        ("StartVm", "POST", "/vms/OTHER/actions/start", {"hostId": "h1"}),  # path (id)
        ("StartVm", "POST", "/vms/abc/actions/start", {"hostId": "h2"}),  # body value
        ("StartVm", "POST", "/vms/abc/actions/start", {"hostId": "h1", "x": 1}),  # body keys
        ("StartVm", "POST", "/vms/abc/actions/start", None),  # no body
    ],
)
def test_a_token_cannot_confirm_anything_else(
    store: ConfirmStore, other: tuple[str, str, str, object]
) -> None:
    token = store.issue(*REQUEST)
    with pytest.raises(ConfirmError, match="issued for StartVm") as caught:
        store.consume(token, *other)
    assert "/vms/abc/actions/start" in str(caught.value)
    # A misused token is revoked: it cannot be replayed with the right request either.
    with pytest.raises(ConfirmError, match="Invalid or expired"):
        store.consume(token, *REQUEST)


def test_body_key_order_does_not_matter(store: ConfirmStore) -> None:
    token = store.issue("Create", "POST", "/vdis", {"a": 1, "b": {"c": 2, "d": 3}})
    store.consume(token, "Create", "POST", "/vdis", {"b": {"d": 3, "c": 2}, "a": 1})


def test_bound_to_the_principal(store: ConfirmStore) -> None:
    token = store.issue(*REQUEST, principal="alice")
    with pytest.raises(ConfirmError, match="issued to another client"):
        store.consume(token, *REQUEST, principal="bob")
    with pytest.raises(ConfirmError, match="Invalid or expired"):
        store.consume(token, *REQUEST, principal="alice")


def test_non_ascii_principals(store: ConfirmStore) -> None:
    token = store.issue(*REQUEST, principal="équipe-ops")
    with pytest.raises(ConfirmError, match="another client"):
        store.consume(token, *REQUEST, principal="équipe-dev")
    token = store.issue(*REQUEST, principal="équipe-ops")
    store.consume(token, *REQUEST, principal="équipe-ops")


def test_instance_prefix_and_its_message(clock: Clock) -> None:
    production = ConfirmStore(instance="production", clock=clock)
    staging = ConfirmStore(instance="staging", clock=clock)
    token = production.issue(*REQUEST)
    assert token.startswith("production.")
    with pytest.raises(ConfirmError) as caught:
        staging.consume(token, *REQUEST)
    assert "belongs to instance 'production', not 'staging'" in str(caught.value)
    production.consume(token, *REQUEST)


def test_unknown_token_without_instances(store: ConfirmStore) -> None:
    with pytest.raises(ConfirmError, match="Please retry the operation"):
        store.consume("made.up", *REQUEST)


def test_revoke(store: ConfirmStore) -> None:
    token = store.issue(*REQUEST)
    store.revoke(token)
    store.revoke("never-issued")
    with pytest.raises(ConfirmError):
        store.consume(token, *REQUEST)


def test_the_store_is_bounded(store: ConfirmStore) -> None:
    first = store.issue(*REQUEST)
    for _ in range(MAX_PENDING):
        last = store.issue(*REQUEST)
    assert len(store) == MAX_PENDING
    with pytest.raises(ConfirmError):
        store.consume(first, *REQUEST)  # the oldest made room
    store.consume(last, *REQUEST)
