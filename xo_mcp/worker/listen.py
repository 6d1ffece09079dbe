"""`--listen unix:PATH` or `--listen HOST:PORT`: parsed without importing the MCP SDK."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xo_mcp.sockets import is_loopback


@dataclass(frozen=True)
class Listen:
    """Where to serve: `unix:PATH` or `HOST:PORT`."""

    unix_path: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0

    @classmethod
    def parse(cls, text: str) -> Listen:
        if text.startswith("unix:"):
            path = text[len("unix:") :]
            if not path:
                raise ValueError(
                    "unix: needs a socket path, e.g. unix:/tmp/xo-mcp/production/mcp.sock"
                )
            return cls(unix_path=Path(path))
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"expected unix:PATH or HOST:PORT, got {text!r}")
        return cls(host=host.strip("[]"), port=int(port))

    @property
    def is_loopback(self) -> bool:
        return self.unix_path is not None or is_loopback(self.host)
