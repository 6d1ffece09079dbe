"""MCP's JSON-RPC messages written by hand, for tests and benchmarks that speak the protocol
raw (hostile input, exact bytes on stdout, HTTP status codes) instead of through an SDK."""

from __future__ import annotations

import json
import subprocess
from typing import Any

PROTOCOL_VERSION = "2025-11-25"  # the handshake era's latest revision
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def initialize_params(
    client: str = "raw", *, version: str = PROTOCOL_VERSION, client_version: str = "0"
) -> dict[str, Any]:
    return {
        "protocolVersion": version,
        "capabilities": {},
        "clientInfo": {"name": client, "version": client_version},
    }


def request(request_id: Any, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def initialize(
    request_id: Any = 1,
    client: str = "raw",
    *,
    version: str = PROTOCOL_VERSION,
    client_version: str = "0",
) -> dict[str, Any]:
    params = initialize_params(client, version=version, client_version=client_version)
    return request(request_id, "initialize", params)


def tool_call(request_id: Any, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return request(request_id, "tools/call", {"name": tool, "arguments": arguments})


def send_line(process: subprocess.Popen[bytes], message: dict[str, Any]) -> None:
    """One message on a stdio server's stdin, newline-delimited as MCP's stdio framing wants."""
    assert process.stdin is not None
    process.stdin.write(json.dumps(message).encode() + b"\n")
    process.stdin.flush()
