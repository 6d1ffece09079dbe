"""supervisord as the launcher's child: start it, ask it about workers, stop it.

Its control channel is a unix socket in the runtime directory, protected by a random password
only the launcher knows (the rendered file holds its SHA-1). supervisord's output goes to
stderr: stdout belongs to the MCP stdio channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from supervisor.xmlrpc import SupervisorTransport

from xo_mcp.core import RuntimeLayout
from xo_mcp.fleet.render import CONTROL_USER

STOP_GRACE_S = 8.0
# supervisord dies with the launcher (SIGTERM: it stops the workers first), even on SIGKILL,
# and does not start at all if the launcher is already gone.
_BOOTSTRAP = """\
import ctypes, os, signal
ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)
if os.getppid() != {parent}:
    raise SystemExit("xo-mcp-fleet: the launcher is gone; not starting supervisord")
from supervisor.supervisord import main
main()
"""


@dataclass(frozen=True)
class ProcessInfo:
    name: str
    state: str  # STOPPED, STARTING, RUNNING, BACKOFF, STOPPING, EXITED, FATAL, UNKNOWN
    pid: int
    exit_status: int
    spawn_error: str


class SupervisorError(Exception):
    pass


class Supervisord:
    def __init__(self, layout: RuntimeLayout, password: str) -> None:
        self.layout = layout
        self._password = password
        self.process: subprocess.Popen[bytes] | None = None
        self.exit_status: int | None = None
        self._terminated = False

    def __repr__(self) -> str:
        return f"Supervisord({self.layout.root})"

    def start(self, env: Mapping[str, str]) -> int:
        """Start supervisord; returns the read end of the pipe carrying its and the workers'
        output, which the launcher copies to its stderr.

        A pipe, not our stderr itself: supervisord reopens /dev/stderr, which fails on a socket
        (journald) and, on a file opened without O_APPEND (`2>file`), writes over our lines.
        Call from the main thread: supervisord dies with the thread that started it.
        """
        code = _BOOTSTRAP.format(parent=os.getpid())
        command = [sys.executable, "-c", code, "--configuration", str(self.layout.config)]
        read_end, write_end = os.pipe()
        try:
            self.process = subprocess.Popen(
                command,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=write_end,  # nothing of supervisord may reach the MCP stdio channel
                stderr=write_end,
                close_fds=True,
                start_new_session=False,
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        return read_end

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def _proxy(self) -> Any:
        transport = SupervisorTransport(
            CONTROL_USER, self._password, f"unix://{self.layout.control_socket}"
        )
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._proxy().supervisor, method)(*args)
        except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError) as error:
            raise SupervisorError(f"supervisord {method} failed: {error}") from None

    async def call(self, method: str, *args: Any) -> Any:
        return await asyncio.to_thread(self._call, method, *args)

    async def wait_ready(self, timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.exit_status is not None:
                raise SupervisorError(f"supervisord exited with status {self.exit_status}")
            try:
                state = await self.call("getState")
            except SupervisorError:
                await asyncio.sleep(0.1)
                continue
            if state.get("statename") == "RUNNING":
                return
            await asyncio.sleep(0.1)
        raise SupervisorError(f"supervisord did not answer within {timeout_s:g}s")

    async def processes(self) -> dict[str, ProcessInfo]:
        infos = await self.call("getAllProcessInfo")
        return {
            info["name"]: ProcessInfo(
                info["name"],
                info["statename"],
                int(info["pid"]),
                int(info["exitstatus"]),
                str(info.get("spawnerr", "")),
            )
            for info in infos
        }

    async def start_process(self, name: str) -> None:
        await self.call("startProcess", name, False)

    async def stop_process(self, name: str) -> None:
        await self.call("stopProcess", name, True)

    # --- reload: programs come and go while the others keep running ---------------------

    async def reload_config(self) -> None:
        """Re-read the rendered file. No process is touched: the groups that changed are added,
        removed or restarted one by one (the launcher knows which)."""
        await self.call("reloadConfig")

    async def stop_group(self, name: str) -> None:
        """Stop the worker and wait until it is gone (a worker that is not running is fine)."""
        await self.call("stopProcessGroup", name, True)

    async def remove_group(self, name: str) -> None:
        await self.stop_group(name)
        await self.call("removeProcessGroup", name)

    async def add_group(self, name: str) -> None:
        """Start a program of the re-read file (autostart: it starts at once)."""
        await self.call("addProcessGroup", name)

    def signal(self, signum: int) -> None:
        if self.process is not None and self.exit_status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signum)

    def terminate(self) -> None:
        """Ask supervisord to stop every worker and exit (once: it logs each request)."""
        if not self._terminated:
            self._terminated = True
            self.signal(signal.SIGTERM)

    async def stop(self) -> None:
        """SIGTERM (supervisord stops every worker), then SIGKILL after the grace period."""
        self.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        while self.exit_status is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.exit_status is None:
            self.signal(signal.SIGKILL)
