"""The per-worker sandbox: what it grants, and what `sandbox = "required"` / "warn" do where
Landlock is missing (simulated with the XO_MCP_SANDBOX_FORCE_UNAVAILABLE=1 test hook).

Sandboxing is done in child processes only: it cannot be undone in the test runner."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support.clients import http_client
from support.fleetfile import fleet_toml, instance
from support.processes import PYTHON, Sim, clean_env, running, secret_file, start_fleet, worker_env

from xo_mcp import sandbox

pytestmark = pytest.mark.anyio

NO_LANDLOCK = {sandbox.FORCE_UNAVAILABLE_ENV: "1"}


def python(code: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_the_test_hook_hides_landlock() -> None:
    code = "from xo_mcp import sandbox; print(sandbox.landlock_abi())"
    assert python(code, clean_env()).stdout.strip() not in ("", "0")  # this kernel has it
    assert python(code, clean_env(**NO_LANDLOCK)).stdout.strip() == "0"


def _sandboxed_without_landlock(mode: str, runtime_dir: Path) -> list[str]:
    """What `sandbox_worker` in `mode` says where Landlock is missing, and whether the process
    is left dumpable."""
    code = (
        "import sys; from pathlib import Path\n"
        "from xo_mcp.sandbox import SandboxError, is_dumpable, sandbox_worker\n"
        f"try:\n    print(sandbox_worker(sys.argv[1], [], Path({str(runtime_dir)!r})))\n"
        "except SandboxError as error:\n    print('refused:', error)\n"
        "print('dumpable' if is_dumpable() else 'non-dumpable')\n"
    )
    result = python(code, clean_env(**NO_LANDLOCK), mode)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_required_refuses_and_warn_warns_without_landlock(tmp_path: Path) -> None:
    required = _sandboxed_without_landlock("required", tmp_path)
    assert required[0] == (
        'refused: sandbox = "required" but Landlock is switched off by '
        "XO_MCP_SANDBOX_FORCE_UNAVAILABLE=1 (a test hook)"
    )
    warned = _sandboxed_without_landlock("warn", tmp_path)
    assert warned[0].startswith("WARNING: running WITHOUT Landlock (")
    assert 'Set sandbox = "required" to refuse this.' in warned[0]
    assert warned[1] == "non-dumpable"  # the part that needs no Landlock is still done


def _worker_without_landlock(
    mode: str, sim: Sim, runtime_dir: Path
) -> subprocess.CompletedProcess[str]:
    """A worker with `--sandbox mode` where Landlock is missing; stdio ends at once (nothing
    on stdin): start-up is what matters here."""
    return subprocess.run(
        [PYTHON, "-m", "xo_mcp.worker", "--sandbox", mode, "--runtime-dir", str(runtime_dir)],
        capture_output=True,
        text=True,
        env=worker_env(sim, **NO_LANDLOCK),
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def test_a_worker_with_required_refuses_to_start_without_landlock(sim: Sim, tmp_path: Path) -> None:
    result = _worker_without_landlock("required", sim, tmp_path)
    assert result.returncode == 2
    assert 'sandbox = "required" but Landlock is switched off' in result.stderr
    assert "connected to" not in result.stderr  # it stopped before touching XO or its secret
    assert "Landlock" in (tmp_path / "last-error").read_text()


def test_a_worker_with_warn_says_so_and_serves(sim: Sim, tmp_path: Path) -> None:
    result = _worker_without_landlock("warn", sim, tmp_path)
    lines = result.stderr.splitlines()
    warning = next(i for i, line in enumerate(lines) if "WARNING: running WITHOUT Landlock" in line)
    connected = next(i for i, line in enumerate(lines) if "connected to" in line)
    assert warning < connected
    assert result.returncode == 0


async def test_a_fleet_with_required_marks_the_instance_failed(sim: Sim, tmp_path: Path) -> None:
    token = secret_file(tmp_path, "token", sim.token)
    toml = fleet_toml(sandbox="required", instances={"alpha": instance(sim, token_file=token)})
    with running(start_fleet(tmp_path, toml, env=clean_env(**NO_LANDLOCK))) as fleet:
        fleet.wait_ready(timeout_s=60, states=("failed",))
        async with http_client(f"{fleet.url}/mcp") as client:
            status = await client.call_tool("fleet_status", {})
            row = status.structured_content["instances"][0]
            down = await client.call_tool("vms_query", {"operation": "GetVms", "limit": 1})
    assert row["state"] == "failed"
    assert 'sandbox = "required" but Landlock is switched off' in row["last_error"]
    assert down.is_error


def test_workers_may_read_their_own_secret_and_write_their_own_dir(tmp_path: Path) -> None:
    secret = tmp_path / "secrets" / "alpha"
    rules = sandbox.worker_rules([secret], tmp_path / "run" / "alpha")
    assert secret in rules.read_only
    assert rules.read_write == (Path("/dev/null"), tmp_path / "run" / "alpha")
    assert not any(path == tmp_path or path in tmp_path.parents for path in rules.read_only)
    assert Path("/etc") not in rules.read_only  # secrets are often mounted under /etc


def test_paths_every_worker_may_read_are_named() -> None:
    assert sandbox.readable_by_every_worker(Path("/usr/share/secret")) == Path("/usr")
    assert sandbox.readable_by_every_worker(Path(sandbox.__file__)) is not None
    assert sandbox.readable_by_every_worker(Path("/run/secrets/xo")) is None
    assert sandbox.readable_by_every_worker(Path("/etc/xo-mcp/token")) is None
