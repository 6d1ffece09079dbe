"""Proxy variables given to the container reach every worker (through the launcher and
supervisord), per-instance overrides win, and the health probe never uses the proxy.

The recording proxy listens on the host's loopback; the XO URL names a host that does not
resolve (`xo-sim.test`), so a query can only succeed through the proxy."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from container.kit import fast_healthcheck, fleet_files, wait_healthy, wait_ready
from support.clients import http_client, text
from support.fleetfile import fleet_toml, instance
from support.httpd import RecordingProxy, serve_in_thread
from support.processes import Sim, free_port

pytestmark = pytest.mark.container

FAKE_HOST = "xo-sim.test"


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    """Relays to loopback targets, FAKE_HOST (a name that does not resolve) included."""
    with serve_in_thread(RecordingProxy(aliases={FAKE_HOST: "127.0.0.1"})) as server:
        yield server


@pytest.mark.anyio
async def test_proxy_variables_pass_through_to_every_worker(
    containers: Callable[..., Any], image: Any, sim: Sim, proxy: RecordingProxy, tmp_path: Path
) -> None:
    sim_port = urlsplit(sim.url).port
    port = free_port()
    token = "/run/secrets/xo-mcp/token"
    toml = fleet_toml(
        gateway={"listen": f"127.0.0.1:{port}"},
        instances={
            "proxied": instance(f"http://{FAKE_HOST}:{sim_port}", token_file=token),
            "direct": instance(sim, token_file=token, proxy={"no_proxy": ["127.0.0.1"]}),
        },
    )
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
        for name in ("proxied", "direct"):
            result = await client.call_tool(
                "vms_query", {"instance": name, "operation": "GetVms", "fields": "id"}
            )
            assert not result.is_error, text(result)
    hosts = {urlsplit(seen.target).hostname for seen in proxy.seen}
    assert FAKE_HOST in hosts  # the proxied worker's spec, status and query all went through
    assert any("/rest/v0/vms" in path for path in proxy.paths())
    assert "127.0.0.1" not in hosts  # the direct instance's no_proxy won
    wait_healthy(container)  # the health probe asked the port directly, not the proxy
    assert not any(path.endswith("/healthz") for path in proxy.paths())
