"""Who may talk to a worker's unix socket: in a fleet, the gateway's process only.

Landlock does not govern connecting to a unix socket by path, so a compromised sibling worker
could reach this worker's socket and act with its credentials. The kernel tells who connected
(SO_PEERCRED); connections from any other process are closed before a byte is read.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
from typing import Any


def peer_pid(transport: asyncio.BaseTransport) -> int | None:
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family != socket.AF_UNIX:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, _uid, _gid = struct.unpack("3i", creds)
    return int(pid)


def only_from(allowed_pid: int) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol, refusing connections from any process but `allowed_pid`."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class PeerCheckedProtocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            pid = peer_pid(transport)
            if pid != allowed_pid:
                print(f"xo-mcp: refused a connection from pid {pid}", file=sys.stderr, flush=True)
                transport.close()

    return PeerCheckedProtocol
