"""One JSON object per line, each way: how wire messages cross the worker's unix socket."""

from __future__ import annotations

from pydantic import BaseModel, TypeAdapter

from xo_mcp.wire.messages import Reply, Request

MAX_LINE = 16 * 1024 * 1024  # arguments are small; the limit only stops a runaway peer

_requests: TypeAdapter[Request] = TypeAdapter(Request)
_replies: TypeAdapter[Reply] = TypeAdapter(Reply)


def encode(message: BaseModel) -> bytes:
    return message.model_dump_json(exclude_none=True).encode() + b"\n"


def decode_request(line: bytes) -> Request:
    """Raises ValueError (pydantic's ValidationError is one) for anything but a request."""
    return _requests.validate_json(line)


def decode_reply(line: bytes) -> Reply:
    return _replies.validate_json(line)
