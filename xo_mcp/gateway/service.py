"""The gateway as a whole: links to every worker, front servers, and the chosen front door."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from xo_mcp.asgi import serve_asgi
from xo_mcp.fleet.config import Fleet, split_listen
from xo_mcp.fleet.instances import Registry
from xo_mcp.fleet.render import RuntimeLayout
from xo_mcp.fleet.supervision import log
from xo_mcp.gateway.callers import STDIO_CALLER, Caller, ClientToken
from xo_mcp.gateway.frontend import Frontend
from xo_mcp.gateway.http import GatewayApp
from xo_mcp.gateway.metrics import Metrics
from xo_mcp.gateway.upstream import WorkerLink
from xo_mcp.sockets import tcp_listener

if TYPE_CHECKING:
    from xo_mcp.fleet.launcher import Front


class Gateway:
    def __init__(
        self, fleet: Fleet, layout: RuntimeLayout, registry: Registry, client_tokens: dict[str, str]
    ) -> None:
        self.fleet = fleet
        self.registry = registry
        self.metrics = Metrics(registry)
        self.links = {
            name: WorkerLink(name, layout.worker_socket(name), registry, self._changed)
            for name in fleet.instances
        }
        self.frontend = Frontend(self.links, registry, self.metrics, STDIO_CALLER)
        self.tokens = [
            ClientToken(
                Caller(
                    client.name,
                    frozenset(client.instances) if client.instances is not None else None,
                    client.read_only,
                ),
                client_tokens[client.name],
            )
            for client in fleet.gateway.clients
        ]
        self._notifications: set[asyncio.Task[Any]] = set()

    def _changed(self, name: str) -> None:
        task = asyncio.ensure_future(self.frontend.worker_changed(name))
        self._notifications.add(task)
        task.add_done_callback(self._notifications.discard)

    def worker_restarted(self, name: str) -> None:
        self.links[name].reset()

    async def run_links(self) -> None:
        await asyncio.gather(*(link.run() for link in self.links.values()))

    async def serve(self, front: Front) -> None:
        if front.stdio:
            await self._serve_stdio(front.instance)
            return
        listen = front.listen or self.fleet.gateway.listen
        assert listen is not None
        await self._serve_http(listen)

    async def _serve_stdio(self, instance: str | None) -> None:
        from mcp.server.stdio import stdio_server

        surface = self.frontend.instances[instance] if instance else self.frontend.aggregated
        options = surface.server.create_initialization_options()  # declares list changes
        async with stdio_server() as (read, write):
            await surface.server.run(read, write, options)

    async def _serve_http(self, listen: str) -> None:
        from xo_mcp.fleet.launcher import allowed_hosts

        gateway = self.fleet.gateway
        hosts = allowed_hosts(listen, gateway.allowed_hosts)
        if hosts is None:
            log(f"the HTTP port {listen} accepts any Host header: set gateway.allowed_hosts")
        app = GatewayApp(
            self.frontend,
            self.registry,
            self.metrics,
            tokens=self.tokens,
            allowed_hosts=hosts,
            max_request_bytes=gateway.max_request_bytes,
        )
        host, port = split_listen(listen)
        sock = tcp_listener(host, port)
        bound = sock.getsockname()
        address = f"http://{listen.rsplit(':', 1)[0]}:{bound[1]}"
        log(f"HTTP port on {address}: /mcp, /instances/<name>/mcp, /healthz, /readyz, /metrics")
        try:
            await serve_asgi(app, sock)
        finally:
            with contextlib.suppress(OSError):
                sock.close()
