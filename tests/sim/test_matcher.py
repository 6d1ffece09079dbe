"""complex-matcher re-implementation: matches, quirks, parse errors and robustness.

Every expectation below was checked against the JavaScript original (complex-matcher on
Node 20); the comments name the quirk each case pins down.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xo_mcp.sim.matcher import FilterError, compile_filter

POOL = "b7569d99-30f8-178a-7d94-801de3e29b5b"

VMS: list[dict[str, Any]] = [
    {
        "id": "web02",
        "name_label": "my-web-02",
        "name_description": 'Front "web" server',
        "power_state": "Running",
        "tags": ["prod", "web"],
        "auto_poweron": True,
        "CPUs": {"number": 2, "max": 4},
        "memory": {"size": 4294967296},
        "boot": {"order": "cd"},
        "$pool": POOL,
        "snapshots": ["s1", "s2", "s3"],
        "size": 2147483648,
        "virtualizationMode": "hvm",
        "a.b": "dotted",
        "version": "10",
        "affinityHost": None,
    },
    {
        "id": "db01",
        "name_label": "db-01",
        "name_description": "",
        "power_state": "Halted",
        "tags": [],
        "auto_poweron": False,
        "CPUs": {"number": 1, "max": 1},
        "memory": {"size": 1073741824},
        "boot": {"order": "dc"},
        "$pool": "other-pool",
        "snapshots": [],
        "size": 1073741824,
        "virtualizationMode": "pv",
        "version": "9",
    },
    {
        "id": "paused",
        "name_label": "Paused VM",
        "name_description": "line1\nline2",
        "power_state": "Paused",
        "tags": ["test", "42"],
        "auto_poweron": True,
        "CPUs": {"number": 42, "max": 64},
        "memory": {"size": 536870912},
        "boot": {"order": "ncd"},
        "$pool": POOL,
        "snapshots": ["only"],
        "size": 42,
        "virtualizationMode": "hvm",
    },
    {
        "id": "prod7",
        "name_label": "prod-WEB-7",
        "name_description": "Serveur été",
        "power_state": "Running",
        "tags": ["web"],
        "CPUs": {"number": 8, "max": 8},
        "memory": {"size": 8589934592},
        "boot": {"order": "c"},
        "$pool": POOL,
        "snapshots": ["a", "b", "c", "d"],
        "size": "1e3",
        "virtualizationMode": "pvh",
    },
]
ALL = {"web02", "db01", "paused", "prod7"}


@pytest.fixture(scope="module")
def vms() -> list[dict[str, Any]]:
    return VMS


def matching(text: str, objects: list[dict[str, Any]]) -> set[str]:
    predicate = compile_filter(text)
    return {obj["id"] for obj in objects if predicate(obj)}


MATCH_CASES: list[tuple[str, set[str]]] = [
    # empty filter and whitespace-only filter match everything
    ("", ALL),
    ("   \t", ALL),
    # property match is a case-insensitive, unanchored substring
    ("power_state:Running", {"web02", "prod7"}),
    ("power_state:running", {"web02", "prod7"}),
    ("name_label:web", {"web02", "prod7"}),
    ("power_state : Running", {"web02", "prod7"}),
    # a bare word searches every string value, recursively
    ("web", {"web02", "prod7"}),
    ("ÉTÉ", {"prod7"}),
    # negation, outside or inside the property
    ("!power_state:Running", {"db01", "paused"}),
    ("power_state:!Running", {"db01", "paused"}),
    ("!!power_state:Running", {"web02", "prod7"}),
    # OR groups, AND groups, implicit AND
    ("power_state:|(Running Paused)", {"web02", "paused", "prod7"}),
    ("|(db-01 Paused)", {"db01", "paused"}),
    ("|(db-01)", {"db01"}),
    ("(power_state:Running tags:prod)", {"web02"}),
    ("power_state:Halted !virtualizationMode:hvm", {"db01"}),
    ("!(power_state:Running virtualizationMode:hvm)", {"db01", "paused", "prod7"}),
    # numeric comparisons
    ("size:>1073741824", {"web02"}),
    ("size:>=1073741824", {"web02", "db01"}),
    ("size:<100", {"paused"}),
    ("memory:size:>2000000000", {"web02", "prod7"}),
    ("size:>999", {"web02", "db01", "prod7"}),  # JS coerces the string "1e3" to 1000
    ("version:>9", {"web02"}),  # numeric strings compare as numbers
    ("affinityHost:>=0", {"web02"}),  # null >= 0 in JS; a missing property never compares
    ("auto_poweron:>0", {"web02", "paused"}),  # true > 0 in JS
    ("CPUs:max:>=0x40", {"paused"}),  # the value goes through JS Number(): hex works
    # array length and nested properties
    ("snapshots:length:>2", {"web02", "prod7"}),
    ("snapshots:length:0", {"db01"}),
    ("tags:length:<1", {"db01"}),
    ("name_label:length:9", {"web02", "paused"}),
    ("tags:0:prod", {"web02"}),
    ("boot:order:cd", {"web02", "paused"}),
    ("CPUs:number:2", {"web02"}),
    # a dotted name is one key, not a path
    ("a.b:dotted", {"web02"}),
    ('"a.b":dotted', {"web02"}),
    # truthiness: booleans need `?`, `prop:true` never matches a boolean
    ("auto_poweron?", {"web02", "paused"}),
    ("!auto_poweron?", {"db01", "prod7"}),
    ("auto_poweron:true", set()),
    ("auto_poweron:1", set()),  # JS true !== 1 (Python's True == 1 must not leak in)
    ("name_description?", {"web02", "paused", "prod7"}),  # "" is falsy
    ("tags?", ALL),  # [] is truthy in JS
    ("missing?", set()),
    # numbers: bare numeric words match numbers or strings; quoted ones only strings
    ("tags:42", {"paused"}),
    ("size:42", {"paused"}),
    ("42", {"paused"}),
    ('CPUs:number:"2"', set()),
    ("CPUs:2", {"web02"}),
    ("size:1e3", {"prod7"}),  # string contains "1e3"; 1000 is not a number here
    # globs: case-insensitive, unanchored, `*` does not cross a line break
    ("name_label:my*02", {"web02"}),
    ("name_label:*web*", {"web02", "prod7"}),
    ("name_label:DB*", {"db01"}),
    ("name_label:w*b", {"web02", "prod7"}),
    ("name_description:line1*line2", set()),
    ("name_description:line*", {"paused"}),
    ("name_label:my***web**0*2", {"web02"}),  # a run of stars is one star
    ("name_label:***", ALL),
    ("name_label:*******00", set()),  # backtracked for seconds as a regex
    # regular expressions: unanchored unless written so, only the `i` flag
    (r"name_label:/^my-web-\d+$/", {"web02"}),
    ("name_label:/^PROD-/", set()),
    ("name_label:/^PROD-/i", {"prod7"}),
    ("name_label:/b-/", {"web02", "db01"}),
    (r"name_description:/line1$/", set()),  # `$` is end of input, never before "\n"
    (r"name_label:/a\/b/", set()),
    # quoted strings and escapes
    ('name_description:"\\"web\\""', {"web02"}),
    ('name_label:"Paused VM"', {"paused"}),
    ('"my-web"', {"web02"}),
    ('name_label:"Paused', {"paused"}),  # an unterminated quote runs to the end
    # scoping by pool id and a missing property
    (f"$pool:{POOL}", {"web02", "paused", "prod7"}),
    ("$pool:b7569d99", {"web02", "paused", "prod7"}),
    ("missing:x", set()),
    ("!missing:x", ALL),
]


@pytest.mark.parametrize(("text", "expected"), MATCH_CASES)
def test_filter_matches(text: str, expected: set[str], vms: list[dict[str, Any]]) -> None:
    assert matching(text, vms) == expected


# JS regular expressions (no `u` flag) where Python's `re` would behave differently.
REGEX_CASES: list[tuple[str, str, str, bool]] = [
    (r"\d{2}", "", "vm-42", True),
    (r"\bweb\b", "", "my-web-02", True),
    (r"\bweb\b", "", "webserver", False),
    (r"\w", "", "éè", False),  # \w is ASCII-only
    (r"^a$", "", "a\n", False),  # `$` is the end of input, not before a final newline
    (r"a.b", "", "a\nb", False),  # `.` excludes line terminators…
    (r"a.b", "", "a\u2028b", False),  # …including U+2028
    (r"[^]", "", "\n", True),  # an empty negated class matches anything
    (r"[]", "", "x", False),  # an empty class matches nothing
    (r"(a)\1", "", "aa", True),
    (r"(a)|\1b", "", "b", True),  # a back-reference to an unset group matches empty
    (r"\1(a)", "", "a", True),  # so does a forward reference
    (r"(?<n>x)\k<n>", "", "xx", True),
    (r"\k<n>", "", "k<n>", True),  # without named groups `\k` is a plain "k"
    (r"\8", "", "8", True),  # not a back-reference: an identity escape
    (r"\101", "", "A", True),  # legacy octal escape
    (r"\x41\u0042", "", "AB", True),
    (r"\cJ", "", "\n", True),
    (r"\c", "", "\\c", True),  # a lone `\c` is a backslash then "c"
    (r"a{,2}", "", "a{,2}", True),  # not a quantifier: literal braces
    (r"[\d-z]", "", "-", True),  # a dash next to a class escape is literal
    (r"(?<=a|bc)d", "", "bcd", True),  # look-behind alternatives of different widths
    (r"^.$", "", "😀", False),  # one astral character is two UTF-16 units
    (r"^..$", "", "😀", True),
    (r"σ", "i", "ΑΣ", True),
    (r"ς", "i", "σ", True),
    (r"s", "i", "ſ", False),  # JS never case-folds non-ASCII onto ASCII…
    (r"k", "i", "\u212a", False),  # …so the Kelvin sign is not a "k"
    (r"[a-z]+", "i", "ABC", True),
    (r"[^a-z]", "i", "ABC", False),
    (r"É", "i", "café", True),
]


ERROR_CASES: list[tuple[str, str]] = [
    ("name_label:", "parse error: expected end of input at position 10"),
    ("(a b", "parse error: expected end of input at position 0"),
    ("/abc", "parse error: expected end of input at position 0"),
    ("power_state:Running)", "parse error: expected end of input at position 19"),
    ("a:b c:", "parse error: expected end of input at position 5"),
    ("size:> 5", "parse error: expected end of input at position 4"),
    ("()", "parse error: expected end of input at position 0"),
    ("|a", "parse error: expected end of input at position 0"),
    ("a)", "parse error: expected end of input at position 1"),
    ("tags:prod,web", "parse error: expected end of input at position 9"),
    ("@", "parse error: expected end of input at position 0"),
    ("name_label:@x", "parse error: expected end of input at position 10"),
    # a quoted string ending in a lone backslash reads past the end and fails the term
    ('"abc\\', "parse error: expected end of input at position 0"),
    ('tags:prod "x\\', "parse error: expected end of input at position 10"),
    # positions count UTF-16 code units, as JavaScript does
    ('"😀" )', "parse error: expected end of input at position 5"),
    ("a 😀", "parse error: expected end of input at position 2"),
    # exceptions thrown while building nodes
    ("size:>abc", "value must be a number"),
    (">abc", "value must be a number"),
    ("(a >$)", "value must be a number"),
    ("name_label:/(/", "Invalid regular expression: /(/: Unterminated group"),
    ("/[b-a]/i", "Invalid regular expression: /[b-a]/i: Range out of order in character class"),
    ("/a{2,1}/", "Invalid regular expression: /a{2,1}/: numbers out of order in {} quantifier"),
    ("/*/", "Invalid regular expression: /*/: Nothing to repeat"),
    (
        "/(?<n>a)\\k<m>/",
        "Invalid regular expression: /(?<n>a)\\k<m>/: Invalid named capture referenced",
    ),
    # the regex error wins even though the rest of the filter would fail to parse
    ("/)/ )", "Invalid regular expression: /)/: Unmatched ')'"),
    # too deep: Node overflows its stack, and says so
    ("(" * 10_000, "Maximum call stack size exceeded"),
    ("!" * 10_000 + "a", "Maximum call stack size exceeded"),
]


@pytest.mark.parametrize(("text", "message"), ERROR_CASES)
def test_rejected_filters(text: str, message: str) -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter(text)
    assert caught.value.message == message
    assert str(caught.value) == message
    assert caught.value.filter_text == text
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(("pattern", "flags", "subject", "expected"), REGEX_CASES)
def test_regex_semantics(pattern: str, flags: str, subject: str, expected: bool) -> None:
    predicate = compile_filter(f"v:/{pattern}/{flags}")
    assert predicate({"v": subject}) is expected


def test_error_is_a_value_error_carrying_the_filter() -> None:
    with pytest.raises(ValueError, match="position 10"):
        compile_filter("name_label:")


VALUE_CASES: list[tuple[str, object, bool]] = [
    ("", None, True),  # the empty filter matches anything, even non-objects
    ("1", 1, True),
    ("1", 1.0, True),
    ("1", True, False),  # booleans are never numbers
    ("0", False, False),
    ("true", True, False),
    ("web", ["x", {"deep": ["my-web"]}], True),  # recursion through arrays and objects
    ("x:y", None, False),  # properties of null are never read
    ("length:3", "abc", True),  # strings expose `length`…
    ("0:a", "abc", True),  # …and their characters
    ("toString?", {}, True),  # inherited members are truthy, as in JS
    ("length:2", "😀", True),  # UTF-16 length
    (">1", [2], True),  # a one-element array compares as its element
    (">1", [2, 3], False),
    ("<1", [], True),  # [] is 0 for a comparison
    (">0", {}, False),
    (">0", "0x10", True),
    ("<1", "  ", True),  # whitespace-only strings are 0
    (">=0", None, True),
    (">=0", "abc", False),
]


@pytest.mark.parametrize(("text", "value", "expected"), VALUE_CASES)
def test_js_value_semantics(text: str, value: object, expected: bool) -> None:
    assert compile_filter(text)(value) is expected


def test_deeply_nested_data_does_not_exhaust_the_stack() -> None:
    data: object = "web"
    for _ in range(100_000):
        data = [data]
    assert compile_filter("web")(data) is True
    assert compile_filter("/b/")({"v": data}) is True


def test_self_referencing_data_terminates() -> None:
    data: dict[str, Any] = {"name": "a"}
    data["self"] = data
    assert compile_filter("zzz")(data) is False
    assert compile_filter("self:self:name:a")(data) is True


def test_nesting_limit_is_generous_for_real_filters(vms: list[dict[str, Any]]) -> None:
    deep = "(" * 50 + "power_state:Running" + ")" * 50
    assert matching(deep, vms) == {"web02", "prod7"}


# Characters that drive the grammar, so generated text reaches deep parser states.
FILTER_ALPHABET = [*'abzAZé09_-.$*:!|()<>=?"\\/ \ti', "😀", "Σ", "\n"]
# The deadline is the "never hangs" half of the robustness properties.
SETTINGS = settings(max_examples=300, deadline=timedelta(seconds=2))


def _evaluate(text: str, objects: list[dict[str, Any]]) -> None:
    try:
        predicate = compile_filter(text)
    except FilterError as error:
        assert error.filter_text == text
        assert error.message
        return
    for obj in objects:
        assert isinstance(predicate(obj), bool)


@SETTINGS
@given(st.text(max_size=200))
def test_any_text_compiles_or_raises_filter_error(text: str) -> None:
    _evaluate(text, VMS)


@SETTINGS
@given(st.text(alphabet=FILTER_ALPHABET, max_size=80))
def test_grammar_like_text_compiles_or_raises_filter_error(text: str) -> None:
    _evaluate(text, VMS)


@SETTINGS
@given(st.text(alphabet=list("abk()[]{}|^$.*+?\\<>=!:,01289-dDwWsSbBcuxi"), max_size=40))
def test_any_regex_compiles_or_raises_filter_error(pattern: str) -> None:
    _evaluate("name_label:/" + pattern.replace("/", "") + "/i", VMS)


WORDS = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_.$-]{0,10}", fullmatch=True)


@SETTINGS
@given(WORDS)
def test_negation_commutes_with_properties(word: str) -> None:
    assert matching(f"!name_label:{word}", VMS) == matching(f"name_label:!{word}", VMS)


@SETTINGS
@given(WORDS)
def test_single_term_groups_are_the_term(word: str) -> None:
    plain = matching(word, VMS)
    assert matching(f"({word})", VMS) == plain
    assert matching(f"|( {word} )", VMS) == plain


@SETTINGS
@given(st.text(max_size=30))
def test_quoted_strings_round_trip_through_escapes(text: str) -> None:
    quoted = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    predicate = compile_filter(f"name_label:{quoted}")
    for vm in VMS:
        assert predicate(vm) == (text.lower() in vm["name_label"].lower())
