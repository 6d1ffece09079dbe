"""Asking a human to confirm an action (MCP elicitation), and reading the answer.

Handshake-era clients get a live `elicitation/create` request; 2026-07-28 clients get an
input-required result whose `requestState` carries the token (sealed by the SDK's request-state
boundary). The message shows what a human needs to judge: the target by name and state, what
will happen, the request, and the body as JSON with secret-looking values masked.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import mcp_types as types
from mcp.server.context import ServerRequestContext

from xo_mcp.wire.messages import Action

CONFIRM_INPUT_KEY = "confirm"
SECRET_KEYS = re.compile(r"pass|secret|token|key|credential|private", re.IGNORECASE)
MASK = "********"

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

Verdict = Literal["accept", "declined", "cancelled"]


def masked(value: Any) -> Any:
    """`value` with the values of secret-looking keys replaced, at any depth."""
    if isinstance(value, dict):
        return {
            key: MASK if SECRET_KEYS.search(str(key)) else masked(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


def describe(action: Action) -> str:
    """The preview: what, on what, how; the same words for a human and for the model."""
    where = f" on instance {action.instance}" if action.instance else ""
    lines = [f"**Operation**: {action.operation}{where}"]
    if action.summary:
        lines.append(f"**What will happen**: {action.summary}")
    target = action.target
    if target is not None:
        facts = [f"{target.type} {target.name or target.id}"]
        if target.name:
            facts.append(f"id {target.id}")
        if target.state:
            facts.append(f"state {target.state}")
        if target.pool:
            facts.append(f"pool {target.pool}")
        lines.append(f"**Target**: {', '.join(facts)}")
    lines.append(f"**Request**: {action.method} {action.path}")
    if action.body is not None:
        body = json.dumps(masked(action.body), indent=2, ensure_ascii=False)
        lines.append(f"**Body**:\n```json\n{body}\n```")
    return "\n".join(lines)


def supports_form(ctx: ServerRequestContext[Any] | None) -> bool:
    """Whether a human can be asked (no context: a caller outside MCP, which cannot)."""
    if ctx is None:
        return False
    capabilities = ctx.session.client_capabilities
    elicitation = capabilities.elicitation if capabilities else None
    # A bare `elicitation: {}` (2025-06-18 clients) means form mode.
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def _message(action: Action) -> str:
    return "The assistant wants to run an action on Xen Orchestra.\n" + describe(action)


def input_required(action: Action, token: str) -> types.InputRequiredResult:
    request = types.ElicitRequest(
        params=types.ElicitRequestFormParams(
            message=_message(action), requested_schema=CONFIRM_SCHEMA
        )
    )
    return types.InputRequiredResult(
        input_requests={CONFIRM_INPUT_KEY: request}, request_state=token
    )


async def ask_now(ctx: ServerRequestContext[Any], action: Action) -> Any:
    """A live elicitation on a handshake-era connection; raises when there is no back channel."""
    return await ctx.session.elicit_form(
        _message(action), CONFIRM_SCHEMA, related_request_id=ctx.request_id
    )


def verdict(answer: Any) -> Verdict:
    """accept (and ticked), declined (said no, or did not tick), or cancelled (dismissed)."""
    if not isinstance(answer, types.ElicitResult):
        try:
            answer = types.ElicitResult.model_validate(answer, by_name=False)
        except ValueError:
            return "cancelled"
    if answer.action == "accept" and bool((answer.content or {}).get("confirm")):
        return "accept"
    return "cancelled" if answer.action == "cancel" else "declined"


def retry_answer(params: types.CallToolRequestParams) -> Any:
    """The human's answer carried by a 2026-07-28 retry (None when this is not a retry)."""
    if params.request_state is None or params.input_responses is None:
        return None
    return params.input_responses.get(CONFIRM_INPUT_KEY)
