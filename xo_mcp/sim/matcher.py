"""XO's `complex-matcher` filter language, as the REST API's `filter` query parameter uses it.

A re-implementation from the documented behaviour of complex-matcher v1.1.1 (the version
`@xen-orchestra/rest-api` depends on) running on Node 20+. The only public names are
`FilterError`, `Predicate` and `compile_filter`; everything else is internal.

Faithfulness notes (why the code looks the way it does):

- The original parser is a backtracking combinator parser whose top level is
  `ws term* EOF`. A term that fails is never an error by itself: the term loop simply stops,
  so nearly every syntax error surfaces as "expected end of input" at the position where the
  last complete top-level term ended. Exceptions thrown while building nodes (a comparison
  value that is not a number, an invalid regular expression, a stack overflow) abort parsing
  at once, even inside an alternative that would have failed later. `_FilterParser` walks the
  alternatives in the same order so the same error wins.
- JavaScript strings are UTF-16: error positions and `length` count code units, and regular
  expressions (compiled without the `u` flag) see surrogate halves. Python strings hold code
  points, so those places convert explicitly.
- Matching follows JS semantics on JSON-like values: `bool` is not a number, a missing
  property (`undefined`) differs from `null`, `[]` and `{}` are truthy, comparisons coerce
  with JS rules (`true > 0`, `"5" > 3`, `null >= 0` and `[7] > 3` all hold).
- Regex values (`/…/i`) and globs go through `xo_mcp.sim.jsregex`, which translates JS
  regular expressions to Python `re` and applies JS's case-insensitive comparison.

Known divergences, all on inputs no real filter uses: nesting is capped below what Node's
stack allows (`_MAX_TERM_DEPTH`, and the regex limits listed in `jsregex`); inherited JS
members (`toString`, `map`, `__proto__`, …) are opaque truthy values, so their own properties
(`toString:length`) and prototype objects are not modelled.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from xo_mcp.sim.jsregex import (
    JS_WHITESPACE,
    LINE_TERMINATORS,
    STACK_OVERFLOW,
    JsRegexError,
    canonical,
    compile_js_regexp,
    utf16,
    utf16_index,
)

__all__ = ["FilterError", "Predicate", "compile_filter"]

Predicate = Callable[[object], bool]


class FilterError(ValueError):
    """A filter that XO would reject with HTTP 400."""

    message: str  # the exact XO error text
    filter_text: str  # the filter as given

    def __init__(self, message: str, filter_text: str) -> None:
        super().__init__(message)
        self.message = message
        self.filter_text = filter_text


def compile_filter(text: str) -> Predicate:
    """Parse `text` and return a predicate over JSON-like values.

    JSON-like means dict/list/str/int/float/bool/None. The empty string (or only whitespace)
    matches everything. Raises FilterError.
    """
    try:
        node = _FilterParser(text).parse()
    except _Abort as abort:
        raise FilterError(abort.message, text) from None
    except RecursionError:
        # Node reports its own stack overflow the same way (a RangeError turned into a 400).
        raise FilterError(STACK_OVERFLOW, text) from None
    return node.match


# ---------------------------------------------------------------------------------------------
# JavaScript value model


class _Undefined:
    """JS `undefined`: what reading a missing property yields (distinct from `null`/None)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "undefined"


class _JsFunction:
    """An inherited built-in method (`toString`, `map`, …): truthy, matches no value node."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "function"


_UNDEFINED = _Undefined()
_FUNCTION = _JsFunction()

_JS_WHITESPACE_TEXT = "".join(sorted(JS_WHITESPACE))


def _names(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Members every JSON value inherits from its prototype (Node 20): `value[name]` finds them.
_OBJECT_MEMBERS = _names(
    "__defineGetter__ __defineSetter__ __lookupGetter__ __lookupSetter__ __proto__ constructor "
    "hasOwnProperty isPrototypeOf propertyIsEnumerable toLocaleString toString valueOf"
)
_ARRAY_MEMBERS = _OBJECT_MEMBERS | _names(
    "at concat copyWithin entries every fill filter find findIndex findLast findLastIndex flat "
    "flatMap forEach includes indexOf join keys lastIndexOf map pop push reduce reduceRight "
    "reverse shift slice some sort splice toReversed toSorted toSpliced unshift values with"
)
_STRING_MEMBERS = _OBJECT_MEMBERS | _names(
    "anchor at big blink bold charAt charCodeAt codePointAt concat endsWith fixed fontcolor "
    "fontsize includes indexOf isWellFormed italics lastIndexOf link localeCompare match "
    "matchAll normalize padEnd padStart repeat replace replaceAll search slice small split "
    "startsWith strike sub substr substring sup toLocaleLowerCase toLocaleUpperCase "
    "toLowerCase toUpperCase toWellFormed trim trimEnd trimLeft trimRight trimStart"
)
_NUMBER_MEMBERS = _OBJECT_MEMBERS | _names("toExponential toFixed toPrecision")
_FUNCTION_MEMBERS = _OBJECT_MEMBERS | _names("apply bind call")

_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]{0,9}")
_MAX_ARRAY_INDEX = 2**32 - 2


def _int_to_float(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        # JSON.parse turns such literals into ±Infinity.
        return math.inf if value > 0 else -math.inf


def _number(value: int | float) -> float:
    return _int_to_float(value) if isinstance(value, int) else value


def _is_nullish(value: object) -> bool:
    return value is None or value is _UNDEFINED


def _is_container(value: object) -> bool:
    """Arrays and plain objects: what lodash's `some` walks into."""
    return isinstance(value, dict | list | tuple)


def _truthy(value: object) -> bool:
    if _is_nullish(value):
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, float):
        return not (value == 0 or math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True


_DECIMAL_LITERAL = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
_RADIX_LITERAL = re.compile(r"0(?:[xX](?P<x>[0-9a-fA-F]+)|[oO](?P<o>[0-7]+)|[bB](?P<b>[01]+))")
_RADIX_BASES = {"x": 16, "o": 8, "b": 2}


def _string_to_number(text: str) -> float:
    """JS `Number(text)` (also the unary `+` the parser applies to raw strings)."""
    stripped = text.strip(_JS_WHITESPACE_TEXT)
    if stripped == "":
        return 0.0
    if _DECIMAL_LITERAL.fullmatch(stripped):
        # Validated first: Python's float() would also accept "inf", "nan" and "1_0".
        return float(stripped)
    radix = _RADIX_LITERAL.fullmatch(stripped)
    if radix is None:
        return math.nan
    for group, digits in radix.groupdict().items():
        if digits is not None:
            return _int_to_float(int(digits, _RADIX_BASES[group]))
    return math.nan


def _single_element_to_number(value: object) -> float:
    """ToNumber of a one-element array: the element goes through `String()` first."""
    while isinstance(value, list | tuple):
        if len(value) != 1:
            return 0.0 if len(value) == 0 else math.nan
        value = value[0]
    if _is_nullish(value):
        return 0.0  # Array.prototype.join writes null and undefined as ""
    if isinstance(value, bool):
        return math.nan  # "true" / "false"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, str):
        return _string_to_number(value)
    return math.nan  # "[object Object]", function source text


def _to_number(value: object) -> float:
    """JS ToNumber after ToPrimitive(hint number), as `value > 42` applies it."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, str):
        return _string_to_number(value)
    if isinstance(value, list | tuple):
        return _single_element_to_number(value)
    return math.nan


def _array_index(name: str) -> int | None:
    if _ARRAY_INDEX.fullmatch(name) is None:
        return None
    index = int(name)
    return index if index <= _MAX_ARRAY_INDEX else None


def _inherited(name: str, members: frozenset[str]) -> object:
    return _FUNCTION if name in members else _UNDEFINED


def _indexed(items: list[object] | tuple[object, ...] | str, name: str) -> object:
    index = _array_index(name)
    if index is None or index >= len(items):
        return _UNDEFINED
    return items[index]


def _get_property(value: object, name: str) -> object:
    """JS `value[name]` for a non-nullish JSON-like value (own members, then the prototype)."""
    if isinstance(value, dict):
        return value[name] if name in value else _inherited(name, _OBJECT_MEMBERS)
    if isinstance(value, list | tuple):
        if name == "length":
            return len(value)
        found = _indexed(value, name)
        return found if found is not _UNDEFINED else _inherited(name, _ARRAY_MEMBERS)
    if isinstance(value, str):
        units = utf16(value)
        if name == "length":
            return len(units)
        found = _indexed(units, name)
        return found if found is not _UNDEFINED else _inherited(name, _STRING_MEMBERS)
    if isinstance(value, bool):
        return _inherited(name, _OBJECT_MEMBERS)
    if isinstance(value, int | float):
        return _inherited(name, _NUMBER_MEMBERS)
    if value is _FUNCTION:
        return _inherited(name, _FUNCTION_MEMBERS)
    return _UNDEFINED


def _some_leaf(value: object, test: Callable[[object], bool]) -> bool:
    """`test(value)`, or — for arrays and plain objects — any nested element passing it.

    Iterative so that deeply nested data cannot exhaust Python's stack; already visited
    containers are skipped, which only matters for self-referencing data.
    """
    pending = [value]
    visited: set[int] = set()
    while pending:
        current = pending.pop()
        if test(current):
            return True
        if not _is_container(current) or id(current) in visited:
            continue
        visited.add(id(current))
        pending.extend(_children(current))
    return False


def _children(container: object) -> Iterable[object]:
    if isinstance(container, dict):
        return container.values()
    return container if isinstance(container, list | tuple) else ()


# ---------------------------------------------------------------------------------------------
# Nodes


class _Node:
    __slots__ = ()

    def match(self, value: object) -> bool:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class _MatchAll(_Node):
    def match(self, value: object) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class _And(_Node):
    children: tuple[_Node, ...]

    def match(self, value: object) -> bool:
        return all(child.match(value) for child in self.children)


@dataclass(frozen=True, slots=True)
class _Or(_Node):
    children: tuple[_Node, ...]

    def match(self, value: object) -> bool:
        return any(child.match(value) for child in self.children)


@dataclass(frozen=True, slots=True)
class _Not(_Node):
    child: _Node

    def match(self, value: object) -> bool:
        return not self.child.match(value)


@dataclass(frozen=True, slots=True)
class _Property(_Node):
    name: str
    child: _Node

    def match(self, value: object) -> bool:
        return not _is_nullish(value) and self.child.match(_get_property(value, self.name))


@dataclass(frozen=True, slots=True)
class _TruthyProperty(_Node):
    name: str

    def match(self, value: object) -> bool:
        return not _is_nullish(value) and _truthy(_get_property(value, self.name))


_COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True, slots=True)
class _Comparison(_Node):
    operator: str
    limit: float

    def match(self, value: object) -> bool:
        # NaN (undefined, objects, non-numeric strings) compares false, as in JS.
        return _COMPARATORS[self.operator](_to_number(value), self.limit)


@dataclass(frozen=True, slots=True)
class _Text(_Node):
    """complex-matcher's String node: case-insensitive substring, never a number or boolean."""

    lowered: str

    def match(self, value: object) -> bool:
        return _some_leaf(value, self._test)

    def _test(self, value: object) -> bool:
        return isinstance(value, str) and self.lowered in value.lower()


@dataclass(frozen=True, slots=True)
class _NumberOrText(_Node):
    """A bare numeric word: the number itself (`===`) or a string containing the word."""

    number: float
    lowered: str

    def match(self, value: object) -> bool:
        return _some_leaf(value, self._test)

    def _test(self, value: object) -> bool:
        if isinstance(value, str):
            return self.lowered in value.lower()
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return _number(value) == self.number


@dataclass(frozen=True, slots=True)
class _Glob(_Node):
    """`foo*bar`: the JS regex /foo.*bar/i, unanchored.

    Matched without a regex: `.*` never crosses a line terminator and the raw words a glob is
    made of contain none, so a line matches when it holds the literal parts in order, and the
    leftmost occurrence of each part is always the best choice. A regex backtracks in
    polynomial time on `*******00` (seconds for one short value).
    """

    parts: tuple[str, ...]

    def match(self, value: object) -> bool:
        return _some_leaf(value, self._test)

    def _test(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        return any(self._holds(line) for line in _LINE_BREAK.split(canonical(value)))

    def _holds(self, line: str) -> bool:
        position = 0
        for part in self.parts:
            found = line.find(part, position)
            if found < 0:
                return False
            position = found + len(part)
        return True


@dataclass(frozen=True, slots=True)
class _RegExp(_Node):
    pattern: re.Pattern[str]
    ignore_case: bool

    def match(self, value: object) -> bool:
        return _some_leaf(value, self._test)

    def _test(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        subject = utf16(value)
        if self.ignore_case:
            subject = canonical(subject)
        return self.pattern.search(subject) is not None


_LINE_BREAK = re.compile(f"[{LINE_TERMINATORS}]")


def _glob(word: str) -> _Glob:
    return _Glob(tuple(canonical(part) for part in word.split("*") if part))


def _bare_word(word: str) -> _Node:
    number = _string_to_number(word)
    if not math.isnan(number):
        return _NumberOrText(number, word.lower())
    if "*" in word:
        return _glob(word)
    return _Text(word.lower())


# ---------------------------------------------------------------------------------------------
# Filter parser

# Node (V8) overflows its stack somewhere between 1 000 and 5 000 nested terms; Python's
# default recursion limit is far lower, so nesting is capped explicitly and reported as Node
# reports its own overflow.
_MAX_TERM_DEPTH = 100


class _Abort(Exception):
    """Stops parsing with XO's error message (becomes a FilterError)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_Parsed = tuple[_Node, int] | None


def _is_raw_char(char: str) -> bool:
    if "0" <= char <= "9" or char in "_-.$":
        return True
    if ord(char) > 0xFFFF:
        return False  # JS tests each surrogate half, and those have no case
    return char != char.upper() or char != char.lower()


class _FilterParser:
    """Recursive descent mirroring complex-matcher's combinators, alternative for alternative.

    Every `_…` parsing method takes a position and returns None when the alternative fails
    (the combinators' Failure); only `_Abort` escapes.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._end = len(text)

    def parse(self) -> _Node:
        terms: list[_Node] = []
        position = self._skip_ws(0)
        while (parsed := self._term(position, 0)) is not None:
            node, position = parsed
            terms.append(node)
        if position < self._end:
            where = utf16_index(self._text, position)
            raise _Abort(f"parse error: expected end of input at position {where}")
        return _conjunction(terms)

    # -- lexical pieces ---------------------------------------------------------------------

    def _ws(self, position: int) -> int | None:
        # A sticky regex whose lastIndex is past the end fails: that happens after a quoted
        # string ending in a lone backslash.
        if position > self._end:
            return None
        while position < self._end and self._text[position] in JS_WHITESPACE:
            position += 1
        return position

    def _skip_ws(self, position: int) -> int:
        """Whitespace after a token that lies within the input, where it cannot fail."""
        skipped = self._ws(position)
        return position if skipped is None else skipped

    def _at(self, position: int, token: str) -> bool:
        return self._text.startswith(token, position)

    def _raw_string(self, position: int, *, glob: bool = False) -> tuple[str, int] | None:
        start = position
        while position < self._end:
            char = self._text[position]
            if not (_is_raw_char(char) or (glob and char == "*")):
                break
            position += 1
        return None if position == start else (self._text[start:position], position)

    def _quoted_string(self, position: int) -> tuple[str, int] | None:
        if not self._at(position, '"'):
            return None
        position += 1
        chars: list[str] = []
        while position < self._end:
            char = self._text[position]
            position += 1
            if char == '"':
                break
            if char == "\\":
                # A trailing backslash reads past the end: nothing is added, position ends up
                # beyond the input, and the whitespace that must follow then fails.
                char = self._text[position] if position < self._end else ""
                position += 1
            chars.append(char)
        return "".join(chars), position

    def _property_name(self, position: int) -> tuple[str, int] | None:
        return self._quoted_string(position) or self._raw_string(position)

    # -- terms ------------------------------------------------------------------------------

    def _term(self, position: int, depth: int) -> _Parsed:
        if depth > _MAX_TERM_DEPTH:
            raise _Abort(STACK_OVERFLOW)
        parsed = (
            self._group(position, depth, "(")
            or self._group(position, depth, "|")
            or self._negation(position, depth)
            or self._comparison(position)
            or self._property(position, depth)
            or self._truthy_property(position)
            or self._value(position)
        )
        if parsed is None:
            return None
        node, end = parsed
        after = self._ws(end)
        return None if after is None else (node, after)

    def _group(self, position: int, depth: int, opener: str) -> _Parsed:
        """`( term+ )` (AND) or `|( term+ )` (OR)."""
        if not self._at(position, opener):
            return None
        position = self._skip_ws(position + 1)
        if opener == "|":
            if not self._at(position, "("):
                return None
            position = self._skip_ws(position + 1)
        terms: list[_Node] = []
        while (parsed := self._term(position, depth + 1)) is not None:
            node, position = parsed
            terms.append(node)
        if not terms or not self._at(position, ")"):
            return None
        group = _disjunction(terms) if opener == "|" else _conjunction(terms)
        return group, position + 1

    def _negation(self, position: int, depth: int) -> _Parsed:
        if not self._at(position, "!"):
            return None
        parsed = self._term(self._skip_ws(position + 1), depth + 1)
        return None if parsed is None else (_Not(parsed[0]), parsed[1])

    def _comparison(self, position: int) -> _Parsed:
        if not (self._at(position, "<") or self._at(position, ">")):
            return None
        operator_end = position + (2 if self._at(position + 1, "=") else 1)
        raw = self._raw_string(operator_end)
        if raw is None:
            return None
        limit = _string_to_number(raw[0])
        if math.isnan(limit):
            raise _Abort("value must be a number")
        return _Comparison(self._text[position:operator_end], limit), raw[1]

    def _property(self, position: int, depth: int) -> _Parsed:
        name = self._property_name(position)
        if name is None:
            return None
        colon = self._ws(name[1])
        if colon is None or not self._at(colon, ":"):
            return None
        parsed = self._term(self._skip_ws(colon + 1), depth + 1)
        return None if parsed is None else (_Property(name[0], parsed[0]), parsed[1])

    def _truthy_property(self, position: int) -> _Parsed:
        name = self._property_name(position)
        if name is None or not self._at(name[1], "?"):
            return None
        return _TruthyProperty(name[0]), name[1] + 1

    def _value(self, position: int) -> _Parsed:
        quoted = self._quoted_string(position)
        if quoted is not None:
            return _Text(quoted[0].lower()), quoted[1]
        regex = self._regex(position)
        if regex is not None:
            return regex
        word = self._raw_string(position, glob=True)
        return None if word is None else (_bare_word(word[0]), word[1])

    def _regex(self, position: int) -> _Parsed:
        if not self._at(position, "/"):
            return None
        position += 1
        last = ""
        escaped = False
        chars: list[str] = []
        while position < self._end:
            last = self._text[position]
            position += 1
            if last == "/" and not escaped:
                break
            # `\\` leaves the flag set, so `/a\\/` does not end at its last slash.
            escaped = last == "\\"
            chars.append(last)
        if last != "/":
            return None  # unterminated (a final escaped slash still counts as the end)
        flags = "i" if self._at(position, "i") else ""
        try:
            pattern = compile_js_regexp("".join(chars), flags)
        except JsRegexError as error:
            raise _Abort(error.message) from None
        return _RegExp(pattern, flags == "i"), position + len(flags)


def _conjunction(terms: list[_Node]) -> _Node:
    if not terms:
        return _MatchAll()
    return terms[0] if len(terms) == 1 else _And(tuple(terms))


def _disjunction(terms: list[_Node]) -> _Node:
    return terms[0] if len(terms) == 1 else _Or(tuple(terms))
