"""What the fleet knows about each instance: its state, and how it got there.

starting   the worker is being (re)started, or not yet answering
ready      the worker answers MCP; its tools are served
disabled   XO's administrator disabled MCP (worker exit code 3): no restart loop; the
           launcher polls XO and restarts the worker once MCP is enabled again
failed     the worker kept failing (supervisord gave up); retried with a growing delay
stopped    the fleet is shutting down
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from xo_mcp.fleet.config import Fleet


class State(StrEnum):
    STARTING = "starting"
    READY = "ready"
    DISABLED = "disabled by admin"
    FAILED = "failed"
    STOPPED = "stopped"

    @property
    def settled(self) -> bool:
        """`/readyz` waits for every instance to leave `starting`."""
        return self is not State.STARTING


@dataclass
class InstanceStatus:
    name: str
    url: str
    state: State = State.STARTING
    pid: int = 0
    restarts: int = 0
    last_error: str | None = None
    api_version: str | None = None
    tools: int = 0
    changed_at: float = field(default_factory=time.monotonic)

    def as_dict(self) -> dict[str, object]:
        return {
            "instance": self.name,
            "state": str(self.state),
            "xo_url": self.url,
            "api_version": self.api_version,
            "tools": self.tools,
            "restarts": self.restarts,
            "last_error": self.last_error,
        }


Listener = Callable[[InstanceStatus], None]


class Registry:
    """Instance states, shared by the supervision loop (processes) and the gateway (MCP)."""

    def __init__(self, fleet: Fleet) -> None:
        self.statuses = {
            name: InstanceStatus(name, inst.url) for name, inst in fleet.instances.items()
        }
        self._listeners: list[Listener] = []

    def __getitem__(self, name: str) -> InstanceStatus:
        return self.statuses[name]

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def set_state(self, name: str, state: State, error: str | None = None) -> None:
        status = self.statuses[name]
        if error is not None:
            status.last_error = error
        if status.state is state:
            return
        status.state = state
        status.changed_at = time.monotonic()
        for listener in self._listeners:
            listener(status)

    def note_pid(self, name: str, pid: int) -> bool:
        """Record the worker's pid; True when it is a new process (a restart after the first)."""
        status = self.statuses[name]
        if pid == 0 or pid == status.pid:
            return False
        restarted = status.pid != 0
        status.pid = pid
        if restarted:
            status.restarts += 1
        return restarted

    def all_settled(self) -> bool:
        return all(status.state.settled for status in self.statuses.values())
