"""Everything supervisord and the workers print, as the launcher's own log lines.

Two kinds of input, read by the launcher's event loop:

- supervisord's output (a pipe): its own log (`2026-12-04 20:57:17,002 INFO spawned: 'alpha'
  with pid 123`), translated into records in our words (component `supervisord`, the instance
  it is about, a sensible level) or silenced when it only says what is expected;
- each worker's output (a FIFO per instance, supervisord's `stdout_logfile` for that program):
  workers write JSON records (the launcher tells them to), which pass through with their
  instance set from the FIFO they came by, so a worker cannot speak for a sibling; anything
  else (a traceback) becomes one error record per burst of lines.

The FIFOs live in a directory private to the launcher; the launcher also holds a write end of
each, so that a worker's restart (supervisord closes and reopens the FIFO) never reads as EOF.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import re
import select
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from xo_mcp import logs
from xo_mcp.core import RuntimeLayout

MAX_LINE = 65536  # longer output without a newline is passed on in pieces
COMPONENT = "supervisord"
_SUPERVISORD_LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (?P<level>[A-Z]{4}) (?P<text>.*)$"
)
_LEVELS: dict[str, logs.LogLevel] = {
    "CRIT": "error",
    "ERRO": "error",
    "WARN": "warning",
    "INFO": "info",
    "DEBG": "debug",
    "TRAC": "debug",
    "BLAT": "debug",
}
Output = Callable[[str], None]


def log_dir(layout: RuntimeLayout) -> Path:
    return layout.root / "logs"


def log_pipe(layout: RuntimeLayout, name: str) -> Path:
    """The FIFO supervisord writes the `name` worker's output to (see program.conf)."""
    return log_dir(layout) / f"{name}.pipe"


# --- supervisord's words, in ours -----------------------------------------------------------

# (pattern, level or None to keep supervisord's, our message); groups: name, pid, how, why.
_Rule = tuple[re.Pattern[str], logs.LogLevel | None, str]
_RULES: list[_Rule] = [
    (re.compile(r"spawned: '(?P<name>[^']+)' with pid (?P<pid>\d+)"), "info", "worker started"),
    (
        re.compile(r"success: (?P<name>\S+) entered RUNNING state"),
        "debug",
        "worker up for supervisord's startsecs",
    ),
    (
        re.compile(r"exited: (?P<name>\S+) \((?P<how>.*); expected\)"),
        "info",
        "worker exited ({how}), as expected: the launcher takes it from there",
    ),
    (
        re.compile(r"exited: (?P<name>\S+) \((?P<how>.*); not expected\)"),
        "warning",
        "worker exited ({how}), unexpected to supervisord, which restarts it",
    ),
    (re.compile(r"stopped: (?P<name>\S+) \((?P<how>.*)\)"), "info", "worker stopped ({how})"),
    (
        re.compile(r"gave up: (?P<name>\S+) entered FATAL state, (?P<why>.*)"),
        "warning",
        "worker failed to start ({why}); the launcher retries it later",
    ),
    (re.compile(r"spawnerr: (?P<why>.*)"), "error", "cannot start a worker: {why}"),
    (
        re.compile(r"killing '?(?P<name>[^' ]+)'? \((?P<pid>\d+)\) with SIGKILL"),
        "warning",
        "worker did not stop in time: killed",
    ),
    (re.compile(r"waiting for (?P<names>.+) to (?:stop|die)"), "debug", "waiting for {names}"),
    (
        re.compile(r"received (?P<signal>SIG\w+) indicating exit request"),
        "info",
        "stopping every worker ({signal})",
    ),
    (re.compile(r"supervisord started with pid (?P<pid>\d+)"), "debug", "started"),
    # What it says at every start, and internal chatter: expected, so not worth a line.
    (re.compile(r"Set uid to user \d+ succeeded"), "debug", "running as the launcher's user"),
    (re.compile(r"RPC interface .* initialized"), "debug", "control socket ready"),
    (re.compile(r"reaped unknown pid (?P<pid>\d+)"), "debug", "reaped an unknown process"),
]
_EXIT_STATUS = re.compile(r"exit status (\d+)")


def _utc(stamp: str) -> str:
    """supervisord's local `2026-12-04 20:57:17,002` as our UTC `2026-12-04T19:57:17.002Z`."""
    moment = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").astimezone()
    return logs.timestamp(moment.timestamp())


def supervisord_record(line: str, instances: Iterable[str]) -> dict[str, Any]:
    """One line of supervisord's output as a record (level `debug` for what is routine)."""
    found = _SUPERVISORD_LINE.match(line)
    if found is None:  # not its log format: supervisord (or Python) failing, say so as is
        return _record(logs.timestamp(), "error", line.rstrip(), None)
    text = found.group("text")
    level: logs.LogLevel = _LEVELS.get(found.group("level"), "info")
    for pattern, rule_level, words in _RULES:
        matched = pattern.match(text)
        if matched is None:
            continue
        groups = matched.groupdict()
        name = groups.get("name")
        record = _record(
            _utc(found.group("time")),
            rule_level or level,
            words.format(**groups),
            name if name in set(instances) else None,
        )
        if groups.get("pid"):
            record["pid"] = int(groups["pid"])
        status = _EXIT_STATUS.search(groups.get("how") or "")
        if status:
            record["exit_status"] = int(status.group(1))
        return record
    return _record(_utc(found.group("time")), level, text, None)


def _record(ts: str, level: logs.LogLevel, msg: str, instance: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {"ts": ts, "level": level, "component": COMPONENT}
    if instance:
        record["instance"] = instance
    record["msg"] = msg
    return record


# --- the workers' words -------------------------------------------------------------------


def _supervisord(lines: list[str], names: list[str]) -> list[dict[str, Any]]:
    return [supervisord_record(line, names) for line in lines if line.strip()]


def _as_record(line: str) -> dict[str, Any] | None:
    """A line in our format (JSON with ts, level, component), or None."""
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or not {"ts", "level", "component"} <= record.keys():
        return None
    return record


def worker_records(lines: list[str], instance: str) -> list[dict[str, Any]]:
    """Records pass through (their instance is the FIFO's); other lines in a row (a
    traceback, a message from before logging was set up) become one error record."""
    records: list[dict[str, Any]] = []
    loose: list[str] = []

    def flush() -> None:
        if loose:
            text = "\n".join(loose)
            records.append(
                {
                    "ts": logs.timestamp(),
                    "level": "error",
                    "component": "worker",
                    "instance": instance,
                    "msg": text,
                }
            )
            loose.clear()

    for line in lines:
        record = _as_record(line)
        if record is None:
            if line.strip():
                loose.append(line.rstrip())
            continue
        flush()
        record["instance"] = instance
        records.append(record)
    flush()
    return records


# --- reading and writing ------------------------------------------------------------------


def write_stderr(line: str) -> None:
    """Write a whole line to fd 2, even when it is non-blocking (a tty shared with stdio)."""
    view = memoryview((line + "\n").encode("utf-8", errors="replace"))
    while view:
        try:
            view = view[os.write(2, view) :]
        except BlockingIOError:
            select.select([], [2], [], 1.0)
        except OSError:
            return  # stderr is gone: nowhere left to report to


class _Source:
    """One input: its fd, the partial line read so far, and what to make of whole lines."""

    def __init__(self, fd: int, parse: Callable[[list[str]], list[dict[str, Any]]]) -> None:
        self.fd = fd
        self.parse = parse
        self.partial = b""
        self.keep_open: int | None = None  # a FIFO's own write end


def make_pipes(layout: RuntimeLayout, names: Iterable[str]) -> dict[str, tuple[int, int]]:
    """A fresh FIFO per worker in a launcher-private directory: (read fd, write fd) each."""
    directory = log_dir(layout)
    directory.mkdir(mode=0o700, exist_ok=True)
    directory.chmod(0o700)
    pipes: dict[str, tuple[int, int]] = {}
    for name in names:
        path = log_pipe(layout, name)
        path.unlink(missing_ok=True)  # a previous run's
        os.mkfifo(path, 0o600)
        read_end = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        pipes[name] = (read_end, os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    return pipes


class Relay:
    """Copies supervisord's and the workers' output to stderr as the launcher's records."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        supervisord_fd: int,
        pipes: dict[str, tuple[int, int]],
        output: Output = write_stderr,
    ) -> None:
        self._loop = loop
        self._output = output
        self._names: list[str] = []  # instances supervisord's lines may name
        parse = functools.partial(_supervisord, names=self._names)
        self._sources: list[_Source] = []
        self._listen(_Source(supervisord_fd, parse))
        for name, ends in pipes.items():
            self.add(name, ends)

    def add(self, name: str, ends: tuple[int, int]) -> None:
        """Relay a worker's FIFO (`make_pipes`): at start, or for an instance added later."""
        source = _Source(ends[0], functools.partial(worker_records, instance=name))
        source.keep_open = ends[1]
        self._names.append(name)
        self._listen(source)

    def _listen(self, source: _Source) -> None:
        os.set_blocking(source.fd, False)
        self._loop.add_reader(source.fd, self._copy, source)
        self._sources.append(source)

    def _copy(self, source: _Source) -> bool:
        """Relay what is there; False once nothing more can come (or comes right now)."""
        try:
            data = os.read(source.fd, 65536)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:
            self._loop.remove_reader(source.fd)
            return False
        whole, newline, source.partial = (source.partial + data).rpartition(b"\n")
        lines = whole.decode("utf-8", errors="replace").split("\n") if newline else []
        if len(source.partial) > MAX_LINE:  # no newline in sight: do not hold on to it
            lines.append(source.partial.decode("utf-8", errors="replace"))
            source.partial = b""
        self._emit(source.parse(lines))
        return True

    def _emit(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            if logs.enabled(str(record.get("level", "info"))):
                self._output(logs.render(record))

    def close(self) -> None:
        """After supervisord exited: relay what is left, then let go."""
        for source in self._sources:
            if source.fd < 0:
                continue
            self._loop.remove_reader(source.fd)
            while self._copy(source):
                pass
            if source.partial:
                self._emit(source.parse([source.partial.decode("utf-8", errors="replace")]))
            for fd in (source.fd, source.keep_open):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            source.fd = -1
