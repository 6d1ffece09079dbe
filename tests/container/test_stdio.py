"""`docker run -i`: the image as an MCP stdio server for a real client (the Python SDK), as
Claude Desktop or Claude Code run it. The container shares the host's network, so its workers
reach the simulator on the host's loopback."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from container.kit import HARDENED_CLI, assert_instances_list_the_vms, fleet_files, unique_name
from support.clients import ERAS, instances_of, stdio_client, text, tool_names
from support.fleetfile import fleet_toml, instance
from support.processes import Sim, clean_env
from support.rpc import INITIALIZED, initialize, request, send_line

pytestmark = pytest.mark.container

TOKEN_ENV = "XO_BETA_TOKEN"


def two_instances(sim: Sim) -> str:
    return fleet_toml(
        sandbox="required",
        instances={
            "alpha": instance(sim, token_file="/run/secrets/xo-mcp/alpha-token"),
            "beta": instance(sim, token_env=TOKEN_ENV),
        },
    )


async def tools_once_ready(client: Any, timeout_s: float = 120) -> Any:
    """The gateway answers at once and announces workers' tools as they come up
    (notifications/tools/list_changed): wait until fleet_status has every instance ready."""
    deadline = time.monotonic() + timeout_s
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        status = await client.call_tool("fleet_status", {})
        states = {e["instance"]: e["state"] for e in status.structured_content["instances"]}
        if states and all(state == "ready" for state in states.values()):
            return await client.list_tools()
        await anyio.sleep(0.25)
    raise AssertionError(f"instances not ready within {timeout_s}s: {states}")


def docker_run(name: str, image: Any, files: Any, *args: str) -> list[str]:
    return [
        "docker",
        "run",
        "-i",
        "--rm",
        "--name",
        name,
        "--network",
        "host",
        *HARDENED_CLI,
        *files.volume_flags(),
        "-e",
        TOKEN_ENV,  # the value comes from the client's environment, never from argv
        image.id,
        *args,
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_a_real_client_lists_tools_and_gets_answers(
    image: Any, sim: Sim, tmp_path: Path, cli_names: list[str], mode: str
) -> None:
    files = fleet_files(tmp_path, two_instances(sim), {"alpha-token": sim.token})
    name = unique_name()
    cli_names.append(name)
    command = docker_run(name, image, files)
    async with stdio_client(command, clean_env(**{TOKEN_ENV: sim.token}), mode=mode) as client:
        tools = await tools_once_ready(client)
        assert {"vms_query", "fleet_status", "check_connection"} <= set(tool_names(tools))
        assert not any(name.endswith("_action") for name in tool_names(tools))
        await assert_instances_list_the_vms(client, sim, ("alpha", "beta"))


def test_stdout_carries_protocol_bytes_only(
    image: Any, sim: Sim, tmp_path: Path, cli_names: list[str]
) -> None:
    """Every byte on stdout is a JSON-RPC message; supervisord's and the workers' logs go to
    stderr; closing stdin stops the container with exit code 0."""
    files = fleet_files(tmp_path, two_instances(sim), {"alpha-token": sim.token})
    name = unique_name()
    cli_names.append(name)
    process = subprocess.Popen(
        docker_run(name, image, files),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(**{TOKEN_ENV: sim.token}),
    )
    send_line(process, initialize(1, "raw-test", version="2025-06-18", client_version="1"))
    assert process.stdout is not None
    first = json.loads(process.stdout.readline())
    assert first["id"] == 1 and "serverInfo" in first["result"]
    send_line(process, INITIALIZED)
    send_line(process, request(2, "tools/list"))
    deadline = time.monotonic() + 120
    lines = [first]
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        assert line, "stdout closed before the tools/list answer"
        message = json.loads(line)  # anything but JSON-RPC fails here
        lines.append(message)
        if message.get("id") == 2:
            break
    rest, stderr = process.communicate(timeout=60)  # closes stdin: the end of the session
    for line in rest.splitlines():
        lines.append(json.loads(line))
    assert all(message.get("jsonrpc") == "2.0" for message in lines)
    assert any(message.get("id") == 2 and message["result"]["tools"] for message in lines)
    assert process.returncode == 0, stderr.decode(errors="replace")
    log = stderr.decode(errors="replace")
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(
        r["component"] == "supervisord"
        and r.get("instance") == "alpha"
        and r["msg"] == "worker started"
        for r in records
    )
    assert "Landlock" in log
    assert sim.token not in log


@pytest.mark.anyio
async def test_demo_runs_a_fleet_on_embedded_simulators(image: Any, cli_names: list[str]) -> None:
    """`docker run -i --rm IMAGE demo --stdio`: two simulated XO instances inside the container."""
    name = unique_name()
    cli_names.append(name)
    command = ["docker", "run", "-i", "--rm", "--name", name, "--network", "none"]
    command += [*HARDENED_CLI, image.id, "demo", "--stdio"]
    async with stdio_client(command, clean_env()) as client:
        tools = (await tools_once_ready(client)).tools
        vms_query = next(tool for tool in tools if tool.name == "vms_query")
        assert instances_of(vms_query, tools) == ["production", "staging"]
        result = await client.call_tool(
            "vms_query", {"instance": "staging", "operation": "GetVms", "fields": "name_label"}
        )
        assert not result.is_error, text(result)
        assert len(text(result).splitlines()) > 2
