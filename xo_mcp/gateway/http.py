"""The fleet's HTTP port, on Starlette: Streamable HTTP at /mcp and /instances/<name>/mcp, probes.

    /mcp                      the aggregated surface
    /instances/<name>/mcp     one instance's native surface
    /healthz                  alive (the process answers)
    /readyz                   every instance is ready, disabled or failed (none still starting)
    /metrics                  Prometheus text format
    /.well-known/oauth-protected-resource[/<path>]   RFC 9728 metadata (with OAuth clients)

A request to an MCP path passes, in order: the Host/Origin allow-list (DNS rebinding), the
SDK's bearer authentication (`scope["user"]`, which binds sessions to their client), the
client's scope (an instance it may not use is answered 404, after authentication), the
client's limits, then the SDK's session manager of that surface (which refuses oversized
bodies). Errors never carry a stack trace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import (
    AuthenticatedUser,
    BearerAuthBackend,
    RequireAuthMiddleware,
)
from mcp.server.auth.provider import AccessToken
from mcp.shared.auth import ProtectedResourceMetadata
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.authentication import AuthenticationError
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from xo_mcp import logs
from xo_mcp.core import Registry
from xo_mcp.gateway.auth import ClientDirectory, LocalBackend
from xo_mcp.gateway.limits import ClientGate, RateLimits, Traffic
from xo_mcp.gateway.metrics import Metrics
from xo_mcp.gateway.oauth import TokenRefused
from xo_mcp.gateway.surfaces import Surfaces

LOOPBACK_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]")
METADATA_PATH = "/.well-known/oauth-protected-resource"


@dataclass(frozen=True)
class PortSettings:
    allowed_hosts: list[str] | None  # None: Host is not checked (a wildcard listen, none given)
    max_request_bytes: int = 1_048_576
    resource_url: str | None = None  # the OAuth audience: this port's public /mcp URL
    authorization_server: str | None = None  # the OAuth issuer
    required_scopes: tuple[str, ...] = ()  # checked on JWTs by the verifier; advertised here
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def host_allowed(host: str | None, allowed: list[str]) -> bool:
    if host is None:
        return False
    for pattern in allowed:
        if pattern == host or (pattern.endswith(":*") and host.rsplit(":", 1)[0] == pattern[:-2]):
            return True
    return False


class Verifier:
    """The SDK's `TokenVerifier`, always asking the current directory (reloads swap it)."""

    def __init__(self, directory: Callable[[], ClientDirectory]) -> None:
        self._directory = directory

    async def verify_token(self, token: str) -> AccessToken | None:
        return await self._directory().verify_token(token)


class McpDoor:
    """Everything in front of the session managers; one instance serves every MCP path."""

    def __init__(
        self,
        surfaces: Surfaces,
        directory: Callable[[], ClientDirectory],
        settings: PortSettings,
        metrics: Metrics,
        rates: RateLimits | None = None,
        traffic: Traffic | None = None,
        stateless: bool = False,
    ) -> None:
        self.surfaces = surfaces
        self.directory = directory
        self.settings = settings
        self.metrics = metrics
        self.gate = ClientGate(
            surfaces.managers,
            metrics,
            settings.body_timeout_s,
            rates,
            lambda: surfaces.draining,
            traffic,
            stateless,
        )
        # The SDK's own pieces: bearer authentication into scope["user"] (which binds sessions
        # to their client), and the access token in a contextvar (which binds requestState).
        inner = AuthContextMiddleware(self._authorized)
        bearer = AuthenticationMiddleware(
            inner, backend=BearerAuthBackend(Verifier(directory)), on_error=self._refused
        )
        local = AuthenticationMiddleware(inner, backend=LocalBackend())
        self._authenticated: dict[bool, ASGIApp] = {True: local, False: bearer}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = self._origin_problem(HTTPConnection(scope))
        if problem is not None:
            self.metrics.refused("anonymous", "host_or_origin")
            await problem(scope, receive, send)
            return
        await self._authenticated[self.directory().open](scope, receive, send)

    def _origin_problem(self, connection: HTTPConnection) -> Response | None:
        allowed = self.settings.allowed_hosts
        if allowed is not None and not host_allowed(connection.headers.get("host"), allowed):
            return _error(421, "Host header not allowed (see gateway.allowed_hosts)")
        origin = connection.headers.get("origin")
        if origin is not None:
            host = origin.split("://", 1)[-1]
            if not host_allowed(host, list(LOOPBACK_HOSTS) + (allowed or [])):
                return _error(403, "Origin not allowed")
        return None

    async def _authorized(self, scope: Scope, receive: Receive, send: Send) -> None:
        """After authentication: a user goes on to its surface; anyone else gets the SDK's 401.

        Scopes are the JWT verifier's to check (a static token has none): none required here.
        """
        if isinstance(scope.get("user"), AuthenticatedUser):
            await self._route(scope, receive, send)
            return
        self.metrics.refused("anonymous", "no_valid_token")
        metadata = self._metadata_url(HTTPConnection(scope))
        await RequireAuthMiddleware(self._route, [], metadata)(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"].rstrip("/") or "/"
        caller = self.directory().caller(HTTPConnection(scope), self.surfaces.default_caller)
        surface = self.surfaces.get(path)
        instance = surface.instance if surface is not None else None
        if instance is not None and not caller.policy.may_use(instance):
            self.metrics.refused(caller.name, "instance_not_allowed")
            surface = None
        if surface is None or surface.manager is None:
            await _error(404, f"no such endpoint {path}")(scope, receive, send)
            return
        await self.gate(caller.policy, surface.manager, scope, receive, send)

    def _refused(self, connection: HTTPConnection, error: AuthenticationError) -> Response:
        if not isinstance(error, TokenRefused):
            error = TokenRefused("invalid token")
        self.metrics.refused("anonymous", error.error)
        parts = [f'error="{error.error}"', f'error_description="{error.reason}"']
        metadata = self._metadata_url(connection)
        if metadata:
            parts.append(f'resource_metadata="{metadata}"')
        body = {"error": error.error, "error_description": error.reason}
        headers = {"WWW-Authenticate": "Bearer " + ", ".join(parts)}
        return JSONResponse(body, status_code=error.status, headers=headers)

    def _metadata_url(self, connection: HTTPConnection) -> AnyHttpUrl | None:
        """Where a client learns which authorization server to ask (only with OAuth)."""
        base = _base_url(self.settings)
        if base is None:
            return None
        return AnyHttpUrl(f"{base}{METADATA_PATH}{connection.url.path.rstrip('/')}")


def _base_url(settings: PortSettings) -> str | None:
    if settings.resource_url is None or settings.authorization_server is None:
        return None
    scheme, _, rest = settings.resource_url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def build_app(
    door: McpDoor, registry: Registry, metrics: Metrics, on_error: Callable[[], None]
) -> Starlette:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        statuses = {name: str(status.state) for name, status in registry.statuses.items()}
        ready = registry.all_settled() and not door.surfaces.draining
        return JSONResponse(
            {"ready": ready, "instances": statuses}, status_code=200 if ready else 503
        )

    async def prometheus(request: Request) -> Response:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    async def resource_metadata(request: Request) -> Response:
        base = _base_url(door.settings)
        path = "/" + request.path_params.get("path", "")
        if base is None or door.surfaces.get(path.rstrip("/") or "/mcp") is None:
            return _error(404, "no OAuth protected resource here")
        assert door.settings.authorization_server is not None
        metadata = ProtectedResourceMetadata(
            resource=AnyHttpUrl(base + (path if path != "/" else "/mcp")),
            authorization_servers=[AnyHttpUrl(door.settings.authorization_server)],
            scopes_supported=list(door.settings.required_scopes) or None,
            resource_name="xo-mcp fleet",
        )
        document = metadata.model_dump(mode="json", exclude_none=True)
        # The issuer exactly as configured: clients compare it with the server's own metadata,
        # and pydantic's URL type would add a trailing slash to a bare origin.
        document["authorization_servers"] = [door.settings.authorization_server]
        return JSONResponse(document)

    async def server_error(request: Request, exc: Exception) -> Response:
        logs.log(f"HTTP request failed: {exc!r}", level="error", component="gateway")
        on_error()
        return _error(500, "internal error")

    probe = ["GET", "HEAD", "POST"]  # whatever a probe sends, it learns nothing more
    routes = [
        Route("/healthz", healthz, methods=probe),
        Route("/readyz", readyz, methods=probe),
        Route("/metrics", prometheus, methods=probe),
        Route(METADATA_PATH, resource_metadata),
        Route(METADATA_PATH + "/{path:path}", resource_metadata),
        Route("/mcp", door),
        Route("/mcp/{rest:path}", door),
        Route("/instances/{rest:path}", door),
    ]
    return Starlette(routes=routes, exception_handlers={Exception: server_error})
