"""The official `@xen-orchestra/mcp` 1.4.2, pointed at the simulator, behaves as against XO.

It boots (kill-switch probe, spec download), lists its tools, and its query and utility tools
return the simulator's data; disabled by the kill switch it refuses to start.
"""

from __future__ import annotations

import subprocess

import pytest
from support.clients import stdio_client, text, tool_names
from support.npm import OFFICIAL_READ_ONLY_TOOLS, NpmPeers
from support.processes import Sim, clean_env, start_sim

pytestmark = [pytest.mark.anyio, pytest.mark.npm]

UTILITY_TOOLS = ["check_connection", "search_documentation", "get_infrastructure_summary"]


def official_env(sim: Sim) -> dict[str, str]:
    return clean_env(XO_URL=sim.url, XO_TOKEN=sim.token)


def table_rows(markdown: str) -> list[list[str]]:
    """The cells of a markdown table, header and separator left out."""
    lines = markdown.strip().split("\n")[2:]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


async def test_it_starts_lists_its_tools_and_reads_the_simulator(
    npm: NpmPeers, fresh_sim: Sim
) -> None:
    async with stdio_client(npm.official_server, official_env(fresh_sim)) as client:
        names = tool_names(await client.list_tools())
        assert names[-3:] == UTILITY_TOOLS
        assert {"vms_query", "hosts_query", "pools_query", "tasks_query"} <= set(names)
        assert not [name for name in names if name.endswith("_action")]

        result = await client.call_tool("vms_query", {"operation": "GetVms"})
        assert not result.is_error, text(result)
        vms = fresh_sim.rest("/vms", fields="name_label,power_state,uuid")
        assert table_rows(text(result)) == [
            [vm["name_label"], vm["power_state"], vm["uuid"]] for vm in vms
        ]

        one = vms[0]["uuid"]
        result = await client.call_tool("vms_query", {"operation": "GetVm", "id": one})
        assert f'"uuid": "{one}"' in text(result)

        result = await client.call_tool("check_connection", {})
        assert "Connection to XO server successful." in text(result)

        result = await client.call_tool("get_infrastructure_summary", {})
        summary = text(result)
        assert summary.startswith("## Pools\n")
        for pool in fresh_sim.rest("/pools", fields="id,name_label"):
            assert f"| {pool['id']} | {pool['name_label']} |" in summary
        for host in fresh_sim.rest("/hosts", fields="name_label"):
            assert host["name_label"] in summary
        assert summary.count("| Running |") >= 1

        # The kill switch flipped while the client is connected: its next call is refused.
        fresh_sim.set_mcp(False)
        result = await client.call_tool("vms_query", {"operation": "GetVms"})
        assert result.is_error
        assert "503" in text(result)
        assert "mcp_disabled" in text(result)


async def test_a_query_error_surfaces_xos_404(npm: NpmPeers, fresh_sim: Sim) -> None:
    async with stdio_client(npm.official_server, official_env(fresh_sim)) as client:
        result = await client.call_tool("vms_query", {"operation": "GetVm", "id": "nope"})
        assert result.is_error
        assert "404" in text(result)
        assert "no such VM nope" in text(result)


def test_it_refuses_to_start_when_mcp_is_disabled(npm: NpmPeers, fresh_sim: Sim) -> None:
    fresh_sim.set_mcp(False)
    process = subprocess.run(
        npm.official_server,
        env=official_env(fresh_sim),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert process.returncode == 1
    assert "MCP disabled by admin" in process.stderr


async def test_it_builds_the_documented_tools_from_xos_real_spec(npm: NpmPeers) -> None:
    sim = start_sim("--seed", "3", "--spec", str(npm.real_spec))
    try:
        async with stdio_client(npm.official_server, official_env(sim)) as client:
            names = tool_names(await client.list_tools())
            assert names == [*OFFICIAL_READ_ONLY_TOOLS, *UTILITY_TOOLS]
            result = await client.call_tool("pools_query", {"operation": "GetPools"})
            assert not result.is_error, text(result)
            pools = sim.rest("/pools", fields="auto_poweron,name_label,id")
            assert table_rows(text(result)) == [
                [str(p["auto_poweron"]).lower(), p["name_label"], p["id"]] for p in pools
            ]
    finally:
        sim.stop()
