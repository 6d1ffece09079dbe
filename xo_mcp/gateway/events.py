"""The events of resumable SSE streams, kept in this process, replicas or not: a stream belongs
to a handshake-era session, and only the replica holding the session can replay it.

With an event store the SDK gives every handshake-era SSE event an id, opens each stream with a
priming event and a `retry:` hint, and replays what a client missed when it reconnects with
`Last-Event-ID`. A reconnection comes within seconds (the `retry:` hint), so only recent streams
are kept: each POST's response is a stream of its own, and a busy port makes hundreds a second.
"""

from __future__ import annotations

import collections
import itertools
import time
from collections.abc import Callable

import mcp_types as types
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId

EVENTS_PER_STREAM = 100
STREAMS = 1_000
KEEP_S = 60.0  # a stream untouched this long cannot be resumed any more

_Events = collections.deque[tuple[int, types.JSONRPCMessage | None]]


class MemoryEventStore(EventStore):
    def __init__(
        self,
        per_stream: int = EVENTS_PER_STREAM,
        streams: int = STREAMS,
        keep_s: float = KEEP_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_stream = per_stream
        self.streams = streams
        self.keep_s = keep_s
        self.clock = clock
        # Least recently touched first: eviction takes from the front.
        self._events: collections.OrderedDict[StreamId, tuple[float, _Events]] = (
            collections.OrderedDict()
        )
        self._counter = itertools.count(1)

    # Not __len__: the SDK tests `if event_store:`, and an empty store would read as none.
    def stream_count(self) -> int:
        """How many streams are kept."""
        return len(self._events)

    async def store_event(
        self, stream_id: StreamId, message: types.JSONRPCMessage | None
    ) -> EventId:
        now = self.clock()
        number = next(self._counter)
        _, events = self._events.pop(stream_id, (now, None))
        if events is None:
            events = collections.deque(maxlen=self.per_stream)
        events.append((number, message))
        self._events[stream_id] = (now, events)
        self._evict(now)
        return f"{stream_id}/{number}"

    def _evict(self, now: float) -> None:
        while self._events:
            oldest_id, (touched, _) = next(iter(self._events.items()))
            if len(self._events) <= self.streams and now - touched <= self.keep_s:
                return
            del self._events[oldest_id]

    async def replay_events_after(
        self, last_event_id: EventId, send_callback: EventCallback
    ) -> StreamId | None:
        stream_id, _, number = last_event_id.rpartition("/")
        found = self._events.get(stream_id)
        if found is None or not number.isdigit():
            return None
        for event_number, message in list(found[1]):
            if event_number > int(number) and message is not None:
                await send_callback(EventMessage(message, f"{stream_id}/{event_number}"))
        return stream_id
