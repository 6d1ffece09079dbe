"""The image running under the hardened flags: kernel posture, read-only root, health, the HTTP
port with bearer tokens, secrets from files and from the environment, isolation between
workers, restart of a killed worker, orphan reaping, limits, and a clean `docker stop`.

One fleet container (two instances on the host's simulator, HTTP on loopback, host network:
the container shares the host's loopback as a Kubernetes sidecar shares its pod's) serves the
read-only checks; tests that kill or stop something get a container of their own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from container.kit import (
    HARDENED,
    RUNTIME_UID,
    assert_instances_list_the_vms,
    fast_healthcheck,
    fleet_files,
    logs,
    unique_name,
    wait_for,
    wait_healthy,
    wait_ready,
)
from container.probes import (
    CROSS_PROCESS,
    FLEET,
    KILL,
    ORPHAN,
    POSTURE,
    PROCESS_STATES,
    SANDBOXED_AS_WORKER,
    THREADS,
    run_probe,
)
from support.clients import http_client, instances_of
from support.fleetfile import client, fleet_toml, instance
from support.processes import Sim, free_port

pytestmark = pytest.mark.container

GATEWAY_TOKEN = "gateway-token-for-tests-0123456789"
BETA_ENV = "XO_BETA_TOKEN"
SECRETS = "/run/secrets/xo-mcp"


def two_instances(sim: Sim, port: int) -> str:
    return fleet_toml(
        sandbox="required",
        gateway={"listen": f"127.0.0.1:{port}"},
        clients=[client("tester", token_file=f"{SECRETS}/gateway-token")],
        supervision={"failed_retry_s": 1},
        instances={
            "alpha": instance(sim, token_file=f"{SECRETS}/alpha-token"),
            "beta": instance(sim, token_env=BETA_ENV),
        },
    )


def start_fleet(
    run: Callable[..., Any], sim: Sim, directory: Path, *command: str, **options: Any
) -> tuple[Any, str]:
    """A two-instance fleet on the HTTP port: alpha's token from a file, beta's from the env."""
    port = free_port()
    secrets = {"alpha-token": sim.token, "gateway-token": GATEWAY_TOKEN}
    files = fleet_files(directory, two_instances(sim, port), secrets)
    container = run(
        *(command or ("run",)),
        network_mode="host",
        volumes=files.volumes(),
        environment={BETA_ENV: sim.token, **options.pop("environment", {})},
        **options,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(container, url)
    return container, url


@pytest.fixture(scope="module")
def shared_fleet(
    docker_client: Any, image: Any, sim: Sim, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, str]]:
    """One hardened fleet container for the tests that only look."""
    started: list[Any] = []

    def run(*command: str, **options: Any) -> Any:
        settings = {**HARDENED, "detach": True, "name": unique_name(), **options}
        container = docker_client.containers.run(image.id, list(command), **settings)
        started.append(container)
        return container

    try:
        yield start_fleet(
            run, sim, tmp_path_factory.mktemp("shared-fleet"), healthcheck=fast_healthcheck(image)
        )
    finally:
        for container in started:
            container.remove(force=True)


def test_runs_with_the_hardened_host_configuration(shared_fleet: tuple[Any, str]) -> None:
    container, _ = shared_fleet
    host = container.attrs["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["PidsLimit"] > 0 and host["Memory"] > 0
    assert host["Privileged"] is False
    assert container.attrs["Config"]["User"] == f"{RUNTIME_UID}:{RUNTIME_UID}"


def test_kernel_confirms_the_posture_of_every_process(shared_fleet: tuple[Any, str]) -> None:
    container, _ = shared_fleet
    report = run_probe(container, POSTURE)
    writes = report.pop("writes")
    assert {"pid1", "supervisord", "worker:alpha", "worker:beta", "probe"} <= set(report)
    for name, status in report.items():
        assert status["Uid"].split()[0] == str(RUNTIME_UID), name
        assert status["NoNewPrivs"] == "1", name
        assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0, name
        assert status["Seccomp"] == "2", name
    for path, outcome in writes.items():
        assert outcome == ("ALLOWED" if path.startswith("/tmp/") else "EROFS"), (path, outcome)


def test_becomes_healthy(shared_fleet: tuple[Any, str]) -> None:
    container, url = shared_fleet
    wait_healthy(container)
    assert httpx2.get(f"{url}/healthz", timeout=5, trust_env=False).status_code == 200


@pytest.mark.anyio
async def test_http_port_needs_the_bearer_token(shared_fleet: tuple[Any, str], sim: Sim) -> None:
    _, url = shared_fleet
    refused = httpx2.post(f"{url}/mcp", json={}, timeout=5, trust_env=False)
    assert refused.status_code == 401
    wrong = httpx2.post(
        f"{url}/mcp", json={}, headers={"Authorization": "Bearer nope"}, trust_env=False
    )
    assert wrong.status_code == 401
    async with http_client(f"{url}/mcp", token=GATEWAY_TOKEN) as client:
        tools = (await client.list_tools()).tools
        vms_query = next(tool for tool in tools if tool.name == "vms_query")
        assert instances_of(vms_query, tools) == ["alpha", "beta"]
        # alpha: token from a file; beta: from the env
        await assert_instances_list_the_vms(client, sim, ("alpha", "beta"))


def test_secrets_stay_out_of_reach_of_same_uid_processes(shared_fleet: tuple[Any, str]) -> None:
    """A process of the runtime uid outside the sandbox (a `docker exec`) cannot read the
    environment or memory of the launcher or of a worker, nor attach to them; the env secret
    never reached supervisord (so no worker inherited it)."""
    container, _ = shared_fleet
    report = run_probe(container, CROSS_PROCESS)
    supervisord_environ = report.pop("supervisord_environ")
    for name in ("pid1", "worker:alpha", "worker:beta"):
        assert report[name] == {"environ": "DENIED", "mem": "DENIED", "ptrace": "EPERM"}, name
    assert supervisord_environ is not None, "supervisord holds no secret: its env is readable"
    assert BETA_ENV not in supervisord_environ and GATEWAY_TOKEN not in supervisord_environ


def test_a_worker_sandbox_denies_the_siblings_secrets_and_processes(
    shared_fleet: tuple[Any, str],
) -> None:
    """A probe sandboxed exactly as the alpha worker (xo_mcp.sandbox, alpha's own secret and
    runtime dir), i.e. a compromised alpha: beta's and the gateway's secrets, the supervisord
    config and every other process are out of reach."""
    container, _ = shared_fleet
    report = run_probe(
        container,
        SANDBOXED_AS_WORKER,
        {
            "own_secret": f"{SECRETS}/alpha-token",
            "runtime": "/tmp/xo-mcp/instances/alpha",
            "other_files": [
                f"{SECRETS}/gateway-token",
                "/tmp/xo-mcp/supervisord.conf",
                "/tmp/xo-mcp/instances/beta/last-error",
            ],
        },
    )
    assert "Landlock" in report["sandbox"], report["sandbox"]
    assert report["own_secret"] == "ALLOWED"
    assert report["other_files"][f"{SECRETS}/gateway-token"] == "DENIED"
    assert report["other_files"]["/tmp/xo-mcp/supervisord.conf"] == "DENIED"
    assert report["other_files"]["/tmp/xo-mcp/instances/beta/last-error"] in ("DENIED", "ENOENT")
    for name in ("pid1", "supervisord", "worker:alpha", "worker:beta"):
        checks = report["processes"][name]
        assert checks["environ"] == "DENIED" and checks["mem"] == "DENIED", (name, checks)
        assert checks["ptrace"] == "EPERM", (name, checks)
        assert checks["signal"] == "DENIED", (name, checks)


def test_status_answers_through_docker_exec(shared_fleet: tuple[Any, str]) -> None:
    """`docker exec CONTAINER xo-mcp-fleet status`: no shell, the image's user, the default
    fleet file (/etc/xo-mcp/fleet.toml) leads it to the launcher's socket."""
    container, _ = shared_fleet
    command = ["/opt/xo-mcp/bin/xo-mcp-fleet", "status", "--json"]
    result = container.exec_run(command, demux=True)
    stdout, stderr = result.output
    assert result.exit_code == 0, (stdout, stderr)  # every instance ready
    answer = json.loads(stdout)
    assert answer["pid"] == 1 and answer["ready"] is True
    assert [row["instance"] for row in answer["instances"]] == ["alpha", "beta"]
    assert [row["name"] for row in answer["clients"]] == ["tester"]
    table = container.exec_run(["/opt/xo-mcp/bin/xo-mcp-fleet", "status"])
    assert table.exit_code == 0 and b"INSTANCE" in table.output


def test_orphans_are_reaped(shared_fleet: tuple[Any, str]) -> None:
    container, _ = shared_fleet
    orphan = run_probe(container, ORPHAN)["orphan"]

    def reaped() -> dict[str, Any] | None:
        report: dict[str, Any] = run_probe(container, PROCESS_STATES)
        gone = str(orphan) not in report["states"] and report["orphan_ppid"] is not None
        return report if gone else None

    report = wait_for(reaped, "the orphan to exit and be reaped", timeout_s=30)
    assert report["orphan_ppid"] == "1"  # re-parented to the launcher, PID 1
    assert [pid for pid, state in report["states"].items() if state == "Z"] == []


def test_a_killed_worker_is_restarted_and_its_sibling_keeps_serving(
    containers: Callable[..., Any], sim: Sim, tmp_path: Path
) -> None:
    container, url = start_fleet(containers, sim, tmp_path)
    before = run_probe(container, FLEET)
    run_probe(container, KILL, {"pid": before["worker:alpha"]})
    headers = {"Authorization": f"Bearer {GATEWAY_TOKEN}"}

    def restarted() -> dict[str, int] | None:
        now: dict[str, int] = run_probe(container, FLEET)
        fresh = now.get("worker:alpha") not in (None, before["worker:alpha"])
        ready = httpx2.get(f"{url}/readyz", timeout=5, trust_env=False).json()["ready"]
        return now if fresh and ready else None

    after = wait_for(restarted, "alpha to be restarted and ready", timeout_s=120)
    assert after["worker:beta"] == before["worker:beta"]  # untouched
    assert after["pid1"] == 1 and after["supervisord"] == before["supervisord"]
    states = run_probe(container, PROCESS_STATES)["states"]
    assert [pid for pid, state in states.items() if state == "Z"] == []
    status = httpx2.get(f"{url}/metrics", headers=headers, timeout=5, trust_env=False)
    assert status.status_code == 200


def test_docker_stop_exits_zero_within_the_grace_period(
    containers: Callable[..., Any], sim: Sim, tmp_path: Path
) -> None:
    container, _ = start_fleet(containers, sim, tmp_path)
    container.stop(timeout=10)  # SIGTERM, then SIGKILL (exit 137) after 10 s
    container.reload()
    assert container.attrs["State"]["ExitCode"] == 0, logs(container)
    assert container.attrs["State"]["OOMKilled"] is False


def test_process_and_memory_limits_are_enforced(containers: Callable[..., Any]) -> None:
    container = containers(
        entrypoint=["/opt/xo-mcp/bin/python", "-c", "import time; time.sleep(600)"],
        pids_limit=32,
        mem_limit="128m",
        network_mode="none",
    )
    threads = run_probe(container, THREADS, {"limit": 100})
    assert threads["error"] is not None and threads["started"] < 32, threads
    hog = container.exec_run(
        [
            "/opt/xo-mcp/bin/python",
            "-c",
            "b = bytearray(400 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])",
        ],
        user=str(RUNTIME_UID),
    )
    assert hog.exit_code in (137, -9), hog  # killed by the memory cgroup, not the container
    container.reload()
    assert container.status == "running"


def test_without_a_writable_tmp_it_stops_at_once_and_says_where(
    containers: Callable[..., Any], sim: Sim, tmp_path: Path
) -> None:
    """`--read-only` without `--tmpfs /tmp`: the fleet cannot make its runtime directory; it
    must exit (not hang or half-start) naming the directory, with nothing on stdout."""
    files = fleet_files(
        tmp_path,
        two_instances(sim, free_port()),
        {"alpha-token": sim.token, "gateway-token": GATEWAY_TOKEN},
    )
    container = containers(
        "run",
        "--stdio",
        tmpfs={},
        network_mode="none",
        volumes=files.volumes(),
        environment={BETA_ENV: sim.token},
    )
    outcome = container.wait(timeout=120)
    assert outcome["StatusCode"] != 0
    assert container.logs(stdout=True, stderr=False) == b""
    assert "/tmp/xo-mcp" in container.logs(stdout=False, stderr=True).decode(errors="replace")
