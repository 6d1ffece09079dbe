"""Per-client limits on the HTTP port, so that one client cannot crowd out the others.

- open sessions: a client may hold at most `max_sessions` handshake-era sessions over all the
  port's surfaces (the SDK's cap per surface, for all clients together, stays as a last resort);
- idle sessions end after the client's `session_idle_s`;
- requests: at most `requests_per_minute` (a token bucket), when the client has such a limit;
- slow bodies: a request body must arrive within `body_timeout_s` (slow headers are the HTTP
  server's: `asgi.HeaderDeadlineProtocol`).

Each refusal is an HTTP 429 with `Retry-After` (408 for a slow body) and a short reason, and is
counted per client and reason in /metrics. Pending confirmations per client and instance are
the confirmation store's (`front.confirmations`).
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from xo_mcp.front import sdk_adapter
from xo_mcp.gateway.clients import ClientPolicy
from xo_mcp.gateway.metrics import Metrics


class BodyTooSlow(Exception):
    """The request body did not arrive within the deadline."""


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class RateLimiter:
    """A token bucket per client: `per_minute` requests, refilled continuously."""

    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    async def wait_s(self, client: str, per_minute: int) -> float:
        """0 when the request may go (and it is counted), else seconds until one may."""
        now = self.clock()
        bucket = self._buckets.setdefault(client, _Bucket(float(per_minute), now))
        rate = per_minute / 60.0
        bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.stamp) * rate)
        bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / rate


@dataclass
class Traffic:
    """The MCP requests a replica is serving, so that a drain can wait until its load balancer
    has stopped sending it any. A GET (a client's listening stream) lasts as long as the
    session: it counts as traffic seen, never as a request in progress."""

    in_progress: int = 0
    last_seen: float = -math.inf
    clock: Callable[[], float] = time.monotonic

    def quiet_s(self) -> float:
        """Seconds since the last request arrived."""
        return self.clock() - self.last_seen


class RateLimits(Protocol):
    async def wait_s(self, client: str, per_minute: int) -> float: ...


def opens_a_session(scope: Scope) -> bool:
    """A handshake-era POST without a session id: it may create one (an `initialize`)."""
    if scope["method"] != "POST":
        return False
    headers = Headers(scope=scope)
    if headers.get(MCP_SESSION_ID_HEADER) is not None:
        return False
    version = headers.get(MCP_PROTOCOL_VERSION_HEADER)
    return version is None or version in HANDSHAKE_PROTOCOL_VERSIONS


def too_many(reason: str, retry_after_s: float) -> JSONResponse:
    seconds = max(1, math.ceil(retry_after_s))
    return JSONResponse(
        {"error": "too_many_requests", "error_description": reason},
        status_code=429,
        headers={"Retry-After": str(seconds)},
    )


class ClientGate:
    """Applies a client's limits, then hands the request to its surface's session manager."""

    def __init__(
        self,
        managers: Callable[[], Iterable[StreamableHTTPSessionManager]],
        metrics: Metrics,
        body_timeout_s: float,
        rates: RateLimits | None = None,
        draining: Callable[[], bool] = lambda: False,
        traffic: Traffic | None = None,
        stateless: bool = False,
    ) -> None:
        self._draining = draining
        self.traffic = traffic if traffic is not None else Traffic()
        self._stateless = stateless  # no request opens a session: none is refused as one
        self._managers = managers
        self._metrics = metrics
        self._body_timeout_s = body_timeout_s
        self._opening: collections.Counter[str] = collections.Counter()
        self.rates: RateLimits = rates if rates is not None else RateLimiter()

    def open_sessions(self, client: str) -> int:
        owned = sum(sdk_adapter.sessions_by_owner(m)[client] for m in self._managers())
        return owned + self._opening[client]

    async def __call__(
        self,
        policy: ClientPolicy,
        manager: StreamableHTTPSessionManager,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        self.traffic.last_seen = self.traffic.clock()
        if scope["method"] == "GET":
            await self._admit(policy, manager, scope, receive, send)
            return
        self.traffic.in_progress += 1
        try:
            await self._admit(policy, manager, scope, receive, send)
        finally:
            self.traffic.in_progress -= 1

    async def _admit(
        self,
        policy: ClientPolicy,
        manager: StreamableHTTPSessionManager,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        limits = policy.limits
        if limits.requests_per_minute is not None:
            wait = await self.rates.wait_s(policy.name, limits.requests_per_minute)
            if wait:
                self._metrics.refused(policy.name, "rate_limit")
                reason = (
                    f"client {policy.name}: over {limits.requests_per_minute} requests a minute"
                )
                await too_many(reason, wait)(scope, receive, send)
                return
        receive = self._with_deadline(receive)
        if self._stateless or not opens_a_session(scope):
            await self._serve(manager, scope, receive, send)
            return
        if self._draining():
            # Not ready any more: the load balancer sends new sessions elsewhere.
            draining = JSONResponse(
                {"error": "this replica is shutting down: open the session again"},
                status_code=503,
                headers={"Retry-After": "1"},
            )
            await draining(scope, receive, send)
            return
        if self.open_sessions(policy.name) >= limits.max_sessions:
            self._metrics.refused(policy.name, "session_limit")
            reason = (
                f"client {policy.name} has {limits.max_sessions} open sessions (its limit): "
                "end one (DELETE) or let it idle out"
            )
            await too_many(reason, min(limits.session_idle_s, 60.0))(scope, receive, send)
            return
        self._opening[policy.name] += 1
        try:
            await self._serve(manager, scope, receive, self._idle_timeout(manager, policy, send))
        finally:
            self._opening[policy.name] -= 1

    async def _serve(
        self, manager: StreamableHTTPSessionManager, scope: Scope, receive: Receive, send: Send
    ) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await manager.handle_request(scope, receive, tracked)
        except BodyTooSlow:
            if not started:
                response = JSONResponse(
                    {"error": f"request body not received within {self._body_timeout_s:g}s"},
                    status_code=408,
                    headers={"Connection": "close"},
                )
                await response(scope, receive, send)

    def _with_deadline(self, receive: Receive) -> Receive:
        """`receive`, bounded until the whole body is in (then as it was: a GET stream's wait
        for the client to go away has no deadline)."""
        deadline = time.monotonic() + self._body_timeout_s
        complete = False

        async def bounded() -> Message:
            nonlocal complete
            if complete:
                return await receive()
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    message = await receive()
            except TimeoutError:
                raise BodyTooSlow from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        return bounded

    @staticmethod
    def _idle_timeout(
        manager: StreamableHTTPSessionManager, policy: ClientPolicy, send: Send
    ) -> Send:
        """Give a session this request creates its client's idle expiry."""

        async def watching(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                session = Headers(raw=message.get("headers", [])).get(MCP_SESSION_ID_HEADER)
                if session:
                    sdk_adapter.set_session_idle_timeout(
                        manager, session, policy.limits.session_idle_s
                    )
            await send(message)

        return watching
