"""The gateway as a whole: links to every worker, its MCP surfaces, and the chosen front door.

Everything it needs of the fleet (instance names, socket paths, clients, port settings) the
launcher hands in as `GatewaySetup`; the gateway never reads the fleet file itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from mcp.server.request_state import RequestStateSecurity
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http import EventStore

from xo_mcp import logs
from xo_mcp.asgi import serve_asgi
from xo_mcp.core import ListenAddress, Registry, RuntimeLayout
from xo_mcp.front.confirmations import ConfirmationFlow, ConfirmStore, MemoryConfirmStore
from xo_mcp.gateway.auth import ClientDirectory
from xo_mcp.gateway.clients import LOCAL_POLICY, STDIO_CALLER, Caller
from xo_mcp.gateway.events import MemoryEventStore
from xo_mcp.gateway.http import LOOPBACK_HOSTS, McpDoor, PortSettings, build_app
from xo_mcp.gateway.limits import Traffic
from xo_mcp.gateway.links import WorkerLink
from xo_mcp.gateway.metrics import Metrics
from xo_mcp.gateway.shared_state import SharedState
from xo_mcp.gateway.surfaces import Surfaces
from xo_mcp.sockets import tcp_listener
from xo_mcp.wire.messages import ClientIdentity

# A drain ends once no request came for this long: the load balancer stopped sending (with a
# Kubernetes preStop sleep, it had stopped before SIGTERM, and the drain ends at once).
QUIET_S = 1.0


@dataclass(frozen=True)
class Serving:
    """How the gateway is reached: stdio (optionally one instance's surface) or an HTTP port."""

    stdio: bool
    listen: ListenAddress | None = None
    instance: str | None = None


@dataclass(frozen=True)
class HttpLimits:
    max_sessions: int = 10_000  # per surface, all clients together
    session_idle_s: float = 1800.0
    stateless: bool = False  # handshake-era sessions too: any replica answers any request
    retry_ms: int = 2000  # the SSE `retry:` a resumable stream suggests


@dataclass
class GatewaySetup:
    instances: list[str]
    layout: RuntimeLayout
    directory: ClientDirectory = field(default_factory=ClientDirectory)
    port: PortSettings | None = None
    limits: HttpLimits = field(default_factory=HttpLimits)
    state_keys: list[bytes] = field(default_factory=list)  # empty: a key of this process only
    shared: SharedState | None = None  # None: confirm tokens, rates and events in memory


def allowed_hosts(listen: ListenAddress, configured: list[str]) -> list[str] | None:
    """Host headers the HTTP port accepts; None means unchecked (wildcard listen, none given)."""
    if listen.is_wildcard and not configured:
        return None
    extra = [] if listen.is_loopback or listen.is_wildcard else [f"{listen.host}:*"]
    return [*LOOPBACK_HOSTS, *extra, *configured]


class Gateway:
    def __init__(self, setup: GatewaySetup, registry: Registry) -> None:
        self.setup = setup
        self.registry = registry
        self.directory = setup.directory
        self.metrics = Metrics(registry)
        self.links = {
            name: WorkerLink(name, setup.layout.worker_socket(name), registry, self._changed)
            for name in setup.instances
        }
        keys = setup.state_keys or [secrets.token_bytes(32)]
        shared = setup.shared
        store: ConfirmStore = shared.confirms if shared is not None else MemoryConfirmStore()
        # Even with shared state: a stream's events can only be replayed by the replica that
        # holds its session (see shared_state's docstring).
        self.events: EventStore = MemoryEventStore()
        self.flow = ConfirmationFlow(store)
        self.surfaces = Surfaces(
            self.links,
            registry,
            self.metrics,
            self.flow,
            lambda: self.directory,
            STDIO_CALLER,
            RequestStateSecurity(keys=keys),
        )
        self._background: set[asyncio.Task[Any]] = set()
        self.traffic = Traffic()  # the HTTP port's requests (stdio has none: always quiet)

    def _changed(self, name: str) -> None:
        self._spawn(self.surfaces.worker_changed(name))

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def worker_restarted(self, name: str) -> None:
        self.links[name].reset()

    async def drain(self, budget_s: float) -> None:
        """Stop taking new sessions and report not ready; keep serving until the calls in flight
        are done and no request came for QUIET_S (the load balancer has noticed: what it sends
        after that finds the port closed, which it retries elsewhere), within `budget_s`."""
        self.surfaces.draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget_s
        if self.surfaces.in_flight:
            logs.log(f"draining: {self.surfaces.in_flight} call(s) in flight", component="gateway")
        while not self._drained() and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if self.setup.shared is not None:
            await self.setup.shared.close()

    def _drained(self) -> bool:
        traffic = self.traffic
        busy = self.surfaces.in_flight or traffic.in_progress
        return not busy and traffic.quiet_s() >= QUIET_S

    async def run_links(self) -> None:
        await asyncio.gather(
            *(link.run() for link in self.links.values()), self.flow.sweep_forever()
        )

    async def serve(self, serving: Serving) -> None:
        if serving.stdio:
            await self._serve_stdio(serving.instance)
            return
        assert serving.listen is not None
        await self._serve_http(serving.listen)

    async def _serve_stdio(self, instance: str | None) -> None:
        surface = self.surfaces.instances[instance] if instance else self.surfaces.aggregated
        options = surface.server.create_initialization_options()  # declares list changes
        async with stdio_server() as (read, write):
            await surface.server.run(read, write, options)

    async def _serve_http(self, listen: ListenAddress) -> None:
        port = self.setup.port or PortSettings(allowed_hosts=allowed_hosts(listen, []))
        if port.allowed_hosts is None:
            logs.log(
                f"the HTTP port {listen} accepts any Host header: set gateway.allowed_hosts",
                level="warning",
                component="gateway",
            )
        if self.directory.open:
            self.surfaces.default_caller = Caller(LOCAL_POLICY, ClientIdentity(name="local"))
        rates = self.setup.shared.rates if self.setup.shared is not None else None
        door = McpDoor(
            self.surfaces,
            lambda: self.directory,
            port,
            self.metrics,
            rates,
            self.traffic,
            stateless=self.setup.limits.stateless,
        )
        app = build_app(door, self.registry, self.metrics, lambda: None)
        sock = tcp_listener(listen.host, listen.port)
        bound = listen.with_port(sock.getsockname()[1])
        logs.log(
            f"HTTP port on http://{bound}: /mcp, /instances/<name>/mcp, /healthz, /readyz, "
            "/metrics",
            component="gateway",
        )
        try:
            async with self._session_managers(port):
                await serve_asgi(app, sock, header_timeout_s=port.header_timeout_s)
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    @contextlib.asynccontextmanager
    async def _session_managers(self, port: PortSettings) -> AsyncIterator[None]:
        """Mounted apps never run their lifespans: every session manager runs here."""
        limits = self.setup.limits
        async with contextlib.AsyncExitStack() as stack:
            for surface in self.surfaces.all():
                manager = surface.http_manager(
                    max_sessions=limits.max_sessions,
                    session_idle_timeout=limits.session_idle_s,
                    max_request_body_size=port.max_request_bytes,
                    stateless=limits.stateless,
                    event_store=None if limits.stateless else self.events,
                    retry_interval=limits.retry_ms,
                )
                await stack.enter_async_context(manager.run())
            yield
