"""The private protocol between the fleet's gateway and its workers, over a unix socket.

The gateway speaks MCP to clients; between it and a worker, only three things travel: the
worker's tool definitions, tool calls (with progress), and its status. A line of JSON each way
per connection keeps every worker free of the MCP SDK (half its memory, most of its start-up
time and per-call cost) while the tool definitions and results stay exactly the worker's own.

    → {"op": "describe"}                          ← {"tools": [...], "status": {...}}
    → {"op": "call", "name", "arguments", "principal"}
                                                  ← {"progress": p, "total": t, "message": m}*
                                                  ← {"result": {"text", "is_error", "meta"}}

A connection carries one request at a time and may carry the next once the answer is in (the
gateway keeps a few idle connections, which saves a connect and an accept per call). The worker
answers only the gateway's process (SO_PEERCRED), and closing the connection cancels the call in
progress (a cancelled MCP request reaches XO's request).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import struct
import sys
from pathlib import Path
from typing import Any

from xo_mcp.worker.calls import ToolRunner
from xo_mcp.worker.tools import ToolSpec

MAX_LINE = 16 * 1024 * 1024  # arguments are small; the limit only stops a runaway peer


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _peer_pid(writer: asyncio.StreamWriter) -> int | None:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[0])


class FleetSocketServer:
    def __init__(
        self,
        runner: ToolRunner,
        tools: list[ToolSpec],
        status: dict[str, Any],
        allowed_pid: int | None,
    ) -> None:
        self.runner = runner
        self.description = {"tools": [tool.definition for tool in tools], "status": status}
        self.allowed_pid = allowed_pid
        self._open: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def serve(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        old_umask = os.umask(0o177)  # only this uid, and below only the gateway's pid
        try:
            server = await asyncio.start_unix_server(
                self._connection, path=str(path), limit=MAX_LINE
            )
        finally:
            os.umask(old_umask)
        async with server:
            try:
                await server.serve_forever()
            finally:
                await self._hang_up()

    async def _hang_up(self, grace_s: float = 2.0) -> None:
        """Close every connection and let its handler end (a call in flight is cancelled):
        handlers cancelled by the event loop's shutdown instead log a spurious error."""
        for writer in self._open.values():
            writer.transport.abort()
        if self._open:
            await asyncio.wait(list(self._open), timeout=grace_s)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._open[task] = writer
        try:
            pid = _peer_pid(writer)
            if self.allowed_pid is not None and pid != self.allowed_pid:
                print(f"xo-mcp: refused a connection from pid {pid}", file=sys.stderr, flush=True)
                return
            while line := await reader.readline():
                if not await self._answer(json.loads(line), reader, writer):
                    return
        except (ValueError, ConnectionError, asyncio.IncompleteReadError):
            return  # a malformed or vanished peer gets nothing; the gateway never sends those
        finally:
            del self._open[task]
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(
        self, request: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection must close (unknown request, hangup)."""
        op = request.get("op") if isinstance(request, dict) else None
        if op == "describe":
            writer.write(encode(self.description))
            await writer.drain()
            return True
        if op == "call":
            return await self._call(request, reader, writer)
        return False

    async def _call(
        self, request: dict[str, Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        async def progress(value: float, total: float | None, message: str | None) -> None:
            writer.write(encode({"progress": value, "total": total, "message": message}))
            await writer.drain()

        call = asyncio.ensure_future(
            self.runner.run(
                str(request.get("name", "")),
                request.get("arguments"),
                principal=str(request.get("principal", "")),
                progress=progress,
            )
        )
        # The gateway closes its end to cancel: stop the call (and its XO request) at once. It
        # sends nothing else before the answer, so anything arriving here is a hangup too.
        hangup = asyncio.ensure_future(reader.read(1))
        done, _ = await asyncio.wait({call, hangup}, return_when=asyncio.FIRST_COMPLETED)
        if call not in done:
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await call
            return False
        hung_up = hangup in done
        hangup.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await hangup  # the next readline() must not find this read still waiting
        try:
            outcome = call.result()
            result = {"text": outcome.text, "is_error": outcome.is_error, "meta": outcome.meta}
        except Exception as error:  # a bug must cost one call, never the worker
            print(f"xo-mcp: tool {request.get('name')!r} failed: {error!r}", file=sys.stderr)
            result = {
                "text": "Internal error while running the tool.",
                "is_error": True,
                "meta": {},
            }
        writer.write(encode({"result": result}))
        await writer.drain()
        return not hung_up
