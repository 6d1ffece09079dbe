"""Match request paths against the operation catalog, the way Express does."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from xo_mcp.sim.catalog import BODIES, ROWS, Row
from xo_mcp.sim.params import Param, parse_params

_PLACEHOLDER = re.compile(r"\{([^}]+)\}")


def _template_regex(path: str) -> re.Pattern[str]:
    pattern = ""
    position = 0
    for match in _PLACEHOLDER.finditer(path):
        pattern += re.escape(path[position : match.start()])
        pattern += f"(?P<{match.group(1)}>[^/]+?)"
        position = match.end()
    pattern += re.escape(path[position:])
    return re.compile(f"^{pattern}$")


@dataclass(frozen=True)
class Route:
    row: Row
    regex: re.Pattern[str]
    params: tuple[Param, ...]
    body_schema: dict[str, object] | None
    body_required: bool

    @property
    def segment(self) -> str:
        return self.row.path.split("/")[1]


def _route(row: Row) -> Route:
    schema, required = BODIES.get((row.method, row.path), (None, False))
    return Route(row, _template_regex(row.path), parse_params(row.params), schema, required)


ROUTES: tuple[Route, ...] = tuple(_route(row) for row in ROWS)


@dataclass(frozen=True)
class Match:
    route: Route
    path_values: dict[str, str]


def match(method: str, raw_path: str) -> Match | None:
    """Find the operation for `raw_path` (still percent-encoded, relative to /rest/v0).

    Matching happens on the encoded path so that an encoded `/` inside an id stays inside it;
    the captured values are decoded afterwards, as Express does.
    """
    if len(raw_path) > 1:
        raw_path = raw_path.rstrip("/") or "/"
    for route in ROUTES:
        if route.row.method != method:
            continue
        found = route.regex.match(raw_path)
        if found:
            values = {name: unquote(value) for name, value in found.groupdict().items()}
            return Match(route, values)
    return None


def path_exists(raw_path: str) -> bool:
    return any(route.regex.match(raw_path.rstrip("/") or "/") for route in ROUTES)
