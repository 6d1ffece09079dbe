"""Operation lines: what an operation does (from its method and path), what the spec's prose adds,
the privileges it needs, the arguments it takes; checked over every operation of XO's real spec
and of the simulator's."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest
from support.npm import NpmPeers
from support.paths import mismatches, what_it_does
from support.processes import Sim

from xo_mcp.worker.describe import (
    NOTE_BUDGET,
    Privilege,
    body_hint,
    notes,
    phrase,
    sentences,
    short_needs,
    split_privileges,
)
from xo_mcp.worker.openapi import HTTP_METHODS, describe_operation, parse_spec
from xo_mcp.worker.tools import ToolSpec, build_tools, operation_line

# --- what an operation does -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "listing", "expected"),
    [
        ("GET", "/vms", True, "List VMs"),
        ("GET", "/vms/{id}", False, "Get a VM"),
        ("DELETE", "/vms/{id}", False, "Delete a VM"),
        ("PATCH", "/vdis/{id}", False, "Update a VDI"),
        ("POST", "/vdis", False, "Create a VDI"),
        ("DELETE", "/tasks", False, "Delete all tasks"),
        ("GET", "/dashboard", False, "Get the dashboard"),
        ("GET", "/mcp/status", False, "Get the MCP status"),
        ("GET", "/vms/{id}/alarms", True, "List the alarms of a VM"),
        ("GET", "/pools/{id}/missing_patches", False, "Get the missing patches of a pool"),
        ("PUT", "/srs/{id}/tags/{tag}", False, "Add a tag to an SR"),
        ("DELETE", "/vms/{id}/tags/{tag}", False, "Remove a tag from a VM"),
        (
            "DELETE",
            "/vms/{id}/stats/data_source/{data_source}",
            False,
            "Remove a stats data source from a VM",
        ),
        ("PUT", "/acl-roles/{id}/users/{userId}", False, "Add a user to an ACL role"),
        ("POST", "/vms/{id}/actions/start", False, "Start a VM"),
        ("POST", "/vms/{id}/actions/clean_shutdown", False, "Clean shutdown on a VM"),
        ("POST", "/pools/{id}/actions/create_vm", False, "Create VM on a pool"),
        ("POST", "/hosts/{id}/actions/scan_pifs", False, "Scan PIFs on a host"),
        ("POST", "/pools/{id}/vms", False, "Add a VM to a pool"),
        (
            "POST",
            "/users/{id}/authentication_tokens",
            False,
            "Add an authentication token to a user",
        ),
        ("POST", "/users/authentication_tokens", False, "Create a user authentication token"),
        ("GET", "/backup/jobs/vm/{id}", False, "Get a backup job VM"),
        ("GET", "/vms/{id}.{format}", False, "Get a VM as a file"),
        ("PUT", "/vdis/{id}.{format}", False, "Replace a VDI from a file"),
        ("GET", "/backup-repositories/{id}/health", False, "Get the health of a backup repository"),
        ("GET", "/proxies", True, "List proxies"),
        ("GET", "/proxies/{id}", False, "Get a proxy"),
        ("GET", "/pgpus/{id}", False, "Get a PGPU"),
        ("GET", "/alarms/{id}", False, "Get an alarm"),
        ("GET", "/{id}", False, "Get an item"),
    ],
)
def test_phrase(method: str, path: str, listing: bool, expected: str) -> None:
    assert phrase(method, path, listing=listing) == expected
    assert mismatches(method, path, expected) == [] or path == "/{id}"


def test_the_path_check_refuses_what_the_old_simulator_said() -> None:
    # The simulator used to call every DELETE "Deletes a VM", whatever its path.
    path = "/vms/{id}/stats/data_source/{data_source}"
    assert mismatches("DELETE", path, "Deletes a VM") == [
        "does not name 'data'",
        "does not name 'source'",
    ]
    assert mismatches("PUT", path, "Attaches a VM")
    assert mismatches("POST", "/vms/{id}/actions/start", "Runs `start` on a VM")
    assert mismatches("DELETE", "/vms/{id}", "Get a VM") == [
        "starts with 'get', not one of ['delete', 'remove']"
    ]


# --- the spec's prose and its privileges ----------------------------------------------------------


def test_privilege_lists_and_their_headers_leave_the_prose() -> None:
    prose, privileges = split_privileges(
        "Halted VMs only\n\nPrivileges it checks:\n- resource: vm, action: start\n"
        "- resource: host, action: allow-vm (if a hostId is given)\n\nA note."
    )
    assert prose == "Halted VMs only\n\n\nA note."
    assert privileges == [
        Privilege("vm", "start"),
        Privilege("host", "allow-vm", "if hostId"),
    ]
    listed, (read,) = split_privileges(
        "Lists what the caller holds this privilege on:\n- resource: vm, action: read"
    )
    assert (listed, read) == ("", Privilege("vm", "read"))


@pytest.mark.parametrize(
    ("description", "needs"),
    [
        ("- resource: vm, action: delete", "vm:delete"),
        (
            "- resource: vm, action: revert-snapshot\n"
            "- resource: vm, action: snapshot (if `snapshotBefore: true`)",
            "vm:revert-snapshot, vm:snapshot if snapshotBefore",
        ),
        (
            "- resource: vm, action: update:&lt;field&gt; (e.g. update:cpus)",
            "vm:update:<field> per field",
        ),
        (
            "- resource: user, action: update (any field)\n"
            "- resource: user, action: update:name (if name is set)\n"
            "- resource: user, action: update:password (when `password` is given)",
            "user:update or user:update:<field> per field",
        ),
        (
            "- resource: sr, action: import:vdi (on the SR it goes to)\n"
            "- resource: vdi, action: create",
            "sr:import:vdi on the SR it goes to, vdi:create",
        ),
        ("- resource: user, action: read (unless oneself)", "user:read unless oneself"),
        (
            "- resource: host, action: evacuate (when `evacuate` is true)",
            "host:evacuate if evacuate",
        ),
        ("No privilege at all.", ""),
    ],
)
def test_short_needs(description: str, needs: str) -> None:
    assert short_needs(split_privileges(description)[1]) == needs


def test_sentences_drop_markup_and_lists_they_introduce() -> None:
    prose = (
        "The VM must be running\n\n"
        "List of possible data_source (see [the doc](https://example.com))\n"
        "- **cpu#** : use of a vCPU\n- **memory** : memory in use\n\n"
        "Partial update. Only the fields present are\nmodified;\neverything else stays.\n\n"
        "- For a fast clone, set `fast` to `true`."
    )
    assert list(sentences(prose)) == [
        "The VM must be running.",
        "Partial update.",
        "Only the fields present are modified; everything else stays.",
        "For a fast clone, set `fast` to `true`.",
    ]


def test_notes_skip_what_the_phrase_says_and_arguments_not_offered() -> None:
    said = "Start a host"
    assert notes("Start a host.\n\nStarts the host.", said) == ""
    assert notes("Deletes the host. It must be halted.", "Delete a host") == "It must be halted."
    avoided = notes("If watch is true, ndjson must be true. Oldest first.", "List tasks",
                    frozenset({"watch", "ndjson"}))  # fmt: skip
    assert avoided == "Oldest first."
    long = notes("word " * 100, said)
    assert len(long) <= NOTE_BUDGET and long.endswith("…")


# --- bodies --------------------------------------------------------------------------------------


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def test_body_hints() -> None:
    components = {
        "schemas": {
            "Base": {"properties": {"name": {}, "mtu": {}}, "required": ["name"]},
            "Clone": {
                "anyOf": [
                    {"properties": {"name_label": {}, "fast": {}}},
                    {"properties": {"name_label": {}, "srId": {}}, "required": ["srId"]},
                ]
            },
        }
    }
    ref = {"$ref": "#/components/schemas/Base"}
    assert body_hint(json_body(ref), components) == "body {name, mtu?}"
    both = {"allOf": [ref, {"properties": {"pif": {}}, "required": ["pif"]}]}
    assert body_hint(json_body(both), components) == "body {name, pif, mtu?}"
    clone = json_body({"$ref": "#/components/schemas/Clone"})
    assert body_hint(clone, components) == "body {name_label?, fast?, srId?}"
    wide = json_body({"properties": {f"k{i}": {} for i in range(8)}})
    assert body_hint(wide, {}) == "body {k0?, k1?, k2?, k3?, k4?, …+3}"
    assert body_hint(json_body({"type": "object"}), {}) == "body"
    upload = {"content": {"application/octet-stream": {"schema": {"type": "string"}}}}
    assert "cannot" in body_hint(upload, {}) or "not supported" in body_hint(upload, {})
    assert body_hint(None, {}) == ""
    looping = {"schemas": {"A": {"$ref": "#/components/schemas/A"}}}
    assert body_hint(json_body({"$ref": "#/components/schemas/A"}), looping) == "body"


# --- every operation of a real spec ---------------------------------------------------------------


def every_operation(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    return [
        (method, path, operation, item)
        for path, item in spec["paths"].items()
        for method in HTTP_METHODS
        if isinstance(operation := item.get(method), dict)
    ]


def tool_lines(tools: list[ToolSpec]) -> dict[tuple[str, str], str]:
    """(method, path) → the line its tool's description carries for it."""
    lines: dict[tuple[str, str], str] = {}
    for tool in tools:
        text = str(tool.definition["description"])
        for name, op in tool.operations.items():
            (line,) = [li for li in text.splitlines() if li.startswith(f'  - "{name}": ')]
            for same in (o for o in tool.operations.values() if o.name == name):
                lines[(same.method, same.path)] = line
            lines[(op.method, op.path)] = line
    return lines


def check_every_line(spec: dict[str, Any]) -> int:
    """Every operation's line (and, when a tool offers it, the tool's line) fits its path."""
    components = spec.get("components", {})
    offered = tool_lines(build_tools(parse_spec(spec, actions=True)))
    problems: dict[str, list[str]] = {}
    for method, path, raw, item in every_operation(spec):
        name = str(raw.get("operationId", ""))
        operation = describe_operation(name, method, path, raw, path_item=item,
                                       components=components)  # fmt: skip
        lines = [operation_line(operation)]
        if (method.upper(), path) in offered:
            lines.append(offered[(method.upper(), path)])
            assert lines[0] == lines[1], (method, path)
        for line in lines:
            found = mismatches(method, path, what_it_does(line))
            if found:
                problems[f"{method.upper()} {path}: {line}"] = found
    assert problems == {}
    return len(offered)


def real_spec(npm: NpmPeers) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(npm.real_spec.read_text(encoding="utf-8"))
    return document


def sim_spec(sim: Sim) -> dict[str, Any]:
    document: dict[str, Any] = sim.rest("/docs/swagger.json")
    return document


def test_every_line_of_xos_real_spec_fits_its_path(npm: NpmPeers) -> None:
    spec = real_spec(npm)
    assert len(every_operation(spec)) == 271
    assert check_every_line(spec) > 200


def test_privileges_of_xos_real_spec_in_a_few_words(npm: NpmPeers) -> None:
    tools = build_tools(parse_spec(real_spec(npm), actions=True))
    needs = {(tool.name, op.name): op.needs for tool in tools for op in tool.operations.values()}
    assert needs[("vms_action", "DeleteVm")] == "vm:delete"
    assert needs[("vms_action", "StartVm")] == "vm:start, host:allow-vm if hostId"
    assert needs[("users_action", "UpdateUser")] == "user:update or user:update:<field> per field"
    assert needs[("vdis_action", "CreateVdi")] == "sr:import:vdi on the target SR, vdi:create"
    assert needs[("users_query", "GetUser")] == "user:read if not self"
    assert needs[("vms_query", "GetVmAlarms")] == "alarm:read"
    assert needs[("ping_query", "Ping")] == ""


def test_every_line_of_the_simulators_spec_fits_its_path(sim: Sim) -> None:
    assert check_every_line(sim_spec(sim)) > 200


# --- no argument a tool does not take -------------------------------------------------------------

NEVER_OFFERED = ("markdown", "ndjson", "sync")


def without_needs(line: str) -> str:
    """The line without its privileges: `sr:import:vm` is a privilege, not the argument `sr`."""
    return line.split(" Needs ", 1)[0]


def check_arguments_named(spec: dict[str, Any]) -> None:
    tools = build_tools(parse_spec(spec, actions=True))
    queries = {(m.upper(), p): raw for m, p, raw, _ in every_operation(spec)}
    for tool in tools:
        properties = set(tool.definition["inputSchema"]["properties"])
        text = json.dumps(tool.definition)
        for word in NEVER_OFFERED:
            assert not re.search(rf"\b{word}\b", text, re.IGNORECASE), (tool.name, word)
        lines = str(tool.definition["description"]).splitlines()[1:]
        for op in tool.operations.values():
            line = next(li for li in lines if li.startswith(f'  - "{op.name}": '))
            arguments = re.search(r"\((.*?)\)\.", re.sub(r"body \{[^}]*\}", "body", line))
            named = set(arguments[1].split(", ")) if arguments else set()
            assert named - {"body", "file upload", "not supported by this tool"} <= properties
            declared = {
                str(p.get("name"))
                for p in queries[(op.method, op.path)].get("parameters", [])
                if p.get("in") == "query"
            }
            for name in declared - properties:
                assert not re.search(
                    rf"(?<![\w-]){re.escape(name)}(?![\w-])", without_needs(line), re.IGNORECASE
                ), (line, name)


def test_descriptions_of_xos_real_spec_name_only_arguments_the_tools_take(npm: NpmPeers) -> None:
    check_arguments_named(real_spec(npm))


def test_descriptions_of_the_simulators_spec_name_only_arguments_the_tools_take(
    sim: Sim,
) -> None:
    check_arguments_named(sim_spec(sim))


def official_description(tool: ToolSpec, spec: dict[str, Any]) -> str:
    """What the official server writes for the same tool: XO's summary or description verbatim."""
    raws = {(m.upper(), p): raw for m, p, raw, _ in every_operation(spec)}
    header = str(tool.definition["description"]).splitlines()[0]
    lines = [header]
    for op in tool.operations.values():
        raw = raws[(op.method, op.path)]
        text = raw.get("summary") or raw.get("description") or f"{op.method} {op.path}"
        lines.append(f'  - "{op.name}": {text}')
    return "\n".join(lines)


def test_descriptions_shrink(npm: NpmPeers) -> None:
    """The real spec's tools, described in fewer bytes than XO's own words would take."""
    spec = real_spec(npm)
    tools = build_tools(parse_spec(spec, actions=True))
    ours = sum(len(str(t.definition["description"]).encode()) for t in tools)
    theirs = sum(len(official_description(t, spec).encode()) for t in tools if t.operations)
    assert ours < 0.8 * theirs


def test_a_body_fanning_out_through_refs_is_cut() -> None:
    # A → 50 × B → 50 × C → …: without a budget, millions of visits.
    names = "ABCDEFG"
    components = {
        "schemas": {
            name: {"anyOf": [{"$ref": f"#/components/schemas/{after}"}] * 50}
            for name, after in itertools.pairwise(names)
        }
    }
    components["schemas"]["G"] = {"properties": {"x": {}}}
    hint = body_hint(json_body({"$ref": "#/components/schemas/A"}), components)
    assert hint in ("body", "body {x?}")
