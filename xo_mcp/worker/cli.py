"""`xo-mcp`: one MCP server for one Xen Orchestra, configured like `@xen-orchestra/mcp`.

Imports are deferred: `--help` and configuration errors answer at once, and the MCP SDK
(the slowest import) loads in a thread while XO is being contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from xo_mcp import __version__, logs, telemetry
from xo_mcp.core import LAST_ERROR_FILE, ListenAddress
from xo_mcp.wire.exits import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK

if TYPE_CHECKING:
    from xo_mcp.wire.messages import WorkerStatus
    from xo_mcp.worker.boot import Booted
from xo_mcp.worker.settings import ENV_HELP, ConfigError, WorkerSettings, load_settings

EXIT_HELP = """\
exit codes:
  0  stopped normally       1  unexpected failure while serving
  2  configuration error    3  MCP disabled by XO's administrator (do not restart)
  4  could not start: XO unreachable, credentials refused or spec invalid (retry later)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xo-mcp",
        description=(
            "MCP server for one Xen Orchestra instance: tools generated from XO's OpenAPI spec, "
            "read-only unless XO_MCP_ENABLE_ACTIONS=1. A drop-in for `npx @xen-orchestra/mcp`."
        ),
        epilog=ENV_HELP + "\n" + EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--listen",
        metavar="ADDRESS",
        help="serve Streamable HTTP on unix:PATH or a loopback HOST:PORT instead of stdio",
    )
    parser.add_argument(
        "--gateway-socket",
        type=Path,
        metavar="PATH",
        help="serve the fleet gateway's private protocol on this unix socket instead of MCP "
        "(used by xo-mcp-fleet; the MCP SDK is then never loaded)",
    )
    parser.add_argument(
        "--instance",
        metavar="NAME",
        help="instance name for audit lines and tokens (same as XO_MCP_INSTANCE)",
    )
    parser.add_argument(
        "--sandbox",
        choices=("required", "warn", "off"),
        default="off",
        help="before reading secrets: become non-dumpable and enter a Landlock sandbox "
        "(required: refuse to run without Landlock; warn: carry on with a warning)",
    )
    parser.add_argument(
        "--runtime-dir",
        type=Path,
        metavar="DIR",
        help="the only directory a sandboxed worker may write (its socket lives there)",
    )
    parser.add_argument("--version", action="version", version=f"xo-mcp {__version__}")
    return parser


def _harden(mode: str, runtime_dir: Path | None) -> None:
    """Isolate the process before it touches a secret (fleet workers run sandboxed)."""
    from xo_mcp import sandbox

    if runtime_dir is not None:
        sandbox.die_with_parent()
        # Had supervisord died before the line above, we would already be an orphan (adopted
        # by init or by the launcher, a subreaper): stop rather than serve unsupervised.
        if os.getppid() in (1, _gateway_pid()):
            logs.log("supervisord is gone; exiting", level="error")
            sys.exit(EXIT_FAILURE)
    readable = [
        Path(os.environ[key])
        for key in ("XO_TOKEN_FILE", "XO_PASSWORD_FILE", "XO_CA_BUNDLE")
        if os.environ.get(key)
    ]
    logs.log(sandbox.sandbox_worker(mode, readable, runtime_dir))  # type: ignore[arg-type]


def _gateway_pid() -> int | None:
    """The fleet launcher's pid (it hosts the gateway), when run by a fleet."""
    text = os.environ.get("XO_MCP_GATEWAY_PID", "")
    return int(text) if text.isdigit() else None


def _preload_sdk() -> threading.Thread:
    """Import the MCP SDK in the background while the main thread talks to XO."""

    def load() -> None:
        import xo_mcp.worker.server
        import xo_mcp.worker.transport  # noqa: F401

    thread = threading.Thread(target=load, name="sdk-import", daemon=True)
    thread.start()
    return thread


def _note_error(runtime_dir: Path | None, message: str | None) -> None:
    """Leave the start-up error where the fleet launcher can show it (`fleet_status`)."""
    if runtime_dir is None:
        return
    path = runtime_dir / LAST_ERROR_FILE
    try:
        if message is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(message + "\n", encoding="utf-8")
    except OSError:
        pass


async def _serve(
    settings: WorkerSettings, args: argparse.Namespace, listen: ListenAddress | None
) -> int:
    from xo_mcp.wire.messages import WorkerStatus
    from xo_mcp.worker.boot import BootError, boot

    _stop_on_sigterm(stdio=args.gateway_socket is None and listen is None)
    preload = None if args.gateway_socket else _preload_sdk()
    try:
        booted = await boot(settings)
    except BootError as error:
        logs.log(str(error), level="error")
        _note_error(args.runtime_dir, str(error))
        return error.exit_code
    _note_error(args.runtime_dir, None)
    status = WorkerStatus(
        instance=settings.instance,
        url=settings.xo_url,
        api_version=booted.catalog.version or None,
        tools=len(booted.tools),
        actions=settings.enable_actions,
    )
    try:
        if args.gateway_socket is not None:
            from xo_mcp.worker.gateway_socket import GatewaySocketServer

            logs.log(f"serving the fleet gateway on {args.gateway_socket}")
            server = GatewaySocketServer(booted.runner, booted.tools, status, _gateway_pid())
            await server.serve(args.gateway_socket)
            return EXIT_OK
        assert preload is not None
        preload.join()
        return await _serve_mcp(booted, args, listen, status)
    finally:
        await booted.client.aclose()


def _stop_on_sigterm(stdio: bool) -> None:
    """SIGTERM (docker stop, supervisord) ends the worker like a closed stdin: exit 0.

    Over stdio it exits at once: the thread reading stdin cannot be interrupted, and there is
    nothing to save. Otherwise the serving task is cancelled, which stops it gracefully.
    """
    loop = asyncio.get_running_loop()
    if stdio:
        loop.add_signal_handler(signal.SIGTERM, os._exit, EXIT_OK)
        return
    task = asyncio.current_task()
    assert task is not None
    loop.add_signal_handler(signal.SIGTERM, task.cancel)


async def _serve_mcp(
    booted: Booted, args: argparse.Namespace, listen: ListenAddress | None, status: WorkerStatus
) -> int:
    from xo_mcp.wire.messages import to_json
    from xo_mcp.worker.server import WorkerServer
    from xo_mcp.worker.transport import bound_socket, describe, serve_http, serve_stdio

    server = WorkerServer(booted.runner, booted.tools).server
    if listen is None:
        await serve_stdio(server)
        return EXIT_OK
    try:
        sock = bound_socket(listen)
    except OSError as error:
        logs.log(f"cannot listen on {args.listen}: {error.strerror or error}", level="error")
        return EXIT_FAILURE
    logs.log(f"serving MCP on {describe(sock)}")
    await serve_http(server, sock, to_json(status))
    return EXIT_OK


def _listen_or_exit(text: str | None) -> ListenAddress | None:
    """Check --listen before anything else: a wrong address is a configuration error."""
    if text is None:
        return None
    try:
        listen = ListenAddress.parse(text)
    except ValueError as error:
        logs.log(f"--listen: {error}", level="error")
        sys.exit(EXIT_CONFIG)
    if not listen.is_loopback:
        logs.log(
            f"refusing to listen on {text}: the worker has no authentication. Use "
            "unix:PATH or a loopback address, or xo-mcp-fleet for an authenticated port.",
            level="error",
        )
        sys.exit(EXIT_CONFIG)
    return listen


def _settings_or_exit(runtime_dir: Path | None) -> WorkerSettings:
    try:
        return load_settings()
    except ConfigError as error:
        summary = "configuration error: " + "; ".join(error.problems)
        _note_error(runtime_dir, summary)
        if logs.current_format() == "json":  # one record (a fleet's worker, a log collector)
            logs.log(summary, level="error", problems=error.problems)
            sys.exit(EXIT_CONFIG)
        print("xo-mcp: configuration error:", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        print("run `xo-mcp --help` for every variable", file=sys.stderr)
        sys.exit(EXIT_CONFIG)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.gateway_socket is not None and args.listen is not None:
        logs.log("--gateway-socket and --listen exclude each other", level="error")
        sys.exit(EXIT_CONFIG)
    if args.instance:
        os.environ["XO_MCP_INSTANCE"] = args.instance
    # Alone, text like the official server's; in a fleet, the launcher's format (its env).
    logs.configure(
        program="xo-mcp",
        component="worker",
        instance=os.environ.get("XO_MCP_INSTANCE") or None,
        default_format="text",
    )
    listen = _listen_or_exit(args.listen)
    if args.sandbox != "off":
        from xo_mcp.sandbox import SandboxError

        try:
            _harden(args.sandbox, args.runtime_dir)
        except SandboxError as error:
            logs.log(str(error), level="error")
            _note_error(args.runtime_dir, str(error))
            sys.exit(EXIT_CONFIG)
    settings = _settings_or_exit(args.runtime_dir)
    # Traces, when an OTLP endpoint is set (in a fleet: [telemetry] otlp_endpoint).
    telemetry.configure(
        "xo-mcp", telemetry.endpoint_from(), **{"xo_mcp.instance": settings.instance}
    )
    try:
        code = asyncio.run(_serve(settings, args, listen))
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C, SIGTERM
        code = EXIT_OK
    except Exception as error:  # one clear line for the operator, not a traceback
        logs.log(f"unexpected error: {type(error).__name__}: {error}", level="error")
        _note_error(args.runtime_dir, f"unexpected error: {error}")
        code = EXIT_FAILURE
    finally:
        telemetry.shutdown()
    sys.exit(code)
