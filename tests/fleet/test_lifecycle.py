"""The fleet as processes: restarts, XO's kill switch, failing instances, shutdown, orphans,
zombies, and stdout kept for MCP alone. Calls go through the gateway like a real client's."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fleet.fleetkit import stderr_lines
from support.clients import MODERN, http_client, text
from support.fleetfile import fleet_toml, instance
from support.pids import descendants, fleet_processes, supervisord_pid, worker_pids, zombies_below
from support.processes import (
    Fleet,
    Sim,
    clean_env,
    free_port,
    kill,
    running,
    secret_file,
    start_fleet,
    wait_for,
)
from support.rpc import INITIALIZED, initialize, send_line, tool_call

pytestmark = pytest.mark.anyio

QUERY = {"operation": "GetVms", "fields": "name_label", "limit": 1}


def pair_toml(tmp_path: Path, first: Sim, second: Sim) -> str:
    """alpha's token in a file, beta's in $BETA_TOKEN; quick supervision for the tests."""
    token = secret_file(tmp_path, "alpha-token", first.token)
    return fleet_toml(
        instances={
            "alpha": instance(first, token_file=token),
            "beta": instance(second, token_env="BETA_TOKEN"),
        },
        supervision={"disabled_poll_s": 0.3, "failed_retry_s": 0.5, "failed_retry_max_s": 2},
    )


@pytest.fixture
def pair(tmp_path: Path, sim_pair: tuple[Sim, Sim]) -> Iterator[Fleet]:
    """alpha and beta on two simulators, behind the HTTP port, both ready."""
    first, second = sim_pair
    env = clean_env(BETA_TOKEN=second.token)
    with running(start_fleet(tmp_path, pair_toml(tmp_path, first, second), env=env)) as fleet:
        fleet.wait_ready()
        yield fleet


def mcp_url(fleet: Fleet) -> str:
    assert fleet.url is not None
    return f"{fleet.url}/mcp"


def states(fleet: Fleet) -> dict[str, str]:
    instances: dict[str, str] = fleet.readyz()["instances"]
    return instances


async def fleet_status(client: Any) -> dict[str, dict[str, Any]]:
    result = await client.call_tool("fleet_status", {})
    return {row["instance"]: row for row in result.structured_content["instances"]}


async def test_a_killed_worker_is_back_and_its_sibling_never_fails(pair: Fleet) -> None:
    alpha = worker_pids(pair.runtime_dir)["alpha"]
    failures: list[str] = []
    calls = 0
    done = anyio.Event()

    async def keep_calling_beta() -> None:
        nonlocal calls
        async with http_client(mcp_url(pair)) as client:
            while not done.is_set():
                try:
                    result = await client.call_tool("vms_query", {"instance": "beta", **QUERY})
                except Exception as error:  # the episode must not cost beta a single call
                    failures.append(repr(error))
                    continue
                calls += 1
                if result.is_error:
                    failures.append(text(result))

    async with anyio.create_task_group() as tasks, http_client(mcp_url(pair)) as client:
        tasks.start_soon(keep_calling_beta)
        await anyio.sleep(0.5)
        killed_at = time.monotonic()
        kill(alpha)
        # readyz notices (alpha leaves "ready"), then alpha answers again through the gateway.
        await anyio.to_thread.run_sync(
            lambda: wait_for(lambda: states(pair)["alpha"] != "ready", 10, "alpha not ready")
        )
        while True:
            result = await client.call_tool("vms_query", {"instance": "alpha", **QUERY})
            if not result.is_error and states(pair)["alpha"] == "ready":
                break
            assert time.monotonic() - killed_at < 30, text(result)
            await anyio.sleep(0.05)
        back_after = time.monotonic() - killed_at
        await anyio.sleep(0.5)
        done.set()
        status = await fleet_status(client)

    print(f"alpha back {back_after:.2f}s after kill -9; beta served {calls} calls meanwhile")
    assert failures == []
    assert calls > 5
    assert worker_pids(pair.runtime_dir)["alpha"] != alpha
    assert status["alpha"]["restarts"] == 1 and status["beta"]["restarts"] == 0
    supervisor = supervisord_pid(pair.runtime_dir)
    assert supervisor is not None
    assert zombies_below(pair.process.pid) == []


async def test_the_kill_switch_disables_one_instance_without_a_restart_loop(
    pair: Fleet, sim_pair: tuple[Sim, Sim]
) -> None:
    _, second = sim_pair
    async with http_client(mcp_url(pair), mode=MODERN) as client:
        second.set_mcp(False)
        result = await client.call_tool("vms_query", {"instance": "beta", **QUERY})
        assert result.is_error and "disabled" in text(result).lower()
        assert (await fleet_status(client))["beta"]["state"] == "disabled by admin"
        alpha_result = await client.call_tool("vms_query", {"instance": "alpha", **QUERY})
        assert not alpha_result.is_error

        # A worker that starts while MCP is off exits 3: it must not be restarted in a loop.
        kill(worker_pids(pair.runtime_dir)["beta"])
        wait_for(lambda: pair.said("worker exited (exit status 3", "beta"), 30, "exit 3")
        wait_for(lambda: "beta" not in worker_pids(pair.runtime_dir), 20, "beta worker gone")
        assert states(pair)["beta"] == "disabled by admin"
        spawns = len(pair.said("worker started", "beta"))
        assert spawns == 2  # the first start, and supervisord's restart after the kill
        await anyio.sleep(2.0)  # several [supervision] disabled_poll_s periods
        assert len(pair.said("worker started", "beta")) == spawns
        assert "beta" not in worker_pids(pair.runtime_dir)
        down = await client.call_tool("vms_query", {"instance": "beta", **QUERY})
        assert down.is_error and "disabled by admin" in text(down)
        assert states(pair)["alpha"] == "ready"

        second.set_mcp(True)
        await anyio.to_thread.run_sync(
            lambda: wait_for(lambda: states(pair)["beta"] == "ready", 30, "beta ready again")
        )
        back = await client.call_tool("vms_query", {"instance": "beta", **QUERY})
        assert not back.is_error, text(back)
    assert len(stderr_lines(pair, "XO enabled MCP again")) == 1


async def test_a_running_worker_comes_back_once_xo_reenables_mcp(
    pair: Fleet, sim_pair: tuple[Sim, Sim]
) -> None:
    """Disabled while running (seen on a call): no restart at all, ready again when enabled."""
    _, second = sim_pair
    beta = worker_pids(pair.runtime_dir)["beta"]
    async with http_client(mcp_url(pair)) as client:
        second.set_mcp(False)
        assert (await client.call_tool("vms_query", {"instance": "beta", **QUERY})).is_error
        assert states(pair)["beta"] == "disabled by admin"
        second.set_mcp(True)
        await anyio.to_thread.run_sync(
            lambda: wait_for(lambda: states(pair)["beta"] == "ready", 30, "beta ready again")
        )
        assert not (await client.call_tool("vms_query", {"instance": "beta", **QUERY})).is_error
    assert worker_pids(pair.runtime_dir)["beta"] == beta


async def test_an_instance_that_keeps_failing_is_marked_failed_and_the_rest_serve(
    tmp_path: Path, sim: Sim
) -> None:
    token = secret_file(tmp_path, "token", sim.token)
    toml = fleet_toml(
        instances={
            "alpha": instance(sim, token_file=token),
            "gone": instance(f"http://127.0.0.1:{free_port()}", token_file=token),
        },
        supervision={"failed_retry_s": 0.5, "failed_retry_max_s": 1},
    )
    with running(start_fleet(tmp_path, toml)) as fleet:
        ready = fleet.wait_ready(timeout_s=60, states=("ready", "failed"))
        assert ready == {"ready": True, "instances": {"alpha": "ready", "gone": "failed"}}
        async with http_client(mcp_url(fleet)) as client:
            status = await fleet_status(client)
            assert status["gone"]["state"] == "failed"
            assert "Unable to reach XO" in (status["gone"]["last_error"] or "")
            down = await client.call_tool("vms_query", {"instance": "gone", **QUERY})
            assert down.is_error and "failed" in text(down)
            for _ in range(5):
                result = await client.call_tool("vms_query", {"instance": "alpha", **QUERY})
                assert not result.is_error
        # Retried later (with a growing delay), and still reported failed meanwhile.
        wait_for(lambda: stderr_lines(fleet, "retrying the failed worker (attempt 2)"), 60)
        assert fleet.readyz()["instances"]["gone"] == "failed"


# SIGHUP reloads `run` (tests/fleet/test_reload.py); it stops the demo (tests/fleet/test_demo.py).
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
async def test_a_signal_stops_everything_quickly_and_cleanly(
    tmp_path: Path, sim: Sim, signum: int
) -> None:
    token = secret_file(tmp_path, "token", sim.token)
    tables = {name: instance(sim, token_file=token) for name in ("alpha", "beta")}
    toml = fleet_toml(instances=tables)
    with running(start_fleet(tmp_path, toml)) as fleet:
        fleet.wait_ready()
        async with http_client(mcp_url(fleet)) as client:  # links and sessions are open
            await client.call_tool("vms_query", {"instance": "alpha", **QUERY})
            tree = descendants(fleet.process.pid)
            assert len(tree) >= 3  # supervisord and two workers
            code, elapsed = fleet.stop(signum)
    print(f"stopped by {signal.Signals(signum).name} in {elapsed:.2f}s")
    assert code == 0
    assert elapsed < 10  # Docker's default grace period before SIGKILL
    assert fleet_processes(fleet.runtime_dir) == {}
    assert [pid for pid in tree if Path(f"/proc/{pid}").exists()] == []
    assert not (fleet.runtime_dir / "supervisord.conf").exists()
    assert "xo_mcp/fleet/" not in fleet.stderr()  # no traceback through the launcher


async def test_losing_supervisord_stops_the_fleet_with_exit_70(pair: Fleet) -> None:
    workers = worker_pids(pair.runtime_dir)
    supervisor = supervisord_pid(pair.runtime_dir)
    assert supervisor is not None and len(workers) == 2
    kill(supervisor)
    assert pair.process.wait(timeout=30) == 70
    wait_for(lambda: fleet_processes(pair.runtime_dir) == {}, 15, "workers gone")
    assert "supervisord exited unexpectedly" in pair.stderr()


async def test_a_killed_launcher_leaves_no_orphans(pair: Fleet) -> None:
    assert len(worker_pids(pair.runtime_dir)) == 2
    kill(pair.process.pid)
    pair.process.wait(timeout=10)
    wait_for(lambda: fleet_processes(pair.runtime_dir) == {}, 15, "supervisord and workers gone")


# --- stdio ------------------------------------------------------------------------------------


def _receive(process: subprocess.Popen[bytes], request_id: int, lines: list[bytes]) -> Any:
    """Read stdout lines (all kept for the final check) until the answer to `request_id`."""
    assert process.stdout is not None
    while True:
        line = process.stdout.readline()
        assert line, "the fleet closed stdout"
        lines.append(line)
        message = json.loads(line)
        if message.get("id") == request_id:
            return message


def test_in_stdio_mode_stdout_carries_only_json_rpc(
    tmp_path: Path, sim_pair: tuple[Sim, Sim]
) -> None:
    first, second = sim_pair
    env = clean_env(BETA_TOKEN=second.token)
    toml = pair_toml(tmp_path, first, second)
    lines: list[bytes] = []
    with running(start_fleet(tmp_path, toml, env=env, listen=False, args=("--stdio",))) as fleet:
        process = fleet.process
        send_line(process, initialize(1, "stdout-check", client_version="1"))
        assert "result" in _receive(process, 1, lines)
        send_line(process, INITIALIZED)
        request = 1

        def ask(name: str, arguments: dict[str, Any]) -> Any:
            nonlocal request
            request += 1
            send_line(process, tool_call(request, name, arguments))
            return _receive(process, request, lines)["result"]

        def all_ready() -> bool:
            rows = ask("fleet_status", {})["structuredContent"]["instances"]
            return all(row["state"] == "ready" for row in rows)

        wait_for(all_ready, 60, "both instances ready")
        for instance in ("alpha", "beta", "alpha"):
            assert not ask("vms_query", {"instance": instance, **QUERY}).get("isError")
        # Make supervisord and a worker talk (restart logs) while MCP flows.
        kill(worker_pids(fleet.runtime_dir)["alpha"])
        wait_for(lambda: fleet.said("worker started", "alpha")[1:], 30, "alpha respawned")
        ask("fleet_status", {})
        assert process.stdin is not None
        process.stdin.close()  # end of the session: the fleet stops by itself
        assert process.wait(timeout=20) == 0
        assert process.stdout is not None
        lines += process.stdout.read().splitlines(keepends=True)
    assert len(lines) >= 6  # initialize, status polls, three calls, a last status
    for line in lines:
        assert json.loads(line)["jsonrpc"] == "2.0", line
    # supervisord's log and the workers' lines went to stderr, as the launcher's records
    (started, *_) = fleet.said("worker started", "alpha")
    assert started["component"] == "supervisord" and isinstance(started["pid"], int)
    (connected, *_) = fleet.said("connected to", "alpha")
    assert connected["component"] == "worker"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_in_stdio_mode_a_signal_stops_the_fleet_while_stdin_stays_open(
    tmp_path: Path, sim: Sim, signum: int
) -> None:
    """`docker stop` on a `docker run -i` fleet: the client still holds stdin open, and a reader
    blocked on it must not keep the launcher alive past the signal."""
    token = secret_file(tmp_path, "token", sim.token)
    toml = fleet_toml(instances={"alpha": instance(sim, token_file=token)})
    with running(start_fleet(tmp_path, toml, listen=False, args=("--stdio",))) as fleet:
        process = fleet.process
        send_line(process, initialize(1, "signal-check", client_version="1"))
        assert "result" in _receive(process, 1, [])
        send_line(process, INITIALIZED)
        wait_for(lambda: worker_pids(fleet.runtime_dir).get("alpha"), 30, "alpha started")
        tree = descendants(process.pid)
        code, elapsed = fleet.stop(signum)
        assert process.stdin is not None and not process.stdin.closed  # stdin never ended
    print(f"stopped by {signal.Signals(signum).name} in {elapsed:.2f}s")
    assert code == 0
    assert elapsed < 10  # Docker's default grace period before SIGKILL
    assert [pid for pid in tree if Path(f"/proc/{pid}").exists()] == []
    assert "Traceback" not in fleet.stderr()
