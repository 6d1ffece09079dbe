"""Worker-test fixtures: the shared simulators, once they really accept connections.

`xo-mcp-sim` prints "listening on" after binding its socket but before uvicorn calls
`listen()`, so a client that connects at once can be refused; these overrides wait for it.
"""

from __future__ import annotations

import pytest
from support.processes import Sim
from worker.kit import wait_until_serving


@pytest.fixture(scope="session")
def sim(sim: Sim) -> Sim:
    return wait_until_serving(sim)


@pytest.fixture
def fresh_sim(fresh_sim: Sim) -> Sim:
    return wait_until_serving(fresh_sim)
