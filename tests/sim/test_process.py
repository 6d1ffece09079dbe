"""The `xo-mcp-sim` command: its options, and fault injection seen by a real HTTP client."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import httpx2
import pytest
from support.processes import PYTHON, Sim, clean_env, start_sim

from xo_mcp.sim.cli import build_parser
from xo_mcp.sim.inventory import Inventory, InventorySize

TOKEN = {"cookie": "authenticationToken=sim-token"}


def get(sim: Sim, path: str, timeout: float = 30, **headers: str) -> httpx2.Response:
    return httpx2.get(f"{sim.url}/rest/v0{path}", headers=headers or TOKEN, timeout=timeout)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "xo_mcp.sim", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        check=False,
    )


# ------------------------------------------------------------------ faults


def test_error_rate_one_makes_every_matching_request_a_500(fresh_sim: Sim) -> None:
    fresh_sim.set_faults([{"route": "GET /vms*", "error_rate": 1.0}])
    for path in ("/vms", "/vms/anything"):
        response = get(fresh_sim, path)
        assert response.status_code == 500
        assert response.json() == {"error": "simulated internal error"}
    assert get(fresh_sim, "/hosts").status_code == 200
    assert (
        httpx2.post(f"{fresh_sim.url}/rest/v0/vms/x/actions/start", headers=TOKEN).status_code
        == 404
    )


def test_malformed_rate_one_breaks_the_json(fresh_sim: Sim) -> None:
    fresh_sim.set_faults([{"route": "/pools", "malformed_rate": 1.0}])
    response = get(fresh_sim, "/pools")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    assert get(fresh_sim, "/hosts").json()


def test_drop_rate_one_breaks_the_connection(fresh_sim: Sim) -> None:
    fresh_sim.set_faults([{"route": "GET /hosts", "drop_rate": 1.0}])
    with pytest.raises(httpx2.TransportError):
        get(fresh_sim, "/hosts")
    assert get(fresh_sim, "/pools").status_code == 200


def test_a_stalled_route_never_answers_but_others_do(fresh_sim: Sim) -> None:
    fresh_sim.set_faults([{"route": "GET /vms", "stall": True}])
    with pytest.raises(httpx2.ReadTimeout):
        get(fresh_sim, "/vms", timeout=0.5)
    assert get(fresh_sim, "/pools").status_code == 200


def test_latency_delays_only_its_route(fresh_sim: Sim) -> None:
    fresh_sim.set_faults([{"route": "GET /srs", "latency_ms": 600_000}])
    with pytest.raises(httpx2.ReadTimeout):
        get(fresh_sim, "/srs", timeout=0.5)
    assert get(fresh_sim, "/pools").status_code == 200
    fresh_sim.set_faults([{"route": "GET /srs", "latency_ms": 50}])
    assert get(fresh_sim, "/srs").status_code == 200


def test_faults_are_replaced_and_cleared_at_runtime(fresh_sim: Sim) -> None:
    fresh_sim.set_faults([{"error_rate": 1.0}])
    assert get(fresh_sim, "/pools").status_code == 500
    state = fresh_sim.control("GET", "state")
    assert state["faults"][0]["route"] == "*"
    assert state["faults"][0]["error_rate"] == 1.0
    fresh_sim.clear_faults()
    assert get(fresh_sim, "/pools").status_code == 200
    assert fresh_sim.control("GET", "state")["faults"] == []


def test_a_bad_fault_rule_is_refused_at_runtime(fresh_sim: Sim) -> None:
    response = httpx2.put(f"{fresh_sim.url}/_sim/faults", json=[{"error_rate": 2}])
    assert response.status_code == 400
    assert get(fresh_sim, "/pools").status_code == 200


# ------------------------------------------------------------------ command line


def test_help_mentions_every_option() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for action in build_parser()._actions:
        for option in action.option_strings:
            assert option in result.stdout, option


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--listen", "nowhere"), "expected HOST:PORT such as 127.0.0.1:8080, got 'nowhere'"),
        (("--listen", "127.0.0.1:70000"), "got '127.0.0.1:70000'"),
        (("--fault", "error_rate=2"), "error_rate"),
        (("--fault", "latency"), "'latency' is not key=value"),
        (("--fault", "colour=red"), "colour"),
        (("--vms", "-1"), "expected a non-negative integer"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(args: tuple[str, ...], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_credentials_must_come_in_pairs_and_a_spec_must_exist(tmp_path: Path) -> None:
    alone = run_cli("--username", "admin")
    assert alone.returncode != 0
    assert "--username and --password go together" in alone.stderr
    missing = run_cli("--spec", str(tmp_path / "none.json"))
    assert missing.returncode != 0
    assert "no such file" in missing.stderr


def test_options_shape_the_simulated_xo(tmp_path: Path) -> None:
    spec = tmp_path / "swagger.json"
    spec.write_text('{"openapi": "3.0.0", "paths": {}}', encoding="utf-8")
    sim = start_sim(
        "--seed", "5", "--pools", "1", "--vms", "3", "--no-token",
        "--username", "ops@example.org", "--password", "pw",
        "--mcp-disabled", "--spec", str(spec),
    )  # fmt: skip
    try:
        basic = base64.b64encode(b"ops@example.org:pw").decode()
        auth = {"authorization": f"Basic {basic}"}
        assert get(sim, "/pools", **TOKEN).status_code == 401
        vms = get(sim, "/vms?fields=*", **auth).json()
        expected = Inventory(seed=5, size=InventorySize(pools=1, vms_per_pool=3))
        assert [{k: v for k, v in vm.items() if k != "href"} for vm in vms] == list(
            expected.collection("vms").values()
        )
        other_seed = Inventory(seed=6, size=InventorySize(pools=1, vms_per_pool=3))
        assert [vm["id"] for vm in vms] != list(other_seed.collection("vms"))
        status = httpx2.get(f"{sim.url}/rest/v0/mcp/status", timeout=30)
        assert status.status_code == 503
        assert status.json()["data"] == {"error": "mcp_disabled"}
        assert httpx2.get(f"{sim.url}/rest/v0/docs/swagger.json").content == spec.read_bytes()
    finally:
        sim.stop()


def test_the_same_seed_gives_the_same_inventory_in_two_processes(fresh_sim: Sim) -> None:
    twin = start_sim("--seed", "3")
    try:
        for path in ("/vms?fields=*", "/srs?fields=*", "/tasks?fields=*", "/alarms?fields=*"):
            assert get(twin, path).json() == get(fresh_sim, path).json()
    finally:
        twin.stop()


def test_a_fault_given_at_start_is_in_force() -> None:
    sim = start_sim("--fault", "route=GET /ping,error_rate=1")
    try:
        assert httpx2.get(f"{sim.url}/rest/v0/ping", timeout=30).status_code == 500
        assert get(sim, "/pools").status_code == 200
    finally:
        sim.stop()


# ------------------------------------------------------------------ endless streams


def test_the_event_stream_opens_with_an_init_event(fresh_sim: Sim) -> None:
    url = f"{fresh_sim.url}/rest/v0/events"
    with httpx2.stream("GET", url, headers=TOKEN, timeout=30) as response:
        assert response.headers["content-type"] == "text/event-stream"
        lines = response.iter_lines()
        assert next(lines) == "event: init"
        data = next(lines)
        assert data.startswith("data: ")
        assert set(json.loads(data.removeprefix("data: "))) == {"id"}


def test_watching_tasks_streams_their_updates(fresh_sim: Sim) -> None:
    vm = get(fresh_sim, "/vms?fields=id&filter=power_state:Halted&limit=1").json()[0]["id"]
    url = f"{fresh_sim.url}/rest/v0/tasks?watch=true&ndjson=true&fields=status"
    with httpx2.stream("GET", url, headers=TOKEN, timeout=30) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        started = httpx2.post(f"{fresh_sim.url}/rest/v0/vms/{vm}/actions/start", headers=TOKEN)
        task = started.json()["taskId"]
        seen: list[str] = []
        for line in response.iter_lines():
            kind, item = json.loads(line)
            if kind == "update" and item["href"] == f"/rest/v0/tasks/{task}":
                seen.append(item["status"])
            if "success" in seen:
                break
    assert seen[-1] == "success"
