"""What the reliability tests share: figures for docs/reliability.md, /metrics, process
resources from /proc, simulators on a fixed port, and timed tool calls.

Figures are printed (run pytest with `-s` to see them) and, when XO_MCP_FIGURES names a file,
appended to it as JSON lines: that file is what the table in docs/reliability.md is made from.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from support.clients import http_client, text
from support.pids import PROC, kib
from support.processes import Sim, start_sim, wait_until_serving

FIGURES_ENV = "XO_MCP_FIGURES"


def figure(name: str, value: float | int | str, unit: str = "", **context: Any) -> None:
    """Publish one measured figure (printed, and kept in $XO_MCP_FIGURES when set)."""
    shown = f"{value:.3f}" if isinstance(value, float) else str(value)
    extra = " ".join(f"{key}={item}" for key, item in context.items())
    print(f"FIGURE {name} = {shown}{unit} {extra}".rstrip())
    target = os.environ.get(FIGURES_ENV)
    if target:
        record = {"name": name, "value": value, "unit": unit, **context}
        with Path(target).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


def load_average() -> float:
    return os.getloadavg()[0]


# --- /metrics ------------------------------------------------------------------------------


def metric(url: str, name: str, instance: str) -> float:
    """One sample of the fleet's Prometheus text, by metric name and instance label."""
    body = httpx2.get(f"{url}/metrics", timeout=10).text
    prefix = f'{name}{{instance="{instance}"}} '
    for line in body.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    raise LookupError(f"{name} for {instance} not in /metrics")


def restarts(url: str, instance: str) -> int:
    return int(metric(url, "xo_mcp_instance_restarts_total", instance))


# --- processes -----------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    found = kib(PROC / str(pid) / "status", "VmRSS")
    if found is None:
        raise LookupError(f"no VmRSS for pid {pid}")
    return found


def fd_count(pid: int) -> int:
    return len(os.listdir(PROC / str(pid) / "fd"))


# --- simulators ----------------------------------------------------------------------------


def sim_on(port: int, *args: str) -> Sim:
    """A simulator on a fixed port (so a fleet pointed at it sees XO die and come back)."""
    return wait_until_serving(start_sim(*args, "--listen", f"127.0.0.1:{port}"))


# --- tool calls ----------------------------------------------------------------------------


@dataclass
class Timed:
    seconds: float
    result: types.CallToolResult

    @property
    def text(self) -> str:
        return text(self.result)

    @property
    def is_error(self) -> bool:
        return bool(self.result.is_error)


async def timed_call(client: Client, tool: str, arguments: dict[str, Any]) -> Timed:
    started = time.monotonic()
    result = await client.call_tool(tool, arguments)
    return Timed(time.monotonic() - started, result)


@dataclass
class Tally:
    """Calls a background client made, and every one that did not succeed."""

    calls: int = 0
    failures: list[str] = field(default_factory=list)


@asynccontextmanager
async def keep_calling(
    url: str,
    tool: str,
    arguments: dict[str, Any],
    *,
    token: str | None = None,
    clients: int = 1,
) -> AsyncIterator[Tally]:
    """Clients calling `tool` back to back while the body runs (a sibling's view of a fault)."""
    tally = Tally()
    stop = anyio.Event()

    async def loop() -> None:
        async with http_client(url, token=token) as client:
            while not stop.is_set():
                try:
                    result = await client.call_tool(tool, arguments)
                except Exception as error:  # a protocol failure is a failure too
                    tally.failures.append(repr(error))
                    continue
                tally.calls += 1
                if result.is_error:
                    tally.failures.append(text(result))

    async with anyio.create_task_group() as group:
        for _ in range(clients):
            group.start_soon(loop)
        try:
            yield tally
        finally:
            stop.set()
            # The current calls finish; one that hangs must not hang the test.
            group.cancel_scope.deadline = anyio.current_time() + 60


# --- raw HTTP ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    status: int
    headers: dict[str, str]
    body: str


def raw_request(
    url: str,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> Raw:
    """One HTTP request sent as written: no path normalisation, no header clean-up."""
    parts = httpx2.URL(url)
    connection = http.client.HTTPConnection(parts.host, parts.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        payload = response.read().decode("utf-8", errors="replace")
        found = {key.lower(): value for key, value in response.getheaders()}
        return Raw(response.status, found, payload)
    finally:
        connection.close()
