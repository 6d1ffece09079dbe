"""In-process stand-ins for unit tests: a clock to move by hand, an XO that records requests and
answers them from a function, the worker's runner behind the confirmation flow, and a capture
of the log lines (audit lines included) written meanwhile."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import mcp_types as types

from xo_mcp import logs
from xo_mcp.front.confirmations import (
    ConfirmationFlow,
    ConfirmStore,
    MemoryConfirmStore,
    ToolAnswer,
)
from xo_mcp.wire.messages import Action, ClientIdentity
from xo_mcp.worker.calls import Outcome, ProgressFn, ToolRunner
from xo_mcp.worker.openapi import ApiCatalog
from xo_mcp.worker.server import LOCAL_CLIENT, answer_of
from xo_mcp.worker.settings import WorkerSettings
from xo_mcp.worker.tools import ToolSpec, build_tools
from xo_mcp.worker.xo_client import XoResponse


class Clock:
    """A clock that stands still until a test moves `now`."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Request = tuple[str, str, dict[str, str] | None, Any]  # method, path, query, body
Answer = Callable[[str, str, dict[str, str] | None, Any], XoResponse | Exception]


class FakeXo:
    """Stands in for XoClient: records requests and answers them from a function (an
    exception it returns is raised)."""

    def __init__(self, answer: Answer, settings: WorkerSettings) -> None:
        self.settings = settings
        self.answer = answer
        self.calls: list[Request] = []

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        timeout: float | None = None,
    ) -> XoResponse:
        self.calls.append((method, path, query, body))
        result = self.answer(method, path, query, body)
        if isinstance(result, Exception):
            raise result
        return result


class Confirming:
    """The worker's runner behind the confirmation flow, as the standalone server drives it for
    a client that cannot elicit (the model gets the token, then sends it back)."""

    def __init__(self, runner: ToolRunner, store: ConfirmStore | None = None) -> None:
        self.runner = runner
        self.store = store if store is not None else MemoryConfirmStore()
        self.flow = ConfirmationFlow(self.store)

    async def run(
        self,
        name: str,
        arguments: dict[str, Any] | None,
        *,
        client: ClientIdentity = LOCAL_CLIENT,
        progress: ProgressFn | None = None,
    ) -> Outcome:
        async def run_tool(args: dict[str, Any], confirmed: Action | None) -> ToolAnswer:
            outcome = await self.runner.run(
                name, args, client=client, confirmed=confirmed, progress=progress
            )
            return answer_of(outcome)

        if not isinstance(arguments, dict | None):  # MCP never delivers these; the runner copes
            return await self.runner.run(name, arguments, client=client, progress=progress)
        params = types.CallToolRequestParams(name=name, arguments=arguments)
        result, answer = await self.flow.call(
            None, client, self.runner.instance, params, dict(arguments or {}), run_tool
        )
        assert isinstance(result, types.CallToolResult)
        text = "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))
        disabled = answer.mcp_disabled if answer is not None else False
        return Outcome(text, bool(result.is_error), disabled)


def tool_runner(
    xo: Any,
    catalog: ApiCatalog,
    tools: list[ToolSpec] | None = None,
    *,
    store: ConfirmStore | None = None,
) -> Confirming:
    """The worker's runner on `xo` (a fake, or a real client), behind the confirmation flow."""
    runner = ToolRunner(xo, catalog, tools if tools is not None else build_tools(catalog))
    return Confirming(runner, store)


class LogLines(io.StringIO):
    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.getvalue().splitlines()]

    def audit(self) -> list[dict[str, Any]]:
        return [r for r in self.records() if r.get("event") == "xo_action"]


@contextlib.contextmanager
def captured_logs() -> Iterator[LogLines]:
    """Every log line written in the block, as JSON records."""
    lines = LogLines()
    with logs.redirected(lines, "json"):
        yield lines
