"""Deny-list entries that name no operation: a typo (`DeleteVM`) must not leave `DeleteVm` offered.

An entry is an operationId or `METHOD /path`. The worker checks its list against XO's real spec
at start; `xo-mcp-fleet check`, which has no spec, against the operations of XO's REST API that
the simulator knows. Either way the nearest real operation is named.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

HTTP_METHODS = ("get", "post", "put", "patch", "delete")  # what XO's spec uses


def normalize(entry: str) -> str:
    """`delete  /vms/{id}` → `DELETE /vms/{id}`; operationIds stay as they are."""
    method, sep, path = entry.strip().partition(" ")
    if sep and method.lower() in HTTP_METHODS:
        return f"{method.upper()} {path.strip()}"
    return entry.strip()


def unknown(
    entries: Iterable[str], operations: Iterable[tuple[str, str, str]]
) -> list[tuple[str, str | None]]:
    """(entry, nearest real operation or None) for each entry that names none of
    `operations`, given as (operationId, method, path)."""
    names: dict[str, None] = {}
    routes: dict[str, None] = {}
    for name, method, path in operations:
        names[name] = None
        routes[f"{method.upper()} {path}"] = None
    found: list[tuple[str, str | None]] = []
    for entry in entries:
        key = normalize(entry)
        if key in names or key in routes:
            continue
        found.append((entry, nearest(key, list(routes) if " " in key else list(names))))
    return found


def nearest(key: str, candidates: list[str]) -> str | None:
    """The candidate that differs only in case, else the closest spelling, if any is close."""
    folded = {candidate.lower(): candidate for candidate in candidates}
    if key.lower() in folded:
        return folded[key.lower()]
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.75)
    return close[0] if close else None
