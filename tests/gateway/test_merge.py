"""The aggregated tool list, built in-process from workers' tools: the full form (enums of the
instances that offer a tool, operation lines merged) and the compact form (the default)."""

from __future__ import annotations

from typing import Any

import mcp_types as types
import pytest

from xo_mcp.gateway.clients import ClientPolicy
from xo_mcp.gateway.merge import fleet_tools, merged_tools
from xo_mcp.worker.openapi import parse_spec
from xo_mcp.worker.tools import build_tools


def op(operation_id: str, exposure: str = "allow") -> dict[str, Any]:
    return {"operationId": operation_id, "x-mcp-exposure": exposure, "responses": {}}


SPEC = {
    "paths": {
        "/vms": {"get": op("GetVms")},
        "/vms/{id}": {"get": op("GetVm")},
        "/vms/{id}/alarms": {"get": op("GetVmAlarms")},
        "/vms/{id}/tags/{tag}": {"put": op("PutVmTag", "confirm")},
    }
}
EVERYONE = ClientPolicy("everyone")


def worker(*, actions: bool, deny: tuple[str, ...] = ()) -> tuple[list[types.Tool], Any]:
    specs = build_tools(parse_spec(SPEC, actions=actions, deny=deny))
    tools = [types.Tool.model_validate(t.definition, by_name=False) for t in specs]
    return tools, {t.name: t.brief for t in specs}


@pytest.fixture
def fleet() -> tuple[dict[str, list[types.Tool]], dict[str, Any]]:
    """production: read-only, GetVmAlarms denied; staging and lab: actions on."""
    tools: dict[str, list[types.Tool]] = {}
    briefs: dict[str, Any] = {}
    for name, actions, deny in (
        ("production", False, ("GetVmAlarms",)),
        ("staging", True, ()),
        ("lab", True, ()),
    ):
        tools[name], briefs[name] = worker(actions=actions, deny=deny)
    return tools, briefs


def by_name(tools: list[types.Tool]) -> dict[str, dict[str, Any]]:
    return {t.name: t.model_dump(by_alias=True, exclude_none=True) for t in tools}


def test_the_full_form_names_the_instances_of_every_tool(fleet: Any) -> None:
    tools = by_name(merged_tools(fleet[0], EVERYONE))
    vms_query = tools["vms_query"]["inputSchema"]
    assert vms_query["properties"]["instance"]["enum"] == ["production", "staging", "lab"]
    assert vms_query["required"] == ["instance", "operation"]
    assert vms_query["properties"]["operation"]["enum"] == ["GetVms", "GetVm", "GetVmAlarms"]
    assert '"GetVmAlarms"' in tools["vms_query"]["description"]  # staging's line
    assert tools["vms_action"]["inputSchema"]["properties"]["instance"]["enum"] == [
        "staging",
        "lab",
    ]


def test_the_compact_form(fleet: Any) -> None:
    tools = by_name(merged_tools(fleet[0], EVERYONE, fleet[1], compact=True))
    vms_query = tools["vms_query"]
    assert vms_query["description"] == "GetVms\nGetVm(id)\nGetVmAlarms(id)"
    assert vms_query["inputSchema"]["properties"]["instance"] == {"type": "string"}
    assert vms_query["inputSchema"]["required"] == ["instance", "operation"]
    assert vms_query["annotations"] == {"readOnlyHint": True}
    assert "title" not in vms_query
    vms_action = tools["vms_action"]
    assert vms_action["description"] == "PutVmTag(id,tag)"
    assert vms_action["inputSchema"]["properties"]["instance"] == {
        "type": "string",
        "enum": ["staging", "lab"],  # production has no actions: the enum says who does
    }
    assert "annotations" not in vms_action  # destructive and open world: MCP's defaults
    assert "instance" not in tools["search_documentation"]["inputSchema"]["properties"]
    summary = tools["get_infrastructure_summary"]
    assert summary["description"].endswith(" Omit instance: all.")
    assert "required" not in summary["inputSchema"]


def test_an_instance_that_is_down_shows_in_the_enums(fleet: Any) -> None:
    tools, briefs = fleet
    up = {name: tools[name] for name in ("staging", "lab")}
    listed = by_name(merged_tools(up, EVERYONE, briefs, compact=True, instances=list(tools)))
    assert listed["vms_query"]["inputSchema"]["properties"]["instance"]["enum"] == [
        "staging",
        "lab",
    ]


def test_a_scoped_read_only_client(fleet: Any) -> None:
    policy = ClientPolicy("ops", frozenset({"staging"}), read_only=True)
    tools = by_name(
        merged_tools(fleet[0], policy, fleet[1], compact=True, instances=policy.visible(fleet[0]))
    )
    assert not [name for name in tools if name.endswith("_action")]
    vms_query = tools["vms_query"]["inputSchema"]
    assert vms_query["properties"]["instance"] == {"type": "string"}
    assert "instance" not in vms_query["required"]  # one instance: the gateway picks it


@pytest.mark.parametrize("compact", [True, False])
def test_the_fleets_own_tools_name_the_instances(compact: bool) -> None:
    describe, status = (
        t.model_dump(by_alias=True, exclude_none=True)
        for t in fleet_tools(["production", "staging"], compact=compact)
    )
    assert describe["name"] == "describe_operation"
    assert describe["inputSchema"]["required"] == ["operation"]
    assert status["name"] == "fleet_status"
    assert status["description"].endswith(": production, staging.")
    instance = describe["inputSchema"]["properties"].get("instance")
    if compact:
        assert instance is None and "title" not in status
    else:
        assert instance["enum"] == ["production", "staging"]
