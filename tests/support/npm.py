"""Peers from the npm registry, fetched once into .cache/npm (git-ignored), never committed:
the official server, the real XO OpenAPI spec, and the TypeScript MCP SDK.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from support.processes import REPO

CACHE = REPO / ".cache" / "npm"
OFFICIAL = "@xen-orchestra/mcp@1.4.2"
TS_SDK = "@modelcontextprotocol/sdk@1"
REST_API = "@xen-orchestra/rest-api@0.39.0"


class NpmUnavailable(Exception):
    pass


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


def _install(root: Path) -> None:
    if shutil.which("npm") is None or shutil.which("node") is None:
        raise NpmUnavailable("node/npm are not installed")
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "package.json").exists():
        (root / "package.json").write_text(json.dumps({"private": True}), encoding="utf-8")
    _run(["npm", "install", "--no-audit", "--no-fund", "--silent", OFFICIAL, TS_SDK], root)
    spec_dir = root / "rest-api"
    spec_dir.mkdir(exist_ok=True)
    _run(["npm", "pack", "--silent", REST_API], spec_dir)
    archive = next(spec_dir.glob("*.tgz"))
    with tarfile.open(archive) as tar:
        member = tar.getmember("package/open-api/spec/swagger.json")
        tar.extractall(spec_dir, members=[member], filter="data")


def npm_peers() -> NpmPeers:
    """Install once (a lock file serialises concurrent test processes)."""
    peers = NpmPeers(CACHE)
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (
            peers.real_spec.exists()
            and (peers.node_modules / "@modelcontextprotocol" / "sdk").exists()
        ):
            _install(CACHE)
    os.environ.setdefault("NODE_NO_WARNINGS", "1")
    return peers
