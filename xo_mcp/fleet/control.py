"""The launcher's status socket, which `xo-mcp-fleet status` asks.

A unix socket at `<runtime_dir>/control/status.sock`, mode 0600 in the launcher's private
control directory; the peer's uid (SO_PEERCRED) must be the launcher's own (or root's, which
file modes do not stop anyway). Each connection gets one JSON object (`FleetStatus`), then the
socket closes: there is nothing to send, and nothing secret in the answer.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path

from xo_mcp import __version__, logs
from xo_mcp.core import Registry
from xo_mcp.fleet.status import ClientRow, FleetStatus, InstanceRow, ReloadRow
from xo_mcp.fleet.supervisord import Supervisord, SupervisorError
from xo_mcp.gateway.service import Gateway, Serving

LIVE = ("STARTING", "RUNNING", "STOPPING")
PIDS_TIMEOUT_S = 2.0


def _peer_uid(writer: asyncio.StreamWriter) -> int:
    sock: socket.socket = writer.get_extra_info("socket")
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


class StatusSocket:
    def __init__(self, path: Path, answer: Callable[[], Awaitable[FleetStatus]]) -> None:
        self.path = path
        self._answer = answer
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.path.unlink(missing_ok=True)
        old_umask = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        finally:
            os.umask(old_umask)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            uid = _peer_uid(writer)
            if uid not in (os.getuid(), 0):
                logs.log(f"refused a status request from uid {uid}", level="warning")
                return
            status = await self._answer()
            writer.write(status.model_dump_json().encode() + b"\n")
            await writer.drain()
        except (OSError, SupervisorError) as error:
            logs.log(f"could not answer a status request: {error}", level="warning")
        finally:
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self.path.unlink(missing_ok=True)


async def live_pids(supervisord: Supervisord) -> dict[str, int] | None:
    """Each running worker's pid, as supervisord says now (None: it does not answer)."""
    try:
        async with asyncio.timeout(PIDS_TIMEOUT_S):
            processes = await supervisord.processes()
    except (SupervisorError, TimeoutError):
        return None
    return {name: info.pid for name, info in processes.items() if info.state in LIVE and info.pid}


def serving_text(serving: Serving) -> str:
    if serving.stdio:
        return f"stdio (instance {serving.instance})" if serving.instance else "stdio"
    return f"http://{serving.listen}"


def fleet_status(
    registry: Registry,
    pids: dict[str, int] | None,
    gateway: Gateway,
    serving: Serving,
    started: float,
    reload: ReloadRow,
) -> FleetStatus:
    instances = []
    for name, status in registry.statuses.items():
        row = InstanceRow.model_validate(status.as_dict())
        if pids is not None:
            row.pid = pids.get(name)
        instances.append(row)
    clients: list[ClientRow] = []
    if not serving.stdio:
        sessions = gateway.sessions_by_client()
        names = sorted({*gateway.directory.policies, *sessions})
        clients = [ClientRow(name=name, sessions=sessions.get(name, 0)) for name in names]
    return FleetStatus(
        version=__version__,
        pid=os.getpid(),
        started=started,
        serving=serving_text(serving),
        ready=registry.all_ready() and bool(registry.statuses),
        instances=instances,
        clients=clients,
        reload=reload,
    )
