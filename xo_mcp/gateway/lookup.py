"""Where an operation lives on the aggregated surface: the tools and instances that offer it to
a caller (for `describe_operation`), or the nearest names when none does."""

from __future__ import annotations

from collections.abc import Mapping

import mcp_types as types

from xo_mcp.front.compact import nearest
from xo_mcp.gateway.clients import ClientPolicy
from xo_mcp.gateway.merge import operation_enum

Offered = Mapping[str, list[types.Tool]]  # instance -> its tools


def holders(
    offered: Offered, policy: ClientPolicy, operation: str, tool: str | None
) -> dict[str, list[str]]:
    """tool -> the instances where it offers `operation` to this caller (`tool` only, if given)."""
    found: dict[str, list[str]] = {}
    for instance, tools in offered.items():
        for candidate in tools:
            if tool not in (None, candidate.name) or not policy.may_run(candidate.name, operation):
                continue
            if operation in operation_enum(candidate):
                found.setdefault(candidate.name, []).append(instance)
    return found


def no_such_operation(
    offered: Offered, policy: ClientPolicy, operation: str, tool: str | None, where: str | None
) -> str:
    """Nobody offers it: the nearest operations this caller may run, and their tools."""
    known: dict[str, str] = {}
    for tools in offered.values():
        for candidate in tools:
            for name in operation_enum(candidate):
                if policy.may_run(candidate.name, name):
                    known.setdefault(name, candidate.name)
    scope = (f" in {tool}" if tool else "") + (f" on {where}" if where else "")
    near = nearest(operation, known)
    hint = "; did you mean " + ", ".join(f"{n} ({known[n]})" for n in near) + "?" if near else ""
    return f"No operation {operation!r}{scope}{hint}"


def offered_by(instances: list[str]) -> str:
    """The line describe_operation ends with on the aggregated surface."""
    if len(instances) == 1:
        return f"Instance: {instances[0]} (the only instance that offers it)"
    return f"Instance: one of {', '.join(instances)} (required)"
