"""Who is calling the gateway, and what they may reach."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SCOPE_KEY = "xo_mcp.caller"


@dataclass(frozen=True)
class Caller:
    """A client of the gateway: the stdio peer, or a bearer-token client of the HTTP port."""

    name: str
    instances: frozenset[str] | None = None  # None: every instance
    read_only: bool = False

    def may_use(self, instance: str) -> bool:
        return self.instances is None or instance in self.instances

    def may_call(self, tool_name: str) -> bool:
        return not (self.read_only and tool_name.endswith("_action"))

    def visible(self, instances: Iterable[str]) -> list[str]:
        return [name for name in instances if self.may_use(name)]


STDIO_CALLER = Caller("stdio")
LOCAL_CALLER = Caller("local")  # an unauthenticated HTTP port on loopback


@dataclass(frozen=True)
class ClientToken:
    caller: Caller
    token: str

    def __repr__(self) -> str:
        return f"ClientToken({self.caller.name!r})"


def authenticate(tokens: list[ClientToken], presented: str) -> Caller | None:
    """Constant-time comparison against every token (no early exit leaks which one matched)."""
    found: Caller | None = None
    for entry in tokens:
        if hmac.compare_digest(entry.token.encode(), presented.encode()):
            found = entry.caller
    return found


def caller_from_request(request: Any, default: Caller) -> Caller:
    """The caller our HTTP middleware stored in the ASGI scope; `default` on stdio."""
    if request is None:
        return default
    caller = getattr(request, "scope", {}).get(SCOPE_KEY)
    return caller if isinstance(caller, Caller) else default
