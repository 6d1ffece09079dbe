"""Print the digest of everything the image is built from (the image carries it as a label).

The container tests compare it with the image's `io.xo-mcp.source-digest` label and rebuild
only when they differ: content, not timestamps, so a fresh clone does not look newer.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INPUTS = (
    "Containerfile",
    ".dockerignore",
    "pyproject.toml",
    "scripts/assemble_rootfs.py",
    "scripts/healthcheck.py",
)
TREES = (("xo_mcp", "*.py"), ("xo_mcp", "py.typed"))


def source_files(repo: Path = REPO) -> list[Path]:
    files = [repo / name for name in INPUTS]
    for tree, pattern in TREES:
        files += [path for path in (repo / tree).rglob(pattern) if "__pycache__" not in path.parts]
    return sorted(set(files))


def source_digest(repo: Path = REPO) -> str:
    digest = hashlib.sha256()
    for path in source_files(repo):
        digest.update(str(path.relative_to(repo)).encode() + b"\0")
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
        digest.update(b"\0")
    return digest.hexdigest()


if __name__ == "__main__":
    print(source_digest(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO))
