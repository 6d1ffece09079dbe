"""Proxy settings: the launcher's HTTP(S)_PROXY / NO_PROXY (either case) reach every worker,
and an instance's own [instances.<name>.proxy] wins. Recording proxies on loopback show which
way each worker's requests to XO went."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from support.clients import http_client
from support.fleetfile import fleet_toml
from support.fleetfile import instance as xo_instance
from support.httpd import RecordingProxy, serve_in_thread
from support.pids import worker_pids
from support.processes import Sim, clean_env, running, secret_file, start_fleet

pytestmark = pytest.mark.anyio


@pytest.fixture
def proxies() -> Iterator[tuple[RecordingProxy, RecordingProxy]]:
    with serve_in_thread(RecordingProxy()) as inherited, serve_in_thread(RecordingProxy()) as own:
        yield inherited, own


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()  # the test runs as root
    pairs = (item.decode().split("=", 1) for item in raw.split(b"\0") if b"=" in item)
    return dict(pairs)


async def test_proxies_pass_through_and_an_instance_override_wins(
    tmp_path: Path, sim_pair: tuple[Sim, Sim], proxies: tuple[RecordingProxy, RecordingProxy]
) -> None:
    first, second = sim_pair
    inherited, own = proxies
    token = secret_file(tmp_path, "token", first.token)
    first_port = urlsplit(first.url).port
    # alpha: inherits HTTP_PROXY (upper case); beta: its own proxy; gamma: the same XO as
    # alpha under the name `localhost`, which the inherited no_proxy (lower case) exempts.
    toml = fleet_toml(
        instances={
            "alpha": xo_instance(first, token_file=token),
            "beta": xo_instance(second, token_file=token, proxy={"http": own.url}),
            "gamma": xo_instance(f"http://localhost:{first_port}", token_file=token),
        }
    )
    env = clean_env(HTTP_PROXY=inherited.url, no_proxy="localhost")
    with running(start_fleet(tmp_path, toml, env=env)) as fleet:
        fleet.wait_ready(timeout_s=60)
        async with http_client(f"{fleet.url}/mcp") as client:
            for instance in ("alpha", "beta", "gamma"):
                result = await client.call_tool(
                    "vms_query", {"instance": instance, "operation": "GetVms", "limit": 1}
                )
                assert not result.is_error
        environs = {name: _environ(pid) for name, pid in worker_pids(fleet.runtime_dir).items()}

    alpha_host = f"127.0.0.1:{first_port}"
    beta_host = urlsplit(second.url).netloc
    assert f"GET http://{alpha_host}/rest/v0/mcp/status" in inherited.lines()
    assert any("/rest/v0/vms" in line for line in inherited.to(alpha_host))
    assert inherited.to(beta_host) == []
    assert any("/rest/v0/vms" in line for line in own.to(beta_host))
    assert own.to(alpha_host) == []
    assert not any("localhost" in line for line in inherited.lines() + own.lines())
    # What the workers were given: both cases pass through, the override replaces both.
    for name in ("alpha", "gamma"):
        assert environs[name]["HTTP_PROXY"] == inherited.url
        assert environs[name]["no_proxy"] == "localhost"
    assert environs["beta"]["HTTP_PROXY"] == environs["beta"]["http_proxy"] == own.url
    assert environs["beta"]["no_proxy"] == "localhost"
