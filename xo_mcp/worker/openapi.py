"""XO's OpenAPI document → operations grouped by domain, following the official server's rules.

A domain is the first path segment (not the first tag); GET operations become `{domain}_query`
operations and the others `{domain}_action` operations. Skipped, in this order: binary and
stats routes, endless streams, deny-listed operations, and anything whose `x-mcp-exposure` is
not `allow` (or `confirm` with actions enabled). A missing exposure means deny.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from xo_mcp import denylist
from xo_mcp.worker.describe import (
    BodyShape,
    body_shape,
    follow,
    notes,
    phrase,
    shape_hint,
    short_needs,
    split_privileges,
)

HTTP_METHODS = ("get", "post", "put", "patch", "delete")

# Same exclusions as the official server: payloads an LLM context cannot use.
_EXCLUDED_PATHS = (
    re.compile(r"\.(txt|tgz|tar|gz|zip|raw|iso|vhd|xva|ova|ndjson)$"),
    re.compile(r"\.\{[^}]+\}$"),
    re.compile(r"/stats$"),
)
_PLACEHOLDER = re.compile(r"\{([^}]+)\}")
_STREAM_WORDS = re.compile(r"\bSSE\b|server-sent events", re.IGNORECASE)
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.]")


class SpecError(ValueError):
    """The document is not an OpenAPI spec the worker can build tools from."""


# XO's list arguments that the query tools pass on; any other query parameter is not offered.
LIST_ARGUMENTS = ("filter", "fields", "limit")


@dataclass(frozen=True)
class Operation:
    name: str  # the operationId (or a derived fallback)
    method: str  # upper case
    path: str  # relative to /rest/v0, with {placeholders}
    description: str  # what it does: "Remove a tag from a VM"
    default_fields: str | None = None
    requires_confirm: bool = False
    body_schema: dict[str, Any] | None = None
    details: str = ""  # what the spec's prose adds: "The VM must be running."
    needs: str = ""  # the privileges XO checks, short: "vm:start, host:allow-vm if hostId"
    list_arguments: tuple[str, ...] = ()  # which of LIST_ARGUMENTS XO honours here
    body: str = ""  # the body it takes, short: "body {snapshotId, snapshotBefore?}"
    deprecated: bool = False
    body_shape: BodyShape | None = None  # None: no body
    tasked: bool = False  # XO may answer 202 with the task it started (`wait` follows it)

    @property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(_PLACEHOLDER.findall(self.path))

    @property
    def signature(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Domain:
    segment: str  # e.g. "vm-templates"
    queries: list[Operation] = field(default_factory=list)
    actions: list[Operation] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return tool_prefix(self.segment)


@dataclass(frozen=True)
class ApiCatalog:
    domains: dict[str, Domain]
    components: dict[str, Any] = field(default_factory=dict)
    title: str = ""
    version: str = ""
    skipped_streams: tuple[str, ...] = ()


def _derived_id(method: str, path: str) -> str:
    segments = [s for s in path.replace("{", "").replace("}", "").split("/") if s]
    return "_".join([method.lower(), *segments])


def _mapping(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one: specs in the wild are not all tidy."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def default_fields(operation: dict[str, Any]) -> str | None:
    """Keys of the first example object of the 200 (then 201) response, `href` excluded."""
    responses = _mapping(operation.get("responses"))
    for status in ("200", "201"):
        content = _mapping(_mapping(responses.get(status)).get("content"))
        for media in content.values():
            for example in _mapping(_mapping(media).get("examples")).values():
                value = _mapping(example).get("value")
                candidate = value[0] if isinstance(value, list) and value else value
                if isinstance(candidate, dict):
                    keys = [str(key) for key in candidate if key != "href"]
                    if keys:
                        return ",".join(keys)
    return None


def _is_stream(method: str, path: str, operation: dict[str, Any]) -> bool:
    """Endless responses (SSE) would hang a tool call until its timeout."""
    if method != "get":
        return False
    if path == "/events":
        return True
    for response in _mapping(operation.get("responses")).values():
        if "text/event-stream" in _mapping(_mapping(response).get("content")):
            return True
    return bool(_STREAM_WORDS.search(str(operation.get("description") or "")))


class _Budget:
    """Caps how much of a schema gets inlined: `$ref` cycles and fan-out cannot explode."""

    def __init__(self, nodes: int) -> None:
        self.nodes = nodes


def _resolve(schema: Any, components: dict[str, Any], budget: _Budget, depth: int) -> Any:
    budget.nodes -= 1
    if depth > 12 or budget.nodes <= 0:
        return {"type": "object"}
    if isinstance(schema, list):
        return [_resolve(item, components, budget, depth + 1) for item in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1] if ref.startswith("#/components/schemas/") else None
        target = components.get(name) if name else None
        if not isinstance(target, dict):
            return {"type": "object"}
        return _resolve(target, components, budget, depth + 1)
    return {key: _resolve(value, components, budget, depth + 1) for key, value in schema.items()}


def resolve_schema(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """Inline local `$ref`s of a request-body schema, within a fixed budget of nodes."""
    resolved = _resolve(schema, components, _Budget(5_000), 0)
    return resolved if isinstance(resolved, dict) else {"type": "object"}


def _body_schema(operation: dict[str, Any]) -> dict[str, Any] | None:
    """The raw JSON body schema; resolved only when a call needs it (start-up stays cheap)."""
    content = _mapping(_mapping(operation.get("requestBody")).get("content"))
    schema = _mapping(content.get("application/json")).get("schema")
    return schema if isinstance(schema, dict) else None


def _deny_entry(entry: str) -> str:
    """`delete  /vms/{id}` → `DELETE /vms/{id}`; operationIds stay as they are."""
    return denylist.normalize(entry)


def operation_names(spec: Any) -> list[tuple[str, str, str]]:
    """(operationId, method, path) of every operation the spec has, exposed or not."""
    if not isinstance(spec, dict) or not isinstance(spec.get("paths"), dict):
        return []
    found = []
    for path, method, raw, _ in _operations(spec):
        name = raw.get("operationId") if isinstance(raw.get("operationId"), str) else None
        found.append((name or _derived_id(method, path), method, path))
    return found


def _denied(deny: frozenset[str], name: str, method: str, path: str) -> bool:
    return name in deny or f"{method.upper()} {path}" in deny


def _exposure_allows(operation: dict[str, Any], actions: bool) -> tuple[bool, bool]:
    exposure = operation.get("x-mcp-exposure")
    if exposure == "allow":
        return True, False
    if exposure == "confirm":
        return actions, True
    return False, False


def _operations(
    spec: dict[str, Any],
) -> Iterable[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(path, method, operation, path item) for every operation of the spec, in its order."""
    for path, item in spec["paths"].items():
        if not isinstance(path, str) or not isinstance(item, dict):
            continue
        for method in HTTP_METHODS:
            operation = item.get(method)
            if isinstance(operation, dict):
                yield path, method, operation, item


def _query_parameters(
    operation: dict[str, Any], path_item: dict[str, Any], components: dict[str, Any]
) -> tuple[str, ...]:
    """Names of the query parameters declared on the operation or on its path."""
    declared = [
        *_list(path_item.get("parameters")),
        *_list(operation.get("parameters")),
    ]
    names: dict[str, None] = {}
    for parameter in declared:
        resolved = _mapping(follow(parameter, components))
        name = resolved.get("name")
        if resolved.get("in") == "query" and isinstance(name, str):
            names[name] = None
    return tuple(names)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def describe_operation(
    name: str,
    method: str,
    path: str,
    raw: dict[str, Any],
    *,
    path_item: dict[str, Any] | None = None,
    components: dict[str, Any] | None = None,
    confirm: bool = False,
) -> Operation:
    """One operation as the tools present it: what it does, its arguments, its privileges.

    `components` is the spec's whole `components` object (schemas, parameters…)."""
    components = components or {}
    method = method.lower()
    query = _query_parameters(raw, path_item or {}, components)
    list_arguments = tuple(a for a in LIST_ARGUMENTS if a in query) if method == "get" else ()
    what = phrase(method, path, listing=bool(list_arguments))
    # The spec's words: a summary says what it does, a description mostly what it checks.
    prose, privileges = split_privileges(_text(raw.get("description")))
    summary_prose, summary_privileges = split_privileges(_text(raw.get("summary")))
    # XO query parameters the tool does not pass on are never mentioned: a model would try them.
    unoffered = frozenset(q for q in query if q not in list_arguments)
    shape = body_shape(raw.get("requestBody"), components) if method != "get" else None
    return Operation(
        name=name,
        method=method.upper(),
        path=path,
        description=what,
        default_fields=default_fields(raw) if method == "get" else None,
        requires_confirm=confirm,
        body_schema=_body_schema(raw) if method != "get" else None,
        details=notes(f"{summary_prose}\n\n{prose}", what, unoffered),
        needs=short_needs(summary_privileges + privileges),
        list_arguments=list_arguments,
        body=shape_hint(shape),
        deprecated=raw.get("deprecated") is True,
        body_shape=shape,
        tasked=method != "get" and "202" in _mapping(raw.get("responses")),
    )


def _segment(path: str) -> str:
    """The first path segment, which names the domain (and so the tool)."""
    return path.lstrip("/").split("/")[0]


MAX_PREFIX = 100  # tool names stay within MCP's 128 characters with `_action`


def tool_prefix(segment: str) -> str:
    """`vm-templates` → `vm_templates`; anything a tool name may not hold becomes `_` too.

    An absurdly long segment is cut, with a short digest of the whole to keep names unique.
    """
    prefix = _NAME_UNSAFE.sub("_", segment.replace("-", "_"))
    if len(prefix) <= MAX_PREFIX:
        return prefix
    digest = hashlib.sha256(segment.encode()).hexdigest()[:8]
    return f"{prefix[: MAX_PREFIX - 9]}_{digest}"


def parse_spec(spec: Any, *, actions: bool = False, deny: Iterable[str] = ()) -> ApiCatalog:
    """Build the catalog; `deny` holds operationIds or `METHOD /path` entries."""
    if not isinstance(spec, dict) or not isinstance(spec.get("paths"), dict):
        raise SpecError('invalid OpenAPI spec: missing "paths" object')
    everything = _mapping(spec.get("components"))
    components = _mapping(everything.get("schemas"))
    denied = frozenset(_deny_entry(entry) for entry in deny)
    # Keyed by tool prefix: `/a-b` and `/a_b` would otherwise make two tools of the same name.
    domains: dict[str, Domain] = {}
    streams: list[str] = []
    for path, method, raw, item in _operations(spec):
        if any(rule.search(path) for rule in _EXCLUDED_PATHS):
            continue
        name = raw.get("operationId") if isinstance(raw.get("operationId"), str) else None
        name = name or _derived_id(method, path)
        if _denied(denied, name, method, path):
            continue
        exposed, confirm = _exposure_allows(raw, actions)
        if not exposed:
            continue
        if _is_stream(method, path, raw):
            streams.append(f"{method.upper()} {path}")
            continue
        segment = _segment(path)
        if not tool_prefix(segment).strip("_"):
            continue  # no usable tool name (e.g. a path of "/" or "/{id}")
        domain = domains.setdefault(tool_prefix(segment), Domain(segment))
        operation = describe_operation(
            name, method, path, raw, path_item=item, components=everything, confirm=confirm
        )
        (domain.queries if method == "get" else domain.actions).append(operation)
    info = _mapping(spec.get("info"))
    return ApiCatalog(
        domains=domains,
        components=components,
        title=str(info.get("title", "")),
        version=str(info.get("version", "")),
        skipped_streams=tuple(streams),
    )
