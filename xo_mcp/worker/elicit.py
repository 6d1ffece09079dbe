"""Asking a human to confirm an action (MCP elicitation), for the worker and the gateway alike.

Handshake-era clients get a live `elicitation/create` request; 2026-07-28 clients get an
input-required result whose `requestState` is the confirm token. Clients without elicitation
get the token in the tool result instead (the official server's flow).
"""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext

from xo_mcp.worker.meta import CONFIRM_META_KEY

CONFIRM_INPUT_KEY = "confirm"

CONFIRM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "confirm": {
            "type": "boolean",
            "title": "Run this action",
            "description": "Check to let the assistant run it on Xen Orchestra now.",
        }
    },
    "required": ["confirm"],
}


def confirmation_of(result: types.CallToolResult) -> dict[str, Any] | None:
    """The pending confirmation a worker result carries, if the call only issued a token."""
    value = (result.meta or {}).get(CONFIRM_META_KEY)
    return value if isinstance(value, dict) and isinstance(value.get("token"), str) else None


def confirm_message(confirmation: dict[str, Any]) -> str:
    where = f" on instance {confirmation['instance']}" if confirmation.get("instance") else ""
    text = (
        f"The assistant wants to run {confirmation['operation']}{where}:\n"
        f"{confirmation['method']} {confirmation['path']}"
    )
    if confirmation.get("body") is not None:
        text += f"\nbody: {confirmation['body']}"
    return text


def supports_form_elicitation(ctx: ServerRequestContext[Any]) -> bool:
    capabilities = ctx.session.client_capabilities
    elicitation = capabilities.elicitation if capabilities else None
    # A bare `elicitation: {}` (2025-06-18 clients) means form mode.
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def input_required(confirmation: dict[str, Any]) -> types.InputRequiredResult:
    request = types.ElicitRequest(
        params=types.ElicitRequestFormParams(
            message=confirm_message(confirmation), requested_schema=CONFIRM_SCHEMA
        )
    )
    return types.InputRequiredResult(
        input_requests={CONFIRM_INPUT_KEY: request}, request_state=confirmation["token"]
    )


async def ask_now(ctx: ServerRequestContext[Any], confirmation: dict[str, Any]) -> Any:
    """A live elicitation on a handshake-era connection; raises when there is no back channel."""
    return await ctx.session.elicit_form(
        confirm_message(confirmation), CONFIRM_SCHEMA, related_request_id=ctx.request_id
    )


def accepted(answer: Any) -> bool:
    if not isinstance(answer, types.ElicitResult):
        try:
            answer = types.ElicitResult.model_validate(answer, by_name=False)
        except ValueError:
            return False
    return answer.action == "accept" and bool((answer.content or {}).get("confirm"))


def retry_answer(params: types.CallToolRequestParams) -> Any:
    """The human's answer carried by a 2026-07-28 retry (None when this is not a retry)."""
    if params.request_state is None or params.input_responses is None:
        return None
    return params.input_responses.get(CONFIRM_INPUT_KEY)
