"""Reap every child and re-parented orphan, so the launcher can be PID 1 without zombies."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable


class Reaper:
    def __init__(self) -> None:
        self._watchers: dict[int, Callable[[int], None]] = {}

    def watch(self, pid: int, on_exit: Callable[[int], None]) -> None:
        """Call `on_exit(exit_code)` when `pid` is reaped (negative code = killed by a signal)."""
        self._watchers[pid] = on_exit

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            callback = self._watchers.pop(pid, None)
            if callback is not None:
                callback(os.waitstatus_to_exitcode(status))

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_signal_handler(signal.SIGCHLD, self.reap)

    def uninstall(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.remove_signal_handler(signal.SIGCHLD)
