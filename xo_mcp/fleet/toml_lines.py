"""Line numbers of TOML keys, so validation errors can point at the line to fix.

tomllib keeps no positions; a line scan recovers them for the usual layout (tables, arrays of
tables, `key = value` lines). Keys inside inline tables resolve to their enclosing key.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)
_PART = re.compile(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""")

Loc = tuple[int | str, ...]


def _parts(dotted: str) -> list[str]:
    return [part.strip("\"'") for part in _PART.findall(dotted)]


class KeyLines:
    def __init__(self, text: str) -> None:
        self._lines: dict[Loc, int] = {}
        arrays: dict[Loc, int] = {}
        table: Loc = ()
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header:
                path: Loc = tuple(_parts(header.group(2)))
                table = self._resolve_arrays(path, arrays)
                if header.group(1) == "[[":
                    arrays[table] = arrays.get(table, -1) + 1
                    table = (*table, arrays[table])
                self._lines.setdefault(table, number)
                continue
            key = _KEY.match(line)
            if key:
                self._lines.setdefault((*table, *_parts(key.group(1))), number)

    @staticmethod
    def _resolve_arrays(path: Loc, arrays: dict[Loc, int]) -> Loc:
        """`[a.b.c]` after `[[a.b]]` belongs to the latest element of a.b: (a, b, n, c).

        The header's own last part is left alone: `[[a.b]]` itself adds the next index."""
        resolved: list[int | str] = []
        for index, part in enumerate(path):
            resolved.append(part)
            current = tuple(resolved)
            if current in arrays and index < len(path) - 1:
                resolved.append(arrays[current])
        return tuple(resolved)

    def find(self, loc: Loc) -> int | None:
        """The line of `loc`, or of its closest enclosing key or table."""
        for end in range(len(loc), 0, -1):
            line = self._lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return None
