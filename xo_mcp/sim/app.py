"""The simulated XO as an ASGI application.

Request pipeline, in XO's middleware order: faults (simulator only) → credentials → MCP gate →
route → declared-parameter validation → handler → XO's error handler.

Why one raw ASGI callable rather than Starlette's routing (which the gateway uses): XO routes on
the raw, still percent-encoded path (the id `a%2Fb` is one segment, `..%2F` must never climb),
joins repeated headers as Node does, answers unknown paths as Express does, and the fault
injector must stall a request or cut a response mid-body. Starlette decodes the path before it
routes and owns the response cycle, so each of those would need working around.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from xo_mcp.sim import routing
from xo_mcp.sim.auth import authenticate
from xo_mcp.sim.collections import resolve_early
from xo_mcp.sim.control import handle_control
from xo_mcp.sim.errors import XoError, invalid_credentials, mcp_disabled
from xo_mcp.sim.exchange import BASE, JSON_TYPE, Call, Reply, json_reply, text_reply
from xo_mcp.sim.handlers import handler_for
from xo_mcp.sim.params import check_body, check_params
from xo_mcp.sim.state import SimConfig, SimState

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY = 16 * 1024 * 1024
logger = logging.getLogger("xo_mcp.sim")


class ConnectionDropped(Exception):
    """Raised after a partial response so the server closes the connection mid-body."""


def _headers(scope: Scope) -> dict[str, str]:
    """Header values as Node presents them: repeated headers joined (cookies with `; `)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1").strip()
        if name in headers:
            value = headers[name] + ("; " if name == "cookie" else ", ") + value
        headers[name] = value
    return headers


def _query(scope: Scope) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for key, value in parse_qsl(
        scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True
    ):
        values.setdefault(key, []).append(value)
    return values


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise XoError(413, "request entity too large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _until_disconnect(receive: Receive, work: Awaitable[None]) -> None:
    """Run `work` until it ends or the client disconnects, whichever comes first."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    tasks = [asyncio.ensure_future(work), asyncio.ensure_future(disconnected())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# Where XO serves Swagger UI; the simulator only points at the document.
_DOCS_PAGE = (
    "<!DOCTYPE html>\n<title>XO REST API (simulated)</title>\n"
    f'<p>OpenAPI document: <a href="{BASE}/docs/swagger.json">{BASE}/docs/swagger.json</a></p>\n'
)


def _reject_constant(name: str) -> Any:
    # JSON.parse knows no NaN or Infinity; Python's json would accept them.
    raise ValueError(f"invalid JSON constant {name}")


def _error_reply(error: XoError) -> Reply:
    return json_reply(error.body(), error.status, error.headers)


def _not_found(method: str, path: str) -> Reply:
    # Unknown paths fall through to Express's default handler, which answers in HTML.
    page = f"<!DOCTYPE html>\n<pre>Cannot {method} {path}</pre>\n"
    return text_reply(page, "text/html; charset=utf-8", 404)


class Simulator:
    """An ASGI app; `state` is public so tests can flip the kill switch or add faults."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.state = SimState(config or SimConfig())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        self.state.requests_served += 1
        raw_path: str = (
            scope.get("raw_path", scope["path"].encode()).decode("latin-1").split("?")[0]
        )
        if raw_path.startswith("/_sim/"):
            reply = await handle_control(
                self.state, scope["method"], raw_path, await _read_body(receive)
            )
            await self._send(send, reply)
            return
        # Tests watch this to see a cancelled client call reach XO (the request goes away).
        self.state.in_flight += 1
        try:
            await self._serve(scope, receive, send, raw_path)
        finally:
            self.state.in_flight -= 1

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.state.tasks.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _serve(self, scope: Scope, receive: Receive, send: Send, raw_path: str) -> None:
        method: str = scope["method"]
        under_base = raw_path == BASE or raw_path.startswith(BASE + "/")
        relative = raw_path[len(BASE) :] if under_base else None
        decision = self.state.faults.decide(method, relative or raw_path)
        if decision.latency_s:
            await asyncio.sleep(decision.latency_s)
        if decision.stall:
            await _until_disconnect(receive, asyncio.sleep(3600))
            return
        if decision.error:
            await self._send(send, json_reply({"error": "simulated internal error"}, 500))
            return
        try:
            reply = await self._answer(scope, receive, method, raw_path, relative)
        except XoError as error:
            reply = _error_reply(error)
        except Exception as error:  # XO's generic handler: never a stack trace on the wire
            logger.exception("simulator handler failed")
            reply = json_reply({"error": str(error)}, 500)
        if decision.malformed and reply.body:
            reply.body = reply.body[: max(1, len(reply.body) // 2)]
        if decision.drop:
            await self._drop(send, reply)
            return
        await self._send(send, reply, receive)

    async def _answer(
        self, scope: Scope, receive: Receive, method: str, raw_path: str, relative: str | None
    ) -> Reply:
        if relative is None:
            return _not_found(method, raw_path)
        headers = _headers(scope)
        # XO checks credentials, when any are sent, before anything else under /rest/v0.
        authenticated = authenticate(
            self.state.credentials, headers.get("cookie"), headers.get("authorization")
        )
        if self._gated(headers, relative):
            raise mcp_disabled()
        if method == "GET" and relative.rstrip("/") == "/docs/swagger.json":
            return Reply(200, self.state.spec_bytes(), JSON_TYPE)
        if method == "GET" and relative in ("", "/"):
            return Reply(302, headers={"Location": f"{BASE}/docs"})
        if method == "GET" and relative.rstrip("/") == "/docs":
            return text_reply(_DOCS_PAGE, "text/html; charset=utf-8")
        redirect = self._redirect(method, relative, authenticated)
        if redirect is not None:
            return redirect
        found = routing.match(method, relative)
        if found is None:
            return _not_found(method, raw_path)
        security = found.route.row.security
        if security and not security.startswith("none") and not authenticated:
            raise invalid_credentials()
        # The ACL middleware of object routes resolves the object before tsoa validates
        # parameters, so an unknown id is a 404 even when a parameter is also wrong.
        resolve_early(self.state, found.route, found.path_values)
        query = _query(scope)
        check_params(found.route.params, found.path_values, query, found.route.row.path)
        body = await self._body(found.route, receive)
        call = Call(self.state, found.route, found.path_values, query, body)
        return await handler_for(found.route)(call)

    def _gated(self, headers: dict[str, str], relative: str) -> bool:
        is_mcp = headers.get("x-xo-client", "").lower() == "mcp"
        return is_mcp and not self.state.mcp_enabled and relative != "/mcp/status"

    def _redirect(self, method: str, relative: str, authenticated: bool) -> Reply | None:
        if relative == "/users/me" or relative.startswith("/users/me/"):
            # "me" is whoever the credentials name: without any, there is no one.
            if not authenticated:
                raise invalid_credentials()
            target = f"{BASE}/users/{self.state.admin['id']}{relative[len('/users/me') :]}"
            return Reply(307, headers={"Location": target})
        parts = relative.strip("/").split("/")
        # XO's hidden alias, registered before the deprecated metadata/mirror listings it shadows.
        if (
            method == "GET"
            and len(parts) == 3
            and parts[:2] == ["backup", "jobs"]
            and parts[2] != "vm"
        ):
            return Reply(308, headers={"Location": f"{BASE}/backup/jobs/vm/{parts[2]}"})
        return None

    async def _body(self, route: routing.Route, receive: Receive) -> Any:
        raw = await _read_body(receive)
        if route.body_schema is None:
            return None
        if route.body_schema.get("format") == "binary":
            return raw
        if not raw.strip():
            check_body(None, route.body_schema, route.body_required)
            return None
        try:
            body = json.loads(raw, parse_constant=_reject_constant)
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            raise XoError(400, "Invalid JSON body") from None
        check_body(body, route.body_schema, route.body_required)
        return body

    async def _send(self, send: Send, reply: Reply, receive: Receive | None = None) -> None:
        headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()
        ]
        if reply.content_type:
            headers.append((b"content-type", reply.content_type.encode()))
        if reply.stream is None:
            headers.append((b"content-length", str(len(reply.body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        if reply.stream is None:
            await send({"type": "http.response.body", "body": reply.body})
            return
        stream = reply.stream

        async def pump() -> None:
            async for chunk in stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})

        # Endless streams (events, task watch) stop when the client goes away.
        if receive is not None:
            await _until_disconnect(receive, pump())
        else:
            await pump()
        await send({"type": "http.response.body", "body": b""})

    async def _drop(self, send: Send, reply: Reply) -> None:
        headers = [(b"content-type", (reply.content_type or JSON_TYPE).encode())]
        headers.append((b"content-length", str(len(reply.body) + 64).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body[:16], "more_body": True})
        raise ConnectionDropped("simulated dropped connection")


def create_app(config: SimConfig | None = None) -> Simulator:
    return Simulator(config)
