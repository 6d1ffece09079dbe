"""The worker's end of the private gateway protocol: answers, progress, reuse of a connection,
cancellation by hangup, and refusal of anyone but the gateway's process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from support.worker_socket import TOOL, ScriptedRunner, serving, socket_path

from xo_mcp.wire.framing import MAX_LINE, decode_reply, encode
from xo_mcp.wire.messages import (
    Call,
    ClientIdentity,
    Describe,
    Description,
    Progress,
    Reply,
    Result,
    WorkerStatus,
)
from xo_mcp.worker.gateway_socket import GatewaySocketServer
from xo_mcp.worker.openapi import parse_spec
from xo_mcp.worker.tools import build_tools

pytestmark = pytest.mark.anyio

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
def runner() -> ScriptedRunner:
    return ScriptedRunner()


@pytest.fixture
async def path(runner: ScriptedRunner) -> AsyncIterator[Path]:
    with socket_path() as path:
        async with serving(path, runner):
            yield path


async def connect(path: Path) -> Streams:
    return await asyncio.open_unix_connection(str(path), limit=MAX_LINE)


async def exchange(streams: Streams, request: BaseModel) -> list[Reply]:
    """Send one request; every message of the answer, up to and with the result or describe."""
    reader, writer = streams
    writer.write(encode(request))
    await writer.drain()
    replies: list[Reply] = []
    while True:
        line = await asyncio.wait_for(reader.readline(), 5)
        assert line, f"the worker closed the connection after {replies}"
        replies.append(decode_reply(line))
        if not isinstance(replies[-1], Progress):
            return replies


async def closed_unanswered(reader: asyncio.StreamReader) -> bool:
    """The worker closed without a byte (a reset when it left our request unread)."""
    try:
        return await asyncio.wait_for(reader.read(), 5) == b""
    except ConnectionResetError:
        return True


def call(name: str, **arguments: Any) -> Call:
    return Call(name=name, arguments=arguments, client=ClientIdentity(name="ops"))


async def test_describe_sends_the_tools_and_status(path: Path) -> None:
    [description] = await exchange(await connect(path), Describe())
    assert description == Description(
        tools=[TOOL], status=WorkerStatus(url="https://xo.test", api_version="0.39.0")
    )


async def test_a_call_relays_progress_then_its_result(path: Path, runner: ScriptedRunner) -> None:
    lines = await exchange(await connect(path), call("vms_query", limit=1))
    assert lines == [
        Progress(progress=1, total=2, message="half way"),
        Result(text="vms_query done #1"),
    ]
    assert runner.calls == [("vms_query", {"limit": 1}, "ops")]


async def test_one_connection_carries_requests_one_after_the_other(
    path: Path, runner: ScriptedRunner
) -> None:
    streams = await connect(path)
    await exchange(streams, Describe())
    for n in (1, 2, 3):
        *_, last = await exchange(streams, call("hosts_query"))
        assert last == Result(text=f"hosts_query done #{n}")
    assert len(runner.calls) == 3


async def test_a_bug_in_a_tool_costs_that_call_only(path: Path) -> None:
    streams = await connect(path)
    *_, failed = await exchange(streams, call("boom"))
    assert failed == Result(text="Internal error while running the tool.", is_error=True)
    # (the worker logs the bug; the client learns nothing of it)
    *_, fine = await exchange(streams, call("vms_query"))
    assert isinstance(fine, Result) and fine.is_error is False


async def test_hanging_up_cancels_the_call_at_the_worker(
    path: Path, runner: ScriptedRunner
) -> None:
    _, writer = await connect(path)
    writer.write(encode(call("slow")))
    await asyncio.wait_for(runner.slow_started.wait(), 5)
    writer.close()
    await asyncio.wait_for(runner.cancelled.wait(), 5)
    [*_] = await exchange(await connect(path), call("vms_query"))  # the worker still serves


@pytest.mark.parametrize(
    "line",
    [
        b"not json\n",
        b"[1, 2]\n",
        b'{"op": "reboot"}\n',
        b'{"no": "op"}\n',
        b'{"op": "call", "name": "vms_query"}\n',
    ],
    ids=["garbage", "not-an-object", "unknown-op", "no-op", "call-without-client"],
)
async def test_anything_else_closes_the_connection_unanswered(
    path: Path, runner: ScriptedRunner, line: bytes
) -> None:
    reader, writer = await connect(path)
    writer.write(line)
    assert await closed_unanswered(reader)
    assert runner.calls == []


async def test_only_the_gateway_process_is_answered(runner: ScriptedRunner) -> None:
    with socket_path() as path:
        async with serving(path, runner, allowed_pid=1):
            reader, writer = await connect(path)
            writer.write(encode(Describe()))
            assert await closed_unanswered(reader)


async def test_the_socket_is_private_to_the_worker_uid(path: Path) -> None:
    assert path.stat().st_mode & 0o777 == 0o600


async def test_stopping_the_server_ends_every_connection_cleanly(runner: ScriptedRunner) -> None:
    """SIGTERM cancels the server: idle and busy connections end, their handlers return (the
    event loop then has nothing left to cancel, which would log errors at shutdown)."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: errors.append(context))
    with socket_path() as path:
        async with serving(path, runner) as server:
            idle = await connect(path)
            await exchange(idle, Describe())
            busy_reader, busy_writer = await connect(path)
            busy_writer.write(encode(call("slow")))
            await asyncio.wait_for(runner.slow_started.wait(), 5)
            server.task.cancel()
            await asyncio.wait_for(runner.cancelled.wait(), 5)
            assert await closed_unanswered(idle[0])
            progress_only = await asyncio.wait_for(busy_reader.read(), 5)
            assert b'"progress"' in progress_only and b'"result"' not in progress_only
            assert server._open == {}
    loop.set_exception_handler(None)
    assert errors == []


def test_the_description_carries_every_tools_brief(runner: ScriptedRunner) -> None:
    spec = {
        "paths": {
            "/vms/{id}/tags/{tag}": {
                "put": {"operationId": "PutVmTag", "x-mcp-exposure": "confirm", "responses": {}}
            }
        }
    }
    tools = build_tools(parse_spec(spec, actions=True))
    status = WorkerStatus(url="https://xo.test")
    server = GatewaySocketServer(runner, tools, status, None)  # type: ignore[arg-type]
    received = decode_reply(encode(server.description))
    assert isinstance(received, Description)
    assert received.briefs["vms_action"].operations["PutVmTag"].line == "PutVmTag(id,tag)"
    assert received.briefs["check_connection"].summary == "Test the XO connection."
