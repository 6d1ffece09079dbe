"""Value types every part of xo-mcp may use: instance states, the runtime layout, listen addresses.

This module imports no part of xo-mcp (fleet, gateway, wire, worker, sim): it is the floor of
the import map, so that the parts can share these types without reaching into each other.

Instance states:

starting   the worker is being (re)started, or not yet answering
ready      the worker answers; its tools are served
disabled   XO's administrator disabled MCP (worker exit code 3): no restart loop; the
           launcher polls XO and restarts the worker once MCP is enabled again
failed     the worker kept failing (supervisord gave up); retried with a growing delay
removed    the instance left the fleet file (a reload): calls for it get a clear error
stopped    the fleet is shutting down
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from xo_mcp.sockets import is_loopback

WILDCARD_HOSTS = ("0.0.0.0", "::")  # noqa: S104 (names compared against, not bound)
# The worker writes why it could not start here, in its runtime directory; the launcher reads it.
LAST_ERROR_FILE = "last-error"


class State(StrEnum):
    STARTING = "starting"
    READY = "ready"
    DISABLED = "disabled by admin"
    FAILED = "failed"
    REMOVED = "removed"
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
    since: float = field(default_factory=time.time)  # wall clock of changed_at, for operators

    def as_dict(self) -> dict[str, object]:
        return {
            "instance": self.name,
            "state": str(self.state),
            "since": self.since,
            "xo_url": self.url,
            "api_version": self.api_version,
            "tools": self.tools,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "pid": self.pid or None,
        }


Listener = Callable[[InstanceStatus], None]


class Registry:
    """Instance states, written by supervision (processes) and the gateway (its worker links)."""

    def __init__(self, urls: Mapping[str, str]) -> None:
        self.statuses = {name: InstanceStatus(name, url) for name, url in urls.items()}
        self._listeners: list[Listener] = []

    def __getitem__(self, name: str) -> InstanceStatus:
        return self.statuses[name]

    def __contains__(self, name: object) -> bool:
        return name in self.statuses

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
        status.since = time.time()
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

    def add(self, name: str, url: str) -> None:
        """An instance joined the fleet (a reload); one that left and came back starts over."""
        self.statuses[name] = InstanceStatus(name, url)

    def remove(self, names: Iterable[str]) -> None:
        for name in names:
            self.set_state(name, State.REMOVED)
            del self.statuses[name]

    def all_settled(self) -> bool:
        return all(status.state.settled for status in self.statuses.values())

    def all_ready(self) -> bool:
        return all(status.state is State.READY for status in self.statuses.values())


@dataclass(frozen=True)
class RuntimeLayout:
    """Every path the fleet writes, all under one runtime directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "supervisord.conf"

    @property
    def pidfile(self) -> Path:
        return self.root / "supervisord.pid"

    @property
    def control_socket(self) -> Path:
        return self.root / "control" / "supervisor.sock"

    @property
    def status_socket(self) -> Path:
        """Where the launcher answers `xo-mcp-fleet status`."""
        return self.root / "control" / "status.sock"

    def instance_dir(self, name: str) -> Path:
        return self.root / "instances" / name

    def worker_socket(self, name: str) -> Path:
        return self.instance_dir(name) / "worker.sock"

    def secret_socket(self, name: str) -> Path:
        return self.instance_dir(name) / "secret.sock"

    def last_error(self, name: str) -> Path:
        """The worker's own words on why it could not start, for `fleet_status`."""
        return self.instance_dir(name) / LAST_ERROR_FILE


@dataclass(frozen=True)
class ListenAddress:
    """Where to serve: `unix:PATH` or `HOST:PORT` (IPv6 hosts bracketed, port 0 = any free one).

    Parsed once, at the edge (command line or fleet file); everything inside takes this type.
    """

    host: str = "127.0.0.1"
    port: int = 0
    unix_path: Path | None = None

    @classmethod
    def parse(cls, text: str, *, allow_unix: bool = True) -> ListenAddress:
        if text.startswith("unix:"):
            if not allow_unix:
                raise ValueError(f"expected HOST:PORT such as 127.0.0.1:8080, got {text!r}")
            path = text[len("unix:") :]
            if not path:
                raise ValueError("unix: needs a socket path, e.g. unix:/tmp/xo-mcp/mcp.sock")
            return cls(unix_path=Path(path))
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            example = "unix:PATH or HOST:PORT" if allow_unix else "HOST:PORT such as 127.0.0.1:8080"
            raise ValueError(f"expected {example}, got {text!r}")
        return cls(host=host.strip("[]"), port=int(port))

    @property
    def is_loopback(self) -> bool:
        return self.unix_path is not None or is_loopback(self.host)

    @property
    def is_wildcard(self) -> bool:
        return self.unix_path is None and self.host in WILDCARD_HOSTS

    @property
    def url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def with_port(self, port: int) -> ListenAddress:
        return ListenAddress(self.host, port, self.unix_path)

    def __str__(self) -> str:
        if self.unix_path is not None:
            return f"unix:{self.unix_path}"
        return f"{self.url_host}:{self.port}"
