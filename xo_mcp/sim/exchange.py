"""One request to the simulated REST API and its reply, as handlers see them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xo_mcp.sim.output import js_text, to_json

if TYPE_CHECKING:
    from xo_mcp.sim.routing import Route
    from xo_mcp.sim.state import SimState

BASE = "/rest/v0"
JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class Call:
    state: SimState
    route: Route
    path: dict[str, str]
    query: dict[str, list[str]]
    body: Any = None

    @property
    def id(self) -> str:
        return self.path.get("id", "")

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def flag(self, name: str) -> bool:
        """XO turns output modes on for the exact lowercase string `true` only."""
        return self.arg(name) == "true"

    def bool_arg(self, name: str) -> bool:
        """Booleans that tsoa parses (case-insensitive), such as `sync` and `wait`."""
        return (self.arg(name) or "").lower() == "true"


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: AsyncIterator[bytes] | None = None


def json_reply(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, js_text(to_json(value)), JSON_TYPE, dict(headers or {}))


def text_reply(text: str, content_type: str, status: int = 200) -> Reply:
    return Reply(status, js_text(text), content_type)


def no_content() -> Reply:
    return Reply(204)


Handler = Callable[[Call], Awaitable[Reply]]
