"""Clients learn that a worker restarted (and see its surface) without reconnecting."""

from __future__ import annotations

import os
import signal
from typing import Any

import anyio
import mcp_types as types
import pytest
from support.clients import LEGACY, MODERN, http_client, instances_of, stdio_client, text
from support.gateway_fleet import ADMIN_TOKEN, GatewayFleet
from support.pids import worker_pid
from support.processes import PYTHON, clean_env

pytestmark = pytest.mark.anyio


def _kill_worker(gateway: GatewayFleet, instance: str) -> None:
    os.kill(worker_pid(gateway.fleet.runtime_dir, instance), signal.SIGKILL)


async def test_legacy_clients_get_tools_list_changed(gateway: GatewayFleet) -> None:
    changed = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    async with http_client(
        f"{gateway.url}/mcp", token=ADMIN_TOKEN, mode=LEGACY, message_handler=on_message
    ) as client:
        await client.list_tools()
        _kill_worker(gateway, "staging")
        with anyio.fail_after(20):
            await changed.wait()
        result = await client.call_tool("vms_query", {"instance": "staging", "operation": "GetVms"})
    assert not result.is_error, text(result)


async def test_2026_clients_get_a_subscription_event(gateway: GatewayFleet) -> None:
    async with http_client(f"{gateway.url}/mcp", token=ADMIN_TOKEN, mode=MODERN) as client:
        async with client.listen(tools_list_changed=True) as subscription:
            _kill_worker(gateway, "production")
            with anyio.fail_after(20):
                async for _event in subscription:
                    break
        tools = await client.list_tools()
    assert any(tool.name == "vms_query" for tool in tools.tools)


def _every_instance(tools: types.ListToolsResult) -> bool:
    for tool in tools.tools:
        if tool.name == "vms_query":
            return len(instances_of(tool, tools.tools)) == 3
    return False


async def test_stdio_clients_get_tools_list_changed(gateway: GatewayFleet) -> None:
    notices: list[float] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            notices.append(anyio.current_time())

    env = clean_env(STAGING_TOKEN=gateway.staging.token)
    command = [
        PYTHON,
        "-m",
        "xo_mcp.fleet",
        "run",
        "--stdio",
        "--config",
        str(gateway.fleet.config),
    ]
    # A second fleet on the same file would share its runtime dir: give it its own.
    config = gateway.fleet.config.parent / "stdio-fleet.toml"
    runtime = gateway.fleet.config.parent / "stdio-run"
    config.write_text(
        gateway.fleet.config.read_text().replace(str(gateway.fleet.runtime_dir), str(runtime))
    )
    command[-1] = str(config)
    async with stdio_client(command, env, mode=LEGACY, message_handler=on_message) as client:
        with anyio.fail_after(30):
            while not _every_instance(await client.list_tools()):
                await anyio.sleep(0.2)
        await anyio.sleep(0.5)
        before = len(notices)
        os.kill(worker_pid(runtime, "production"), signal.SIGKILL)
        with anyio.fail_after(20):
            while len(notices) == before:
                await anyio.sleep(0.05)
