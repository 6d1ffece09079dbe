"""The gateway's MCP servers: the aggregated fleet surface and one passthrough per instance.

Both route calls to workers with the caller's identity, forward progress, confirm actions
through the shared confirmation flow (`front.confirmations`), and tell clients when a worker's
surface changes (handshake sessions get `tools/list_changed`, 2026-07-28 clients their
`subscriptions/listen` stream).
"""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.connection import Connection
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.subscriptions import ToolsListChanged
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from starlette.types import Receive, Scope, Send

from xo_mcp import __version__, logs, telemetry
from xo_mcp.core import Registry, State
from xo_mcp.front import sdk_adapter, tracing
from xo_mcp.front.confirmations import ConfirmationFlow, ToolAnswer, error_result
from xo_mcp.front.prompts import FLEET_OVERVIEW, INSTANCE_OVERVIEW, prompt_handlers
from xo_mcp.gateway.auth import ClientDirectory
from xo_mcp.gateway.clients import Caller
from xo_mcp.gateway.links import WorkerDown, WorkerLink
from xo_mcp.gateway.merge import (
    ANY_INSTANCE,
    FLEET_WIDE,
    merged_tools,
    operation_enum,
    passthrough_tools,
)
from xo_mcp.gateway.metrics import Metrics
from xo_mcp.gateway.status import FLEET_STATUS, fleet_status
from xo_mcp.wire.messages import Action, Call

ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]


def _no_header_params(tool: str) -> None:
    return None


class Surface:
    """One front MCP server, the connections it must notify, and its HTTP session manager."""

    def __init__(
        self,
        name: str,
        instance: str | None,
        handlers: dict[str, Any],
        state_security: RequestStateSecurity,
    ) -> None:
        self.instance = instance
        self.bus = InMemorySubscriptionBus()
        # The SDK builds a session object per request, but one Connection per client: remember
        # those, weakly, so a finished session is forgotten with its connection.
        self.connections: weakref.WeakSet[Connection] = weakref.WeakSet()
        self.server: Server[Any] = Server(
            name,
            version=__version__,
            on_subscriptions_listen=ListenHandler(self.bus),
            # No tool here declares Mcp-Param headers: nothing to check, and without this the
            # SDK would rebuild the whole tool list on every 2026-07-28 call to find out.
            get_tool_input_schema=_no_header_params,
            **handlers,
        )
        # requestState (the 2026-07-28 confirmation round trip) is sealed and bound to the
        # caller; with replicas, every one holds the same key.
        self.server.middleware.append(RequestStateBoundary(state_security, default_audience=name))
        sdk_adapter.declare_tools_list_changed(self.server)
        self.manager: StreamableHTTPSessionManager | None = None

    def http_manager(self, **options: Any) -> StreamableHTTPSessionManager:
        # Host and Origin are checked once, by the port, for every path.
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
        self.manager = StreamableHTTPSessionManager(
            self.server, security_settings=security, **options
        )
        return self.manager

    async def handle_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.manager is not None
        await self.manager.handle_request(scope, receive, send)

    def remember(self, ctx: ServerRequestContext[Any]) -> None:
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return  # 2026-07-28 clients listen through subscriptions/listen instead
        connection = sdk_adapter.connection_of(ctx)
        if connection is not None:
            self.connections.add(connection)

    async def notify(self) -> None:
        await self.bus.publish(ToolsListChanged())
        for connection in list(self.connections):
            await connection.send_tool_list_changed()  # never raises


class Surfaces:
    """Every MCP surface of the gateway; the HTTP port and stdio serve them."""

    def __init__(
        self,
        links: dict[str, WorkerLink],
        registry: Registry,
        metrics: Metrics,
        flow: ConfirmationFlow,
        directory: Callable[[], ClientDirectory],
        default_caller: Caller,
        state_security: RequestStateSecurity,
    ) -> None:
        self.links = links
        self.registry = registry
        self.metrics = metrics
        self.flow = flow
        self.directory = directory
        self.default_caller = default_caller
        self.state_security = state_security
        self.draining = False
        self.aggregated = Surface(
            "xo-mcp-fleet",
            None,
            {
                "on_list_tools": self._list_merged,
                "on_call_tool": self._call_merged,
                **prompt_handlers(FLEET_OVERVIEW),
            },
            state_security,
        )
        self.instances = {name: self._passthrough(name) for name in links}

    def _passthrough(self, name: str) -> Surface:
        return Surface(
            f"xo-mcp-{name}",
            name,
            {
                "on_list_tools": functools.partial(self._list_instance, name),
                "on_call_tool": functools.partial(self._call_instance, name),
                **prompt_handlers(INSTANCE_OVERVIEW),
            },
            self.state_security,
        )

    def all(self) -> list[Surface]:
        return [self.aggregated, *self.instances.values()]

    def get(self, path: str) -> Surface | None:
        if path == "/mcp":
            return self.aggregated
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "instances" and parts[2] == "mcp":
            return self.instances.get(parts[1])
        return None

    async def worker_changed(self, name: str) -> None:
        """A worker (re)connected: its surface and the merged one may have changed."""
        await self.aggregated.notify()
        if name in self.instances:
            await self.instances[name].notify()

    def caller(self, ctx: ServerRequestContext[Any]) -> Caller:
        return self.directory().caller(ctx.request, self.default_caller)

    # --- tools/list ---------------------------------------------------------------------

    async def _list_merged(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        self.aggregated.remember(ctx)
        per_instance = {name: link.tools for name, link in self.links.items() if link.tools}
        tools = merged_tools(per_instance, self.caller(ctx).policy)
        return types.ListToolsResult(tools=[*tools, FLEET_STATUS])

    async def _list_instance(
        self, name: str, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        self.instances[name].remember(ctx)
        policy = self.caller(ctx).policy
        if not policy.may_use(name):
            return types.ListToolsResult(tools=[])
        return types.ListToolsResult(tools=passthrough_tools(self.links[name].tools, policy))

    # --- tools/call: aggregated ---------------------------------------------------------

    async def _call_merged(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        with tracing.call_scope(ctx, params.name, client=self.caller(ctx).name) as span:
            result = await _never_raise(params.name, self._route_merged(ctx, params))
            tracing.settle(span, result)
            return result

    async def _route_merged(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        self.aggregated.remember(ctx)
        caller = self.caller(ctx)
        arguments = dict(params.arguments or {})
        if params.name == FLEET_STATUS.name:
            return fleet_status(self.registry, caller.policy.visible(self.links))
        instance = arguments.pop("instance", None)
        visible = caller.policy.visible(self.links)
        offering = [n for n in visible if any(t.name == params.name for t in self.links[n].tools)]
        if not caller.policy.may_run(params.name, _operation(arguments)) or (
            not offering and instance is None
        ):
            return error_result(f"Unknown tool: {params.name}")
        if instance is None and params.name in FLEET_WIDE:
            # Every instance gets a section, including those whose worker never came up.
            return await self._fan_out(caller, params.name, arguments, visible)
        if instance is None and params.name in ANY_INSTANCE:
            ready = [n for n in offering if self.links[n].connected]
            instance = (ready or offering)[0]
        if instance is None:
            if len(offering) != 1:
                return error_result(
                    f"`instance` is required for {params.name}: one of {', '.join(offering)}"
                )
            instance = offering[0]
        problem = self._route_problem(caller, params.name, arguments, instance)
        if problem:
            return error_result(problem)
        return await self._forward(ctx, caller, instance, params, arguments)

    def _route_problem(
        self, caller: Caller, tool: str, arguments: dict[str, Any], instance: Any
    ) -> str | None:
        visible = caller.policy.visible(self.links)
        if not isinstance(instance, str) or instance not in visible:
            return f"Unknown instance {instance!r}: use one of {', '.join(visible)}"
        link = self.links[instance]
        known = {t.name: t for t in link.tools}
        if not known and not link.connected:
            return None  # the worker is down: _forward explains why, quickly
        if tool not in known:
            if tool.endswith("_action") and not link.actions:
                return f"actions are off on {instance}: actions = false"
            return f"Instance {instance!r} does not offer {tool}"
        operation = arguments.get("operation")
        operations = operation_enum(known[tool])
        if operation is not None and operations and operation not in operations:
            return (
                f"Instance {instance!r} has no operation {operation!r} in {tool} "
                f"(it offers: {', '.join(operations)})"
            )
        token = arguments.get("confirm_token")
        if isinstance(token, str) and "." in token and token.split(".", 1)[0] != instance:
            owner = token.split(".", 1)[0]
            return (
                f"This confirmation token was issued by instance {owner!r}, not {instance!r}: "
                "it only works with the instance that issued it."
            )
        return None

    async def _fan_out(
        self, caller: Caller, tool: str, arguments: dict[str, Any], instances: list[str]
    ) -> types.CallToolResult:
        """`check_connection` / `get_infrastructure_summary` over every instance, in parallel."""

        async def one(name: str) -> tuple[str, ToolAnswer]:
            try:
                return name, await self._call_worker(name, caller, tool, arguments, None, None)
            except WorkerDown as error:
                return name, ToolAnswer(str(error), is_error=True)

        results = await asyncio.gather(*(one(name) for name in instances))
        sections = []
        for name, answer in results:
            mark = " (error)" if answer.is_error else ""
            sections.append(f"# Instance {name}{mark}\n{answer.text}")
        failed = all(answer.is_error for _, answer in results)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text="\n\n".join(sections))], is_error=failed
        )

    # --- tools/call: one instance -------------------------------------------------------

    async def _call_instance(
        self, name: str, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        self.instances[name].remember(ctx)
        caller = self.caller(ctx)
        arguments = dict(params.arguments or {})
        if not caller.policy.may_use(name) or not caller.policy.may_run(
            params.name, _operation(arguments)
        ):
            return error_result(f"Unknown tool: {params.name}")
        with tracing.call_scope(ctx, params.name, client=caller.name, instance=name) as span:
            forward = self._forward(ctx, caller, name, params, arguments)
            result = await _never_raise(params.name, forward)
            tracing.settle(span, result)
            return result

    # --- forwarding ---------------------------------------------------------------------

    async def _call_worker(
        self,
        instance: str,
        caller: Caller,
        tool: str,
        arguments: dict[str, Any],
        confirmed: Action | None,
        progress: ProgressFn | None,
    ) -> ToolAnswer:
        started = time.monotonic()
        error = True
        request = Call(
            name=tool,
            arguments=arguments,
            client=caller.identity,
            confirmed=confirmed,
            request_id=logs.context().get("request_id"),
            traceparent=telemetry.traceparent(),
        )
        try:
            result = await self.links[instance].call(request, progress)
            error = result.is_error
            self._track_kill_switch(instance, result.mcp_disabled)
            return ToolAnswer(
                result.text, result.is_error, result.mcp_disabled, result.confirmation
            )
        finally:
            self.metrics.observe(instance, caller.name, time.monotonic() - started, error)

    def _track_kill_switch(self, instance: str, disabled: bool) -> None:
        """XO's admin can disable MCP while the worker runs: show it in the instance state."""
        state = self.registry[instance].state
        if disabled and state is State.READY:
            self.registry.set_state(instance, State.DISABLED, "MCP disabled by admin")
        elif not disabled and state is State.DISABLED and self.links[instance].connected:
            self.registry.set_state(instance, State.READY)

    async def _forward(
        self,
        ctx: ServerRequestContext[Any],
        caller: Caller,
        instance: str,
        params: types.CallToolRequestParams,
        arguments: dict[str, Any],
    ) -> types.CallToolResult | types.InputRequiredResult:
        async def progress(value: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(value, total, message)

        async def run(args: dict[str, Any], confirmed: Action | None) -> ToolAnswer:
            return await self._call_worker(instance, caller, params.name, args, confirmed, progress)

        limit = caller.policy.limits.max_pending_confirmations
        try:
            result, _ = await self.flow.call(
                ctx, caller.identity, instance, params, arguments, run, limit=limit
            )
        except WorkerDown as error:
            return error_result(str(error))
        return result


def _operation(arguments: dict[str, Any]) -> str | None:
    operation = arguments.get("operation")
    return operation if isinstance(operation, str) else None


async def _never_raise(
    tool: str, work: Awaitable[types.CallToolResult | types.InputRequiredResult]
) -> types.CallToolResult | types.InputRequiredResult:
    """A gateway bug must surface as a tool error, never as a protocol error or a traceback."""
    try:
        return await work
    except Exception as error:
        logs.log(f"failed on {tool}: {error!r}", level="error", component="gateway")
        return error_result(f"The gateway failed while routing {tool}; see its log.")
