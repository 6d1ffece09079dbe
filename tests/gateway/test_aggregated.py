"""The aggregated surface at /mcp: one tool list for the fleet, routed by `instance`."""

from __future__ import annotations

import pytest
from support.clients import ERAS, http_client, operations, text
from support.gateway_fleet import ADMIN_TOKEN, OPS_TOKEN, GatewayFleet

pytestmark = pytest.mark.anyio


def _tool(tools: list, name: str):  # type: ignore[no-untyped-def]
    return next(tool for tool in tools if tool.name == name)


@pytest.mark.parametrize("mode", ERAS)
async def test_each_tool_once_with_an_instance_argument(gateway: GatewayFleet, mode: str) -> None:
    async with http_client(f"{gateway.url}/mcp", token=ADMIN_TOKEN, mode=mode) as client:
        tools = (await client.list_tools()).tools
    names = [tool.name for tool in tools]
    assert len(names) == len(set(names))
    assert names[-1] == "fleet_status"
    vms_query = _tool(tools, "vms_query")
    instance = vms_query.input_schema["properties"]["instance"]
    assert instance["enum"] == ["production", "staging", "lab"]
    assert vms_query.input_schema["required"][:1] == ["instance"]
    # production denies GetVmAlarms: the union still offers it (from staging)
    assert "GetVmAlarms" in operations(vms_query)
    # production has no actions: it is not offered for them
    vms_action = _tool(tools, "vms_action")
    assert vms_action.input_schema["properties"]["instance"]["enum"] == ["staging", "lab"]
    summary = _tool(tools, "get_infrastructure_summary")
    assert "instance" not in summary.input_schema.get("required", [])


async def test_calls_are_routed_to_the_named_instance(gateway: GatewayFleet) -> None:
    expected = {
        name: {vm["id"] for vm in sim.rest("/vms", fields="id")}
        for name, sim in (("production", gateway.production), ("staging", gateway.staging))
    }
    assert expected["production"] != expected["staging"]
    async with http_client(f"{gateway.url}/mcp", token=ADMIN_TOKEN) as client:
        for name, labels in expected.items():
            result = await client.call_tool(
                "vms_query", {"instance": name, "operation": "GetVms", "fields": "id"}
            )
            assert not result.is_error
            rows = {line.strip("| ") for line in text(result).splitlines()[2:]}
            assert rows == labels


async def test_routing_errors_are_clear_tool_errors(gateway: GatewayFleet) -> None:
    async with http_client(f"{gateway.url}/mcp", token=ADMIN_TOKEN) as client:
        missing = await client.call_tool("vms_query", {"operation": "GetVms"})
        unknown = await client.call_tool("vms_query", {"instance": "nope", "operation": "GetVms"})
        lacking = await client.call_tool(
            "vms_query", {"instance": "production", "operation": "GetVmAlarms", "id": "x"}
        )
    assert missing.is_error and "`instance` is required" in text(missing)
    assert unknown.is_error and "Unknown instance 'nope'" in text(unknown)
    assert lacking.is_error and "has no operation 'GetVmAlarms'" in text(lacking)


async def test_fleet_status_reports_every_instance(gateway: GatewayFleet) -> None:
    async with http_client(f"{gateway.url}/mcp", token=ADMIN_TOKEN) as client:
        result = await client.call_tool("fleet_status", {})
    instances = {entry["instance"]: entry for entry in result.structured_content["instances"]}
    assert set(instances) == {"production", "staging", "lab"}
    assert instances["production"]["state"] == "ready"
    assert instances["production"]["xo_url"] == gateway.production.url
    assert instances["staging"]["api_version"] == "0.39.0"
    assert instances["staging"]["tools"] > instances["production"]["tools"]
    assert "| production | ready |" in text(result)


@pytest.mark.parametrize("tool", ["get_infrastructure_summary", "check_connection"])
async def test_fleet_wide_tools_cover_every_instance(gateway: GatewayFleet, tool: str) -> None:
    async with http_client(f"{gateway.url}/mcp", token=ADMIN_TOKEN) as client:
        result = await client.call_tool(tool, {})
    body = text(result)
    assert not result.is_error
    assert all(f"# Instance {name}" in body for name in ("production", "staging", "lab"))


async def test_a_scoped_client_sees_only_its_instances(gateway: GatewayFleet) -> None:
    async with http_client(f"{gateway.url}/mcp", token=OPS_TOKEN) as client:
        tools = (await client.list_tools()).tools
        refused = await client.call_tool(
            "vms_query", {"instance": "production", "operation": "GetVms"}
        )
        action = await client.call_tool(
            "vms_action", {"instance": "staging", "operation": "StartVm", "id": "x"}
        )
        status = await client.call_tool("fleet_status", {})
    assert not any(tool.name.endswith("_action") for tool in tools)
    assert _tool(tools, "vms_query").input_schema["properties"]["instance"]["enum"] == ["staging"]
    assert refused.is_error and "production" not in text(refused).split("use one of")[1]
    assert action.is_error
    assert [entry["instance"] for entry in status.structured_content["instances"]] == ["staging"]
