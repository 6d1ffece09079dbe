"""One fleet for the gateway tests: two simulated XO instances behind the HTTP port.

production  read-only, `GetVmAlarms` denied (so staging alone offers it)
staging     actions enabled
clients     admin (everything), ops (staging only, read-only)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.processes import Fleet, Sim, clean_env, start_fleet, start_sim

ADMIN_TOKEN = "admin-token-0123456789abcdef"
OPS_TOKEN = "ops-token-0123456789abcdef"


@dataclass
class GatewayFleet:
    fleet: Fleet
    production: Sim
    staging: Sim

    @property
    def url(self) -> str:
        assert self.fleet.url is not None
        return self.fleet.url


def fleet_toml(production: Sim, staging: Sim, secrets: Path) -> str:
    (secrets / "prod").write_text(production.token)
    (secrets / "admin").write_text(ADMIN_TOKEN)
    (secrets / "ops").write_text(OPS_TOKEN)
    return f"""
[gateway]
[[gateway.clients]]
name = "admin"
token_file = "{secrets / "admin"}"
[[gateway.clients]]
name = "ops"
token_file = "{secrets / "ops"}"
instances = ["staging"]
read_only = true

[supervision]
disabled_poll_s = 0.5
failed_retry_s = 1

[instances.production]
url = "{production.url}"
token_file = "{secrets / "prod"}"
deny = ["GetVmAlarms"]

[instances.staging]
url = "{staging.url}"
token_env = "STAGING_TOKEN"
actions = true

[instances.lab]
url = "{production.url}"
token_file = "{secrets / "prod"}"
actions = true
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayFleet]:
    production, staging = start_sim("--seed", "1"), start_sim("--seed", "2")
    tmp = tmp_path_factory.mktemp("gateway")
    secrets = tmp / "secrets"
    secrets.mkdir()
    fleet = start_fleet(
        tmp, fleet_toml(production, staging, secrets), env=clean_env(STAGING_TOKEN=staging.token)
    )
    try:
        fleet.wait_ready()
        yield GatewayFleet(fleet, production, staging)
    finally:
        fleet.stop()
        production.stop()
        staging.stop()
