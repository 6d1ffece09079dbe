"""Streamable HTTP on a unix socket and on loopback TCP, with clients of both eras."""

from __future__ import annotations

import asyncio
import socket
import stat
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from support.clients import ERAS, LEGACY, http_client, text, tool_names
from support.processes import Sim, free_port, worker_env
from worker.kit import run_worker, serving

from xo_mcp.wire.exits import EXIT_FAILURE

pytestmark = pytest.mark.anyio


def _is_anyio_unix_race(context: dict[str, Any]) -> bool:
    """anyio 4.16's raw UNIX socket stream leaves a reader callback that calls `set_result` on a
    future its cancelled `receive()` already finished (agronholm/anyio#1267 is the `aclose`
    twin). It only happens in this test process's client, when a stream is torn down."""
    return isinstance(context.get("exception"), asyncio.InvalidStateError) and (
        "Future.set_result" in str(context.get("message", ""))
    )


@asynccontextmanager
async def unix_client(path: Path, *, mode: str, **options: Any) -> AsyncIterator[Client]:
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if _is_anyio_unix_race(context):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    try:
        transport = httpx2.AsyncHTTPTransport(uds=str(path))
        async with httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(60)) as http:
            connection = streamable_http_client("http://localhost/mcp", http_client=http)
            async with Client(connection, mode=mode, cache=None, **options) as client:
                yield client
        await anyio.sleep(0.1)  # let a stray reader callback run while it is still tolerated
    finally:
        loop.set_exception_handler(previous)


@pytest.fixture
def unix_worker(sim: Sim, tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "run" / "mcp.sock"
    with serving(worker_env(sim, XO_MCP_INSTANCE="unixy"), f"unix:{path}", tmp_path / "err"):
        yield path


@pytest.fixture
def tcp_worker(sim: Sim, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    with serving(worker_env(sim), f"127.0.0.1:{port}", tmp_path / "err"):
        yield f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("mode", ERAS)
async def test_unix_socket(unix_worker: Path, mode: str) -> None:
    async with unix_client(unix_worker, mode=mode) as client:
        names = tool_names(await client.list_tools())
        assert "vms_query" in names and "check_connection" in names
        result = await client.call_tool("vms_query", {"operation": "GetVms", "limit": 1})
        assert not result.is_error
        assert text(result).startswith("| name_label | power_state | uuid |")


def test_unix_socket_is_private(unix_worker: Path) -> None:
    mode = unix_worker.stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) & 0o077 == 0  # nobody but the worker's user may connect


def test_status_endpoint(unix_worker: Path) -> None:
    transport = httpx2.HTTPTransport(uds=str(unix_worker))
    with httpx2.Client(transport=transport) as http:
        status = http.get("http://localhost/status").json()
    assert status["instance"] == "unixy"
    assert status["actions"] is False and status["tools"] > 30
    assert status["api_version"] == "0.39.0"


@pytest.mark.parametrize("mode", ERAS)
async def test_loopback_tcp(tcp_worker: str, mode: str) -> None:
    async with http_client(f"{tcp_worker}/mcp", mode=mode) as client:
        names = tool_names(await client.list_tools())
        assert "hosts_query" in names
        result = await client.call_tool("check_connection", {})
        assert text(result) == "Connection to XO server successful."


def test_loopback_tcp_refuses_foreign_host_headers(tcp_worker: str) -> None:
    # DNS-rebinding protection: a page on evil.example cannot reach the worker through a browser.
    response = httpx2.post(
        f"{tcp_worker}/mcp",
        headers={"Host": "evil.example", "Content-Type": "application/json"},
        content=b"{}",
        trust_env=False,
    )
    assert response.status_code == 421


async def test_elicitation_over_legacy_http(fresh_sim: Sim, tmp_path: Path) -> None:
    vm = fresh_sim.rest("/vms", fields="id", limit="1")[0]["id"]
    asked: list[str] = []

    async def accept(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True})

    # Loopback TCP: over a unix socket the client library (httpcore2/anyio, in this test's
    # process) trips on a cancelled future when the elicitation stream closes.
    port = free_port()
    env = worker_env(fresh_sim, XO_MCP_ENABLE_ACTIONS="1")
    with serving(env, f"127.0.0.1:{port}", tmp_path / "err"):
        url = f"http://127.0.0.1:{port}/mcp"
        async with http_client(url, mode=LEGACY, elicitation_callback=accept) as client:
            result = await client.call_tool(
                "vms_action", {"operation": "PutVmTag", "id": vm, "tag": "over-http"}
            )
    assert text(result) == "PutVmTag succeeded (HTTP 204, no content)."
    assert len(asked) == 1
    assert "over-http" in fresh_sim.rest(f"/vms/{vm}")["tags"]


def test_a_busy_port_is_a_clear_failure(sim: Sim) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_worker(worker_env(sim), "--listen", f"127.0.0.1:{port}")
    assert result.returncode == EXIT_FAILURE
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
