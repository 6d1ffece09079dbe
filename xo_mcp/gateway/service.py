"""The gateway as a whole: links to every worker, its MCP surfaces, and the chosen front door.

Everything it needs of the fleet (instance names, socket paths, clients, port settings) the
launcher hands in as `GatewaySetup`; the gateway never reads the fleet file itself. A reload
hands in the changes: instances come and go (`add_instance`, `remove_instance`: a link, a
surface and, on the HTTP port, that surface's session manager each), and the clients are
swapped as a whole (`set_directory`) for the next request.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcp.server.request_state import RequestStateSecurity
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http import EventStore

from xo_mcp import logs
from xo_mcp.asgi import serve_asgi
from xo_mcp.core import ListenAddress, Registry, RuntimeLayout
from xo_mcp.front import sdk_adapter
from xo_mcp.front.confirmations import ConfirmationFlow, ConfirmStore, MemoryConfirmStore
from xo_mcp.gateway.auth import ClientDirectory
from xo_mcp.gateway.clients import LOCAL_POLICY, STDIO_CALLER, Caller
from xo_mcp.gateway.events import MemoryEventStore
from xo_mcp.gateway.http import LOOPBACK_HOSTS, McpDoor, PortSettings, build_app
from xo_mcp.gateway.limits import Traffic
from xo_mcp.gateway.links import WorkerLink
from xo_mcp.gateway.metrics import Metrics
from xo_mcp.gateway.surfaces import Surface, Surfaces
from xo_mcp.sockets import tcp_listener
from xo_mcp.wire.messages import ClientIdentity

if TYPE_CHECKING:  # redis-py loads only when [gateway.state] is configured
    from xo_mcp.gateway.shared_state import SharedState

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
    shared: SharedState | None = None  # None: confirm tokens and rates in memory
    compact_tools: bool = True  # the aggregated surface's tools in compact form


def allowed_hosts(listen: ListenAddress, configured: list[str]) -> list[str] | None:
    """Host headers the HTTP port accepts; None means unchecked (wildcard listen, none given)."""
    if listen.is_wildcard and not configured:
        return None
    extra = [] if listen.is_loopback or listen.is_wildcard else [f"{listen.host}:*"]
    return [*LOOPBACK_HOSTS, *extra, *configured]


class SessionManagers:
    """Every surface's SDK session manager, each running in a task of its own.

    A manager's `run()` must be entered and exited in the same task (anyio's cancel scopes), and
    can run only once: a surface that joins the fleet gets a new manager started here, one that
    leaves has its manager stopped, which ends its sessions; the others keep theirs.
    """

    def __init__(self, limits: HttpLimits, port: PortSettings, events: EventStore) -> None:
        self._options: dict[str, Any] = {
            "max_sessions": limits.max_sessions,
            "session_idle_timeout": limits.session_idle_s,
            "max_request_body_size": port.max_request_bytes,
            "stateless": limits.stateless,
            "event_store": None if limits.stateless else events,  # resumable streams
            "retry_interval": limits.retry_ms,
        }
        self._running: dict[Surface, tuple[asyncio.Event, asyncio.Task[None]]] = {}

    async def start(self, surface: Surface) -> None:
        manager = surface.http_manager(**self._options)
        started, stop = asyncio.Event(), asyncio.Event()

        async def run() -> None:
            async with manager.run():
                started.set()
                await stop.wait()

        task = asyncio.ensure_future(run())
        self._running[surface] = (stop, task)
        waiting = asyncio.ensure_future(started.wait())
        await asyncio.wait([task, waiting], return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if task.done():
            del self._running[surface]
            task.result()  # raises what stopped it

    async def stop(self, surface: Surface) -> None:
        surface.close()
        running = self._running.pop(surface, None)
        if running is None:
            return
        stop, task = running
        stop.set()
        with contextlib.suppress(Exception):
            await task

    async def stop_all(self) -> None:
        for surface in list(self._running):
            await self.stop(surface)


class Gateway:
    def __init__(self, setup: GatewaySetup, registry: Registry) -> None:
        self.setup = setup
        self.registry = registry
        self.directory = setup.directory
        self.metrics = Metrics(registry)
        self.links = {name: self._link(name) for name in setup.instances}
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
            compact=setup.compact_tools,
        )
        self._background: set[asyncio.Task[Any]] = set()
        self._link_tasks: dict[str, asyncio.Task[None]] = {}
        self._links_running = False
        self._managers: SessionManagers | None = None
        self.traffic = Traffic()  # the HTTP port's requests (stdio has none: always quiet)

    def _link(self, name: str) -> WorkerLink:
        socket = self.setup.layout.worker_socket(name)
        return WorkerLink(name, socket, self.registry, self._changed)

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
        self._links_running = True
        for name in self.links:
            self._run_link(name)
        try:
            await self.flow.sweep_forever()
        finally:
            for task in self._link_tasks.values():
                task.cancel()
            await asyncio.gather(*self._link_tasks.values(), return_exceptions=True)

    def _run_link(self, name: str) -> None:
        if self._links_running:
            self._link_tasks[name] = asyncio.ensure_future(self.links[name].run())

    # --- reload -------------------------------------------------------------------------

    def set_directory(self, directory: ClientDirectory) -> None:
        """New clients, tokens, scopes and limits, for every request from now on."""
        self.directory = directory

    async def add_instance(self, name: str) -> None:
        """An instance joined the fleet (its status is in the registry already)."""
        self.links[name] = self._link(name)
        surface = self.surfaces.passthrough(name)
        if self._managers is not None:
            await self._managers.start(surface)  # before any request can reach it
        self.surfaces.add(name, surface)
        self._run_link(name)

    async def remove_instance(self, name: str) -> None:
        """An instance left the fleet: calls for it get a clear error, its sessions end."""
        surface = self.surfaces.remove(name)
        link = self.links.pop(name)
        link.retire()
        task = self._link_tasks.pop(name, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._managers is not None and surface is not None:
            await self._managers.stop(surface)

    async def instances_changed(self) -> None:
        """Tell clients of the aggregated surface that the instances changed."""
        await self.surfaces.aggregated.notify()

    def sessions_by_client(self) -> collections.Counter[str]:
        """Open HTTP sessions per client, over every surface."""
        counts: collections.Counter[str] = collections.Counter()
        for surface in self.surfaces.all():
            if surface.manager is not None:
                counts.update(sdk_adapter.sessions_by_owner(surface.manager))
        return counts

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
        managers = self._managers = SessionManagers(self.setup.limits, port, self.events)
        try:
            for surface in self.surfaces.all():
                await managers.start(surface)
            yield
        finally:
            self._managers = None
            await managers.stop_all()
