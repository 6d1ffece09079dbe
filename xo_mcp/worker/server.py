"""The worker's MCP surface on the SDK's low-level `Server`.

Dangerous actions are confirmed by a human through elicitation when the client supports it;
otherwise the model gets a one-shot confirm token, as with the official server.
"""

from __future__ import annotations

import logging
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from xo_mcp import __version__
from xo_mcp.worker import elicit
from xo_mcp.worker.calls import Outcome, ProgressFn, ToolRunner
from xo_mcp.worker.meta import PRINCIPAL_META_KEY
from xo_mcp.worker.tools import ToolSpec

SERVER_NAME = "xo-mcp"
logger = logging.getLogger("xo_mcp.worker")

OVERVIEW_PROMPT = types.Prompt(
    name="infrastructure-overview",
    description="Generate a natural language overview of the XO infrastructure",
)
OVERVIEW_TEXT = """\
Please use the get_infrastructure_summary tool to fetch the current state of the Xen Orchestra \
infrastructure, then provide a clear, human-readable summary of:
1. How many pools are configured and their names
2. Total number of hosts
3. VM statistics (total, running, halted)

Present this information in a friendly, conversational way."""


def text_result(outcome: Outcome) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=outcome.text)],
        is_error=outcome.is_error,
        _meta=outcome.meta or None,
    )


def principal_of(params: types.RequestParams) -> str:
    meta = params.meta or {}
    value = meta.get(PRINCIPAL_META_KEY, "")
    return value if isinstance(value, str) else ""


def overview_prompt(text: str = OVERVIEW_TEXT) -> types.GetPromptResult:
    message = types.PromptMessage(role="user", content=types.TextContent(type="text", text=text))
    return types.GetPromptResult(description=OVERVIEW_PROMPT.description, messages=[message])


def progress_of(ctx: ServerRequestContext[Any]) -> ProgressFn:
    async def report(progress: float, total: float | None, message: str | None) -> None:
        await ctx.session.report_progress(progress, total, message)

    return report


class WorkerServer:
    """Holds the generated tools and answers MCP requests with them."""

    def __init__(self, runner: ToolRunner, tools: list[ToolSpec]) -> None:
        self.runner = runner
        self.tool_list = [types.Tool.model_validate(t.definition, by_name=False) for t in tools]
        self.server: Server[Any] = Server(
            SERVER_NAME,
            version=__version__,
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
            on_list_prompts=self.list_prompts,
            on_get_prompt=self.get_prompt,
            # Without it the SDK re-runs tools/list on every 2026-07-28 call to validate headers.
            get_tool_input_schema={t.name: t.input_schema for t in self.tool_list}.get,
        )

    async def list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=self.tool_list)

    async def list_prompts(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=[OVERVIEW_PROMPT])

    async def get_prompt(
        self, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        if params.name != OVERVIEW_PROMPT.name:
            raise MCPError(-32602, f"Unknown prompt: {params.name}")
        return overview_prompt()

    async def call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        try:
            return await self._call_tool(ctx, params)
        except Exception:  # a traceback must never reach the client (handshake eras leak str(exc))
            logger.exception("tool %s failed", params.name)
            return text_result(Outcome(f"Internal error while running {params.name}.", True))

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        principal = principal_of(params)
        arguments = dict(params.arguments or {})
        if params.request_state is not None and params.input_responses is not None:
            answer = elicit.retry_answer(params)
            return await self._finish(
                ctx, params.name, arguments, params.request_state, answer, principal
            )
        outcome = await self.runner.run(
            params.name, arguments, principal=principal, progress=progress_of(ctx)
        )
        confirmation = outcome.confirmation
        if confirmation is None or not elicit.supports_form_elicitation(ctx):
            return text_result(outcome)
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return elicit.input_required(confirmation)
        try:
            answer = await elicit.ask_now(ctx, confirmation)
        except Exception as error:  # no back channel, or the client failed: the token still works
            logger.info("elicitation unavailable (%s); falling back to the confirm token", error)
            return text_result(outcome)
        return await self._finish(
            ctx, params.name, arguments, confirmation["token"], answer, principal
        )

    async def _finish(
        self,
        ctx: ServerRequestContext[Any],
        name: str,
        arguments: dict[str, Any],
        token: str,
        answer: Any,
        principal: str,
    ) -> types.CallToolResult:
        if not elicit.accepted(answer):
            self.runner.confirms.revoke(token)
            return text_result(Outcome("Not executed: the user did not confirm the action."))
        confirmed = {**arguments, "confirm_token": token}
        outcome = await self.runner.run(
            name, confirmed, principal=principal, progress=progress_of(ctx)
        )
        return text_result(outcome)
