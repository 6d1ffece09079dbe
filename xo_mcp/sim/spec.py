"""The simulator's OpenAPI 3.0 document, generated from its own operation catalog.

Examples are taken from the live inventory at start-up, with the same keys as XO's own
examples, because MCP servers derive their default `fields` from them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from xo_mcp.sim.catalog import BODIES, Row
from xo_mcp.sim.collections import ALIASES, href
from xo_mcp.sim.descriptions import description
from xo_mcp.sim.documents import stats_document
from xo_mcp.sim.exchange import BASE
from xo_mcp.sim.inventory import SEGMENTS, Inventory
from xo_mcp.sim.output import pick
from xo_mcp.sim.params import (
    BOOLEAN_PARAMS,
    ENUM_PARAMS,
    NUMBER_PARAMS,
    format_choices,
    parse_params,
)
from xo_mcp.sim.routing import ROUTES, Route

API_VERSION = "0.39.0"

_RESPONSES = {
    "200": "Ok",
    "201": "Created",
    "202": "Action executed asynchronously",
    "204": "No content",
    "400": "Bad request",
    "401": "Authentication required",
    "403": "Forbidden",
    "404": "Resource not found",
    "409": "Conflict",
    "422": "Invalid parameters",
    "500": "Internal server error, XenServer/XCP-ng error",
    "501": "Not implemented",
    "502": "Bad gateway",
    "503": "Service unavailable",
}


def _param_schema(route: Route, name: str, location: str) -> dict[str, Any]:
    if location == "path" and name == "format":
        return {"type": "string", "enum": list(format_choices(route.row.path))}
    if name in BOOLEAN_PARAMS:
        return {"type": "boolean"}
    if name in NUMBER_PARAMS:
        return {"type": "number", "format": "double"}
    if name in ENUM_PARAMS:
        return {"type": "string", "enum": list(ENUM_PARAMS[name])}
    if name == "backup-repository":
        return {"type": "array", "items": {"type": "string"}}
    return {"type": "string"}


def _parameters(route: Route) -> list[dict[str, Any]]:
    return [
        {
            "in": param.location,
            "name": param.name,
            "required": param.required or param.location == "path",
            "schema": _param_schema(route, param.name, param.location),
        }
        for param in parse_params(route.row.params)
    ]


# Sub-collections whose last path segment is not the collection their items come from.
_SUB_TARGETS = {"privileges": "acl-privileges"}
_EXAMPLE_TIME = 1_753_776_067  # a fixed instant keeps the generated document stable


def _alias(path: str) -> tuple[str, dict[str, str]] | None:
    """The collection behind a deprecated alias, for its listing and its objects alike."""
    return ALIASES.get(path) or ALIASES.get(path.removesuffix("/{id}"))


def _samples(route: Route, inventory: Inventory) -> list[dict[str, Any]]:
    """Objects of the kind an operation returns, to build its examples from."""
    row = route.row
    alias = _alias(row.path)
    if alias is not None:
        segment, narrowing = alias
        objects = inventory.collection(segment).values()
        return [o for o in objects if all(o.get(k) == v for k, v in narrowing.items())]
    last = row.path.rsplit("/", 1)[1]
    if row.path.startswith("/alarms") or last == "alarms":
        return inventory.alarms()
    if last == "missing_patches":
        hosts = inventory.collection("hosts")
        return next((p for p in map(inventory.missing_patches, hosts) if p), [])
    last = _SUB_TARGETS.get(last, last)
    if "{id}/" in row.path and last in SEGMENTS:
        return list(inventory.collection(last).values())
    if route.segment in SEGMENTS:
        return list(inventory.collection(route.segment).values())
    return []


def _stats_sample(route: Route, inventory: Inventory, keys: list[str]) -> dict[str, Any]:
    hosts = list(inventory.collection("hosts").values())
    running = [vm for vm in inventory.collection("vms").values() if vm["power_state"] == "Running"]
    if route.segment == "pools":
        # XO's own example is keyed by the hosts of its example pool; keeping those keys keeps
        # what clients derive from the example identical.
        host_stats = stats_document(hosts[0], 5, _EXAMPLE_TIME) if hosts else {}
        return dict.fromkeys(keys, host_stats)
    source = (running if route.segment == "vms" else hosts) or hosts
    return stats_document(source[0], 5, _EXAMPLE_TIME) if source else {}


def _token_sample(inventory: Inventory) -> dict[str, Any]:
    created = _EXAMPLE_TIME * 1000
    return {
        "client": {"id": "xo-mcp-sim"},
        "created_at": created,
        "description": "simulator token",
        "user_id": next(iter(inventory.collection("users")), ""),
        "expiration": created + 30 * 86_400_000,
        "last_uses": {},
        "id": "********oken",
    }


def _document_sample(route: Route, inventory: Inventory, keys: list[str]) -> Any:
    first_pool = next(iter(inventory.collection("pools")), None)
    first_vm = next(iter(inventory.collection("vms")), None)
    documents: dict[str, Callable[[], Any]] = {
        "/dashboard": lambda: inventory.dashboard(),
        "/ping": lambda: {"result": "pong", "timestamp": _EXAMPLE_TIME * 1000},
        "/gui-routes": lambda: {"xo5": "/", "xo6": "/v6"},
        "/mcp/status": lambda: {"enabled": True},
        "/pools/{id}/dashboard": lambda: inventory.pool_dashboard(first_pool or ""),
        "/vms/{id}/dashboard": lambda: inventory.vm_dashboard(first_vm or ""),
        "/hosts/{id}/smt": lambda: {"enabled": True},
        "/backup-repositories/{id}/health": lambda: {"success": True},
        "/users/{id}/authentication_tokens": lambda: [_token_sample(inventory)],
    }
    if route.row.path.endswith("/stats"):
        return _stats_sample(route, inventory, keys)
    build = documents.get(route.row.path)
    return build() if build else None


def _example_value(route: Route, inventory: Inventory, keys: list[str]) -> Any:
    document = _document_sample(route, inventory, keys)
    if isinstance(document, list):
        return [pick(item, keys) for item in document]
    if document is not None:
        return pick(document, keys)
    samples = _samples(route, inventory)[:2]
    if route.row.path.endswith("missing_patches"):
        return [pick(s, keys) for s in samples]
    return pick(samples[0], keys) if samples else None


def _examples(route: Route, inventory: Inventory) -> dict[str, Any] | None:
    keys = [k for k in route.row.example_keys.split(",") if k]
    if not keys:
        return None
    if "query:fields" not in route.row.params:
        value = _example_value(route, inventory, keys)
        return None if not value else {"Example 1": {"value": value}}
    samples = _samples(route, inventory)[:2]
    if not samples:
        return None
    links = [_example_href(route, sample) for sample in samples]
    objects = [{**pick(s, keys), "href": link} for s, link in zip(samples, links, strict=True)]
    return {"Example 1": {"value": links}, "Example 2": {"value": objects}}


def _example_href(route: Route, sample: dict[str, Any]) -> str:
    path = route.row.path
    if _alias(path) is not None:
        return f"{BASE}{path}/{sample['id']}"
    last = path.rsplit("/", 1)[1]
    target = _SUB_TARGETS.get(last, last) if "{id}/" in path else route.segment
    return href(target, sample["id"])


def _responses(route: Route, inventory: Inventory) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    examples = _examples(route, inventory)
    for code in route.row.responses.split(","):
        response: dict[str, Any] = {"description": _RESPONSES.get(code, "Response")}
        if code in ("200", "201") and examples is not None:
            response["content"] = {"application/json": {"schema": {}, "examples": examples}}
            examples = None  # XO documents its examples once, on the first success code
        elif code == "202":
            task = {"Example 1": {"value": {"taskId": "0m7kl0j9l"}}}
            response["content"] = {"application/json": {"schema": {}, "examples": task}}
        responses[code] = response
    return responses


def _request_body(route: Route) -> dict[str, Any] | None:
    entry = BODIES.get((route.row.method, route.row.path))
    if entry is None:
        return None
    schema, required = entry
    media = str(schema.get("contentType", "application/json"))
    clean = {k: v for k, v in schema.items() if k != "contentType"}
    return {"required": required, "content": {media: {"schema": clean}}}


def _security(row: Row) -> list[dict[str, list[str]]] | None:
    if not row.security:
        return None
    name, _, scope = row.security.partition(":")
    return [{name: [scope] if scope else []}]


def _operation(route: Route, inventory: Inventory) -> dict[str, Any]:
    row = route.row
    operation: dict[str, Any] = {
        "operationId": row.operation_id,
        "responses": _responses(route, inventory),
        "description": description(row),
        "tags": row.tags.split(","),
    }
    security = _security(row)
    if security is not None:
        operation["security"] = security
    parameters = _parameters(route)
    if parameters:
        operation["parameters"] = parameters
    body = _request_body(route)
    if body is not None:
        operation["requestBody"] = body
    if row.deprecated:
        operation["deprecated"] = True
    if row.exposure is not None:
        operation["x-mcp-exposure"] = row.exposure
    return operation


def build_spec(inventory: Inventory) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.row.path, {})[route.row.method.lower()] = _operation(
            route, inventory
        )
    return {
        "openapi": "3.0.0",
        "info": {
            "title": "Xen Orchestra REST API (xo-mcp simulator)",
            "version": API_VERSION,
            "description": "The XO REST API as simulated by xo-mcp-sim.",
        },
        "servers": [{"url": "/rest/v0"}],
        "components": {
            "securitySchemes": {
                "token": {"type": "apiKey", "name": "authenticationToken", "in": "cookie"},
                "basic": {"type": "http", "scheme": "basic"},
            }
        },
        "paths": paths,
    }
