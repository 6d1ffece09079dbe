"""Check tool arguments against the tool's input schema (the SDK 2.x no longer does it): in the
worker, and in the gateway, whose aggregated tools have an argument more (`instance`)."""

from __future__ import annotations

from typing import Any

from xo_mcp.front.compact import nearest

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}
MAX_STRING = 100_000


def _type_ok(value: Any, expected: str) -> bool:
    if expected in ("number", "integer") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES.get(expected, (object,)))


MAX_INTEGER = 2**53  # beyond, JSON numbers lose precision (and Python's str() may refuse)


def _shown(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
        return "a number too large to show"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _property_problem(name: str, value: Any, schema: dict[str, Any]) -> str | None:
    expected = schema.get("type")
    if isinstance(expected, str) and not _type_ok(value, expected):
        return f"`{name}` must be a {expected}, got {_shown(value)}"
    if "enum" in schema and value not in schema["enum"]:
        choices = [str(choice) for choice in schema["enum"]]
        near = nearest(value, choices) if isinstance(value, str) else []
        hint = f"; did you mean {' or '.join(near)}?" if near else ""
        return f"`{name}` must be one of: {', '.join(choices)} (got {_shown(value)}){hint}"
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
        return f"`{name}` is out of range (at most {MAX_INTEGER} in absolute value)"
    if isinstance(value, str) and len(value) > MAX_STRING:
        return f"`{name}` is too long ({len(value)} characters, at most {MAX_STRING})"
    return None


def check_arguments(arguments: Any, schema: dict[str, Any]) -> list[str]:
    """Every problem with `arguments`, worded for a model to correct its call."""
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return [f"arguments must be an object, got {_shown(arguments)}"]
    properties: dict[str, Any] = schema.get("properties", {})
    problems = [
        f"`{name}` is required"
        for name in schema.get("required", [])
        if arguments.get(name) is None
    ]
    unknown = [name for name in arguments if name not in properties]
    if unknown and schema.get("additionalProperties") is False:
        problems.append(_unknown(unknown, properties))
    for name, value in arguments.items():
        if name in properties and value is not None:
            problem = _property_problem(name, value, properties[name])
            if problem:
                problems.append(problem)
    return problems


def _unknown(names: list[str], properties: dict[str, Any]) -> str:
    """One problem for every unknown argument, listing every allowed one: a model that passed
    `sync` or `markdown` learns in one round what it may pass instead."""
    shown = ", ".join(f"`{_shown_name(name)}`" for name in names)
    allowed = ", ".join(properties) or "none"
    return f"unknown argument{'s' if len(names) > 1 else ''} {shown} (allowed: {allowed})"


def _shown_name(name: str) -> str:
    return name if len(name) <= 60 else name[:57] + "..."
