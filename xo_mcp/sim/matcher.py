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
- JS regular expressions are translated to Python `re` syntax by a small parser that follows
  V8's Annex B (non-unicode) grammar and error messages. Case-insensitive matching follows
  the ECMAScript `Canonicalize` rule (simple upper-casing, never mapping non-ASCII to ASCII)
  by canonicalising both the subject and the pattern, never through `re.IGNORECASE`, whose
  Unicode folding matches more than JS does.

Known divergences, all on inputs no real filter uses: nesting limits are lower than Node's
stack allows (`_MAX_TERM_DEPTH`, `_MAX_REGEX_DEPTH`); a look-behind Python cannot compile
(variable width per alternative) is rejected; captures inside a repeated group are not reset
between iterations; inherited JS members (`toString`, `map`, `__proto__`, …) are opaque truthy
values, so their own properties (`toString:length`) and prototype objects are not modelled.
"""

from __future__ import annotations

import bisect
import functools
import math
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

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
        raise FilterError(_STACK_OVERFLOW, text) from None
    return node.match


# ---------------------------------------------------------------------------------------------
# JavaScript value model

_STACK_OVERFLOW = "Maximum call stack size exceeded"


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

# JS `\s` and the StrWhiteSpaceChar set of `Number(string)`: WhiteSpace plus LineTerminator.
_JS_WHITESPACE = frozenset(
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_JS_WHITESPACE_TEXT = "".join(sorted(_JS_WHITESPACE))
_LINE_TERMINATORS = "\n\r\u2028\u2029"


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
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _surrogate_pair(match: re.Match[str]) -> str:
    offset = ord(match.group()) - 0x10000
    return chr(0xD800 + (offset >> 10)) + chr(0xDC00 + (offset & 0x3FF))


def _utf16(text: str) -> str:
    """`text` as JS sees it: one Python character per UTF-16 code unit."""
    if _ASTRAL.search(text) is None:
        return text
    return _ASTRAL.sub(_surrogate_pair, text)


def _utf16_index(text: str, index: int) -> int:
    return index + len(_ASTRAL.findall(text, 0, index))


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
        units = _utf16(value)
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
# Case-insensitive comparison as JS regular expressions without the `u` flag perform it


@functools.cache
def _canonical_table() -> dict[int, str]:
    """ECMAScript Canonicalize(ch) for every BMP code unit it changes."""
    table: dict[int, str] = {}
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        upper = chr(code).upper()
        if len(upper) != 1 or upper == chr(code):
            continue
        if code >= 0x80 and ord(upper) < 0x80:
            continue  # never map non-ASCII onto ASCII: ſ and the Kelvin sign stay as they are
        table[code] = upper
    return table


@functools.cache
def _non_canonical_units() -> list[int]:
    return sorted(_canonical_table())


def _canonical(text: str) -> str:
    return text.translate(_canonical_table())


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
    """`foo*bar`: the JS regex /foo.*bar/i, unanchored."""

    pattern: re.Pattern[str]

    def match(self, value: object) -> bool:
        return _some_leaf(value, self._test)

    def _test(self, value: object) -> bool:
        return isinstance(value, str) and self.pattern.search(_canonical(value)) is not None


@dataclass(frozen=True, slots=True)
class _RegExp(_Node):
    pattern: re.Pattern[str]
    ignore_case: bool

    def match(self, value: object) -> bool:
        return _some_leaf(value, self._test)

    def _test(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        subject = _utf16(value)
        if self.ignore_case:
            subject = _canonical(subject)
        return self.pattern.search(subject) is not None


def _glob(word: str) -> _Glob:
    any_run = f"[^{_LINE_TERMINATORS}]*"
    parts = (re.escape(_canonical(part)) for part in word.split("*"))
    return _Glob(re.compile(any_run.join(parts)))


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
            where = _utf16_index(self._text, position)
            raise _Abort(f"parse error: expected end of input at position {where}")
        return _conjunction(terms)

    # -- lexical pieces ---------------------------------------------------------------------

    def _ws(self, position: int) -> int | None:
        # A sticky regex whose lastIndex is past the end fails: that happens after a quoted
        # string ending in a lone backslash.
        if position > self._end:
            return None
        while position < self._end and self._text[position] in _JS_WHITESPACE:
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
            raise _Abort(_STACK_OVERFLOW)
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
        return _compile_regexp("".join(chars), flags), position + len(flags)


def _conjunction(terms: list[_Node]) -> _Node:
    if not terms:
        return _MatchAll()
    return terms[0] if len(terms) == 1 else _And(tuple(terms))


def _disjunction(terms: list[_Node]) -> _Node:
    return terms[0] if len(terms) == 1 else _Or(tuple(terms))


# ---------------------------------------------------------------------------------------------
# JS regular expressions (V8, no `u` flag) translated to Python `re`

_INFINITE_COUNT = 2**31 - 1  # V8's RegExpTree::kInfinity: larger counts clamp to it
_MAX_REGEX_DEPTH = 60  # V8 nests far deeper; Python's sre recursion does not
_MAX_BACKREFERENCE = 1 << 16  # V8's kMaxCaptures: longer decimal escapes are not back-references
_LAST_UNIT = 0xFFFF

_Ranges = list[tuple[int, int]]

_DIGITS: _Ranges = [(0x30, 0x39)]
_WORD: _Ranges = [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]
_SPACES: _Ranges = [(ord(char), ord(char)) for char in sorted(_JS_WHITESPACE)]
_WORD_CLASS = "[0-9A-Z_a-z]"
_WORD_BOUNDARY = f"(?:(?<={_WORD_CLASS})(?!{_WORD_CLASS})|(?<!{_WORD_CLASS})(?={_WORD_CLASS}))"
_NOT_WORD_BOUNDARY = f"(?:(?<={_WORD_CLASS})(?={_WORD_CLASS})|(?<!{_WORD_CLASS})(?!{_WORD_CLASS}))"
_NOTHING = "(?!)"
_CONTROL_ESCAPES = {"f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B}
_OCTAL = frozenset("01234567")
_DECIMAL = frozenset("0123456789")
_HEX = frozenset("0123456789abcdefABCDEF")


class _RegexSyntaxError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _normalized(ranges: Iterable[tuple[int, int]]) -> _Ranges:
    merged: _Ranges = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _complement(ranges: _Ranges) -> _Ranges:
    result: _Ranges = []
    next_low = 0
    for low, high in _normalized(ranges):
        if low > next_low:
            result.append((next_low, low - 1))
        next_low = high + 1
    if next_low <= _LAST_UNIT:
        result.append((next_low, _LAST_UNIT))
    return result


_CLASS_ESCAPES: dict[str, _Ranges] = {
    "d": _DIGITS,
    "D": _complement(_DIGITS),
    "s": _SPACES,
    "S": _complement(_SPACES),
    "w": _WORD,
    "W": _complement(_WORD),
}


def _with_canonical_images(ranges: _Ranges) -> _Ranges:
    """Add Canonicalize(c) for every member c.

    The subject is canonicalised before matching, and Canonicalize is idempotent, so a unit
    of the subject belongs to the result exactly when JS finds a member with the same
    canonical form.
    """
    non_canonical = _non_canonical_units()
    table = _canonical_table()
    images: _Ranges = []
    for low, high in ranges:
        start = bisect.bisect_left(non_canonical, low)
        stop = bisect.bisect_right(non_canonical, high)
        for unit in non_canonical[start:stop]:
            image = ord(table[unit])
            images.append((image, image))
    return _normalized([*ranges, *images])


def _unit(code: int) -> str:
    char = chr(code)
    return char if char.isascii() and char.isalnum() else f"\\u{code:04x}"


def _class_text(ranges: _Ranges, negated: bool) -> str:
    ranges = _normalized(ranges)
    if not ranges:
        return "[\\u0000-\\uffff]" if negated else _NOTHING
    body = "".join(
        _unit(low) if low == high else f"{_unit(low)}-{_unit(high)}" for low, high in ranges
    )
    return f"[{'^' if negated else ''}{body}]"


@dataclass(frozen=True, slots=True)
class _Atom:
    text: str
    quantifiable: bool = True
    lookbehind: bool = False


def _count_captures(source: str) -> tuple[int, bool]:
    """V8's capture pre-scan: how many capturing groups, and whether any is named."""
    count = 0
    named = False
    position = 0
    while position < len(source):
        char = source[position]
        position += 1
        if char == "\\":
            position += 1
        elif char == "[":
            position = _skip_class(source, position)
        elif char == "(":
            if source.startswith("?", position):
                if not source.startswith("?<", position) or source[position + 2 : position + 3] in (
                    "=",
                    "!",
                ):
                    continue
                named = True
            count += 1
    return count, named


def _skip_class(source: str, position: int) -> int:
    while position < len(source):
        char = source[position]
        position += 1
        if char == "\\":
            position += 1
        elif char == "]":
            break
    return position


def _is_name_start(char: str) -> bool:
    return char != "" and (char in "$_" or char.isidentifier())


def _is_name_part(char: str) -> bool:
    return char != "" and (char in "$\u200c\u200d" or f"a{char}".isidentifier())


class _RegexTranslator:
    """One pass over a JS pattern (as UTF-16 units): V8's errors, Python `re` text out."""

    def __init__(self, source: str, ignore_case: bool) -> None:
        self._source = source
        self._position = 0
        self._ignore_case = ignore_case
        self._capture_total, self._has_named = _count_captures(source)
        self._captures_opened = 0
        self._closed: set[int] = set()
        self._names: dict[str, int] = {}
        self._forward_names: list[str] = []

    def translate(self) -> str:
        text = "|".join(self._disjunction(0))
        if self._position < len(self._source):
            raise _RegexSyntaxError("Unmatched ')'")
        if any(name not in self._names for name in self._forward_names):
            raise _RegexSyntaxError("Invalid named capture referenced")
        return text

    # -- helpers ----------------------------------------------------------------------------

    def _peek(self, offset: int = 0) -> str:
        index = self._position + offset
        return self._source[index] if index < len(self._source) else ""

    def _literal(self, code: int) -> _Atom:
        if self._ignore_case:
            code = ord(_canonical(chr(code)))
        return _Atom(_unit(code))

    def _class(self, ranges: _Ranges, negated: bool = False) -> str:
        if self._ignore_case:
            ranges = _with_canonical_images(ranges)
        return _class_text(ranges, negated)

    # -- structure --------------------------------------------------------------------------

    def _disjunction(self, depth: int) -> list[str]:
        alternatives = [self._alternative(depth)]
        while self._peek() == "|":
            self._position += 1
            alternatives.append(self._alternative(depth))
        return alternatives

    def _alternative(self, depth: int) -> str:
        parts: list[str] = []
        while self._peek() not in ("", "|", ")"):
            atom = self._atom(depth)
            quantifier = self._quantifier() if atom.quantifiable else None
            if quantifier is None:
                parts.append(atom.text)
                continue
            if atom.lookbehind:
                raise _RegexSyntaxError("Invalid quantifier")
            parts.append(f"(?:{atom.text}){quantifier}")
        return "".join(parts)

    def _atom(self, depth: int) -> _Atom:
        char = self._peek()
        if char in "^$":
            self._position += 1
            return _Atom("\\A" if char == "^" else "\\Z", quantifiable=False)
        if char in "*+?" or (char == "{" and self._interval() is not None):
            raise _RegexSyntaxError("Nothing to repeat")
        if char == ".":
            self._position += 1
            return _Atom(f"[^{_LINE_TERMINATORS}]")
        if char == "(":
            return self._group(depth)
        if char == "[":
            return self._character_class()
        if char == "\\":
            return self._atom_escape()
        self._position += 1
        return self._literal(ord(char))

    def _interval(self) -> tuple[int, int, int] | None:
        """`{n}`, `{n,}` or `{n,m}` at the current position: (min, max, end) without moving."""
        position = self._position + 1
        low, position = self._count(position)
        if low is None:
            return None
        if self._source.startswith("}", position):
            return low, low, position + 1
        if not self._source.startswith(",", position):
            return None
        position += 1
        if self._source.startswith("}", position):
            return low, _INFINITE_COUNT, position + 1
        high, position = self._count(position)
        if high is None or not self._source.startswith("}", position):
            return None
        return low, high, position + 1

    def _count(self, position: int) -> tuple[int | None, int]:
        start = position
        while position < len(self._source) and self._source[position] in _DECIMAL:
            position += 1
        if position == start:
            return None, position
        digits = self._source[start:position]
        # Checked on length first: int() refuses very long decimal strings.
        value = int(digits) if len(digits) <= 10 else _INFINITE_COUNT
        return min(value, _INFINITE_COUNT), position

    def _quantifier(self) -> str | None:
        char = self._peek()
        bounds = {"*": (0, _INFINITE_COUNT), "+": (1, _INFINITE_COUNT), "?": (0, 1)}.get(char)
        if bounds is not None:
            self._position += 1
        elif char == "{" and (interval := self._interval()) is not None:
            low, high, self._position = interval
            if high < low:
                raise _RegexSyntaxError("numbers out of order in {} quantifier")
            bounds = (low, high)
        else:
            return None
        lazy = "?" if self._peek() == "?" else ""
        self._position += len(lazy)
        low, high = bounds
        upper = "" if high == _INFINITE_COUNT else str(high)
        return f"{{{low},{upper}}}{lazy}"

    # -- groups -----------------------------------------------------------------------------

    def _group(self, depth: int) -> _Atom:
        if depth >= _MAX_REGEX_DEPTH:
            raise _RegexSyntaxError(_STACK_OVERFLOW)
        self._position += 1
        kind, name = self._group_kind()
        capture = None
        if kind == "":
            self._captures_opened += 1
            capture = self._captures_opened
        alternatives = self._disjunction(depth + 1)
        if self._peek() != ")":
            raise _RegexSyntaxError("Unterminated group")
        self._position += 1
        body = "|".join(alternatives)
        if capture is not None:
            self._close_capture(capture, name)
            return _Atom(f"({body})")
        if kind in ("?<=", "?<!"):
            return _Atom(_lookbehind(kind, alternatives), lookbehind=True)
        return _Atom(f"({kind}{body})")

    def _group_kind(self) -> tuple[str, str | None]:
        """The group's opening after `(` as Python syntax ("" if capturing), and its name."""
        if self._peek() != "?":
            return "", None
        for kind in ("?:", "?=", "?!", "?<=", "?<!"):
            if self._source.startswith(kind, self._position):
                self._position += len(kind)
                return kind, None
        if self._peek(1) != "<":
            raise _RegexSyntaxError("Invalid group")
        self._position += 2
        return "", self._group_name()

    def _close_capture(self, index: int, name: str | None) -> None:
        # V8 registers a name when its group closes, so duplicates surface there.
        self._closed.add(index)
        if name is None:
            return
        if name in self._names:
            raise _RegexSyntaxError("Duplicate capture group name")
        self._names[name] = index

    def _group_name(self) -> str:
        """An identifier ended by `>` (the position is just after `<`)."""
        chars: list[str] = []
        while True:
            char = self._name_char()
            if not chars:
                if not _is_name_start(char):
                    raise _RegexSyntaxError("Invalid capture group name")
            elif char == ">":
                return "".join(chars)
            elif not _is_name_part(char):
                raise _RegexSyntaxError("Invalid capture group name")
            chars.append(char)

    def _name_char(self) -> str:
        char = self._peek()
        if char == "":
            return ""
        self._position += 1
        if char == "\\":
            return self._name_escape()
        if 0xD800 <= ord(char) <= 0xDBFF and 0xDC00 <= ord(self._peek() or "\0") <= 0xDFFF:
            low = self._peek()
            self._position += 1
            return chr(0x10000 + ((ord(char) - 0xD800) << 10) + (ord(low) - 0xDC00))
        return char

    def _name_escape(self) -> str:
        if self._peek() != "u":
            return "\\"  # never an identifier character: reported as an invalid name
        self._position += 1
        if self._peek() == "{":
            end = self._source.find("}", self._position)
            digits = self._source[self._position + 1 : end] if end > 0 else ""
            if digits and set(digits) <= _HEX and int(digits, 16) <= 0x10FFFF:
                self._position = end + 1
                return chr(int(digits, 16))
        elif set(self._source[self._position : self._position + 4]) <= _HEX:
            digits = self._source[self._position : self._position + 4]
            if len(digits) == 4:
                self._position += 4
                return chr(int(digits, 16))
        raise _RegexSyntaxError("Invalid Unicode escape")

    # -- escapes ----------------------------------------------------------------------------

    def _atom_escape(self) -> _Atom:
        self._position += 1
        char = self._peek()
        if char == "":
            raise _RegexSyntaxError("\\ at end of pattern")
        if char in "bB":
            self._position += 1
            return _Atom(_WORD_BOUNDARY if char == "b" else _NOT_WORD_BOUNDARY, quantifiable=False)
        if char in _CLASS_ESCAPES:
            self._position += 1
            return _Atom(self._class(_CLASS_ESCAPES[char]))
        if char in "123456789" and (index := self._backreference_index()) is not None:
            return _Atom(self._backreference(index))
        if char == "k" and self._has_named:
            return _Atom(self._named_backreference())
        return self._literal(self._character_escape(in_class=False))

    def _backreference_index(self) -> int | None:
        position = self._position
        while position < len(self._source) and self._source[position] in _DECIMAL:
            position += 1
            if int(self._source[self._position : position]) > _MAX_BACKREFERENCE:
                return None
        index = int(self._source[self._position : position])
        if index > self._capture_total:
            return None  # not a back-reference: an octal or identity escape instead
        self._position = position
        return index

    def _backreference(self, index: int) -> str:
        # JS matches an unset or still-open group as the empty string; Python fails (or
        # refuses to compile) instead, hence the conditional and the empty group.
        if index not in self._closed:
            return "(?:)"
        return f"(?({index})(?:\\{index}))"

    def _named_backreference(self) -> str:
        self._position += 1
        if self._peek() != "<":
            raise _RegexSyntaxError("Invalid named reference")
        self._position += 1
        name = self._group_name()
        index = self._names.get(name)
        if index is None:
            self._forward_names.append(name)
            return "(?:)"
        return self._backreference(index)

    def _character_escape(self, *, in_class: bool) -> int:
        """The unit a `\\x`-style escape stands for (the position is just after `\\`)."""
        char = self._peek()
        if char in _CONTROL_ESCAPES:
            self._position += 1
            return _CONTROL_ESCAPES[char]
        if char == "c":
            return self._control_escape(in_class)
        if char == "0" and self._peek(1) not in _DECIMAL:
            self._position += 1
            return 0
        if char in _OCTAL:
            return self._octal_escape()
        if char in "xu":
            return self._hex_escape(char)
        if char == "k" and in_class and self._has_named:
            raise _RegexSyntaxError("Invalid escape")
        self._position += 1
        return ord(char)

    def _control_escape(self, in_class: bool) -> int:
        letter = self._peek(1)
        if letter.isascii() and (
            letter.isalpha() or (in_class and (letter.isdigit() or letter == "_"))
        ):
            self._position += 2
            return ord(letter) & 0x1F
        # Annex B: a lone `\c` is a literal backslash; the `c` is read again as itself.
        return ord("\\")

    def _octal_escape(self) -> int:
        value = int(self._peek())
        self._position += 1
        if self._peek() in _OCTAL:
            value = value * 8 + int(self._peek())
            self._position += 1
            if value < 32 and self._peek() in _OCTAL:
                value = value * 8 + int(self._peek())
                self._position += 1
        return value

    def _hex_escape(self, kind: str) -> int:
        width = 2 if kind == "x" else 4
        digits = self._source[self._position + 1 : self._position + 1 + width]
        if len(digits) == width and set(digits) <= _HEX:
            self._position += 1 + width
            return int(digits, 16)
        self._position += 1
        return ord(kind)

    # -- character classes ------------------------------------------------------------------

    def _character_class(self) -> _Atom:
        self._position += 1
        negated = self._peek() == "^"
        self._position += negated
        ranges: _Ranges = []
        while self._peek() not in ("", "]"):
            ranges.extend(self._class_item())
        if self._peek() != "]":
            raise _RegexSyntaxError("Unterminated character class")
        self._position += 1
        return _Atom(self._class(ranges, negated))

    def _class_item(self) -> _Ranges:
        first = self._class_atom()
        if self._peek() != "-":
            return _as_ranges(first)
        self._position += 1
        if self._peek() in ("", "]"):
            return [*_as_ranges(first), (0x2D, 0x2D)]
        last = self._class_atom()
        if isinstance(first, list) or isinstance(last, list):
            # Annex B: next to a class escape the dash is an ordinary character.
            return [*_as_ranges(first), (0x2D, 0x2D), *_as_ranges(last)]
        if first > last:
            raise _RegexSyntaxError("Range out of order in character class")
        return [(first, last)]

    def _class_atom(self) -> int | _Ranges:
        char = self._peek()
        self._position += 1
        if char != "\\":
            return ord(char)
        escaped = self._peek()
        if escaped == "":
            raise _RegexSyntaxError("\\ at end of pattern")
        if escaped == "b":
            self._position += 1
            return 0x08
        if escaped in _CLASS_ESCAPES:
            self._position += 1
            return _CLASS_ESCAPES[escaped]
        return self._character_escape(in_class=True)


def _as_ranges(item: int | _Ranges) -> _Ranges:
    return item if isinstance(item, list) else [(item, item)]


def _lookbehind(kind: str, alternatives: list[str]) -> str:
    # Python wants a fixed width per look-behind; JS accepts alternatives of different widths,
    # so each alternative gets its own look-behind (any of them for `?<=`, none for `?<!`).
    looks = [f"({kind}{alternative})" for alternative in alternatives]
    return f"(?:{'|'.join(looks)})" if kind == "?<=" else f"(?:{''.join(looks)})"


def _compile_regexp(pattern: str, flags: str) -> _RegExp:
    """`new RegExp(pattern, flags)` (flags is "" or "i"); raises _Abort with V8's message."""
    ignore_case = flags == "i"
    prefix = f"Invalid regular expression: /{pattern}/{flags}: "
    try:
        translated = _RegexTranslator(_utf16(pattern), ignore_case).translate()
    except _RegexSyntaxError as error:
        raise _Abort(prefix + error.reason) from None
    try:
        compiled = re.compile(translated)
    except RecursionError:
        raise _Abort(prefix + _STACK_OVERFLOW) from None
    except (re.error, OverflowError) as error:
        # Valid JS that Python's engine cannot express (a variable-width look-behind).
        raise _Abort(f"{prefix}not supported by the simulator ({error})") from None
    return _RegExp(compiled, ignore_case)
