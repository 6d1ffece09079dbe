"""JavaScript regular expressions (V8, no `u` flag) and JS strings, as Python sees them.

complex-matcher builds `new RegExp(…)` from filter text and tests it against JS strings, which
are UTF-16. This module translates such a pattern into Python `re` syntax with a small parser
that follows V8's Annex B (non-unicode) grammar and error messages, and provides what a
subject needs before matching: its UTF-16 code units (`utf16`) and, for the `i` flag, the
ECMAScript `Canonicalize` form (`canonical`). Case-insensitive matching canonicalises both
the subject and the pattern, never through `re.IGNORECASE`, whose Unicode folding matches
more than JS does.

Known divergences, all on inputs no real filter uses: nesting deeper than `_MAX_REGEX_DEPTH`
is reported as a stack overflow; a look-behind Python cannot compile (variable width per
alternative) is rejected; captures inside a repeated group are not reset between iterations.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "JS_WHITESPACE",
    "LINE_TERMINATORS",
    "STACK_OVERFLOW",
    "JsRegexError",
    "canonical",
    "compile_js_regexp",
    "utf16",
    "utf16_index",
]

# What Node reports when a recursion runs out of stack (a RangeError, not a SyntaxError).
STACK_OVERFLOW = "Maximum call stack size exceeded"

# JS `\s` and the StrWhiteSpaceChar set of `Number(string)`: WhiteSpace plus LineTerminator.
JS_WHITESPACE = frozenset(
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
LINE_TERMINATORS = "\n\r\u2028\u2029"

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _surrogate_pair(match: re.Match[str]) -> str:
    offset = ord(match.group()) - 0x10000
    return chr(0xD800 + (offset >> 10)) + chr(0xDC00 + (offset & 0x3FF))


def utf16(text: str) -> str:
    """`text` as JS sees it: one Python character per UTF-16 code unit."""
    if _ASTRAL.search(text) is None:
        return text
    return _ASTRAL.sub(_surrogate_pair, text)


def utf16_index(text: str, index: int) -> int:
    return index + len(_ASTRAL.findall(text, 0, index))


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


def canonical(text: str) -> str:
    return text.translate(_canonical_table())


# ---------------------------------------------------------------------------------------------
# JS regular expressions (V8, no `u` flag) translated to Python `re`

_INFINITE_COUNT = 2**31 - 1  # V8's RegExpTree::kInfinity: larger counts clamp to it
_MAX_REGEX_DEPTH = 60  # V8 nests far deeper; Python's sre recursion does not
_MAX_BACKREFERENCE = 1 << 16  # V8's kMaxCaptures: longer decimal escapes are not back-references
_LAST_UNIT = 0xFFFF

_Ranges = list[tuple[int, int]]

_DIGITS: _Ranges = [(0x30, 0x39)]
_WORD: _Ranges = [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]
_SPACES: _Ranges = [(ord(char), ord(char)) for char in sorted(JS_WHITESPACE)]
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
            code = ord(canonical(chr(code)))
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
            return _Atom(f"[^{LINE_TERMINATORS}]")
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
            raise _RegexSyntaxError(STACK_OVERFLOW)
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


class JsRegexError(ValueError):
    """A pattern `new RegExp` would reject; `message` is the text XO reports."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def compile_js_regexp(pattern: str, flags: str) -> re.Pattern[str]:
    """`new RegExp(pattern, flags)` (flags is "" or "i") as a Python pattern.

    Search it in `utf16(subject)`, canonicalised first with `canonical()` when flags is "i".
    Raises JsRegexError with V8's message.
    """
    ignore_case = flags == "i"
    prefix = f"Invalid regular expression: /{pattern}/{flags}: "
    try:
        translated = _RegexTranslator(utf16(pattern), ignore_case).translate()
    except _RegexSyntaxError as error:
        raise JsRegexError(prefix + error.reason) from None
    try:
        return re.compile(translated)
    except RecursionError:
        raise JsRegexError(prefix + STACK_OVERFLOW) from None
    except (re.error, OverflowError) as error:
        # Valid JS that Python's engine cannot express (a variable-width look-behind).
        raise JsRegexError(f"{prefix}not supported by the simulator ({error})") from None
