"""The other doors: stdio (aggregated or one instance), per-instance HTTP surfaces, and the
TypeScript SDK as a second, independent client implementation."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support.clients import ERAS, http_client, stdio_client, text, tool_names
from support.gateway_fleet import ADMIN_TOKEN, GatewayFleet
from support.npm import NpmPeers
from support.processes import PYTHON, clean_env, worker_env

pytestmark = pytest.mark.anyio
TS_CLIENT = Path(__file__).with_name("ts_client.mjs")


def _own_copy(gateway: GatewayFleet, name: str) -> Path:
    """A copy of the fleet file with its own runtime dir (two fleets cannot share one)."""
    config = gateway.fleet.config.parent / f"{name}.toml"
    runtime = gateway.fleet.config.parent / f"{name}-run"
    config.write_text(
        gateway.fleet.config.read_text().replace(str(gateway.fleet.runtime_dir), str(runtime))
    )
    return config


def _stdio_command(config: Path, *extra: str) -> list[str]:
    return [PYTHON, "-m", "xo_mcp.fleet", "run", "--stdio", "--config", str(config), *extra]


async def _wait_for_tool(client: Any, name: str) -> list[str]:
    import anyio

    with anyio.fail_after(40):
        while True:
            names = tool_names(await client.list_tools())
            if name in names:
                return names
            await anyio.sleep(0.2)


def _wire(tools: Any) -> list[dict[str, Any]]:
    return [tool.model_dump(by_alias=True, exclude_none=True) for tool in tools.tools]


async def test_an_instance_surface_is_the_workers_own(gateway: GatewayFleet) -> None:
    env = worker_env(gateway.staging, XO_MCP_ENABLE_ACTIONS="1", XO_MCP_INSTANCE="staging")
    async with stdio_client([PYTHON, "-m", "xo_mcp.worker"], env) as direct:
        native = _wire(await direct.list_tools())
    async with http_client(f"{gateway.url}/instances/staging/mcp", token=ADMIN_TOKEN) as client:
        through = _wire(await client.list_tools())
        prompt = await client.get_prompt("infrastructure-overview")
    assert through == native
    assert "get_infrastructure_summary" in prompt.messages[0].content.text  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", ERAS)
async def test_stdio_serves_the_aggregated_surface(gateway: GatewayFleet, mode: str) -> None:
    env = clean_env(STAGING_TOKEN=gateway.staging.token)
    async with stdio_client(
        _stdio_command(_own_copy(gateway, f"stdio-{mode}")), env, mode=mode
    ) as client:
        await _wait_for_tool(client, "vms_action")
        status = await client.call_tool("fleet_status", {})
        result = await client.call_tool(
            "pools_query", {"instance": "production", "operation": "GetPools"}
        )
    assert "| production |" in text(status) and "| staging |" in text(status)
    assert not result.is_error and "| --- |" in text(result)


async def test_stdio_can_serve_one_instance(gateway: GatewayFleet) -> None:
    env = clean_env(STAGING_TOKEN=gateway.staging.token)
    command = _stdio_command(_own_copy(gateway, "stdio-one"), "--instance", "production")
    async with stdio_client(command, env) as client:
        names = await _wait_for_tool(client, "vms_query")
        result = await client.call_tool("vms_query", {"operation": "GetVms", "limit": 1})
    assert "fleet_status" not in names and not any(n.endswith("_action") for n in names)
    assert not result.is_error


def _node(npm: NpmPeers, *args: str) -> dict[str, Any]:
    completed = subprocess.run(
        ["node", str(TS_CLIENT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean_env(), "NODE_PATH": str(npm.node_modules)},
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def test_the_typescript_sdk_over_http(gateway: GatewayFleet, npm: NpmPeers) -> None:
    result = _node(npm, "http", f"{gateway.url}/mcp", ADMIN_TOKEN)
    assert "fleet_status" in result["tools"] and "vms_query" in result["tools"]
    assert result["isError"] is False and "| --- |" in result["text"]


def test_the_typescript_sdk_over_stdio(gateway: GatewayFleet, npm: NpmPeers) -> None:
    config = _own_copy(gateway, "stdio-ts")
    result = _node(
        npm, "stdio", PYTHON, json.dumps(_stdio_command(config)[1:]), gateway.staging.token
    )
    assert "fleet_status" in result["tools"]
    assert result["isError"] is False
