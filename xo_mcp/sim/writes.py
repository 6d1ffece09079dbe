"""Writes that are not actions: create (201 `{id}`), PATCH, DELETE, tags and memberships (204)."""

from __future__ import annotations

import copy
import re
import secrets
from collections.abc import Callable
from typing import Any

from xo_mcp.sim.collections import require
from xo_mcp.sim.errors import XoError, forbidden_operation, invalid_parameters_text
from xo_mcp.sim.exchange import Call, Reply, json_reply, no_content

# PATCH /vms/{id} speaks camelCase; the VM object does not.
_VM_RENAMES = {
    "nameLabel": "name_label",
    "nameDescription": "name_description",
    "autoPoweron": "auto_poweron",
    "highAvailability": "high_availability",
    "nestedVirt": "isNestedVirtEnabled",
}
# Body keys that change no property the VM object shows.
_VM_INVISIBLE = frozenset({"uefiMode", "share"})


def _reason(value: Any) -> str:
    # XAPI keeps blocked operations as strings; `true` blocks without a reason.
    return "true" if value is True else str(value)


_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtp]?)i?b?\s*", re.IGNORECASE)


def _size(value: Any) -> int:
    """A byte count given as a number or as text such as "4GiB" (XO accepts both)."""
    if not isinstance(value, str):
        return int(value)
    found = _SIZE.fullmatch(value)
    if found is None:
        raise invalid_parameters_text(f"invalid size: {value}")
    power = " kmgtp".index(found.group(2).lower() or " ")
    return int(float(found.group(1)) * 1024**power)


def _vm_memory(memory: dict[str, Any], key: str, value: Any) -> None:
    value = _size(value)
    if key in ("memory", "memoryMax"):
        memory["size"] = value
        memory["dynamic"][1] = value
    elif key == "memoryMin":
        memory["dynamic"][0] = value
    else:
        memory["static"][1] = value


def _vm_changes(changes: dict[str, Any], vm: dict[str, Any]) -> dict[str, Any]:
    """The VM properties a PATCH body changes (copies: nothing is changed before validation)."""
    result: dict[str, Any] = {}
    cpus, memory = dict(vm["CPUs"]), copy.deepcopy(vm["memory"])
    for key, value in changes.items():
        if key in _VM_INVISIBLE:
            continue
        if key in ("cpus", "cpusStaticMax"):
            cpus["number" if key == "cpus" else "max"] = int(_size(value))
            result["CPUs"] = cpus
        elif key in ("memory", "memoryMax", "memoryMin", "memoryStaticMax"):
            _vm_memory(memory, key, value)
            result["memory"] = memory
        elif key == "hvmBootFirmware":
            result["boot"] = {**vm.get("boot", {}), "firmware": value}
        elif key == "creation":
            result["creation"] = {**vm.get("creation", {}), **value}
        elif key == "blockedOperations":
            blocked = {**vm.get("blockedOperations", {}), **value}
            result[key] = {op: _reason(r) for op, r in blocked.items() if r is not None}
        else:
            result[_VM_RENAMES.get(key, key)] = value
    return result


def _translate(segment: str, changes: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
    if segment == "vms":
        return _vm_changes(changes, obj)
    # Passwords are write-only: XO stores a hash and shows it obfuscated.
    return {key: value for key, value in changes.items() if key != "password"}


async def patch_object(call: Call) -> Reply:
    segment = call.route.segment
    obj = require(call, segment, call.id)
    call.state.inventory.patch(segment, call.id, _translate(segment, call.body or {}, obj))
    return no_content()


def _check_destroyable(obj: dict[str, Any]) -> None:
    """XO's VM destruction refuses blocked and default-template VMs (it never asks XAPI)."""
    blocked = obj.get("blockedOperations") or {}
    if "destroy" in blocked:
        raise forbidden_operation("destroy", blocked["destroy"])
    if obj.get("isDefaultTemplate"):
        raise forbidden_operation("destroy", "VM is default template")


async def delete_object(call: Call) -> Reply:
    segment = call.route.segment
    obj = require(call, segment, call.id)
    if segment in ("vms", "vm-templates", "vm-snapshots"):
        _check_destroyable(obj)
    if segment == "vms" and obj["power_state"] != "Halted":
        # XO hard-shuts a VM down before destroying it, so its disks can go too.
        call.state.inventory.set_power_state(call.id, "Halted")
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


def _new_vdi(call: Call, body: dict[str, Any]) -> str:
    require(call, "srs", body["srId"])
    extra = {key: body.get(key) for key in ("name_description", "tags", "type", "other_config")}
    return call.state.inventory.create_vdi(
        body["srId"], body.get("name_label", ""), int(body["virtual_size"]), **extra
    )


def _new_vif(call: Call, body: dict[str, Any]) -> str:
    require(call, "vms", body["vmId"])
    require(call, "networks", body["networkId"])
    return call.state.inventory.create_vif(body["vmId"], body["networkId"], body.get("MAC"))


def _new_vbd(call: Call, body: dict[str, Any]) -> str:
    require(call, "vms", body["VM"])
    require(call, "vdis", body["VDI"])
    return call.state.inventory.create_vbd(
        body["VM"], body["VDI"], bootable=bool(body.get("bootable")), cd=body.get("type") == "CD"
    )


def _new_sr(call: Call, body: dict[str, Any]) -> str:
    require(call, "hosts", body["hostId"])
    extra = {key: body.get(key) for key in ("name_description", "size", "device_config")}
    return call.state.inventory.create_sr(
        body["hostId"], body["name_label"], body["SR_type"], **extra
    )


def _new_user(call: Call, body: dict[str, Any]) -> str:
    users = call.state.inventory.collection("users").values()
    if any(user.get("name") == body["name"] for user in users):
        raise XoError(409, "user already exists", {"objectId": body["name"], "objectType": "user"})
    return call.state.inventory.create_user(body["name"], body.get("permission", "none"))


def _new_server(call: Call, body: dict[str, Any]) -> str:
    options = {key: body[key] for key in ("label", "allowUnauthorized", "readOnly") if key in body}
    return call.state.inventory.create_server(body["host"], body["username"], **options)


def _new_privilege(call: Call, body: dict[str, Any]) -> str:
    require(call, "acl-roles", body["roleId"])
    fields = {key: value for key, value in body.items() if key != "roleId"}
    return call.state.inventory.create_privilege(body["roleId"], **fields)


_CREATORS: dict[str, Callable[[Call, dict[str, Any]], str]] = {
    "vdis": _new_vdi,
    "vifs": _new_vif,
    "vbds": _new_vbd,
    "srs": _new_sr,
    "users": _new_user,
    "servers": _new_server,
    "acl-privileges": _new_privilege,
    "groups": lambda call, body: call.state.inventory.create_group(body["name"]),
    "acl-roles": lambda call, body: call.state.inventory.create_role(
        body["name"], body.get("description", "")
    ),
    "backup-repositories": lambda call, body: call.state.inventory.create_repository(
        body["name"], body["url"], body.get("proxy")
    ),
}


async def create_object(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else {}
    object_id = _CREATORS[call.route.segment](call, body)
    return json_reply({"id": object_id}, 201)


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
    size = len(call.body or b"")
    description = call.arg("name_description")
    object_id = inventory.create_vdi(sr["id"], name, size, name_description=description)
    return json_reply({"id": object_id}, 201)


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
