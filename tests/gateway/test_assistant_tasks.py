"""Tasks as an assistant does them, on the aggregated surface of a real fleet of simulators,
through a real MCP client (support/assistant_tasks.py holds the scripts; the benchmark runs
them on the official server too and counts calls and bytes).

production  read-only          staging, lab  actions on (XO tasks take half a second)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from support.assistant_tasks import TASKS, WITHOUT_A_HUMAN, World
from support.assistants import FleetAssistant, fleet_session
from support.fleetfile import client, fleet_toml, instance
from support.processes import FleetRig, Sim, secret_file, sims_and_fleet

pytestmark = pytest.mark.anyio
TOKEN = "assistant-token-0123456789abcdef"
INSTANCES = ["production", "staging", "lab"]
SLOW_TASKS = ("--action-seconds", "0.5")


@dataclass
class TaskFleet(FleetRig):
    sims: dict[str, Sim]


@pytest.fixture(scope="module")
def tasks_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TaskFleet]:
    base = tmp_path_factory.mktemp("tasks")
    seeds = {name: ("--seed", str(seed), *SLOW_TASKS) for seed, name in enumerate(INSTANCES, 1)}

    def fleet_file(sims: dict[str, Sim]) -> tuple[str, dict[str, str]]:
        tables = {
            name: instance(sim, token_env=f"XO_TOKEN_{name.upper()}", actions=name != "production")
            for name, sim in sims.items()
        }
        admin = client("assistant", token_file=secret_file(base, "assistant", TOKEN))
        env = {f"XO_TOKEN_{name.upper()}": sim.token for name, sim in sims.items()}
        return fleet_toml(instances=tables, clients=[admin]), env

    with sims_and_fleet(base, seeds, fleet_file) as (fleet, sims):
        yield TaskFleet(fleet, sims)


@pytest.mark.parametrize("task", list(TASKS))
async def test_a_task_as_an_assistant_does_it(tasks_fleet: TaskFleet, task: str) -> None:
    assistant = FleetAssistant(instances=INSTANCES)
    human = task not in WITHOUT_A_HUMAN
    async with fleet_session(f"{tasks_fleet.url}/mcp", TOKEN, assistant, human=human):
        world = World(tasks_fleet.sims, acting="staging", other="lab")
        await TASKS[task](assistant, world)
    assert assistant.exchanges  # the task spoke to the fleet, one call at least
    assert not [e for e in assistant.exchanges if "gateway failed" in e.answer.text]
