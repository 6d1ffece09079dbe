"""`describe_operation`: one operation in full, on demand, for a model working from a compact
tool list: its line as the full tool descriptions give it, the request it sends, each argument
and what it does there, and its body's schema ($refs resolved, noise left out)."""

from __future__ import annotations

import json
import re
from typing import Any

from xo_mcp.front.compact import nearest
from xo_mcp.worker.openapi import Operation, resolve_schema
from xo_mcp.worker.tools import ToolSpec, operation_text

MAX_SCHEMA_CHARS = 6_000
# Schema keywords a model needs to write a body; examples and titles only cost bytes.
_DROPPED = frozenset({"example", "examples", "title", "xml", "externalDocs", "readOnly"})
_PLAIN_FORMATS = frozenset({"double", "float", "int32", "int64"})
# TypeScript utility types leak their own docs into XO's schemas ("From T, pick a set of…").
_GENERATED = re.compile(r"\b(?:[TK] of type [TK]|of type T\b|union K\b|properties K\b|From T\b)")


def compact_schema(node: Any) -> Any:
    """A JSON schema without what does not change what a valid body is."""
    if isinstance(node, list):
        return [compact_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    kept: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED or (key == "nullable" and value is False):
            continue
        if key == "format" and value in _PLAIN_FORMATS:
            continue
        if key == "description" and (not isinstance(value, str) or _GENERATED.search(value)):
            continue
        kept[key] = value if key in ("enum", "default", "required") else compact_schema(value)
    return kept


def _schema_text(op: Operation, components: dict[str, Any]) -> str:
    if op.body_schema is None:
        return ""
    schema = compact_schema(resolve_schema(op.body_schema, components))
    text = json.dumps(schema, separators=(",", ":"), ensure_ascii=False)
    if len(text) > MAX_SCHEMA_CHARS:
        text = text[:MAX_SCHEMA_CHARS] + "… [cut: the schema is longer]"
    return text


def _list_arguments(op: Operation) -> list[str]:
    found = []
    if "filter" in op.list_arguments:
        found.append(
            "- filter: XO filter, e.g. `power_state:Halted`, `name_label:web*`, `tags:prod`, "
            "`$pool:<pool id>`; terms separated by spaces must all match, `|(a b)` is either"
        )
    if "fields" in op.list_arguments:
        default = f" (default: {op.default_fields})" if op.default_fields else ""
        found.append(f"- fields: comma-separated fields to return{default}; `*` for every field")
    if "limit" in op.list_arguments:
        found.append("- limit: maximum number of results")
    return found


def _action_arguments(op: Operation, schema: str) -> list[str]:
    found = []
    if op.body_shape is not None and op.body_shape.file:
        found.append("- body: a file upload, which this tool cannot send")
    elif op.body_shape is not None:
        needed = ", ".join(op.body_shape.required)
        which = f"required keys: {needed}" if needed else "every key optional"
        found.append(f"- body: a JSON object ({which}); schema below" if schema else "- body")
    if op.tasked:
        found.append(
            "- wait: true to wait until the XO task it starts ends, and get its final status"
        )
    if op.requires_confirm:
        found.append(
            "- confirm_token: not on the first call, which previews the action and asks for "
            "confirmation; repeat the same call with the token it gives, unless a human confirms"
        )
    return found


def explain(tool: ToolSpec, op: Operation, components: dict[str, Any]) -> str:
    """The full description of `op`, an operation of `tool`."""
    schema = _schema_text(op, components)
    lines = [
        f"{op.name} ({tool.name}): {operation_text(op)}",
        f"Request: {op.signature}",
        "Arguments:",
        f'- operation: "{op.name}"',
    ]
    for name in dict.fromkeys(op.placeholders):
        lines.append(f"- {name} (required): fills {{{name}}} in the path")
    lines += _list_arguments(op) if tool.kind == "query" else _action_arguments(op, schema)
    if schema:
        lines.append(f"Body schema: {schema}")
    return "\n".join(lines)


def describe(
    tools: list[ToolSpec], components: dict[str, Any], operation: str, tool_name: str | None
) -> tuple[str, bool]:
    """(text, is_error): every operation named `operation` (in `tool_name` only, if given);
    operationIds are not unique in XO's spec (GetSrs lists SRs and SMs)."""
    found = [
        explain(tool, tool.operations[operation], components)
        for tool in tools
        if operation in tool.operations and tool_name in (None, tool.name)
    ]
    if found:
        return "\n\n".join(found), False
    return unknown_operation(operation, tools, tool_name), True


def unknown_operation(operation: str, tools: list[ToolSpec], tool_name: str | None) -> str:
    """No such operation: the nearest names and their tools."""
    known = {op: tool.name for tool in tools for op in tool.operations}
    where = f" in {tool_name}" if tool_name else ""
    near = nearest(operation, known)
    hint = "; did you mean " + ", ".join(f"{n} ({known[n]})" for n in near) + "?" if near else ""
    return f"No operation {operation!r}{where}{hint}"
