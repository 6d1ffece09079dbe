"""The HTTP port as documented: `--listen 0.0.0.0:8080` in a container on Docker's default
bridge network, published on the host's loopback only; bearer tokens on MCP paths, probes
open. The demo fleet (embedded simulators) makes the container self-contained."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from container.kit import fast_healthcheck, logs, wait_for, wait_healthy
from support.clients import http_client, text

pytestmark = pytest.mark.container


def _published(container: Any) -> str:
    container.reload()
    binding = container.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]
    assert binding["HostIp"] == "127.0.0.1"
    return f"http://127.0.0.1:{binding['HostPort']}"


@pytest.mark.anyio
async def test_demo_on_the_http_port_with_bearer_auth(
    containers: Callable[..., Any], image: Any
) -> None:
    container = containers(
        "demo",
        "--listen",
        "0.0.0.0:8080",
        ports={"8080/tcp": ("127.0.0.1", None)},
        healthcheck=fast_healthcheck(image),
    )
    token = wait_for(
        lambda: re.search(r"token:\s+(\S+)", logs(container)), "the demo's client token"
    ).group(1)
    url = _published(container)
    wait_for(
        lambda: httpx2.get(f"{url}/readyz", timeout=5, trust_env=False).json()["ready"],
        "the demo fleet to be ready",
        timeout_s=120,
    )
    assert httpx2.get(f"{url}/healthz", timeout=5, trust_env=False).status_code == 200
    assert httpx2.post(f"{url}/mcp", json={}, timeout=5, trust_env=False).status_code == 401
    async with http_client(f"{url}/mcp", token=token) as client:
        result = await client.call_tool(
            "vms_query", {"instance": "production", "operation": "GetVms", "fields": "name_label"}
        )
    assert not result.is_error, text(result)
    assert text(result).startswith("| name_label |")
    wait_healthy(container)  # the probe found the port from PID 1's --listen
    container.stop(timeout=10)
    container.reload()
    assert container.attrs["State"]["ExitCode"] == 0


def test_the_demo_on_the_image_loopback_says_how_to_publish_it(
    containers: Callable[..., Any],
) -> None:
    """`docker run IMAGE demo`: the port is the container's own; it says how to reach it."""
    container = containers("demo")
    printed = wait_for(
        lambda: "Stop it with" in logs(container) and logs(container), "the demo's instructions"
    )
    assert "docker run --rm -p 127.0.0.1:8080:8080 xo-mcp:0.1.0 demo --listen 0.0.0.0:8080" in (
        printed
    )
    assert re.search(r"token:\s+\S+", printed)
    assert "fleet file:" not in printed  # the container's paths mean nothing on the host
    container.stop(timeout=10)
