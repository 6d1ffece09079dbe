"""Fixtures of the fleet tests (helpers live in fleetkit.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fleet.fleetkit import reachable_dir, unprivileged_python
from support.processes import Sim, start_sim


@pytest.fixture(scope="session")
def python_65532() -> Iterator[str]:
    """An interpreter uid 65532 can run, with this checkout's packages."""
    with reachable_dir("xo-py-") as scratch:
        yield unprivileged_python(scratch)


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
