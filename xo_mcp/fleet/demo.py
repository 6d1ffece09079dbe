"""`xo-mcp-fleet demo`: the real fleet (launcher, supervisord, workers, gateway) on two embedded
simulated XO servers, so anyone can try xo-mcp without an XO at hand.

It serves the HTTP port wherever it runs (a terminal, `make demo > demo.log 2>&1 &`, a
container) and prints what a client needs; `--stdio` serves MCP on stdin/stdout instead. In a
container it prints what works from the host: the published port and `docker run` commands,
never paths inside the container.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

import tomli_w

from xo_mcp import __version__
from xo_mcp.asgi import serve_asgi
from xo_mcp.core import ListenAddress
from xo_mcp.fleet.config import parse_fleet
from xo_mcp.fleet.launcher import Launcher
from xo_mcp.gateway.service import Serving
from xo_mcp.sim.app import Simulator
from xo_mcp.sim.inventory import InventorySize
from xo_mcp.sim.state import SimConfig
from xo_mcp.sockets import tcp_listener

DEFAULT_LISTEN = ListenAddress("127.0.0.1", 8080)
STAGING_PASSWORD_ENV = "XO_DEMO_STAGING_PASSWORD"  # noqa: S105 (a variable name, not a value)
IMAGE = f"xo-mcp:{__version__}"
CONTAINER_ENV = "XO_MCP_DEMO_IN_CONTAINER"  # "1" in the image (Containerfile), unset elsewhere


def in_container() -> bool:
    """Whether the demo runs in xo-mcp's image, whose ports and paths the user's host does not
    share. The image says so ($XO_MCP_DEMO_IN_CONTAINER=1, set by the Containerfile); any other
    container (`/.dockerenv`: a development container, a CI runner) is where the user's shell
    is, so its loopback and paths work as on a host."""
    return os.environ.get(CONTAINER_ENV) == "1"


def _bind_loopback(port: int = 0) -> socket.socket:
    return tcp_listener("127.0.0.1", port)


def _listen_address(requested: ListenAddress | None) -> ListenAddress:
    """The demo's HTTP port: as asked, else 8080, else any free port (8080 may be taken)."""
    if requested:
        return requested
    try:
        _bind_loopback(DEFAULT_LISTEN.port).close()
    except OSError:
        with contextlib.closing(_bind_loopback()) as sock:
            return DEFAULT_LISTEN.with_port(sock.getsockname()[1])
    return DEFAULT_LISTEN


def _secret_file(directory: Path, name: str, value: str) -> Path:
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return path


def _fleet_document(
    root: Path, urls: dict[str, str], listen: ListenAddress | None
) -> tuple[dict[str, Any], str]:
    secrets_dir = root / "secrets"
    secrets_dir.mkdir(mode=0o700, exist_ok=True)
    client_token = secrets.token_urlsafe(24)
    document: dict[str, Any] = {
        "runtime_dir": str(root / "run"),
        "defaults": {"timeout_s": 30},
        "instances": {
            "production": {
                "url": urls["production"],
                "token_file": str(
                    _secret_file(secrets_dir, "production-token", "demo-production-token")
                ),
                "deny": ["DeleteVm"],
            },
            "staging": {
                "url": urls["staging"],
                "username": "demo@example.com",
                "password_env": STAGING_PASSWORD_ENV,
                "actions": True,
            },
        },
    }
    if listen is not None:
        document["gateway"] = {
            "listen": str(listen),
            "clients": [
                {
                    "name": "demo",
                    "token_file": str(_secret_file(secrets_dir, "gateway-demo", client_token)),
                }
            ],
        }
    return document, client_token


def _stdio_config(root: Path, document: dict[str, Any]) -> Path:
    """A second fleet file for stdio clients: same instances, its own runtime directory
    (two fleets never share one)."""
    stdio = {key: value for key, value in document.items() if key != "gateway"}
    stdio["runtime_dir"] = str(root / "run-stdio")
    path = root / "fleet-stdio.toml"
    path.write_text(tomli_w.dumps(stdio), encoding="utf-8")
    return path


def _fleet_command() -> str:
    """xo-mcp-fleet's absolute path: a desktop app does not share this shell's PATH (and
    `make demo` runs it from .venv/bin, which is on no PATH)."""
    beside = Path(sys.executable).parent / "xo-mcp-fleet"
    if beside.is_file():
        return str(beside)
    return shutil.which("xo-mcp-fleet") or "xo-mcp-fleet"


def _http_lines(listen: ListenAddress, client_token: str, container: bool) -> list[str]:
    """How to reach the port: this machine's URL, or the host's when in the image. The token is
    always printed: even on the container's own loopback, `docker exec` reaches the port."""
    wildcard = listen.host in ("0.0.0.0", "::")  # noqa: S104 (recognised, not bound)
    published = container and not listen.is_loopback
    base = f"http://127.0.0.1:{listen.port}" if wildcard or published else f"http://{listen}"
    url = f"{base}/mcp"
    lines = ["", "HTTP (Streamable HTTP, bearer token):"]
    if published:
        lines.append(f"  (from the host, when run with -p 127.0.0.1:{listen.port}:{listen.port})")
    elif container:
        lines += [
            f"  (inside this container only: its {listen.host} is not your host's. To reach the",
            "   port from the host, publish it on the host's loopback:",
            f"   docker run --rm -p 127.0.0.1:{listen.port}:{listen.port} {IMAGE} demo "
            f"--listen 0.0.0.0:{listen.port})",
        ]
    lines += [
        f"  fleet:        {url}",
        f"  one instance: {base}/instances/production/mcp",
        f"  token:        {client_token}",
        f"  Claude Code:  claude mcp add --transport http xo-fleet {url} "
        f'--header "Authorization: Bearer {client_token}"',
        f"  health:       curl {base}/readyz ; curl {base}/metrics",
    ]
    return lines


def _stdio_lines(stdio_config: Path, container: bool) -> list[str]:
    """A Claude Desktop entry: this machine's command and files, or `docker run -i` of the
    image (the container's paths mean nothing on the host)."""
    entry: dict[str, Any]
    if container:
        entry = {"command": "docker", "args": ["run", "-i", "--rm", IMAGE, "demo", "--stdio"]}
        heading = "stdio (Claude Desktop: a demo of its own in a container per session):"
    else:
        entry = {
            "command": _fleet_command(),
            "args": ["run", "--stdio", "--config", str(stdio_config)],
            "env": {STAGING_PASSWORD_ENV: os.environ.get(STAGING_PASSWORD_ENV, "")},
        }
        heading = "stdio (a second fleet on the same simulators, for Claude Desktop's config):"
    return ["", heading, json.dumps({"mcpServers": {"xo-fleet": entry}}, indent=2)]


def _stop_line(interactive: bool, container: bool) -> str:
    if interactive:
        return "Press Ctrl-C to stop."
    if container:
        return "Stop it with `docker stop` (or Ctrl-C where it runs with -it)."
    return f"Stop it with `kill {os.getpid()}` (SIGTERM or SIGINT)."


def instructions(
    config: Path,
    stdio_config: Path,
    listen: ListenAddress | None,
    client_token: str,
    *,
    container: bool = False,
    interactive: bool = True,
) -> str:
    """What the demo prints: how to connect a client, and how to stop it."""
    lines = [
        "",
        "xo-mcp demo: two simulated XO instances (production: read-only, staging: actions on)",
    ]
    if not container:
        lines.append(f"  fleet file: {config}")
    if listen is not None:
        lines += _http_lines(listen, client_token, container)
    lines += _stdio_lines(stdio_config, container)
    lines += ["", _stop_line(interactive, container)]
    return "\n".join(lines)


async def _demo(stdio: bool, listen: ListenAddress | None, root: Path) -> int:
    staging_password = secrets.token_urlsafe(12)
    os.environ[STAGING_PASSWORD_ENV] = staging_password
    simulators = {
        "production": Simulator(SimConfig(seed=1, tokens=("demo-production-token",))),
        "staging": Simulator(
            SimConfig(
                seed=2,
                size=InventorySize(pools=1, hosts_per_pool=3, vms_per_pool=8),
                tokens=(),
                username="demo@example.com",
                password=staging_password,
            )
        ),
    }
    sockets = {name: _bind_loopback() for name in simulators}
    urls = {name: f"http://127.0.0.1:{sock.getsockname()[1]}" for name, sock in sockets.items()}
    http_listen = None if stdio else _listen_address(listen)
    document, client_token = _fleet_document(root, urls, http_listen)
    config = root / "fleet.toml"
    config.write_text(tomli_w.dumps(document), encoding="utf-8")
    stdio_config = _stdio_config(root, document)
    text = instructions(
        config,
        stdio_config,
        http_listen,
        client_token,
        container=in_container(),
        interactive=sys.stdin is not None and sys.stdin.isatty(),
    )
    print(text, file=sys.stderr if stdio else sys.stdout, flush=True)
    fleet = parse_fleet(config.read_text(encoding="utf-8"), str(config))
    servers = [
        asyncio.ensure_future(serve_asgi(sim, sockets[name])) for name, sim in simulators.items()
    ]
    try:
        return await Launcher(fleet, Serving(stdio=stdio, listen=http_listen)).run()
    finally:
        for server in servers:
            server.cancel()
        await asyncio.gather(*servers, return_exceptions=True)


def run_demo(*, stdio: bool, listen: ListenAddress | None, runtime_dir: Path | None) -> int:
    """Run the demo until stopped; a directory it made itself (secrets included) goes with it."""
    if runtime_dir is not None:
        runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return asyncio.run(_demo(stdio, listen, runtime_dir))
    root = Path(tempfile.mkdtemp(prefix="xo-mcp-demo-"))
    try:
        return asyncio.run(_demo(stdio, listen, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
