"""Operation briefs (compact lines): the arguments to think of, words only where the id says too
little; checked on XO's real spec for every operation of every tool."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.npm import NpmPeers

from xo_mcp.worker.brief import brief
from xo_mcp.worker.openapi import describe_operation, parse_spec
from xo_mcp.worker.tools import build_tools


def _brief(
    name: str, method: str, path: str, segment: str, **raw: Any
) -> tuple[str, tuple[str, ...]]:
    op = describe_operation(name, method, path, {"responses": {}, **raw}, confirm=method != "get")
    found = brief(op, segment)
    return found.line, found.arguments


def json_body(schema: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


LIST = [{"in": "query", "name": name} for name in ("filter", "fields", "limit", "markdown")]


def test_ids_that_say_what_they_do_stand_alone() -> None:
    assert _brief("GetVms", "get", "/vms", "vms", parameters=LIST) == (
        "GetVms",
        ("filter", "fields", "limit"),
    )
    assert _brief("GetVm", "get", "/vms/{id}", "vms") == ("GetVm(id)", ("id",))
    assert _brief("CleanShutdownVm", "post", "/vms/{id}/actions/clean_shutdown", "vms") == (
        "CleanShutdownVm(id)",
        ("id",),  # no confirm_token: no first call needs it
    )


def test_every_path_placeholder_is_named() -> None:
    line, arguments = _brief("PutVmTag", "put", "/vms/{id}/tags/{tag}", "vms")
    assert line == "PutVmTag(id,tag)" and arguments == ("id", "tag")


@pytest.mark.parametrize(
    ("schema", "required", "shown"),
    [
        ({"type": "object", "properties": {"hostId": {"type": "string"}}}, False, "body?"),
        ({"type": "object"}, True, "body?"),
        (
            {"type": "object", "properties": {"snapshotId": {}, "snapshotBefore": {}},
             "required": ["snapshotId"]},
            False,
            "body{snapshotId,…}",
        ),
        ({"type": "object", "properties": {"srId": {}}, "required": ["srId"]}, True, "body{srId}"),
    ],
)  # fmt: skip
def test_the_body_shows_its_required_keys(
    schema: dict[str, Any], required: bool, shown: str
) -> None:
    line, arguments = _brief(
        "Act",
        "post",
        "/vms/{id}/actions/act",
        "vms",
        requestBody=json_body(schema, required=required),
    )
    assert line == f"Act(id,{shown})" and "body" in arguments


def test_a_file_upload_says_it_is_not_supported() -> None:
    upload = {"content": {"application/octet-stream": {"schema": {"type": "string"}}}}
    line, arguments = _brief("ImportVm", "post", "/pools/{id}/vms", "pools", requestBody=upload)
    assert line == "ImportVm(id): file upload: unsupported" and "body" not in arguments


def test_words_only_where_the_id_says_too_little() -> None:
    line, _ = _brief("AddDataSource", "put", "/vms/{id}/stats/data_source/{data_source}", "vms")
    assert line == "AddDataSource(id,data_source): Add stats data source to VM"
    line, _ = _brief("Disable", "post", "/hosts/{id}/actions/disable", "hosts")
    assert line == "Disable(id)"  # "Disable a host": the tool says host


def test_deprecated_unless_the_id_says_so() -> None:
    assert _brief("GetVmBackupJobs", "get", "/backup/jobs/vm", "backup", deprecated=True)[0] == (
        "GetVmBackupJobs: deprecated"
    )
    old = _brief("GetDeprecatedBackupLogs", "get", "/backup/logs", "backup", deprecated=True)
    assert old[0] == "GetDeprecatedBackupLogs"


def test_wait_only_where_xo_answers_with_a_task() -> None:
    tasked = {"responses": {"202": {}, "204": {}}}
    _, arguments = _brief("StartVm", "post", "/vms/{id}/actions/start", "vms", **tasked)
    assert "wait" in arguments
    _, arguments = _brief("PutVmTag", "put", "/vms/{id}/tags/{tag}", "vms")
    assert "wait" not in arguments and "confirm_token" not in arguments


def test_every_operation_of_xos_real_spec_has_a_brief_its_tool_can_take(npm: NpmPeers) -> None:
    spec = json.loads(npm.real_spec.read_text(encoding="utf-8"))
    tools = build_tools(parse_spec(spec, actions=True))
    lines = 0
    for tool in tools:
        properties = tool.definition["inputSchema"]["properties"]
        assert set(tool.brief.operations) == set(tool.operations), tool.name
        for name, found in tool.brief.operations.items():
            assert found.line.split("(")[0].split(":")[0] == name
            assert set(found.arguments) <= set(properties), (tool.name, name)
            assert len(found.line) <= 80, found.line  # a few words, not a description
            lines += 1
    assert lines > 240
