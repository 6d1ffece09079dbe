"""Peers from the npm registry, fetched once into .cache/npm (git-ignored), never committed:
the official server, the real XO OpenAPI spec, the TypeScript MCP SDK, and (`npm_module`)
packages only some tests need, such as the OpenID provider of the OAuth tests.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from support.processes import REPO

CACHE = REPO / ".cache" / "npm"
OFFICIAL = "@xen-orchestra/mcp@1.4.2"
TS_SDK = "@modelcontextprotocol/sdk@1"
REST_API = "@xen-orchestra/rest-api@0.39.0"

# Fact sheet §6.2: the query tools 1.4.2 generates, read-only, from XO's real 0.39.0 spec (its
# utility tools follow them).
OFFICIAL_READ_ONLY_TOOLS = [
    "dashboard_query", "ping_query", "gui_routes_query", "vms_query", "vm_templates_query",
    "vm_snapshots_query", "vm_controllers_query", "vifs_query", "vdis_query",
    "vdi_snapshots_query", "vbds_query", "users_query", "tasks_query", "srs_query", "sms_query",
    "servers_query", "schedules_query", "restore_logs_query", "restore_query", "proxies_query",
    "pools_query", "pifs_query", "pgpus_query", "pcis_query", "pbds_query", "networks_query",
    "messages_query", "hosts_query", "groups_query", "events_query",
    "backup_repositories_query", "backup_logs_query", "backup_jobs_query", "backup_query",
    "backup_archives_query", "alarms_query", "acl_roles_query", "acl_privileges_query",
]  # fmt: skip


IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
T = TypeVar("T")


class NpmUnavailable(Exception):
    pass


def npm_or_skip(install: Callable[[], T]) -> T:
    """What an npm fixture gives: the test is skipped with the reason when npm is unreachable,
    except in CI, where it must work (the test fails)."""
    import pytest  # here: the benchmarks use this module too, without pytest

    try:
        return install()
    except NpmUnavailable as error:
        if IN_CI:
            pytest.fail(f"npm peers are required in CI: {error}")
        pytest.skip(f"npm registry unreachable: {error}")


@dataclass(frozen=True)
class NpmPeers:
    root: Path

    @property
    def official_server(self) -> list[str]:
        return [
            "node",
            str(self.root / "node_modules" / "@xen-orchestra" / "mcp" / "bin" / "xo-mcp.mjs"),
        ]

    @property
    def real_spec(self) -> Path:
        return self.root / "rest-api" / "package" / "open-api" / "spec" / "swagger.json"

    @property
    def node_modules(self) -> Path:
        return self.root / "node_modules"


def _run(args: list[str], cwd: Path) -> None:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise NpmUnavailable(f"{' '.join(args)} failed: {result.stderr[-2000:]}")


def _npm_install(root: Path, *specs: str) -> None:
    if shutil.which("npm") is None or shutil.which("node") is None:
        raise NpmUnavailable("node/npm are not installed")
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "package.json").exists():
        (root / "package.json").write_text(json.dumps({"private": True}), encoding="utf-8")
    _run(["npm", "install", "--no-audit", "--no-fund", "--silent", *specs], root)


def _install(root: Path) -> None:
    _npm_install(root, OFFICIAL, TS_SDK)
    spec_dir = root / "rest-api"
    spec_dir.mkdir(exist_ok=True)
    _run(["npm", "pack", "--silent", REST_API], spec_dir)
    archive = next(spec_dir.glob("*.tgz"))
    with tarfile.open(archive) as tar:
        member = tar.getmember("package/open-api/spec/swagger.json")
        tar.extractall(spec_dir, members=[member], filter="data")


@contextlib.contextmanager
def _cache_lock() -> Iterator[None]:
    """A lock file serialises concurrent test processes installing into the cache."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    os.environ.setdefault("NODE_NO_WARNINGS", "1")


def npm_peers() -> NpmPeers:
    """Install once."""
    peers = NpmPeers(CACHE)
    with _cache_lock():
        if not (
            peers.real_spec.exists()
            and (peers.node_modules / "@modelcontextprotocol" / "sdk").exists()
        ):
            _install(CACHE)
    return peers


def npm_module(spec: str, name: str) -> Path:
    """One more package (`spec`, e.g. "oidc-provider@9") that only some tests need, installed
    once into the same cache; its directory in node_modules."""
    target = CACHE / "node_modules" / name
    with _cache_lock():
        if not (target / "package.json").exists():
            _npm_install(CACHE, spec)
    return target
