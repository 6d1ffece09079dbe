"""`check`'s view of the deny lists: entries that name no operation of XO's REST API.

`check` has no XO to ask for its spec, so it compares with the operations of the API version the
simulator reproduces (its catalog). A newer XO may have more: this is a warning; the worker,
which reads its XO's real spec at start, warns again or, with `deny_unknown = "error"`, refuses
to start.
"""

from __future__ import annotations

from xo_mcp import denylist
from xo_mcp.fleet.config import Fleet
from xo_mcp.sim.catalog import ROWS

API = "XO's REST API 0.39.0"


def unknown_entries(fleet: Fleet) -> list[str]:
    """One warning per deny entry, per table it is written in, that names no operation."""
    operations = [(row.operation_id, row.method, row.path) for row in ROWS]
    written: dict[str, list[str]] = {}
    for name in fleet.instances:
        written.setdefault(fleet.deny_key_of(name), fleet.deny_of(name))
    warnings = []
    for key, entries in written.items():
        for entry, near in denylist.unknown(entries, operations):
            hint = f"; did you mean {near!r}?" if near else ""
            warnings.append(f"{key}: {entry!r} is not an operation of {API}{hint}")
    return warnings
