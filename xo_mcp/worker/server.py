"""The standalone worker's MCP surface on the SDK's low-level `Server`.

Dangerous actions go through the same confirmation flow as the gateway's (`front`): a human
confirms through elicitation when the client supports it; otherwise the model gets a one-shot
confirm token, as with the official server.
"""

from __future__ import annotations

import secrets
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity

from xo_mcp import __version__, logs
from xo_mcp.front import tracing
from xo_mcp.front.confirmations import ConfirmationFlow, MemoryConfirmStore, ToolAnswer
from xo_mcp.front.prompts import prompt_handlers
from xo_mcp.wire.messages import Action, ClientIdentity
from xo_mcp.worker.calls import Outcome, ToolRunner
from xo_mcp.worker.tools import DESCRIBE_OPERATION, ToolSpec

SERVER_NAME = "xo-mcp"
# The standalone worker has one client: its stdio peer, or whoever may reach its loopback port.
LOCAL_CLIENT = ClientIdentity(name="local")


def answer_of(outcome: Outcome) -> ToolAnswer:
    return ToolAnswer(outcome.text, outcome.is_error, outcome.mcp_disabled, outcome.confirmation)


class WorkerServer:
    """Holds the generated tools and answers MCP requests with them."""

    def __init__(self, runner: ToolRunner, tools: list[ToolSpec]) -> None:
        self.runner = runner
        self.flow = ConfirmationFlow(MemoryConfirmStore())
        definitions = [t.definition for t in tools]
        if runner.settings.compact:
            definitions = [t.compact() for t in [*tools, DESCRIBE_OPERATION]]
        self.tool_list = [types.Tool.model_validate(d, by_name=False) for d in definitions]
        self.listed = frozenset(t.name for t in self.tool_list)
        self.server: Server[Any] = Server(
            SERVER_NAME,
            version=__version__,
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
            **prompt_handlers(),
            # Without it the SDK re-runs tools/list on every 2026-07-28 call to validate headers.
            get_tool_input_schema={t.name: t.input_schema for t in self.tool_list}.get,
        )
        security = RequestStateSecurity(keys=[secrets.token_bytes(32)])
        self.server.middleware.append(RequestStateBoundary(security, default_audience=SERVER_NAME))

    async def list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=self.tool_list)

    async def call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        instance = self.runner.instance
        with tracing.call_scope(
            ctx, params.name, client=LOCAL_CLIENT.name, instance=instance
        ) as span:
            try:
                result = await self._call_tool(ctx, params)
            except Exception as error:  # never a traceback to the client (handshake eras leak it)
                logs.log(f"tool {params.name} failed: {error!r}", level="error")
                failed = Outcome(f"Internal error while running {params.name}.", is_error=True)
                result = answer_of(failed).as_result()
            tracing.settle(span, result)
            return result

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        if params.name not in self.listed:  # the runner answers more (describe_operation)
            return answer_of(Outcome(f"Unknown tool: {params.name}", is_error=True)).as_result()

        async def progress(value: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(value, total, message)

        async def run(arguments: dict[str, Any], confirmed: Action | None) -> ToolAnswer:
            outcome = await self.runner.run(
                params.name,
                arguments,
                client=LOCAL_CLIENT,
                confirmed=confirmed,
                progress=progress,
            )
            return answer_of(outcome)

        arguments = dict(params.arguments or {})
        result, _ = await self.flow.call(
            ctx, LOCAL_CLIENT, self.runner.instance, params, arguments, run
        )
        return result
