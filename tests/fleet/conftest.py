"""Fixtures of the fleet tests (helpers live in fleetkit.py)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet.fleetkit import unprivileged_python
from support.processes import Sim, start_sim


@pytest.fixture(scope="session")
def python_65532() -> Iterator[str]:
    """An interpreter uid 65532 can run, with this checkout's packages."""
    scratch = Path(tempfile.mkdtemp(prefix="xo-py-"))
    scratch.chmod(0o755)
    try:
        yield unprivileged_python(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def sim_pair() -> Iterator[tuple[Sim, Sim]]:
    """Two simulated XO servers of one's own (tests flip their switches)."""
    first = start_sim("--seed", "1")
    try:
        second = start_sim("--seed", "2")
    except BaseException:
        first.stop()
        raise
    yield first, second
    first.stop()
    second.stop()
