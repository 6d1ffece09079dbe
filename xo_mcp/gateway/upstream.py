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

import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.dispatcher import ProgressFnT

from xo_mcp.fleet.instances import Registry, State

RECONNECT_S = 0.1
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
        self._stack: AsyncExitStack | None = None
        self._reset = asyncio.Event()
        self._lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return self._client is not None

    def _http(self, timeout: float) -> httpx2.AsyncClient:
        transport = httpx2.AsyncHTTPTransport(uds=str(self.socket_path))
        return httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(timeout, connect=2.0))

    async def _connect(self) -> None:
        stack = AsyncExitStack()
        try:
            http = await stack.enter_async_context(self._http(CALL_TIMEOUT_S))
            transport = streamable_http_client("http://worker/mcp", http_client=http)
            client = Client(transport, mode="2026-07-28", cache=None)
            await stack.enter_async_context(client)
            tools = await _all_tools(client)
            prompts = (await client.list_prompts()).prompts
            info = await self._status(http)
        except BaseException:
            await stack.aclose()
            raise
        self._stack, self._client = stack, client
        self.tools, self.prompts, self.info = tools, prompts, info

    async def _status(self, http: httpx2.AsyncClient) -> dict[str, Any]:
        response = await http.get("http://worker/status")
        body = response.json() if response.is_success else {}
        return body if isinstance(body, dict) else {}

    async def _disconnect(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            with contextlib.suppress(Exception):
                await stack.aclose()

    def reset(self) -> None:
        """The worker was restarted (or failed under us): reconnect and re-read its tools."""
        self._reset.set()

    async def run(self) -> None:
        """Keep connected: connect whenever the worker answers, reconnect after a reset."""
        while True:
            if self._client is None:
                if await self._try_connect():
                    continue
                await asyncio.sleep(RECONNECT_S)
                continue
            await self._reset.wait()
            self._reset.clear()
            await self._disconnect()

    async def _try_connect(self) -> bool:
        if not self.socket_path.exists():
            return False
        try:
            await self._connect()
        except Exception:
            return False
        status = self.registry[self.name]
        status.tools = len(self.tools)
        status.api_version = self.info.get("api_version")
        status.last_error = None if status.state is State.STARTING else status.last_error
        self.registry.set_state(self.name, State.READY)
        _log(f"{self.name}: ready ({len(self.tools)} tools)")
        self._on_change(self.name)
        return True

    def _require(self) -> Client:
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
        client = self._require()
        try:
            result: types.CallToolResult = await client.session.call_tool(
                name,
                arguments,
                progress_callback=progress,
                meta=cast(types.RequestParamsMeta, meta),
            )
            return result
        except (httpx2.TransportError, anyio_closed_errors()) as error:
            self.reset()
            raise WorkerDown(
                f"instance {self.name!r}: the worker went away during the call "
                f"({type(error).__name__}); it is being restarted, retry in a few seconds"
            ) from None

    async def get_prompt(
        self, name: str, arguments: dict[str, str] | None
    ) -> types.GetPromptResult:
        return await self._require().get_prompt(name, arguments)


def anyio_closed_errors() -> type[Exception]:
    import anyio

    return anyio.ClosedResourceError


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
