"""The aggregated surface: every tool name once, with an `instance` argument.

The operation enum of a merged tool is the union over the instances that offer it, so the tool
list does not grow with the fleet. A client sees only its instances, no `*_action` tools when
read-only, and only the tools and operations its `tools` / `deny_tools` allow (on every
surface: `visible_tool` serves the per-instance ones too).

Compact (`[gateway] compact_tools`, the default): the merged tools in the form of
front/compact.py, from the operation briefs the workers send; `instance` is then a plain string
where every instance the client sees offers the tool (their names are said once, in
`fleet_status`), an enum only where some do not. Either way the list ends with
`describe_operation` and `fleet_status`.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import mcp_types as types

from xo_mcp.front.compact import compact_tool, describe_operation_tool
from xo_mcp.gateway.clients import ClientPolicy
from xo_mcp.gateway.status import FLEET_STATUS
from xo_mcp.wire.messages import ToolBrief

Briefs = dict[str, ToolBrief]  # one instance's tool briefs, by tool name

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
    """The full form: always the enum of the instances that offer the tool."""
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


def _compact_instance(instances: list[str], everyone: list[str]) -> dict[str, Any]:
    """The compact form: an enum only when it says something the fleet's list does not."""
    prop: dict[str, Any] = {"type": "string"}
    if instances != everyone:
        prop["enum"] = instances
    return prop


def _brief_of(tool: str, instances: list[str], briefs: dict[str, Briefs]) -> ToolBrief:
    """The brief of `tool` over the instances that offer it (the first one wins a conflict)."""
    found = ToolBrief()
    for instance in instances:
        found = found.merged(briefs.get(instance, {}).get(tool, ToolBrief()))
    return found


def merged_tools(
    per_instance: dict[str, list[types.Tool]],
    policy: ClientPolicy,
    briefs: dict[str, Briefs] | None = None,
    *,
    compact: bool = False,
    instances: list[str] | None = None,
) -> list[types.Tool]:
    """The aggregated tool list a client sees, in first-appearance order; with `compact`, in
    the compact form (`briefs`: each instance's briefs; `instances`: every instance the client
    sees, those down included, against which a tool's own instances are told apart)."""
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
    everyone = [name for name in (instances or per_instance) if policy.may_use(name)]
    result = []
    for name, wire in merged.items():
        instances = offered_by[name]
        if compact:
            wire = compact_tool(wire, _brief_of(name, instances, briefs or {}))
            if name in FLEET_WIDE:
                wire["description"] += " Omit instance: all."
        schema = wire["inputSchema"]
        properties = schema.get("properties", {})
        if not compact:
            properties = {"instance": _instance_property(name, instances), **properties}
        elif name not in ANY_INSTANCE:
            properties = {"instance": _compact_instance(instances, everyone), **properties}
        schema["properties"] = properties
        required = [r for r in schema.get("required", []) if r != "instance"]
        if len(instances) > 1 and name not in FLEET_WIDE | ANY_INSTANCE:
            required.insert(0, "instance")
        if required:
            schema["required"] = required
        result.append(types.Tool.model_validate(wire, by_name=False))
    return result


def fleet_tools(instances: list[str], *, compact: bool = False) -> list[types.Tool]:
    """The aggregated surface's own tools: `describe_operation` (answered by a worker) and
    `fleet_status`, which names the instances a client sees."""
    describe = describe_operation_tool()
    if not compact:  # compact: any instance that offers it answers (`instance` still works)
        describe["inputSchema"]["properties"]["instance"] = {
            "type": "string",
            "enum": instances,
            "description": "XO instance to ask; omit it for any instance that offers it",
        }
    named = ", ".join(instances) or "none"
    status = FLEET_STATUS.model_copy(
        update={"description": f"{FLEET_STATUS.description} The instances: {named}."}
    )
    if compact:
        summary = f"Instances (state, last error): {named}."
        status = types.Tool.model_validate(
            compact_tool(_wire(status), ToolBrief(summary=summary)), by_name=False
        )
    return [types.Tool.model_validate(describe, by_name=False), status]


def operation_enum(tool: types.Tool) -> list[str]:
    prop = (tool.input_schema.get("properties") or {}).get("operation") or {}
    enum = prop.get("enum")
    return list(enum) if isinstance(enum, list) else []


def passthrough_tools(tools: list[types.Tool], policy: ClientPolicy) -> list[types.Tool]:
    """A worker's own surface, as `policy` may see it."""
    return [shown for tool in tools if (shown := visible_tool(tool, policy)) is not None]
