"""Secrets canary: one secret in a file, one in an environment variable, one HTTP client token
in an environment variable. After a session of calls (good ones, failing ones, a restart, a
revoked token), none of them appears in any output, file, argv or environment of the fleet."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from fleet.fleetkit import kill, launch, running, secret_file, wait_for, worker_pids
from support.clients import http_client, text
from support.processes import Fleet, Sim, clean_env, start_sim

pytestmark = pytest.mark.anyio

FILE_SECRET = "canary-file-secret-5b2e9d71"
ENV_SECRET = "canary-env-secret-c4a7f013"
CLIENT_TOKEN = "canary-client-token-9e61b8aa"
CANARIES = (FILE_SECRET, ENV_SECRET, CLIENT_TOKEN)


@pytest.fixture
def canary_fleet(tmp_path: Path) -> Iterator[tuple[Fleet, Sim, Sim]]:
    # The simulators learn the canaries at run time: their argv must stay clean too.
    alpha, beta = start_sim("--seed", "1"), start_sim("--seed", "2")
    try:
        alpha.tokens(add=FILE_SECRET)
        beta.tokens(add=ENV_SECRET)
        token = secret_file(tmp_path, "alpha-token", FILE_SECRET)
        toml = f"""
[supervision]
disabled_poll_s = 0.3

[[gateway.clients]]
name = "ops"
token_env = "OPS_CLIENT_TOKEN"

[instances.alpha]
url = "{alpha.url}"
token_file = "{token}"

[instances.beta]
url = "{beta.url}"
token_env = "BETA_TOKEN"
actions = true
"""
        env = clean_env(BETA_TOKEN=ENV_SECRET, OPS_CLIENT_TOKEN=CLIENT_TOKEN)
        with running(launch(tmp_path, toml, env=env)) as fleet:
            fleet.wait_ready()
            yield fleet, alpha, beta
            fleet.stop()
    finally:
        alpha.stop()
        beta.stop()


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


def _process_texts() -> dict[str, bytes]:
    """argv and environment of every process on the machine (the test runs as root)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        for kind in ("cmdline", "environ"):
            try:
                found[f"/proc/{entry}/{kind}"] = Path(f"/proc/{entry}/{kind}").read_bytes()
            except OSError:
                continue
    return found


def _runtime_files(runtime: Path) -> dict[str, bytes]:
    return {str(path): path.read_bytes() for path in runtime.rglob("*") if path.is_file()}


async def test_no_secret_leaks_anywhere(canary_fleet: tuple[Fleet, Sim, Sim]) -> None:
    fleet, alpha, beta = canary_fleet
    answers = await _session(fleet, alpha, beta)
    assert any("| name_label" in answer or "name_label" in answer for answer in answers)
    # While it runs: files, argv, environments (the launcher's own original environment
    # block included: popping a variable does not erase it there).
    places: dict[str, bytes] = {"tool answers": "\n".join(answers).encode()}
    places.update(_runtime_files(fleet.runtime_dir))
    places["ps -eo args"] = subprocess.run(
        ["ps", "-eo", "args"], capture_output=True, check=True
    ).stdout
    places.update(_process_texts())
    launcher_environ = Path(f"/proc/{fleet.process.pid}/environ").read_bytes()
    assert b"BETA_TOKEN=" in launcher_environ  # the name stays, the value is wiped
    code, _ = fleet.stop()
    assert code == 0
    places["stderr"] = fleet.stderr_path.read_bytes()
    places["stdout"] = (fleet.stderr_path.parent / "fleet.stdout").read_bytes()
    assert places["stdout"] == b""
    assert b"refused" not in places["stderr"]  # every worker got its secret at first ask
    leaks = [
        (where, canary)
        for where, content in places.items()
        for canary in CANARIES
        if canary.encode() in content
    ]
    assert leaks == []
