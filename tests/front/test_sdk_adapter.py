"""xo_mcp/front/sdk_adapter.py reaches past the MCP SDK's public API in three places; each test
here fails the day an SDK release moves what it relies on (pin `mcp` and fix the adapter)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.server import Server, ServerRequestContext
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.connection import Connection
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Receive, Scope, Send
from support.rpc import MCP_HEADERS, initialize

from xo_mcp.front import sdk_adapter

pytestmark = pytest.mark.anyio


def server(seen: list[Any]) -> Server[Any]:
    async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> types.ListToolsResult:
        seen.append(sdk_adapter.connection_of(ctx))
        return types.ListToolsResult(tools=[])

    made: Server[Any] = Server("adapter-test", on_list_tools=list_tools)
    sdk_adapter.declare_tools_list_changed(made)
    return made


def test_the_capability_is_declared_for_every_transport() -> None:
    options = server([]).create_initialization_options()
    assert options.capabilities.tools is not None
    assert options.capabilities.tools.list_changed is True


async def test_a_handler_finds_the_connection_that_outlives_its_request() -> None:
    seen: list[Any] = []
    async with Client(server(seen), mode="legacy") as client:
        await client.list_tools()
        await client.list_tools()
    assert len(seen) == 2 and all(isinstance(c, Connection) for c in seen)
    assert seen[0] is seen[1]  # one connection per client, whatever the requests
    assert callable(seen[0].send_tool_list_changed)


def as_user(app: Any, client_id: str) -> Any:
    async def authenticated(scope: Scope, receive: Receive, send: Send) -> None:
        token = AccessToken(token="t", client_id=client_id, scopes=[])
        scope["user"] = AuthenticatedUser(token)
        await app(scope, receive, send)

    return authenticated


@pytest.fixture
async def manager() -> AsyncIterator[StreamableHTTPSessionManager]:
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    made = StreamableHTTPSessionManager(server([]), security_settings=security)
    async with made.run():
        yield made


async def open_session(manager: StreamableHTTPSessionManager, client_id: str) -> str:
    transport = httpx2.ASGITransport(app=as_user(manager.handle_request, client_id))
    async with httpx2.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.post("/mcp", headers=MCP_HEADERS, json=initialize())
    assert response.status_code == 200, response.text
    return response.headers["mcp-session-id"]


async def test_sessions_are_counted_per_owner(manager: StreamableHTTPSessionManager) -> None:
    assert sdk_adapter.open_sessions(manager) == 0
    await open_session(manager, "alice")
    await open_session(manager, "alice")
    await open_session(manager, "bob")
    assert sdk_adapter.sessions_by_owner(manager) == {"alice": 2, "bob": 1}
    assert sdk_adapter.open_sessions(manager) == 3


async def test_one_session_gets_its_own_idle_timeout(manager: StreamableHTTPSessionManager) -> None:
    session = await open_session(manager, "alice")
    assert sdk_adapter.set_session_idle_timeout(manager, session, 5.0)
    assert not sdk_adapter.set_session_idle_timeout(manager, "no-such-session", 5.0)
