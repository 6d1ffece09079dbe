"""Noticing that the fleet file, or a secret file it names, changed: by polling.

Every `[reload] poll_s` (2 s by default) the watch reads the fleet file and the secret files and
CA bundles it names, and compares digests of their content with those of the last reload.
Polling content, not inotify, is what survives every way a file changes under a path: an editor
replacing it, a network filesystem, and Kubernetes, which updates ConfigMap and Secret volumes
by swapping the `..data` symlink (the watched path never changes, its target does). A round
reads a few small files; only digests are kept, never a secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xo_mcp.fleet.config import CA_BUNDLE_MAX_BYTES, FleetError, ReloadSettings, read_fleet_text
from xo_mcp.secretfile import fingerprint

INSTANCE_FILES = ("token_file", "password_file", "ca_bundle")
SETTLE_S = 0.5  # let a writer finish before reading (Kubernetes swaps atomically; editors not)


def _paths(table: Any, keys: tuple[str, ...]) -> list[Path]:
    if not isinstance(table, dict):
        return []
    values = [table.get(key) for key in keys]
    return [Path(value) for value in values if isinstance(value, str) and value.startswith("/")]


def named_files(text: str) -> list[Path]:
    """The secret files and CA bundles a fleet file names, found leniently: also in a file that
    is invalid as a whole, so that a reload refused for a missing secret is tried again once
    the secret appears."""
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        return []
    instances = data.get("instances")
    files = []
    for table in (instances if isinstance(instances, dict) else {}).values():
        files += _paths(table, INSTANCE_FILES)
    gateway = data.get("gateway")
    clients = gateway.get("clients") if isinstance(gateway, dict) else None
    for table in clients if isinstance(clients, list) else []:
        files += _paths(table, ("token_file",))
    return list(dict.fromkeys(files))


def config_print(path: Path) -> str:
    try:
        return text_print(read_fleet_text(path))
    except FleetError as error:
        return "unusable: " + str(error)


def text_print(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class FileWatch:
    """Digests of the fleet file and the files it names, as the last reload read them."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.baseline: dict[Path, str] = {}

    def snapshot(self, text: str | None) -> None:
        """Before a reload reads anything: what it is about to read (`text`: the fleet file's
        content; None when it could not be read). A change after this shows as a difference."""
        files = (
            named_files(text)
            if text is not None
            else [p for p in self.baseline if p != self.config]
        )
        baseline = {
            self.config: text_print(text) if text is not None else config_print(self.config)
        }
        baseline.update({path: fingerprint(path, CA_BUNDLE_MAX_BYTES) for path in files})
        self.baseline = baseline

    def current(self) -> dict[Path, str]:
        found = {self.config: config_print(self.config)}
        found.update(
            {
                path: fingerprint(path, CA_BUNDLE_MAX_BYTES)
                for path in self.baseline
                if path != self.config
            }
        )
        return found

    def changed(self) -> list[Path]:
        """The watched files whose content differs from the baseline (read now)."""
        now = self.current()
        return [path for path, digest in now.items() if self.baseline.get(path) != digest]

    async def run(
        self, settings: Callable[[], ReloadSettings], reload: Callable[[str], None]
    ) -> None:
        """Poll forever; ask for a reload when something changed (and `watch` is on)."""
        while True:
            await asyncio.sleep(settings().poll_s)
            if not settings().watch:
                continue
            changed = await asyncio.to_thread(self.changed)
            if not changed:
                continue
            await asyncio.sleep(SETTLE_S)
            self.baseline = await asyncio.to_thread(self.current)  # not twice for one change
            reload(
                f"{changed[0]} changed"
                + (f" (and {len(changed) - 1} more)" if len(changed) > 1 else "")
            )
