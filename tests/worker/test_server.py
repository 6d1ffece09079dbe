"""The MCP layer in-process (no transport): results, prompts, and failures that never leak."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from support.clients import ERAS, text
from support.fakes import FakeXo

from xo_mcp.worker.calls import ToolRunner
from xo_mcp.worker.openapi import parse_spec
from xo_mcp.worker.server import WorkerServer
from xo_mcp.worker.settings import Credentials, WorkerSettings
from xo_mcp.worker.tools import build_tools
from xo_mcp.worker.xo_client import XoResponse

pytestmark = pytest.mark.anyio

SETTINGS = WorkerSettings(xo_url="http://xo.test", credentials=Credentials(token="t"))
SPEC = {"paths": {"/vms": {"get": {"operationId": "GetVms", "x-mcp-exposure": "allow"}}}}


def exploding_xo() -> FakeXo:
    return FakeXo(lambda *_: RuntimeError("secret internals: /etc/shadow"), SETTINGS)


def markdown_xo() -> FakeXo:
    return FakeXo(lambda *_: XoResponse(200, "text/markdown", "| a |\n| --- |", {}), SETTINGS)


def server(client: Any) -> WorkerServer:
    catalog = parse_spec(SPEC)
    tools = build_tools(catalog)
    return WorkerServer(ToolRunner(client, catalog, tools), tools)


@pytest.mark.parametrize("mode", ERAS)
async def test_unexpected_failures_are_tool_errors_without_details(mode: str) -> None:
    async with Client(server(exploding_xo()).server, mode=mode, cache=None) as client:
        result = await client.call_tool("vms_query", {"operation": "GetVms"})
    assert result.is_error
    assert text(result) == "Internal error while running vms_query."


@pytest.mark.parametrize("mode", ERAS)
async def test_tools_prompts_and_a_call(mode: str) -> None:
    async with Client(server(markdown_xo()).server, mode=mode, cache=None) as client:
        tools = await client.list_tools()
        assert [tool.name for tool in tools.tools] == [
            "vms_query",
            "check_connection",
            "search_documentation",
            "get_infrastructure_summary",
        ]
        result = await client.call_tool("vms_query", {"operation": "GetVms"})
        assert not result.is_error and text(result) == "| a |\n| --- |"
        prompt = await client.get_prompt("infrastructure-overview")
        assert prompt.description == "Generate a natural language overview of the XO infrastructure"
        with pytest.raises(MCPError, match="Unknown prompt"):
            await client.get_prompt("nope")
