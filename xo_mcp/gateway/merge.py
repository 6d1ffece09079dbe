"""The aggregated surface: every tool name once, with an `instance` argument.

The operation enum of a merged tool is the union over the instances that offer it, so the tool
list does not grow with the fleet. A client sees only its instances, no `*_action` tools when
read-only, and only the tools and operations its `tools` / `deny_tools` allow (on every
surface: `visible_tool` serves the per-instance ones too).
"""

from __future__ import annotations

import copy
import re
from typing import Any

import mcp_types as types

from xo_mcp.gateway.clients import ClientPolicy

FLEET_WIDE = frozenset({"check_connection", "get_infrastructure_summary"})
ANY_INSTANCE = frozenset({"search_documentation"})  # the same answer from every instance
_OPERATION_LINE = re.compile(r'^  - "([^"]+)":')


def _wire(tool: types.Tool) -> dict[str, Any]:
    return tool.model_dump(by_alias=True, exclude_none=True)


def _merge_description(first: str, other: str) -> str:
    """Append the operation lines `other` has and `first` lacks."""
    known = {m.group(1) for line in first.splitlines() if (m := _OPERATION_LINE.match(line))}
    extra = [
        line
        for line in other.splitlines()
        if (m := _OPERATION_LINE.match(line)) and m.group(1) not in known
    ]
    return "\n".join([first, *extra]) if extra else first


def _merge_schema(schema: dict[str, Any], other: dict[str, Any]) -> None:
    properties = schema.setdefault("properties", {})
    for name, prop in other.get("properties", {}).items():
        if name not in properties:
            properties[name] = copy.deepcopy(prop)
            continue
        mine = properties[name]
        if isinstance(mine.get("enum"), list) and isinstance(prop.get("enum"), list):
            mine["enum"] = list(dict.fromkeys([*mine["enum"], *prop["enum"]]))


def _instance_property(name: str, instances: list[str]) -> dict[str, Any]:
    if name in FLEET_WIDE:
        text = "XO instance to use; omit it to cover the whole fleet"
    elif name in ANY_INSTANCE:
        text = "Not needed: the documentation is the same for every instance"
    elif len(instances) == 1:
        text = f"XO instance to use (only {instances[0]} offers this tool)"
    else:
        text = "XO instance to use"
    return {"type": "string", "enum": instances, "description": text}


def visible_tool(tool: types.Tool, policy: ClientPolicy) -> types.Tool | None:
    """`tool` as `policy` may see it: None when hidden, its operation enum cut to what it allows."""
    if not policy.may_call(tool.name):
        return None
    operations = operation_enum(tool)
    if not operations:
        return tool if policy.may_run(tool.name, None) else None
    allowed = [op for op in operations if policy.may_run(tool.name, op)]
    if not allowed:
        return None
    if allowed == operations:
        return tool
    wire = copy.deepcopy(_wire(tool))
    wire["inputSchema"]["properties"]["operation"]["enum"] = allowed
    lines = wire.get("description", "").splitlines()
    wire["description"] = "\n".join(
        line for line in lines if not (m := _OPERATION_LINE.match(line)) or m.group(1) in allowed
    )
    return types.Tool.model_validate(wire, by_name=False)


def merged_tools(
    per_instance: dict[str, list[types.Tool]], policy: ClientPolicy
) -> list[types.Tool]:
    """The aggregated tool list a client sees, in first-appearance order."""
    merged: dict[str, dict[str, Any]] = {}
    offered_by: dict[str, list[str]] = {}
    for instance, tools in per_instance.items():
        if not policy.may_use(instance):
            continue
        for shown in tools:
            tool = visible_tool(shown, policy)
            if tool is None:
                continue
            offered_by.setdefault(tool.name, []).append(instance)
            wire = _wire(tool)
            if tool.name not in merged:
                merged[tool.name] = copy.deepcopy(wire)
                continue
            target = merged[tool.name]
            target["description"] = _merge_description(
                target.get("description", ""), wire.get("description", "")
            )
            _merge_schema(target["inputSchema"], wire.get("inputSchema", {}))
    result = []
    for name, wire in merged.items():
        instances = offered_by[name]
        schema = wire["inputSchema"]
        schema["properties"] = {
            "instance": _instance_property(name, instances),
            **schema.get("properties", {}),
        }
        required = [r for r in schema.get("required", []) if r != "instance"]
        if len(instances) > 1 and name not in FLEET_WIDE | ANY_INSTANCE:
            required.insert(0, "instance")
        if required:
            schema["required"] = required
        result.append(types.Tool.model_validate(wire, by_name=False))
    return result


def operation_enum(tool: types.Tool) -> list[str]:
    prop = (tool.input_schema.get("properties") or {}).get("operation") or {}
    enum = prop.get("enum")
    return list(enum) if isinstance(enum, list) else []


def passthrough_tools(tools: list[types.Tool], policy: ClientPolicy) -> list[types.Tool]:
    """A worker's own surface, as `policy` may see it."""
    return [shown for tool in tools if (shown := visible_tool(tool, policy)) is not None]
