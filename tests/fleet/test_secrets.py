"""Secrets canary: one secret in a file, one in an environment variable, one HTTP client token
in an environment variable. After a session of calls (good ones, failing ones, a restart, a
revoked token), none of them appears in any output, file, argv or environment of the fleet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from support.clients import http_client, text
from support.fleetfile import client, fleet_toml, instance
from support.leaks import hits, live_places, written_places
from support.pids import worker_pids
from support.processes import (
    Fleet,
    Sim,
    kill,
    secret_file,
    sims_and_fleet,
    wait_for,
)

pytestmark = pytest.mark.anyio

FILE_SECRET = "canary-file-secret-5b2e9d71"
ENV_SECRET = "canary-env-secret-c4a7f013"
CLIENT_TOKEN = "canary-client-token-9e61b8aa"
CANARIES = (FILE_SECRET, ENV_SECRET, CLIENT_TOKEN)


@pytest.fixture
def canary_fleet(tmp_path: Path) -> Iterator[tuple[Fleet, Sim, Sim]]:
    def fleet_file(sims: dict[str, Sim]) -> tuple[str, dict[str, str]]:
        # The simulators learn the canaries at run time: their argv must stay clean too.
        alpha, beta = sims["alpha"], sims["beta"]
        alpha.tokens(add=FILE_SECRET)
        beta.tokens(add=ENV_SECRET)
        token = secret_file(tmp_path, "alpha-token", FILE_SECRET)
        toml = fleet_toml(
            supervision={"disabled_poll_s": 0.3},
            clients=[client("ops", token_env="OPS_CLIENT_TOKEN")],
            instances={
                "alpha": instance(alpha, token_file=token),
                "beta": instance(beta, token_env="BETA_TOKEN", actions=True),
            },
        )
        return toml, {"BETA_TOKEN": ENV_SECRET, "OPS_CLIENT_TOKEN": CLIENT_TOKEN}

    seeds = {"alpha": ("--seed", "1"), "beta": ("--seed", "2")}
    with sims_and_fleet(tmp_path, seeds, fleet_file) as (fleet, sims):
        yield fleet, sims["alpha"], sims["beta"]


async def _session(fleet: Fleet, alpha: Sim, beta: Sim) -> list[str]:
    """Calls of every kind; returns the text of every answer."""
    url = f"{fleet.url}/mcp"
    answers: list[str] = []
    async with http_client(url, token=CLIENT_TOKEN) as client:

        async def call(name: str, **arguments: object) -> None:
            result = await client.call_tool(name, arguments)
            answers.append(text(result))
            if result.structured_content is not None:
                answers.append(repr(result.structured_content))

        await call("vms_query", instance="alpha", operation="GetVms", limit=2)
        await call("vms_query", instance="beta", operation="GetVms", limit=2)
        await call("check_connection")
        await call("get_infrastructure_summary")
        await call("fleet_status")
        await call("vms_query", instance="alpha", operation="NoSuchOperation")
        await call("vms_query", instance="nowhere", operation="GetVms")
        await call("vms_query", instance="beta", operation="GetVm")  # missing id
        await call("vms_action", instance="beta", operation="StartVm", id="not-a-vm")
        beta.set_faults([{"route": "GET /vms*", "error_rate": 1.0}])
        await call("vms_query", instance="beta", operation="GetVms")
        beta.clear_faults()
        beta.set_mcp(False)
        await call("vms_query", instance="beta", operation="GetVms")
        beta.set_mcp(True)
        # XO stops accepting the token: the error must not quote it.
        alpha.tokens(revoke=FILE_SECRET)
        await call("vms_query", instance="alpha", operation="GetVms")
        await call("check_connection", instance="alpha")
        alpha.tokens(add=FILE_SECRET)
        # A restarted worker reads its secret again.
        kill(worker_pids(fleet.runtime_dir)["alpha"])
        wait_for(lambda: fleet.readyz()["instances"]["alpha"] == "ready", 30, "alpha back")
        await call("vms_query", instance="alpha", operation="GetVms", limit=1)
        await call("fleet_status")
    for wrong in ("wrong-token", CLIENT_TOKEN[:-1]):
        response = httpx2.post(url, headers={"Authorization": f"Bearer {wrong}"}, json={})
        assert response.status_code == 401
        answers.append(response.text)
    return answers


async def test_no_secret_leaks_anywhere(canary_fleet: tuple[Fleet, Sim, Sim]) -> None:
    fleet, alpha, beta = canary_fleet
    answers = await _session(fleet, alpha, beta)
    assert any("| name_label" in answer or "name_label" in answer for answer in answers)
    places = live_places(fleet, answers)
    launcher_environ = Path(f"/proc/{fleet.process.pid}/environ").read_bytes()
    assert b"BETA_TOKEN=" in launcher_environ  # the name stays, the value is wiped
    code, _ = fleet.stop()
    assert code == 0
    places.update(written_places(fleet))
    assert places["stdout"] == b""
    assert b"refused" not in places["stderr"]  # every worker got its secret at first ask
    assert hits(places, CANARIES) == []
