"""A fleet worker's socket server (`worker/gateway_socket`) in-process, on a scripted runner, for
the tests of both ends of the private protocol (`xo_mcp.wire`)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from xo_mcp.wire.messages import Action, ClientIdentity, WorkerStatus
from xo_mcp.worker.calls import Outcome, ProgressFn
from xo_mcp.worker.gateway_socket import GatewaySocketServer

TOOL = {"name": "vms_query", "description": "VMs", "inputSchema": {"type": "object"}}


class ScriptedRunner:
    """Answers `slow` after a minute (or never: cancelled), `boom` with a bug, anything else at
    once after one progress step; records every call and every cancellation."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, str]] = []  # tool, arguments, client name
        self.slow_started = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def run(
        self,
        name: str,
        arguments: dict[str, Any] | None,
        *,
        client: ClientIdentity | None = None,
        confirmed: Action | None = None,
        progress: ProgressFn | None = None,
    ) -> Outcome:
        self.calls.append((name, arguments, client.name if client else ""))
        if progress is not None:
            await progress(1, 2, "half way")
        if name == "boom":
            raise RuntimeError("a bug in the tool")
        if name == "slow":
            self.slow_started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        return Outcome(text=f"{name} done #{len(self.calls)}")


class CountingServer(GatewaySocketServer):
    """Counts the connections it accepts (to see which ones the gateway reuses) and can drop
    them all, as the death of the worker's process would."""

    accepted = 0
    writers: list[asyncio.StreamWriter]
    task: asyncio.Future[None]  # serving; cancelling it is what SIGTERM does to a worker

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.writers.append(writer)
        await super()._connection(reader, writer)

    def drop_connections(self) -> None:
        for writer in self.writers:
            writer.transport.abort()


@contextlib.contextmanager
def socket_path() -> Iterator[Path]:
    """A socket path short enough for AF_UNIX (pytest's tmp_path often is not)."""
    with tempfile.TemporaryDirectory(prefix="xo-sock-", dir="/tmp") as directory:
        yield Path(directory) / "worker.sock"


@contextlib.asynccontextmanager
async def serving(
    path: Path, runner: ScriptedRunner, *, allowed_pid: int | None = None
) -> AsyncIterator[CountingServer]:
    """The worker's server on `path` until the block ends; the gateway is this process."""
    server = CountingServer(
        runner,  # type: ignore[arg-type]
        [],
        WorkerStatus(url="https://xo.test", api_version="0.39.0"),
        os.getpid() if allowed_pid is None else allowed_pid,
    )
    server.description = dataclasses.replace(server.description, tools=[TOOL])
    server.writers = []
    task = server.task = asyncio.ensure_future(server.serve(path))
    try:
        for _ in range(200):
            if path.exists():
                break
            await asyncio.sleep(0.01)
        yield server
    finally:
        server.drop_connections()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
