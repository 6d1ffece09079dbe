"""How XO serialises collections: `fields` picking, JSON, NDJSON and markdown, to the character.

XO is written in JavaScript, so numbers and strings must come out as `JSON.stringify` and
`String()` would write them; Python's defaults differ on floats and non-ASCII text.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterable
from typing import Any

from xo_mcp.sim.jsregex import utf16

JsonValue = Any


def _js_float(value: float) -> str:
    """ECMAScript Number::toString for a finite float (Python's repr has the same digits)."""
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + int(exponent or 0)
    significant = digits.lstrip("0")
    point -= len(digits) - len(significant)
    significant = significant.rstrip("0")
    count = len(significant)
    if count <= point <= 21:
        return sign + significant + "0" * (point - count)
    if 0 < point <= 21:
        return f"{sign}{significant[:point]}.{significant[point:]}"
    if -6 < point <= 0:
        return f"{sign}0.{'0' * -point}{significant}"
    power = point - 1
    exponent_text = f"e{'+' if power > 0 else '-'}{abs(power)}"
    head = significant[0] + (f".{significant[1:]}" if count > 1 else "")
    return sign + head + exponent_text


def js_number(value: float) -> str:
    """`String(value)` of JavaScript for a number (or a boolean)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return _js_float(value)


def _js_string(text: str) -> str:
    # JSON.stringify escapes lone surrogates; Python would leave them unencodable.
    return _LONE_SURROGATE.sub(
        lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False)
    )


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _encode(value: JsonValue, indent: str, depth: int) -> str:
    """JSON.stringify's output for one value; `indent` "" means compact."""
    if value is None or value is True or value is False:
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _js_float(value) if math.isfinite(value) else "null"
    if isinstance(value, str):
        return _js_string(value)
    if isinstance(value, dict):
        items = [f"{_js_string(str(k))}:{' ' if indent else ''}" for k in value]
        parts = [
            key + _encode(item, indent, depth + 1)
            for key, item in zip(items, value.values(), strict=True)
        ]
        return _wrap("{", parts, "}", indent, depth)
    if isinstance(value, list | tuple):
        return _wrap("[", [_encode(item, indent, depth + 1) for item in value], "]", indent, depth)
    return _js_string(str(value))


def _wrap(opening: str, parts: list[str], closing: str, indent: str, depth: int) -> str:
    if not parts:
        return opening + closing
    if not indent:
        return opening + ",".join(parts) + closing
    inner = "\n" + indent * (depth + 1)
    return opening + inner + ("," + inner).join(parts) + "\n" + indent * depth + closing


def to_json(value: JsonValue) -> str:
    """`JSON.stringify(value, null, 2)`, the body of every XO JSON response."""
    return _encode(value, "  ", 0)


def to_compact_json(value: JsonValue) -> str:
    """`JSON.stringify(value)`."""
    return _encode(value, "", 0)


def js_text(text: str) -> bytes:
    """UTF-8 as Node writes a JS string: a lone surrogate becomes U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", text).encode()


def _path_of(field: str, obj: dict[str, Any]) -> list[str]:
    # lodash takes a key literally named "a.b" before reading it as a deep path.
    if field in obj or "." not in field:
        return [field]
    return field.split(".")


def _read(obj: Any, path: list[str]) -> tuple[bool, Any]:
    """lodash `hasIn` + `get`: arrays and strings also have indexes and a `length`."""
    current = obj
    for key in path:
        if isinstance(current, dict) and key in current:
            current = current[key]
        elif isinstance(current, list | str) and key == "length":
            current = len(utf16(current)) if isinstance(current, str) else len(current)
        elif isinstance(current, list | str) and key.isdigit() and int(key) < len(current):
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
    if isinstance(current, list) and last == "length":
        # Assigning an array's length truncates it or pads it with holes (null in JSON).
        del current[value:]
        current.extend([None] * (value - len(current)))
    elif isinstance(current, list):
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
