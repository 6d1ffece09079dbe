"""The HTTP port's guards: bearer tokens and scopes, Host/Origin, body size, probes, metrics."""

from __future__ import annotations

import json

import httpx2
import pytest
from support.clients import http_client, text
from support.gateway_fleet import ADMIN_TOKEN, OPS_TOKEN, GatewayFleet
from support.rpc import MCP_HEADERS, initialize

pytestmark = pytest.mark.anyio
INITIALIZE = initialize()


def _post(
    gateway: GatewayFleet, path: str = "/mcp", *, token: str | None = ADMIN_TOKEN, **kwargs: object
) -> httpx2.Response:
    headers = dict(MCP_HEADERS)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    headers.update(kwargs.pop("headers", {}))  # type: ignore[arg-type]
    content = kwargs.pop("content", json.dumps(INITIALIZE))
    return httpx2.post(f"{gateway.url}{path}", headers=headers, content=content, timeout=10)  # type: ignore[arg-type]


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_mcp_needs_a_valid_bearer_token(gateway: GatewayFleet, token: str | None) -> None:
    response = _post(gateway, token=token)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert "Traceback" not in response.text


def test_a_valid_token_opens_a_session(gateway: GatewayFleet) -> None:
    response = _post(gateway)
    assert response.status_code == 200


def test_foreign_host_headers_are_refused(gateway: GatewayFleet) -> None:
    assert _post(gateway, headers={"Host": "attacker.example:8080"}).status_code == 421


def test_foreign_origins_are_refused(gateway: GatewayFleet) -> None:
    assert _post(gateway, headers={"Origin": "http://attacker.example"}).status_code == 403
    assert _post(gateway, headers={"Origin": "http://localhost:3000"}).status_code == 200


def test_oversized_bodies_are_refused(gateway: GatewayFleet) -> None:
    big = json.dumps({**INITIALIZE, "padding": "x" * 2_000_000})
    assert _post(gateway, content=big).status_code == 413

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(40):
            yield b"x" * 65536

    streamed = httpx2.post(
        f"{gateway.url}/mcp",
        headers={**MCP_HEADERS, "Authorization": f"Bearer {ADMIN_TOKEN}"},
        content=chunks(),
        timeout=10,
    )
    assert streamed.status_code == 413


def test_malformed_requests_get_errors_without_stack_traces(gateway: GatewayFleet) -> None:
    for body in ("{not json", json.dumps({"jsonrpc": "2.0"}), "[]"):
        response = _post(gateway, content=body)
        assert response.status_code in (200, 400, 406, 415, 422)
        assert "Traceback" not in response.text and 'File "' not in response.text


def test_a_client_cannot_reach_an_instance_outside_its_scope(gateway: GatewayFleet) -> None:
    assert _post(gateway, "/instances/production/mcp", token=OPS_TOKEN).status_code == 404
    assert _post(gateway, "/instances/staging/mcp", token=OPS_TOKEN).status_code == 200
    assert _post(gateway, "/instances/nope/mcp").status_code == 404


def test_probes(gateway: GatewayFleet) -> None:
    assert httpx2.get(f"{gateway.url}/healthz").json() == {"status": "ok"}
    ready = httpx2.get(f"{gateway.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["instances"] == {"production": "ready", "staging": "ready", "lab": "ready"}


async def test_metrics_count_calls_per_instance(gateway: GatewayFleet) -> None:
    def calls() -> int:
        body = httpx2.get(f"{gateway.url}/metrics").text
        prefix = 'xo_mcp_tool_calls_total{instance="production"}'
        line = next(row for row in body.splitlines() if row.startswith(prefix))
        return int(line.rsplit(" ", 1)[1])

    before = calls()
    async with http_client(f"{gateway.url}/mcp", token=ADMIN_TOKEN) as client:
        result = await client.call_tool(
            "pools_query", {"instance": "production", "operation": "GetPools"}
        )
    assert not result.is_error, text(result)
    metrics = httpx2.get(f"{gateway.url}/metrics").text
    assert calls() == before + 1
    assert 'xo_mcp_instance_up{instance="production"} 1' in metrics
    assert 'xo_mcp_tool_call_duration_seconds_bucket{instance="production",le="+Inf"}' in metrics
    assert "# TYPE xo_mcp_instance_restarts_total counter" in metrics


async def test_a_read_only_client_cannot_act(gateway: GatewayFleet) -> None:
    async with http_client(f"{gateway.url}/instances/staging/mcp", token=OPS_TOKEN) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        refused = await client.call_tool("vms_action", {"operation": "StartVm", "id": "x"})
    assert "vms_query" in names and not any(name.endswith("_action") for name in names)
    assert refused.is_error
