"""Where xo-mcp needs what the MCP SDK's public API does not offer: the one place that reaches
into SDK internals. tests/front/test_sdk_adapter.py fails the day an SDK release moves them.

- `tools/list_changed` on Streamable HTTP: the session manager builds the initialization
  options without arguments, so the capability is never declared there; the partial below
  declares it for every transport.
- Telling a connection its tool list changed, outside any request: the SDK hands handlers a
  per-request session, whose connection is what lasts.
- Counting a client's open sessions: the session manager knows each session's owner (the
  identity that created it) but does not say.
"""

from __future__ import annotations

import collections
import functools
from typing import Any

from mcp.server import NotificationOptions, Server, ServerRequestContext
from mcp.server.connection import Connection
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager


def declare_tools_list_changed(server: Server[Any]) -> None:
    server.create_initialization_options = functools.partial(  # type: ignore[method-assign]
        Server.create_initialization_options,
        server,
        NotificationOptions(tools_changed=True),
    )


def connection_of(ctx: ServerRequestContext[Any]) -> Connection | None:
    connection = getattr(ctx.session, "_connection", None)
    return connection if isinstance(connection, Connection) else None


def sessions_by_owner(manager: StreamableHTTPSessionManager) -> collections.Counter[str]:
    """Open sessions per owning client_id (sessions of unauthenticated requests not counted)."""
    owners: dict[str, Any] = getattr(manager, "_session_owners", {})
    return collections.Counter(str(owner.get("client_id")) for owner in owners.values())


def open_sessions(manager: StreamableHTTPSessionManager) -> int:
    return len(getattr(manager, "_server_instances", {}))


def set_session_idle_timeout(
    manager: StreamableHTTPSessionManager, session_id: str, seconds: float
) -> bool:
    """Give one session its client's idle expiry (the manager has one for all)."""
    transport = getattr(manager, "_server_instances", {}).get(session_id)
    if transport is None or not hasattr(transport, "_idle_timeout"):
        return False
    transport._idle_timeout = seconds
    return True
