"""Serve an MCP `Server` on stdio, on a unix socket or on a loopback TCP port (Streamable HTTP)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp.server.transport_security import TransportSecuritySettings

from xo_mcp.core import ListenAddress
from xo_mcp.sockets import tcp_listener


async def serve_stdio(server: Server[Any]) -> None:
    from mcp.server.stdio import stdio_server

    options = server.create_initialization_options(NotificationOptions())
    async with stdio_server() as (read, write):
        await server.run(read, write, options)


def _unix_socket(path: Path) -> socket.socket:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # Only this user may connect: the socket is the worker's whole control surface.
    old_umask = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old_umask)
    return sock


def bound_socket(listen: ListenAddress) -> socket.socket:
    if listen.unix_path is not None:
        return _unix_socket(listen.unix_path)
    return tcp_listener(listen.host, listen.port)


def describe(sock: socket.socket) -> str:
    address = sock.getsockname()
    if isinstance(address, str):
        return f"unix:{address}"
    host, port = address[:2]
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}/mcp"


async def serve_http(
    server: Server[Any],
    sock: socket.socket,
    status: dict[str, Any] | None = None,
) -> None:
    """Serve MCP at /mcp; `status` (if given) is published at GET /status."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from xo_mcp.asgi import serve_asgi

    async def status_endpoint(request: Request) -> JSONResponse:
        return JSONResponse(status or {})

    # Over a unix socket the filesystem guards access and the Host header is meaningless;
    # on loopback TCP the SDK's DNS-rebinding allow-list applies.
    security = (
        TransportSecuritySettings(enable_dns_rebinding_protection=False)
        if sock.family == socket.AF_UNIX
        else None
    )
    app = server.streamable_http_app(
        transport_security=security, custom_starlette_routes=[Route("/status", status_endpoint)]
    )
    # Embedded (signals stay with the worker: SIGTERM cancels this task, which stops gracefully).
    await serve_asgi(app, sock, grace_s=2)
