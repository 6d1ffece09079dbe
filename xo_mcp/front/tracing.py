"""What every MCP front does around a tools/call: a request id that follows the call into the
worker's lines and to XO, and, when traces are on, the call's span, a child of the client's own
trace when it sent one (MCP `_meta.traceparent`, else the HTTP `traceparent` header)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from typing import Any

import mcp_types as types
from mcp.server import ServerRequestContext

from xo_mcp import logs, telemetry


def new_request_id() -> str:
    return secrets.token_hex(8)


def client_trace(ctx: ServerRequestContext[Any]) -> tuple[str | None, str | None]:
    """(traceparent, tracestate) the client sent: in `_meta` (MCP's OpenTelemetry keys, as the
    SDKs inject them), else as HTTP headers; (None, None) when it sent none."""
    meta: Any = ctx.meta or {}
    parent, state = meta.get("traceparent"), meta.get("tracestate")
    if not isinstance(parent, str):
        headers = getattr(ctx.request, "headers", None)
        if headers is None:
            return None, None
        parent, state = headers.get("traceparent"), headers.get("tracestate")
    if not isinstance(parent, str):
        return None, None
    return parent, state if isinstance(state, str) else None


@contextlib.contextmanager
def call_scope(
    ctx: ServerRequestContext[Any], tool: str, *, client: str, instance: str | None = None
) -> Iterator[Any]:
    """Bind the call's client and a new request id to every line written within; yield the
    call's span (None when traces are off)."""
    with logs.bound(client=client, request_id=new_request_id()):
        if not telemetry.enabled():
            yield None
            return
        parent, state = client_trace(ctx)
        attributes = {
            "mcp.method.name": "tools/call",
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool,
            "xo_mcp.client": client,
            "xo_mcp.instance": instance,
            "xo_mcp.request_id": logs.context().get("request_id"),
        }
        with telemetry.span(
            f"tools/call {tool}",
            kind="server",
            parent=parent,
            tracestate=state,
            attributes=attributes,
        ) as span:
            yield span


def settle(span: Any, result: types.CallToolResult | types.InputRequiredResult) -> None:
    """A tool error marks the call's span as failed."""
    if span is not None and isinstance(result, types.CallToolResult) and result.is_error:
        telemetry.failed(span, "tool error")
