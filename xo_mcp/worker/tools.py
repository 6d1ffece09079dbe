"""MCP tool definitions: `{domain}_query` / `{domain}_action` per domain, plus utility tools.

Definitions are kept in wire form (camelCase JSON), so the same dicts serve the MCP server,
the gateway's merged surface and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from xo_mcp.front.compact import compact_tool, describe_operation_tool
from xo_mcp.wire.messages import ToolBrief
from xo_mcp.worker.brief import brief
from xo_mcp.worker.openapi import ApiCatalog, Domain, Operation

DOC_TOPICS = (
    "installation",
    "configuration",
    "backups",
    "restapi",
    "manage",
    "users",
    "architecture",
    "troubleshooting",
    "releases",
)

ToolKind = Literal["query", "action", "utility"]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    kind: ToolKind
    definition: dict[str, Any]
    segment: str = ""
    operations: dict[str, Operation] = field(default_factory=dict)
    brief: ToolBrief = field(default_factory=ToolBrief)

    def compact(self) -> dict[str, Any]:
        """The definition in compact form (front/compact.py)."""
        return compact_tool(self.definition, self.brief)


def _brief(domain: Domain, operations: list[Operation]) -> ToolBrief:
    return ToolBrief(operations={op.name: brief(op, domain.segment) for op in operations})


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def operation_line(op: Operation) -> str:
    """One line per operation (the gateway merges tools line by line):
    `  - "StartVm": Start a VM (id, body {hostId?}). The VM must be halted. Needs vm:start.`"""
    return f'  - "{op.name}": {operation_text(op)}'


def operation_text(op: Operation) -> str:
    """What the line says after the operation's name.

    In parentheses, the tool's arguments the operation uses: each path placeholder is an argument
    of the same name, the list arguments only where XO honours them, and the body's keys."""
    arguments = [*dict.fromkeys(op.placeholders), *op.list_arguments]
    if op.body:
        arguments.append(op.body)
    text = op.description + (f" ({', '.join(arguments)})." if arguments else ".")
    if op.details:
        text += f" {op.details}"
    if op.deprecated:
        text += " Deprecated."
    if op.needs:
        text += f" Needs {op.needs}."
    return text


def _describe(operations: list[Operation]) -> str:
    return "\n".join(operation_line(op) for op in operations)


# Arguments every domain tool has; a path placeholder of the same name is filled from them.
RESERVED_ARGUMENTS = frozenset(
    {"operation", "id", "filter", "fields", "limit", "body", "confirm_token", "wait"}
)


def _placeholder_properties(operations: list[Operation]) -> dict[str, Any]:
    """Path placeholders other than `{id}` become named arguments (the official server has none)."""
    users: dict[str, list[str]] = {}
    for op in operations:
        for name in op.placeholders:
            if name not in RESERVED_ARGUMENTS:
                users.setdefault(name, []).append(op.name)
    return {
        name: _string(f"Fills `{{{name}}}` in the path of {', '.join(ops)}")
        for name, ops in users.items()
    }


def _query_tool(domain: Domain) -> ToolSpec:
    names = [op.name for op in domain.queries]
    properties: dict[str, Any] = {
        "operation": {
            "type": "string",
            "enum": list(dict.fromkeys(names)),
            "description": "The query operation to perform (OpenAPI operationId)",
        },
        "id": _string("Resource ID (required for operations on a specific item)"),
        "filter": _string('XO filter expression (e.g. "power_state:Running")'),
        "fields": _string(
            'Comma-separated fields to return (e.g. "id,name_label"). Defaults come from the '
            'OpenAPI examples. Use "*" for every field.'
        ),
        "limit": {"type": "number", "description": "Maximum number of results"},
        **_placeholder_properties(domain.queries),
    }
    name = f"{domain.prefix}_query"
    definition: dict[str, Any] = {
        "name": name,
        "title": f"Query {domain.segment}",
        "description": (
            f"Query {domain.segment} resources. Available operations:\n{_describe(domain.queries)}"
        ),
        "inputSchema": {
            "type": "object",
            "properties": properties,
            "required": ["operation"],
            "additionalProperties": False,
        },
        "annotations": {"readOnlyHint": True, "openWorldHint": True},
    }
    operations = {op.name: op for op in domain.queries}
    return ToolSpec(
        name, "query", definition, domain.segment, operations, _brief(domain, domain.queries)
    )


def _action_tool(domain: Domain) -> ToolSpec:
    names = [op.name for op in domain.actions]
    properties: dict[str, Any] = {
        "operation": {
            "type": "string",
            "enum": list(dict.fromkeys(names)),
            "description": "The action to perform (OpenAPI operationId)",
        },
        "id": _string("Resource ID (required for most actions)"),
        "body": {
            "type": "object",
            "additionalProperties": True,
            "description": "Request body (for create/update operations)",
        },
        "confirm_token": _string(
            "Confirmation token returned by a prior call; repeat the same operation, id and body"
        ),
        "wait": {
            "type": "boolean",
            "description": "Wait for the XO task the action starts and return its final status",
        },
        **_placeholder_properties(domain.actions),
    }
    name = f"{domain.prefix}_action"
    definition: dict[str, Any] = {
        "name": name,
        "title": f"{domain.segment} actions",
        "description": (
            f"Perform actions on {domain.segment} resources. Available operations:\n"
            f"{_describe(domain.actions)}"
        ),
        "inputSchema": {
            "type": "object",
            "properties": properties,
            "required": ["operation"],
            "additionalProperties": False,
        },
        "annotations": {"destructiveHint": True, "openWorldHint": True},
    }
    operations = {op.name: op for op in domain.actions}
    return ToolSpec(
        name, "action", definition, domain.segment, operations, _brief(domain, domain.actions)
    )


def _utility(
    name: str, title: str, description: str, properties: dict[str, Any], summary: str
) -> ToolSpec:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if properties:
        schema["required"] = list(properties)
    definition = {
        "name": name,
        "title": title,
        "description": description,
        "inputSchema": schema,
        "annotations": {"readOnlyHint": True, "openWorldHint": True},
    }
    return ToolSpec(name, "utility", definition, brief=ToolBrief(summary=summary))


UTILITY_TOOLS = (
    _utility(
        "check_connection",
        "Check Connection",
        "Test the connection to the Xen Orchestra server. Use this to validate your setup.",
        {},
        "Test the XO connection.",
    ),
    _utility(
        "search_documentation",
        "Search XO Documentation",
        "Search and retrieve Xen Orchestra documentation. Use this to help users understand XO "
        "features, configuration, and best practices.",
        {
            "topic": {
                "type": "string",
                "enum": list(DOC_TOPICS),
                "description": "Documentation topic to retrieve",
            }
        },
        "XO documentation.",
    ),
    _utility(
        "get_infrastructure_summary",
        "Get Infrastructure Summary",
        "Get a high-level summary of the entire XO infrastructure: counts of pools, hosts and VMs "
        "by power state, then pools, hosts (state) and VMs (state, host, pool) by name and id. "
        "Long lists are cut, VMs that are not running first.",
        {},
        "Pools, hosts and VMs: counts by state, then names and ids.",
    ),
)


# Listed by a compact worker (XO_MCP_COMPACT=1); always answered, since the gateway asks it of
# workers whose own list stays the official server's.
DESCRIBE_OPERATION = ToolSpec(
    describe_operation_tool()["name"], "utility", describe_operation_tool()
)


def build_tools(catalog: ApiCatalog) -> list[ToolSpec]:
    """Domain tools in spec order (queries then actions per domain), then utility tools."""
    tools: list[ToolSpec] = []
    for domain in catalog.domains.values():
        if domain.queries:
            tools.append(_query_tool(domain))
        if domain.actions:
            tools.append(_action_tool(domain))
    tools.extend(UTILITY_TOOLS)
    return tools
