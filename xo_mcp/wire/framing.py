"""One JSON object per line, each way: how wire messages cross the worker's unix socket."""

from __future__ import annotations

import json
from typing import Any

from xo_mcp.wire.messages import (
    Call,
    Describe,
    Description,
    Progress,
    Reply,
    Request,
    Result,
    to_json,
)

MAX_LINE = 16 * 1024 * 1024  # arguments are small; the limit only stops a runaway peer


def encode(message: Request | Reply) -> bytes:
    return json.dumps(to_json(message), separators=(",", ":")).encode() + b"\n"


def _object(line: bytes) -> dict[str, Any]:
    data = json.loads(line)  # json.JSONDecodeError is a ValueError
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    return data


def decode_request(line: bytes) -> Request:
    """Raises ValueError for anything but a request."""
    data = _object(line)
    if data.get("op") == "call":
        return Call.from_json(data)
    if data == {"op": "describe"}:
        return Describe()
    raise ValueError(f"not a request: op={data.get('op')!r}")


def decode_reply(line: bytes) -> Reply:
    """Raises ValueError for anything but a reply."""
    data = _object(line)
    kind = data.get("kind")
    if kind == "result":
        return Result.from_json(data)
    if kind == "progress":
        return Progress.from_json(data)
    if kind == "description":
        return Description.from_json(data)
    raise ValueError(f"not a reply: kind={kind!r}")
