"""Tasks as an assistant does them: each one scripted as the calls a careful model would make,
and what every answer must hold for the next call.

Nothing but the user's own words (a VM's name, a pool's name, an instance) is known beforehand:
ids, states and tokens are parsed from the answers, and a task fails where an answer does not
hold what the next step needs. The same scripts run on the fleet's aggregated surface and on one
official server per instance (support/assistants.py): tests/gateway/test_assistant_tasks.py runs
them on the fleet, bench/assistant_tasks.py on both, counting calls and bytes per task.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from support.assistants import TOKEN, Assistant, body_keys, finished, nearest_in, one, table
from support.processes import Sim


def _quoted(name: str) -> str:
    return f'name_label:"{name}"'


@dataclass(frozen=True)
class World:
    """What the user knows and says: the instances, and the infrastructure as they see it (the
    simulators, read directly, stand in for the user's own knowledge of names)."""

    sims: Mapping[str, Sim]
    acting: str  # an instance where actions are on
    other: str  # another one

    def vm(self, instance: str, state: str, skip: int = 0) -> str:
        vms = self.sims[instance].rest("/vms", fields="name_label,power_state")
        names = [vm["name_label"] for vm in vms if vm["power_state"] == state]
        return str(names[skip])


async def _find_vm(a: Assistant, instance: str, name: str) -> dict[str, Any]:
    answer = await a.call(
        "vms_query",
        {"operation": "GetVms", "filter": _quoted(name), "fields": "id,name_label,power_state"},
        instance,
    )
    assert not answer.is_error, answer.text
    return one(table(answer.text), name_label=name)


async def _vm(a: Assistant, instance: str, vm_id: str) -> dict[str, Any]:
    answer = await a.call("vms_query", {"operation": "GetVm", "id": vm_id}, instance)
    assert not answer.is_error, answer.text
    found: dict[str, Any] = json.loads(answer.text)
    return found


async def start_a_vm_by_name(a: Assistant, world: World) -> None:
    """ "Start <vm> on <instance>": find it by name, start it (confirmed), check it runs."""
    name = world.vm(world.acting, "Halted")
    vm = await _find_vm(a, world.acting, name)
    assert vm["power_state"] == "Halted"
    started = await a.run("vms_action", {"operation": "StartVm", "id": vm["id"]}, world.acting)
    finished(started)
    if a.asked:  # a human confirmed: they saw the VM by name and its state
        assert name in a.asked[-1] and "Halted" in a.asked[-1]
    assert (await _vm(a, world.acting, vm["id"]))["power_state"] == "Running"


async def snapshot_before_an_upgrade(a: Assistant, world: World) -> None:
    """ "Snapshot <vm> before I upgrade it": learn the body, snapshot, find the snapshot."""
    name = world.vm(world.acting, "Running")
    described = await a.describe("SnapshotVm")
    if described is not None:
        assert "name_label" in body_keys(described.text)[1]
    vm = await _find_vm(a, world.acting, name)
    label = f"{name} before upgrade"
    body = {"name_label": label}
    done = await a.run(
        "vms_action", {"operation": "SnapshotVm", "id": vm["id"], "body": body}, world.acting
    )
    task = finished(done)
    answer = await a.call(
        "vm_snapshots_query",
        {"operation": "GetVmSnapshots", "filter": _quoted(label), "fields": "id,$snapshot_of"},
        world.acting,
    )
    snapshot = one(table(answer.text))
    assert snapshot["$snapshot_of"] == vm["id"]
    assert snapshot["id"] in json.dumps(task.get("result"))


async def hosts_short_of_memory(a: Assistant, world: World) -> None:
    """ "Which hosts are short of memory?": every host of every instance, least free first."""
    free: list[tuple[float, str, str]] = []
    for instance in a.instances:
        answer = await a.call(
            "hosts_query",
            {"operation": "GetHosts", "fields": "id,name_label,memory"},
            instance,
        )
        rows = table(answer.text)
        assert len(rows) == len(world.sims[instance].rest("/hosts", fields="id"))
        for row in rows:
            memory = row["memory"]
            free.append((1 - memory["usage"] / memory["size"], instance, row["name_label"]))
    free.sort()
    _, instance, tightest = free[0]
    truth = world.sims[instance].rest("/hosts", fields="name_label,memory")
    least = min(truth, key=lambda host: 1 - host["memory"]["usage"] / host["memory"]["size"])
    assert least["name_label"] == tightest


async def halted_vms_in_a_pool(a: Assistant, world: World) -> None:
    """ "Which VMs are halted in pool <pool>?": the pool's id by name, then one filter."""
    pool_name = world.sims[world.acting].rest("/pools", fields="name_label")[0]["name_label"]
    answer = await a.call(
        "pools_query",
        {"operation": "GetPools", "filter": _quoted(pool_name), "fields": "id,name_label"},
        world.acting,
    )
    pool = one(table(answer.text), name_label=pool_name)
    answer = await a.call(
        "vms_query",
        {
            "operation": "GetVms",
            "filter": f"power_state:Halted $pool:{pool['id']}",
            "fields": "name_label,power_state,$pool",
        },
        world.acting,
    )
    rows = table(answer.text)
    assert all(row["power_state"] == "Halted" and row["$pool"] == pool["id"] for row in rows)
    truth = world.sims[world.acting].rest("/vms", fields="name_label,power_state,$pool")
    expected = {
        vm["name_label"]
        for vm in truth
        if vm["power_state"] == "Halted" and vm["$pool"] == pool["id"]
    }
    assert {row["name_label"] for row in rows} == expected


async def tag_every_matching_vm(a: Assistant, world: World) -> None:
    """ "Tag every web VM with frontend": list by filter, tag each (confirmed), check."""
    answer = await a.call(
        "vms_query",
        {"operation": "GetVms", "filter": "name_label:web*", "fields": "id,name_label"},
        world.other,
    )
    targets = {row["id"] for row in table(answer.text)}
    assert targets
    for vm_id in targets:
        tagged = await a.act(
            "vms_action", {"operation": "PutVmTag", "id": vm_id, "tag": "frontend"}, world.other
        )
        assert not tagged.is_error, tagged.text
    answer = await a.call(
        "vms_query", {"operation": "GetVms", "filter": "tags:frontend", "fields": "id"}, world.other
    )
    tagged_now = {row["id"] for row in table(answer.text)}
    assert tagged_now == targets, f"tagged {len(tagged_now)} of {len(targets)}: {answer.text}"


async def follow_a_long_action(a: Assistant, world: World) -> None:
    """ "Reboot <vm> and tell me when it is back": the action's task followed to its end."""
    name = world.vm(world.other, "Running")
    vm = await _find_vm(a, world.other, name)
    done = await a.run("vms_action", {"operation": "CleanRebootVm", "id": vm["id"]}, world.other)
    finished(done)
    assert (await _vm(a, world.other, vm["id"]))["power_state"] == "Running"


async def recover_from_a_typo(a: Assistant, world: World) -> None:
    """A mistyped operation: the error names the right one, the second try works."""
    name = world.vm(world.acting, "Running")
    vm = await _find_vm(a, world.acting, name)
    typo = "SuspendVM"
    wrong = await a.act("vms_action", {"operation": typo, "id": vm["id"]}, world.acting)
    assert wrong.is_error
    right = nearest_in(wrong.text, typo)
    assert right == "SuspendVm", wrong.text
    done = await a.run("vms_action", {"operation": right, "id": vm["id"]}, world.acting)
    finished(done)
    assert (await _vm(a, world.acting, vm["id"]))["power_state"] == "Suspended"


ISSUED_BY = re.compile(r"issued by instance '([^']+)'")


async def a_token_sent_to_the_wrong_instance(a: Assistant, world: World) -> None:
    """No human to ask: the model echoes the token, to the wrong instance first; the error
    tells it where the token belongs (the official one only that it is invalid there)."""
    name = world.vm(world.acting, "Running")
    vm = await _find_vm(a, world.acting, name)
    arguments = {"operation": "PauseVm", "id": vm["id"]}
    preview = await a.call("vms_action", arguments, world.acting)
    token = TOKEN.search(preview.text)
    assert token is not None, preview.text
    confirmed = {**arguments, "confirm_token": token.group(1)}
    wrong = await a.call("vms_action", confirmed, world.other)
    assert wrong.is_error
    owner = ISSUED_BY.search(wrong.text)
    # The official servers cannot say whose token it is: the model has to remember.
    retry_on = owner.group(1) if owner else world.acting
    assert retry_on == world.acting
    done = await a.follow(await a.call("vms_action", a.waiting(confirmed), retry_on), retry_on)
    assert not done.is_error, done.text
    assert (await _vm(a, world.acting, vm["id"]))["power_state"] == "Paused"


async def discover_arguments_then_migrate(a: Assistant, world: World) -> None:
    """ "Move <vm> to host <host>": what MigrateVm needs, the host's id, then the move."""
    sim = world.sims[world.other]
    vms = sim.rest("/vms", fields="name_label,power_state,$container,$pool")
    hosts = sim.rest("/hosts", fields="id,name_label,$pool")
    vm_row = next(
        vm
        for vm in vms
        if vm["power_state"] == "Running"
        and any(h["$pool"] == vm["$pool"] and h["id"] != vm["$container"] for h in hosts)
    )
    host_name = next(
        h["name_label"]
        for h in hosts
        if h["$pool"] == vm_row["$pool"] and h["id"] != vm_row["$container"]
    )
    described = await a.describe("MigrateVm")
    if described is not None:
        required, _ = body_keys(described.text)
        assert required == {"hostId"}, described.text
    answer = await a.call(
        "hosts_query",
        {"operation": "GetHosts", "filter": _quoted(host_name), "fields": "id,name_label"},
        world.other,
    )
    host = one(table(answer.text), name_label=host_name)
    vm = await _find_vm(a, world.other, vm_row["name_label"])
    done = await a.run(
        "vms_action",
        {"operation": "MigrateVm", "id": vm["id"], "body": {"hostId": host["id"]}},
        world.other,
    )
    finished(done)
    assert (await _vm(a, world.other, vm["id"]))["$container"] == host["id"]


VMS_COUNT = re.compile(r"^- VMs: (\d+)", re.M)


def _vm_count(summary: str) -> int:
    """Ours counts them; the official summary lists them in its last table."""
    counted = VMS_COUNT.search(summary)
    if counted:
        return int(counted.group(1))
    return len(table(summary.split("## VMs", 1)[1]))


async def an_overview_of_every_instance(a: Assistant, world: World) -> None:
    """ "Give me an overview of all my XOs": every instance's pools, hosts and VMs."""
    summaries = await a.fleet_wide("get_infrastructure_summary")
    assert set(summaries) == set(a.instances)
    for instance, summary in summaries.items():
        vms = world.sims[instance].rest("/vms", fields="id")
        assert _vm_count(summary) == len(vms), (instance, summary[:400])


Task = Callable[[Assistant, World], Awaitable[None]]
TASKS: dict[str, Task] = {
    "start a VM by name (confirmed)": start_a_vm_by_name,
    "snapshot before an upgrade": snapshot_before_an_upgrade,
    "hosts short of memory": hosts_short_of_memory,
    "halted VMs in a pool": halted_vms_in_a_pool,
    "tag every VM matching a filter": tag_every_matching_vm,
    "follow a long action to its end": follow_a_long_action,
    "recover from a typo in an operation": recover_from_a_typo,
    "a token sent to the wrong instance": a_token_sent_to_the_wrong_instance,
    "discover arguments, then migrate": discover_arguments_then_migrate,
    "an overview of every instance": an_overview_of_every_instance,
}
# Tasks that need a client without elicitation (the model handles the confirm token itself).
WITHOUT_A_HUMAN = frozenset({"a token sent to the wrong instance"})
