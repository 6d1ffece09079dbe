"""The aggregated surface: every tool name once, with an `instance` argument.

The operation enum of a merged tool is the union over the instances that offer it, so the tool
list does not grow with the fleet. A caller sees only its instances, and no `*_action` tools
when read-only.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import mcp_types as types

from xo_mcp.gateway.callers import Caller

FLEET_WIDE = frozenset({"check_connection", "get_infrastructure_summary"})
_OPERATION_LINE = re.compile(r'^  - "([^"]+)":')

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
    elif len(instances) == 1:
        text = f"XO instance to use (only {instances[0]} offers this tool)"
    else:
        text = "XO instance to use"
    return {"type": "string", "enum": instances, "description": text}


def merged_tools(per_instance: dict[str, list[types.Tool]], caller: Caller) -> list[types.Tool]:
    """The aggregated tool list a caller sees, in first-appearance order."""
    merged: dict[str, dict[str, Any]] = {}
    offered_by: dict[str, list[str]] = {}
    for instance, tools in per_instance.items():
        if not caller.may_use(instance):
            continue
        for tool in tools:
            if not caller.may_call(tool.name):
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
        if len(instances) > 1 and name not in FLEET_WIDE:
            required.insert(0, "instance")
        if required:
            schema["required"] = required
        result.append(types.Tool.model_validate(wire, by_name=False))
    return [*result, FLEET_STATUS]


def operation_enum(tool: types.Tool) -> list[str]:
    prop = (tool.input_schema.get("properties") or {}).get("operation") or {}
    enum = prop.get("enum")
    return list(enum) if isinstance(enum, list) else []


def passthrough_tools(tools: list[types.Tool], caller: Caller) -> list[types.Tool]:
    """A worker's own surface, minus the actions a read-only caller may not run."""
    return [tool for tool in tools if caller.may_call(tool.name)]
