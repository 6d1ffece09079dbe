"""`xo-mcp-fleet status` against a running fleet: the table, --json, and its exit codes."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
from support.clients import http_client
from support.fleetfile import client, fleet_toml, instance
from support.pids import worker_pids
from support.processes import (
    PYTHON,
    Sim,
    clean_env,
    free_port,
    running,
    secret_file,
    start_fleet,
    wait_for,
)

from xo_mcp.fleet.status import ClientRow, FleetStatus, InstanceRow, ReloadRow, table

pytestmark = pytest.mark.anyio

OPS_TOKEN = "ops-token-0123456789"


def status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "xo_mcp.fleet", "status", *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )


def rows(output: str) -> dict[str, list[str]]:
    """The table's rows by their first cell."""
    return {line.split()[0]: line.split() for line in output.splitlines() if line.strip()}


async def test_status_of_a_running_fleet(tmp_path: Path, sim: Sim) -> None:
    token = secret_file(tmp_path, "token", sim.token)
    ops = secret_file(tmp_path, "ops", OPS_TOKEN)
    idle = secret_file(tmp_path, "idle", "idle-token-0123456789")
    alpha = instance(sim, token_file=token)
    unreachable = instance(f"http://127.0.0.1:{free_port()}", token_file=token)
    document = {
        "clients": [client("ops", token_file=ops), client("idle", token_file=idle)],
        "supervision": {"failed_retry_s": 600},
        "reload": {"watch": False},
    }
    toml = fleet_toml(instances={"alpha": alpha, "gone": unreachable}, **document)
    with running(start_fleet(tmp_path, toml)) as fleet:
        fleet.wait_ready(timeout_s=60, states=("ready", "failed"))
        socket = fleet.runtime_dir / "control" / "status.sock"
        assert stat.S_IMODE(socket.stat().st_mode) == 0o600
        async with http_client(f"{fleet.url}/mcp", token=OPS_TOKEN) as session:
            await session.list_tools()  # one open session
            human = status(str(fleet.config))
            as_json = status("--config", str(fleet.config), "--json")
        assert human.returncode == 1, human  # not every instance is ready
        table_rows = rows(human.stdout)
        pid = worker_pids(fleet.runtime_dir)["alpha"]
        assert table_rows["alpha"][1] == "ready" and str(pid) in table_rows["alpha"]
        assert table_rows["gone"][1] == "failed" and "Unable" in table_rows["gone"]
        assert table_rows["ops"] == ["ops", "1"] and table_rows["idle"] == ["idle", "0"]
        assert as_json.returncode == 1
        answer = json.loads(as_json.stdout)  # one object
        found = FleetStatus.model_validate(answer)
        assert found.ready is False and found.pid == fleet.process.pid
        by_name = {row.instance: row for row in found.instances}
        assert by_name["alpha"].pid == pid and by_name["alpha"].api_version
        assert by_name["gone"].pid is None and "Unable to reach XO" in (
            by_name["gone"].last_error or ""
        )
        assert time.time() - 120 < by_name["alpha"].since <= time.time()
        assert {c.name: c.sessions for c in found.clients} == {"idle": 0, "ops": 1}
        assert found.reload.config == str(fleet.config) and found.reload.watch is False
        # Without the failed instance, and after the reload: exit 0.
        fleet.rewrite(fleet_toml(instances={"alpha": alpha}, **document))
        fleet.process.send_signal(signal.SIGHUP)
        wait_for(lambda: fleet.said("reloaded"), 30, "the reload")
        ready = status(str(fleet.config), "--json")
        assert ready.returncode == 0, ready
        assert json.loads(ready.stdout)["reload"]["reloads"] == 1


def test_no_running_fleet_exits_3(tmp_path: Path) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text(f'runtime_dir = "{tmp_path / "run"}"\n[instances.alpha]\nurl = "x"\n')
    result = status(str(config))
    assert result.returncode == 3
    assert f"no running fleet answers on {tmp_path / 'run' / 'control' / 'status.sock'}" in (
        result.stderr
    )
    assert result.stdout == ""


def test_a_fleet_file_it_cannot_read_exits_2(tmp_path: Path) -> None:
    missing = status(str(tmp_path / "nowhere.toml"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("runtime_dir = [\n")
    assert status(str(broken)).returncode == 2
    relative = tmp_path / "relative.toml"
    relative.write_text('runtime_dir = "run"\n')
    assert "runtime_dir must be an absolute path" in status(str(relative)).stderr
    both = status(str(broken), "--config", str(relative))
    assert both.returncode == 2 and "two fleet files given" in both.stderr


def test_the_table_is_compact() -> None:
    now = 1_800_000_000.0
    production = InstanceRow(
        instance="production",
        state="ready",
        since=now - 65,
        xo_url="u",
        api_version="0.39.0",
        tools=40,
        pid=17,
    )
    error = "Unable to reach XO at https://xo.staging: " + "x" * 80
    staging = InstanceRow(
        instance="staging", state="failed", since=now - 5, xo_url="u", restarts=3, last_error=error
    )
    reload = ReloadRow(
        config="/etc/xo-mcp/fleet.toml",
        watch=True,
        poll_s=2,
        reloads=4,
        failures=1,
        last_success=now - 600,
        last_failure=now - 30,
        problems=["xo-mcp-fleet: f is invalid (1 problem(s)):", "  f:3: oops"],
    )
    answer = FleetStatus(
        version="0.1.0",
        pid=1,
        started=now - 3 * 3600 - 120,
        serving="http://0.0.0.0:8080",
        ready=False,
        instances=[production, staging],
        clients=[ClientRow(name="ops", sessions=2)],
        reload=reload,
    )
    lines = table(answer, now).splitlines()
    assert lines[0] == (
        "fleet: pid 1, up 3h02m, http://0.0.0.0:8080, xo-mcp 0.1.0; 1 of 2 instance(s) ready"
    )
    assert lines[1].startswith("config /etc/xo-mcp/fleet.toml: watched every 2s; 4 reload(s)")
    assert lines[1].endswith("(10m00s ago); 1 refused")
    assert lines[3:5] == ["xo-mcp-fleet: f is invalid (1 problem(s)):", "  f:3: oops"]
    first = next(line for line in lines if line.startswith("production"))
    assert first.split()[1:3] == ["ready", time.strftime("%H:%M:%S", time.localtime(now - 65))]
    assert "(1m05s ago)" in first and " 17 " in first
    second = next(line for line in lines if line.startswith("staging"))
    assert len(second) < 140 and second.endswith("…")
    assert lines[-2:] == ["CLIENT  SESSIONS", "ops     2"]
