"""`describe_operation` in the worker: one operation in full (its line, request, arguments, body
schema resolved and trimmed), every tool that holds it, the nearest names to a typo; through
the tool runner, and on XO's real spec."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.npm import NpmPeers
from support.processes import Sim, worker_env

from xo_mcp.worker.boot import boot
from xo_mcp.worker.explain import MAX_SCHEMA_CHARS, compact_schema, describe
from xo_mcp.worker.openapi import parse_spec
from xo_mcp.worker.settings import load_settings
from xo_mcp.worker.tools import build_tools

pytestmark = pytest.mark.anyio

TYPESCRIPT_WORDS = "Construct a type with a set of properties K of type T"
SPEC: dict[str, Any] = {
    "paths": {
        "/vms": {
            "get": {
                "operationId": "GetVms",
                "x-mcp-exposure": "allow",
                "parameters": [{"in": "query", "name": "filter"}, {"in": "query", "name": "limit"}],
                "description": "Required privilege:\n- resource: vm, action: read",
                "responses": {},
            }
        },
        "/vms/{id}/actions/migrate": {
            "post": {
                "operationId": "MigrateVm",
                "x-mcp-exposure": "confirm",
                "requestBody": {
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Move"}}
                    }
                },
                "responses": {"202": {}},
            }
        },
        "/srs": {"get": {"operationId": "GetSrs", "x-mcp-exposure": "allow", "responses": {}}},
        "/sms": {"get": {"operationId": "GetSrs", "x-mcp-exposure": "allow", "responses": {}}},
    },
    "components": {
        "schemas": {
            "Move": {
                "type": "object",
                "properties": {
                    "hostId": {"type": "string", "example": "b61a5c92"},
                    "size": {"type": "number", "format": "double"},
                    "when": {"type": "string", "format": "date-time"},
                    "map": {"type": "object", "description": TYPESCRIPT_WORDS},
                    "srId": {"type": "string", "description": "the target SR", "nullable": False},
                },
                "required": ["hostId"],
                "title": "Move",
            }
        }
    },
}  # fmt: skip


def _describe(operation: str, tool: str | None = None) -> tuple[str, bool]:
    catalog = parse_spec(SPEC, actions=True)
    tools = [t for t in build_tools(catalog) if t.operations]
    return describe(tools, catalog.components, operation, tool)


def test_an_action_in_full() -> None:
    text, is_error = _describe("MigrateVm")
    assert not is_error
    lines = text.splitlines()
    assert (
        lines[0]
        == "MigrateVm (vms_action): Migrate a VM (id, body {hostId, size?, when?, map?, srId?})."
    )
    assert lines[1] == "Request: POST /vms/{id}/actions/migrate"
    assert "- id (required): fills {id} in the path" in lines
    assert "- body: a JSON object (required keys: hostId); schema below" in lines
    assert any(line.startswith("- wait: true to wait") for line in lines)
    assert any(line.startswith("- confirm_token: not on the first call") for line in lines)
    schema = json.loads(lines[-1].removeprefix("Body schema: "))
    assert schema == {
        "type": "object",
        "properties": {
            "hostId": {"type": "string"},  # no example
            "size": {"type": "number"},  # "double" says nothing to a model
            "when": {"type": "string", "format": "date-time"},  # this format does
            "map": {"type": "object"},  # TypeScript's own words about its utility types
            "srId": {"type": "string", "description": "the target SR"},
        },
        "required": ["hostId"],
    }  # fmt: skip


def test_a_query_in_full() -> None:
    text, _ = _describe("GetVms")
    assert text.splitlines()[0] == "GetVms (vms_query): List VMs (filter, limit). Needs vm:read."
    assert "- filter: XO filter" in text and "- limit: maximum number of results" in text
    assert "- fields" not in text  # XO does not take it here
    assert "Body schema" not in text


def test_every_tool_that_holds_an_operation() -> None:
    both, _ = _describe("GetSrs")
    assert both.count("Request: GET ") == 2
    assert "GetSrs (srs_query)" in both and "GetSrs (sms_query)" in both
    one, _ = _describe("GetSrs", "sms_query")
    assert one.count("Request: GET ") == 1 and "Request: GET /sms" in one


def test_a_typo_gets_the_nearest_names() -> None:
    text, is_error = _describe("MigrateVM")
    assert is_error and text == "No operation 'MigrateVM'; did you mean MigrateVm (vms_action)?"
    text, is_error = _describe("GetVms", "srs_query")
    assert (
        is_error and text == "No operation 'GetVms' in srs_query; did you mean GetVms (vms_query)?"
    )
    text, _ = _describe("Frobnicate")
    assert text == "No operation 'Frobnicate'"


def test_a_huge_schema_is_cut() -> None:
    properties = {f"key{n}": {"type": "string", "description": "x" * 50} for n in range(400)}
    spec = json.loads(json.dumps(SPEC))
    spec["components"]["schemas"]["Move"]["properties"] = properties
    catalog = parse_spec(spec, actions=True)
    text, _ = describe(
        [t for t in build_tools(catalog) if t.operations], catalog.components, "MigrateVm", None
    )
    schema_line = text.splitlines()[-1]
    assert len(schema_line) < MAX_SCHEMA_CHARS + 100
    assert schema_line.endswith("… [cut: the schema is longer]")


def test_compact_schema_keeps_what_makes_a_body_valid() -> None:
    schema = {
        "anyOf": [{"type": "string", "enum": ["a"], "example": "a"}],
        "default": {"example": 1},  # a default value is data, kept as it is
        "xml": {"name": "x"},
    }
    assert compact_schema(schema) == {
        "anyOf": [{"type": "string", "enum": ["a"]}],
        "default": {"example": 1},
    }


async def test_the_runner_answers_describe_operation(sim: Sim) -> None:
    booted = await boot(load_settings(worker_env(sim, XO_MCP_ENABLE_ACTIONS="1")))
    try:
        found = await booted.runner.run("describe_operation", {"operation": "StartVm"})
        missing = await booted.runner.run("describe_operation", {})
    finally:
        await booted.client.aclose()
    assert not found.is_error and "Request: POST /vms/{id}/actions/start" in found.text
    assert missing.is_error and "`operation` is required" in missing.text


def test_every_operation_of_xos_real_spec_can_be_described(npm: NpmPeers) -> None:
    catalog = parse_spec(json.loads(npm.real_spec.read_text(encoding="utf-8")), actions=True)
    tools = [t for t in build_tools(catalog) if t.operations]
    for tool in tools:
        for name in tool.operations:
            text, is_error = describe(tools, catalog.components, name, tool.name)
            assert not is_error and text.startswith(f"{name} ({tool.name}): "), text[:200]
            assert len(text) < MAX_SCHEMA_CHARS + 3_000
