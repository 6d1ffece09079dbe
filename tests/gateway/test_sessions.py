"""Every Streamable HTTP session belongs to the client that opened it.

A second client holding the first one's `Mcp-Session-Id` tries each way in — a request (POST),
the session's GET stream, an answer to the session's pending elicitation, ending it (DELETE) —
and is answered as for an unknown session (404), on every surface, while the owner's session
keeps working. Raw HTTP, so that nothing but the session id changes between the two clients.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from support.gateway_fleet import ADMIN_TOKEN, OPS_TOKEN, GatewayFleet
from support.rpc import INITIALIZED, MCP_HEADERS, initialize, request

pytestmark = pytest.mark.anyio
SURFACES = ["/mcp", "/instances/staging/mcp"]


@dataclass
class Session:
    url: str
    session_id: str
    http: httpx2.AsyncClient

    def headers(self, token: str, **extra: str) -> dict[str, str]:
        return {
            **MCP_HEADERS,
            "Authorization": f"Bearer {token}",
            "Mcp-Session-Id": self.session_id,
            "Mcp-Protocol-Version": "2025-11-25",
            **extra,
        }

    async def post(self, token: str, message: dict[str, Any]) -> httpx2.Response:
        return await self.http.post(self.url, headers=self.headers(token), json=message)


@asynccontextmanager
async def session_of(
    gateway: GatewayFleet, path: str, token: str, capabilities: dict[str, Any] | None = None
) -> AsyncIterator[Session]:
    message = initialize(1, "owner")
    message["params"]["capabilities"] = capabilities or {}
    async with httpx2.AsyncClient(timeout=20) as http:
        headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}"}
        opened = await http.post(f"{gateway.url}{path}", headers=headers, json=message)
        assert opened.status_code == 200, opened.text
        session = Session(f"{gateway.url}{path}", opened.headers["mcp-session-id"], http)
        assert (await session.post(token, INITIALIZED)).status_code == 202
        yield session


async def tools_listed(session: Session, token: str) -> httpx2.Response:
    return await session.post(token, request(7, "tools/list"))


@pytest.mark.parametrize("path", SURFACES)
async def test_another_client_cannot_post_to_a_session(gateway: GatewayFleet, path: str) -> None:
    async with session_of(gateway, path, ADMIN_TOKEN) as admin:
        stolen = await tools_listed(admin, OPS_TOKEN)
        assert stolen.status_code == 404 and "Session not found" in stolen.text
        own = await tools_listed(admin, ADMIN_TOKEN)
        assert own.status_code == 200 and "vms_query" in own.text


@pytest.mark.parametrize("path", SURFACES)
async def test_another_client_cannot_open_the_sessions_stream(
    gateway: GatewayFleet, path: str
) -> None:
    async with session_of(gateway, path, ADMIN_TOKEN) as admin:
        stolen = await admin.http.get(admin.url, headers=admin.headers(OPS_TOKEN))
        assert stolen.status_code == 404
        async with admin.http.stream("GET", admin.url, headers=admin.headers(ADMIN_TOKEN)) as own:
            assert own.status_code == 200  # the owner's stream opens: the thief took nothing
            assert own.headers["content-type"].startswith("text/event-stream")


@pytest.mark.parametrize("path", SURFACES)
async def test_another_client_cannot_end_a_session(gateway: GatewayFleet, path: str) -> None:
    async with session_of(gateway, path, ADMIN_TOKEN) as admin:
        stolen = await admin.http.delete(admin.url, headers=admin.headers(OPS_TOKEN))
        assert stolen.status_code == 404
        assert (await tools_listed(admin, ADMIN_TOKEN)).status_code == 200
        ended = await admin.http.delete(admin.url, headers=admin.headers(ADMIN_TOKEN))
        assert ended.status_code == 200
        assert (await tools_listed(admin, ADMIN_TOKEN)).status_code == 404


@pytest.mark.parametrize("path", SURFACES)
async def test_another_client_cannot_answer_a_sessions_confirmation(
    gateway: GatewayFleet, path: str
) -> None:
    """The review's break: a read-only staging client approved an admin's pending action."""
    vm = gateway.staging.rest("/vms", fields="id", limit="1")[0]["id"]
    tag = f"hijacked-{path.count('/')}"
    arguments: dict[str, Any] = {"operation": "PutVmTag", "id": vm, "tag": tag}
    if path == "/mcp":
        arguments["instance"] = "staging"
    async with session_of(gateway, path, ADMIN_TOKEN, {"elicitation": {}}) as admin:
        call = request(9, "tools/call", {"name": "vms_action", "arguments": arguments})
        async with admin.http.stream(
            "POST", admin.url, headers=admin.headers(ADMIN_TOKEN), json=call
        ) as stream:
            lines = stream.aiter_lines()
            question = await next_event(lines)
            assert question["method"] == "elicitation/create"
            accept = {
                "jsonrpc": "2.0",
                "id": question["id"],
                "result": {"action": "accept", "content": {"confirm": True}},
            }
            stolen = await admin.post(OPS_TOKEN, accept)
            assert stolen.status_code == 404
            decline = {"jsonrpc": "2.0", "id": question["id"], "result": {"action": "decline"}}
            assert (await admin.post(ADMIN_TOKEN, decline)).status_code == 202
            result = await next_event(lines)
    assert "Not executed" in json.dumps(result)
    assert tag not in gateway.staging.rest(f"/vms/{vm}", fields="tags")["tags"]


async def next_event(lines: AsyncIterator[str]) -> dict[str, Any]:
    async for line in lines:
        if line.startswith("data: ") and line[6:].strip():
            event: dict[str, Any] = json.loads(line[6:])
            return event
    raise AssertionError("the stream ended without an event")
