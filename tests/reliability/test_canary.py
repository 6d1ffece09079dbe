"""Secrets canary over the whole fleet: credentials of every kind (token file, token variable,
password variable for Basic auth, client tokens in a file and in a variable), every tool of
every instance called on both surfaces, failing calls included; then every byte the fleet
produced or exposes is searched: tool outputs, stdout, stderr (with the audit lines), the
runtime directory, `ps`, every process's argv and environment. Zero hits.

With a Docker engine, the image is searched too: every file of every layer (`docker save`),
its history and its configuration, for the canaries and every token the test suite uses.

tests/fleet/test_secrets.py is the first canary (file and env tokens, a restart, a revoked
token); this one adds Basic auth, client token files, every tool, both surfaces, the image.
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from reliability.conftest import ADMIN, READER, STAGER
from reliability.relkit import figure
from support.clients import http_client, instances_of, operations, text
from support.fleetfile import client as client_entry
from support.fleetfile import fleet_toml
from support.fleetfile import instance as xo_instance
from support.leaks import hits, live_places, written_places
from support.pids import worker_pids
from support.processes import (
    FleetRig,
    Sim,
    kill,
    secret_file,
    sims_and_fleet,
    wait_for,
)
from support.tarstream import streamed_tar

pytestmark = pytest.mark.anyio

TOKEN_FILE = "canary-token-file-4c1e8b27d9"
TOKEN_ENV = "canary-token-env-93fa06d5e2"
PASSWORD_ENV = "canary-password-env-b8d21c7f40"
CLIENT_FILE = "canary-client-file-1a7e5f93c6"
CLIENT_ENV = "canary-client-env-e05b94d2a8"
CANARIES = (TOKEN_FILE, TOKEN_ENV, PASSWORD_ENV, CLIENT_FILE, CLIENT_ENV)
USERNAME = "mcp@example.com"


@dataclass
class Canary(FleetRig):
    sims: dict[str, Sim]
    answers: list[str] = field(default_factory=list)


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[Canary]:
    # XO learns the tokens at run time (its argv stays clean); Basic auth needs them at start,
    # so that simulator's own process is left out of the search: XO is not xo-mcp.
    options = {
        "alpha": ("--seed", "1"),
        "beta": ("--seed", "2"),
        "gamma": ("--seed", "3", "--no-token", "--username", USERNAME, "--password", PASSWORD_ENV),
    }

    def fleet_file(sims: dict[str, Sim]) -> tuple[str, dict[str, str]]:
        sims["alpha"].tokens(add=TOKEN_FILE)
        sims["beta"].tokens(add=TOKEN_ENV)
        token = secret_file(tmp_path, "alpha-token", TOKEN_FILE)
        client = secret_file(tmp_path, "ops-client", CLIENT_FILE)
        toml = fleet_toml(
            supervision={"disabled_poll_s": 0.3},
            clients=[
                client_entry("ops", token_file=client),
                client_entry("auditor", token_env="AUDITOR_TOKEN"),
            ],
            instances={
                "alpha": xo_instance(sims["alpha"], token_file=token),
                "beta": xo_instance(sims["beta"], token_env="BETA_TOKEN", actions=True),
                "gamma": xo_instance(
                    sims["gamma"], username=USERNAME, password_env="GAMMA_PASSWORD", actions=True
                ),
            },
        )
        return toml, {
            "BETA_TOKEN": TOKEN_ENV,
            "GAMMA_PASSWORD": PASSWORD_ENV,
            "AUDITOR_TOKEN": CLIENT_ENV,
        }

    with sims_and_fleet(tmp_path, options, fleet_file) as (fleet, sims):
        yield Canary(fleet, sims)


async def _every_tool(canary: Canary, client: Any, surface: str) -> int:
    """Call every tool (every instance it offers on the aggregated surface); returns calls."""
    calls = 0
    tools = (await client.list_tools()).tools
    for tool in tools:
        if tool.name == "search_documentation":
            continue  # it fetches docs.xen-orchestra.com: tests stay on loopback
        prop = tool.input_schema.get("properties", {})
        instances: list[str | None] = [*instances_of(tool, tools)] or [None]
        for instance in instances:
            base: dict[str, Any] = {} if instance is None else {"instance": instance}
            arguments = [base]
            if "operation" in prop:
                # Its first and last operations, with an id XO does not know: lists succeed,
                # the rest fail (404, or a placeholder left unfilled).
                offered = operations(tool)
                extra = {"limit": 2} if "limit" in prop else {}
                arguments = [
                    {**base, "operation": op, "id": "canary-missing", **extra}
                    for op in dict.fromkeys((offered[0], offered[-1]))
                ]
            for args in arguments:
                result = await client.call_tool(tool.name, args)
                canary.answers.append(text(result))
                if result.structured_content is not None:
                    canary.answers.append(repr(result.structured_content))
                token = re.search(r'confirm_token: "([^"]+)"', text(result))
                if token:  # confirm it: XO then fails the action (no such object)
                    done = await client.call_tool(tool.name, {**args, "confirm_token": token[1]})
                    canary.answers.append(text(done))
                    calls += 1
                calls += 1
    figure(f"canary: tool calls on the {surface} surface", calls)
    return calls


async def _failures(canary: Canary, client: Any) -> None:
    """Calls that fail in every way a credential could be quoted."""
    alpha, beta, gamma = canary.sims["alpha"], canary.sims["beta"], canary.sims["gamma"]

    async def call(name: str, **arguments: Any) -> None:
        canary.answers.append(text(await client.call_tool(name, arguments)))

    alpha.tokens(revoke=TOKEN_FILE)
    await call("vms_query", instance="alpha", operation="GetVms")
    await call("check_connection", instance="alpha")
    alpha.tokens(add=TOKEN_FILE)
    beta.set_faults([{"route": "*", "error_rate": 1.0}])
    await call("get_infrastructure_summary")
    beta.clear_faults()
    gamma.set_mcp(False)
    await call("vms_query", instance="gamma", operation="GetVms")
    gamma.set_mcp(True)
    await call("vms_query", instance="nowhere", operation="GetVms")
    await call("vms_action", instance="beta", operation="StartVm", id="x", confirm_token="x.y")
    # Restarted workers ask for their secrets again (the broker, the file).
    for name in ("beta", "gamma", "alpha"):
        kill(worker_pids(canary.fleet.runtime_dir)[name])
        wait_for(lambda n=name: canary.fleet.readyz()["instances"][n] == "ready", 60, name)
    await call("get_infrastructure_summary")
    await call("fleet_status")


async def test_no_credential_leaks_anywhere(canary: Canary) -> None:
    calls = 0
    async with http_client(f"{canary.url}/mcp", token=CLIENT_FILE) as client:
        calls += await _every_tool(canary, client, "aggregated")
        await _failures(canary, client)
    for name in ("alpha", "beta", "gamma"):
        url = f"{canary.url}/instances/{name}/mcp"
        async with http_client(url, token=CLIENT_ENV) as client:
            calls += await _every_tool(canary, client, f"{name} instance")
    assert any("name_label" in answer for answer in canary.answers)
    assert any("Authentication failed" in answer for answer in canary.answers)

    places = live_places(canary.fleet, canary.answers, [canary.sims["gamma"].process.pid])
    assert canary.fleet.stop()[0] == 0
    places.update(written_places(canary.fleet))
    figure("canary: places searched", len(places), "", tool_calls=calls)
    assert places["stdout"] == b""
    assert b'"event": "xo_action"' in places["stderr"]  # the audit lines were searched too
    assert hits(places, CANARIES) == []


# --- the image ------------------------------------------------------------------------------


def _suite_secrets() -> tuple[str, ...]:
    """Every token-like constant of the test suite: none may ever end up in the image."""
    pattern = re.compile(
        r'^[A-Z_]*(?:TOKEN|SECRET|PASSWORD|CANARY)[A-Z_]* = "([A-Za-z0-9_.-]{12,})"', re.M
    )
    found: set[str] = {*CANARIES, ADMIN, STAGER, READER}
    for path in Path(__file__).resolve().parents[1].rglob("*.py"):
        found.update(pattern.findall(path.read_text(encoding="utf-8")))
    # Variable names (XO_BETA_TOKEN) are not secrets, and configs may well name them.
    return tuple(sorted(value for value in found if not value.isupper()))


def _scan_tar(
    archive: tarfile.TarFile, needles: tuple[str, ...], where: str
) -> tuple[int, list[Any]]:
    """Files searched and hits in a tar, descending into the layer tars it holds."""
    files, found = 0, []
    for member in archive:
        if not member.isfile():
            continue
        handle = archive.extractfile(member)
        assert handle is not None
        content = handle.read()
        inner = f"{where}/{member.name}"
        if content[257:262] == b"ustar":  # a layer: search the files in it
            with tarfile.open(fileobj=io.BytesIO(content)) as layer:
                more, inside = _scan_tar(layer, needles, inner)
            files += more
            found += inside
            continue
        files += 1
        found += hits({inner: content}, needles)
    return files, found


@pytest.mark.container
def test_the_image_holds_no_secret(image: Any) -> None:
    needles = _suite_secrets()
    with streamed_tar(image.save(named=True)) as archive:
        files, found = _scan_tar(archive, needles, "docker save")
    history = repr(image.history()).encode()
    config = repr(image.attrs).encode()
    found += hits({"history": history, "config": config}, needles)
    figure("image: files searched in its layers", files, "", needles=len(needles))
    assert files > 1000
    assert found == []
