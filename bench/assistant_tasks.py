"""Tasks as an assistant does them (tests/support/assistant_tasks.py), counted: tool calls and
bytes per task on the fleet's aggregated surface and on one official `@xen-orchestra/mcp`
server per instance (tests/support/assistants.py: what a careful model does on each).

Three instances (production read-only; staging and lab with actions), each a simulator serving
XO's real 0.39.0 spec, seeded alike for every contender (fresh simulators per contender):

- fleet, a human confirms: the aggregated surface (compact tools), a client that supports
  elicitation (one call per confirmed action, `wait` follows its task);
- fleet, tokens: the same surface, a client without elicitation (the model echoes the token);
- official: three official servers, one per instance (tokens echoed, tasks polled with
  tasks_query once a second, as a model would once per turn; no describe_operation: the model
  reads the descriptions it was given).

XO tasks last 2 s in these simulators.

Bytes are what the model reads and writes per task: each call's arguments (compact JSON) and
its answer's text. The tool lists, which the model reads on every turn, are counted apart.

    .venv/bin/python bench/assistant_tasks.py
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mcp_types as types
from common import (
    NpmPeers,
    Row,
    Sim,
    clean_env,
    compare,
    document,
    log,
    ratio,
    run_from_cli,
    start_sim,
    tools_bytes,
)
from mcp import Client
from support.assistant_tasks import TASKS, WITHOUT_A_HUMAN, World
from support.assistants import Assistant, FleetAssistant, OfficialAssistant, fleet_session
from support.clients import http_client, stdio_client
from support.fleetfile import client, fleet_toml, instance
from support.processes import running, scratch_dir, secret_file, start_fleet, wait_until_serving

INSTANCES = ["production", "staging", "lab"]
ACTING = {"staging", "lab"}
TOKEN = "bench-assistant-token-0123456789"
ACTION_SECONDS = "2"  # an XO task lasts long enough to be followed (real ones: seconds to hours)


@contextlib.contextmanager
def simulators(spec: Path) -> Iterator[dict[str, Sim]]:
    """One simulator per instance, seeded 1, 2, 3: every contender starts from the same XOs."""
    sims: dict[str, Sim] = {}
    try:
        for seed, name in enumerate(INSTANCES, 1):
            args = ("--spec", str(spec), "--seed", str(seed), "--action-seconds", ACTION_SECONDS)
            sims[name] = wait_until_serving(start_sim(*args))
        yield sims
    finally:
        for sim in sims.values():
            sim.stop()


def _wire(tools: types.ListToolsResult) -> list[dict[str, Any]]:
    return [tool.model_dump(by_alias=True, exclude_none=True, mode="json") for tool in tools.tools]


@dataclass
class Run:
    """One contender over every task: per task its calls and bytes (or why it failed)."""

    contender: str
    tools_bytes: int
    tasks: dict[str, dict[str, Any]]


def _tally(assistant: Assistant, failure: str | None) -> dict[str, Any]:
    return {
        "calls": len(assistant.exchanges),
        "bytes": sum(exchange.bytes for exchange in assistant.exchanges),
        "asked_a_human": len(assistant.asked),
        "failed": failure,
        "tools": [exchange.tool for exchange in assistant.exchanges],
    }


async def _one(assistant: Assistant, task: str, world: World) -> dict[str, Any]:
    failure = None
    try:
        await TASKS[task](assistant, world)
    except AssertionError as error:  # an answer did not hold what the next step needed
        failure = f"AssertionError: {str(error)[:300]}"
    return _tally(assistant, failure)


async def _fleet_tasks(url: str, sims: dict[str, Sim], human: bool) -> tuple[int, dict[str, Any]]:
    async with http_client(f"{url}/mcp", token=TOKEN) as session:
        size = tools_bytes(_wire(await session.list_tools()))
    found = {}
    for task in TASKS:
        assistant = FleetAssistant(instances=INSTANCES)
        with_human = human and task not in WITHOUT_A_HUMAN
        async with fleet_session(f"{url}/mcp", TOKEN, assistant, human=with_human):
            found[task] = await _one(assistant, task, World(sims, "staging", "lab"))
    return size, found


def fleet_run(spec: Path, scratch: Path, *, human: bool) -> Run:
    label = "fleet, a human confirms" if human else "fleet, tokens"
    log(f"assistant tasks: {label}")
    home = scratch / ("human" if human else "tokens")
    home.mkdir()
    with simulators(spec) as sims:
        tables = {
            name: instance(sim, token_env=f"XO_TOKEN_{name.upper()}", actions=name in ACTING)
            for name, sim in sims.items()
        }
        admin = client("assistant", token_file=secret_file(home, "assistant", TOKEN))
        env = clean_env(**{f"XO_TOKEN_{name.upper()}": sim.token for name, sim in sims.items()})
        toml = fleet_toml(instances=tables, clients=[admin])
        with running(start_fleet(home, toml, env=env)) as fleet:
            fleet.wait_ready(timeout_s=120)
            assert fleet.url is not None
            size, tasks = asyncio.run(_fleet_tasks(fleet.url, sims, human))
    return Run(label, size, tasks)


async def _official_tasks(peers: NpmPeers, sims: dict[str, Sim]) -> tuple[int, dict[str, Any]]:
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, Client] = {}
        size = 0
        for name, sim in sims.items():
            env = clean_env(XO_URL=sim.url, XO_TOKEN=sim.token, NODE_NO_WARNINGS="1")
            if name in ACTING:
                env["XO_MCP_ENABLE_ACTIONS"] = "1"
            clients[name] = await stack.enter_async_context(
                stdio_client(peers.official_server, env)
            )
            size += tools_bytes(_wire(await clients[name].list_tools()))
        found = {}
        for task in TASKS:
            assistant = OfficialAssistant(instances=INSTANCES, clients=clients)
            found[task] = await _one(assistant, task, World(sims, "staging", "lab"))
    return size, found


def official_run(peers: NpmPeers) -> Run:
    log("assistant tasks: official, one server per instance")
    with simulators(peers.real_spec) as sims:
        size, tasks = asyncio.run(_official_tasks(peers, sims))
    return Run("official", size, tasks)


def _totals(run: Run) -> tuple[int, int]:
    return (
        sum(task["calls"] for task in run.tasks.values()),
        sum(task["bytes"] for task in run.tasks.values()),
    )


def _context(run: Run) -> int:
    """What the model reads over the tasks if it re-reads the tool list at each call (one
    turn per call; hosts that cache the prompt's prefix pay less, but keep it in context)."""
    calls, sent = _totals(run)
    return calls * run.tools_bytes + sent


def rows(runs: list[Run]) -> list[Row]:
    by_label = {run.contender: run for run in runs}
    official = by_label["official"]
    found = []
    peer_calls, peer_sent = _totals(official)
    peer_done = sum(1 for task in official.tasks.values() if not task["failed"])
    for label in ("fleet, a human confirms", "fleet, tokens"):
        ours = by_label[label]
        calls, sent = _totals(ours)
        done = sum(1 for task in ours.tasks.values() if not task["failed"])
        note = f"tasks done: {done}/{len(TASKS)} vs {peer_done}/{len(TASKS)}"
        scenario = f"{len(TASKS)} tasks ({label})"
        found.append(compare(f"{scenario}, calls", calls, peer_calls, "calls", 1.0, note))
        found.append(compare(f"{scenario}, bytes", sent, peer_sent, "bytes", 1.0))
        found.append(
            compare(
                f"{scenario}, bytes with the tool list read at each call",
                _context(ours),
                _context(official),
                "bytes",
                1.0,
            )
        )
    fleet = by_label["fleet, a human confirms"]
    found.append(
        Row(
            "tool lists the model reads each turn (3 instances, actions on 2)",
            fleet.tools_bytes,
            official.tools_bytes,
            "bytes",
            "—",
            None,
            ratio(fleet.tools_bytes, official.tools_bytes),
            "the 5-instance target is in the gateway table",
        )
    )
    return found


def run(peers: NpmPeers) -> dict[str, Any]:
    started = time.monotonic()
    with scratch_dir("xo-bench-tasks-") as scratch:
        runs = [
            fleet_run(peers.real_spec, scratch, human=True),
            fleet_run(peers.real_spec, scratch, human=False),
            official_run(peers),
        ]
    return document(
        "assistant_tasks",
        started,
        instances={"production": "read-only", "staging": "actions", "lab": "actions"},
        runs={r.contender: {"tools_bytes": r.tools_bytes, "tasks": r.tasks} for r in runs},
        rows=rows(runs),
    )


def main() -> None:
    run_from_cli("assistant_tasks", __doc__, run)


if __name__ == "__main__":
    main()
