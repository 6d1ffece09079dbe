"""Per-client tool policy: `tools` and `deny_tools` (tool names or operationIds, with globs),
applied alike to tools/list and tools/call, on the aggregated and the per-instance surfaces;
and what /metrics counts per client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from support.clients import http_client, operations, text
from support.fleetfile import client, fleet_toml, instance
from support.gateway_fleet import GatewayFleet
from support.processes import Sim, secret_file, sims_and_fleet

pytestmark = pytest.mark.anyio
TOKENS = {name: f"{name}-policy-token-0123456789" for name in ("tagger", "careful", "all")}
SURFACES = ["/mcp", "/instances/staging/mcp"]


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayFleet]:
    base = tmp_path_factory.mktemp("policy")

    def fleet_file(sims: dict[str, Sim]) -> tuple[str, dict[str, str]]:
        files = {name: secret_file(base, name, token) for name, token in TOKENS.items()}
        toml = fleet_toml(
            clients=[
                client("tagger", token_file=files["tagger"], tools=["vms_query", "*VmTag"]),
                client("careful", token_file=files["careful"], deny_tools=["Delete*", "pools_*"]),
                client("all", token_file=files["all"]),
            ],
            instances={"staging": instance(sims["staging"], token_env="XO_TOKEN", actions=True)},
        )
        return toml, {"XO_TOKEN": sims["staging"].token}

    with sims_and_fleet(base, {"staging": ("--seed", "2")}, fleet_file) as (fleet, sims):
        yield GatewayFleet(fleet, sims["staging"], sims["staging"])


def arguments(path: str, **values: Any) -> dict[str, Any]:
    return {"instance": "staging", **values} if path == "/mcp" else values


@pytest.mark.parametrize("path", SURFACES)
async def test_an_allow_list_keeps_only_its_tools_and_operations(
    port: GatewayFleet, path: str
) -> None:
    vm = port.staging.rest("/vms", fields="id", limit="1")[0]["id"]
    async with http_client(f"{port.url}{path}", token=TOKENS["tagger"]) as tagger:
        tools = {tool.name: tool for tool in (await tagger.list_tools()).tools}
        start = await tagger.call_tool("vms_action", arguments(path, operation="StartVm", id=vm))
        hosts = await tagger.call_tool("hosts_query", arguments(path, operation="GetHosts"))
        tag = await tagger.call_tool(
            "vms_action", arguments(path, operation="PutVmTag", id=vm, tag="allowed")
        )
        described = None
        if "describe_operation" in tools:  # the compact aggregated surface
            described = await tagger.call_tool("describe_operation", {"operation": "StartVm"})
    assert set(tools) - {"fleet_status", "describe_operation"} == {"vms_query", "vms_action"}
    assert described is None or (
        described.is_error and text(described).startswith("No operation 'StartVm'")
    )
    assert set(operations(tools["vms_action"])) == {"PutVmTag", "DeleteVmTag"}
    assert "StartVm" not in (tools["vms_action"].description or "")
    assert start.is_error and text(start) == (
        "Operation StartVm of vms_action is not available to client tagger"
    )
    assert hosts.is_error and text(hosts) == "Unknown tool: hosts_query"
    assert not tag.is_error and "Confirmation Required" in text(tag)


@pytest.mark.parametrize("path", SURFACES)
async def test_a_deny_list_removes_tools_and_operations(port: GatewayFleet, path: str) -> None:
    vm = port.staging.rest("/vms", fields="id", limit="1")[0]["id"]
    async with http_client(f"{port.url}{path}", token=TOKENS["careful"]) as careful:
        tools = {tool.name: tool for tool in (await careful.list_tools()).tools}
        delete = await careful.call_tool("vms_action", arguments(path, operation="DeleteVm", id=vm))
    assert "pools_query" not in tools and "pools_action" not in tools
    listed = [
        op for name, tool in tools.items() if name.endswith("_action") for op in operations(tool)
    ]
    assert listed and not [op for op in listed if op.startswith("Delete")]
    assert "StartVm" in operations(tools["vms_action"])
    assert delete.is_error and "not available to client careful" in text(delete)


async def test_metrics_count_calls_and_refusals_per_client(port: GatewayFleet) -> None:
    async with http_client(f"{port.url}/mcp", token=TOKENS["all"]) as everyone:
        await everyone.call_tool("vms_query", {"instance": "staging", "operation": "GetVms"})
    httpx2.post(f"{port.url}/mcp", headers={"Authorization": "Bearer nope"}, timeout=10)
    body = httpx2.get(f"{port.url}/metrics", timeout=10).text
    calls = [line for line in body.splitlines() if line.startswith("xo_mcp_client_calls_total")]
    assert any(line.startswith('xo_mcp_client_calls_total{client="all"} ') for line in calls)
    assert 'xo_mcp_client_refusals_total{client="anonymous",reason="no_valid_token"}' in body
