"""Helpers shared by the worker's integration tests: the real worker process behind real clients."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from support.clients import LEGACY, text
from support.processes import PYTHON, stop_process

WORKER = [PYTHON, "-m", "xo_mcp.worker"]


@asynccontextmanager
async def worker(
    env: dict[str, str],
    *,
    mode: str = LEGACY,
    stderr: Path | None = None,
    args: tuple[str, ...] = (),
    **options: Any,
) -> AsyncIterator[Client]:
    """A worker over stdio, once it has booted; its stderr goes to `stderr` (a file) if given.

    A 2026-07-28 client sends nothing until its first request, so the worker may still be
    contacting XO when the context is entered: listing the tools waits for it.
    """
    params = StdioServerParameters(command=WORKER[0], args=[*WORKER[1:], *args], env=env)
    target = stderr if stderr is not None else Path("/dev/null")
    with target.open("a", encoding="utf-8") as errlog:
        async with Client(
            stdio_client(params, errlog=errlog), mode=mode, cache=None, **options
        ) as client:
            await client.list_tools()
            yield client


def run_worker(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the worker to its exit with nothing on stdin (start-up failures)."""
    return subprocess.run(
        [*WORKER, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def call(
    client: Client, tool: str, arguments: dict[str, Any] | None = None
) -> tuple[str, bool]:
    """(text, is_error) of one tool call."""
    result = await client.call_tool(tool, arguments or {})
    return text(result), bool(result.is_error)


def tool_by_name(tools: types.ListToolsResult, name: str) -> types.Tool:
    return next(tool for tool in tools.tools if tool.name == name)


def audit_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON audit lines among everything the worker wrote on stderr."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == "xo_action":
                lines.append(entry)
    return lines


@contextmanager
def serving(env: dict[str, str], listen: str, stderr: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The worker serving HTTP, once it says where; stopped (and waited for) afterwards."""
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            [*WORKER, "--listen", listen], env=env, stdin=subprocess.DEVNULL, stderr=err
        )
    try:
        deadline = time.monotonic() + 60
        while "serving MCP on" not in stderr.read_text(encoding="utf-8", errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not serve: {stderr.read_text(encoding='utf-8')}")
            time.sleep(0.05)
        yield process
    finally:
        stop_process(process, timeout_s=10)
