"""The HTTP port against hostile requests: bad JSON, oversized bodies, wrong content types,
wrong methods, odd headers, arbitrary bytes. Every answer is a clean 4xx (or a 2xx where the
request is in fact acceptable), never a 5xx or a stack trace, and the port keeps serving.

Requests go out as written (relkit.raw_request: no client-side clean-up). The `scoped` fleet
is shared with test_authorization.py; tests/gateway/test_http_port.py has the basic cases.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability.conftest import ADMIN, Scoped
from reliability.relkit import Raw, raw_request
from support.clients import http_client
from support.rpc import MCP_HEADERS, initialize

pytestmark = pytest.mark.anyio
INITIALIZE = json.dumps(initialize(1, "hostile")).encode()
GOOD = {"Authorization": f"Bearer {ADMIN}", **MCP_HEADERS}
PATHS = ["/mcp", "/instances/staging/mcp"]


def send(
    scoped: Scoped,
    method: str = "POST",
    path: str = "/mcp",
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = INITIALIZE,
) -> Raw:
    response = raw_request(
        scoped.url, method, path, headers=GOOD if headers is None else headers, body=body
    )
    assert response.status < 500, (response.status, response.body[:500])
    assert "Traceback" not in response.body and 'File "' not in response.body
    return response


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE"])
def test_wrong_methods(scoped: Scoped, method: str, path: str) -> None:
    response = send(scoped, method, path, body=None)
    assert 400 <= response.status < 500 or method == "OPTIONS"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/xml",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "application/json; charset=utf-16",
        "application/json, text/html",
        "é/ü",
    ],
)
def test_wrong_content_types(scoped: Scoped, path: str, content_type: str | None) -> None:
    headers = {key: value for key, value in GOOD.items() if key != "Content-Type"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    send(scoped, path=path, headers=headers)


BODIES = {
    "not json": b"{not json",
    "empty": b"",
    "null": b"null",
    "empty array": b"[]",
    "numbers": b"[1, 2, 3]",
    "no method": b'{"jsonrpc": "2.0", "id": 1}',
    "params a string": b'{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": "x"}',
    "deep": b"[" * 200_000 + b"]" * 200_000,
    "invalid utf-8": b'{"jsonrpc": "2.0", "id": 1, "method": "\xff\xfe"}',
    "nul": b'{"jsonrpc": "2.0", "id": 1\x00}',
    "huge number": b'{"jsonrpc": "2.0", "id": 1' + b"0" * 5000 + b', "method": "ping"}',
    "5 MB": b'{"x": "' + b"x" * (5 << 20) + b'"}',
    "1 MiB, just under": b'{"x": "' + b"x" * ((1 << 20) - 16) + b'"}',
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_bad_bodies(scoped: Scoped, path: str, body: bytes) -> None:
    response = send(scoped, path=path, body=body)
    if len(body) > 1 << 20:
        assert response.status == 413


HEADERS = {  # extra headers → the status expected (None: any clean answer)
    "no accept": ({"Accept": ""}, 406),
    "accept html": ({"Accept": "text/html"}, 406),
    "unknown session": ({"Mcp-Session-Id": "not-a-session"}, None),
    "session id junk": ({"Mcp-Session-Id": "é" * 100}, None),
    "huge header": ({"X-Padding": "p" * 100_000}, None),
    "non-ascii token": ({"Authorization": "Bearer ünïcødé"}, 401),
    "two tokens": ({"Authorization": f"Bearer wrong, Bearer {ADMIN}"}, 401),
    "content-length lies": ({"Content-Length": "999999999"}, 413),
    "odd protocol version": ({"Mcp-Protocol-Version": "1999-01-01"}, None),
}


@pytest.mark.parametrize(("extra", "status"), HEADERS.values(), ids=HEADERS.keys())
def test_odd_headers(scoped: Scoped, extra: dict[str, str], status: int | None) -> None:
    response = send(scoped, headers={**GOOD, **extra})
    if status is not None:
        assert response.status == status, response.body


@settings(
    max_examples=80,
    deadline=None,  # a network round trip per example
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.binary(max_size=4000)
    | st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(["jsonrpc", "id", "method", "params", "x"]), inner, max_size=5
            )
        ),
        max_leaves=15,
    ).map(lambda value: json.dumps(value).encode()),
    content_type=st.sampled_from(["application/json", "text/plain", "application/octet-stream"]),
    path=st.sampled_from(PATHS),
)
def test_arbitrary_bodies(scoped: Scoped, body: bytes, content_type: str, path: str) -> None:
    send(scoped, path=path, headers={**GOOD, "Content-Type": content_type}, body=body)


async def test_the_port_still_serves_and_logged_no_failure(scoped: Scoped) -> None:
    async with http_client(f"{scoped.url}/mcp", token=ADMIN) as client:
        result = await client.call_tool("vms_query", {"instance": "staging", "operation": "GetVms"})
    assert not result.is_error
    assert send(scoped, "GET", "/healthz", body=None).status == 200
    stderr = scoped.fleet.stderr()
    assert "HTTP request failed" not in stderr
    assert "Traceback" not in stderr
