"""The code's own map (README "How it fits together"), enforced over every module of xo_mcp/:

    fleet ──▶ gateway ──▶ wire ◀── worker          sim stands alone
       │         │          ▲         │
       │         └──▶ front ┘◀────────┘            front: what every MCP front shares
       └──────────────▶ (core) ◀── everyone        core: the modules directly in xo_mcp/

Every import counts, those inside functions too: a lazy import cannot dodge the map.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "xo_mcp"
CORE = "core"
# What each part may import besides itself and the core; anything else breaks the map.
ALLOWED: dict[str, set[str]] = {
    CORE: set(),
    "wire": set(),
    "front": {"wire"},
    "worker": {"wire", "front"},
    "gateway": {"wire", "front"},
    "fleet": {"gateway", "wire", "front", "sim"},  # sim: the demo runs simulated XOs
    "sim": set(),
}


def part_of(module: Path) -> str:
    relative = module.relative_to(PACKAGE).parts
    return relative[0] if len(relative) > 1 else CORE


def imported_parts(module: Path) -> Iterator[tuple[int, str]]:
    """(line, part) for every import of an xo_mcp module in `module`, lazy ones included."""
    parts = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            bits = name.split(".")
            if bits[0] == "xo_mcp" and len(bits) > 1:
                yield node.lineno, bits[1] if bits[1] in parts else CORE


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module in modules():
        source = part_of(module)
        for _, target in imported_parts(module):
            if target != source:
                graph.setdefault(source, set()).add(target)
    return graph


def test_the_map_names_every_part() -> None:
    parts = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert parts | {CORE} == set(ALLOWED)


@pytest.mark.parametrize("module", modules(), ids=lambda m: str(m.relative_to(PACKAGE)))
def test_imports_follow_the_map(module: Path) -> None:
    source = part_of(module)
    wrong = [
        f"{module.relative_to(PACKAGE)}:{line} ({source}) imports {target}"
        for line, target in imported_parts(module)
        if target not in (source, CORE) and target not in ALLOWED[source]
    ]
    if source == CORE:  # the core may use other core modules, nothing else
        wrong = [w for w in wrong if not w.endswith(f"imports {CORE}")]
    assert wrong == []


def test_no_cycles_between_parts() -> None:
    graph = edges()
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> None:
        if node in done:
            return
        assert node not in visiting, " -> ".join([*visiting, node])
        visiting.append(node)
        for target in sorted(graph.get(node, set()) - {CORE}):
            visit(target)
        visiting.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)


def test_the_check_catches_a_wrong_import(tmp_path: Path) -> None:
    """The map test itself must be able to fail: a worker module importing the gateway."""
    fake = tmp_path / "rogue.py"
    fake.write_text("def f():\n    from xo_mcp.gateway.service import Gateway\n")
    assert list(imported_parts(fake)) == [(2, "gateway"), (2, "gateway")]
    assert "gateway" not in ALLOWED["worker"]


def test_nothing_is_named_supervisor() -> None:
    """An importable `supervisor` would shadow supervisord's own package."""
    top = PACKAGE.parent
    assert not (top / "supervisor" / "__init__.py").exists()
    assert not list(PACKAGE.rglob("supervisor.py"))
