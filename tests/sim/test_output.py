"""How XO writes collections: markdown tables, `fields` picking, JS numbers and JSON text.

Expectations come from the REST API's markdown and object-mapper helpers (fact sheet §2.1,
§2.4) and from what `String()` / `JSON.stringify` print in Node.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from xo_mcp.sim.output import (
    js_number,
    map_object,
    pick,
    to_compact_json,
    to_json,
    to_markdown,
    to_ndjson,
)

HREF = "/rest/v0/vms/f07ab729-c0e8-721c-45ec-f11276377030"
VM: dict[str, Any] = {
    "id": "f07ab729",
    "name_label": "web-01",
    "power_state": "Running",
    "CPUs": {"number": 2, "max": 4},
    "tags": ["prod", "web"],
    "a.b": "literal dotted key",
    "a": {"b": "nested"},
    "auto_poweron": True,
    "notes": None,
}


# ------------------------------------------------------------------ markdown


def test_markdown_of_an_empty_list_is_no_results() -> None:
    assert to_markdown([]) == "No results."


def test_markdown_of_hrefs_is_one_per_line_without_trailing_newline() -> None:
    hrefs = ["/rest/v0/vms/a", "/rest/v0/vms/b"]
    assert to_markdown(hrefs) == "/rest/v0/vms/a\n/rest/v0/vms/b"


def test_markdown_table_matches_the_documented_example() -> None:
    items = [
        {"name_label": "web-01", "power_state": "Running", "tags": ["prod", "a|b"], "href": "x"},
        {"name_label": "db", "power_state": "Halted", "tags": [], "href": "y"},
    ]
    assert to_markdown(items) == (
        "| name_label | power_state | tags |\n"
        "| --- | --- | --- |\n"
        '| web-01 | Running | ["prod","a\\|b"] |\n'
        "| db | Halted | [] |"
    )


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("a|b", "a\\|b"),
        ("line1\nline2", "line1 line2"),
        ("keeps\rreturns", "keeps\rreturns"),
        ("||\n\n", "\\|\\|  "),
        ({"number": 2, "max": 2}, '{"number":2,"max":2}'),
        ({"x": "a\nb|c"}, '{"x":"a\\nb\\|c"}'),
        ([], "[]"),
        ({}, "{}"),
        ([1, [2, {"k": None}]], '[1,[2,{"k":null}]]'),
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (4294967296, "4294967296"),
        (2.0, "2"),
        (1.5, "1.5"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (-0.0, "0"),
        ("", ""),
        ("é 😀", "é 😀"),
    ],
)
def test_markdown_cells_render_like_js_string_and_json_stringify(value: Any, cell: str) -> None:
    table = to_markdown([{"v": value, "href": HREF}])
    assert table.split("\n")[2] == f"| {cell} |"


def test_markdown_columns_come_from_the_first_item_only() -> None:
    items = [
        {"a": 1, "href": "x"},
        {"a": 2, "later": "dropped", "href": "y"},
        {"href": "z"},
    ]
    assert to_markdown(items) == "| a |\n| --- |\n| 1 |\n| 2 |\n|  |"


def test_markdown_keeps_the_first_items_key_order_and_drops_href() -> None:
    items = [{"b": 1, "href": "x", "a": 2}]
    assert to_markdown(items).split("\n")[0] == "| b | a |"


def test_markdown_of_objects_with_only_href_has_empty_rows() -> None:
    items = [{"href": "x"}, {"href": "y"}]
    assert to_markdown(items) == "|  |\n|  |\n|  |\n|  |"


def test_missing_and_null_values_render_as_two_spaces() -> None:
    items = [{"a": "x", "b": None, "href": "h"}, {"a": "y", "href": "h"}]
    assert to_markdown(items).split("\n")[2:] == ["| x |  |", "| y |  |"]


# ------------------------------------------------------------------ JS numbers


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0, "0"),
        (-0.0, "0"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (5e-324, "5e-324"),
        (1e-6, "0.000001"),
        (1.2345e-5, "0.000012345"),
        (1e-7, "1e-7"),
        (-1.5e-10, "-1.5e-10"),
        (0.1 + 0.2, "0.30000000000000004"),
        (123.456, "123.456"),
        (float("nan"), "NaN"),
        (float("-inf"), "-Infinity"),
    ],
)
def test_js_number_prints_what_javascript_prints(number: float, text: str) -> None:
    assert js_number(number) == text


# ------------------------------------------------------------------ JSON text


def test_json_is_pretty_printed_with_two_spaces_like_python_for_plain_data() -> None:
    value = {"a": [1, {"b": []}], "c": {}, "d": "é"}
    assert to_json(value) == json.dumps(value, indent=2, ensure_ascii=False)


def test_json_writes_floats_as_javascript_does() -> None:
    assert to_compact_json([2.0, 1e-7, 0.00001, 1e21]) == "[2,1e-7,0.00001,1e+21]"


def test_json_escapes_lone_surrogates_like_json_stringify() -> None:
    assert to_compact_json("a\ud800b") == '"a\\ud800b"'


def test_ndjson_is_one_compact_document_per_line_each_ending_in_newline() -> None:
    assert to_ndjson(["/a", {"x": 1}]) == '"/a"\n{"x":1}\n'
    assert to_ndjson([]) == ""


# ------------------------------------------------------------------ fields


def test_absent_fields_give_the_href() -> None:
    assert map_object(VM, None, HREF) == HREF


def test_star_gives_the_whole_object_then_href_last() -> None:
    mapped = map_object(VM, "*", HREF)
    assert list(mapped) == [*VM, "href"]
    assert mapped["href"] == HREF


def test_fields_keep_the_callers_order_and_href_comes_last() -> None:
    mapped = map_object(VM, "power_state,name_label", HREF)
    assert list(mapped.items()) == [
        ("power_state", "Running"),
        ("name_label", "web-01"),
        ("href", HREF),
    ]


def test_unknown_fields_are_dropped_and_spaces_are_not_trimmed() -> None:
    assert map_object(VM, "name_label, power_state,nope", HREF) == {
        "name_label": "web-01",
        "href": HREF,
    }


def test_null_values_are_kept_but_absent_ones_are_not() -> None:
    assert pick(VM, ["notes", "missing"]) == {"notes": None}


def test_dotted_fields_are_deep_paths_unless_the_key_exists_literally() -> None:
    assert pick(VM, ["CPUs.number"]) == {"CPUs": {"number": 2}}
    assert pick(VM, ["CPUs.number", "CPUs.max"]) == {"CPUs": {"number": 2, "max": 4}}
    assert pick(VM, ["a.b"]) == {"a.b": "literal dotted key"}
    assert pick(VM, ["CPUs.nope"]) == {}


def test_dotted_fields_reach_array_indexes_and_lengths() -> None:
    assert pick(VM, ["tags.1"]) == {"tags": [None, "web"]}
    assert pick(VM, ["tags.length"]) == {"tags": {"length": 2}}
    assert pick(VM, ["name_label.length"]) == {"name_label": {"length": 6}}


def test_empty_fields_give_objects_with_only_href() -> None:
    assert map_object(VM, "", HREF) == {"href": HREF}


def test_picking_never_changes_the_source_object() -> None:
    before = json.dumps(VM)
    map_object(VM, "tags,tags.length,CPUs,CPUs.number", HREF)
    assert json.dumps(VM) == before
