"""What the fleet's integration tests share beyond tests/support: running as the image's uid
(65532), and reading a fleet's stderr."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from support.processes import REPO, Fleet, clean_env, scratch_dir, start_fleet

UNPRIVILEGED = 65532  # the image's uid (distroless "nonroot")


def reachable_dir(prefix: str) -> contextlib.AbstractContextManager[Path]:
    """A directory under /tmp, root's, that uid 65532 can read (pytest's own tmp dirs are
    root-only)."""
    return scratch_dir(prefix, mode=0o755)


def unprivileged_dir(prefix: str = "xo-fleet-") -> contextlib.AbstractContextManager[Path]:
    """A directory under /tmp owned by uid 65532."""
    return scratch_dir(prefix, owner=UNPRIVILEGED)


def as_unprivileged() -> None:
    """preexec_fn: become uid/gid 65532 with no supplementary groups (root bypasses the very
    checks the isolation tests are about)."""
    os.setgroups([])
    os.setresgid(UNPRIVILEGED, UNPRIVILEGED, UNPRIVILEGED)
    os.setresuid(UNPRIVILEGED, UNPRIVILEGED, UNPRIVILEGED)


def start_unprivileged(base: Path, toml_text: str, python: str, **options: Any) -> Fleet:
    """start_fleet as uid 65532 on `python` (one that uid can run: `unprivileged_python`)."""
    return start_fleet(base, toml_text, python=(python,), preexec=as_unprivileged, **options)


# Development tools uid 65532 never runs: not copied (a third of the venv's size).
DEV_ONLY = ("mypy", "mypyc", "ruff", "hypothesis", "pip", "setuptools", "pkg_resources", "_pytest",
            "pytest", "pygments", "docker", "yaml", "__editable__", "xo_mcp")  # fmt: skip


def unprivileged_python(scratch: Path) -> str:
    """A Python interpreter uid 65532 can run, with its own copy of this checkout's packages.

    The checkout (and its .venv) may live where 65532 cannot go: a clone under /root, or in a
    `mktemp -d` directory (mode 0700). So: a throwaway venv on a world-readable interpreter of
    the same version, with a copy of our dependencies and of the xo_mcp package itself (not the
    editable install, which points back into the checkout).
    """
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    base = shutil.which(version, path="/usr/local/bin:/usr/bin:/bin")
    if base is None:
        raise RuntimeError(f"no {version} that uid {UNPRIVILEGED} can run")
    venv = scratch / "venv"
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
    target = venv / "lib" / version / "site-packages"
    source = next(Path(p) for p in sys.path if p.endswith("site-packages"))
    for entry in source.iterdir():
        if entry.name.startswith(DEV_ONLY) or entry.name == "__pycache__":
            continue
        if entry.is_dir():
            shutil.copytree(entry, target / entry.name, ignore=_BYTECODE)
        else:
            shutil.copy2(entry, target / entry.name)
    shutil.copytree(REPO / "xo_mcp", target / "xo_mcp", ignore=_BYTECODE)  # links resolved
    for path in [venv, *venv.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o055 if path.is_dir() else path.stat().st_mode | 0o044)
    return str(venv / "bin" / "python")


_BYTECODE = shutil.ignore_patterns("__pycache__")


def run_as_unprivileged(
    python: str, *args: str, env: dict[str, str] | None = None, cwd: str = "/"
) -> subprocess.CompletedProcess[str]:
    """`python ARGS` as uid 65532, from `/` by default (like the fleet in a container)."""
    return subprocess.run(
        [python, *args],
        capture_output=True,
        text=True,
        env=env if env is not None else clean_env(),
        cwd=cwd,
        preexec_fn=as_unprivileged,
        timeout=60,
        check=False,
    )


def stderr_lines(fleet: Fleet, needle: str) -> list[str]:
    return [line for line in fleet.stderr().splitlines() if needle in line]
