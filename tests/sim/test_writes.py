"""Writes that are not actions, and body validation, in process (fact sheet §1.3, §4, §7)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.anyio


def some(xo: Any, segment: str, **where: Any) -> dict[str, Any]:
    objects = xo.state.inventory.collection(segment).values()
    return next(o for o in objects if all(o.get(k) == v for k, v in where.items()))


def excess(name: str, where: str = "body") -> dict[str, Any]:
    return {
        f"{where}.{name}": {
            "message": f'"{name}" is an excess property and therefore is not allowed',
            "value": name,
        }
    }


async def send(xo: Any, method: str, path: str, body: Any = None):
    return await xo.request(method, path, json=body)


# ------------------------------------------------------------------ PATCH


async def test_patching_a_vm_translates_its_camel_case_body(xo) -> None:
    vm = some(xo, "vms")
    body = {"nameLabel": "renamed", "cpus": 3, "memoryMax": 2**31, "autoPoweron": True}
    response = await send(xo, "PATCH", f"/vms/{vm['id']}", body)
    assert response.status_code == 204
    assert response.content == b""
    patched = await xo.json(f"/vms/{vm['id']}")
    assert patched["name_label"] == "renamed"
    assert patched["CPUs"]["number"] == 3
    assert patched["memory"]["size"] == 2**31
    assert patched["auto_poweron"] is True
    assert "nameLabel" not in patched


async def test_vm_sizes_may_be_given_as_text(xo) -> None:
    vm = some(xo, "vms")
    body = {"memory": "4GiB", "cpusStaticMax": "8"}
    assert (await send(xo, "PATCH", f"/vms/{vm['id']}", body)).status_code == 204
    patched = await xo.json(f"/vms/{vm['id']}")
    assert (patched["memory"]["size"], patched["CPUs"]["max"]) == (4 * 2**30, 8)
    bad = await send(xo, "PATCH", f"/vms/{vm['id']}", {"memory": "lots"})
    assert bad.status_code == 422
    assert bad.json() == {"error": "invalid size: lots", "data": {}}


async def test_patching_a_vdi_uses_snake_case(xo) -> None:
    vdi = some(xo, "vdis")
    body = {"name_label": "data", "name_description": "kept"}
    assert (await send(xo, "PATCH", f"/vdis/{vdi['id']}", body)).status_code == 204
    patched = await xo.json(f"/vdis/{vdi['id']}")
    assert (patched["name_label"], patched["name_description"]) == ("data", "kept")


async def test_a_patch_body_with_a_wrong_type_or_an_extra_key_is_a_422(xo) -> None:
    vdi = some(xo, "vdis")
    response = await send(xo, "PATCH", f"/vdis/{vdi['id']}", {"name_label": 1, "foo": "x"})
    assert response.status_code == 422
    assert response.json() == {
        "error": {
            "body.name_label": {"message": "invalid string value", "value": 1},
            **excess("foo"),
        },
        "data": {},
    }
    assert (await xo.json(f"/vdis/{vdi['id']}"))["name_label"] == vdi["name_label"]


async def test_nested_body_errors_name_their_path(xo) -> None:
    vm = some(xo, "vms")
    response = await send(xo, "PATCH", f"/vms/{vm['id']}", {"tags": ["ok", 7], "vga": "vesa"})
    assert response.status_code == 422
    assert response.json()["error"] == {
        "body.tags.$1": {"message": "invalid string value", "value": 7},
        "body.vga": {
            "message": "should be one of the following; ['std','cirrus']",
            "value": "vesa",
        },
    }


async def test_a_required_body_that_is_missing_is_a_422(xo) -> None:
    vdi = some(xo, "vdis")
    response = await xo.request("PATCH", f"/vdis/{vdi['id']}")
    assert response.status_code == 422
    assert response.json() == {"error": {"body": {"message": "'body' is required"}}, "data": {}}


async def test_a_body_that_is_no_object_is_a_422(xo) -> None:
    vm = some(xo, "vms", power_state="Halted")
    response = await send(xo, "POST", f"/vms/{vm['id']}/actions/start", ["x"])
    assert response.status_code == 422
    assert response.json() == {
        "error": {"body": {"message": "invalid object", "value": ["x"]}},
        "data": {},
    }


async def test_a_non_string_id_in_a_body_is_a_422(xo) -> None:
    vm = some(xo, "vms", power_state="Halted")
    response = await send(xo, "POST", f"/vms/{vm['id']}/actions/start", {"hostId": 123})
    assert response.status_code == 422
    assert response.json() == {
        "error": {"body.hostId": {"message": "invalid string value", "value": 123}},
        "data": {},
    }


async def test_a_union_body_that_matches_no_member_is_reported_as_such(xo) -> None:
    host = some(xo, "hosts")
    response = await send(xo, "POST", f"/hosts/{host['id']}/actions/disable", {"evacuate": 3})
    assert response.status_code == 422
    assert response.json()["error"] == {
        "body": {"message": "Value does not match any allowed schema", "value": {"evacuate": 3}}
    }


# ------------------------------------------------------------------ DELETE


async def test_deleting_a_running_vm_shuts_it_down_first(xo) -> None:
    vm = some(xo, "vms", power_state="Running")
    host = vm["$container"]
    assert (await send(xo, "DELETE", f"/vms/{vm['id']}")).status_code == 204
    assert (await xo.get(f"/vms/{vm['id']}")).status_code == 404
    assert vm["id"] not in (await xo.json(f"/hosts/{host}"))["residentVms"]


async def test_default_templates_and_blocked_vms_cannot_be_destroyed(xo) -> None:
    template = some(xo, "vm-templates", isDefaultTemplate=True)
    response = await send(xo, "DELETE", f"/vm-templates/{template['id']}")
    assert response.status_code == 403
    assert response.json() == {
        "error": "forbidden operation: destroy",
        "data": {"operation": "destroy", "reason": "VM is default template"},
    }
    vm = some(xo, "vms", power_state="Halted")
    blocked = {"blockedOperations": {"destroy": "protected"}}
    assert (await send(xo, "PATCH", f"/vms/{vm['id']}", blocked)).status_code == 204
    refused = await send(xo, "DELETE", f"/vms/{vm['id']}")
    assert refused.status_code == 403
    assert refused.json()["data"] == {"operation": "destroy", "reason": "protected"}
    unblock = {"blockedOperations": {"destroy": None}}
    assert (await send(xo, "PATCH", f"/vms/{vm['id']}", unblock)).status_code == 204
    assert (await send(xo, "DELETE", f"/vms/{vm['id']}")).status_code == 204


async def test_deleting_a_halted_vm_removes_it_and_its_devices(xo) -> None:
    vm = some(xo, "vms", power_state="Halted")
    response = await send(xo, "DELETE", f"/vms/{vm['id']}")
    assert response.status_code == 204
    assert (await xo.get(f"/vms/{vm['id']}")).status_code == 404
    assert f"/rest/v0/vms/{vm['id']}" not in await xo.json("/vms")
    for vbd in vm["$VBDs"]:
        assert (await xo.get(f"/vbds/{vbd}")).status_code == 404
    for vif in vm["VIFs"]:
        assert (await xo.get(f"/vifs/{vif}")).status_code == 404


async def test_deleting_an_unknown_object_is_a_404(xo) -> None:
    response = await send(xo, "DELETE", "/networks/nope")
    assert response.status_code == 404
    assert response.json() == {
        "error": "no such network nope",
        "data": {"id": "nope", "type": "network"},
    }


# ------------------------------------------------------------------ tags


@pytest.mark.parametrize("segment", ["vms", "hosts", "pools", "srs", "networks", "vm-snapshots"])
async def test_tags_are_added_once_and_removed(xo, segment: str) -> None:
    obj = next(iter(xo.state.inventory.collection(segment).values()))
    path = f"/{segment}/{obj['id']}"
    for _ in range(2):
        assert (await xo.request("PUT", f"{path}/tags/needs%20review")).status_code == 204
    assert (await xo.json(path))["tags"].count("needs review") == 1
    assert (await xo.request("DELETE", f"{path}/tags/needs%20review")).status_code == 204
    assert "needs review" not in (await xo.json(path))["tags"]


async def test_tagging_an_unknown_object_is_a_404(xo) -> None:
    response = await xo.request("PUT", "/vms/nope/tags/x")
    assert response.status_code == 404


# ------------------------------------------------------------------ creations


async def test_creating_a_vdi_puts_it_on_its_sr(xo) -> None:
    sr = some(xo, "srs", content_type="user")
    body = {"srId": sr["id"], "virtual_size": 2**30, "name_label": "scratch"}
    response = await send(xo, "POST", "/vdis", body)
    assert response.status_code == 201
    vdi_id = response.json()["id"]
    assert response.json() == {"id": vdi_id}
    vdi = await xo.json(f"/vdis/{vdi_id}")
    assert (vdi["name_label"], vdi["size"], vdi["$SR"], vdi["type"]) == (
        "scratch",
        2**30,
        sr["id"],
        "VDI",
    )
    assert vdi_id in (await xo.json(f"/srs/{sr['id']}"))["VDIs"]


async def test_creating_a_vdi_checks_its_body_and_its_sr(xo) -> None:
    missing = await send(xo, "POST", "/vdis", {"name_label": "x"})
    assert missing.status_code == 422
    assert missing.json()["error"] == {
        "body.virtual_size": {"message": "'virtual_size' is required"},
        "body.srId": {"message": "'srId' is required"},
    }
    unknown = await send(xo, "POST", "/vdis", {"srId": "nope", "virtual_size": 1})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "no such SR nope"


async def test_creating_a_vif_and_a_vbd_links_both_ends(xo) -> None:
    vm = some(xo, "vms", power_state="Halted")
    network = some(xo, "networks", **{"$pool": vm["$pool"]})
    vif = await send(xo, "POST", "/vifs", {"vmId": vm["id"], "networkId": network["id"]})
    assert vif.status_code == 201
    vif_id = vif.json()["id"]
    assert vif_id in (await xo.json(f"/vms/{vm['id']}"))["VIFs"]
    assert (await xo.json(f"/vifs/{vif_id}"))["$network"] == network["id"]
    sr = some(xo, "srs", content_type="user", **{"$pool": vm["$pool"]})
    vdi_id = (await send(xo, "POST", "/vdis", {"srId": sr["id"], "virtual_size": 1})).json()["id"]
    vbd = await send(xo, "POST", "/vbds", {"VM": vm["id"], "VDI": vdi_id})
    assert vbd.status_code == 201
    assert f"/rest/v0/vdis/{vdi_id}" in await xo.json(f"/vms/{vm['id']}/vdis")


async def test_users_are_unique_by_name(xo) -> None:
    body = {"name": "dave@example.org", "password": "pw"}
    created = await send(xo, "POST", "/users", body)
    assert created.status_code == 201
    user = await xo.json(f"/users/{created.json()['id']}")
    assert (user["name"], user["permission"], user["pw_hash"]) == (
        "dave@example.org",
        "none",
        "***obfuscated***",
    )
    again = await send(xo, "POST", "/users", body)
    assert again.status_code == 409
    assert again.json() == {
        "error": "user already exists",
        "data": {"objectId": "dave@example.org", "objectType": "user"},
    }


async def test_group_membership_is_kept_on_both_sides(xo) -> None:
    group_id = (await send(xo, "POST", "/groups", {"name": "oncall"})).json()["id"]
    user = some(xo, "users")
    path = f"/groups/{group_id}/users/{user['id']}"
    assert (await xo.request("PUT", path)).status_code == 204
    assert await xo.json(f"/groups/{group_id}/users") == [f"/rest/v0/users/{user['id']}"]
    assert f"/rest/v0/groups/{group_id}" in await xo.json(f"/users/{user['id']}/groups")
    assert (await xo.request("DELETE", path)).status_code == 204
    assert await xo.json(f"/groups/{group_id}/users") == []
    assert f"/rest/v0/groups/{group_id}" not in await xo.json(f"/users/{user['id']}/groups")


async def test_role_copies_carry_their_privileges(xo) -> None:
    role = some(xo, "acl-roles")
    copied = await xo.post(f"/acl-roles/{role['id']}/actions/copy", {"name": "copy"}, sync="true")
    assert copied.status_code == 201
    copy_id = copied.json()["id"]
    privileges = await xo.json(f"/acl-roles/{copy_id}/privileges", fields="action,resource")
    original = await xo.json(f"/acl-roles/{role['id']}/privileges", fields="action,resource")
    assert [(p["action"], p["resource"]) for p in privileges] == [
        (p["action"], p["resource"]) for p in original
    ]
