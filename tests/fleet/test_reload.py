"""Reloading a running fleet (real processes): SIGHUP and the watch, only what changed restarts,
secrets rotate, an invalid file changes nothing, and clients hear of it."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from support.clients import LEGACY, MODERN, http_client, text
from support.fleetfile import client, fleet_toml, instance, kubernetes_volume
from support.pids import worker_pids
from support.processes import (
    PYTHON,
    Fleet,
    Sim,
    clean_env,
    replace_file,
    running,
    secret_file,
    start_fleet,
    wait_for,
)
from support.rpc import MCP_HEADERS, initialize

pytestmark = pytest.mark.anyio

QUERY = {"operation": "GetVms", "fields": "name_label", "limit": 1}
SIGHUP_ONLY = {"watch": False}  # tests of SIGHUP: the watch must not get there first
FAST_WATCH = {"poll_s": 0.5}


def reloaded(fleet: Fleet, count: int = 1) -> None:
    """Wait for the fleet's `count`-th reload to finish (applied or refused)."""
    wait_for(
        lambda: len(fleet.said("reloaded ")) + len(fleet.said("reload refused")) >= count,
        30,
        f"reload {count}",
    )


def sighup(fleet: Fleet, count: int = 1) -> None:
    fleet.process.send_signal(signal.SIGHUP)
    reloaded(fleet, count)


def metric(fleet: Fleet, name: str) -> float:
    assert fleet.url is not None
    for line in httpx2.get(f"{fleet.url}/metrics", timeout=5).text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


def enum_of(tools: types.ListToolsResult, tool: str = "vms_query") -> list[str]:
    found = next(t for t in tools.tools if t.name == tool)
    return list(found.input_schema["properties"]["instance"]["enum"])


def restarted_instances(fleet: Fleet) -> list[str]:
    return [record["instance"] for record in fleet.said("restarting the worker")]


async def test_sighup_applies_only_what_changed(tmp_path: Path, sim_pair: tuple[Sim, Sim]) -> None:
    slow, other = sim_pair
    token = secret_file(tmp_path, "token", slow.token)  # both simulators accept sim-token
    alpha = instance(slow, token_file=token)
    kept = instance(other, token_file=token)
    before = {"alpha": alpha, "beta": kept, "gamma": kept}
    toml = fleet_toml(instances=before, reload=SIGHUP_ONLY)
    with running(start_fleet(tmp_path, toml)) as fleet:
        fleet.wait_ready()
        pids = worker_pids(fleet.runtime_dir)
        slow.set_faults([{"route": "GET /vms", "latency_ms": 3000}])
        async with http_client(f"{fleet.url}/mcp") as session:
            async with anyio.create_task_group() as tasks:
                answers: list[types.CallToolResult] = []

                async def slow_call() -> None:
                    answers.append(
                        await session.call_tool("vms_query", {"instance": "alpha", **QUERY})
                    )

                tasks.start_soon(slow_call)
                await anyio.sleep(0.5)  # the call is with alpha's worker now
                after = {"alpha": alpha, "gamma": {**kept, "deny": ["GetVms"]}, "delta": kept}
                fleet.rewrite(fleet_toml(instances=after, reload=SIGHUP_ONLY))
                await anyio.to_thread.run_sync(sighup, fleet)
            slow.clear_faults()
            # The call in flight on the untouched worker went through the reload.
            assert len(answers) == 1 and not answers[0].is_error, text(answers[0])
            fleet.wait_ready()
            assert fleet.readyz()["instances"] == {
                "alpha": "ready",
                "gamma": "ready",
                "delta": "ready",
            }
            now = worker_pids(fleet.runtime_dir)
            assert now["alpha"] == pids["alpha"]  # untouched
            assert now["gamma"] != pids["gamma"]  # its settings changed
            assert set(now) == {"alpha", "gamma", "delta"}  # beta's worker is gone
            assert restarted_instances(fleet) == ["gamma"]
            assert fleet.said("reloaded")[0]["msg"].endswith(
                "added delta; removed beta; restarted gamma (its settings changed)"
            )
            gone = await session.call_tool("vms_query", {"instance": "beta", **QUERY})
            assert gone.is_error and "'beta' was removed from the fleet" in text(gone)
            denied = await session.call_tool("vms_query", {"instance": "gamma", **QUERY})
            assert denied.is_error and "has no operation 'GetVms'" in text(denied)
            added = await session.call_tool("vms_query", {"instance": "delta", **QUERY})
            assert not added.is_error, text(added)
            # Per-instance surfaces come and go with their instance.
            async with http_client(f"{fleet.url}/instances/delta/mcp") as delta:
                assert any(tool.name == "vms_query" for tool in (await delta.list_tools()).tools)
            refused = httpx2.post(
                f"{fleet.url}/instances/beta/mcp", json=initialize(), headers=MCP_HEADERS
            )
            assert refused.status_code == 404
            assert metric(fleet, "xo_mcp_config_reloads_total") == 1
            assert metric(fleet, "xo_mcp_config_last_reload_successful") == 1
            # A restart the reload asked for is not a crash.
            assert metric(fleet, 'xo_mcp_instance_restarts_total{instance="gamma"}') == 0
        assert fleet.process.poll() is None  # SIGHUP reloads, it no longer stops `run`


async def test_the_watch_applies_kubernetes_updates(tmp_path: Path, fresh_sim: Sim) -> None:
    sim = fresh_sim
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    kubernetes_volume(secrets, {"xo-token": sim.token}, 1)  # a Secret volume
    token = secrets / "xo-token"
    alpha = instance(sim, token_file=token)
    runtime = f'runtime_dir = "{tmp_path / "run"}"\n'
    first = fleet_toml(instances={"alpha": alpha})
    kubernetes_volume(tmp_path, {"fleet.toml": runtime + first}, 1)  # a ConfigMap volume
    with running(start_fleet(tmp_path, first)) as fleet:
        assert fleet.config.is_symlink()
        fleet.wait_ready()
        pid = worker_pids(fleet.runtime_dir)["alpha"]
        # The ConfigMap: an instance added.
        second = fleet_toml(instances={"alpha": alpha, "beta": alpha})
        swapped = time.monotonic()
        kubernetes_volume(tmp_path, {"fleet.toml": runtime + second}, 2)
        wait_for(lambda: fleet.said("reloading"), 10, "the swap to be noticed (within 10 s)")
        print(f"ConfigMap swap noticed after {time.monotonic() - swapped:.1f}s")
        reloaded(fleet)
        assert "fleet.toml changed" in fleet.said("reloading")[0]["msg"]
        fleet.wait_ready()
        assert set(fleet.readyz()["instances"]) == {"alpha", "beta"}
        assert worker_pids(fleet.runtime_dir)["alpha"] == pid
        # The Secret: a new XO token, read by a worker that starts in its sandbox anew.
        sim.tokens(add="rotated-token")
        kubernetes_volume(secrets, {"xo-token": "rotated-token"}, 2)
        wait_for(lambda: fleet.said("restarting the worker"), 10, "the rotation (within 10 s)")
        fleet.wait_ready()
        sim.tokens(revoke=sim.token)
        async with http_client(f"{fleet.url}/mcp") as session:
            for name in ("alpha", "beta"):
                result = await session.call_tool("vms_query", {"instance": name, **QUERY})
                assert not result.is_error, text(result)
        assert sorted(restarted_instances(fleet)) == ["alpha", "beta"]  # both read that file


async def test_a_rotated_token_file_restarts_its_worker_only(
    tmp_path: Path, sim_pair: tuple[Sim, Sim]
) -> None:
    first, second = sim_pair
    alpha_token = secret_file(tmp_path, "alpha-token", first.token)
    beta_token = secret_file(tmp_path, "beta-token", second.token)
    toml = fleet_toml(
        instances={
            "alpha": instance(first, token_file=alpha_token),
            "beta": instance(second, token_file=beta_token),
        },
        reload=FAST_WATCH,
    )
    with running(start_fleet(tmp_path, toml)) as fleet:
        fleet.wait_ready()
        pids = worker_pids(fleet.runtime_dir)
        first.tokens(add="alpha-token-2")
        replace_file(alpha_token, "alpha-token-2\n")
        wait_for(
            lambda: worker_pids(fleet.runtime_dir).get("alpha") not in (None, pids["alpha"]),
            20,
            "alpha's worker restarted",
        )
        fleet.wait_ready()
        first.tokens(revoke=first.token)  # from now on only the new token works
        async with http_client(f"{fleet.url}/mcp") as session:
            result = await session.call_tool("vms_query", {"instance": "alpha", **QUERY})
            assert not result.is_error, text(result)
        assert worker_pids(fleet.runtime_dir)["beta"] == pids["beta"]
        assert restarted_instances(fleet) == ["alpha"]
        assert fleet.said("restarting the worker", "alpha")[0]["msg"].endswith(
            "its secret or CA bundle changed"
        )
        assert "alpha-token-2" not in fleet.stderr()


async def test_a_rotated_client_token_applies_without_a_restart(tmp_path: Path, sim: Sim) -> None:
    xo_token = secret_file(tmp_path, "xo-token", sim.token)
    ops = secret_file(tmp_path, "ops", "ops-token-1")
    toml = fleet_toml(
        instances={"alpha": instance(sim, token_file=xo_token)},
        clients=[client("ops", token_file=ops)],
        reload=FAST_WATCH,
    )

    def status_with(token: str) -> int:
        headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}"}
        return httpx2.post(f"{fleet.url}/mcp", json=initialize(), headers=headers).status_code

    with running(start_fleet(tmp_path, toml)) as fleet:
        fleet.wait_ready()
        pids = worker_pids(fleet.runtime_dir)
        assert status_with("ops-token-1") == 200
        replace_file(ops, "ops-token-2\n")
        wait_for(lambda: status_with("ops-token-2") == 200, 20, "the new token accepted")
        assert status_with("ops-token-1") == 401
        assert worker_pids(fleet.runtime_dir) == pids  # no restart at all
        assert restarted_instances(fleet) == []
        assert fleet.said("reloaded")[-1]["msg"].endswith("client token rotated: ops")
        assert "ops-token-2" not in fleet.stderr()


async def test_secrets_from_variables_survive_a_reload(
    tmp_path: Path, sim_pair: tuple[Sim, Sim]
) -> None:
    first, second = sim_pair
    second.tokens(add="beta-variable-token")
    alpha = instance(first, token_env="ALPHA_TOKEN")
    beta = instance(second, token_env="BETA_TOKEN")
    env = clean_env(ALPHA_TOKEN=first.token, BETA_TOKEN="beta-variable-token")
    toml = fleet_toml(instances={"alpha": alpha}, reload=SIGHUP_ONLY)
    with running(start_fleet(tmp_path, toml, env=env)) as fleet:
        fleet.wait_ready()
        # A variable never set cannot come later: refused, with the reason.
        unset = instance(first, token_env="GAMMA_TOKEN")
        fleet.rewrite(fleet_toml(instances={"alpha": alpha, "gamma": unset}, reload=SIGHUP_ONLY))
        sighup(fleet)
        assert fleet.said("environment variable GAMMA_TOKEN is not set")
        assert fleet.said("a running fleet has only the variables it was started with")
        # ALPHA_TOKEN was taken at start and is kept (alpha restarts: it asks for it again);
        # BETA_TOKEN is taken now.
        pid = worker_pids(fleet.runtime_dir)["alpha"]
        slower = {**alpha, "timeout_s": 20}
        fleet.rewrite(fleet_toml(instances={"alpha": slower, "beta": beta}, reload=SIGHUP_ONLY))
        sighup(fleet, 2)
        fleet.wait_ready()
        assert worker_pids(fleet.runtime_dir)["alpha"] != pid
        async with http_client(f"{fleet.url}/mcp") as session:
            for name in ("alpha", "beta"):
                result = await session.call_tool("vms_query", {"instance": name, **QUERY})
                assert not result.is_error, text(result)
        caveat = fleet.said("keep the values the launcher read when it first took them")
        assert "(ALPHA_TOKEN, BETA_TOKEN)" in caveat[-1]["msg"]
        environ = Path(f"/proc/{fleet.process.pid}/environ").read_bytes()
        assert b"beta-variable-token" not in environ  # wiped when taken, as at start
        assert "beta-variable-token" not in fleet.stderr()


def check_lines(config: Path) -> list[str]:
    checked = subprocess.run(
        [PYTHON, "-m", "xo_mcp.fleet", "check", str(config)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    assert checked.returncode == 2, checked
    return checked.stderr.splitlines()


def refusal_lines(fleet: Fleet) -> list[str]:
    """What the fleet logged between its last `reloading` line and `reload refused`."""
    records = fleet.records()
    start = max(i for i, r in enumerate(records) if str(r.get("msg", "")).startswith("reloading"))
    lines = []
    for record in records[start + 1 :]:
        if record["msg"].startswith("reload refused"):
            return lines
        if record.get("level") == "error" and record.get("component") == "launcher":
            lines.append(record["msg"])
    raise AssertionError("no refusal logged")


async def test_an_invalid_file_changes_nothing(tmp_path: Path, sim: Sim) -> None:
    token = secret_file(tmp_path, "token", sim.token)
    valid = fleet_toml(instances={"alpha": instance(sim, token_file=token)}, reload=SIGHUP_ONLY)
    with running(start_fleet(tmp_path, valid)) as fleet:
        fleet.wait_ready()
        pids = worker_pids(fleet.runtime_dir)
        broken = {
            "alpha": instance(sim, token_file=token, actoins=True),
            "beta": instance("ftp://nowhere", token_file=token),
            "gamma": instance(sim, token_file=tmp_path / "missing"),
        }
        fleet.rewrite(fleet_toml(instances=broken, reload=SIGHUP_ONLY))
        sighup(fleet)
        expected = check_lines(fleet.config)
        assert len(expected) == 4  # a header and three problems
        assert refusal_lines(fleet) == expected  # the same lines as `check`
        # The fleet serves on, unchanged.
        assert worker_pids(fleet.runtime_dir) == pids
        assert fleet.readyz()["instances"] == {"alpha": "ready"}
        async with http_client(f"{fleet.url}/mcp") as session:
            result = await session.call_tool("vms_query", {"instance": "alpha", **QUERY})
            assert not result.is_error, text(result)
        assert metric(fleet, "xo_mcp_config_reload_failures_total") == 1
        assert metric(fleet, "xo_mcp_config_last_reload_successful") == 0
        status = subprocess.run(
            [PYTHON, "-m", "xo_mcp.fleet", "status", "--json", str(fleet.config)],
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=60,
            check=False,
        )
        assert status.returncode == 0  # every instance is ready; the file is not
        assert '"problems":' in status.stdout and expected[1].strip() in status.stdout
        # Fixed: the next reload applies (nothing to restart) and says so.
        fleet.rewrite(valid)
        sighup(fleet, 2)
        assert metric(fleet, "xo_mcp_config_reloads_total") == 1
        assert metric(fleet, "xo_mcp_config_last_reload_successful") == 1
        assert fleet.said("reloaded")[0]["msg"].endswith(": nothing changed")
        assert worker_pids(fleet.runtime_dir) == pids


async def test_clients_of_both_eras_hear_of_a_reload(tmp_path: Path, sim: Sim) -> None:
    token = secret_file(tmp_path, "token", sim.token)
    alpha = instance(sim, token_file=token)
    # The full tool list names the instances in each tool's `instance` enum (the compact one
    # says them once, in fleet_status, while every instance offers the tool).
    full = {"compact_tools": False}
    toml = fleet_toml(instances={"alpha": alpha}, gateway=full, reload=SIGHUP_ONLY)
    notices: list[Any] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            notices.append(message)

    with running(start_fleet(tmp_path, toml)) as fleet:
        fleet.wait_ready()
        url = f"{fleet.url}/mcp"
        async with (
            http_client(url, mode=LEGACY, message_handler=on_message) as legacy,
            http_client(url, mode=MODERN) as modern,
            modern.listen(tools_list_changed=True) as subscription,
        ):
            assert enum_of(await legacy.list_tools()) == ["alpha"]
            both = {"alpha": alpha, "beta": alpha}
            fleet.rewrite(fleet_toml(instances=both, gateway=full, reload=SIGHUP_ONLY))
            await anyio.to_thread.run_sync(sighup, fleet)
            with anyio.fail_after(20):
                async for _event in subscription:
                    break
                while not notices:
                    await anyio.sleep(0.05)
                # Notified at the reload, and again once beta's worker answers.
                while enum_of(await legacy.list_tools()) != ["alpha", "beta"]:
                    await anyio.sleep(0.1)
                while enum_of(await modern.list_tools()) != ["alpha", "beta"]:
                    await anyio.sleep(0.1)
