"""Helpers of the container tests: hardened flags, fleet files, polling, in-container Python."""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from support.clients import text
from support.processes import REPO, Sim
from support.processes import wait_for as wait

BUILD = REPO / "build"
TOOLS = BUILD / "tools" / "bin"
IMAGE = os.environ.get("XO_MCP_IMAGE", "xo-mcp:latest")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
RUNTIME_UID = 65532
TMPFS_OPTIONS = "rw,noexec,nosuid,nodev,size=32m"

# The hardened flags every test container runs with, for the Docker SDK and for `docker run`.
HARDENED: dict[str, Any] = {
    "read_only": True,
    "tmpfs": {"/tmp": TMPFS_OPTIONS},
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "user": f"{RUNTIME_UID}:{RUNTIME_UID}",
    "pids_limit": 128,
    "mem_limit": "512m",
    "nano_cpus": 1_000_000_000,
}
HARDENED_CLI = [
    "--read-only",
    "--tmpfs",
    f"/tmp:{TMPFS_OPTIONS}",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    "--user",
    f"{RUNTIME_UID}:{RUNTIME_UID}",
    "--pids-limit",
    "128",
    "--memory",
    "512m",
    "--cpus",
    "1",
]


def source_digest() -> str:
    """The digest `make image` writes into the image's label (scripts/source_digest.py)."""
    spec = importlib.util.spec_from_file_location(
        "source_digest", REPO / "scripts/source_digest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    digest: str = module.source_digest(REPO)
    return digest


def unique_name(prefix: str = "xo-mcp-test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def exec_python(container: Any, code: str, *, user: str = f"{RUNTIME_UID}") -> tuple[int, str]:
    """Run Python code inside the container (no shell in the image); (exit code, output)."""
    result = container.exec_run(["/opt/xo-mcp/bin/python", "-c", code], user=user, demux=False)
    return result.exit_code, result.output.decode(errors="replace")


def wait_for(
    condition: Callable[[], Any], what: str, timeout_s: float = 90.0, interval_s: float = 0.25
) -> Any:
    """support.processes.wait_for with the patience containers need: a longer deadline, and any
    error (a container not up yet) retried until then; an AssertionError still ends it."""
    return wait(condition, timeout_s, what, interval_s=interval_s, retrying=(Exception,))


async def assert_instances_list_the_vms(
    client: Any, sim: Sim, instances: tuple[str, ...] = ("alpha", "beta")
) -> None:
    """Every instance (all on `sim`) answers `vms_query` with the simulator's VM names."""
    names = {vm["name_label"] for vm in sim.rest("/vms", fields="name_label")}
    for instance in instances:
        result = await client.call_tool(
            "vms_query", {"instance": instance, "operation": "GetVms", "fields": "name_label"}
        )
        assert not result.is_error, text(result)
        assert {line.strip("| ") for line in text(result).splitlines()[2:]} == names


def logs(container: Any) -> str:
    try:
        return str(container.logs(stdout=True, stderr=True).decode(errors="replace"))
    except Exception as error:
        return f"<no logs: {error}>"


def wait_ready(container: Any, url: str) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        container.reload()
        if container.status not in ("created", "running"):
            raise AssertionError(f"container {container.status}:\n{logs(container)}")
        body: dict[str, Any] = httpx2.get(f"{url}/readyz", timeout=5, trust_env=False).json()
        return body if body.get("ready") else None

    try:
        body: dict[str, Any] = wait_for(ready, "the fleet to be ready", timeout_s=120)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{logs(container)}") from None
    return body


def fast_healthcheck(image: Any) -> dict[str, Any]:
    """The image's own health command, polled every second instead of every 15 s."""
    test = image.attrs["Config"]["Healthcheck"]["Test"]
    return {"test": test, "interval": 1_000_000_000, "timeout": 5_000_000_000, "retries": 3}


def wait_healthy(container: Any) -> None:
    def healthy() -> bool:
        container.reload()
        health = container.attrs["State"].get("Health") or {}
        if container.status != "running":
            raise AssertionError(f"container {container.status}:\n{logs(container)}")
        return bool(health.get("Status") == "healthy")

    wait_for(healthy, "the container to become healthy", timeout_s=120)


@dataclass
class FleetFiles:
    """A fleet file and its secrets on the host, laid out to be mounted read-only."""

    directory: Path
    config: Path
    secrets: Path

    def volumes(self) -> dict[str, dict[str, str]]:
        return {
            str(self.config): {"bind": "/etc/xo-mcp/fleet.toml", "mode": "ro"},
            str(self.secrets): {"bind": "/run/secrets/xo-mcp", "mode": "ro"},
        }

    def volume_flags(self) -> list[str]:
        return [
            "-v",
            f"{self.config}:/etc/xo-mcp/fleet.toml:ro",
            "-v",
            f"{self.secrets}:/run/secrets/xo-mcp:ro",
        ]


def fleet_files(directory: Path, toml_text: str, secrets: dict[str, str]) -> FleetFiles:
    """Write the fleet file and secret files readable by uid 65532 inside the container (the
    mounted folder's own mode is what counts there)."""
    directory.mkdir(parents=True, exist_ok=True)
    secret_dir = directory / "secrets"
    secret_dir.mkdir(exist_ok=True)
    secret_dir.chmod(0o755)
    for name, value in secrets.items():
        path = secret_dir / name
        path.write_text(value + "\n", encoding="utf-8")
        path.chmod(0o444)
    config = directory / "fleet.toml"
    config.write_text(toml_text, encoding="utf-8")
    config.chmod(0o444)
    return FleetFiles(directory, config, secret_dir)
