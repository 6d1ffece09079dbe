"""The image's health probe (scripts/healthcheck.py): how it tells the HTTP port from stdio,
and its answers, run on the host (no Docker needed). In the image it is exercised by every
`wait_healthy` of the container tests."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from container.kit import REPO
from support.httpd import serve_in_thread
from support.processes import free_port

SCRIPT = REPO / "scripts" / "healthcheck.py"
FLEET = ["/opt/xo-mcp/bin/python", "/opt/xo-mcp/bin/xo-mcp-fleet"]


@pytest.fixture(scope="module")
def probe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("healthcheck", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--stdio"], None),
        (["run", "--listen", "0.0.0.0:8080"], "0.0.0.0:8080"),
        (["run", "--listen=127.0.0.1:9000"], "127.0.0.1:9000"),
        (["demo"], None),
        (["demo", "--listen", "0.0.0.0:8080"], "0.0.0.0:8080"),
        (["demo", "--stdio"], None),
        (["--version"], None),
    ],
)
def test_reads_the_mode_from_the_command_line(
    probe: ModuleType, args: list[str], expected: str | None
) -> None:
    assert probe.listen_address([*FLEET, *args], {}) == expected


def test_reads_the_port_from_the_fleet_file(probe: ModuleType, tmp_path: Path) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text('[gateway]\nlisten = "[::]:8443"\n')
    assert probe.listen_address([*FLEET, "run", "--config", str(config)], {}) == "[::]:8443"
    env = {"XO_MCP_FLEET_CONFIG": str(config)}
    assert probe.listen_address([*FLEET, "run"], env) == "[::]:8443"
    assert probe.listen_address([*FLEET, "run", "--stdio"], env) is None
    config.write_text("[instances.a]\n")
    assert probe.listen_address([*FLEET, "run"], env) is None  # no port: stdio
    assert probe.listen_address([*FLEET, "run"], {"XO_MCP_FLEET_CONFIG": "/nonexistent"}) is None


def test_asks_wildcard_addresses_on_loopback(probe: ModuleType) -> None:
    assert probe.probe_address("0.0.0.0:8080") == ("127.0.0.1", 8080)
    assert probe.probe_address("[::]:8080") == ("::1", 8080)
    assert probe.probe_address("10.1.2.3:80") == ("10.1.2.3", 80)


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" and self.server.ok else 503)  # type: ignore[attr-defined]
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), _Health)
    server.ok = True  # type: ignore[attr-defined]
    with serve_in_thread(server):
        yield server


def test_http_answers(probe: ModuleType, health_server: HTTPServer) -> None:
    listen = f"0.0.0.0:{health_server.server_address[1]}"
    assert probe.check_http(listen) is None
    health_server.ok = False  # type: ignore[attr-defined]
    assert "answered 503" in probe.check_http(listen)
    assert "failed" in probe.check_http(f"127.0.0.1:{free_port()}")


def test_ignores_proxy_variables(
    probe: ModuleType, health_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")
    assert probe.check_http(f"127.0.0.1:{health_server.server_address[1]}") is None


def test_is_unhealthy_where_pid_1_is_not_the_fleet() -> None:
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(SCRIPT)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert done.stdout.startswith("unhealthy: the main process is not xo-mcp-fleet")
