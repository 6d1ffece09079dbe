"""Fleet files for tests, written by one helper (tomli-w) instead of hand-typed TOML strings.

    fleet_toml(
        instances={"production": instance(sim, token_file=path), "staging": instance(other)},
        clients=[client("admin", token_file=admin)],
        supervision={"failed_retry_s": 1},
    )

Malformed files on purpose (the config corpus, hostile inputs) stay hand-written: this helper
only writes valid TOML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w

from support.processes import Sim


def _plain(value: Any) -> Any:
    """TOML has no paths: write them as strings, at any depth; drop None (an absent key)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def instance(sim: Sim | str, **keys: Any) -> dict[str, Any]:
    """An [instances.<name>] table: the simulator's URL, and its token by variable unless
    another credential is given."""
    url = sim if isinstance(sim, str) else sim.url
    table: dict[str, Any] = {"url": url, **keys}
    return table


def client(name: str, **keys: Any) -> dict[str, Any]:
    """A [[gateway.clients]] entry."""
    return {"name": name, **keys}


def fleet_toml(
    *,
    instances: dict[str, dict[str, Any]],
    clients: list[dict[str, Any]] | None = None,
    gateway: dict[str, Any] | None = None,
    **tables: Any,
) -> str:
    """The whole file; `tables` are other top-level keys and tables (defaults, supervision…)."""
    document: dict[str, Any] = dict(tables)
    if gateway is not None or clients:
        document["gateway"] = {**(gateway or {}), **({"clients": clients} if clients else {})}
    document["instances"] = instances
    return tomli_w.dumps(_plain(document))
