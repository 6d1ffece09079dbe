"""The one way xo-mcp writes to stderr: a line per event, as text on a terminal or JSON lines.

Every line carries its time, level, component (launcher, gateway, supervisord, worker, audit)
and, where there is one, its instance; lines written while a call is served also carry the
calling client and the request id (bound with `bound()`, through contextvars, so code deep in a
call does not have to pass them along). Audit records are lines like any other, with
`event = "xo_action"`.

stdout is never written here: it may be the MCP stdio channel.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json", "auto"]
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
LogLevel = Literal["debug", "info", "warning", "error"]
FORMAT_ENV = "XO_MCP_LOG_FORMAT"
LEVEL_ENV = "XO_MCP_LOG_LEVEL"

_context: ContextVar[dict[str, Any] | None] = ContextVar("xo_mcp_log_context", default=None)


@dataclass
class _Settings:
    program: str = "xo-mcp"
    component: str = "worker"
    instance: str | None = None
    format: Literal["text", "json"] = "text"
    level: int = LEVELS["info"]
    stream: TextIO | None = None  # None: sys.stderr at the time of writing (tests swap it)
    extra: dict[str, Any] = field(default_factory=dict)


_settings = _Settings()


def resolve_format(requested: str | None, stream: TextIO | None = None) -> Literal["text", "json"]:
    """`auto` is text on a terminal and JSON lines anywhere else (a container, a log file)."""
    if requested in ("text", "json"):
        return requested  # type: ignore[return-value]
    stream = stream or sys.stderr
    try:
        return "text" if stream.isatty() else "json"
    except (AttributeError, ValueError):
        return "json"


def configure(
    *,
    program: str | None = None,
    component: str | None = None,
    instance: str | None = None,
    format: str | None = None,
    level: str | None = None,
    stream: TextIO | None = None,
    default_format: LogFormat = "auto",
    default_level: LogLevel = "info",
) -> None:
    """Set what every later line carries; unset arguments keep their value.

    The format and level default to $XO_MCP_LOG_FORMAT / $XO_MCP_LOG_LEVEL, which is how the
    launcher hands its choice down to supervisord's workers, then to `default_format` and
    `default_level` (the fleet file's `log_format` / `log_level`).
    """
    if program is not None:
        _settings.program = program
    if component is not None:
        _settings.component = component
    if instance is not None:
        _settings.instance = instance
    if stream is not None:
        _settings.stream = stream
    chosen = format or os.environ.get(FORMAT_ENV) or default_format
    _settings.format = resolve_format(chosen, _settings.stream)
    name = (level or os.environ.get(LEVEL_ENV) or default_level).lower()
    _settings.level = LEVELS.get(name, LEVELS[default_level])


def current_format() -> Literal["text", "json"]:
    return _settings.format


def current_level() -> str:
    return next(name for name, value in LEVELS.items() if value == _settings.level)


def enabled(level: str) -> bool:
    return LEVELS.get(level, 20) >= _settings.level


@contextlib.contextmanager
def redirected(stream: TextIO, format: Literal["text", "json"] = "json") -> Iterator[None]:
    """Write to `stream` in `format` within the block (an embedding program, or a test)."""
    saved = (_settings.stream, _settings.format)
    _settings.stream, _settings.format = stream, format
    try:
        yield
    finally:
        _settings.stream, _settings.format = saved


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add `fields` (client, request_id, …) to every line written inside the block."""
    previous = _context.get() or {}
    token = _context.set({**previous, **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def context() -> dict[str, Any]:
    return dict(_context.get() or {})


def log(
    message: str,
    *,
    level: LogLevel = "info",
    component: str | None = None,
    instance: str | None = None,
    **fields: Any,
) -> None:
    if not enabled(level):
        return
    record: dict[str, Any] = {
        "ts": timestamp(),
        "level": level,
        "component": component or _settings.component,
    }
    where = instance or _settings.instance
    if where:
        record["instance"] = where
    record["msg"] = message
    record.update(_context.get() or {})
    record.update({k: v for k, v in fields.items() if v is not None})
    write(record)


def render(record: dict[str, Any]) -> str:
    """One record as one line (no newline) in the configured format."""
    if _settings.format == "json":
        return json.dumps(record, ensure_ascii=False, default=str)
    return _text(record)


def write(record: dict[str, Any]) -> None:
    """Write one record (already holding ts, level, component, msg or event) as one line."""
    line = render(record)
    stream = _settings.stream or sys.stderr
    try:
        stream.write(line + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass  # stderr is gone: nowhere left to report to


def timestamp(now: float | None = None) -> str:
    """`now` (default: this instant) as ISO 8601 UTC with milliseconds: `…T20:57:17.002Z`."""
    now = time.time() if now is None else now
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


_TEXT_SKIPPED = ("ts", "level", "component", "instance", "msg", "event")


def _text(record: dict[str, Any]) -> str:
    """`xo-mcp-fleet: production: ready (12 tools)`, plus `key=value` for the other fields; a
    line another component wrote (relayed by the launcher) names it: `production: [worker] …`."""
    parts = [f"{_settings.program}:"]
    if record.get("level") in ("warning", "error"):
        parts.append(f"{record['level'].upper()}:")
    if record.get("instance"):
        parts.append(f"{record['instance']}:")
    component = record.get("component")
    if component and component not in (_settings.component, "audit"):
        parts.append(f"[{component}]")
    if record.get("event"):
        parts.append(str(record["event"]))
    if record.get("msg"):
        parts.append(str(record["msg"]))
    extra = [f"{k}={_text_value(v)}" for k, v in record.items() if k not in _TEXT_SKIPPED]
    return " ".join(parts + extra)


def _text_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return json.dumps(text) if (" " in text or not text) else text
