"""The `infrastructure-overview` prompt, as the official server words it (and a fleet's variant)."""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError

OVERVIEW_PROMPT = types.Prompt(
    name="infrastructure-overview",
    description="Generate a natural language overview of the XO infrastructure",
)
INSTANCE_OVERVIEW = """\
Please use the get_infrastructure_summary tool to fetch the current state of the Xen Orchestra \
infrastructure, then provide a clear, human-readable summary of:
1. How many pools are configured and their names
2. Total number of hosts
3. VM statistics (total, running, halted)

Present this information in a friendly, conversational way."""
FLEET_OVERVIEW = """\
Please use the get_infrastructure_summary tool without an `instance` argument to fetch the \
current state of every Xen Orchestra instance of the fleet, then provide a clear, \
human-readable summary, instance by instance, of:
1. How many pools are configured and their names
2. Total number of hosts
3. VM statistics (total, running, halted)
Mention any instance that could not be reached. Present this in a friendly, conversational way."""


def prompt_handlers(text: str = INSTANCE_OVERVIEW) -> dict[str, Any]:
    """`on_list_prompts` and `on_get_prompt` for a low-level `Server`."""

    async def list_prompts(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=[OVERVIEW_PROMPT])

    async def get_prompt(
        ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        if params.name != OVERVIEW_PROMPT.name:
            raise MCPError(-32602, f"Unknown prompt: {params.name}")
        message = types.PromptMessage(
            role="user", content=types.TextContent(type="text", text=text)
        )
        return types.GetPromptResult(description=OVERVIEW_PROMPT.description, messages=[message])

    return {"on_list_prompts": list_prompts, "on_get_prompt": get_prompt}
