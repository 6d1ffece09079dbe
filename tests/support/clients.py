"""Real MCP clients (the Python SDK) over stdio and Streamable HTTP, in both protocol eras."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

LEGACY = "legacy"  # initialize handshake, 2025-11-25
MODERN = "2026-07-28"
ERAS = (LEGACY, MODERN)


@asynccontextmanager
async def stdio_client(
    command: list[str], env: dict[str, str], *, mode: str = LEGACY, **options: Any
) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=command[0], args=command[1:], env=env)
    async with Client(params, mode=mode, cache=None, **options) as client:
        yield client


@asynccontextmanager
async def http_client(
    url: str,
    *,
    token: str | None = None,
    mode: str = LEGACY,
    headers: dict[str, str] | None = None,
    **options: Any,
) -> AsyncIterator[Client]:
    """An SDK client on Streamable HTTP; `headers` go with every request (e.g. traceparent)."""
    headers = {**(headers or {}), **({"Authorization": f"Bearer {token}"} if token else {})}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60, read=300)) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode, cache=None, **options) as client:
            yield client


def text(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


def tool_names(result: types.ListToolsResult) -> list[str]:
    return [tool.name for tool in result.tools]


def operations(tool: types.Tool) -> list[str]:
    """A domain tool's operations: its enum, or in compact form its lines (`StartVm(id)`)."""
    enum = tool.input_schema["properties"]["operation"].get("enum")
    if enum is not None:
        return list(enum)
    return [re.split(r"[(:]", line, maxsplit=1)[0] for line in (tool.description or "").split("\n")]


def fleet_instances(tools: list[types.Tool]) -> list[str]:
    """The instances the aggregated surface names in fleet_status's description (compact tools
    name them there only, and declare an `instance` enum only where some instances lack a tool)."""
    status = next(tool for tool in tools if tool.name == "fleet_status")
    named = (status.description or "").rsplit(": ", 1)[1].rstrip(".")
    return [] if named == "none" else named.split(", ")


def instances_of(tool: types.Tool, tools: list[types.Tool]) -> list[str]:
    """The instances that offer `tool` on the aggregated surface."""
    prop = tool.input_schema.get("properties", {}).get("instance")
    if prop is None:
        return []
    return list(prop.get("enum") or fleet_instances(tools))
