"""Who may call the gateway, and what each client may see and do.

A `ClientPolicy` is one `[[gateway.clients]]` entry as the gateway uses it (the launcher builds
it from the fleet file and hands it in); a `Caller` is the policy plus the identity a request
was authenticated as. Policies apply alike to tools/list and tools/call, on every surface.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field

from xo_mcp.wire.messages import ClientIdentity


@dataclass(frozen=True)
class ClientLimits:
    """Per-client limits on the HTTP port (None: no limit of that kind)."""

    max_sessions: int = 100  # open handshake-era sessions on the port, per surface
    session_idle_s: float = 1800.0
    max_pending_confirmations: int = 100  # per instance
    requests_per_minute: int | None = None


@dataclass(frozen=True)
class ClientPolicy:
    name: str
    instances: frozenset[str] | None = None  # None: every instance
    read_only: bool = False
    tools: tuple[str, ...] = ()  # globs of tool names or operationIds; empty: every tool
    deny_tools: tuple[str, ...] = ()
    limits: ClientLimits = field(default_factory=ClientLimits)

    def may_use(self, instance: str) -> bool:
        return self.instances is None or instance in self.instances

    def visible(self, instances: Iterable[str]) -> list[str]:
        return [name for name in instances if self.may_use(name)]

    def may_call(self, tool_name: str) -> bool:
        """Whether the tool itself is offered (its operations are checked apart)."""
        if self.read_only and tool_name.endswith("_action"):
            return False
        if _matches(self.deny_tools, tool_name):
            return False
        return not self.tools or _matches(self.tools, tool_name) or self._names_operations()

    def may_run(self, tool_name: str, operation: str | None) -> bool:
        """Whether this tool with this operation (None: a tool without operations) may run."""
        if not self.may_call(tool_name):
            return False
        if operation is not None and _matches(self.deny_tools, operation):
            return False
        if not self.tools or _matches(self.tools, tool_name):
            return True
        return operation is not None and _matches(self.tools, operation)

    def _names_operations(self) -> bool:
        """An allow-list of operationIds keeps the tools that hold them (filtered later)."""
        return any(not pattern.endswith(("_query", "_action")) for pattern in self.tools)


def _matches(patterns: tuple[str, ...], name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


@dataclass(frozen=True)
class Caller:
    policy: ClientPolicy
    identity: ClientIdentity

    @property
    def name(self) -> str:
        return self.policy.name


STDIO_POLICY = ClientPolicy("stdio")
LOCAL_POLICY = ClientPolicy("local")  # an unauthenticated HTTP port on loopback
STDIO_CALLER = Caller(STDIO_POLICY, ClientIdentity(name="stdio"))
