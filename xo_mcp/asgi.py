"""Run an ASGI app on a bound socket inside a larger asyncio program.

uvicorn normally takes over SIGINT/SIGTERM; the fleet launcher owns those signals, so the server
here leaves them alone and stops gracefully when its task is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_asgi(app: Any, sock: socket.socket, *, grace_s: int = 3) -> None:
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=grace_s
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
