"""Fixtures shared by every test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.npm import NpmPeers, npm_or_skip, npm_peers
from support.processes import Sim, own_sim


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sim() -> Iterator[Sim]:
    """A simulated XO shared by tests that do not change its state (once it serves)."""
    with own_sim("--seed", "1") as server:
        yield server


@pytest.fixture
def fresh_sim() -> Iterator[Sim]:
    """A simulated XO of one's own, for tests that flip switches or run actions."""
    with own_sim("--seed", "3") as server:
        yield server


@pytest.fixture(scope="session")
def npm() -> NpmPeers:
    """The official server, the real spec and the TypeScript SDK from npm.

    Skipped with a reason only when npm is unreachable and CI is not set; in CI it must work.
    """
    return npm_or_skip(npm_peers)
