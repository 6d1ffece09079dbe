"""Resumable SSE streams' events, in each replica's memory (with shared state too: a stream is
replayed only where its session lives); the whole round trip is tests/gateway/test_conformance.py.
"""

from __future__ import annotations

import mcp_types as types
import pytest
from mcp.server.streamable_http import EventMessage
from support.fakes import Clock

from xo_mcp.gateway.events import MemoryEventStore

pytestmark = pytest.mark.anyio


def message(n: int) -> types.JSONRPCMessage:
    return types.JSONRPCNotification(
        jsonrpc="2.0", method="notifications/progress", params={"n": n}
    )


async def test_stream_events_replay_after_the_last_one_seen() -> None:
    store = MemoryEventStore()
    priming = await store.store_event("stream-1", None)
    ids = [await store.store_event("stream-1", message(n)) for n in range(3)]
    await store.store_event("stream-2", message(9))
    replayed: list[EventMessage] = []

    async def collect(event: EventMessage) -> None:
        replayed.append(event)

    assert await store.replay_events_after(ids[0], collect) == "stream-1"
    assert [e.event_id for e in replayed] == ids[1:]
    assert [e.message.params["n"] for e in replayed] == [1, 2]  # type: ignore[union-attr]
    replayed.clear()
    assert await store.replay_events_after(priming, collect) == "stream-1"
    assert len(replayed) == 3
    assert await store.replay_events_after("nowhere/1", collect) is None


async def test_the_oldest_streams_go_first() -> None:
    store = MemoryEventStore(per_stream=2, streams=2)
    first = await store.store_event("one", message(1))
    await store.store_event("two", message(2))
    await store.store_event("three", message(3))
    seen: list[EventMessage] = []

    async def collect(event: EventMessage) -> None:
        seen.append(event)

    assert await store.replay_events_after(first, collect) is None  # "one" was dropped
    kept = [await store.store_event("three", message(n)) for n in (4, 5)]
    assert await store.replay_events_after(kept[0], collect) == "three"
    assert [e.message.params["n"] for e in seen] == [5]  # type: ignore[union-attr]


async def test_the_memory_store_keeps_recent_streams_only() -> None:
    """Every POST answer is a stream: a busy port must not keep them all."""
    clock = Clock()
    store = MemoryEventStore(streams=3, keep_s=60, clock=clock)
    first = await store.store_event("s0", message(0))
    for n in range(1, 5):
        await store.store_event(f"s{n}", message(n))
    assert store.stream_count() == 3  # the oldest streams went first

    async def ignore(event: EventMessage) -> None:
        pass

    assert await store.replay_events_after(first, ignore) is None
    clock.now += 61
    await store.store_event("fresh", message(9))
    assert store.stream_count() == 1  # untouched for over a minute: not resumable any more


def test_an_empty_store_is_still_a_store() -> None:
    """The SDK turns resumable streams on with `if event_store:`: an empty one must say yes."""
    assert MemoryEventStore()
