"""Tool arguments checked against the tool's input schema, with messages a model can act on."""

from __future__ import annotations

from typing import Any

import pytest

from xo_mcp.front.arguments import MAX_STRING, check_arguments

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "operation": {"type": "string", "enum": ["GetVms", "GetVm"]},
        "id": {"type": "string"},
        "limit": {"type": "number"},
        "count": {"type": "integer"},
        "body": {"type": "object"},
        "wait": {"type": "boolean"},
        "items": {"type": "array"},
        "anything": {},
    },
    "required": ["operation"],
    "additionalProperties": False,
}


def test_valid_arguments() -> None:
    arguments = {
        "operation": "GetVm",
        "id": "x",
        "limit": 2.5,
        "count": 3,
        "body": {"a": 1},
        "wait": True,
        "items": [1],
        "anything": None,
    }
    assert check_arguments(arguments, SCHEMA) == []


def test_missing_required() -> None:
    assert check_arguments({}, SCHEMA) == ["`operation` is required"]
    assert check_arguments(None, SCHEMA) == ["`operation` is required"]
    assert check_arguments({"operation": None}, SCHEMA) == ["`operation` is required"]


def test_arguments_must_be_an_object() -> None:
    (problem,) = check_arguments(["GetVms"], SCHEMA)
    assert problem.startswith("arguments must be an object")


def test_enum() -> None:
    (problem,) = check_arguments({"operation": "DeleteVm"}, SCHEMA)
    assert problem == "`operation` must be one of: GetVms, GetVm (got 'DeleteVm')"
    (typo,) = check_arguments({"operation": "GetVM"}, SCHEMA)
    assert typo == "`operation` must be one of: GetVms, GetVm (got 'GetVM'); did you mean GetVm?"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("id", 42, "string"),
        ("limit", "10", "number"),
        ("limit", True, "number"),  # JSON true is not a number, even if Python says bool is int
        ("count", 1.5, "integer"),
        ("body", [1], "object"),
        ("wait", "yes", "boolean"),
        ("items", {}, "array"),
    ],
)
def test_types(name: str, value: Any, expected: str) -> None:
    (problem,) = check_arguments({"operation": "GetVms", name: value}, SCHEMA)
    assert problem.startswith(f"`{name}` must be a {expected}, got ")


def test_unknown_arguments_name_the_allowed_ones() -> None:
    (problem,) = check_arguments({"operation": "GetVms", "ids": "x"}, SCHEMA)
    assert problem.startswith("unknown argument `ids` (allowed: operation, id, limit")


def test_unknown_arguments_list_every_allowed_one_once() -> None:
    (problem,) = check_arguments({"operation": "GetVms", "sync": True, "markdown": "x"}, SCHEMA)
    allowed = ", ".join(SCHEMA["properties"])
    assert problem == f"unknown arguments `sync`, `markdown` (allowed: {allowed})"


def test_a_long_unknown_name_is_shortened() -> None:
    (problem,) = check_arguments({"operation": "GetVms", "x" * 5000: 1}, SCHEMA)
    assert len(problem) < 200 and "..." in problem


def test_unknown_arguments_are_fine_when_the_schema_allows_them() -> None:
    open_schema = {**SCHEMA, "additionalProperties": True}
    assert check_arguments({"operation": "GetVms", "extra": 1}, open_schema) == []


def test_every_problem_is_listed() -> None:
    problems = check_arguments({"id": 1, "limit": "x", "nope": 0, "nix": 0}, SCHEMA)
    assert len(problems) == 4  # required, the unknown ones (together), id, limit


def test_long_strings_are_refused_and_not_echoed() -> None:
    (problem,) = check_arguments({"operation": "GetVms", "id": "x" * (MAX_STRING + 1)}, SCHEMA)
    assert "too long" in problem and len(problem) < 200


def test_values_are_shortened_in_messages() -> None:
    (problem,) = check_arguments({"operation": "GetVms", "id": ["y" * 500]}, SCHEMA)
    assert len(problem) < 120 and problem.endswith("...")
