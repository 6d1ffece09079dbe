"""Fleets of two simulated XO instances behind the HTTP port, `production` and `staging`.

`gateway` is the gateway tests' fleet:

production  read-only, `GetVmAlarms` denied (so staging alone offers it)
staging     actions enabled
clients     admin (everything), ops (staging only, read-only)

tests/reliability/conftest.py builds its `scoped` fleet (other clients) with `two_sim_fleet`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.fleetfile import client, fleet_toml, instance
from support.processes import FleetFile, FleetRig, Sim, secret_file, sims_and_fleet

ADMIN_TOKEN = "admin-token-0123456789abcdef"
OPS_TOKEN = "ops-token-0123456789abcdef"


@dataclass
class GatewayFleet(FleetRig):
    production: Sim
    staging: Sim


@contextmanager
def two_sim_fleet(base: Path, fleet_file: FleetFile) -> Iterator[GatewayFleet]:
    """`production` on a simulator seeded 1, `staging` on one seeded 2, behind a ready fleet."""
    seeds = {"production": ("--seed", "1"), "staging": ("--seed", "2")}
    with sims_and_fleet(base, seeds, fleet_file) as (fleet, sims):
        yield GatewayFleet(fleet, sims["production"], sims["staging"])


def gateway_toml(production: Sim, staging: Sim, secrets: Path) -> str:
    prod = secret_file(secrets, "prod", production.token)
    admin = secret_file(secrets, "admin", ADMIN_TOKEN)
    ops = secret_file(secrets, "ops", OPS_TOKEN)
    return fleet_toml(
        clients=[
            client("admin", token_file=admin),
            client("ops", token_file=ops, instances=["staging"], read_only=True),
        ],
        supervision={"disabled_poll_s": 0.5, "failed_retry_s": 1},
        instances={
            "production": instance(production, token_file=prod, deny=["GetVmAlarms"]),
            "staging": instance(staging, token_env="STAGING_TOKEN", actions=True),
            "lab": instance(production, token_file=prod, actions=True),
        },
    )


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayFleet]:
    tmp = tmp_path_factory.mktemp("gateway")
    secrets = tmp / "secrets"
    secrets.mkdir()

    def fleet_file(sims: dict[str, Sim]) -> tuple[str, dict[str, str]]:
        production, staging = sims["production"], sims["staging"]
        return gateway_toml(production, staging, secrets), {"STAGING_TOKEN": staging.token}

    with two_sim_fleet(tmp, fleet_file) as served:
        yield served
