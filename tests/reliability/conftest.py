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
from dataclasses import dataclass

import pytest
from container.conftest import docker_client, image  # noqa: F401 (fixtures, reused as they are)
from fleet.fleetkit import launch, running, secret_file
from support.processes import Fleet, Sim, clean_env, start_sim

ADMIN = "reliability-admin-token-7f3a9c2e51"
STAGER = "reliability-stager-token-0d84b6a1c9"
READER = "reliability-reader-token-e2c57f9034"


@dataclass
class Scoped:
    fleet: Fleet
    production: Sim
    staging: Sim

    @property
    def url(self) -> str:
        assert self.fleet.url is not None
        return self.fleet.url


@pytest.fixture(scope="session")
def scoped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scoped]:
    base = tmp_path_factory.mktemp("scoped")
    production, staging = start_sim("--seed", "1"), start_sim("--seed", "2")
    token = secret_file(base, "xo-token", production.token)
    admin = secret_file(base, "admin", ADMIN)
    stager = secret_file(base, "stager", STAGER)
    toml = f"""
[[gateway.clients]]
name = "admin"
token_file = "{admin}"

[[gateway.clients]]
name = "stager"
token_file = "{stager}"
instances = ["staging"]

[[gateway.clients]]
name = "reader"
token_env = "READER_TOKEN"
read_only = true

[instances.production]
url = "{production.url}"
token_file = "{token}"
actions = true

[instances.staging]
url = "{staging.url}"
token_file = "{token}"
actions = true
"""
    try:
        with running(launch(base, toml, env=clean_env(READER_TOKEN=READER))) as fleet:
            fleet.wait_ready(timeout_s=60)
            yield Scoped(fleet, production, staging)
    finally:
        production.stop()
        staging.stop()
