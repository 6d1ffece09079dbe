"""`POST /{collection}/{id}/actions/{name}`: every action runs in a task that changes the inventory.

Async (the default) answers 202 with the task id; `?sync=true` waits and answers 204, 201 `{id}`
for creating actions, or 200 with a document (VDI migration, benchmarks).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from xo_mcp.sim.collections import href, require
from xo_mcp.sim.errors import XoError, invalid_parameters_text, no_such_object, xapi_error
from xo_mcp.sim.exchange import BASE, Call, Reply, json_reply, no_content
from xo_mcp.sim.inventory import XO_TYPES

Effect = Callable[[Call], Awaitable[Any]]

# Power-state transitions: action -> (states it accepts, state it leaves).
_VM_POWER = {
    "start": (("Halted",), "Running"),
    "clean_shutdown": (("Running",), "Halted"),
    "hard_shutdown": (("Running", "Paused", "Suspended"), "Halted"),
    "clean_reboot": (("Running",), "Running"),
    "hard_reboot": (("Running", "Paused"), "Running"),
    "pause": (("Running",), "Paused"),
    "unpause": (("Paused",), "Running"),
    "suspend": (("Running",), "Suspended"),
    "resume": (("Suspended",), "Running"),
}

# Task names as XO words them where they differ from "<action> <type>".
_TASK_NAMES = {
    ("vms", "revert_snapshot"): "revert VM snapshot",
    ("vms", "migrate"): "Migrate VM",
    ("pools", "create_vm"): "create VM",
    ("pools", "create_network"): "create network",
    ("pools", "create_bonded_network"): "create bonded network",
    ("pools", "create_internal_network"): "create internal network",
    ("pools", "rolling_reboot"): "rolling pool reboot",
    ("pools", "rolling_update"): "rolling pool update",
    ("tasks", "abort"): "abort task",
    ("vdis", "migrate"): "migrate VDI",
}

# Creating actions answer 201 {id} when synchronous; snapshot and clone add a Location.
_CREATES = {
    ("vms", "snapshot"): "vm-snapshots",
    ("vms", "clone"): "vms",
    ("pools", "create_vm"): None,
    ("pools", "create_network"): None,
    ("pools", "create_bonded_network"): None,
    ("pools", "create_internal_network"): None,
    ("acl-roles", "copy"): None,
}
# Actions that answer 200 with their result when synchronous.
_DOCUMENTS = {("vdis", "migrate"), ("backup-repositories", "benchmark")}


def _vm_power(action: str) -> Effect:
    accepted, final = _VM_POWER[action]

    async def effect(call: Call) -> None:
        vm = require(call, "vms", call.id)
        state = vm["power_state"]
        if state not in accepted:
            raise xapi_error(
                "VM_BAD_POWER_STATE", vm["_xapiRef"], accepted[0].lower(), state.lower()
            )
        host_id = (call.body or {}).get("hostId") if action == "start" else None
        if host_id is not None:
            require(call, "hosts", host_id)
        call.state.inventory.set_power_state(call.id, final, host_id)
        if action in ("clean_reboot", "hard_reboot"):
            vm["startTime"] = int(time.time())

    return effect


async def _snapshot(call: Call) -> dict[str, str]:
    require(call, "vms", call.id)
    name = (call.body or {}).get("name_label")
    return {"id": call.state.inventory.snapshot_vm(call.id, name)}


async def _clone(call: Call) -> dict[str, str]:
    require(call, "vms", call.id)
    name = (call.body or {}).get("name_label")
    return {"id": call.state.inventory.clone_vm(call.id, name)}


async def _revert(call: Call) -> None:
    snapshot_id = (call.body or {}).get("snapshotId", "")
    require(call, "vm-snapshots", snapshot_id)
    try:
        call.state.inventory.revert_snapshot(call.id, snapshot_id)
    except ValueError:
        raise invalid_parameters_text(
            f"snapshot {snapshot_id} does not belong to VM {call.id}"
        ) from None


async def _migrate_vm(call: Call) -> None:
    vm = require(call, "vms", call.id)
    host_id = (call.body or {}).get("hostId", "")
    require(call, "hosts", host_id)
    if vm["power_state"] == "Running":
        call.state.inventory.set_power_state(call.id, "Running", host_id)


async def _create_vm(call: Call) -> dict[str, str]:
    body = call.body or {}
    template_id = body.get("template", "")
    if template_id not in call.state.inventory.collection("vm-templates"):
        raise no_such_object(template_id, "VM-template")
    return {"id": call.state.inventory.clone_vm(template_id, body.get("name_label"))}


async def _create_network(call: Call) -> dict[str, str]:
    require(call, "pools", call.id)
    body = call.body or {}
    bonded = call.route.row.path.endswith("create_bonded_network")
    name = str(body.get("name", "new network"))
    network_id = call.state.inventory.create_network(
        call.id, name, mtu=int(body.get("mtu", 1500)), bonded=bonded
    )
    return {"id": network_id}


def _toggle(segment: str, key: str, value: Any) -> Effect:
    async def effect(call: Call) -> None:
        require(call, segment, call.id)[key] = value

    return effect


async def _host_start(call: Call) -> None:
    host = require(call, "hosts", call.id)
    if host["power_state"] == "Running":
        raise xapi_error("HOST_IS_LIVE", host["_xapiRef"])
    host["power_state"] = "Running"


async def _host_stop(call: Call) -> None:
    require(call, "hosts", call.id)["power_state"] = "Halted"


async def _pool_emergency_shutdown(call: Call) -> None:
    pool = require(call, "pools", call.id)
    inventory = call.state.inventory
    for vm_id, vm in list(inventory.collection("vms").items()):
        if vm.get("$pool") == pool["id"] and vm["power_state"] != "Halted":
            inventory.set_power_state(vm_id, "Halted")


async def _migrate_vdi(call: Call) -> dict[str, str]:
    vdi = require(call, "vdis", call.id)
    sr_id = (call.body or {}).get("srId", "")
    target = require(call, "srs", sr_id)
    source = call.state.inventory.get("srs", vdi["$SR"])
    if source is not None and call.id in source.get("VDIs", []):
        source["VDIs"].remove(call.id)
    target.setdefault("VDIs", []).append(call.id)
    vdi["$SR"] = sr_id
    return {"id": call.id}


async def _benchmark(call: Call) -> dict[str, Any]:
    require(call, "backup-repositories", call.id)
    return {"success": True, "readRate": 7_999_965, "writeRate": 7_767_798}


async def _forget(call: Call) -> None:
    require(call, call.route.segment, call.id)
    call.state.inventory.delete(call.route.segment, call.id)


async def _abort_task(call: Call) -> None:
    call.state.tasks.abort(call.id)


async def _copy_role(call: Call) -> dict[str, str]:
    require(call, "acl-roles", call.id)
    name = (call.body or {}).get("name")
    return {"id": call.state.inventory.copy_role(call.id, name)}


async def _nothing(call: Call) -> None:
    require(call, call.route.segment, call.id)


EFFECTS: dict[tuple[str, str], Effect] = {
    **{("vms", action): _vm_power(action) for action in _VM_POWER},
    ("vms", "snapshot"): _snapshot,
    ("vms", "clone"): _clone,
    ("vms", "revert_snapshot"): _revert,
    ("vms", "migrate"): _migrate_vm,
    ("hosts", "enable"): _toggle("hosts", "enabled", True),
    ("hosts", "disable"): _toggle("hosts", "enabled", False),
    ("hosts", "start"): _host_start,
    ("hosts", "clean_shutdown"): _host_stop,
    ("hosts", "emergency_shutdown"): _host_stop,
    ("pools", "create_vm"): _create_vm,
    ("pools", "create_network"): _create_network,
    ("pools", "create_bonded_network"): _create_network,
    ("pools", "create_internal_network"): _create_network,
    ("pools", "emergency_shutdown"): _pool_emergency_shutdown,
    ("pbds", "plug"): _toggle("pbds", "attached", True),
    ("pbds", "unplug"): _toggle("pbds", "attached", False),
    ("vbds", "connect"): _toggle("vbds", "attached", True),
    ("vbds", "disconnect"): _toggle("vbds", "attached", False),
    ("vifs", "connect"): _toggle("vifs", "attached", True),
    ("vifs", "disconnect"): _toggle("vifs", "attached", False),
    ("servers", "connect"): _toggle("servers", "status", "connected"),
    ("servers", "disconnect"): _toggle("servers", "status", "disconnected"),
    ("srs", "forget"): _forget,
    ("vdis", "migrate"): _migrate_vdi,
    ("backup-repositories", "benchmark"): _benchmark,
    ("backup-repositories", "forget"): _forget,
    ("tasks", "abort"): _abort_task,
    ("acl-roles", "copy"): _copy_role,
}


def _task_properties(call: Call, segment: str, action: str) -> dict[str, Any]:
    xo_type = XO_TYPES.get(segment, segment)
    name = _TASK_NAMES.get((segment, action), f"{action.replace('_', ' ')} {xo_type}")
    properties: dict[str, Any] = {}
    if call.body:
        properties["params"] = call.body
    properties.update(
        {
            "objectType": xo_type,
            "name": f"REST API: {name}",
            "objectId": call.id,
            "userId": call.state.admin["id"],
            "type": "xo:rest-api:action",
        }
    )
    return properties


def _sync_reply(segment: str, action: str, result: Any) -> Reply:
    key = (segment, action)
    if key in _DOCUMENTS:
        return json_reply(result)
    if key in _CREATES:
        target = _CREATES[key]
        headers = {"Location": href(target, result["id"])} if target else {}
        return json_reply(result, 201, headers)
    return no_content()


async def run_action(call: Call) -> Reply:
    segment = call.route.segment
    action = call.route.row.path.rsplit("/", 1)[1]
    # XO resolves the target before starting the task: a bad id is a 404 in both modes.
    require(call, segment, call.id)
    effect = EFFECTS.get((segment, action), _nothing)
    # Aborting only signals the target task: it takes no time of its own.
    delay = 0.0 if (segment, action) == ("tasks", "abort") else None
    properties = _task_properties(call, segment, action)
    task = call.state.tasks.start(properties, lambda: effect(call), delay_s=delay)
    if not call.bool_arg("sync"):
        location = f"{BASE}/tasks/{task['id']}"
        return json_reply({"taskId": task["id"]}, 202, {"Location": location})
    finished = await call.state.tasks.wait(task["id"])
    if finished["status"] == "failure":
        error = call.state.tasks.error_of(task["id"])
        if isinstance(error, XoError):
            raise error
        raise XoError(500, finished.get("result", {}).get("message", "action failed"))
    return _sync_reply(segment, action, finished.get("result"))
