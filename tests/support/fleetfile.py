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


def kubernetes_volume(root: Path, files: dict[str, str], version: int) -> None:
    """Files laid out as the kubelet lays out a ConfigMap or Secret volume: `name` is a symlink
    to `..data/name`, `..data` a symlink to `..<version>`. Each update writes a new version
    directory and swaps `..data` with one rename (what `[reload] watch` must notice)."""
    target = root / f"..{version}"
    target.mkdir(parents=True)
    for name, text in files.items():
        (target / name).write_text(text, encoding="utf-8")
        (target / name).chmod(0o600)
    link = root / "..data_tmp"
    link.symlink_to(target.name)
    link.replace(root / "..data")
    for name in files:
        if not (root / name).is_symlink():
            (root / name).symlink_to(f"..data/{name}")
