"""The aggregated surface at /mcp: one tool list for the fleet, routed by `instance`."""

from __future__ import annotations

import json

import pytest
from support.clients import ERAS, http_client, operations, text
from support.gateway_fleet import ADMIN_TOKEN, OPS_TOKEN, GatewayFleet

pytestmark = pytest.mark.anyio


def _tool(tools: list, name: str):  # type: ignore[no-untyped-def]
    return next(tool for tool in tools if tool.name == name)


def _lines(tool) -> list[str]:  # type: ignore[no-untyped-def]
    """The operation names a compact tool lists, one per line: `StartVm(id,body?)`."""
    return [line.split("(")[0].split(":")[0] for line in (tool.description or "").splitlines()]


@pytest.mark.parametrize("mode", ERAS)
async def test_each_tool_once_with_an_instance_argument(gateway: GatewayFleet, mode: str) -> None:
    async with http_client(f"{gateway.url}/mcp", token=ADMIN_TOKEN, mode=mode) as client:
        tools = (await client.list_tools()).tools
    names = [tool.name for tool in tools]
    assert len(names) == len(set(names))
    assert names[-2:] == ["describe_operation", "fleet_status"]
    # Compact by default: every instance offers vms_query, so `instance` is a plain string and
    # the instances are named once, in fleet_status.
    vms_query = _tool(tools, "vms_query")
    assert vms_query.input_schema["properties"]["instance"] == {"type": "string"}
    assert vms_query.input_schema["required"][:1] == ["instance"]
    assert "production, staging, lab" in (_tool(tools, "fleet_status").description or "")
    # production denies GetVmAlarms: the union still lists it (from staging)
    assert "GetVmAlarms" in _lines(vms_query)
    # production has no actions: where only some instances offer a tool, the enum says which
    vms_action = _tool(tools, "vms_action")
    assert vms_action.input_schema["properties"]["instance"]["enum"] == ["staging", "lab"]
    assert "StartVm(id,body?)" in (vms_action.description or "").splitlines()
    summary = _tool(tools, "get_infrastructure_summary")
    assert "instance" not in summary.input_schema.get("required", [])


async def test_every_operation_of_every_instance_is_listed(gateway: GatewayFleet) -> None:
    """Compact lists lose no operation: each one an instance offers is on the aggregated list."""
    async with http_client(f"{gateway.url}/mcp", token=ADMIN_TOKEN) as client:
        aggregated = {tool.name: set(_lines(tool)) for tool in (await client.list_tools()).tools}
    for name in ("production", "staging", "lab"):
        url = f"{gateway.url}/instances/{name}/mcp"
        async with http_client(url, token=ADMIN_TOKEN) as client:
            native = (await client.list_tools()).tools
        for tool in native:
            if "operation" in tool.input_schema["properties"]:
                assert set(operations(tool)) <= aggregated[tool.name], (name, tool.name)


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
    assert _tool(tools, "vms_query").input_schema["properties"]["instance"] == {"type": "string"}
    assert (_tool(tools, "fleet_status").description or "").endswith(": staging.")
    assert refused.is_error and "production" not in text(refused).split("use one of")[1]
    assert action.is_error
    assert [entry["instance"] for entry in status.structured_content["instances"]] == ["staging"]


async def test_search_documentation_needs_no_instance(gateway: GatewayFleet) -> None:
    async with http_client(f"{gateway.url}/mcp", token=ADMIN_TOKEN) as client:
        tools = (await client.list_tools()).tools
        result = await client.call_tool("search_documentation", {"topic": "backups"})
    assert "instance" not in _tool(tools, "search_documentation").input_schema["properties"]
    # Routed to a worker, which tried the documentation site (not reachable from the tests).
    assert 'Failed to fetch documentation for "backups"' in text(result)
    assert "`instance` is required" not in text(result)


async def test_actions_off_on_an_instance_say_so(gateway: GatewayFleet) -> None:
    async with http_client(f"{gateway.url}/mcp", token=ADMIN_TOKEN) as client:
        result = await client.call_tool(
            "vms_action", {"instance": "production", "operation": "StartVm", "id": "x"}
        )
    assert result.is_error
    assert text(result) == "actions are off on production: actions = false"


async def test_unknown_arguments_list_every_allowed_one_with_instance(
    gateway: GatewayFleet,
) -> None:
    async with http_client(f"{gateway.url}/mcp", token=ADMIN_TOKEN) as client:
        result = await client.call_tool(
            "vms_query",
            {"instance": "production", "operation": "GetVms", "sync": True, "markdown": 1},
        )
    assert result.is_error
    assert text(result) == (
        "Invalid arguments for vms_query: unknown arguments `sync`, `markdown` "
        "(allowed: instance, operation, id, filter, fields, limit)"
    )


async def test_a_fleet_wide_call_names_instance_among_its_arguments(gateway: GatewayFleet) -> None:
    async with http_client(f"{gateway.url}/mcp", token=ADMIN_TOKEN) as client:
        result = await client.call_tool("check_connection", {"verbose": True})
    assert result.is_error
    assert text(result) == (
        "Invalid arguments for check_connection: unknown argument `verbose` (allowed: instance)"
    )


async def test_a_typo_in_an_operation_gets_the_nearest_name(gateway: GatewayFleet) -> None:
    async with http_client(f"{gateway.url}/mcp", token=ADMIN_TOKEN) as client:
        result = await client.call_tool(
            "vms_action", {"instance": "staging", "operation": "StartVM", "id": "x"}
        )
    assert result.is_error
    assert "has no operation 'StartVM' in vms_action; did you mean StartVm?" in text(result)


async def test_describe_operation_tells_one_operation_in_full(gateway: GatewayFleet) -> None:
    async with http_client(f"{gateway.url}/mcp", token=ADMIN_TOKEN) as client:
        start = await client.call_tool("describe_operation", {"operation": "StartVm"})
        alarms = await client.call_tool("describe_operation", {"operation": "GetVmAlarms"})
        typo = await client.call_tool("describe_operation", {"operation": "SnapshotVM"})
    assert not start.is_error
    lines = text(start).splitlines()
    assert lines[0].startswith("StartVm (vms_action): Start a VM (id, body {hostId?}).")
    assert "Request: POST /vms/{id}/actions/start" in lines
    assert "- id (required): fills {id} in the path" in lines
    assert any(line.startswith("- wait: ") for line in lines)
    schema = next(line for line in lines if line.startswith("Body schema: "))
    assert json.loads(schema.removeprefix("Body schema: ")) == {
        "type": "object",
        "properties": {"hostId": {"type": "string"}},
    }
    assert lines[-1] == "Instance: one of staging, lab (required)"
    # production denies GetVmAlarms: only the others are named
    assert text(alarms).splitlines()[-1] == "Instance: one of staging, lab (required)"
    assert "- filter: XO filter" in text(alarms)
    assert typo.is_error
    assert text(typo) == "No operation 'SnapshotVM'; did you mean SnapshotVm (vms_action)?"


async def test_describe_operation_shows_only_what_a_client_may_run(gateway: GatewayFleet) -> None:
    async with http_client(f"{gateway.url}/mcp", token=OPS_TOKEN) as client:
        action = await client.call_tool("describe_operation", {"operation": "StartVm"})
        query = await client.call_tool("describe_operation", {"operation": "GetVm"})
        elsewhere = await client.call_tool(
            "describe_operation", {"operation": "GetVm", "instance": "production"}
        )
    assert action.is_error and text(action).startswith("No operation 'StartVm'")
    assert "(vms_action)" not in text(action)
    assert text(query).splitlines()[-1] == "Instance: staging (the only instance that offers it)"
    assert elsewhere.is_error and "Unknown instance 'production'" in text(elsewhere)
