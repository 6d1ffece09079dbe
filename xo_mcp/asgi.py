"""Run an ASGI app on a bound socket inside a larger asyncio program.

uvicorn normally takes over SIGINT/SIGTERM; the fleet launcher owns those signals, so the server
here leaves them alone and stops gracefully when its task is cancelled.

uvicorn times out idle keep-alive connections but not a client that sends its request headers
slowly (or never): each such connection would be held forever. `header_timeout_s` closes a
connection whose request line and headers are not complete in time, with a 408.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 29\r\nconnection: close\r\n\r\nrequest headers took too long"
)


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline on each request's line and headers."""

    def __init__(self, *args: Any, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout_s = header_timeout_s
        self._deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self._header_timeout_s, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.write(TIMEOUT_RESPONSE)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is a slow request too

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


async def serve_asgi(
    app: Any, sock: socket.socket, *, grace_s: int = 3, header_timeout_s: float | None = None
) -> None:
    http: Any = "auto"
    if header_timeout_s is not None:
        http = functools.partial(HeaderDeadlineProtocol, header_timeout_s=header_timeout_s)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=grace_s,
        http=http,
    )
    server = _EmbeddedServer(config)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        # Open SSE streams (a handshake-era client's GET stream) would hold uvicorn's graceful
        # wait to its timeout, then be cancelled with a traceback. sse-starlette ends them on
        # this flag, which it only sets itself when uvicorn owns the signals (not here).
        from sse_starlette.sse import AppStatus

        AppStatus.should_exit = True
        server.should_exit = True
        with contextlib.suppress(Exception):
            await task
        raise
