"""Proxy variables given to the container reach every worker (through the launcher and
supervisord), per-instance overrides win, and the health probe never uses the proxy.

The recording proxy listens on the host's loopback; the XO URL names a host that does not
resolve (`xo-sim.test`), so a query can only succeed through the proxy."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from container.kit import fast_healthcheck, fleet_files, wait_healthy, wait_ready
from support.clients import http_client, text
from support.processes import Sim, free_port

pytestmark = pytest.mark.container

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te"}
FAKE_HOST = "xo-sim.test"


class RecordingProxy(ThreadingHTTPServer):
    """A forward proxy for plain HTTP: records each request line, sends it to the simulator."""

    daemon_threads = True

    def __init__(self, upstream_port: int) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream_port = upstream_port
        self.requests: list[tuple[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    server: RecordingProxy

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _forward(self) -> None:
        self.server.requests.append((self.command, self.path))
        target = urlsplit(self.path)
        if target.hostname not in (FAKE_HOST, "127.0.0.1"):
            self.send_error(502, "this proxy only reaches the test simulator")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=30)
        try:
            path = target.path + (f"?{target.query}" if target.query else "")
            upstream.request(self.command, path, body=body, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
        finally:
            upstream.close()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP | {"transfer-encoding", "content-length"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward


@pytest.fixture
def proxy(sim: Sim) -> Iterator[RecordingProxy]:
    server = RecordingProxy(urlsplit(sim.url).port or 80)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.anyio
async def test_proxy_variables_pass_through_to_every_worker(
    containers: Callable[..., Any], image: Any, sim: Sim, proxy: RecordingProxy, tmp_path: Path
) -> None:
    sim_port = urlsplit(sim.url).port
    port = free_port()
    toml = f"""
[gateway]
listen = "127.0.0.1:{port}"

[instances.proxied]
url = "http://{FAKE_HOST}:{sim_port}"
token_file = "/run/secrets/xo-mcp/token"

[instances.direct]
url = "{sim.url}"
token_file = "/run/secrets/xo-mcp/token"
[instances.direct.proxy]
no_proxy = ["127.0.0.1"]
"""
    files = fleet_files(tmp_path, toml, {"token": sim.token})
    container = containers(
        "run",
        network_mode="host",
        volumes=files.volumes(),
        environment={"HTTP_PROXY": proxy.url, "http_proxy": proxy.url},
        healthcheck=fast_healthcheck(image),
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(container, url)
    async with http_client(f"{url}/mcp") as client:  # loopback, no clients: no token needed
        for instance in ("proxied", "direct"):
            result = await client.call_tool(
                "vms_query", {"instance": instance, "operation": "GetVms", "fields": "id"}
            )
            assert not result.is_error, text(result)
    hosts = {urlsplit(path).hostname for _, path in proxy.requests}
    assert FAKE_HOST in hosts  # the proxied worker's spec, status and query all went through
    assert any("/rest/v0/vms" in path for _, path in proxy.requests)
    assert "127.0.0.1" not in hosts  # the direct instance's no_proxy won
    wait_healthy(container)  # the health probe asked the port directly, not the proxy
    assert not any(path.endswith("/healthz") for _, path in proxy.requests)
