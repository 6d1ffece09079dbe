"""`xo-mcp-sim`: a simulated Xen Orchestra REST API on a local port."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
import sys
from pathlib import Path

from xo_mcp.core import ListenAddress
from xo_mcp.sim.faults import Fault, parse_fault
from xo_mcp.sim.inventory import InventorySize
from xo_mcp.sim.state import DEFAULT_TOKEN, SimConfig
from xo_mcp.sockets import tcp_listener

EPILOG = """\
examples:
  xo-mcp-sim                                   # http://127.0.0.1:9000, token "sim-token"
  xo-mcp-sim --listen 127.0.0.1:0 --seed 7     # a free port, another inventory
  xo-mcp-sim --username admin@example.com --password secret
  xo-mcp-sim --fault 'route=GET /vms*,latency_ms=500' --fault 'error_rate=0.1'
  xo-mcp-sim --spec swagger.json               # serve XO's real spec instead of the generated one

query it:
  curl -b authenticationToken=sim-token 'http://127.0.0.1:9000/rest/v0/vms?fields=name_label,power_state&markdown=true'

runtime switches (simulator only):
  curl -X PUT -d '{"enabled": false}' http://127.0.0.1:9000/_sim/mcp     # XO's MCP kill switch
  curl -X PUT -d '[{"route": "GET /vms*", "stall": true}]' http://127.0.0.1:9000/_sim/faults
"""


def _listen(text: str) -> ListenAddress:
    try:
        return ListenAddress.parse(text, allow_unix=False)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _fault(text: str) -> Fault:
    try:
        return parse_fault(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xo-mcp-sim",
        description="Serve a simulated Xen Orchestra REST API (/rest/v0) with a seeded inventory.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--listen",
        type=_listen,
        default=("127.0.0.1", 9000),
        metavar="HOST:PORT",
        help="address to listen on; port 0 picks a free one (default 127.0.0.1:9000)",
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="inventory seed: same seed, same inventory"
    )
    size = parser.add_argument_group("inventory size")
    defaults = InventorySize()
    size.add_argument("--pools", type=_positive, default=defaults.pools)
    size.add_argument("--hosts-per-pool", type=_positive, default=defaults.hosts_per_pool)
    size.add_argument(
        "--vms-per-pool",
        "--vms",
        dest="vms_per_pool",
        type=_positive,
        default=defaults.vms_per_pool,
    )
    size.add_argument("--templates-per-pool", type=_positive, default=defaults.templates_per_pool)
    size.add_argument("--snapshots", type=_positive, default=defaults.snapshots)
    size.add_argument("--srs-per-pool", type=_positive, default=defaults.srs_per_pool)
    size.add_argument("--networks-per-pool", type=_positive, default=defaults.networks_per_pool)
    size.add_argument("--messages", type=_positive, default=defaults.messages)
    size.add_argument("--backup-jobs", type=_positive, default=defaults.backup_jobs)
    auth = parser.add_argument_group("credentials")
    auth.add_argument(
        "--token",
        action="append",
        dest="tokens",
        metavar="TOKEN",
        help=f"accepted authentication token, repeatable (default {DEFAULT_TOKEN!r})",
    )
    auth.add_argument("--no-token", action="store_true", help="accept no token at all")
    auth.add_argument("--username", help="accepted Basic-auth user")
    auth.add_argument("--password", help="accepted Basic-auth password")
    behaviour = parser.add_argument_group("behaviour")
    behaviour.add_argument(
        "--mcp-disabled",
        action="store_true",
        help="start with XO's MCP kill switch on ([mcp] enabled = false)",
    )
    behaviour.add_argument(
        "--spec",
        type=Path,
        metavar="FILE",
        help="serve this OpenAPI document instead of the generated one",
    )
    behaviour.add_argument(
        "--action-seconds",
        type=float,
        default=0.2,
        help="how long an action's task stays pending (default 0.2)",
    )
    behaviour.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="RULE",
        help="fault rule: route=GLOB,latency_ms=N,error_rate=P,malformed_rate=P,"
        "drop_rate=P,stall=true (repeatable)",
    )
    return parser


def _config(args: argparse.Namespace) -> SimConfig:
    if (args.username is None) != (args.password is None):
        raise SystemExit("xo-mcp-sim: --username and --password go together")
    if args.spec is not None and not args.spec.is_file():
        raise SystemExit(f"xo-mcp-sim: --spec {args.spec}: no such file")
    tokens: tuple[str, ...] = () if args.no_token else tuple(args.tokens or (DEFAULT_TOKEN,))
    size = InventorySize(
        pools=args.pools,
        hosts_per_pool=args.hosts_per_pool,
        vms_per_pool=args.vms_per_pool,
        templates_per_pool=args.templates_per_pool,
        snapshots=args.snapshots,
        srs_per_pool=args.srs_per_pool,
        networks_per_pool=args.networks_per_pool,
        messages=args.messages,
        backup_jobs=args.backup_jobs,
    )
    return SimConfig(
        seed=args.seed,
        size=size,
        tokens=tokens,
        username=args.username,
        password=args.password,
        mcp_enabled=not args.mcp_disabled,
        spec_file=args.spec,
        action_seconds=args.action_seconds,
        faults=tuple(args.fault),
    )


def bind(host: str, port: int) -> socket.socket:
    sock = tcp_listener(host, port)
    sock.set_inheritable(True)
    return sock


def _not_a_simulated_drop(record: logging.LogRecord) -> bool:
    # A dropped connection is a fault the user asked for, not a failure worth a traceback.
    from xo_mcp.sim.app import ConnectionDropped

    return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


async def serve(config: SimConfig, sock: socket.socket) -> None:
    import uvicorn

    from xo_mcp.sim.app import Simulator

    logging.getLogger("uvicorn.error").addFilter(_not_a_simulated_drop)
    app = Simulator(config)
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=1
        )
    )
    await server.serve(sockets=[sock])


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    config = _config(args)
    listen: ListenAddress = args.listen
    if not listen.is_loopback:
        print(f"xo-mcp-sim: warning: listening on {listen.host}, beyond loopback", file=sys.stderr)
    try:
        sock = bind(listen.host, listen.port)
    except OSError as error:
        raise SystemExit(f"xo-mcp-sim: cannot listen on {listen}: {error.strerror}") from None
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    print(f"xo-mcp-sim: listening on http://{shown}:{bound_port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, sock))
