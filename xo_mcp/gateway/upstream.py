"""The gateway's link to one worker: MCP (2026-07-28, stateless) over the worker's unix socket.

Stateless requests mean a restarted worker needs no session re-establishment: the link only
re-reads the worker's tools and tells the gateway, which tells its clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, cast

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.dispatcher import ProgressFnT
from mcp.shared.exceptions import MCPError

from xo_mcp.fleet.instances import Registry, State

RECONNECT_S = 0.1
HEARTBEAT_S = 1.0
STARTING_GRACE_S = 10.0  # a call arriving while the fleet starts waits for its worker
CALL_TIMEOUT_S = 300.0
ProgressFn = ProgressFnT


class WorkerDown(Exception):
    """The worker cannot take calls now; the message says why, for the tool result."""


def _log(message: str) -> None:
    print(f"xo-mcp-fleet: {message}", file=sys.stderr, flush=True)


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
        self.prompts: list[types.Prompt] = []
        self.info: dict[str, Any] = {}
        self._client: Client | None = None
        self._reset = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._client is not None

    def _new_http(self, timeout: float) -> httpx2.AsyncClient:
        transport = httpx2.AsyncHTTPTransport(uds=str(self.socket_path))
        return httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(timeout, connect=2.0))

    async def run(self) -> None:
        """Keep a connection to the worker, reconnecting whenever it drops or is reset."""
        while True:
            holder = asyncio.ensure_future(self._hold_connection())
            try:
                await holder
            except BaseException:
                # The MCP client runs its own task group in the holder task: when the worker
                # dies, that group may cancel the holder. Only our own cancellation ends run().
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    holder.cancel()
                    raise
            await asyncio.sleep(RECONNECT_S)

    async def _hold_connection(self) -> None:
        """One connection, opened and closed in this same task (anyio requires it)."""
        if not self.socket_path.exists():
            return
        async with AsyncExitStack() as stack:
            http = await stack.enter_async_context(self._new_http(CALL_TIMEOUT_S))
            # A plain request first: the MCP client is only built once the worker answers.
            info = await self._status(http)
            transport = streamable_http_client("http://worker/mcp", http_client=http)
            client = await stack.enter_async_context(
                Client(transport, mode="2026-07-28", cache=None)
            )
            self.tools = await _all_tools(client)
            self.prompts = (await client.list_prompts()).prompts
            self.info = info
            self._client = client
            try:
                self._became_ready()
                await self._watch(http)
            finally:
                self._client = None
                if self.registry[self.name].state is State.READY:
                    self.registry.set_state(self.name, State.STARTING)

    def _became_ready(self) -> None:
        status = self.registry[self.name]
        status.tools = len(self.tools)
        status.api_version = self.info.get("api_version")
        self.registry.set_state(self.name, State.READY)
        _log(f"{self.name}: ready ({len(self.tools)} tools)")
        self._on_change(self.name)

    async def _watch(self, http: httpx2.AsyncClient) -> None:
        """Return when the connection must be renewed (a reset, or the worker stopped answering).

        The link is the judge of readiness: supervision may have seen an exit that a fast
        restart already undid, so a live worker is reported ready again.
        """
        self._reset.clear()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reset.wait(), HEARTBEAT_S)
            if self._reset.is_set():
                return
            if self.registry[self.name].state not in (State.STARTING, State.FAILED):
                continue
            try:
                await self._status(http)
            except Exception:
                return
            self.registry.set_state(self.name, State.READY)

    async def _status(self, http: httpx2.AsyncClient) -> dict[str, Any]:
        response = await http.get("http://worker/status", timeout=2.0)
        response.raise_for_status()
        body = response.json()
        return body if isinstance(body, dict) else {}

    def reset(self) -> None:
        """The worker was restarted (or failed under us): reconnect and re-read its tools."""
        self._reset.set()

    async def _require(self) -> Client:
        """The live client; a worker still starting gets a short grace, a down one none."""
        deadline = asyncio.get_running_loop().time() + STARTING_GRACE_S
        while self._client is None and self.registry[self.name].state is State.STARTING:
            if asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(0.05)
        if self._client is not None:
            return self._client
        status = self.registry[self.name]
        detail = f": {status.last_error}" if status.last_error else ""
        raise WorkerDown(f"instance {self.name!r} is not available ({status.state}{detail})")

    async def call_tool(
        self,
        name: str,
        arguments: dict[str, Any],
        meta: dict[str, Any],
        progress: ProgressFn | None,
    ) -> types.CallToolResult:
        client = await self._require()
        try:
            result: types.CallToolResult = await client.session.call_tool(
                name,
                arguments,
                progress_callback=progress,
                meta=cast(types.RequestParamsMeta, meta),
            )
            return result
        except MCPError as error:
            if error.error.code != types.CONNECTION_CLOSED:
                return _tool_error(
                    f"instance {self.name!r} refused the call: {error.error.message}"
                )
            self.reset()
            raise WorkerDown(self._went_away()) from None
        except (httpx2.TransportError, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self.reset()
            raise WorkerDown(self._went_away()) from None

    def _went_away(self) -> str:
        return (
            f"instance {self.name!r}: the worker stopped during the call (it is being restarted); "
            "the call may or may not have reached XO: check before retrying an action"
        )

    async def get_prompt(
        self, name: str, arguments: dict[str, str] | None
    ) -> types.GetPromptResult:
        return await (await self._require()).get_prompt(name, arguments)


def _tool_error(message: str) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=message)], is_error=True
    )


async def _all_tools(client: Client) -> list[types.Tool]:
    tools: list[types.Tool] = []
    cursor: str | None = None
    while True:
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await client.session.list_tools(params=params)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            return tools


def tool_digest(tools: list[types.Tool]) -> str:
    """A cheap identity of a tool list, to tell whether a restart changed the surface."""
    return json.dumps(
        [t.model_dump(by_alias=True, exclude_none=True) for t in tools], sort_keys=True
    )
