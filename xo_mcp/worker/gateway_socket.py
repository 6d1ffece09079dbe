"""A fleet worker's side of the private gateway protocol (`xo_mcp.wire`), on a unix socket.

Keeps every fleet worker free of the MCP SDK (half its memory, most of its start-up time and
per-call cost) while the tool definitions and results stay exactly the worker's own. The socket
answers only the gateway's process (SO_PEERCRED); closing a connection cancels its call.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
from pathlib import Path
from typing import Any

from xo_mcp import logs, telemetry
from xo_mcp.wire.framing import MAX_LINE, decode_request, encode
from xo_mcp.wire.messages import Call, Describe, Description, Progress, Result, WorkerStatus
from xo_mcp.worker.calls import ToolRunner
from xo_mcp.worker.tools import ToolSpec


def _peer_pid(writer: asyncio.StreamWriter) -> int | None:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[0])


class GatewaySocketServer:
    def __init__(
        self,
        runner: ToolRunner,
        tools: list[ToolSpec],
        status: WorkerStatus,
        allowed_pid: int | None,
    ) -> None:
        self.runner = runner
        self.description = Description(
            tools=[tool.definition for tool in tools],
            status=status,
            briefs={tool.name: tool.brief for tool in tools},
        )
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
                logs.log(f"refused a connection from pid {pid}", level="warning")
                return
            while line := await reader.readline():
                if not await self._answer(decode_request(line), reader, writer):
                    return
        except (ValueError, ConnectionError, asyncio.IncompleteReadError):
            return  # a malformed or vanished peer gets nothing; the gateway never sends those
        finally:
            del self._open[task]
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(
        self, request: Describe | Call, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection must close (a hangup mid-call)."""
        if isinstance(request, Describe):
            writer.write(encode(self.description))
            await writer.drain()
            return True
        with (
            logs.bound(client=request.client.name, request_id=request.request_id),
            telemetry.span(
                f"execute_tool {request.name}",
                kind="server",
                parent=request.traceparent,
                attributes=call_attributes(request, self.description.status.instance),
            ) as span,
        ):
            return await self._call(request, reader, writer, span)

    async def _call(
        self,
        request: Call,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        span: Any = None,
    ) -> bool:
        async def progress(value: float, total: float | None, message: str | None) -> None:
            writer.write(encode(Progress(progress=value, total=total, message=message)))
            await writer.drain()

        call = asyncio.ensure_future(
            self.runner.run(
                request.name,
                request.arguments,
                client=request.client,
                confirmed=request.confirmed,
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
            result = Result(
                text=outcome.text,
                is_error=outcome.is_error,
                mcp_disabled=outcome.mcp_disabled,
                confirmation=outcome.confirmation,
            )
        except Exception as error:  # a bug must cost one call, never the worker
            logs.log(f"tool {request.name!r} failed: {error!r}", level="error")
            result = Result(text="Internal error while running the tool.", is_error=True)
        if result.is_error:
            telemetry.failed(span, "tool error")
        writer.write(encode(result))
        await writer.drain()
        return not hung_up


def call_attributes(request: Call, instance: str | None) -> dict[str, Any]:
    """What a span of this call says of it (never its arguments' values but the operation)."""
    operation = (request.arguments or {}).get("operation")
    return {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": request.name,
        "xo_mcp.operation": operation if isinstance(operation, str) else None,
        "xo_mcp.instance": instance,
        "xo_mcp.client": request.client.name,
        "xo_mcp.request_id": request.request_id,
    }
