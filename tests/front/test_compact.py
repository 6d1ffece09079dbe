"""Compact tool definitions: lines instead of long descriptions, only the arguments the
operations use, no restated defaults; the nearest name to a typo."""

from __future__ import annotations

from typing import Any

import pytest

from xo_mcp.front.compact import (
    bare,
    compact_tool,
    describe_operation_tool,
    meaningful_hints,
    nearest,
    operations_of,
)
from xo_mcp.wire.messages import OperationBrief, ToolBrief

ACTION: dict[str, Any] = {
    "name": "vms_action",
    "title": "vms actions",
    "description": 'Perform actions on vms resources. Available operations:\n  - "StartVm": …',
    "inputSchema": {
        "type": "object",
        "properties": {
            "operation": {"type": "string", "enum": ["StartVm", "PutVmTag"], "description": "…"},
            "id": {"type": "string", "description": "Resource ID"},
            "body": {"type": "object", "additionalProperties": True, "description": "Body"},
            "confirm_token": {"type": "string", "description": "Token"},
            "wait": {"type": "boolean", "description": "Wait"},
            "tag": {"type": "string", "description": "Fills {tag}"},
            "data_source": {"type": "string", "description": "Fills {data_source}"},
        },
        "required": ["operation"],
        "additionalProperties": False,
    },
    "annotations": {"destructiveHint": True, "openWorldHint": True},
}
BRIEF = ToolBrief(
    operations={
        "StartVm": OperationBrief(line="StartVm(id,body?)", arguments=("id", "body", "wait")),
        "PutVmTag": OperationBrief(line="PutVmTag(id,tag)", arguments=("id", "tag")),
    }
)


def test_a_domain_tool_lists_its_operations_one_line_each() -> None:
    tool = compact_tool(ACTION, BRIEF)
    assert tool == {
        "name": "vms_action",
        "description": "StartVm(id,body?)\nPutVmTag(id,tag)",
        "inputSchema": {
            "type": "object",
            "properties": {
                "operation": {"type": "string"},
                "id": {"type": "string"},
                "body": {"type": "object"},
                "wait": {"type": "boolean"},
                "tag": {"type": "string"},
            },
            "required": ["operation"],
        },
    }  # no title, no default hints, no argument no operation uses (data_source, confirm_token)


def test_without_a_brief_nothing_is_lost() -> None:
    tool = compact_tool(ACTION, ToolBrief())
    assert tool["description"] == "StartVm\nPutVmTag"
    assert set(tool["inputSchema"]["properties"]) == set(ACTION["inputSchema"]["properties"])
    half = ToolBrief(operations={"PutVmTag": BRIEF.operations["PutVmTag"]})
    assert compact_tool(ACTION, half)["description"] == "StartVm\nPutVmTag(id,tag)"


def test_a_tool_without_operations_keeps_its_arguments_and_gets_its_summary() -> None:
    docs = {
        "name": "search_documentation",
        "title": "Search XO Documentation",
        "description": "Search and retrieve Xen Orchestra documentation. Use this to …",
        "inputSchema": {
            "type": "object",
            "properties": {"topic": {"type": "string", "enum": ["backups"], "description": "…"}},
            "required": ["topic"],
            "additionalProperties": False,
        },
        "annotations": {"readOnlyHint": True, "openWorldHint": True},
    }
    assert compact_tool(docs, ToolBrief(summary="XO documentation.")) == {
        "name": "search_documentation",
        "description": "XO documentation.",
        "inputSchema": {
            "type": "object",
            "properties": {"topic": {"type": "string", "enum": ["backups"]}},
            "required": ["topic"],
        },
        "annotations": {"readOnlyHint": True},
    }
    assert compact_tool(docs, None)["description"] == docs["description"]


@pytest.mark.parametrize(
    ("hints", "kept"),
    [
        ({"readOnlyHint": True, "openWorldHint": True}, {"readOnlyHint": True}),
        ({"destructiveHint": True, "openWorldHint": True}, {}),
        ({"destructiveHint": False, "idempotentHint": True}, {"destructiveHint": False,
                                                              "idempotentHint": True}),
        ({"openWorldHint": False, "title": "x"}, {"openWorldHint": False}),
        (None, {}),
    ],
)  # fmt: skip
def test_only_hints_that_differ_from_what_mcp_assumes(hints: Any, kept: dict[str, Any]) -> None:
    assert meaningful_hints(hints) == kept


def test_bare_properties_and_operations() -> None:
    assert bare({"type": "number", "description": "Maximum", "minimum": 1}) == {"type": "number"}
    assert bare("nonsense") == {}
    assert operations_of(ACTION) == ["StartVm", "PutVmTag"]
    assert operations_of({"name": "check_connection", "inputSchema": {}}) == []


KNOWN = ["StartVm", "StopVm", "SnapshotVm", "GetVms", "PutVmTag"]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("StartVM", ["StartVm"]),  # only the case is wrong: nothing else is offered
        ("startvm", ["StartVm"]),
        ("StratVm", ["StartVm"]),
        ("SnapshotVms", ["SnapshotVm"]),
        ("Frobnicate", []),
    ],
)
def test_the_nearest_names_to_a_typo(typed: str, expected: list[str]) -> None:
    assert nearest(typed, KNOWN)[:1] == expected


def test_a_wrong_case_offers_one_name_only() -> None:
    assert nearest("startVM", KNOWN) == ["StartVm"]
    assert nearest("PutTag", [*KNOWN, "PutVmTags"]) == ["PutVmTag", "PutVmTags"]  # or two
    assert nearest("DeleteVm", KNOWN) == []  # another operation is not a typo


def test_describe_operation_asks_for_an_operation_only() -> None:
    tool = describe_operation_tool()
    assert tool["name"] == "describe_operation"
    assert tool["inputSchema"]["required"] == ["operation"]
    assert "Name(args)" in tool["description"]
    assert tool is not describe_operation_tool()  # callers may add to their own copy
