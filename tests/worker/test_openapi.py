"""OpenAPI → catalog: exclusions, exposure, deny list, default fields, streams, hostile specs."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from xo_mcp.worker.openapi import (
    ApiCatalog,
    SpecError,
    default_fields,
    parse_spec,
    resolve_schema,
)
from xo_mcp.worker.tools import build_tools


def op(
    operation_id: str | None = None, exposure: str | None = "allow", **extra: Any
) -> dict[str, Any]:
    operation: dict[str, Any] = {"responses": {"200": {"description": "Ok"}}, **extra}
    if operation_id is not None:
        operation["operationId"] = operation_id
    if exposure is not None:
        operation["x-mcp-exposure"] = exposure
    return operation


def spec(paths: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"openapi": "3.0.0", "info": {"title": "t", "version": "9.9"}, "paths": paths, **extra}


def query_names(catalog: ApiCatalog, segment: str) -> list[str]:
    return [o.name for o in catalog.domains[segment].queries]


def action_names(catalog: ApiCatalog, segment: str) -> list[str]:
    return [o.name for o in catalog.domains[segment].actions]


SAMPLE = spec(
    {
        "/vms": {"get": op("GetVms")},
        "/vms/{id}": {
            "get": op("GetVm"),
            "delete": op("DeleteVm", "confirm"),
            "patch": op("UpdateVm", None),
        },
        "/vms/{id}/actions/start": {"post": op("StartVm", "confirm")},
        "/vms/{id}/tags/{tag}": {"put": op("PutVmTag", "confirm")},
        "/vms/{id}.{format}": {"get": op("ExportVm")},
        "/vms/{id}/stats": {"get": op("GetVmStats")},
        "/vms/{id}/stats/data_source/{data_source}": {"put": op("AddDataSource", "confirm")},
        "/hosts/{id}/audit.txt": {"get": op("GetAudit")},
        "/hosts/{id}/logs.tgz": {"get": op("GetLogs")},
        "/hosts/{id}/alarms": {"get": op("GetHostAlarms", tags=["alarms", "hosts"])},
        "/hosts/{id}/actions/emergency_shutdown": {"post": op("EmergencyShutdown", "deny")},
        "/vm-templates": {"get": op("GetVmTemplates")},
        "/events": {"get": op("OpenSseConnection")},
        "/events/{id}/subscriptions": {
            "post": op("AddSubscription", "confirm", description="Subscribe the SSE connection")
        },
        "/tasks": {"get": op("GetTasks"), "delete": op("DeleteTasks", "confirm")},
        "/mcp/status": {"get": op("GetMcpStatus", None)},
        "/docs/swagger.json": {"get": op("GetSpec", "deny")},
    }
)


def test_read_only_catalog() -> None:
    catalog = parse_spec(SAMPLE)
    assert list(catalog.domains) == ["vms", "hosts", "vm_templates", "tasks"]
    assert query_names(catalog, "vms") == ["GetVms", "GetVm"]
    assert catalog.domains["vms"].actions == []
    assert catalog.version == "9.9"


def test_actions_enabled() -> None:
    catalog = parse_spec(SAMPLE, actions=True)
    assert action_names(catalog, "vms") == ["DeleteVm", "StartVm", "PutVmTag", "AddDataSource"]
    assert all(o.requires_confirm for o in catalog.domains["vms"].actions)
    assert action_names(catalog, "tasks") == ["DeleteTasks"]
    assert "events" in catalog.domains  # its POST stays; only the endless GET goes
    assert action_names(catalog, "events") == ["AddSubscription"]


def test_binary_and_stats_routes_are_excluded() -> None:
    names = {o.name for d in parse_spec(SAMPLE, actions=True).domains.values() for o in d.queries}
    assert not names & {"ExportVm", "GetVmStats", "GetAudit", "GetLogs"}


@pytest.mark.parametrize(
    "path",
    [
        "/a/{id}.xva",
        "/a/{id}.ova",
        "/a/{id}.vhd",
        "/a/{id}.raw",
        "/a/x.iso",
        "/a/x.zip",
        "/a/x.tar",
        "/a/x.gz",
        "/a/x.ndjson",
        "/a/{id}.{format}",
        "/a/{id}/stats",
    ],
)
def test_every_excluded_suffix(path: str) -> None:
    catalog = parse_spec(spec({path: {"get": op("X")}}))
    assert catalog.domains == {}


def test_exposure_rules() -> None:
    paths = {
        "/a": {
            "get": op("Allowed"),
            "post": op("Confirmed", "confirm"),
            "put": op("Denied", "deny"),
            "patch": op("Missing", None),
            "delete": op("Odd", "ALLOW"),
        }
    }
    read_only = parse_spec(spec(paths))
    assert query_names(read_only, "a") == ["Allowed"]
    assert action_names(read_only, "a") == []
    with_actions = parse_spec(spec(paths), actions=True)
    assert action_names(with_actions, "a") == ["Confirmed"]


def test_an_allowed_write_needs_no_confirmation() -> None:
    catalog = parse_spec(spec({"/a": {"post": op("Post", "allow")}}), actions=True)
    (operation,) = catalog.domains["a"].actions
    assert operation.requires_confirm is False


def test_domain_is_the_first_path_segment_not_the_tag() -> None:
    catalog = parse_spec(SAMPLE)
    assert query_names(catalog, "hosts") == ["GetHostAlarms"]
    assert "alarms" not in catalog.domains


def test_endless_streams_are_skipped_and_reported() -> None:
    stream_spec = spec(
        {
            "/events": {"get": op("OpenSseConnection")},
            "/feed": {
                "get": op(
                    "Feed",
                    responses={"200": {"content": {"text/event-stream": {"schema": {}}}}},
                )
            },
            "/news": {"get": op("News", description="Opens an SSE connection.")},
            "/ok": {"get": op("Fine", description="Lists things.")},
        }
    )
    catalog = parse_spec(stream_spec)
    assert list(catalog.domains) == ["ok"]
    assert catalog.skipped_streams == ("GET /events", "GET /feed", "GET /news")


def test_deny_by_operation_id_and_by_method_and_path() -> None:
    catalog = parse_spec(SAMPLE, actions=True, deny=["GetVm", "POST /vms/{id}/actions/start"])
    assert query_names(catalog, "vms") == ["GetVms"]
    assert "StartVm" not in action_names(catalog, "vms")
    assert "DeleteVm" in action_names(catalog, "vms")


def test_deny_method_is_case_insensitive_and_blank_tolerant() -> None:
    catalog = parse_spec(SAMPLE, actions=True, deny=["  delete   /vms/{id}  "])
    assert "DeleteVm" not in action_names(catalog, "vms")
    assert "GetVm" in query_names(catalog, "vms")


def test_deny_by_path_separates_operations_sharing_an_id() -> None:
    shared = spec({"/srs": {"get": op("GetSrs")}, "/sms": {"get": op("GetSrs")}})
    assert list(parse_spec(shared, deny=["GetSrs"]).domains) == []
    assert list(parse_spec(shared, deny=["GET /sms"]).domains) == ["srs"]


def test_dashes_become_underscores_and_segments_sharing_a_name_merge() -> None:
    catalog = parse_spec(
        spec({"/vm-templates": {"get": op("A")}, "/vm_templates": {"get": op("B")}})
    )
    assert list(catalog.domains) == ["vm_templates"]
    domain = catalog.domains["vm_templates"]
    assert domain.segment == "vm-templates" and domain.prefix == "vm_templates"
    assert query_names(catalog, "vm_templates") == ["A", "B"]


def test_missing_operation_id_is_derived() -> None:
    catalog = parse_spec(spec({"/vms/{id}/tags/{tag}": {"get": op(None)}}))
    assert query_names(catalog, "vms") == ["get_vms_id_tags_tag"]
    odd = parse_spec(spec({"/vms": {"get": op(None, operationId=42)}}))
    assert query_names(odd, "vms") == ["get_vms"]


def test_what_an_operation_does_comes_from_its_method_and_path() -> None:
    paths = {
        "/a": {
            "get": op("WithSummary", summary="Sums things up", description="Details here"),
            "post": op("WithDescription", "allow", description="Makes an a."),
            "put": op("Bare", "allow"),
        }
    }
    catalog = parse_spec(spec(paths), actions=True)
    operations = catalog.domains["a"].queries + catalog.domains["a"].actions
    assert [o.description for o in operations] == ["Get the a", "Create an a", "Replace the a"]
    # The spec's own words follow: summary first, then description.
    assert [o.details for o in operations] == ["Sums things up. Details here.", "Makes an a.", ""]


def test_privileges_are_read_from_the_description() -> None:
    description = "Required privilege:\n- resource: vm, action: delete"
    catalog = parse_spec(
        spec({"/vms/{id}": {"delete": op("DeleteVm", "confirm", description=description)}}),
        actions=True,
    )
    (operation,) = catalog.domains["vms"].actions
    assert (operation.description, operation.details, operation.needs) == (
        "Delete a VM",
        "",
        "vm:delete",
    )


def test_list_arguments_come_from_operation_and_path_parameters() -> None:
    shared = {"$ref": "#/components/parameters/Limit"}
    document = spec(
        {
            "/vms": {
                "parameters": [{"in": "query", "name": "filter"}],
                "get": op("GetVms", parameters=[shared, {"in": "query", "name": "markdown"}]),
            },
            "/vms/{id}": {"get": op("GetVm", parameters=[{"in": "path", "name": "id"}])},
        },
        components={"parameters": {"Limit": {"in": "query", "name": "limit"}}},
    )
    (listing, single) = parse_spec(document).domains["vms"].queries
    assert listing.list_arguments == ("filter", "limit")
    assert listing.description == "List VMs"
    assert single.list_arguments == ()


def test_query_parameters_the_tool_does_not_offer_are_never_mentioned() -> None:
    description = "If watch is true, ndjson must also be true.\n\nOnly the newest ones."
    parameters = [{"in": "query", "name": n} for n in ("fields", "watch", "ndjson")]
    document = spec(
        {"/tasks": {"get": op("GetTasks", description=description, parameters=parameters)}}
    )
    (operation,) = parse_spec(document).domains["tasks"].queries
    assert operation.details == "Only the newest ones."


def test_deprecated_and_body() -> None:
    body = {
        "content": {
            "application/json": {"schema": {"properties": {"name": {}}, "required": ["name"]}}
        }
    }
    document = spec(
        {"/groups": {"post": op("CreateGroup", "confirm", deprecated=True, requestBody=body)}}
    )
    (operation,) = parse_spec(document, actions=True).domains["groups"].actions
    assert operation.deprecated is True
    assert operation.body == "body {name}"


# --- default fields -----------------------------------------------------------------------


def examples(*values: Any, status: str = "200") -> dict[str, Any]:
    named = {f"Example {i + 1}": {"value": v} for i, v in enumerate(values)}
    return {"responses": {status: {"content": {"application/json": {"examples": named}}}}}


def test_default_fields_skip_href_lists_and_drop_href() -> None:
    collection = examples(
        ["/rest/v0/vms/1"],
        [{"name_label": "a", "power_state": "Running", "uuid": "1", "href": "/rest/v0/vms/1"}],
    )
    assert default_fields(collection) == "name_label,power_state,uuid"


def test_default_fields_of_a_single_object_and_of_201() -> None:
    assert default_fields(examples({"id": "1", "name": "x"})) == "id,name"
    assert default_fields(examples({"id": "1"}, status="201")) == "id"


def test_no_default_fields() -> None:
    assert default_fields({}) is None
    assert default_fields(examples(["a", "b"])) is None
    assert default_fields(examples({"href": "/x"})) is None
    assert default_fields(examples([])) is None


def test_default_fields_reach_query_operations_only() -> None:
    paths = {
        "/a": {
            "get": op("List", **examples([{"id": 1, "name": "x"}])),
            "post": op("Create", "confirm", **examples({"id": 1}, status="201")),
        }
    }
    catalog = parse_spec(spec(paths), actions=True)
    assert catalog.domains["a"].queries[0].default_fields == "id,name"
    assert catalog.domains["a"].actions[0].default_fields is None


# --- hostile specs: odd shapes must not crash ------------------------------------------------


@pytest.mark.parametrize("document", [None, [], "spec", {}, {"paths": []}, {"paths": "x"}])
def test_not_a_spec(document: Any) -> None:
    with pytest.raises(SpecError, match='missing "paths" object'):
        parse_spec(document)


ODD_OPERATIONS: list[Any] = [
    {"x-mcp-exposure": "allow", "responses": []},
    {"x-mcp-exposure": "allow", "responses": "nope"},
    {"x-mcp-exposure": "allow", "responses": {"200": "ok"}},
    {"x-mcp-exposure": "allow", "responses": {"200": {"content": []}}},
    {"x-mcp-exposure": "allow", "responses": {"200": {"content": {"a/b": None}}}},
    {"x-mcp-exposure": "allow", "responses": {"200": {"content": {"a/b": {"examples": []}}}}},
    {"x-mcp-exposure": "allow", "responses": {"200": {"content": {"a/b": {"examples": {"e": 1}}}}}},
    {
        "x-mcp-exposure": "allow",
        "responses": {"200": {"content": {"a/b": {"examples": {"e": {}}}}}},
    },
    {"x-mcp-exposure": "allow", "description": {"not": "text"}, "summary": None},
    {"x-mcp-exposure": "allow", "requestBody": "body"},
    {"x-mcp-exposure": "allow", "requestBody": {"content": {"application/json": "x"}}},
    {"x-mcp-exposure": "allow", "operationId": ["a"], "tags": "x"},
]


@pytest.mark.parametrize("operation", ODD_OPERATIONS)
def test_odd_operations_do_not_crash(operation: Any) -> None:
    document = spec({"/a": {"get": operation, "post": operation}})
    catalog = parse_spec(document, actions=True)
    assert build_tools(catalog)


def test_odd_path_items_and_top_level_fields() -> None:
    document = {
        "paths": {
            "/a": None,
            "/b": [],
            "/c": {"get": "nope", "parameters": []},
            "/": {"get": op("Root")},
            "": {"get": op("Empty")},
            "/d": {"get": op("Fine")},
        },
        "info": "not an object",
        "components": ["not", "an", "object"],
    }
    catalog = parse_spec(document)
    assert list(catalog.domains) == ["d"]
    assert catalog.version == "" and catalog.components == {}


def test_unsafe_characters_in_a_segment_make_a_valid_tool_name() -> None:
    catalog = parse_spec(spec({"/weird seg!": {"get": op("W")}}))
    (name,) = [tool.name for tool in build_tools(catalog) if tool.kind == "query"]
    assert name == "weird_seg__query"


def cyclic_components() -> dict[str, Any]:
    return {
        "schemas": {
            "Node": {
                "type": "object",
                "properties": {
                    "child": {"$ref": "#/components/schemas/Node"},
                    "peer": {"$ref": "#/components/schemas/Other"},
                },
            },
            "Other": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
        }
    }


def test_ref_cycles_are_cut() -> None:
    body = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Node"}}}}
    document = spec(
        {"/a": {"post": op("Create", "confirm", requestBody=body)}},
        components=cyclic_components(),
    )
    catalog = parse_spec(document, actions=True)
    (operation,) = catalog.domains["a"].actions
    assert operation.body_schema == {"$ref": "#/components/schemas/Node"}
    resolved = resolve_schema(operation.body_schema, catalog.components)
    assert resolved["type"] == "object"
    assert resolved["properties"]["child"]["type"] == "object"


def test_unknown_or_external_refs_become_plain_objects() -> None:
    components = cyclic_components()["schemas"]
    assert resolve_schema({"$ref": "#/components/schemas/Missing"}, components) == {
        "type": "object"
    }
    assert resolve_schema({"$ref": "https://elsewhere/schema.json"}, components) == {
        "type": "object"
    }


def test_wide_fan_out_is_budgeted() -> None:
    fan = {
        f"S{i}": {
            "properties": {
                f"p{j}": {"$ref": f"#/components/schemas/S{(i + 1) % 50}"} for j in range(20)
            }
        }
        for i in range(50)
    }
    resolved = resolve_schema({"$ref": "#/components/schemas/S0"}, fan)
    assert isinstance(resolved, dict)


def test_ten_thousand_operations() -> None:
    paths = {
        f"/domain{i % 100}/{{id}}/op{i}": {"get": op(f"Get{i}"), "post": op(f"Post{i}", "confirm")}
        for i in range(5000)
    }
    catalog = parse_spec(spec(paths), actions=True)
    assert len(catalog.domains) == 100
    assert sum(len(d.queries) + len(d.actions) for d in catalog.domains.values()) == 10_000
    tools = build_tools(catalog)
    assert len(tools) == 203  # 100 query + 100 action tools + 3 utility tools


def test_the_spec_is_not_modified() -> None:
    original = copy.deepcopy(SAMPLE)
    parse_spec(SAMPLE, actions=True, deny=["DeleteVm"])
    assert original == SAMPLE
