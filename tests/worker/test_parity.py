"""Parity with the official server `@xen-orchestra/mcp` 1.4.2, both serving XO's REAL spec.

Same tool names in the same order, the same operation enum per tool, the same answers to the
same calls, the same effect of XO_MCP_DENY_LIST: except the deliberate differences below.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from support.clients import LEGACY, operations, stdio_client, text
from support.npm import NpmPeers
from support.processes import Sim, own_sim, worker_env
from worker.kit import WORKER

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class Difference:
    tool: str
    operation: str  # an operationId the official server offers in `tool` and we do not
    why: str


# Every deliberate difference in the tool surface (this table feeds the README).
DELIBERATE = (
    Difference(
        "events_query",
        "OpenSseConnection",
        # GET /events is a server-sent-events stream that never ends: the official tool can only
        # hang until its 30 s timeout. Its domain has no other GET, so the whole tool goes.
        "GET /events is an endless SSE stream; a tool call would hang until the timeout",
    ),
)

# Arguments we accept beyond the official schema (never fewer): `wait` on actions, and one
# named argument per extra path placeholder, since the official server puts `id` everywhere.
EXTRA_ARGUMENTS = frozenset({"wait", "tag", "userId", "groupId", "subscriptionId", "data_source"})

Surface = list[tuple[str, list[str] | None, dict[str, Any]]]


@pytest.fixture(scope="module")
def real_xo(npm: NpmPeers) -> Iterator[Sim]:
    with own_sim("--spec", str(npm.real_spec)) as server:
        yield server


async def surface(command: list[str], env: dict[str, str]) -> Surface:
    async with stdio_client(command, env, mode=LEGACY) as client:
        tools = (await client.list_tools()).tools
    return [
        (
            tool.name,
            operations(tool) if "operation" in tool.input_schema.get("properties", {}) else None,
            tool.input_schema.get("properties", {}),
        )
        for tool in tools
    ]


def expected_from_official(official: Surface) -> list[tuple[str, list[str] | None]]:
    """The official surface minus the deliberate differences."""
    dropped = {(d.tool, d.operation) for d in DELIBERATE}
    expected = []
    for name, ops, _ in official:
        kept = None if ops is None else [op for op in ops if (name, op) not in dropped]
        if kept != []:
            expected.append((name, kept))
    return expected


def env_for(sim: Sim, **extra: str) -> dict[str, str]:
    return worker_env(sim, NODE_NO_WARNINGS="1", **extra)


@pytest.mark.parametrize("actions", [False, True], ids=["read-only", "actions"])
async def test_same_tools_and_operations(npm: NpmPeers, real_xo: Sim, actions: bool) -> None:
    env = env_for(real_xo, **({"XO_MCP_ENABLE_ACTIONS": "1"} if actions else {}))
    official = await surface(npm.official_server, env)
    ours = await surface(WORKER, env)
    assert [(name, ops) for name, ops, _ in ours] == expected_from_official(official)
    # The facts of the reference: 38 domain tools read-only, 60 with actions, plus 3 utilities.
    assert len(official) == (63 if actions else 41)
    ours_by_name = {name: properties for name, _, properties in ours}
    for name, _, properties in official:
        if name not in ours_by_name:
            continue
        extra = set(ours_by_name[name]) - set(properties)
        assert set(properties) <= set(ours_by_name[name]), name  # a drop-in accepts all of them
        assert extra <= EXTRA_ARGUMENTS, (name, extra)


async def test_the_table_matches_the_official_surface(npm: NpmPeers, real_xo: Sim) -> None:
    # The table must not rot: each entry names an operation the official server does offer.
    official = await surface(npm.official_server, env_for(real_xo))
    offered = {(name, op) for name, ops, _ in official for op in ops or []}
    assert {(d.tool, d.operation) for d in DELIBERATE} <= offered


DENY = "GetVms,DeleteVm,GetSrs,ManagementReconfigure,Ping,GetGuiRoutes,StartVm,CreateVdi"


async def test_deny_list_has_the_same_effect(npm: NpmPeers, real_xo: Sim) -> None:
    env = env_for(real_xo, XO_MCP_ENABLE_ACTIONS="1", XO_MCP_DENY_LIST=DENY)
    official = await surface(npm.official_server, env)
    ours = await surface(WORKER, env)
    assert [(name, ops) for name, ops, _ in ours] == expected_from_official(official)
    names = [name for name, _, _ in ours]
    assert "ping_query" not in names and "gui_routes_query" not in names
    everything = {op for _, ops, _ in ours for op in ops or []}
    assert not everything & set(DENY.split(","))


async def test_deny_by_method_and_path_goes_further(npm: NpmPeers, real_xo: Sim) -> None:
    # Beyond the official server: operationIds are not unique (GetSrs lists /srs AND /sms).
    ours = await surface(WORKER, env_for(real_xo, XO_MCP_DENY_LIST="GET /sms"))
    by_name = {name: ops for name, ops, _ in ours}
    assert "GetSrs" in (by_name["srs_query"] or [])
    assert "GetSrs" not in (by_name["sms_query"] or [])


# get_infrastructure_summary is deliberately not among them: ours counts per type and state and
# names hosts and VMs (see the README), the official one relays three markdown tables.
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("check_connection", {}),
    ("vms_query", {"operation": "GetVms", "limit": 3}),
    ("vms_query", {"operation": "GetVms", "filter": "power_state:Halted", "fields": "name_label"}),
    ("hosts_query", {"operation": "GetHosts"}),
    ("pools_query", {"operation": "GetPools", "fields": "*", "limit": 1}),
    ("srs_query", {"operation": "GetSrs", "limit": 2}),
    ("tasks_query", {"operation": "GetTasks", "limit": 2}),
    ("vms_query", {"operation": "GetVm", "id": "00000000-0000-0000-0000-000000000000"}),
    ("dashboard_query", {"operation": "GetDashboard"}),
]


async def test_same_answers_to_the_same_calls(npm: NpmPeers, real_xo: Sim) -> None:
    vm_id = real_xo.rest("/vms", fields="id", limit="1")[0]["id"]
    calls = [*CALLS, ("vms_query", {"operation": "GetVm", "id": vm_id})]
    env = env_for(real_xo)
    answers: dict[str, list[tuple[str, bool]]] = {}
    for label, command in (("official", npm.official_server), ("ours", WORKER)):
        async with stdio_client(command, env, mode=LEGACY) as client:
            answers[label] = []
            for tool, arguments in calls:
                result = await client.call_tool(tool, arguments)
                answers[label].append((text(result), bool(result.is_error)))
    for call, official, ours in zip(calls, answers["official"], answers["ours"], strict=True):
        assert ours == official, call


async def test_our_descriptions_are_shorter(npm: NpmPeers, real_xo: Sim) -> None:
    # Descriptions may differ (README): ours say what each operation does, its arguments and its
    # privilege in a line, where the official server relays XO's privilege boilerplate.
    env = env_for(real_xo, XO_MCP_ENABLE_ACTIONS="1")
    sizes: dict[str, int] = {}
    for label, command in (("official", npm.official_server), ("ours", WORKER)):
        async with stdio_client(command, env, mode=LEGACY) as client:
            tools = (await client.list_tools()).tools
        sizes[label] = sum(len((tool.description or "").encode()) for tool in tools)
    assert sizes["ours"] < 0.8 * sizes["official"], sizes
