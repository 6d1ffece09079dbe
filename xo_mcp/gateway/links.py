"""The gateway's link to one worker, over the worker's unix socket (the `wire` protocol).

Connections carry no session, so a restarted worker needs nothing re-established: the link only
re-reads the worker's tools and tells the gateway, which tells its clients. A call borrows an
idle connection or opens one, and gives it back once answered; cancelling a call closes its
connection, and the worker cancels it too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import mcp_types as types

from xo_mcp import logs
from xo_mcp.core import Registry, State
from xo_mcp.wire.framing import MAX_LINE, decode_reply, encode
from xo_mcp.wire.messages import (
    Call,
    Describe,
    Description,
    Progress,
    Reply,
    Request,
    Result,
    ToolBrief,
    WorkerStatus,
)

RECONNECT_S = 0.1
HEARTBEAT_S = 1.0
STARTING_GRACE_S = 10.0  # a call arriving while the fleet starts waits for its worker
DESCRIBE_TIMEOUT_S = 10.0
MAX_IDLE = 8  # idle connections kept per worker: the calls in flight at once, roughly
ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]


class WorkerDown(Exception):
    """The worker cannot take calls now; the message says why, for the tool result."""


def removed_message(name: str) -> str:
    """Why an instance that a reload removed takes no calls."""
    return f"instance {name!r} was removed from the fleet (its fleet file was reloaded)"


class _Exchange:
    """A connection to the worker, one request at a time; closing it cancels the one in flight."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> _Exchange:
        self.reader, self.writer = await asyncio.open_unix_connection(
            str(self.path), limit=MAX_LINE
        )
        return self

    async def __aenter__(self) -> _Exchange:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        if self.writer is not None:
            with contextlib.suppress(ConnectionError):
                await self.writer.wait_closed()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    @property
    def reusable(self) -> bool:
        """Still open at both ends: the worker did not restart or hang up since."""
        if self.reader is None or self.writer is None:
            return False
        return not (self.reader.at_eof() or self.writer.is_closing())

    async def send(self, message: Request) -> None:
        assert self.writer is not None
        self.writer.write(encode(message))
        await self.writer.drain()

    async def receive(self) -> Reply:
        assert self.reader is not None
        line = await self.reader.readline()
        if not line:
            raise ConnectionResetError("the worker closed the connection")
        return decode_reply(line)


class WorkerLink:
    def __init__(
        self,
        name: str,
        socket_path: Path,
        registry: Registry,
        on_change: Callable[[str], None],
    ) -> None:
        self.name = name
        self.socket_path = socket_path
        self.registry = registry
        self._on_change = on_change
        self.tools: list[types.Tool] = []
        self.briefs: dict[str, ToolBrief] = {}  # by tool name, for compact tool lists
        self.status: WorkerStatus | None = None
        self.connected = False
        self.retired = False  # the instance left the fleet (a reload)
        self._reset = asyncio.Event()
        self._idle: list[_Exchange] = []

    @property
    def actions(self) -> bool:
        return self.status is not None and self.status.actions

    async def _describe(self) -> Description:
        async with asyncio.timeout(DESCRIBE_TIMEOUT_S), _Exchange(self.socket_path) as exchange:
            await exchange.send(Describe())
            reply = await exchange.receive()
        if not isinstance(reply, Description):
            raise ValueError("the worker did not describe itself")
        return reply

    def reset(self) -> None:
        """The worker was restarted (or failed under us): re-read its tools."""
        self._drop_idle()
        self._reset.set()

    def retire(self) -> None:
        """The instance left the fleet: calls waiting for it end with a clear error."""
        self.retired = True
        self.connected = False
        self._drop_idle()

    def _drop_idle(self) -> None:
        while self._idle:
            self._idle.pop().close()

    async def _send(self, request: Call) -> _Exchange:
        """Send on an idle connection, else on a new one (OSError: nobody answers).

        A restarted worker leaves idle connections whose writes fail at once (a unix socket
        knows its peer is gone), so a request that fails to go out never reached a worker.
        """
        while self._idle:
            exchange = self._idle.pop()
            if exchange.reusable and await _sent(exchange, request):
                return exchange
            exchange.close()
            self._drop_idle()  # the others are from the same, gone, worker
        exchange = await _Exchange(self.socket_path).open()
        if not await _sent(exchange, request):
            raise ConnectionResetError("the worker closed the connection")
        return exchange

    def _give_back(self, exchange: _Exchange) -> None:
        if exchange.reusable and self.connected and len(self._idle) < MAX_IDLE:
            self._idle.append(exchange)
        else:
            exchange.close()

    async def run(self) -> None:
        """Follow the worker: read its tools when it answers, again after every restart."""
        try:
            while True:
                try:
                    description = await self._describe()
                except (OSError, ValueError, TimeoutError):
                    self._went_down()
                    await asyncio.sleep(RECONNECT_S)
                    continue
                self._became_ready(description)
                await self._watch()
        finally:
            self._drop_idle()

    def _became_ready(self, description: Description) -> None:
        self.tools = [types.Tool.model_validate(tool, by_name=False) for tool in description.tools]
        self.briefs = description.briefs
        self.status = description.status
        self.connected = True
        status = self.registry[self.name]
        status.tools = len(self.tools)
        status.api_version = description.status.api_version
        self.registry.set_state(self.name, State.READY)
        logs.log(f"ready ({len(self.tools)} tools)", component="gateway", instance=self.name)
        self._on_change(self.name)

    def _went_down(self) -> None:
        self._drop_idle()
        if self.retired:
            return
        if self.connected and self.registry[self.name].state is State.READY:
            self.registry.set_state(self.name, State.STARTING)
        self.connected = False

    async def _watch(self) -> None:
        """Return when the tools must be read again: a reset, or the worker stopped answering.

        The link is the judge of readiness: supervision may have seen an exit that a fast
        restart already undid, so a live worker is reported ready again.
        """
        self._reset.clear()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reset.wait(), HEARTBEAT_S)
            if self._reset.is_set():
                self._went_down()
                return
            if self.registry[self.name].state is State.READY:
                continue
            try:
                await self._describe()
            except (OSError, ValueError, TimeoutError):
                self._went_down()
                return
            if self.registry[self.name].state is not State.DISABLED:
                self.registry.set_state(self.name, State.READY)

    async def _wait_until_connected(self) -> None:
        """A worker still starting gets a short grace; a down one none."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTING_GRACE_S
        while not self.connected and not self.retired:
            if self.registry[self.name].state is not State.STARTING:
                break
            if loop.time() >= deadline:
                break
            await asyncio.sleep(0.05)
        if not self.connected:
            raise WorkerDown(self._unavailable())

    def _unavailable(self) -> str:
        if self.retired:
            return removed_message(self.name)
        status = self.registry[self.name]
        detail = f": {status.last_error}" if status.last_error else ""
        return f"instance {self.name!r} is not available ({status.state}{detail})"

    async def call(self, request: Call, progress: ProgressFn | None) -> Result:
        for attempt in range(2):
            await self._wait_until_connected()
            try:
                exchange = await self._send(request)
            except OSError:
                # Nobody answers at all: the worker is gone (not interrupted mid-call), so
                # the call waits for its return like any call to a starting instance.
                self._went_down()
                self.reset()
                if attempt:
                    raise WorkerDown(self._unavailable()) from None
                continue
            try:
                result = await self._answer(exchange, progress)
            except BaseException:
                exchange.close()  # cancelled or failed mid-call: the worker stops the call
                raise
            self._give_back(exchange)
            return result
        raise AssertionError("unreachable")

    async def _answer(self, exchange: _Exchange, progress: ProgressFn | None) -> Result:
        try:
            while True:
                message = await exchange.receive()
                if isinstance(message, Result):
                    return message
                if progress is not None and isinstance(message, Progress):
                    await progress(message.progress, message.total, message.message)
        except (OSError, ValueError):
            self.reset()
            if self.retired:
                raise WorkerDown(
                    f"{self._unavailable()}; the call may or may not have reached XO: "
                    "check before retrying an action"
                ) from None
            raise WorkerDown(
                f"instance {self.name!r}: the worker stopped during the call (it is being "
                "restarted); the call may or may not have reached XO: check before retrying "
                "an action"
            ) from None


async def _sent(exchange: _Exchange, request: Call) -> bool:
    """Whether the request went out; the connection is closed when it did not (or on cancel)."""
    try:
        await exchange.send(request)
    except BaseException as error:
        exchange.close()
        if isinstance(error, OSError):
            return False
        raise
    return True
