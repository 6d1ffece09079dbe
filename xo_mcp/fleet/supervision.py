"""Watch the workers through supervisord and bring back the ones that can come back.

supervisord restarts crashed workers itself (with its own backoff). This loop adds what it
cannot know: a worker that exited because XO's admin disabled MCP is restarted only once XO
says MCP is enabled again, and a worker supervisord gave up on (FATAL) is retried later,
with a growing delay, instead of never.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx2

from xo_mcp import logs
from xo_mcp.core import InstanceStatus, Registry, RuntimeLayout, State
from xo_mcp.fleet.config import Fleet
from xo_mcp.fleet.supervisord import ProcessInfo, Supervisord, SupervisorError
from xo_mcp.outbound import ProxySettings, ssl_context
from xo_mcp.wire.exits import EXIT_MCP_DISABLED, EXIT_UNAVAILABLE, MCP_DISABLED

POLL_S = 0.25


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
            text = self.layout.last_error(name).read_text(encoding="utf-8")
        except OSError:
            return None
        return text.strip()[:500] or None

    async def _observe(self, name: str, info: ProcessInfo) -> None:
        status = self.registry[name]
        if info.state in ("STARTING", "RUNNING") and self.registry.note_pid(name, info.pid):
            logs.log(f"worker restarted (pid {info.pid})", instance=name)
            if status.state is State.READY:
                # Calls fail until the gateway's link reaches the new process.
                self.registry.set_state(name, State.STARTING)
            self._on_restart(name)
        if info.state == "EXITED" and info.exit_status == EXIT_MCP_DISABLED:
            self.registry.set_state(name, State.DISABLED, MCP_DISABLED)
        elif info.state in ("BACKOFF", "FATAL") and self._last_error(name) == MCP_DISABLED:
            # Exit 3 within startsecs is a failed start to supervisord, which would retry it
            # (and then give up): the worker's own words say why, so stop it here.
            if info.state == "BACKOFF":
                await self._stop(name)
            self.registry.set_state(name, State.DISABLED, MCP_DISABLED)
        if status.state is State.DISABLED:
            await self._while_disabled(name, info)
        elif info.state == "FATAL" or (
            # A start-up failure after startsecs is an expected exit to supervisord (no
            # immediate restart): it is ours to retry, with the growing delay.
            info.state == "EXITED" and info.exit_status == EXIT_UNAVAILABLE
        ):
            self.registry.set_state(name, State.FAILED, self._last_error(name) or info.spawn_error)
            await self._maybe_retry(name)
        elif info.state in ("BACKOFF", "EXITED"):
            # A failed instance being retried stays failed until it answers (no /readyz flap).
            state = State.FAILED if status.state is State.FAILED else State.STARTING
            self.registry.set_state(name, state, self._last_error(name))

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
            logs.log(f"could not restart the worker: {error}", level="warning", instance=name)

    async def _stop(self, name: str) -> None:
        try:
            await self.supervisord.stop_process(name)
        except SupervisorError as error:
            logs.log(f"could not stop the worker: {error}", level="warning", instance=name)

    async def _while_disabled(self, name: str, info: ProcessInfo) -> None:
        """Poll XO's kill switch (no restart loop); bring the instance back once it is off."""
        if info.state not in ("RUNNING", "EXITED", "STOPPED", "FATAL"):
            return
        if not self._due(name, self.fleet.supervision.disabled_poll_s):
            return
        if not await self._mcp_enabled(name):
            return
        logs.log("XO enabled MCP again", instance=name)
        if info.state == "RUNNING":
            self._on_restart(name)  # the link re-reads the running worker and marks it ready
            return
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
        logs.log(f"retrying the failed worker (attempt {failures + 1})", instance=name)
        await self._start(name)

    def forget(self, name: str) -> None:
        """A reload removed or restarted the instance: its schedule and failures start over."""
        self._next_attempt.pop(name, None)
        self._failures.pop(name, None)

    def on_state_change(self, status: InstanceStatus) -> None:
        """A new state starts its own schedule; a ready worker starts its failure count over."""
        self._next_attempt.pop(status.name, None)
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
