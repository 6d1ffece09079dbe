"""The OpenAPI → tools generator against hostile specs (property-based): whatever XO serves,
`parse_spec` returns a catalog or raises SpecError, and the tools built from a catalog are
valid MCP tools (unique names of the allowed characters, serialisable definitions the SDK
accepts) whose request bodies resolve in bounded time, cycles and all.

tests/worker/test_openapi.py covers the rules on hand-written specs (one $ref cycle, a wide
fan-out, 10 000 operations); here the specs are generated, and the big ones are bigger.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import mcp_types as types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability.relkit import figure

from xo_mcp.worker.calls import build_path
from xo_mcp.worker.openapi import ApiCatalog, SpecError, parse_spec, resolve_schema
from xo_mcp.worker.tools import ToolSpec, build_tools

SETTINGS = settings(
    max_examples=200,
    deadline=5000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TOOL_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")  # the MCP specification's tool names
JSON_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
SEGMENT = st.one_of(
    st.sampled_from(["vms", "vm-templates", "pools", "{id}", "", ".", "..", "a.b", "é", "x y"]),
    st.text(max_size=30),
)
PATHS = st.lists(SEGMENT, min_size=1, max_size=5).map(lambda parts: "/" + "/".join(parts))
SCHEMA_NAMES = st.sampled_from(["A", "B", "C", "Self", "Missing", "é", ""])
REF = SCHEMA_NAMES.map(lambda name: {"$ref": f"#/components/schemas/{name}"}) | st.sampled_from(
    [{"$ref": "http://elsewhere/x.json"}, {"$ref": 7}, {"$ref": "#/"}]
)
SCHEMA = st.recursive(
    REF | st.just({"type": "object"}) | JSON,
    lambda inner: st.fixed_dictionaries(
        {"type": st.sampled_from(["object", "array", "string"])},
        optional={
            "properties": st.dictionaries(st.text(max_size=6), inner, max_size=4),
            "required": st.lists(st.text(max_size=6), max_size=3) | JSON,
            "items": inner,
            "allOf": st.lists(inner, max_size=3),
            "additionalProperties": st.booleans() | inner,
        },
    ),
    max_leaves=15,
)
OPERATION = st.fixed_dictionaries(
    {},
    optional={
        "operationId": st.text(max_size=20) | JSON,
        "x-mcp-exposure": st.sampled_from(["allow", "confirm", "deny", None, 1, "ALLOW"]),
        "summary": st.text(max_size=40) | JSON,
        "description": st.text(max_size=40) | st.just("Server-sent events") | JSON,
        "responses": JSON
        | st.fixed_dictionaries(
            {
                "200": st.fixed_dictionaries(
                    {
                        "content": st.dictionaries(
                            st.sampled_from(["application/json", "text/event-stream", "x"]),
                            st.fixed_dictionaries(
                                {"examples": st.dictionaries(st.text(max_size=4), JSON)}
                            )
                            | JSON,
                            max_size=2,
                        )
                    }
                )
            }
        ),
        "requestBody": st.fixed_dictionaries(
            {
                "content": st.fixed_dictionaries(
                    {"application/json": st.fixed_dictionaries({"schema": SCHEMA})}
                )
            }
        )
        | JSON,
    },
)
PATH_ITEM = st.dictionaries(
    st.sampled_from(["get", "post", "put", "patch", "delete", "head", "parameters"]),
    OPERATION | JSON,
    max_size=4,
)
SPECS = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {"paths": st.dictionaries(PATHS, PATH_ITEM | JSON, max_size=8)},
        optional={
            "components": st.fixed_dictionaries(
                {"schemas": st.dictionaries(SCHEMA_NAMES, SCHEMA, max_size=5)}
            )
            | JSON,
            "info": JSON,
        },
    ),
)


def check_catalog(catalog: ApiCatalog, *, bodies: bool = True) -> list[ToolSpec]:
    """Every property a catalog from any spec must have (`bodies`: resolve every request body
    too)."""
    tools = build_tools(catalog)
    names = [tool.name for tool in tools]
    assert len(names) == len(set(names)), names
    for tool in tools:
        assert re.fullmatch(r"[A-Za-z0-9._-]+", tool.name), tool.name
        json.dumps(tool.definition)  # plain JSON, no cycles
        types.Tool.model_validate(tool.definition, by_name=False)
        enum = tool.definition["inputSchema"]["properties"].get("operation", {}).get("enum", [])
        assert set(enum) == set(tool.operations)
        for operation in tool.operations.values():
            if bodies and operation.body_schema is not None:
                assert isinstance(resolve_schema(operation.body_schema, catalog.components), dict)
            filled = dict.fromkeys(operation.placeholders, "../x/%2e?#")
            path = build_path(operation, filled)
            assert path.count("/") == operation.path.count("/")
    return tools


def _parse(spec: Any, actions: bool, deny: list[str]) -> ApiCatalog | None:
    try:
        return parse_spec(spec, actions=actions, deny=deny)
    except SpecError:
        return None


@SETTINGS
@given(SPECS, st.booleans(), st.lists(st.text(max_size=12), max_size=3))
def test_any_document_is_a_catalog_or_a_spec_error(
    spec: Any, actions: bool, deny: list[str]
) -> None:
    catalog = _parse(spec, actions, deny)
    if catalog is not None:
        check_catalog(catalog)


def _big_spec(operations: int) -> dict[str, Any]:
    """`operations` operations over 500 domains with odd names, bodies that $ref a cycle and a
    chain 2 000 schemas long."""
    chain = {
        f"S{n}": {
            "type": "object",
            "properties": {"next": {"$ref": f"#/components/schemas/S{n + 1}"}},
        }
        for n in range(2000)
    }
    cycle = {
        "Self": {
            "type": "object",
            "properties": {
                "me": {"$ref": "#/components/schemas/Self"},
                "all": {"allOf": [{"$ref": "#/components/schemas/Self"}] * 50},
            },
        },
    }
    body = {
        "content": {
            "application/json": {
                "schema": {
                    "allOf": [
                        {"$ref": "#/components/schemas/S0"},
                        {"$ref": "#/components/schemas/Self"},
                    ]
                }
            }
        }
    }
    paths: dict[str, Any] = {}
    for n in range(operations // 2):
        segment = ["vms", "é-ü", "a.b", "x y", "{id}", "ñ" * 3][n % 6] + str(n % 500)
        paths[f"/{segment}/{{id}}/op{n}/{{tag}}"] = {
            "get": {"operationId": f"Get{n}", "x-mcp-exposure": "allow", "description": "d" * 200},
            "post": {"operationId": f"Post{n}", "x-mcp-exposure": "confirm", "requestBody": body},
        }
    return {"paths": paths, "components": {"schemas": {**chain, **cycle}}}


def test_ten_thousand_operations_with_cycles_and_long_chains() -> None:
    spec = _big_spec(10_000)
    started = time.monotonic()
    catalog = parse_spec(spec, actions=True)
    tools = build_tools(catalog)
    built = time.monotonic() - started
    operations = sum(len(tool.operations) for tool in tools)
    started = time.monotonic()
    for tool in tools:
        for operation in tool.operations.values():
            if operation.body_schema is not None:
                assert isinstance(resolve_schema(operation.body_schema, catalog.components), dict)
                break  # one per tool: they share the same body
    resolved = time.monotonic() - started
    figure("10 000-operation spec: parse + tools", built, " s", tools=len(tools))
    figure("10 000-operation spec: body schemas resolved (one per tool)", resolved, " s")
    assert operations == 10_000
    check_catalog(catalog, bodies=False)  # resolved above, one per tool


def test_a_deep_body_schema_is_cut_not_recursed() -> None:
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(50_000):
        deep = {"type": "object", "properties": {"x": deep}}
    spec = {
        "paths": {
            "/vms": {
                "post": {
                    "operationId": "Make",
                    "x-mcp-exposure": "confirm",
                    "requestBody": {"content": {"application/json": {"schema": deep}}},
                }
            }
        }
    }
    catalog = parse_spec(spec, actions=True)
    [operation] = catalog.domains["vms"].actions
    assert operation.body_schema is not None
    resolved = resolve_schema(operation.body_schema, catalog.components)
    assert isinstance(resolved, dict)


def test_tool_names_stay_within_the_mcp_limit() -> None:
    spec = {"paths": {"/" + "v" * 300: {"get": {"operationId": "G", "x-mcp-exposure": "allow"}}}}
    tools = build_tools(parse_spec(spec))
    assert all(TOOL_NAME.fullmatch(tool.name) for tool in tools), [t.name for t in tools]
