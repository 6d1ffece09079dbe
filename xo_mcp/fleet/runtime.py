"""The fleet's runtime directory: private directories, and files only the launcher reads."""

from __future__ import annotations

import os
from pathlib import Path

from xo_mcp.core import LAST_ERROR_FILE, RuntimeLayout


def private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise OSError(
            f"{path} is not private to uid {os.getuid()} "
            f"(owner {info.st_uid}, mode {oct(info.st_mode)})"
        )
    path.chmod(0o700)


def prepare_instance(layout: RuntimeLayout, name: str) -> None:
    """An instance's private directory, without what a previous worker left there."""
    private_dir(layout.instance_dir(name))
    for stale in ("worker.sock", "secret.sock", LAST_ERROR_FILE):
        (layout.instance_dir(name) / stale).unlink(missing_ok=True)


def write_private(path: Path, text: str) -> None:
    """Write `text` to a file of mode 0600 (the rendered supervisord.conf)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
