"""The events of resumable SSE streams, kept in this process, replicas or not: a stream belongs
to a handshake-era session, and only the replica holding the session can replay it.

With an event store the SDK gives every handshake-era SSE event an id, opens each stream with a
priming event and a `retry:` hint, and replays what a client missed when it reconnects with
`Last-Event-ID`. Bounded: the newest events of the most recent streams only.
"""

from __future__ import annotations

import collections
import itertools

import mcp_types as types
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId

EVENTS_PER_STREAM = 200
STREAMS = 5_000


class MemoryEventStore(EventStore):
    def __init__(self, per_stream: int = EVENTS_PER_STREAM, streams: int = STREAMS) -> None:
        self.per_stream = per_stream
        self.streams = streams
        self._events: collections.OrderedDict[
            StreamId, collections.deque[tuple[int, types.JSONRPCMessage | None]]
        ] = collections.OrderedDict()
        self._counter = itertools.count(1)

    async def store_event(
        self, stream_id: StreamId, message: types.JSONRPCMessage | None
    ) -> EventId:
        number = next(self._counter)
        events = self._events.get(stream_id)
        if events is None:
            events = self._events[stream_id] = collections.deque(maxlen=self.per_stream)
            while len(self._events) > self.streams:
                self._events.popitem(last=False)  # the oldest stream goes first
        self._events.move_to_end(stream_id)
        events.append((number, message))
        return f"{stream_id}/{number}"

    async def replay_events_after(
        self, last_event_id: EventId, send_callback: EventCallback
    ) -> StreamId | None:
        stream_id, _, number = last_event_id.rpartition("/")
        events = self._events.get(stream_id)
        if events is None or not number.isdigit():
            return None
        for event_number, message in list(events):
            if event_number > int(number) and message is not None:
                await send_callback(EventMessage(message, f"{stream_id}/{event_number}"))
        return stream_id
