"""Tool definitions: names, titles, enums, placeholders, annotations, utility tools."""

from __future__ import annotations

from typing import Any

import mcp_types as types

from xo_mcp.worker.openapi import parse_spec
from xo_mcp.worker.tools import DOC_TOPICS, UTILITY_TOOLS, ToolSpec, build_tools


def op(operation_id: str, exposure: str = "allow", **extra: Any) -> dict[str, Any]:
    return {"operationId": operation_id, "x-mcp-exposure": exposure, "responses": {}, **extra}


PATHS: dict[str, Any] = {
    "/vms": {"get": op("GetVms", description="Every VM")},
    "/vms/{id}": {"get": op("GetVm"), "delete": op("DeleteVm", "confirm")},
    "/vms/{id}/tags/{tag}": {
        "put": op("PutVmTag", "confirm"),
        "delete": op("DeleteVmTag", "confirm"),
    },
    "/vm-templates/{id}/tags/{tag}": {"get": op("GetTemplateTag")},
    "/groups/{id}/users/{userId}": {"put": op("AddUserToGroup", "confirm")},
    "/odd/{filter}/{operation}": {"get": op("Odd")},
    "/pools": {"get": op("GetPools")},
}


def tools(actions: bool = True) -> dict[str, ToolSpec]:
    catalog = parse_spec({"paths": PATHS}, actions=actions)
    return {tool.name: tool for tool in build_tools(catalog)}


def schema(tool: ToolSpec) -> dict[str, Any]:
    result: dict[str, Any] = tool.definition["inputSchema"]
    return result


def test_names_and_order() -> None:
    assert list(tools()) == [
        "vms_query",
        "vms_action",
        "vm_templates_query",
        "groups_action",
        "odd_query",
        "pools_query",
        "check_connection",
        "search_documentation",
        "get_infrastructure_summary",
    ]
    assert [name for name in tools(actions=False) if name.endswith("_action")] == []


def test_titles_keep_dashes() -> None:
    generated = tools()
    assert generated["vm_templates_query"].definition["title"] == "Query vm-templates"
    assert generated["vms_action"].definition["title"] == "vms actions"


def test_query_tool_schema() -> None:
    vms = tools()["vms_query"]
    properties = schema(vms)["properties"]
    assert list(properties) == ["operation", "id", "filter", "fields", "limit"]
    assert properties["operation"]["enum"] == ["GetVms", "GetVm"]
    assert properties["limit"]["type"] == "number"
    assert schema(vms)["required"] == ["operation"]
    assert schema(vms)["additionalProperties"] is False
    assert vms.kind == "query" and vms.segment == "vms"
    assert set(vms.operations) == {"GetVms", "GetVm"}


def test_action_tool_schema() -> None:
    properties = schema(tools()["vms_action"])["properties"]
    assert properties["operation"]["enum"] == ["DeleteVm", "PutVmTag", "DeleteVmTag"]
    assert list(properties)[:6] == ["operation", "id", "body", "confirm_token", "wait", "tag"]
    assert properties["body"]["type"] == "object"
    assert properties["wait"]["type"] == "boolean"


def test_extra_placeholders_become_named_arguments() -> None:
    generated = tools()
    tag = schema(generated["vms_action"])["properties"]["tag"]
    assert tag["type"] == "string"
    assert "PutVmTag" in tag["description"] and "DeleteVmTag" in tag["description"]
    assert "userId" in schema(generated["groups_action"])["properties"]
    assert "tag" in schema(generated["vm_templates_query"])["properties"]
    description = generated["vms_action"].definition["description"]
    assert '  - "PutVmTag": Add a tag to a VM (id, tag).\n' in description


def test_placeholders_never_replace_the_standard_arguments() -> None:
    properties = schema(tools()["odd_query"])["properties"]
    assert properties["operation"]["enum"] == ["Odd"]
    assert properties["filter"]["description"].startswith("XO filter expression")
    assert list(properties) == ["operation", "id", "filter", "fields", "limit"]


def test_descriptions_list_every_operation() -> None:
    description = tools()["vms_query"].definition["description"]
    assert description.startswith("Query vms resources. Available operations:\n")
    assert description.splitlines()[1:] == [
        '  - "GetVms": Get the VMs. Every VM.',  # a collection without XO's list arguments
        '  - "GetVm": Get a VM (id).',
    ]


def described(**extra: Any) -> str:
    """The line of one operation `/vms/{id}/actions/start` with `extra` in its spec."""
    paths = {"/vms/{id}/actions/start": {"post": op("StartVm", "confirm", **extra)}}
    (tool, *_) = build_tools(parse_spec({"paths": paths}, actions=True))
    return str(tool.definition["description"]).splitlines()[1]


def test_a_line_says_what_it_does_its_arguments_and_its_privileges() -> None:
    body = {"properties": {"hostId": {"type": "string"}}}
    line = described(
        description=(
            "Only a halted VM starts\n\nPrivileges:\n- resource: vm, action: start\n"
            "- resource: host, action: allow-vm (when `hostId` is given)"
        ),
        requestBody={"content": {"application/json": {"schema": body}}},
    )
    assert line == (
        '  - "StartVm": Start a VM (id, body {hostId?}). Only a halted VM starts. '
        "Needs vm:start, host:allow-vm if hostId."
    )


def test_a_line_names_only_the_list_arguments_xo_honours() -> None:
    listing = {"parameters": [{"in": "query", "name": n} for n in ("filter", "limit", "ndjson")]}
    paths = {"/users/{id}/authentication_tokens": {"get": op("GetTokens", **listing)}}
    (tool, *_) = build_tools(parse_spec({"paths": paths}))
    line = str(tool.definition["description"]).splitlines()[1]
    assert line == '  - "GetTokens": List the authentication tokens of a user (id, filter, limit).'


def test_a_deprecated_operation_says_so() -> None:
    assert described(deprecated=True).endswith("Start a VM (id). Deprecated.")


def test_annotations() -> None:
    generated = tools()
    assert generated["vms_query"].definition["annotations"]["readOnlyHint"] is True
    action = generated["vms_action"].definition["annotations"]
    assert action["destructiveHint"] is True and "readOnlyHint" not in action
    for tool in UTILITY_TOOLS:
        assert tool.definition["annotations"]["readOnlyHint"] is True


def test_duplicate_operation_ids_appear_once_in_the_enum() -> None:
    catalog = parse_spec({"paths": {"/a": {"get": op("Same")}, "/a/{id}": {"get": op("Same")}}})
    (tool, *_) = build_tools(catalog)
    assert schema(tool)["properties"]["operation"]["enum"] == ["Same"]


def test_utility_tools() -> None:
    utilities = {tool.name: tool for tool in UTILITY_TOOLS}
    assert list(utilities) == [
        "check_connection",
        "search_documentation",
        "get_infrastructure_summary",
    ]
    topic = schema(utilities["search_documentation"])["properties"]["topic"]
    assert topic["enum"] == list(DOC_TOPICS)
    assert "releases" in DOC_TOPICS and len(DOC_TOPICS) == 9
    assert schema(utilities["search_documentation"])["required"] == ["topic"]
    assert schema(utilities["check_connection"])["properties"] == {}


def test_every_definition_is_a_valid_mcp_tool() -> None:
    for spec in tools().values():
        tool = types.Tool.model_validate(spec.definition, by_name=False)
        assert tool.name == spec.name
        assert tool.input_schema["type"] == "object"
