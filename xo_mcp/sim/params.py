"""Validation of declared parameters and JSON bodies, with tsoa's 422 messages."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from xo_mcp.sim.errors import invalid_parameters

BOOLEAN_PARAMS = frozenset({"ndjson", "markdown", "sync", "watch", "wait", "raw"})
NUMBER_PARAMS = frozenset({"limit"})
ARRAY_PARAMS = frozenset({"backup-repository"})
ENUM_PARAMS = {
    "granularity": ("seconds", "minutes", "hours", "days"),
    "compress": ("gzip", "zstd"),
}
VM_FORMATS = ("ova", "xva")
DISK_FORMATS = ("vhd", "raw")

Problems = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Param:
    location: str  # "path" | "query"
    name: str
    required: bool


def parse_params(text: str) -> tuple[Param, ...]:
    """`path:id*,query:fields` → Params (the catalog's compact notation)."""
    params = []
    for item in filter(None, text.split(",")):
        location, _, name = item.partition(":")
        params.append(Param(location, name.rstrip("*"), name.endswith("*")))
    return tuple(params)


def format_choices(path: str) -> tuple[str, ...]:
    return DISK_FORMATS if path.startswith(("/vdis/", "/vdi-snapshots/")) else VM_FORMATS


def _enum_message(choices: tuple[str, ...]) -> str:
    return "should be one of the following; [" + ",".join(f"'{c}'" for c in choices) + "]"


def _scalar_problem(name: str, value: str, choices: tuple[str, ...] | None) -> str | None:
    if name in BOOLEAN_PARAMS:
        return None if value.lower() in ("true", "false") else "invalid boolean value"
    if name in NUMBER_PARAMS:
        try:
            return None if not math.isnan(float(value)) else "invalid float number"
        except ValueError:
            return "invalid float number"
    if choices is not None and value not in choices:
        return _enum_message(choices)
    return None


def _type_word(name: str) -> str:
    if name in BOOLEAN_PARAMS:
        return "invalid boolean value"
    if name in NUMBER_PARAMS:
        return "invalid float number"
    return "invalid string value"


def check_params(
    params: tuple[Param, ...],
    path_values: dict[str, str],
    query: dict[str, list[str]],
    path_template: str,
) -> None:
    """Raise XO's 422 when a declared parameter is missing or malformed."""
    problems: Problems = {}
    for param in params:
        if param.location == "path":
            value = path_values.get(param.name)
            if param.name == "format" and value is not None:
                choices = format_choices(path_template)
                if value not in choices:
                    problems[param.name] = {"message": _enum_message(choices), "value": value}
            continue
        values = query.get(param.name)
        if values is None:
            if param.required:
                problems[param.name] = {"message": f"'{param.name}' is required"}
            continue
        if param.name in ARRAY_PARAMS:
            continue
        if len(values) > 1:
            problems[param.name] = {"message": _type_word(param.name), "value": values}
            continue
        message = _scalar_problem(param.name, values[0], ENUM_PARAMS.get(param.name))
        if message is not None:
            problems[param.name] = {"message": message, "value": values[0]}
    if problems:
        raise invalid_parameters(problems)


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "number": (int, float),
    "integer": (int,),
    "array": (list,),
    "object": (dict,),
}

_TYPE_MESSAGES = {
    "string": "invalid string value",
    "boolean": "invalid boolean value",
    "number": "invalid float number",
    "integer": "invalid integer number",
    "array": "invalid array",
    "object": "invalid object",
}


def _matches_type(value: Any, expected: str) -> bool:
    if expected in ("number", "integer") and isinstance(value, bool):
        return False
    return isinstance(value, _JSON_TYPES.get(expected, (object,)))


def _check_value(value: Any, schema: dict[str, Any], where: str, problems: Problems) -> None:
    if value is None and schema.get("nullable"):
        return
    for key in ("anyOf", "oneOf"):
        if key in schema:
            if not any(_validates(value, option, where) for option in schema[key]):
                problems[where] = {
                    "message": "Value does not match any allowed schema",
                    "value": value,
                }
            return
    if "allOf" in schema:
        for part in schema["allOf"]:
            _check_value(value, part, where, problems)
        return
    expected = schema.get("type")
    if isinstance(expected, str) and not _matches_type(value, expected):
        problems[where] = {"message": _TYPE_MESSAGES.get(expected, "invalid value"), "value": value}
        return
    if "enum" in schema and value not in schema["enum"]:
        choices = ",".join(f"'{c}'" for c in schema["enum"])
        problems[where] = {
            "message": f"should be one of the following; [{choices}]",
            "value": value,
        }
        return
    if isinstance(value, dict) and "properties" in schema:
        _check_object(value, schema, where, problems)


def _check_object(
    value: dict[str, Any], schema: dict[str, Any], where: str, problems: Problems
) -> None:
    properties: dict[str, Any] = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            problems[f"{where}.{name}"] = {"message": f"'{name}' is required"}
    for name, item in value.items():
        if name not in properties:
            problems[f"{where}.{name}"] = {
                "message": f'"{name}" is an excess property and therefore is not allowed',
                "value": name,
            }
            continue
        _check_value(item, properties[name], f"{where}.{name}", problems)


def _validates(value: Any, schema: dict[str, Any], where: str) -> bool:
    problems: Problems = {}
    _check_value(value, schema, where, problems)
    return not problems


def check_body(body: Any, schema: dict[str, Any], required: bool) -> None:
    """Raise XO's 422 when a JSON body breaks its schema (extra properties included)."""
    if body is None:
        if required:
            raise invalid_parameters({"body": {"message": "'body' is required"}})
        return
    problems: Problems = {}
    if schema.get("type") == "object" and not isinstance(body, dict):
        problems["body"] = {"message": "invalid object", "value": body}
    else:
        _check_value(body, schema, "body", problems)
    if problems:
        raise invalid_parameters(problems)
