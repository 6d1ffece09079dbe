"""How XO serialises collections: `fields` picking, JSON, NDJSON and markdown, to the character.

XO is written in JavaScript, so numbers and strings must come out as `JSON.stringify` and
`String()` would write them; Python's defaults differ on floats and non-ASCII text.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable
from typing import Any

JsonValue = Any


def js_number(value: float) -> str:
    """`String(n)` of JavaScript for a finite number."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return "null"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if 1e-7 <= abs(value) < 1e-4:
        # Python switches to exponent notation earlier than JavaScript does.
        return format(value, "f").rstrip("0")
    text = repr(value)
    mantissa, sep, exponent = text.partition("e")
    if not sep:
        return text
    sign = "-" if exponent.startswith("-") else "+"
    return f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0')}"


def _js_ready(value: JsonValue) -> JsonValue:
    """Integral floats become ints so that `json` writes `2`, as JavaScript does, not `2.0`."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {key: _js_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_js_ready(item) for item in value]
    return value


def to_json(value: JsonValue) -> str:
    """`JSON.stringify(value, null, 2)`, the body of every XO JSON response."""
    return json.dumps(_js_ready(value), indent=2, ensure_ascii=False)


def to_compact_json(value: JsonValue) -> str:
    """`JSON.stringify(value)`."""
    return json.dumps(_js_ready(value), separators=(",", ":"), ensure_ascii=False)


def _path_of(field: str, obj: dict[str, Any]) -> list[str]:
    # lodash takes a key literally named "a.b" before reading it as a deep path.
    if field in obj or "." not in field:
        return [field]
    return field.split(".")


def _read(obj: Any, path: list[str]) -> tuple[bool, Any]:
    current = obj
    for key in path:
        if isinstance(current, dict) and key in current:
            current = current[key]
        elif isinstance(current, list) and key.isdigit() and int(key) < len(current):
            current = current[int(key)]
        else:
            return False, None
    return True, current


def _write(target: dict[str, Any], path: list[str], value: Any) -> None:
    current: Any = target
    for key, following in itertools.pairwise(path):
        if isinstance(current, list):
            index = int(key)
            while len(current) <= index:
                current.append(None)
            if current[index] is None:
                current[index] = [] if following.isdigit() else {}
            current = current[index]
            continue
        if key not in current:
            current[key] = [] if following.isdigit() else {}
        current = current[key]
    last = path[-1]
    if isinstance(current, list):
        index = int(last)
        while len(current) <= index:
            current.append(None)
        current[index] = value
    else:
        current[last] = value


def pick(obj: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """`lodash.pick(obj, fields)`: caller's order, missing fields dropped, dotted deep paths."""
    picked: dict[str, Any] = {}
    for field in fields:
        path = _path_of(field, obj)
        found, value = _read(obj, path)
        if found:
            _write(picked, path, value)
    return picked


def map_object(obj: dict[str, Any], fields: str | None, href: str) -> JsonValue:
    """One collection item as XO sends it: an href, the whole object, or the picked fields."""
    if fields is None:
        return href
    mapped = dict(obj) if fields == "*" else pick(obj, fields.split(","))
    mapped.pop("href", None)
    mapped["href"] = href
    return mapped


def to_ndjson(items: Iterable[JsonValue]) -> str:
    return "".join(to_compact_json(item) + "\n" for item in items)


def _markdown_cell(value: JsonValue) -> str:
    if value is None:
        text = ""
    elif isinstance(value, dict | list):
        text = to_compact_json(value)
    elif isinstance(value, bool | int | float):
        text = js_number(value)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def to_markdown(items: list[JsonValue]) -> str:
    """The `markdown=true` rendering: a table whose columns are the first item's keys."""
    if not items:
        return "No results."
    if isinstance(items[0], str):
        return "\n".join(str(item) for item in items)
    columns = [key for key in items[0] if key != "href"]
    lines = [_markdown_row(columns), _markdown_row(["---"] * len(columns))]
    for item in items:
        row = item if isinstance(item, dict) else {}
        lines.append(_markdown_row([_markdown_cell(row.get(column)) for column in columns]))
    return "\n".join(lines)
