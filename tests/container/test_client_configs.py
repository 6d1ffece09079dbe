"""configs/clients: the Claude Desktop entries and Claude Code commands parse, run the image
with every hardening flag and keep secrets out of their arguments; and, run as written (paths,
image and network swapped for the test's), they serve a real MCP client."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from container.kit import RUNTIME_UID, fleet_files, unique_name
from support.clients import stdio_client, text, tool_names
from support.processes import Sim, clean_env, own_sim

from xo_mcp import __version__
from xo_mcp.core import ListenAddress
from xo_mcp.fleet.config import parse_fleet

CLIENTS = Path(__file__).resolve().parents[2] / "configs" / "clients"
STAGING_PASSWORD = "staging-password-for-tests"
HARDENING = [
    ("--read-only",),
    ("--cap-drop", "ALL"),
    ("--security-opt", "no-new-privileges"),
    ("--user", f"{RUNTIME_UID}:{RUNTIME_UID}"),
]


def desktop_entries() -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for path in sorted(CLIENTS.glob("claude-desktop.*.json")):
        for name, entry in json.loads(path.read_text())["mcpServers"].items():
            entries[f"{path.name}:{name}"] = entry
    return entries


def claude_code_commands() -> dict[str, list[str]]:
    """Each `claude mcp add` of claude-code.sh, as the shell would split it."""
    script = (CLIENTS / "claude-code.sh").read_text().replace("\\\n", " ")
    commands: dict[str, list[str]] = {}
    for line in script.splitlines():
        if line.startswith("claude mcp add"):
            words = shlex.split(line)
            commands[_server_name(words[3:])] = words
    return commands


def _server_name(words: list[str]) -> str:
    """The first positional word of `claude mcp add` (options may take a value)."""
    with_value = {"--transport", "-t", "--env", "-e", "--scope", "-s", "--header", "-H"}
    skip = False
    for word in words:
        if skip or word.startswith("-"):
            skip = not skip and word in with_value
            continue
        return word
    raise AssertionError(f"no server name in {words}")


def docker_invocations() -> dict[str, list[str]]:
    """The `docker ...` argument lists of every stdio entry (JSON and shell)."""
    found = {name: entry["args"] for name, entry in desktop_entries().items()}
    for name, words in claude_code_commands().items():
        if "--" in words:
            assert words[words.index("--") + 1] == "docker"
            found[f"claude-code.sh:{name}"] = words[words.index("--") + 2 :]
    return found


def _has(args: list[str], flag: tuple[str, ...]) -> bool:
    return any(tuple(args[i : i + len(flag)]) == flag for i in range(len(args)))


def test_every_entry_parses() -> None:
    assert {name.split(":")[1] for name in desktop_entries()} == {"xo", "xo-fleet"}
    assert set(claude_code_commands()) == {"xo", "xo-fleet", "xo-fleet-http"}
    done = subprocess.run(["bash", "-n", str(CLIENTS / "claude-code.sh")], check=False)
    assert done.returncode == 0
    for entry in desktop_entries().values():
        assert entry["command"] == "docker"


@pytest.mark.parametrize("name", sorted(docker_invocations()))
def test_each_invocation_carries_the_hardening_flags(name: str) -> None:
    args = docker_invocations()[name]
    assert args[0] == "run" and "-i" in args and "--rm" in args
    assert not {"-t", "-it", "--tty", "--privileged"} & set(args)
    for flag in HARDENING:
        assert _has(args, flag), (name, flag)
    tmpfs = args[args.index("--tmpfs") + 1]
    assert tmpfs.startswith("/tmp:") and {"noexec", "nosuid", "nodev"} <= set(tmpfs[5:].split(","))
    for limit in ("--pids-limit", "--memory", "--cpus"):
        assert args[args.index(limit) + 1], (name, limit)
    for index, word in enumerate(args):
        if word == "-v":
            assert args[index + 1].endswith(":ro"), (name, args[index + 1])
        if word == "-e":
            assert re.fullmatch(r"[A-Z_][A-Z0-9_]*", args[index + 1]), "a value on argv"
    assert f"xo-mcp:{__version__}" in args


def test_secret_values_stay_out_of_the_arguments() -> None:
    for name, entry in desktop_entries().items():
        passed = {entry["args"][i + 1] for i, w in enumerate(entry["args"]) if w == "-e"}
        assert passed == set(entry["env"]), name  # every value comes from `env`, by name
        for value in entry["env"].values():
            assert value.startswith(("<", "https://")), (name, value)  # placeholders only
    http = claude_code_commands()["xo-fleet-http"]
    assert http[http.index("--header") + 1].startswith("Authorization: Bearer $(cat ")


def http_variant() -> tuple[list[str], str]:
    """The commented `docker run -d` of claude-code.sh's HTTP variant, and the header of its
    `claude mcp add`."""
    lines = (CLIENTS / "claude-code.sh").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#   docker run -d"))
    run = []
    for line in lines[start:]:
        if not line.startswith("#   "):
            break
        run.append(line.removeprefix("#   ").rstrip("\\").strip())
    header = claude_code_commands()["xo-fleet-http"]
    return shlex.split(" ".join(run)), header[header.index("--header") + 1]


def test_the_http_variant_has_a_fleet_file_the_port_accepts() -> None:
    """`run --listen 0.0.0.0:8080` refuses a fleet file without clients: the HTTP variant
    mounts one with the client whose token the `claude mcp add` header sends."""
    run, header = http_variant()
    assert run[-4:] == [f"xo-mcp:{__version__}", "run", "--listen", "0.0.0.0:8080"]
    mounts = {
        run[i + 1].split(":")[1]: run[i + 1].split(":")[0] for i, w in enumerate(run) if w == "-v"
    }
    assert mounts["/etc/xo-mcp/fleet.toml"] == "$HOME/.config/xo-mcp/fleet-http.toml"
    fleet = parse_fleet(
        (CLIENTS / "fleet-http.toml").read_text(), "fleet-http.toml", check_secrets=False
    )
    assert fleet.gateway.exposure_problem(ListenAddress("0.0.0.0", 8080)) is None
    (client,) = fleet.gateway.clients
    assert client.token_file is not None
    secrets_host = mounts[str(client.token_file.parent)]
    token_on_host = f"{secrets_host.replace('$HOME', '~')}/{client.token_file.name}"
    assert header == f"Authorization: Bearer $(cat {token_on_host})"
    same = parse_fleet((CLIENTS / "fleet.toml").read_text(), "fleet.toml", check_secrets=False)
    assert fleet.instances == same.instances  # the same fleet, over HTTP


def test_the_fleet_file_matches_the_mounts() -> None:
    fleet = parse_fleet((CLIENTS / "fleet.toml").read_text(), "fleet.toml", check_secrets=False)
    entry = desktop_entries()["claude-desktop.fleet.json:xo-fleet"]
    mounts = [entry["args"][i + 1] for i, w in enumerate(entry["args"]) if w == "-v"]
    targets = {mount.split(":")[1] for mount in mounts}
    assert "/etc/xo-mcp/fleet.toml" in targets
    for instance in fleet.instances.values():
        _, secret = instance.secret
        if secret.file is not None:
            assert str(secret.file.parent) in targets
        else:
            assert secret.env in entry["env"]


# --- run as written ----------------------------------------------------------------------


@pytest.fixture
def staging_sim() -> Iterator[Sim]:
    """A simulator that also accepts the staging user's password (Basic auth)."""
    with own_sim(
        "--seed", "2", "--username", "mcp@example.com", "--password", STAGING_PASSWORD
    ) as server:
        yield server


def as_test_run(args: list[str], image: Any, name: str, mounts: dict[str, str]) -> list[str]:
    """The documented arguments with the test's image, host paths and network (loopback)."""
    swapped = []
    for word in args:
        if word.startswith("xo-mcp:"):
            word = image.id
        for documented, actual in mounts.items():
            word = word.replace(documented, actual)
        swapped.append(word)
    return ["docker", swapped[0], "--name", name, "--network", "host", *swapped[1:]]


@pytest.mark.container
@pytest.mark.anyio
async def test_the_fleet_entry_serves_a_real_client(
    image: Any, sim: Sim, staging_sim: Sim, tmp_path: Path, cli_names: list[str]
) -> None:
    document = tomllib.loads((CLIENTS / "fleet.toml").read_text())
    document["instances"]["production"]["url"] = sim.url
    document["instances"]["staging"]["url"] = staging_sim.url
    files = fleet_files(tmp_path, tomli_w.dumps(document), {"production-token": sim.token})
    entry = desktop_entries()["claude-desktop.fleet.json:xo-fleet"]
    name = unique_name()
    cli_names.append(name)
    command = as_test_run(
        entry["args"],
        image,
        name,
        {
            "/home/YOU/.config/xo-mcp/fleet.toml": str(files.config),
            "/home/YOU/.config/xo-mcp/secrets": str(files.secrets),
        },
    )
    env = clean_env(XO_STAGING_PASSWORD=STAGING_PASSWORD)
    async with stdio_client(command, env) as client:
        for _ in range(480):
            status = await client.call_tool("fleet_status", {})
            states = {e["instance"]: e["state"] for e in status.structured_content["instances"]}
            if set(states.values()) == {"ready"}:
                break
            await _pause()
        assert states == {"production": "ready", "staging": "ready"}, text(status)
        for instance in ("production", "staging"):
            result = await client.call_tool(
                "vms_query", {"instance": instance, "operation": "GetVms", "fields": "id"}
            )
            assert not result.is_error, text(result)


@pytest.mark.container
@pytest.mark.anyio
async def test_the_single_instance_entry_is_a_drop_in(
    image: Any, sim: Sim, cli_names: list[str]
) -> None:
    entry = desktop_entries()["claude-desktop.single.json:xo"]
    name = unique_name()
    cli_names.append(name)
    command = as_test_run(entry["args"], image, name, {})
    async with stdio_client(command, clean_env(XO_URL=sim.url, XO_TOKEN=sim.token)) as client:
        names = tool_names(await client.list_tools())
        assert "vms_query" in names and "fleet_status" not in names  # the worker's own surface
        result = await client.call_tool(
            "vms_query", {"operation": "GetVms", "fields": "name_label", "limit": 2}
        )
        assert text(result).splitlines()[:2] == ["| name_label |", "| --- |"]


async def _pause() -> None:
    import anyio

    await anyio.sleep(0.25)
