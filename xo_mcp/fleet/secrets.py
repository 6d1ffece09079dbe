"""Secrets given as environment variables: taken out of the environment before anything starts,
kept in the (non-dumpable) launcher, and handed to their own worker only.

Each such worker gets a unix socket in its runtime directory. Landlock cannot stop a sibling
from connecting to it, so the launcher checks the peer's pid (SO_PEERCRED, set by the kernel)
against the pid supervisord reports for that instance before answering.

supervisord may report no pid for the instance at that moment: it is stopping everything (it
answers SHUTDOWN_STATE, or has already reaped the worker that asked), or it is busy between a
worker's states. A missing pid is asked again for a short while; only another pid is refused at
once (a sibling asking). While the fleet stops, a refusal is expected and not worth a warning.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path

from xo_mcp import logs
from xo_mcp.core import RuntimeLayout
from xo_mcp.fleet.config import Fleet
from xo_mcp.secretfile import read_secret_file

PidOf = Callable[[str], Awaitable[int | None]]
PID_WAIT_S = 3.0  # how long a missing pid is asked again (the worker waits 5 s per attempt)
PID_POLL_S = 0.05


def _peer_pid(writer: asyncio.StreamWriter) -> int:
    sock: socket.socket = writer.get_extra_info("socket")
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, _uid, _gid = struct.unpack("3i", creds)
    return int(pid)


def _take(environ: MutableMapping[str, str], variable: str) -> str | None:
    """Pop `variable`; from the real environment, also wipe the original copy of its value.

    Popping only drops the pointer: the bytes stay in the block the kernel shows as
    /proc/PID/environ (to root, or to anyone if we were dumpable). Overwrite them first.
    """
    if environ is os.environ:
        libc = ctypes.CDLL(None)
        libc.getenv.restype = ctypes.c_void_p
        address = libc.getenv(variable.encode())
        if address:
            ctypes.memset(address, ord("x"), len(ctypes.string_at(address)))
    return environ.pop(variable, None)


def take_env_values(fleet: Fleet, environ: MutableMapping[str, str]) -> dict[str, str]:
    """Pop every variable the fleet names (`*_env`), once each: two instances may share one."""
    names = {instance.secret[1].env for instance in fleet.instances.values()}
    names |= {client.token_env for client in fleet.gateway.clients}
    if fleet.gateway.state is not None:
        names.add(fleet.gateway.state.password_env)
    values = {name: _take(environ, name) for name in sorted(n for n in names if n)}
    return {name: value.strip() for name, value in values.items() if value}


def env_secrets(fleet: Fleet, values: dict[str, str]) -> dict[str, str]:
    """Instance name → its secret, for the instances that take it from a variable."""
    secrets: dict[str, str] = {}
    for name, instance in fleet.instances.items():
        variable = instance.secret[1].env
        if variable is not None and variable in values:
            secrets[name] = values[variable]
    return secrets


def client_tokens(fleet: Fleet, values: dict[str, str]) -> dict[str, str]:
    """Bearer tokens of the HTTP port's clients, from their files or their variables."""
    tokens: dict[str, str] = {}
    for client in fleet.gateway.clients:
        if client.token_file is not None:
            tokens[client.name] = read_secret_file(client.token_file)
        elif client.token_env is not None:
            tokens[client.name] = values.get(client.token_env, "")
    return tokens


def state_password(fleet: Fleet, values: dict[str, str]) -> str | None:
    """The shared state's password (Redis AUTH), from its file or its variable, if any."""
    state = fleet.gateway.state
    if state is None:
        return None
    if state.password_file is not None:
        return read_secret_file(state.password_file)
    if state.password_env is not None:
        return values.get(state.password_env)
    return None


def state_key(fleet: Fleet) -> bytes | None:
    """The key every replica seals requestState with (its file's content, at least 32 bytes)."""
    path = fleet.gateway.state_key_file
    if path is None:
        return None
    key = read_secret_file(path).encode()
    if len(key) < 32:
        raise ValueError(
            f"{path}: a state key needs at least 32 bytes (e.g. `openssl rand -hex 32`)"
        )
    return key


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SecretBroker:
    def __init__(
        self,
        secrets: dict[str, str],
        layout: RuntimeLayout,
        pid_of: PidOf,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self._secrets = secrets
        self._layout = layout
        self._pid_of = pid_of
        self._stopping = stopping
        self._servers: dict[str, asyncio.AbstractServer] = {}

    def __repr__(self) -> str:
        return f"SecretBroker(instances={sorted(self._secrets)})"

    async def start(self) -> None:
        await self.update(self._secrets)

    async def update(self, secrets: dict[str, str]) -> None:
        """Serve exactly these instances' secrets (a reload adds and removes instances)."""
        self._secrets = dict(secrets)
        for name in [name for name in self._servers if name not in secrets]:
            await self._close(name)
        for name in secrets:
            if name not in self._servers:
                self._servers[name] = await self._listen(name)

    async def _listen(self, name: str) -> asyncio.AbstractServer:
        path = self._layout.secret_socket(name)
        path.unlink(missing_ok=True)
        old_umask = os.umask(0o177)
        try:
            handler = functools.partial(self._serve, name)
            return await asyncio.start_unix_server(handler, path=str(path))
        finally:
            os.umask(old_umask)

    async def _serve(
        self, name: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            peer = _peer_pid(writer)
            expected = await self._worker_pid(name, peer)
            secret = self._secrets.get(name)
            if secret is None or peer != expected:
                self._refused(name, peer, expected)
                return
            writer.write(secret.encode())
            await writer.drain()
        finally:
            writer.close()

    async def _worker_pid(self, name: str, peer: int) -> int | None:
        """supervisord's pid for `name`; asked again while it reports none, for as long as
        the peer lives and the fleet is not stopping."""
        deadline = time.monotonic() + PID_WAIT_S
        while True:
            expected = await self._pid_of(name)
            if expected is not None or self._stopping() or not _alive(peer):
                return expected
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(PID_POLL_S)

    def _refused(self, name: str, peer: int, expected: int | None) -> None:
        if expected is None and (self._stopping() or not _alive(peer)):
            logs.log(
                f"did not hand the {name} secret to pid {peer}: the fleet is stopping",
                level="debug",
                instance=name,
            )
            return
        logs.log(
            f"refused the {name} secret to pid {peer} (the {name} worker is pid {expected})",
            level="warning",
            instance=name,
        )

    async def _close(self, name: str) -> None:
        server = self._servers.pop(name)
        server.close()
        await server.wait_closed()
        Path(self._layout.secret_socket(name)).unlink(missing_ok=True)

    async def close(self) -> None:
        for name in list(self._servers):
            await self._close(name)
