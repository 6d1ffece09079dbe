"""The aggregated surface's own tool: `fleet_status`, the state of every instance a client sees."""

from __future__ import annotations

import mcp_types as types

from xo_mcp.core import Registry

FLEET_STATUS = types.Tool(
    name="fleet_status",
    title="Fleet Status",
    description=(
        "State of every XO instance of the fleet: ready, starting, failed or disabled by admin, "
        "its XO URL and API version, its number of tools, its last error and restarts."
    ),
    input_schema={"type": "object", "properties": {}, "additionalProperties": False},
    annotations=types.ToolAnnotations(read_only_hint=True),
)


def fleet_status(registry: Registry, names: list[str]) -> types.CallToolResult:
    statuses = [registry[name] for name in names if name in registry]
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
