"""Watch the workers through supervisord and bring back the ones that can come back.

supervisord restarts crashed workers itself (with its own backoff). This loop adds what it
cannot know: a worker that exited because XO's admin disabled MCP is restarted only once XO
says MCP is enabled again, and a worker supervisord gave up on (FATAL) is retried later,
with a growing delay, instead of never.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable

import httpx2

from xo_mcp.fleet.config import Fleet
from xo_mcp.fleet.instances import InstanceStatus, Registry, State
from xo_mcp.fleet.render import RuntimeLayout
from xo_mcp.fleet.supervisor import ProcessInfo, Supervisord, SupervisorError
from xo_mcp.worker.exits import EXIT_MCP_DISABLED
from xo_mcp.worker.proxy import ProxySettings
from xo_mcp.worker.xo_client import ssl_context

POLL_S = 0.25
LAST_ERROR_FILE = "last-error"


def log(message: str) -> None:
    print(f"xo-mcp-fleet: {message}", file=sys.stderr, flush=True)


class Supervision:
    def __init__(
        self,
        fleet: Fleet,
        layout: RuntimeLayout,
        supervisord: Supervisord,
        registry: Registry,
        on_restart: Callable[[str], None],
        base_proxy: ProxySettings,
    ) -> None:
        self.fleet = fleet
        self.layout = layout
        self.supervisord = supervisord
        self.registry = registry
        self._on_restart = on_restart
        self._base_proxy = base_proxy
        self._next_attempt: dict[str, float] = {}
        self._failures: dict[str, int] = {}

    async def run(self) -> None:
        """Poll until supervisord stops answering (the launcher then decides what to do)."""
        while True:
            try:
                processes = await self.supervisord.processes()
            except SupervisorError:
                if self.supervisord.exit_status is not None:
                    return
                await asyncio.sleep(POLL_S)
                continue
            for name, info in processes.items():
                if name in self.registry.statuses:
                    await self._observe(name, info)
            await asyncio.sleep(POLL_S)

    def _last_error(self, name: str) -> str | None:
        try:
            text = (self.layout.instance_dir(name) / LAST_ERROR_FILE).read_text(encoding="utf-8")
        except OSError:
            return None
        return text.strip()[:500] or None

    async def _observe(self, name: str, info: ProcessInfo) -> None:
        if info.state in ("STARTING", "RUNNING") and self.registry.note_pid(name, info.pid):
            log(f"{name}: worker restarted (pid {info.pid})")
            self._on_restart(name)
        if info.state == "EXITED" and info.exit_status == EXIT_MCP_DISABLED:
            self.registry.set_state(name, State.DISABLED, "MCP disabled by admin")
            await self._maybe_reenable(name)
        elif info.state == "FATAL":
            self.registry.set_state(name, State.FAILED, self._last_error(name) or info.spawn_error)
            await self._maybe_retry(name)
        elif info.state in ("BACKOFF", "EXITED"):
            self.registry.set_state(name, State.STARTING, self._last_error(name))
        elif info.state == "RUNNING" and self.registry[name].state in (
            State.FAILED,
            State.DISABLED,
        ):
            self.registry.set_state(name, State.STARTING)

    def _due(self, name: str, delay_s: float) -> bool:
        now = time.monotonic()
        due = self._next_attempt.setdefault(name, now + delay_s)
        if now < due:
            return False
        del self._next_attempt[name]
        return True

    async def _start(self, name: str) -> None:
        try:
            await self.supervisord.start_process(name)
        except SupervisorError as error:
            log(f"{name}: could not restart the worker: {error}")

    async def _maybe_reenable(self, name: str) -> None:
        if not self._due(name, self.fleet.supervision.disabled_poll_s):
            return
        if await self._mcp_enabled(name):
            log(f"{name}: XO enabled MCP again; starting the worker")
            self.registry.set_state(name, State.STARTING)
            await self._start(name)

    async def _maybe_retry(self, name: str) -> None:
        failures = self._failures.get(name, 0)
        delay = min(
            self.fleet.supervision.failed_retry_s * 2**failures,
            self.fleet.supervision.failed_retry_max_s,
        )
        if not self._due(name, delay):
            return
        self._failures[name] = failures + 1
        log(f"{name}: retrying the failed worker (attempt {failures + 1})")
        await self._start(name)

    def on_state_change(self, status: InstanceStatus) -> None:
        """A worker that became ready starts its failure count over."""
        if status.state is State.READY:
            self._failures.pop(status.name, None)

    async def _mcp_enabled(self, name: str) -> bool:
        """XO's kill switch, read without credentials, through the instance's proxy."""
        instance = self.fleet.instances[name]
        proxy = self._base_proxy
        if instance.proxy is not None:
            proxy = ProxySettings(
                http=instance.proxy.http or proxy.http,
                https=instance.proxy.https or proxy.https,
                no_proxy=tuple(instance.proxy.no_proxy) or proxy.no_proxy,
            )
        url = f"{instance.url}/rest/v0/mcp/status"
        verify = ssl_context(url, instance.ca_bundle, instance.tls_insecure)
        try:
            async with httpx2.AsyncClient(
                timeout=5, proxy=proxy.proxy_for(url), verify=verify, trust_env=False
            ) as http:
                response = await http.get(url, headers={"X-XO-Client": "mcp"})
        except httpx2.TransportError:
            return False
        return response.is_success
