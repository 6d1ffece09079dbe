"""`xo-mcp-fleet`: run a whole fleet of XO instances from one TOML file."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from xo_mcp import __version__, logs
from xo_mcp.core import ListenAddress, RuntimeLayout
from xo_mcp.fleet.config import (
    DEFAULT_CONFIG_PATH,
    Fleet,
    FleetError,
    load_fleet,
    serving_problems,
)

EXIT_INVALID = 2

CONFIG_HELP = f"fleet file (default: $XO_MCP_FLEET_CONFIG, else {DEFAULT_CONFIG_PATH})"
EPILOG = f"""\
commands:
  check  [CONFIG]   validate a fleet file (exit 0 and a summary, or exit 2 and every error)
  render [CONFIG]   print the supervisord configuration it would run (never a secret)
  init   [PATH]     write a commented starter fleet file (`-`: to stdout)
  run    [CONFIG]   serve the fleet: the HTTP port of [gateway].listen (or --listen), else
                    stdio; --stdio serves stdio whatever the file says; SIGHUP reloads the file
  status [CONFIG]   the running fleet: instances, clients, reloads (exit 0 all ready, 1 not
                    all ready, 2 bad fleet file, 3 no running fleet answers)
  demo              a fleet on two embedded simulated XO servers (no XO needed): the HTTP
                    port on 127.0.0.1:8080, or stdio with --stdio

CONFIG may be given as `--config PATH` too, to every command that reads it. The fleet file
defaults to $XO_MCP_FLEET_CONFIG, else {DEFAULT_CONFIG_PATH}.
"""


def _default_config() -> str:
    return os.environ.get("XO_MCP_FLEET_CONFIG", DEFAULT_CONFIG_PATH)


def _listen(text: str) -> ListenAddress:
    try:
        return ListenAddress.parse(text, allow_unix=False)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_config(parser: argparse.ArgumentParser) -> None:
    """`CMD FILE` and `CMD --config FILE` alike: people type both."""
    parser.add_argument("config", nargs="?", default=None, metavar="CONFIG", help=CONFIG_HELP)
    parser.add_argument(
        "--config", dest="config_option", default=None, metavar="PATH", help="the same, by name"
    )


def _add_logging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-format",
        choices=("auto", "text", "json"),
        help="stderr lines: text, JSON lines, or auto (text on a terminal, JSON elsewhere); "
        f"beats ${logs.FORMAT_ENV} and the fleet file's log_format",
    )
    parser.add_argument(
        "--log-level",
        choices=tuple(logs.LEVELS),
        help=f"the least level written; beats ${logs.LEVEL_ENV} and the fleet file's log_level",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xo-mcp-fleet",
        description="One MCP gateway for a fleet of Xen Orchestra instances, one worker each.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"xo-mcp-fleet {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    check = commands.add_parser("check", help="validate a fleet file")
    _add_config(check)
    render_cmd = commands.add_parser("render", help="print the supervisord configuration")
    _add_config(render_cmd)
    init = commands.add_parser("init", help="write a commented starter fleet file")
    init.add_argument(
        "path", nargs="?", default="fleet.toml", metavar="PATH", help="where (`-`: stdout)"
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    run = commands.add_parser(
        "run",
        help="serve the fleet",
        description="Serve the fleet: the HTTP port of [gateway].listen (or --listen), else "
        "MCP on stdin/stdout.",
    )
    _add_config(run)
    mode = run.add_mutually_exclusive_group()
    mode.add_argument(
        "--stdio", action="store_true", help="serve MCP on stdin/stdout, whatever the file says"
    )
    mode.add_argument(
        "--listen", type=_listen, metavar="HOST:PORT", help="serve the HTTP port here"
    )
    run.add_argument(
        "--instance", metavar="NAME", help="with stdio: serve this instance's own surface"
    )
    _add_logging(run)
    status = commands.add_parser("status", help="the running fleet, instance by instance")
    _add_config(status)
    status.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    demo = commands.add_parser(
        "demo",
        help="a fleet on embedded simulated XO servers",
        description="The real fleet on two embedded simulated XO servers: the HTTP port "
        "(127.0.0.1:8080, or a free port if it is taken) with a bearer token it prints.",
    )
    demo_mode = demo.add_mutually_exclusive_group()
    demo_mode.add_argument("--stdio", action="store_true", help="serve MCP on stdin/stdout")
    demo_mode.add_argument(
        "--listen", type=_listen, metavar="HOST:PORT", help="HTTP port (default 127.0.0.1:8080)"
    )
    demo.add_argument(
        "--runtime-dir", type=Path, default=None, help="where the demo keeps its files"
    )
    _add_logging(demo)
    return parser


def _config_path(args: argparse.Namespace) -> str | None:
    """The fleet file named positionally or by --config (both: they must agree)."""
    named: str | None = getattr(args, "config_option", None)
    if named is not None and args.config is not None and named != args.config:
        print(
            f"xo-mcp-fleet: two fleet files given ({args.config} and --config {named}): keep one",
            file=sys.stderr,
        )
        sys.exit(EXIT_INVALID)
    config: str | None = named or args.config
    return config


def _configure_logs(args: argparse.Namespace, fleet: Fleet | None) -> None:
    """Flag, then $XO_MCP_LOG_FORMAT / $XO_MCP_LOG_LEVEL, then the fleet file, then auto."""
    logs.configure(
        format=args.log_format,
        level=args.log_level,
        default_format=fleet.log_format if fleet else "auto",
        default_level=fleet.log_level if fleet else "info",
    )


def _load(path: str | None, *, check_secrets: bool = True, records: bool = False) -> Fleet:
    """The fleet file, or exit 2 listing every problem: lines for a person (`check`), one JSON
    record when `run` logs JSON (a container's log collector keeps it whole)."""
    config = path or _default_config()
    try:
        return load_fleet(config, check_secrets=check_secrets)
    except FleetError as error:
        if records and logs.current_format() == "json":
            logs.log(
                f"{config} is invalid ({len(error.problems)} problem(s)): "
                + "; ".join(error.problems),
                level="error",
                problems=error.problems,
            )
            sys.exit(EXIT_INVALID)
        for line in error.report():
            print(line, file=sys.stderr)
        sys.exit(EXIT_INVALID)


def _summary(fleet: Fleet) -> str:
    names = ", ".join(
        f"{name} ({'actions' if fleet.actions_of(name) else 'read-only'})"
        for name in fleet.instances
    )
    port = f"HTTP {fleet.gateway.listen}" if fleet.gateway.listen else "stdio"
    clients = len(fleet.gateway.clients)
    count = len(fleet.instances)
    return (
        f"ok: {count} instance(s): {names}; {port}; {clients} HTTP client(s); "
        f"sandbox {fleet.sandbox}"
    )


def _check(args: argparse.Namespace) -> int:
    fleet = _load(_config_path(args))
    print(_summary(fleet))
    from xo_mcp.fleet.denylist import unknown_entries

    for warning in unknown_entries(fleet):
        print(f"xo-mcp-fleet: warning: {warning}", file=sys.stderr)
    return 0


def _render(args: argparse.Namespace) -> int:
    import secrets

    from xo_mcp.fleet.render import render_supervisord_conf

    fleet = _load(_config_path(args), check_secrets=False)
    # A throwaway control password: the real one is made at each start and never written down.
    layout = RuntimeLayout(fleet.runtime_dir)
    print(render_supervisord_conf(fleet, layout, secrets.token_urlsafe(16)), end="")
    return 0


def _init(args: argparse.Namespace) -> int:
    from xo_mcp.fleet.starter import starter_text

    if args.path == "-":
        sys.stdout.write(starter_text())
        return 0
    path = Path(args.path)
    if path.exists() and not args.force:
        print(f"xo-mcp-fleet: {path} exists; use --force to overwrite it", file=sys.stderr)
        return 1
    try:
        path.write_text(starter_text(), encoding="utf-8")
    except OSError as error:
        reason = error.strerror or str(error)
        print(
            f"xo-mcp-fleet: cannot write {path}: {reason} "
            "(`xo-mcp-fleet init -` prints it instead)",
            file=sys.stderr,
        )
        return 1
    print(f"wrote {path}: edit the instances, then `xo-mcp-fleet check {path}`")
    return 0


def _run(args: argparse.Namespace) -> int:
    from xo_mcp import sandbox

    # First of all: until then, same-uid processes can read secrets from our environment.
    sandbox.make_non_dumpable()
    from xo_mcp.fleet.launcher import run_fleet
    from xo_mcp.gateway.service import Serving

    _configure_logs(args, None)  # flags and variables, until the file says more
    config = _config_path(args) or _default_config()
    fleet = _load(config, records=True)
    _configure_logs(args, fleet)
    if args.instance is not None and args.listen:
        print(
            "xo-mcp-fleet: --instance applies to stdio; the HTTP port serves /instances/<name>/mcp",
            file=sys.stderr,
        )
        return EXIT_INVALID
    stdio = args.stdio or (args.listen is None and fleet.gateway.listen is None)
    listen = None if stdio else (args.listen or fleet.gateway.listen)
    problems = serving_problems(fleet, listen=listen, instance=args.instance)
    for problem in problems:
        print(f"xo-mcp-fleet: {problem}", file=sys.stderr)
    if problems:
        return EXIT_INVALID
    serving = Serving(stdio=stdio, listen=listen, instance=args.instance)
    return run_fleet(fleet, serving, Path(config))


def _status(args: argparse.Namespace) -> int:
    from xo_mcp.fleet.status import status_command

    return status_command(_config_path(args) or _default_config(), args.json)


def _demo(args: argparse.Namespace) -> int:
    from xo_mcp.fleet.demo import run_demo

    # HTTP unless asked otherwise, wherever it runs: `make demo > demo.log 2>&1 &` has no
    # terminal, and stdio on an empty stdin would end at once.
    _configure_logs(args, None)
    return run_demo(stdio=args.stdio, listen=args.listen, runtime_dir=args.runtime_dir)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logs.configure(program="xo-mcp-fleet", component="launcher")
    handlers = {
        "check": _check,
        "render": _render,
        "init": _init,
        "run": _run,
        "status": _status,
        "demo": _demo,
    }
    try:
        code = handlers[args.command](args)
    except KeyboardInterrupt:
        code = 0
    sys.exit(code)
