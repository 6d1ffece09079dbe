"""Validation of declared parameters and JSON bodies, with tsoa's 422 messages."""

from __future__ import annotations

import re
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


# validator.js `isFloat`, which tsoa's `validateFloat` relies on: no spaces, no Infinity.
_FLOAT = re.compile(r"[+-]?[0-9]*(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?")


def _is_float(text: str) -> bool:
    return text not in ("", ".", "+", "-") and _FLOAT.fullmatch(text) is not None


def format_choices(path: str) -> tuple[str, ...]:
    return DISK_FORMATS if path.startswith(("/vdis/", "/vdi-snapshots/")) else VM_FORMATS


def _enum_message(choices: tuple[str, ...]) -> str:
    return "should be one of the following; [" + ",".join(f"'{c}'" for c in choices) + "]"


def _scalar_problem(name: str, value: str, choices: tuple[str, ...] | None) -> str | None:
    if name in BOOLEAN_PARAMS:
        return None if value.lower() in ("true", "false") else "invalid boolean value"
    if name in NUMBER_PARAMS:
        return None if _is_float(value) else "invalid float number"
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

Schema = dict[str, Any]


def _matches_type(value: Any, expected: str) -> bool:
    if expected in ("number", "integer") and isinstance(value, bool):
        return False
    if expected == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _JSON_TYPES.get(expected, (object,)))


def _merge(parts: list[Schema]) -> Schema:
    """One object schema from the members of an intersection (`allOf`)."""
    merged: Schema = {"type": "object", "properties": {}, "required": []}
    for part in parts:
        merged["properties"].update(part.get("properties", {}))
        merged["required"] += [name for name in part.get("required", []) if isinstance(name, str)]
        if "additionalProperties" in part:
            merged["additionalProperties"] = part["additionalProperties"]
    return merged


def _intersections(schema: Schema) -> list[Schema]:
    """An `allOf` as the object schemas it can stand for: one per choice in its unions."""
    choices: list[list[Schema]] = [[]]
    for part in schema["allOf"]:
        options = [*part.get("anyOf", []), *part.get("oneOf", [])] or [part]
        flat = [option for o in options for option in (_intersections(o) if "allOf" in o else [o])]
        choices = [[*chosen, option] for chosen in choices for option in flat]
    return [_merge(chosen) for chosen in choices]


def _no_match(value: Any, where: str, problems: Problems) -> None:
    # XO rewrites tsoa's union report to this one line.
    problems[where] = {"message": "Value does not match any allowed schema", "value": value}


def _check_alternatives(value: Any, options: list[Schema], where: str, problems: Problems) -> None:
    if len(options) == 1:
        _check_value(value, options[0], where, problems)
    elif not any(_validates(value, option, where) for option in options):
        _no_match(value, where, problems)


def _check_value(value: Any, schema: Schema, where: str, problems: Problems) -> None:
    if value is None and schema.get("nullable"):
        return
    for key in ("anyOf", "oneOf"):
        if key in schema:
            _check_alternatives(value, schema[key], where, problems)
            return
    if "allOf" in schema:
        _check_alternatives(value, _intersections(schema), where, problems)
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
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _check_value(item, schema["items"], f"{where}.${index}", problems)
    if isinstance(value, dict) and ("properties" in schema or "additionalProperties" in schema):
        _check_object(value, schema, where, problems)


def _extra_schema(schema: Schema) -> Schema | None:
    """What an undeclared property must match; None when it is not allowed at all.

    XO runs tsoa with `noImplicitAdditionalProperties: "throw-on-extras"`; records
    (`Record<string, …>`, no declared properties) take any key.
    """
    extra = schema.get("additionalProperties")
    if extra is None:
        return None if schema.get("properties") else {}
    if extra is False:
        return None
    return extra if isinstance(extra, dict) else {}


def _check_object(value: dict[str, Any], schema: Schema, where: str, problems: Problems) -> None:
    properties: dict[str, Any] = schema.get("properties", {})
    for name in schema.get("required", []):
        if isinstance(name, str) and name not in value:
            problems[f"{where}.{name}"] = {"message": f"'{name}' is required"}
    extra = _extra_schema(schema)
    for name, item in value.items():
        if name in properties:
            _check_value(item, properties[name], f"{where}.{name}", problems)
        elif extra is None:
            problems[f"{where}.{name}"] = {
                "message": f'"{name}" is an excess property and therefore is not allowed',
                "value": name,
            }
        else:
            _check_value(item, extra, f"{where}.{name}", problems)


def _validates(value: Any, schema: Schema, where: str) -> bool:
    problems: Problems = {}
    _check_value(value, schema, where, problems)
    return not problems


def check_body(body: Any, schema: Schema, required: bool) -> None:
    """Raise XO's 422 when a JSON body breaks its schema (extra properties included)."""
    if body is None:
        if required:
            raise invalid_parameters({"body": {"message": "'body' is required"}})
        return
    problems: Problems = {}
    _check_value(body, schema, "body", problems)
    if problems:
        raise invalid_parameters(problems)
