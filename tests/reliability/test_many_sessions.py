"""Thousands of open sessions neither stop other clients nor hold up a SIGTERM.

The stop time is printed as a figure (pytest -s) and measured in `make bench`; the test only
asserts the fleet exits cleanly, well before the stop helper's 15 s limit.
"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx2
from reliability.relkit import figure
from support.fleetfile import client, fleet_toml, instance
from support.processes import Sim, clean_env, running, secret_file, start_fleet
from support.rpc import MCP_HEADERS, initialize

SESSIONS = 2000
TOKEN = "many-sessions-token-0123456789"


def test_sigterm_with_thousands_of_sessions_open(tmp_path: Path, sim: Sim) -> None:
    token = secret_file(tmp_path, "client", TOKEN)
    toml = fleet_toml(
        clients=[client("crowd", token_file=token, max_sessions=SESSIONS + 10)],
        instances={"production": instance(sim, token_env="XO_TOKEN")},
    )
    with running(start_fleet(tmp_path, toml, env=clean_env(XO_TOKEN=sim.token))) as fleet:
        fleet.wait_ready(timeout_s=60)
        headers = {**MCP_HEADERS, "Authorization": f"Bearer {TOKEN}"}
        with httpx2.Client(timeout=10) as http:
            for _ in range(SESSIONS):
                opened = http.post(f"{fleet.url}/mcp", headers=headers, json=initialize())
                assert opened.status_code == 200
        code, took = fleet.stop(signal.SIGTERM, timeout_s=15)  # raises if it hangs
    figure("sigterm_with_sessions", took, "s", sessions=SESSIONS)
    assert code == 0
