"""`xo-mcp-fleet status`: the running fleet, as its launcher sees it.

The launcher answers on `<runtime_dir>/control/status.sock` (mode 0600 in a 0700 directory:
its own uid only) with one JSON object, `FleetStatus`. This command finds the socket through the
fleet file's `runtime_dir`, prints a compact table (or, with --json, the object) and exits:

    0  every instance is ready
    1  the fleet answers, but not every instance is ready
    2  the fleet file cannot be read, or names no usable runtime_dir
    3  no running fleet answers on the socket

Only `runtime_dir` is read from the fleet file: a file being edited (invalid for now) still
finds its fleet, which reports its own last reload.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import time
import tomllib
from pathlib import Path

from pydantic import BaseModel, ValidationError

from xo_mcp.core import RuntimeLayout
from xo_mcp.fleet.config import DEFAULT_RUNTIME_DIR, FleetError, read_fleet_text

EXIT_READY = 0
EXIT_NOT_READY = 1
EXIT_BAD_CONFIG = 2
EXIT_NO_FLEET = 3
TIMEOUT_S = 5.0
MAX_ANSWER = 4 * 1024 * 1024
ERROR_WIDTH = 60


class InstanceRow(BaseModel):
    instance: str
    state: str
    since: float  # Unix time of the last state change
    xo_url: str
    api_version: str | None = None
    tools: int = 0
    restarts: int = 0
    last_error: str | None = None
    pid: int | None = None  # the worker's, while it runs


class ClientRow(BaseModel):
    name: str
    sessions: int  # open HTTP sessions, over every surface


class ReloadRow(BaseModel):
    config: str | None  # None: this fleet does not reload (the demo)
    watch: bool
    poll_s: float
    reloads: int
    failures: int
    last_success: float
    last_failure: float | None = None
    problems: list[str] = []  # the last attempt's, as `check` prints them; empty when it applied

    @classmethod
    def never(cls, started: float) -> ReloadRow:
        """A fleet without a file to reload (the demo)."""
        return cls(config=None, watch=False, poll_s=0, reloads=0, failures=0, last_success=started)


class FleetStatus(BaseModel):
    version: str
    pid: int
    started: float
    serving: str  # "stdio", "stdio (instance NAME)" or "http://HOST:PORT"
    ready: bool
    instances: list[InstanceRow]
    clients: list[ClientRow]
    reload: ReloadRow


class NoFleet(Exception):
    """Nobody answers on the socket; the message says what to check."""


def runtime_dir_of(config: str) -> Path:
    """The fleet file's runtime_dir (its default when unset); FleetError when it cannot tell."""
    text = read_fleet_text(config)
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as error:
        raise FleetError(config, [f"{config}: not valid TOML: {error}"]) from None
    value = data.get("runtime_dir", DEFAULT_RUNTIME_DIR)
    if not isinstance(value, str) or not value.startswith("/"):
        raise FleetError(config, [f"{config}: runtime_dir must be an absolute path"])
    return Path(value)


def ask(path: Path, timeout_s: float = TIMEOUT_S) -> FleetStatus:
    """The launcher's answer on its status socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect(str(path))
            data = _read_all(sock)
        except (FileNotFoundError, ConnectionRefusedError):
            raise NoFleet(
                f"no running fleet answers on {path} (is `xo-mcp-fleet run` running with this "
                "fleet file?)"
            ) from None
        except PermissionError:
            raise NoFleet(
                f"{path}: permission denied (ask as the fleet's own user, e.g. `docker exec` "
                "without -u)"
            ) from None
        except TimeoutError:
            raise NoFleet(f"the fleet did not answer on {path} within {timeout_s:g}s") from None
        except OSError as error:
            raise NoFleet(f"cannot ask the fleet on {path}: {error.strerror}") from None
    try:
        return FleetStatus.model_validate_json(data)
    except ValidationError:
        raise NoFleet(f"the answer on {path} is not a fleet status") from None


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    size = 0
    while size <= MAX_ANSWER:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


# --- the table ---------------------------------------------------------------------------------


def _age(seconds: float) -> str:
    days, rest = divmod(max(0, int(seconds)), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _when(stamp: float, now: float) -> str:
    local = time.localtime(stamp)
    shown = time.strftime("%H:%M:%S", local)
    if time.strftime("%Y-%m-%d", local) != time.strftime("%Y-%m-%d", time.localtime(now)):
        shown = time.strftime("%Y-%m-%d %H:%M", local)
    return f"{shown} ({_age(now - stamp)} ago)"


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _one_line(text: str | None) -> str:
    if not text:
        return "-"
    flat = " ".join(text.split())
    return flat if len(flat) <= ERROR_WIDTH else flat[: ERROR_WIDTH - 1] + "…"


def _reload_lines(reload: ReloadRow, now: float) -> list[str]:
    if reload.config is None:
        return ["config: not reloadable (demo)"]
    watch = f"watched every {reload.poll_s:g}s" if reload.watch else "not watched (SIGHUP reloads)"
    line = (
        f"config {reload.config}: {watch}; {reload.reloads} reload(s), applied "
        f"{_when(reload.last_success, now)}"
    )
    if not reload.failures:
        return [line]
    line += f"; {reload.failures} refused"
    if not reload.problems or reload.last_failure is None:
        return [line]
    return [line, f"last reload refused {_when(reload.last_failure, now)}:", *reload.problems]


def table(status: FleetStatus, now: float | None = None) -> str:
    now = time.time() if now is None else now
    ready = sum(row.state == "ready" for row in status.instances)
    lines = [
        f"fleet: pid {status.pid}, up {_age(now - status.started)}, {status.serving}, "
        f"xo-mcp {status.version}; {ready} of {len(status.instances)} instance(s) ready",
        *_reload_lines(status.reload, now),
        "",
    ]
    rows = [["INSTANCE", "STATE", "SINCE", "RESTARTS", "PID", "XO API", "TOOLS", "LAST ERROR"]]
    rows += [
        [
            row.instance,
            row.state,
            _when(row.since, now),
            str(row.restarts),
            str(row.pid or "-"),
            row.api_version or "-",
            str(row.tools),
            _one_line(row.last_error),
        ]
        for row in status.instances
    ]
    lines += _columns(rows)
    if status.clients:
        lines += [
            "",
            *_columns(
                [["CLIENT", "SESSIONS"]] + [[c.name, str(c.sessions)] for c in status.clients]
            ),
        ]
    return "\n".join(lines)


def status_command(config: str, as_json: bool) -> int:
    try:
        runtime = runtime_dir_of(config)
    except FleetError as error:
        for line in error.report():
            print(line, file=sys.stderr)
        return EXIT_BAD_CONFIG
    try:
        status = ask(RuntimeLayout(runtime).status_socket)
    except NoFleet as error:
        print(f"xo-mcp-fleet: {error}", file=sys.stderr)
        return EXIT_NO_FLEET
    with contextlib.suppress(BrokenPipeError):
        print(status.model_dump_json() if as_json else table(status))
    return EXIT_READY if status.ready else EXIT_NOT_READY
