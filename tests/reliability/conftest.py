"""Fixtures of the reliability tests.

`scoped` is a fleet behind the HTTP port with bearer-token clients of three kinds:

production  actions enabled        admin   every instance, actions
staging     actions enabled        stager  staging only, actions
                                   reader  every instance, read-only

The image fixtures come from tests/container (built once when a Docker engine answers; the
tests that need them skip, with the reason, where none does, as the container tests do).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from container.conftest import docker_client, image  # noqa: F401 (fixtures, reused as they are)
from support.fleetfile import client, fleet_toml, instance
from support.gateway_fleet import GatewayFleet, two_sim_fleet
from support.processes import Sim, secret_file

ADMIN = "reliability-admin-token-7f3a9c2e51"
STAGER = "reliability-stager-token-0d84b6a1c9"
READER = "reliability-reader-token-e2c57f9034"

Scoped = GatewayFleet  # the same two simulators, other clients


@pytest.fixture(scope="session")
def scoped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scoped]:
    base = tmp_path_factory.mktemp("scoped")

    def fleet_file(sims: dict[str, Sim]) -> tuple[str, dict[str, str]]:
        production, staging = sims["production"], sims["staging"]
        token = secret_file(base, "xo-token", production.token)
        admin = secret_file(base, "admin", ADMIN)
        stager = secret_file(base, "stager", STAGER)
        toml = fleet_toml(
            clients=[
                client("admin", token_file=admin),
                client("stager", token_file=stager, instances=["staging"]),
                client("reader", token_env="READER_TOKEN", read_only=True),
            ],
            instances={
                "production": instance(production, token_file=token, actions=True),
                "staging": instance(staging, token_file=token, actions=True),
            },
        )
        return toml, {"READER_TOKEN": READER}

    with two_sim_fleet(base, fleet_file) as served:
        yield served
