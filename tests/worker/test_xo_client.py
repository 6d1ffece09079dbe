"""The REST client against scripted answers: headers, errors, kill switch, redirects, TLS."""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx2
import pytest

from xo_mcp import logs
from xo_mcp.worker.docs import html_to_text
from xo_mcp.worker.settings import Credentials, WorkerSettings
from xo_mcp.worker.xo_client import (
    MIN_BODY_LIMIT,
    XoClient,
    XoRequestError,
    describe_transport_error,
    ssl_context,
)

pytestmark = pytest.mark.anyio

TOKEN = WorkerSettings(xo_url="http://xo.test", credentials=Credentials(token="tok"))
BASIC = WorkerSettings(
    xo_url="http://xo.test", credentials=Credentials(username="admin", password="pw")
)
DISABLED = {"error": "MCP is disabled by administrator", "data": {"error": "mcp_disabled"}}
Handler = Callable[[httpx2.Request], httpx2.Response]


def client(handler: Handler, settings: WorkerSettings = TOKEN) -> XoClient:
    xo = XoClient(settings)
    xo._http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    return xo


def json_response(status: int, body: object, **headers: str) -> httpx2.Response:
    return httpx2.Response(status, json=body, headers=headers)


async def test_every_request_carries_the_mcp_header_and_the_token() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, text="| a |", headers={"content-type": "text/markdown"})

    answer = await client(handler).request("GET", "/vms", query={"markdown": "true", "x": ""})
    (request,) = seen
    assert request.headers["x-xo-client"] == "mcp"
    assert request.headers["cookie"] == "authenticationToken=tok"
    assert "authorization" not in request.headers
    assert str(request.url) == "http://xo.test/rest/v0/vms?markdown=true"  # empty values dropped
    assert (answer.status, answer.text, answer.is_json) == (200, "| a |", False)


async def test_within_a_call_requests_carry_its_request_id() -> None:
    """The gateway's id for the call follows it to XO (and to XO's and proxies' logs)."""
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return json_response(200, [])

    xo = client(handler)
    await xo.request("GET", "/vms")
    with logs.bound(client="ops", request_id="5f2c9a1e0b7d4c38"):
        await xo.request("GET", "/hosts")
    outside, inside = seen
    assert "x-request-id" not in outside.headers
    assert inside.headers["x-request-id"] == "5f2c9a1e0b7d4c38"
    assert "traceparent" not in inside.headers  # traces are off


async def test_messages_name_the_fleet_key_the_setting_came_from() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return json_response(401, {"error": "nope"})

    keys = {"XO_TOKEN": "instances.lyon.token_file", "XO_URL": "instances.lyon.url"}
    with pytest.raises(XoRequestError) as caught:
        await client(handler, replace(TOKEN, names=keys)).request("GET", "/vms")
    assert str(caught.value) == (
        "Authentication failed: check instances.lyon.token_file — the token may have expired "
        "or been revoked."
    )
    basic = {"XO_USERNAME": "instances.l.username", "XO_PASSWORD": "instances.l.password_env"}
    with pytest.raises(XoRequestError) as caught:
        await client(handler, replace(BASIC, names=basic)).request("GET", "/vms")
    assert "check instances.l.username and instances.l.password_env." in str(caught.value)


async def test_basic_auth_and_json_body() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return json_response(202, {"taskId": "t"})

    answer = await client(handler, BASIC).request("POST", "/vms/x/actions/start", body={"a": 1})
    (request,) = seen
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"admin:pw").decode()
    assert "cookie" not in request.headers
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"a": 1}
    assert answer.is_json and answer.json() == {"taskId": "t"}


@pytest.mark.parametrize(
    ("settings", "wording"),
    [
        (TOKEN, "check XO_TOKEN — the token may have expired or been revoked."),
        (BASIC, "check XO_USERNAME and XO_PASSWORD."),
    ],
)
async def test_401_wording_per_auth_mode(settings: WorkerSettings, wording: str) -> None:
    xo = client(lambda _: json_response(401, {"error": "invalid credentials"}), settings)
    with pytest.raises(XoRequestError) as caught:
        await xo.request("GET", "/vms")
    assert str(caught.value) == f"Authentication failed: {wording}"
    assert caught.value.status == 401


async def test_http_status_and_xo_text() -> None:
    body = {"error": "no such VM x", "data": {"id": "x", "type": "VM"}}
    xo = client(lambda _: json_response(404, body))
    with pytest.raises(XoRequestError) as caught:
        await xo.request("GET", "/vms/x")
    assert str(caught.value).startswith('XO API error (404 Not Found): {"error":"no such VM x"')
    assert caught.value.summary == "XO API error (404 Not Found)"


async def test_long_error_bodies_are_cut() -> None:
    xo = client(lambda _: httpx2.Response(500, text="e" * 10_000))
    with pytest.raises(XoRequestError) as caught:
        await xo.request("GET", "/vms")
    assert len(str(caught.value)) < 2100


async def test_kill_switch_at_runtime() -> None:
    xo = client(lambda _: json_response(503, DISABLED))
    with pytest.raises(XoRequestError) as caught:
        await xo.request("GET", "/vms")
    assert caught.value.mcp_disabled
    assert str(caught.value).startswith("MCP disabled by admin")


async def test_a_503_without_the_code_is_an_ordinary_error() -> None:
    xo = client(lambda _: json_response(503, {"error": "mcp_disabled"}))  # the documented shape
    with pytest.raises(XoRequestError) as caught:
        await xo.request("GET", "/vms")
    assert not caught.value.mcp_disabled
    assert str(caught.value).startswith("XO API error (503 Service Unavailable)")


async def test_status_probe_sends_no_credentials() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return json_response(200, {"enabled": True})

    await client(handler).check_mcp_status()
    (request,) = seen
    assert request.url.path == "/rest/v0/mcp/status"
    assert request.headers["x-xo-client"] == "mcp"
    assert "cookie" not in request.headers and "authorization" not in request.headers


async def test_status_probe_outcomes() -> None:
    with pytest.raises(XoRequestError) as caught:
        await client(lambda _: json_response(503, DISABLED)).check_mcp_status()
    assert str(caught.value) == "MCP disabled by admin" and caught.value.mcp_disabled
    with pytest.raises(XoRequestError) as caught:
        await client(lambda _: httpx2.Response(404, text="Cannot GET")).check_mcp_status()
    assert str(caught.value) == "Unable to verify MCP status (HTTP 404): Cannot GET"
    with pytest.raises(XoRequestError) as caught:
        await client(lambda _: httpx2.Response(500)).check_mcp_status()
    assert str(caught.value) == "Unable to verify MCP status (HTTP 500): Internal Server Error"


async def test_status_probe_unreachable() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(XoRequestError) as caught:
        await client(refuse).check_mcp_status()
    assert str(caught.value) == (
        "Unable to reach XO server at http://xo.test to verify MCP status: connection refused"
    )


async def test_spec_fetch() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return json_response(200, {"paths": {}})

    assert await client(handler).fetch_spec() == {"paths": {}}
    assert seen[0].headers["cookie"] == "authenticationToken=tok"
    assert seen[0].headers["accept"] == "application/json"


async def test_spec_fetch_errors() -> None:
    with pytest.raises(XoRequestError, match="is not valid JSON"):
        await client(lambda _: httpx2.Response(200, text="<html>")).fetch_spec()
    with pytest.raises(XoRequestError, match="Authentication failed"):
        await client(lambda _: json_response(401, {})).fetch_spec()
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(XoRequestError, match="is not valid JSON"):
        await client(lambda _: httpx2.Response(200, text=deep)).fetch_spec()


def test_refused_connections_are_named_behind_the_async_backend() -> None:
    error = httpx2.ConnectError("All connection attempts failed")
    try:
        raise error from OSError("All connection attempts failed")
    except httpx2.ConnectError:
        pass
    assert error.__cause__ is not None
    error.__cause__.__cause__ = ConnectionRefusedError(111, "Connect call failed")
    assert describe_transport_error(error) == "connection refused"


async def test_transport_errors() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("[Errno 111] Connection refused", request=request)

    def slow(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("timed out", request=request)

    with pytest.raises(XoRequestError) as caught:
        await client(refuse).request("GET", "/vms")
    assert str(caught.value) == (
        "Cannot connect to XO server at http://xo.test (connection refused). Verify the server "
        "is running and XO_URL is correct."
    )
    with pytest.raises(XoRequestError) as caught:
        await client(slow, replace(TOKEN, timeout_s=2)).request("GET", "/vms")
    assert str(caught.value) == "Request to XO server timed out after 2s."


def test_describe_transport_error() -> None:
    request = httpx2.Request("GET", "http://x")
    assert describe_transport_error(httpx2.ConnectTimeout("", request=request)) == "timed out"
    dns = httpx2.ConnectError("[Errno -2] Name or service not known", request=request)
    assert describe_transport_error(dns) == "host name not found"
    tls = httpx2.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    assert "set XO_CA_BUNDLE" in describe_transport_error(tls)


async def test_same_origin_redirects_are_followed_with_credentials() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        if request.url.path == "/rest/v0/users/me":
            return httpx2.Response(307, headers={"location": "/rest/v0/users/u1"})
        return json_response(200, {"id": "u1"})

    answer = await client(handler).request("GET", "/users/me")
    assert answer.json() == {"id": "u1"}
    assert [r.url.path for r in seen] == ["/rest/v0/users/me", "/rest/v0/users/u1"]
    assert seen[1].headers["cookie"] == "authenticationToken=tok"


async def test_redirects_elsewhere_are_not_followed() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(302, headers={"location": "http://evil.test/steal"})

    with pytest.raises(XoRequestError, match=r"XO API error \(302 Found\)"):
        await client(handler).request("GET", "/vms")
    assert len(seen) == 1


async def test_redirect_loops_stop() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(308, headers={"location": request.url.path})

    with pytest.raises(XoRequestError, match="308"):
        await client(handler).request("GET", "/loop")
    assert len(seen) == 4


async def test_a_303_does_not_turn_an_action_into_a_get() -> None:
    xo = client(lambda _: httpx2.Response(303, headers={"location": "/rest/v0/tasks/1"}))
    with pytest.raises(XoRequestError, match="303"):
        await xo.request("POST", "/vms/x/actions/start")


async def test_huge_answers_are_read_up_to_a_limit() -> None:
    big = "z" * (3 * MIN_BODY_LIMIT)
    xo = client(lambda _: httpx2.Response(200, text=big), replace(TOKEN, max_response_chars=10))
    answer = await xo.request("GET", "/vms")
    assert answer.truncated and len(answer.text) == MIN_BODY_LIMIT
    small = await client(lambda _: httpx2.Response(200, text="ok")).request("GET", "/vms")
    assert not small.truncated


async def test_charset_is_honoured() -> None:
    body = "é".encode("latin-1")
    answer = await client(
        lambda _: httpx2.Response(
            200, content=body, headers={"content-type": "text/plain; charset=latin-1"}
        )
    ).request("GET", "/x")
    assert answer.text == "é"


def test_tls_contexts(tmp_path: Path) -> None:
    assert ssl_context("http://xo", None, False) is True
    default = ssl_context("https://xo", None, False)
    assert isinstance(default, ssl.SSLContext)
    assert default.verify_mode == ssl.CERT_REQUIRED and default.check_hostname
    insecure = ssl_context("https://xo", None, True)
    assert isinstance(insecure, ssl.SSLContext)
    assert insecure.verify_mode == ssl.CERT_NONE and not insecure.check_hostname
    with pytest.raises(ssl.SSLError):  # a bundle that is not PEM is refused, never ignored
        bundle = tmp_path / "ca.pem"
        bundle.write_text("not a certificate", encoding="utf-8")
        ssl_context("https://xo", bundle, False)


def test_html_to_text() -> None:
    html = (
        "<html><head><style>p{}</style><script>alert(1)</script></head><body>"
        "<nav>menu</nav><h1>Backups</h1><p>Full &amp; delta</p><ul><li>one</li><li>two</li></ul>"
        "<footer>©</footer></body></html>"
    )
    assert html_to_text(html) == "## Backups\n\nFull & delta\n\n- one\n- two"
