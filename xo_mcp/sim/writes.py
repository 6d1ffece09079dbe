"""Writes that are not actions: create (201 `{id}`), PATCH, DELETE, tags and memberships (204)."""

from __future__ import annotations

import secrets
from typing import Any

from xo_mcp.sim.collections import require
from xo_mcp.sim.errors import XoError, xapi_error
from xo_mcp.sim.exchange import Call, Reply, json_reply, no_content

# PATCH /vms/{id} speaks camelCase; the VM object does not.
_VM_PATCH_KEYS = {
    "nameLabel": "name_label",
    "nameDescription": "name_description",
    "autoPoweron": "auto_poweron",
    "highAvailability": "high_availability",
    "affinityHost": "affinityHost",
    "startDelay": "startDelay",
    "PV_args": "PV_args",
}


def _translate(segment: str, changes: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
    if segment != "vms":
        return {key: value for key, value in changes.items() if key != "password"}
    translated: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "cpus":
            translated["CPUs"] = {**obj.get("CPUs", {}), "number": value}
        elif key == "memoryMax":
            translated["memory"] = {**obj.get("memory", {}), "size": value}
        else:
            translated[_VM_PATCH_KEYS.get(key, key)] = value
    return translated


async def patch_object(call: Call) -> Reply:
    segment = call.route.segment
    obj = require(call, segment, call.id)
    call.state.inventory.patch(segment, call.id, _translate(segment, call.body or {}, obj))
    return no_content()


async def delete_object(call: Call) -> Reply:
    segment = call.route.segment
    obj = require(call, segment, call.id)
    if segment == "vms" and obj.get("power_state") != "Halted":
        raise xapi_error(
            "VM_BAD_POWER_STATE", obj["_xapiRef"], "halted", obj["power_state"].lower()
        )
    if segment == "tasks":
        call.state.tasks.delete(call.id)
    else:
        call.state.inventory.delete(segment, call.id)
    return no_content()


async def delete_tasks(call: Call) -> Reply:
    call.state.tasks.delete_finished()
    return no_content()


async def put_tag(call: Call) -> Reply:
    require(call, call.route.segment, call.id)
    call.state.inventory.add_tag(call.route.segment, call.id, call.path["tag"])
    return no_content()


async def delete_tag(call: Call) -> Reply:
    require(call, call.route.segment, call.id)
    call.state.inventory.remove_tag(call.route.segment, call.id, call.path["tag"])
    return no_content()


def _link(ids: list[str], member: str, present: bool) -> None:
    if present and member not in ids:
        ids.append(member)
    if not present and member in ids:
        ids.remove(member)


async def set_membership(call: Call) -> Reply:
    """PUT/DELETE groups/{id}/users/{userId} and acl-roles/{id}/(users|groups)/{…}."""
    present = call.route.row.method == "PUT"
    segment = call.route.segment
    parent = require(call, segment, call.id)
    if segment == "groups":
        user = require(call, "users", call.path["userId"])
        _link(parent.setdefault("users", []), user["id"], present)
        _link(user.setdefault("groups", []), parent["id"], present)
        return no_content()
    if "userId" in call.path:
        member = require(call, "users", call.path["userId"])
        _link(parent.setdefault("userIds", []), member["id"], present)
    else:
        member = require(call, "groups", call.path["groupId"])
        _link(parent.setdefault("groupIds", []), member["id"], present)
        _link(member.setdefault("aclRoleIds", []), parent["id"], present)
    return no_content()


def _new_object(call: Call, segment: str, body: dict[str, Any]) -> dict[str, Any]:
    inventory = call.state.inventory
    object_id = inventory.new_uuid()
    obj: dict[str, Any] = {"id": object_id}
    if segment == "users":
        obj.update(
            name=body.get("name"),
            email=body.get("name"),
            permission=body.get("permission", "none"),
            groups=[],
            preferences={},
            pw_hash="***obfuscated***",
        )
        return obj
    obj.update({key: value for key, value in body.items() if key != "password"})
    if segment in ("groups",):
        obj.setdefault("users", [])
    if segment == "servers":
        obj.update(status="disconnected", enabled=True, readOnly=body.get("readOnly", False))
    if segment in ("vdis", "vifs", "vbds", "srs"):
        obj.update(uuid=object_id, _xapiRef=f"OpaqueRef:{inventory.new_uuid()}", tags=[])
    return obj


def _attach(call: Call, segment: str, obj: dict[str, Any]) -> None:
    """Keep the links a new VDI, VIF or VBD creates on the objects it belongs to."""
    inventory = call.state.inventory
    if segment == "vdis":
        sr = require(call, "srs", obj.get("srId", ""))
        obj.update(
            type="VDI",
            name_label=obj.get("name_label", "new disk"),
            size=obj.get("virtual_size", 0),
        )
        obj.update({"$SR": sr["id"], "$VBDs": [], "$pool": sr.get("$pool"), "VDI_type": "user"})
        sr.setdefault("VDIs", []).append(obj["id"])
    elif segment == "vifs":
        vm = require(call, "vms", obj.get("vm", obj.get("VM", "")))
        network = require(call, "networks", obj.get("network", ""))
        obj.update({"type": "VIF", "$VM": vm["id"], "$network": network["id"], "attached": False})
        vm.setdefault("VIFs", []).append(obj["id"])
        network.setdefault("VIFs", []).append(obj["id"])
    elif segment == "vbds":
        vm = require(call, "vms", obj.get("VM", ""))
        vdi = require(call, "vdis", obj.get("VDI", ""))
        obj.update(type="VBD", attached=False)
        vm.setdefault("$VBDs", []).append(obj["id"])
        vdi.setdefault("$VBDs", []).append(obj["id"])
    inventory.collection(segment)[obj["id"]] = obj


async def create_object(call: Call) -> Reply:
    segment = call.route.segment
    body = call.body if isinstance(call.body, dict) else {}
    if segment == "users" and "name" in body:
        taken = any(
            u.get("name") == body["name"] for u in call.state.inventory.collection("users").values()
        )
        if taken:
            raise XoError(
                409, "user already exists", {"objectId": body["name"], "objectType": "user"}
            )
    obj = _new_object(call, segment, body)
    _attach(call, segment, obj)
    return json_reply({"id": obj["id"]}, 201)


async def import_content(call: Call) -> Reply:
    """Binary uploads (XVA import into a pool, VDI import into an SR) create an object."""
    inventory = call.state.inventory
    if call.route.segment == "pools":
        pool = require(call, "pools", call.id)
        source = next(
            (
                vm_id
                for vm_id, vm in inventory.collection("vms").items()
                if vm.get("$pool") == pool["id"]
            ),
            None,
        )
        if source is None:
            raise XoError(500, "import failed: empty pool")
        return json_reply({"id": inventory.clone_vm(source, "imported VM")}, 201)
    sr = require(call, "srs", call.id)
    name = call.arg("name_label") or "imported disk"
    obj = {
        "id": inventory.new_uuid(),
        "srId": sr["id"],
        "name_label": name,
        "virtual_size": len(call.body or b""),
    }
    _attach(call, "vdis", obj)
    return json_reply({"id": obj["id"]}, 201)


async def create_token(call: Call) -> Reply:
    if call.route.row.path != "/users/authentication_tokens":
        require(call, "users", call.id)
    token = secrets.token_urlsafe(32)
    call.state.credentials.tokens.add(token)
    body = call.body if isinstance(call.body, dict) else {}
    now = int(call.state.started_at * 1000)
    return json_reply(
        {
            "token": {
                "client": body.get("client", {}),
                "created_at": now,
                "description": body.get("description", ""),
                "id": token,
                "user_id": call.state.admin["id"],
                "expiration": now + 30 * 86_400_000,
            }
        },
        201,
    )
