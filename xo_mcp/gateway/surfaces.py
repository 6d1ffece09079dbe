"""The gateway's MCP servers: the aggregated fleet surface and one passthrough per instance.

Both route calls to workers with the caller's identity, forward progress, confirm actions
through the shared confirmation flow (`front.confirmations`), and tell clients when a worker's
surface changes (handshake sessions get `tools/list_changed`, 2026-07-28 clients their
`subscriptions/listen` stream). A reload adds and removes passthrough surfaces; calls for an
instance that left the fleet get a clear error.
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
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from xo_mcp import __version__, logs, telemetry
from xo_mcp.core import Registry, State
from xo_mcp.front import sdk_adapter, tracing
from xo_mcp.front.arguments import check_arguments
from xo_mcp.front.compact import DESCRIBE_OPERATION_NAME, nearest
from xo_mcp.front.confirmations import ConfirmationFlow, ToolAnswer, error_result
from xo_mcp.front.prompts import FLEET_OVERVIEW, INSTANCE_OVERVIEW, prompt_handlers
from xo_mcp.gateway.auth import ClientDirectory
from xo_mcp.gateway.clients import Caller
from xo_mcp.gateway.links import WorkerDown, WorkerLink, removed_message
from xo_mcp.gateway.lookup import holders, no_such_operation, offered_by
from xo_mcp.gateway.merge import (
    ANY_INSTANCE,
    FLEET_WIDE,
    fleet_tools,
    merged_tools,
    operation_enum,
    passthrough_tools,
    visible_tool,
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
        self.closed = False

    def http_manager(self, **options: Any) -> StreamableHTTPSessionManager:
        # Host and Origin are checked once, by the port, for every path.
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
        self.manager = StreamableHTTPSessionManager(
            self.server, security_settings=security, **options
        )
        return self.manager

    async def handle_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.closed or self.manager is None:  # routed just before its instance left
            gone = JSONResponse({"error": f"instance {self.instance!r} left the fleet"}, 404)
            await gone(scope, receive, send)
            return
        await self.manager.handle_request(scope, receive, send)

    def close(self) -> None:
        self.closed = True

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
        *,
        compact: bool = True,
    ) -> None:
        self.links = links
        self.compact = compact
        self.registry = registry
        self.metrics = metrics
        self.flow = flow
        self.directory = directory
        self.default_caller = default_caller
        self.state_security = state_security
        self.draining = False
        self.in_flight = 0  # tool calls being served, for a graceful drain
        self.removed: set[str] = set()  # instances a reload removed, for a clear error
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
        self.instances = {name: self.passthrough(name) for name in links}

    def passthrough(self, name: str) -> Surface:
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

    def managers(self) -> list[StreamableHTTPSessionManager]:
        return [surface.manager for surface in self.all() if surface.manager is not None]

    def get(self, path: str) -> Surface | None:
        if path == "/mcp":
            return self.aggregated
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "instances" and parts[2] == "mcp":
            return self.instances.get(parts[1])
        return None

    def add(self, name: str, surface: Surface) -> None:
        self.instances[name] = surface
        self.removed.discard(name)

    def remove(self, name: str) -> Surface | None:
        self.removed.add(name)
        return self.instances.pop(name, None)

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
        policy = self.caller(ctx).policy
        per_instance = {name: link.tools for name, link in self.links.items() if link.tools}
        briefs = {name: link.briefs for name, link in self.links.items()}
        visible = policy.visible(self.links)
        tools = merged_tools(per_instance, policy, briefs, compact=self.compact, instances=visible)
        extras = fleet_tools(visible, compact=self.compact)
        return types.ListToolsResult(tools=[*tools, *extras])

    async def _list_instance(
        self, name: str, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        if name not in self.instances:  # removed (stdio --instance keeps its surface)
            return types.ListToolsResult(tools=[])
        self.instances[name].remember(ctx)
        policy = self.caller(ctx).policy
        if not policy.may_use(name):
            return types.ListToolsResult(tools=[])
        return types.ListToolsResult(tools=passthrough_tools(self.links[name].tools, policy))

    # --- tools/call: aggregated ---------------------------------------------------------

    async def _call_merged(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        client = self.caller(ctx).name
        return await self._served(ctx, params.name, client, self._route_merged(ctx, params))

    async def _served(
        self,
        ctx: ServerRequestContext[Any],
        tool: str,
        client: str,
        work: Awaitable[types.CallToolResult | types.InputRequiredResult],
        instance: str | None = None,
    ) -> types.CallToolResult | types.InputRequiredResult:
        """Serve one call: counted (a drain waits for it), traced, and never raising."""
        self.in_flight += 1
        try:
            with tracing.call_scope(ctx, tool, client=client, instance=instance) as span:
                result = await _never_raise(tool, work)
                tracing.settle(span, result)
                return result
        finally:
            self.in_flight -= 1

    async def _route_merged(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        self.aggregated.remember(ctx)
        caller = self.caller(ctx)
        arguments = dict(params.arguments or {})
        if params.name == FLEET_STATUS.name:
            return fleet_status(self.registry, caller.policy.visible(self.links))
        if params.name == DESCRIBE_OPERATION_NAME:
            return await self._describe_operation(caller, arguments)
        instance = arguments.pop("instance", None)
        visible = caller.policy.visible(self.links)
        offering = [n for n in visible if any(t.name == params.name for t in self.links[n].tools)]
        definitions = [t for n in offering for t in self.links[n].tools if t.name == params.name]
        refused = _refusal(caller, params.name, arguments, definitions)
        if refused or (not offering and instance is None):
            return error_result(refused or f"Unknown tool: {params.name}")
        if instance is None and params.name in FLEET_WIDE:
            problem = self._argument_problem(params.name, arguments, offering)
            if problem:
                return error_result(problem)
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
        if (
            isinstance(instance, str)
            and instance in self.removed
            and caller.policy.may_use(instance)
        ):
            return removed_message(instance)
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
        if isinstance(operation, str) and operations and operation not in operations:
            near = nearest(operation, operations)
            hint = f"; did you mean {' or '.join(near)}?" if near else ""
            return (
                f"Instance {instance!r} has no operation {operation!r} in {tool}{hint} "
                f"(it offers: {', '.join(operations)})"
            )
        problem = self._argument_problem(tool, {"instance": instance, **arguments}, [instance])
        if problem:
            return problem
        token = arguments.get("confirm_token")
        if isinstance(token, str) and "." in token and token.split(".", 1)[0] != instance:
            owner = token.split(".", 1)[0]
            return (
                f"This confirmation token was issued by instance {owner!r}, not {instance!r}: "
                "it only works with the instance that issued it."
            )
        return None

    def _argument_problem(
        self, tool: str, arguments: dict[str, Any], instances: list[str]
    ) -> str | None:
        """The arguments checked here, against the tool of the first of `instances` that has
        it, plus `instance`: the worker would not name `instance`, which it never sees."""
        for name in instances:
            found = next((t for t in self.links[name].tools if t.name == tool), None)
            if found is not None:
                problems = check_arguments(arguments, _with_instance(found))
                return f"Invalid arguments for {tool}: " + "; ".join(problems) if problems else None
        return None

    async def _describe_operation(
        self, caller: Caller, arguments: dict[str, Any]
    ) -> types.CallToolResult:
        """An operation in full, from a worker that offers it (each tool that holds it)."""
        operation, instance = arguments.get("operation"), arguments.get("instance")
        tool = arguments.get("tool") if isinstance(arguments.get("tool"), str) else None
        if not isinstance(operation, str) or not operation:
            return error_result("`operation` is required: the operation to describe, e.g. StartVm")
        visible = caller.policy.visible(self.links)
        if instance is not None and instance not in visible:
            return error_result(f"Unknown instance {instance!r}: use one of {', '.join(visible)}")
        offered = {name: self.links[name].tools for name in ([instance] if instance else visible)}
        policy = caller.policy
        found = holders(offered, policy, operation, tool)
        if not found:
            return error_result(no_such_operation(offered, policy, operation, tool, instance))
        sections = []
        for name, instances in found.items():
            ready = [n for n in instances if self.links[n].connected]
            asked = {"operation": operation, "tool": name}
            try:
                answer = await self._call_worker(
                    (ready or instances)[0], caller, DESCRIBE_OPERATION_NAME, asked, None, None
                )
            except WorkerDown as error:
                return error_result(str(error))
            if answer.is_error:
                return error_result(answer.text)
            sections.append(f"{answer.text}\n{offered_by(instances)}")
        return types.CallToolResult(
            content=[types.TextContent(type="text", text="\n\n".join(sections))]
        )

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
        if name not in self.instances:
            return error_result(removed_message(name))
        self.instances[name].remember(ctx)
        caller = self.caller(ctx)
        arguments = dict(params.arguments or {})
        if not caller.policy.may_use(name):
            return error_result(f"Unknown tool: {params.name}")
        definitions = [t for t in self.links[name].tools if t.name == params.name]
        refused = _refusal(caller, params.name, arguments, definitions)
        if refused:
            return error_result(refused)
        forward = self._forward(ctx, caller, name, params, arguments)
        return await self._served(ctx, params.name, caller.name, forward, instance=name)

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
        link = self.links.get(instance)
        try:
            if link is None:
                raise WorkerDown(removed_message(instance))
            result = await link.call(request, progress)
            error = result.is_error
            self._track_kill_switch(instance, result.mcp_disabled)
            return ToolAnswer(
                result.text, result.is_error, result.mcp_disabled, result.confirmation
            )
        finally:
            self.metrics.observe(instance, caller.name, time.monotonic() - started, error)

    def _track_kill_switch(self, instance: str, disabled: bool) -> None:
        """XO's admin can disable MCP while the worker runs: show it in the instance state."""
        if instance not in self.registry or instance not in self.links:
            return  # removed by a reload during the call
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


def _refusal(
    caller: Caller, tool: str, arguments: dict[str, Any], definitions: list[types.Tool]
) -> str | None:
    """Why the client's policy refuses this call (None: it does not)."""
    policy = caller.policy
    hidden = not policy.may_call(tool) or (
        definitions and all(visible_tool(d, policy) is None for d in definitions)
    )
    if hidden:
        return f"Unknown tool: {tool}"  # not in this client's list: it does not exist for it
    operation = _operation(arguments)
    if policy.may_run(tool, operation):
        return None
    if operation is None:
        return f"Unknown tool: {tool}"
    return f"Operation {operation} of {tool} is not available to client {policy.name}"


def _with_instance(tool: types.Tool) -> dict[str, Any]:
    """The worker's schema of `tool` with the argument the aggregated surface adds."""
    schema = dict(tool.input_schema)
    schema["properties"] = {"instance": {"type": "string"}, **(schema.get("properties") or {})}
    return schema


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
