"""The fleet's HTTP port: Streamable HTTP at /mcp and /instances/<name>/mcp, plus probes.

    /mcp                      the aggregated surface
    /instances/<name>/mcp     one instance's native surface
    /healthz                  alive (the process answers)
    /readyz                   every instance is ready, disabled or failed (none still starting)
    /metrics                  Prometheus text format

MCP paths need a bearer token from `[[gateway.clients]]` (unless the port is on loopback with
no clients configured), a Host and Origin from the allow-list (DNS rebinding), and bodies under
the size limit. Errors never carry a stack trace.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xo_mcp.fleet.instances import Registry
from xo_mcp.gateway.callers import LOCAL_CALLER, SCOPE_KEY, Caller, ClientToken, authenticate
from xo_mcp.gateway.frontend import Frontend
from xo_mcp.gateway.metrics import Metrics

logger = logging.getLogger("xo_mcp.gateway")
LOOPBACK_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]")
MCP_PREFIXES = ("/mcp", "/instances/")


async def _respond(
    send: Send, status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None
) -> None:
    if isinstance(body, str):
        payload, content_type = body.encode(), "text/plain; version=0.0.4; charset=utf-8"
    else:
        payload, content_type = json.dumps(body).encode(), "application/json"
    raw_headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(payload)).encode()),
    ]
    raw_headers += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _host_allowed(host: str | None, allowed: list[str]) -> bool:
    if host is None:
        return False
    for pattern in allowed:
        if pattern == host or (pattern.endswith(":*") and host.rsplit(":", 1)[0] == pattern[:-2]):
            return True
    return False


class GatewayApp:
    """The ASGI application of the HTTP port."""

    def __init__(
        self,
        frontend: Frontend,
        registry: Registry,
        metrics: Metrics,
        *,
        tokens: list[ClientToken],
        allowed_hosts: list[str] | None,
        max_request_bytes: int,
    ) -> None:
        self.frontend = frontend
        self.registry = registry
        self.metrics = metrics
        self.tokens = tokens
        self.allowed_hosts = allowed_hosts  # None: Host is not checked (wildcard listen)
        self.max_request_bytes = max_request_bytes
        # The SDK's own checks stay off: this app checks Host/Origin once, for every path.
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
        self.routes: dict[str, ASGIApp] = {
            "/mcp": frontend.aggregated.server.streamable_http_app(
                streamable_http_path="/mcp", transport_security=security
            )
        }
        for name, surface in frontend.instances.items():
            path = f"/instances/{name}/mcp"
            self.routes[path] = surface.server.streamable_http_app(
                streamable_http_path=path, transport_security=security
            )

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Mounted Starlette apps never run their lifespans: run every session manager here."""
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self.frontend.aggregated.server.session_manager.run())
            for surface in self.frontend.instances.values():
                await stack.enter_async_context(surface.server.session_manager.run())
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            await self._dispatch(scope, receive, send)
        except Exception:
            logger.exception("gateway request failed")
            print("xo-mcp-fleet: HTTP request failed (traceback above)", file=sys.stderr)
            if not scope.get("xo_mcp.started"):
                await _respond(send, 500, {"error": "internal error"})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        manager = self.lifespan()
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await manager.__aenter__()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await manager.__aexit__(None, None, None)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"].rstrip("/") or "/"
        if path == "/healthz":
            await _respond(send, 200, {"status": "ok"})
        elif path == "/readyz":
            await self._readyz(send)
        elif path == "/metrics":
            await _respond(send, 200, self.metrics.render())
        elif path.startswith(MCP_PREFIXES):
            await self._mcp(path, scope, receive, send)  # authenticated before any 404
        else:
            await _respond(send, 404, {"error": f"no such endpoint {path}"})

    async def _readyz(self, send: Send) -> None:
        statuses = {name: str(status.state) for name, status in self.registry.statuses.items()}
        ready = self.registry.all_settled()
        await _respond(send, 200 if ready else 503, {"ready": ready, "instances": statuses})

    def _caller(self, scope: Scope) -> Caller | None:
        if not self.tokens:
            return LOCAL_CALLER
        header = _header(scope, b"authorization") or ""
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented:
            return None
        return authenticate(self.tokens, presented.strip())

    async def _mcp(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        if self.allowed_hosts is not None and not _host_allowed(
            _header(scope, b"host"), self.allowed_hosts
        ):
            await _respond(
                send, 421, {"error": "Host header not allowed (see gateway.allowed_hosts)"}
            )
            return
        origin = _header(scope, b"origin")
        if origin is not None and not self._origin_allowed(origin):
            await _respond(send, 403, {"error": "Origin not allowed"})
            return
        caller = self._caller(scope)
        if caller is None:
            await _respond(
                send,
                401,
                {"error": "a valid bearer token is required"},
                {"WWW-Authenticate": "Bearer"},
            )
            return
        instance = path.split("/")[2] if path.startswith("/instances/") else None
        if path not in self.routes or (instance is not None and not caller.may_use(instance)):
            await _respond(send, 404, {"error": f"no such endpoint {path}"})
            return
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_request_bytes:
            await _respond(
                send, 413, {"error": f"request body over {self.max_request_bytes} bytes"}
            )
            return
        body = await self._bounded_body(receive)
        if body is None:
            await _respond(
                send, 413, {"error": f"request body over {self.max_request_bytes} bytes"}
            )
            return
        scope[SCOPE_KEY] = caller
        await self.routes[path](scope, self._replay(body, receive), self._tracking(send, scope))

    def _origin_allowed(self, origin: str) -> bool:
        host = origin.split("://", 1)[-1]
        return _host_allowed(host, list(LOOPBACK_HOSTS) + (self.allowed_hosts or []))

    async def _bounded_body(self, receive: Receive) -> bytes | None:
        """Read the whole request body, or None once it exceeds the limit.

        Streamed bodies without a Content-Length are counted too; MCP messages are small, so
        buffering them costs nothing and lets the refusal be a clean 413.
        """
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_request_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    def _replay(body: bytes, receive: Receive) -> Receive:
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    @staticmethod
    def _tracking(send: Send, scope: Scope) -> Send:
        async def tracked(message: Message) -> None:
            if message["type"] == "http.response.start":
                scope["xo_mcp.started"] = True
            await send(message)

        return tracked
