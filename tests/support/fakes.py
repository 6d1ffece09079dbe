"""In-process stand-ins for unit tests: a clock to move by hand, an audit stream that keeps
nothing, and an XO that records requests and answers them from a function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TextIO

from xo_mcp.worker.audit import AuditLog
from xo_mcp.worker.calls import ToolRunner
from xo_mcp.worker.openapi import ApiCatalog
from xo_mcp.worker.settings import WorkerSettings
from xo_mcp.worker.tools import ToolSpec, build_tools
from xo_mcp.worker.xo_client import XoResponse


class Clock:
    """A monotonic clock that stands still until a test moves `now`."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sink:
    """A text stream that drops what it is given (audit lines nobody reads)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


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


def tool_runner(
    xo: Any,
    catalog: ApiCatalog,
    tools: list[ToolSpec] | None = None,
    *,
    instance: str | None = None,
    audit: TextIO | Sink | None = None,
    **options: Any,
) -> ToolRunner:
    """The worker's runner on `xo` (a fake, or a real client), its audit lines written to
    `audit` (dropped by default) as `instance` (the client's own by default)."""
    return ToolRunner(
        xo,
        catalog,
        tools if tools is not None else build_tools(catalog),
        audit=AuditLog(
            instance if instance is not None else xo.settings.instance,
            stream=audit if audit is not None else Sink(),  # type: ignore[arg-type]
        ),
        **options,
    )
