"""The gateway's MCP servers: the aggregated fleet surface and one passthrough per instance.

Both route calls to workers with the caller's identity (so confirm tokens are bound to it),
forward progress, turn confirm tokens into human confirmations when the client can elicit, and
tell clients when a worker's surface changes (handshake sessions get `tools/list_changed`,
2026-07-28 clients their `subscriptions/listen` stream).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types
from mcp.server import NotificationOptions, Server, ServerRequestContext
from mcp.server.connection import Connection
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ToolsListChanged
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from xo_mcp import __version__
from xo_mcp.fleet.instances import Registry, State
from xo_mcp.gateway.callers import Caller, caller_from_request
from xo_mcp.gateway.merge import FLEET_WIDE, merged_tools, operation_enum, passthrough_tools
from xo_mcp.gateway.metrics import Metrics
from xo_mcp.gateway.upstream import WorkerDown, WorkerLink
from xo_mcp.worker import elicit
from xo_mcp.worker.meta import MCP_DISABLED_META_KEY
from xo_mcp.worker.server import OVERVIEW_PROMPT, overview_prompt

logger = logging.getLogger("xo_mcp.gateway")

FLEET_OVERVIEW = """\
Please use the get_infrastructure_summary tool without an `instance` argument to fetch the \
current state of every Xen Orchestra instance of the fleet, then provide a clear, \
human-readable summary, instance by instance, of:
1. How many pools are configured and their names
2. Total number of hosts
3. VM statistics (total, running, halted)
Mention any instance that could not be reached. Present this in a friendly, conversational way."""


def _error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


def _text_of(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


def _no_header_params(tool: str) -> None:
    return None


class _Surface:
    """One front MCP server and the connections it must notify."""

    def __init__(self, name: str, handlers: dict[str, Any]) -> None:
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
        # Handshake-era clients learn about list changes only if this capability is declared;
        # the HTTP session manager builds its options without arguments, hence the partial.
        self.server.create_initialization_options = functools.partial(  # type: ignore[method-assign]
            Server.create_initialization_options,
            self.server,
            NotificationOptions(tools_changed=True),
        )

    def remember(self, ctx: ServerRequestContext[Any]) -> None:
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return  # 2026-07-28 clients listen through subscriptions/listen instead
        connection = getattr(ctx.session, "_connection", None)
        if isinstance(connection, Connection):
            self.connections.add(connection)

    async def notify(self) -> None:
        await self.bus.publish(ToolsListChanged())
        for connection in list(self.connections):
            await connection.notify("notifications/tools/list_changed", None)  # never raises


class Frontend:
    def __init__(
        self,
        links: dict[str, WorkerLink],
        registry: Registry,
        metrics: Metrics,
        default_caller: Caller,
    ) -> None:
        self.links = links
        self.registry = registry
        self.metrics = metrics
        self.default_caller = default_caller
        self.aggregated = _Surface(
            "xo-mcp-fleet",
            {
                "on_list_tools": self._list_merged,
                "on_call_tool": self._call_merged,
                "on_list_prompts": self._list_prompts,
                "on_get_prompt": self._get_fleet_prompt,
            },
        )
        self.instances = {name: self._passthrough(name) for name in links}

    def _passthrough(self, name: str) -> _Surface:
        return _Surface(
            f"xo-mcp-{name}",
            {
                "on_list_tools": functools.partial(self._list_instance, name),
                "on_call_tool": functools.partial(self._call_instance, name),
                "on_list_prompts": self._list_prompts,
                "on_get_prompt": functools.partial(self._get_instance_prompt, name),
            },
        )

    async def worker_changed(self, name: str) -> None:
        """A worker (re)connected: its surface and the merged one may have changed."""
        await self.aggregated.notify()
        if name in self.instances:
            await self.instances[name].notify()

    def caller(self, ctx: ServerRequestContext[Any]) -> Caller:
        return caller_from_request(ctx.request, self.default_caller)

    # --- tools/list ---------------------------------------------------------------------

    async def _list_merged(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        self.aggregated.remember(ctx)
        per_instance = {name: link.tools for name, link in self.links.items() if link.tools}
        return types.ListToolsResult(tools=merged_tools(per_instance, self.caller(ctx)))

    async def _list_instance(
        self, name: str, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        self.instances[name].remember(ctx)
        caller = self.caller(ctx)
        if not caller.may_use(name):
            return types.ListToolsResult(tools=[])
        return types.ListToolsResult(tools=passthrough_tools(self.links[name].tools, caller))

    # --- prompts ------------------------------------------------------------------------

    async def _list_prompts(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=[OVERVIEW_PROMPT])

    async def _get_fleet_prompt(
        self, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        if params.name != OVERVIEW_PROMPT.name:
            raise MCPError(-32602, f"Unknown prompt: {params.name}")
        return overview_prompt(FLEET_OVERVIEW)

    async def _get_instance_prompt(
        self, name: str, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        if params.name != OVERVIEW_PROMPT.name:
            raise MCPError(-32602, f"Unknown prompt: {params.name}")
        return overview_prompt()

    # --- tools/call: aggregated ---------------------------------------------------------

    async def _call_merged(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        return await _never_raise(params.name, self._route_merged(ctx, params))

    async def _route_merged(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        self.aggregated.remember(ctx)
        caller = self.caller(ctx)
        arguments = dict(params.arguments or {})
        if params.name == "fleet_status":
            return self._fleet_status(caller)
        instance = arguments.pop("instance", None)
        offering = [
            name
            for name in caller.visible(self.links)
            if any(tool.name == params.name for tool in self.links[name].tools)
        ]
        if not caller.may_call(params.name) or (not offering and instance is None):
            return _error(f"Unknown tool: {params.name}")
        if instance is None and params.name in FLEET_WIDE:
            # Every instance gets a section, including those whose worker never came up.
            visible = caller.visible(self.links)
            return await self._fan_out(ctx, caller, params.name, arguments, visible)
        if instance is None:
            if len(offering) != 1:
                return _error(
                    f"`instance` is required for {params.name}: one of {', '.join(offering)}"
                )
            instance = offering[0]
        problem = self._route_problem(caller, params.name, arguments, instance)
        if problem:
            return _error(problem)
        return await self._forward(ctx, caller, instance, params, arguments)

    def _route_problem(
        self, caller: Caller, tool: str, arguments: dict[str, Any], instance: Any
    ) -> str | None:
        visible = caller.visible(self.links)
        if not isinstance(instance, str) or instance not in visible:
            return f"Unknown instance {instance!r}: use one of {', '.join(visible)}"
        known = {t.name: t for t in self.links[instance].tools}
        if not known and not self.links[instance].connected:
            return None  # the worker is down: _forward explains why, quickly
        if tool not in known:
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
        self,
        ctx: ServerRequestContext[Any],
        caller: Caller,
        tool: str,
        arguments: dict[str, Any],
        instances: list[str],
    ) -> types.CallToolResult:
        """`check_connection` / `get_infrastructure_summary` over every instance, in parallel."""

        async def one(name: str) -> tuple[str, types.CallToolResult]:
            try:
                return name, await self._call_worker(name, caller, tool, arguments, None)
            except WorkerDown as error:
                return name, _error(str(error))

        results = await asyncio.gather(*(one(name) for name in instances))
        sections = []
        for name, result in results:
            mark = " (error)" if result.is_error else ""
            sections.append(f"# Instance {name}{mark}\n{_text_of(result)}")
        failed = all(result.is_error for _, result in results)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text="\n\n".join(sections))], is_error=failed
        )

    def _fleet_status(self, caller: Caller) -> types.CallToolResult:
        statuses = [self.registry[name] for name in caller.visible(self.links)]
        lines = [
            "| instance | state | XO URL | API version | tools | restarts | last error |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for s in statuses:
            error = (s.last_error or "").replace("|", "\\|").replace("\n", " ")
            lines.append(
                f"| {s.name} | {s.state} | {s.url} | {s.api_version or ''} | {s.tools} | "
                f"{s.restarts} | {error} |"
            )
        return types.CallToolResult(
            content=[types.TextContent(type="text", text="\n".join(lines))],
            structured_content={"instances": [s.as_dict() for s in statuses]},
        )

    # --- tools/call: one instance -------------------------------------------------------

    async def _call_instance(
        self, name: str, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        self.instances[name].remember(ctx)
        caller = self.caller(ctx)
        if not caller.may_use(name) or not caller.may_call(params.name):
            return _error(f"Unknown tool: {params.name}")
        work = self._forward(ctx, caller, name, params, dict(params.arguments or {}))
        return await _never_raise(params.name, work)

    # --- forwarding, confirmations ------------------------------------------------------

    async def _call_worker(
        self,
        instance: str,
        caller: Caller,
        tool: str,
        arguments: dict[str, Any],
        progress: Callable[..., Any] | None,
    ) -> types.CallToolResult:
        started = time.monotonic()
        error = True
        try:
            result = await self.links[instance].call_tool(tool, arguments, caller.name, progress)
            error = bool(result.is_error)
            self._track_kill_switch(instance, result)
            return result
        finally:
            self.metrics.observe(instance, time.monotonic() - started, error)

    def _track_kill_switch(self, instance: str, result: types.CallToolResult) -> None:
        """XO's admin can disable MCP while the worker runs: show it in the instance state."""
        disabled = bool((result.meta or {}).get(MCP_DISABLED_META_KEY))
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

        try:
            answer = elicit.retry_answer(params)
            if params.request_state is not None and params.input_responses is not None:
                return await self._confirmed(
                    instance, caller, params.name, arguments, params.request_state, answer, progress
                )
            result = await self._call_worker(instance, caller, params.name, arguments, progress)
        except WorkerDown as error:
            return _error(str(error))
        confirmation = elicit.confirmation_of(result)
        if confirmation is None or not elicit.supports_form_elicitation(ctx):
            return result
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return elicit.input_required(confirmation)
        try:
            answer = await elicit.ask_now(ctx, confirmation)
        except Exception:  # no back channel: the model gets the token instead
            return result
        try:
            return await self._confirmed(
                instance, caller, params.name, arguments, confirmation["token"], answer, progress
            )
        except WorkerDown as error:
            return _error(str(error))

    async def _confirmed(
        self,
        instance: str,
        caller: Caller,
        tool: str,
        arguments: dict[str, Any],
        token: str,
        answer: Any,
        progress: Callable[..., Any],
    ) -> types.CallToolResult:
        if not elicit.accepted(answer):
            return types.CallToolResult(
                content=[
                    types.TextContent(
                        type="text", text="Not executed: the user did not confirm the action."
                    )
                ]
            )
        confirmed = {**arguments, "confirm_token": token}
        return await self._call_worker(instance, caller, tool, confirmed, progress)


async def _never_raise(
    tool: str, work: Awaitable[types.CallToolResult | types.InputRequiredResult]
) -> types.CallToolResult | types.InputRequiredResult:
    """A gateway bug must surface as a tool error, never as a protocol error or a traceback."""
    try:
        return await work
    except Exception:
        logger.exception("gateway failed on %s", tool)
        return _error(f"The gateway failed while routing {tool}; see its log.")
