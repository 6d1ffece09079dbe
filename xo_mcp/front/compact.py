"""Compact tool lists: every tool and operation still there, in a fraction of the bytes.

A model pays for the tool list on every turn. XO's spec makes ~250 operations; described in
full (what each does, its arguments, its privilege) they cost ~20k tokens on a fleet's
aggregated surface. The compact form keeps what picking the right call needs, and moves the
rest behind `describe_operation`:

- a domain tool's description is one line per operation, `StartVm(id,body?)` (worker/brief.py),
  and its `operation` argument a plain string (the lines name every choice; the server still
  refuses an unknown one and suggests the nearest);
- a domain tool declares only the arguments its operations use, and no argument repeats what
  the tool's lines say (no descriptions, no `additionalProperties`);
- no `title` (it repeats the name) and no annotation that says what MCP assumes anyway
  (`openWorldHint: true`, `destructiveHint: true`).

Pure functions on tool definitions in wire form: the standalone worker and the gateway (which
merges the instances' tools first) share them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from xo_mcp.wire.messages import OperationBrief, ToolBrief

DESCRIBE_OPERATION_NAME = "describe_operation"
# Annotation values MCP assumes when a hint is absent.
_DEFAULT_HINTS = {
    "readOnlyHint": False,
    "destructiveHint": True,
    "idempotentHint": False,
    "openWorldHint": True,
}
_KEPT_KEYWORDS = ("type", "enum")


def describe_operation_tool() -> dict[str, Any]:
    """The tool that tells one operation in full, on demand (wire form)."""
    return {
        "name": DESCRIBE_OPERATION_NAME,
        "description": (
            "An operation in full: arguments, body schema, privilege. Tools list operations as "
            "Name(args): pass Name as `operation`, args by name (body?: optional). Queries "
            "take filter (power_state:Halted…), fields (id,name_label; *: all), limit."
        ),
        "inputSchema": {
            "type": "object",
            "properties": {"operation": {"type": "string"}},
            "required": ["operation"],
        },
        "annotations": {"readOnlyHint": True},
    }


def bare(prop: Any) -> dict[str, Any]:
    """A property schema down to its type (and enum): the lines say what it is for."""
    if not isinstance(prop, dict):
        return {}
    return {key: prop[key] for key in _KEPT_KEYWORDS if key in prop}


def meaningful_hints(hints: Any) -> dict[str, Any]:
    """The hints that differ from what MCP assumes without them."""
    if not isinstance(hints, dict):
        return {}
    return {
        key: value
        for key, value in hints.items()
        if key in _DEFAULT_HINTS and value != _DEFAULT_HINTS[key]
    }


def operations_of(definition: Mapping[str, Any]) -> list[str]:
    """The operation enum of a domain tool (empty for the utility tools)."""
    prop = definition.get("inputSchema", {}).get("properties", {}).get("operation", {})
    enum = prop.get("enum") if isinstance(prop, dict) else None
    return [op for op in enum if isinstance(op, str)] if isinstance(enum, list) else []


def _used(operations: list[str], briefs: Mapping[str, OperationBrief]) -> set[str] | None:
    """The arguments these operations use; None when one has no brief (keep them all)."""
    used: set[str] = set()
    for name in operations:
        found = briefs.get(name)
        if found is None:
            return None
        used.update(found.arguments)
    return used


def compact_tool(definition: Mapping[str, Any], brief: ToolBrief | None) -> dict[str, Any]:
    """`definition` (a tool in wire form) in compact form."""
    brief = brief or ToolBrief()
    briefs = brief.operations
    schema = definition.get("inputSchema", {})
    properties: dict[str, Any] = schema.get("properties", {})
    operations = operations_of(definition)
    description = brief.summary or definition.get("description", "")
    used: set[str] | None = None
    if operations:
        description = "\n".join(
            briefs[name].line if name in briefs else name for name in operations
        )
        used = _used(operations, briefs)
    kept: dict[str, Any] = {}
    for name, prop in properties.items():
        if name == "operation" and operations:
            kept[name] = {"type": "string"}
        elif used is None or name in used:
            kept[name] = bare(prop)
    compact_schema: dict[str, Any] = {"type": "object", "properties": kept}
    required = [name for name in schema.get("required", []) if name in kept]
    if required:
        compact_schema["required"] = required
    tool: dict[str, Any] = {
        "name": definition["name"],
        "description": description,
        "inputSchema": compact_schema,
    }
    hints = meaningful_hints(definition.get("annotations"))
    if hints:
        tool["annotations"] = hints
    return tool


def nearest(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """The known names closest to `name` (case aside): a typo then costs one round, not two."""
    by_lower: dict[str, str] = {}
    for candidate in known:
        by_lower.setdefault(candidate.lower(), candidate)
    if name.lower() in by_lower:  # only the case is wrong: that is the one
        return [by_lower[name.lower()]]
    # 0.75: a slip of the keyboard (StratVm, GetVmAlarm), not another operation (DeleteVm/GetVm)
    found = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.75)
    return [by_lower[match] for match in found]
