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
import os
import re
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fleet.fleetkit import kill, launch, running, secret_file, wait_for, worker_pids
from reliability.conftest import ADMIN, READER, STAGER
from reliability.relkit import figure
from support.clients import http_client, text
from support.processes import Fleet, Sim, clean_env, start_sim

pytestmark = pytest.mark.anyio

TOKEN_FILE = "canary-token-file-4c1e8b27d9"
TOKEN_ENV = "canary-token-env-93fa06d5e2"
PASSWORD_ENV = "canary-password-env-b8d21c7f40"
CLIENT_FILE = "canary-client-file-1a7e5f93c6"
CLIENT_ENV = "canary-client-env-e05b94d2a8"
CANARIES = (TOKEN_FILE, TOKEN_ENV, PASSWORD_ENV, CLIENT_FILE, CLIENT_ENV)
USERNAME = "mcp@example.com"


@dataclass
class Canary:
    fleet: Fleet
    sims: dict[str, Sim]
    answers: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.fleet.url is not None
        return self.fleet.url


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[Canary]:
    # XO learns the tokens at run time (its argv stays clean); Basic auth needs them at start,
    # so that simulator's own process is left out of the search: XO is not xo-mcp.
    alpha, beta = start_sim("--seed", "1"), start_sim("--seed", "2")
    gamma = start_sim(
        "--seed", "3", "--no-token", "--username", USERNAME, "--password", PASSWORD_ENV
    )
    sims = {"alpha": alpha, "beta": beta, "gamma": gamma}
    try:
        alpha.tokens(add=TOKEN_FILE)
        beta.tokens(add=TOKEN_ENV)
        token = secret_file(tmp_path, "alpha-token", TOKEN_FILE)
        client = secret_file(tmp_path, "ops-client", CLIENT_FILE)
        toml = f"""
[supervision]
disabled_poll_s = 0.3

[[gateway.clients]]
name = "ops"
token_file = "{client}"

[[gateway.clients]]
name = "auditor"
token_env = "AUDITOR_TOKEN"

[instances.alpha]
url = "{alpha.url}"
token_file = "{token}"

[instances.beta]
url = "{beta.url}"
token_env = "BETA_TOKEN"
actions = true

[instances.gamma]
url = "{gamma.url}"
username = "{USERNAME}"
password_env = "GAMMA_PASSWORD"
actions = true
"""
        env = clean_env(BETA_TOKEN=TOKEN_ENV, GAMMA_PASSWORD=PASSWORD_ENV, AUDITOR_TOKEN=CLIENT_ENV)
        with running(launch(tmp_path, toml, env=env)) as fleet:
            fleet.wait_ready(timeout_s=60)
            yield Canary(fleet, sims)
    finally:
        for sim in sims.values():
            sim.stop()


async def _every_tool(canary: Canary, client: Any, surface: str) -> int:
    """Call every tool (every instance it offers on the aggregated surface); returns calls."""
    calls = 0
    tools = (await client.list_tools()).tools
    for tool in tools:
        if tool.name == "search_documentation":
            continue  # it fetches docs.xen-orchestra.com: tests stay on loopback
        prop = tool.input_schema.get("properties", {})
        instances = prop.get("instance", {}).get("enum") or [None]
        for instance in instances:
            base: dict[str, Any] = {} if instance is None else {"instance": instance}
            arguments = [base]
            if "operation" in prop:
                # Its first and last operations, with an id XO does not know: lists succeed,
                # the rest fail (404, or a placeholder left unfilled).
                operations = prop["operation"]["enum"]
                extra = {"limit": 2} if "limit" in prop else {}
                arguments = [
                    {**base, "operation": op, "id": "canary-missing", **extra}
                    for op in dict.fromkeys((operations[0], operations[-1]))
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


def _processes(excluded: set[int]) -> dict[str, bytes]:
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in excluded:
            continue
        for kind in ("cmdline", "environ"):
            try:
                found[f"/proc/{entry}/{kind}"] = Path(f"/proc/{entry}/{kind}").read_bytes()
            except OSError:
                continue
    return found


def _hits(places: dict[str, bytes], needles: tuple[str, ...]) -> list[tuple[str, str]]:
    return [
        (where, needle)
        for where, content in places.items()
        for needle in needles
        if needle.encode() in content
    ]


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

    excluded = {os.getpid(), canary.sims["gamma"].process.pid}
    places: dict[str, bytes] = {"tool answers": "\n".join(canary.answers).encode()}
    places.update(
        {str(p): p.read_bytes() for p in canary.fleet.runtime_dir.rglob("*") if p.is_file()}
    )
    places["ps -eo args"] = subprocess.run(["ps", "-eo", "args"], capture_output=True).stdout
    places.update(_processes(excluded))
    assert canary.fleet.stop()[0] == 0
    places["stderr"] = canary.fleet.stderr_path.read_bytes()
    places["stdout"] = (canary.fleet.stderr_path.parent / "fleet.stdout").read_bytes()
    figure("canary: places searched", len(places), "", tool_calls=calls)
    assert places["stdout"] == b""
    assert b'"event": "xo_action"' in places["stderr"]  # the audit lines were searched too
    assert _hits(places, CANARIES) == []


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


class _Chunks(io.RawIOBase):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _scan_tar(
    archive: tarfile.TarFile, needles: tuple[str, ...], where: str
) -> tuple[int, list[Any]]:
    """Files searched and hits in a tar, descending into the layer tars it holds."""
    files, hits = 0, []
    for member in archive:
        if not member.isfile():
            continue
        handle = archive.extractfile(member)
        assert handle is not None
        content = handle.read()
        inner = f"{where}/{member.name}"
        if content[257:262] == b"ustar":  # a layer: search the files in it
            with tarfile.open(fileobj=io.BytesIO(content)) as layer:
                more, found = _scan_tar(layer, needles, inner)
            files += more
            hits += found
            continue
        files += 1
        hits += _hits({inner: content}, needles)
    return files, hits


@pytest.mark.container
def test_the_image_holds_no_secret(image: Any) -> None:
    needles = _suite_secrets()
    stream = io.BufferedReader(_Chunks(iter(image.save(named=True))), buffer_size=1 << 20)
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        files, hits = _scan_tar(archive, needles, "docker save")
    history = repr(image.history()).encode()
    config = repr(image.attrs).encode()
    hits += _hits({"history": history, "config": config}, needles)
    figure("image: files searched in its layers", files, "", needles=len(needles))
    assert files > 1000
    assert hits == []
