"""Per-client limits on the HTTP port: one client cannot crowd out the others.

Clients of the fleet (one simulated XO, actions on):
  small   max_sessions 3          brief   session_idle_s 1
  chatty  requests_per_minute 5   looper  max_pending_confirmations 3
  other   the [gateway] defaults
and the port times out slow request headers and bodies after 1 s.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Iterator

import httpx2
import pytest
from support.clients import http_client, text
from support.fleetfile import client, fleet_toml, instance
from support.gateway_fleet import GatewayFleet
from support.processes import Sim, secret_file, sims_and_fleet
from support.rpc import INITIALIZED, MCP_HEADERS, initialize, request

pytestmark = pytest.mark.anyio
TOKENS = {
    name: f"{name}-token-0123456789abcdef"
    for name in ("small", "brief", "chatty", "looper", "other")
}
CONFIRM = re.compile(r'confirm_token: "([^"]+)"')


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayFleet]:
    base = tmp_path_factory.mktemp("limits")

    def fleet_file(sims: dict[str, Sim]) -> tuple[str, dict[str, str]]:
        files = {name: secret_file(base, name, token) for name, token in TOKENS.items()}
        toml = fleet_toml(
            gateway={"header_timeout_s": 1, "body_timeout_s": 1},
            clients=[
                client("small", token_file=files["small"], max_sessions=3),
                client("brief", token_file=files["brief"], session_idle_s=1),
                client("chatty", token_file=files["chatty"], requests_per_minute=5),
                client("looper", token_file=files["looper"], max_pending_confirmations=3),
                client("other", token_file=files["other"]),
            ],
            instances={"staging": instance(sims["staging"], token_env="XO_TOKEN", actions=True)},
        )
        return toml, {"XO_TOKEN": sims["staging"].token}

    with sims_and_fleet(base, {"staging": ("--seed", "2")}, fleet_file) as (fleet, sims):
        yield GatewayFleet(fleet, sims["staging"], sims["staging"])


def headers(name: str, session: str | None = None) -> dict[str, str]:
    found = {**MCP_HEADERS, "Authorization": f"Bearer {TOKENS[name]}"}
    if session is not None:
        found.update({"Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-11-25"})
    return found


def open_session(port: GatewayFleet, name: str) -> httpx2.Response:
    return httpx2.post(f"{port.url}/mcp", headers=headers(name), json=initialize(), timeout=10)


def end_session(port: GatewayFleet, name: str, session: str) -> int:
    return httpx2.delete(f"{port.url}/mcp", headers=headers(name, session), timeout=10).status_code


def metric(port: GatewayFleet, line_start: str) -> float:
    for line in httpx2.get(f"{port.url}/metrics", timeout=10).text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_client_holds_at_most_its_sessions_and_nobody_else_pays(port: GatewayFleet) -> None:
    sessions = [open_session(port, "small") for _ in range(3)]
    assert [r.status_code for r in sessions] == [200, 200, 200]
    refused = open_session(port, "small")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "small has 3 open sessions" in refused.json()["error_description"]
    assert open_session(port, "other").status_code == 200  # another client is not affected
    assert end_session(port, "small", sessions[0].headers["mcp-session-id"]) == 200
    assert open_session(port, "small").status_code == 200  # room again
    refusals = 'xo_mcp_client_refusals_total{client="small",reason="session_limit"}'
    assert metric(port, refusals) >= 1


def test_an_idle_session_expires_after_its_clients_idle_time(port: GatewayFleet) -> None:
    brief = open_session(port, "brief").headers["mcp-session-id"]
    other = open_session(port, "other").headers["mcp-session-id"]
    for name, session in (("brief", brief), ("other", other)):
        initialized = httpx2.post(
            f"{port.url}/mcp", headers=headers(name, session), json=INITIALIZED, timeout=10
        )
        assert initialized.status_code == 202
    time.sleep(2.5)
    listed = {
        name: httpx2.post(
            f"{port.url}/mcp",
            headers=headers(name, session),
            json=request(2, "tools/list"),
            timeout=10,
        ).status_code
        for name, session in (("brief", brief), ("other", other))
    }
    assert listed == {"brief": 404, "other": 200}


def test_a_client_over_its_request_rate_waits(port: GatewayFleet) -> None:
    answers = [open_session(port, "chatty") for _ in range(7)]
    codes = [answer.status_code for answer in answers]
    assert codes[:5] == [200] * 5 and 429 in codes[5:]
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert "over 5 requests a minute" in refused.json()["error_description"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert open_session(port, "other").status_code == 200


async def test_one_client_cannot_cancel_anothers_confirmations(port: GatewayFleet) -> None:
    vms = port.staging.rest("/vms", fields="id", limit="5")
    action = {"instance": "staging", "operation": "PutVmTag", "tag": "kept"}
    async with http_client(f"{port.url}/mcp", token=TOKENS["other"]) as other:
        mine = await other.call_tool("vms_action", {**action, "id": vms[0]["id"]})
        token = CONFIRM.search(text(mine))
        assert token is not None
        async with http_client(f"{port.url}/mcp", token=TOKENS["looper"]) as looper:
            previews = [
                await looper.call_tool("vms_action", {**action, "id": vm["id"], "tag": "x"})
                for vm in vms[:4]
            ]
        done = await other.call_tool(
            "vms_action", {**action, "id": vms[0]["id"], "confirm_token": token.group(1)}
        )
    assert [p.is_error for p in previews] == [False, False, False, True]
    assert "Too many pending confirmations for client looper" in text(previews[3])
    assert not done.is_error, text(done)
    assert "kept" in port.staging.rest(f"/vms/{vms[0]['id']}", fields="tags")["tags"]


def raw_connection(port: GatewayFleet) -> socket.socket:
    host, number = port.url.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host, int(number)), timeout=10)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(4096):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("sent", [b"", b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"])
def test_slow_or_silent_headers_time_out(port: GatewayFleet, sent: bytes) -> None:
    with raw_connection(port) as sock:
        sock.sendall(sent)
        started = time.monotonic()
        answer = read_all(sock)  # the port closes the connection
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408")
    assert waited < 9  # the 10 s read timeout above would have fired first otherwise


def test_a_slow_body_times_out(port: GatewayFleet) -> None:
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKENS['other']}\r\n"
        "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
        "Content-Length: 100\r\n\r\n{"
    )
    with raw_connection(port) as sock:
        sock.sendall(head.encode())
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408")
    assert b"request body not received within 1s" in answer


async def test_many_slow_connections_cost_little(port: GatewayFleet) -> None:
    """Two hundred silent connections: the port still answers at once, then drops them."""
    sockets = [raw_connection(port) for _ in range(200)]
    try:
        async with http_client(f"{port.url}/mcp", token=TOKENS["other"]) as other:
            status = await asyncio.wait_for(other.call_tool("fleet_status", {}), 10)
        assert not status.is_error
    finally:
        for sock in sockets:
            sock.close()
