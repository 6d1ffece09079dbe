"""The image's HEALTHCHECK: is the fleet in this container alive? (exit 0 yes, 1 no)

Runs without a shell (exec form) as the container's user, standard library only, and works in
both ways the image serves:

- HTTP port (`run --listen HOST:PORT`, or `[gateway].listen` in the fleet file): GET /healthz on
  that port, from inside the container (0.0.0.0 and :: are asked on loopback). Proxy variables
  are ignored: the probe never leaves the container.
- stdio (`run --stdio`, the default command, or `demo` on a pipe): there is no port to ask, so
  the probe checks that the fleet's supervisord is alive (a live, not zombie, child of the
  fleet process). Workers may be legitimately down (an XO's kill switch), so they do not make
  the container unhealthy; /readyz and the fleet_status tool report them.
- a single worker as the entrypoint (`--entrypoint /opt/xo-mcp/bin/xo-mcp`, the drop-in for the
  official server): alive while it runs.

The fleet process is PID 1, or PID 1's child when an init (`docker run --init`) runs first.
It reads /proc/PID/cmdline (world-readable even for non-dumpable processes) and the fleet file.
"""

from __future__ import annotations

import http.client
import os
import sys
import tomllib
from pathlib import Path

DEFAULT_CONFIG = "/etc/xo-mcp/fleet.toml"
COMMANDS = ("run", "demo", "check", "render", "init")
INITS = ("docker-init", "tini", "dumb-init", "catatonit")
TIMEOUT_S = 4.0


def command_line(pid: int | str = 1) -> list[str]:
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _option(args: list[str], name: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def listen_address(argv: list[str], environ: dict[str, str]) -> str | None:
    """The HTTP address PID 1 serves, or None when it serves stdio (or it cannot be told)."""
    commands = [arg for arg in argv if arg in COMMANDS]
    if not commands:
        return None
    args = argv[argv.index(commands[0]) + 1 :]
    if "--stdio" in args:
        return None
    listen = _option(args, "--listen")
    if listen is not None or commands[0] != "run":
        return listen
    config = _option(args, "--config") or environ.get("XO_MCP_FLEET_CONFIG") or DEFAULT_CONFIG
    try:
        document = tomllib.loads(Path(config).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    gateway = document.get("gateway")
    value = gateway.get("listen") if isinstance(gateway, dict) else None
    return value if isinstance(value, str) else None


def probe_address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    return host, int(port)


def check_http(listen: str) -> str | None:
    """None when /healthz answers 200, else why not."""
    host, port = probe_address(listen)
    connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S)
    try:
        connection.request("GET", "/healthz")
        status = connection.getresponse().status
    except OSError as error:
        return f"GET http://{host}:{port}/healthz failed: {error}"
    finally:
        connection.close()
    return None if status == 200 else f"GET http://{host}:{port}/healthz answered {status}"


def _stat(pid: str) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def children(parent: int) -> list[tuple[int, str, list[str]]]:
    """(pid, state, argv) of every child of `parent`."""
    found = []
    for path in Path("/proc").iterdir():
        if not path.name.isdigit():
            continue
        info = _stat(path.name)
        if info is None or info[1] != parent:
            continue
        try:
            found.append((int(path.name), info[0], command_line(path.name)))
        except OSError:
            continue
    return found


def main_process() -> tuple[int, list[str]]:
    """The process the image runs: PID 1, or the child of an init wrapper."""
    argv = command_line(1)
    if argv and Path(argv[0]).name in INITS:
        for pid, _, child_argv in children(1):
            return pid, child_argv
    return 1, argv


def check_supervisord(parent: int) -> str | None:
    """None when `parent` has a live supervisord child, else why not."""
    for _, state, argv in children(parent):
        if any("supervisor" in arg for arg in argv):
            return None if state not in ("Z", "X") else "supervisord is a zombie"
    return f"the fleet process (pid {parent}) has no supervisord child"


def _is(argv: list[str], program: str, module: str) -> bool:
    return any(Path(arg).name == program or arg == module for arg in argv[:3])


def diagnose(environ: dict[str, str]) -> str | None:
    pid, argv = main_process()
    if _is(argv, "xo-mcp", "xo_mcp.worker"):
        return None  # a single worker on stdio: alive while it runs
    if not _is(argv, "xo-mcp-fleet", "xo_mcp.fleet"):
        return f"the main process is not xo-mcp-fleet: {' '.join(argv)[:200]}"
    if not any(arg in ("run", "demo") for arg in argv):
        return None  # check/render/init: one-shot commands, alive while they run
    listen = listen_address(argv, environ)
    if listen is not None:
        return check_http(listen)
    return check_supervisord(pid)


def main() -> int:
    try:
        problem = diagnose(dict(os.environ))
    except Exception as error:  # a probe must answer, never crash with a traceback
        problem = f"health probe failed: {error!r}"
    if problem:
        print(f"unhealthy: {problem}")
        return 1
    print("healthy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
