"""Who may reach what on the HTTP port, as one table; confirmation tokens that cannot be
replayed, outlive their five minutes, or be used by another client or at another instance.

tests/gateway/test_http_port.py and test_confirmations.py check one case of each; this file is
the whole matrix (`scoped` in conftest.py: admin, stager = staging only, reader = read-only).
"""

from __future__ import annotations

import json
import re
from typing import Any

import mcp_types as types
import pytest
from reliability.conftest import ADMIN, READER, STAGER, Scoped
from reliability.relkit import raw_request
from support.clients import http_client, instances_of, text
from support.fakes import Clock, FakeXo, tool_runner
from support.rpc import MCP_HEADERS, initialize

from xo_mcp.front.confirmations import TTL_S, MemoryConfirmStore
from xo_mcp.wire.messages import ClientIdentity
from xo_mcp.worker.openapi import parse_spec
from xo_mcp.worker.settings import Credentials, WorkerSettings
from xo_mcp.worker.xo_client import XoResponse

pytestmark = pytest.mark.anyio
CONFIRM = re.compile(r'confirm_token: "([^"]+)"')
INITIALIZE = initialize(1, "matrix")

# --- the HTTP door: (Authorization header, path, status) ----------------------------------

DOOR = [
    (None, "/mcp", 401),
    ("Bearer wrong-token", "/mcp", 401),
    (f"Bearer {ADMIN[:-1]}", "/mcp", 401),
    (f"Bearer {ADMIN}x", "/mcp", 401),
    (f"Basic {ADMIN}", "/mcp", 401),
    (ADMIN, "/mcp", 401),
    ("Bearer ", "/mcp", 401),
    (f"Bearer\t{ADMIN}", "/mcp", 401),
    (f"Bearer {ADMIN}", "/mcp", 200),
    (f"bearer {ADMIN}", "/mcp", 200),
    (f"Bearer {STAGER}", "/mcp", 200),
    (f"Bearer {READER}", "/mcp", 200),
    (None, "/instances/staging/mcp", 401),
    ("Bearer wrong-token", "/instances/production/mcp", 401),
    (f"Bearer {STAGER}", "/instances/production/mcp", 404),
    (f"Bearer {STAGER}", "/instances/staging/mcp", 200),
    (f"Bearer {STAGER}", "/instances/staging/../production/mcp", 404),
    (f"Bearer {STAGER}", "/instances/staging/../../mcp", 404),
    (f"Bearer {STAGER}", "//instances/production/mcp", 404),
    (f"Bearer {STAGER}", "/instances/%70roduction/mcp", 404),
    (f"Bearer {READER}", "/instances/production/mcp", 200),
    (f"Bearer {ADMIN}", "/instances/production/mcp", 200),
    (f"Bearer {ADMIN}", "/instances/nowhere/mcp", 404),
    # Without a valid token, an unknown path says nothing about which instances exist.
    (None, "/instances/nowhere/mcp", 401),
    ("Bearer wrong-token", "/instances/nowhere/mcp", 401),
    (None, "/mcp/extra", 401),
    # Probes carry no data beyond instance names and states: open, as probes must be.
    (None, "/healthz", 200),
    (None, "/metrics", 200),
]


@pytest.mark.parametrize(("authorization", "path", "status"), DOOR)
def test_the_door(scoped: Scoped, authorization: str | None, path: str, status: int) -> None:
    headers = dict(MCP_HEADERS)
    if authorization is not None:
        headers["Authorization"] = authorization
    body = json.dumps(INITIALIZE).encode()
    response = raw_request(scoped.url, "POST", path, headers=headers, body=body)
    assert response.status == status, response.body
    if status == 401:
        assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert "Traceback" not in response.body


# --- what each client sees and may do ------------------------------------------------------


def _instances_offered(tools: types.ListToolsResult) -> set[str]:
    offered: set[str] = set()
    for tool in tools.tools:
        offered.update(instances_of(tool, tools.tools))
    return offered


async def test_a_staging_client_neither_sees_nor_calls_production(scoped: Scoped) -> None:
    async with http_client(f"{scoped.url}/mcp", token=STAGER) as client:
        tools = await client.list_tools()
        status = await client.call_tool("fleet_status", {})
        query = await client.call_tool(
            "vms_query", {"instance": "production", "operation": "GetVms"}
        )
        action = await client.call_tool(
            "vms_action", {"instance": "production", "operation": "StartVm", "id": "x"}
        )
        summary = await client.call_tool("get_infrastructure_summary", {})
        check = await client.call_tool("check_connection", {})
        own = await client.call_tool("vms_query", {"instance": "staging", "operation": "GetVms"})
    assert _instances_offered(tools) == {"staging"}
    assert [row["instance"] for row in status.structured_content["instances"]] == ["staging"]
    for refused in (query, action):
        assert refused.is_error and "Unknown instance 'production'" in text(refused)
        assert "production" not in text(refused).split(":", 1)[1]  # the valid list omits it
    for fleet_wide in (summary, check):
        assert "# Instance staging" in text(fleet_wide)
        assert "production" not in text(fleet_wide)
    assert not own.is_error


async def test_a_staging_client_gets_nothing_from_the_production_surface(scoped: Scoped) -> None:
    # The port refuses the path (test_the_door); the surface itself also refuses, should a
    # request ever reach it.
    async with http_client(f"{scoped.url}/instances/staging/mcp", token=STAGER) as client:
        assert any(tool.name == "vms_action" for tool in (await client.list_tools()).tools)


@pytest.mark.parametrize("path", ["/mcp", "/instances/production/mcp", "/instances/staging/mcp"])
async def test_a_read_only_client_cannot_act(scoped: Scoped, path: str) -> None:
    vm = scoped.staging.rest("/vms", fields="id", limit="1")[0]["id"]
    arguments: dict[str, Any] = {"operation": "PutVmTag", "id": vm, "tag": "reader-was-here"}
    if path == "/mcp":
        arguments["instance"] = "staging"
    async with http_client(f"{scoped.url}{path}", token=READER) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        refused = await client.call_tool("vms_action", arguments)
        forged = await client.call_tool("vms_action", {**arguments, "confirm_token": "staging.x"})
    assert "vms_query" in names and not [name for name in names if name.endswith("_action")]
    for result in (refused, forged):
        assert result.is_error and text(result) == "Unknown tool: vms_action"
    assert "reader-was-here" not in scoped.staging.rest(f"/vms/{vm}", fields="tags")["tags"]


# --- confirmation tokens --------------------------------------------------------------------


def _tag(scoped: Scoped, tag: str) -> tuple[str, dict[str, Any]]:
    vm = str(scoped.staging.rest("/vms", fields="id", limit="1")[0]["id"])
    return vm, {"instance": "staging", "operation": "PutVmTag", "id": vm, "tag": tag}


def _tags(scoped: Scoped, vm: str) -> list[str]:
    return list(scoped.staging.rest(f"/vms/{vm}", fields="tags")["tags"])


async def _token(client: Any, arguments: dict[str, Any]) -> str:
    preview = await client.call_tool("vms_action", arguments)
    found = CONFIRM.search(text(preview))
    assert found is not None, text(preview)
    return found.group(1)


async def test_a_token_works_once(scoped: Scoped) -> None:
    vm, arguments = _tag(scoped, "once")
    async with http_client(f"{scoped.url}/mcp", token=ADMIN) as client:
        token = await _token(client, arguments)
        done = await client.call_tool("vms_action", {**arguments, "confirm_token": token})
        replay = await client.call_tool("vms_action", {**arguments, "confirm_token": token})
    assert not done.is_error, text(done)
    assert "once" in _tags(scoped, vm)
    assert replay.is_error and "Invalid or expired confirmation token" in text(replay)


async def test_a_token_is_useless_to_another_client(scoped: Scoped) -> None:
    vm, arguments = _tag(scoped, "stolen")
    async with (
        http_client(f"{scoped.url}/mcp", token=ADMIN) as admin,
        http_client(f"{scoped.url}/mcp", token=STAGER) as stager,
    ):
        token = await _token(admin, arguments)
        stolen = await stager.call_tool("vms_action", {**arguments, "confirm_token": token})
        after = await admin.call_tool("vms_action", {**arguments, "confirm_token": token})
    assert stolen.is_error and "issued to another client" in text(stolen)
    assert after.is_error  # revoked by the attempt: a leaked token is worth nothing
    assert "stolen" not in _tags(scoped, vm)


@pytest.mark.parametrize("route", ["aggregated", "per-instance"])
async def test_a_token_is_useless_at_another_instance(scoped: Scoped, route: str) -> None:
    vm, arguments = _tag(scoped, f"elsewhere-{route}")
    elsewhere = {**arguments, "instance": "production"}
    async with http_client(f"{scoped.url}/mcp", token=ADMIN) as client:
        token = await _token(client, arguments)
        if route == "aggregated":
            wrong = await client.call_tool("vms_action", {**elsewhere, "confirm_token": token})
        else:
            url = f"{scoped.url}/instances/production/mcp"
            async with http_client(url, token=ADMIN) as production:
                del elsewhere["instance"]
                wrong = await production.call_tool(
                    "vms_action", {**elsewhere, "confirm_token": token}
                )
        right = await client.call_tool("vms_action", {**arguments, "confirm_token": token})
    assert wrong.is_error
    assert "'staging'" in text(wrong) and "'production'" in text(wrong), text(wrong)
    assert not right.is_error  # the refusal elsewhere did not spend it
    assert f"elsewhere-{route}" in _tags(scoped, vm)


@pytest.mark.parametrize("forged", ["", "staging.", "staging.AAAAAAAAAAAAAAAAAAAAAAAA", "x" * 5000])
async def test_forged_tokens_run_nothing(scoped: Scoped, forged: str) -> None:
    vm, arguments = _tag(scoped, "forged")
    async with http_client(f"{scoped.url}/mcp", token=ADMIN) as client:
        result = await client.call_tool("vms_action", {**arguments, "confirm_token": forged})
    # An empty token asks for a confirmation; any other is refused.
    assert result.is_error or "Confirmation Required" in text(result)
    assert "forged" not in _tags(scoped, vm)


SETTINGS = WorkerSettings(
    xo_url="http://xo.invalid", credentials=Credentials(token="t"), instance="staging"
)
SPEC = {
    "paths": {
        "/vms/{id}/tags/{tag}": {"put": {"operationId": "PutVmTag", "x-mcp-exposure": "confirm"}}
    }
}


def _no_content(*_: Any) -> XoResponse:
    return XoResponse(204, "", "", {})


def _xo() -> FakeXo:
    """Enough of XoClient for an action: a 204 for anything."""
    return FakeXo(_no_content, SETTINGS)


ADMIN_CLIENT = ClientIdentity(name="admin")


@pytest.mark.parametrize(("waited", "runs"), [(TTL_S - 1, True), (TTL_S + 1, False)])
async def test_a_token_expires_after_five_minutes(waited: float, runs: bool) -> None:
    """The confirmation flow with an injected clock (the store's expiry alone is
    tests/front/test_confirmations.py::test_expiry)."""
    clock, xo = Clock(), _xo()
    runner = tool_runner(xo, parse_spec(SPEC, actions=True), store=MemoryConfirmStore(clock=clock))
    arguments = {"operation": "PutVmTag", "id": "vm", "tag": "t"}
    preview = await runner.run("vms_action", arguments, client=ADMIN_CLIENT)
    token = CONFIRM.search(preview.text)
    assert token is not None
    clock.now += waited
    result = await runner.run(
        "vms_action", {**arguments, "confirm_token": token.group(1)}, client=ADMIN_CLIENT
    )
    sent = [f"{method} {path}" for method, path, _, _ in xo.calls if method != "GET"]
    assert (sent == ["PUT /vms/vm/tags/t"]) is runs
    assert result.is_error is not runs
    if not runs:
        assert "Invalid or expired confirmation token" in result.text
