"""Actions and the tasks they run in, in process (fact sheet §1.4, §1.5, §7.8)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.anyio

XAPI_INFO = "This is a XenServer/XCP-ng error, not an XO error"


def vm_in(xo: Any, state: str) -> dict[str, Any]:
    return next(
        vm for vm in xo.state.inventory.collection("vms").values() if vm["power_state"] == state
    )


async def act(xo: Any, path: str, body: Any = None, **params: str):
    return await xo.post(path, body, **params)


async def finished(xo: Any, task_id: str) -> dict[str, Any]:
    task = await xo.json(f"/tasks/{task_id}", wait="true")
    assert task["status"] != "pending"
    return task


# ------------------------------------------------------------------ async and sync


async def test_an_async_action_answers_202_with_its_task(xo) -> None:
    vm = vm_in(xo, "Halted")
    response = await act(xo, f"/vms/{vm['id']}/actions/start")
    assert response.status_code == 202
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    task_id = response.json()["taskId"]
    assert response.json() == {"taskId": task_id}
    assert response.headers["location"] == f"/rest/v0/tasks/{task_id}"
    task = await xo.json(f"/tasks/{task_id}")
    assert task["status"] == "pending"
    assert list(task["properties"].items()) == [
        ("objectType", "VM"),
        ("name", "REST API: start VM"),
        ("objectId", vm["id"]),
        ("userId", xo.state.admin["id"]),
        ("type", "xo:rest-api:action"),
    ]
    done = await finished(xo, task_id)
    assert done["status"] == "success"
    assert "result" not in done
    assert done["end"] >= done["start"]


async def test_a_sync_void_action_answers_204_once_done(xo) -> None:
    vm = vm_in(xo, "Running")
    response = await act(xo, f"/vms/{vm['id']}/actions/clean_shutdown", sync="true")
    assert response.status_code == 204
    assert response.content == b""
    assert (await xo.json(f"/vms/{vm['id']}"))["power_state"] == "Halted"


async def test_sync_is_parsed_as_a_tsoa_boolean(xo) -> None:
    vm = vm_in(xo, "Running")
    assert (await act(xo, f"/vms/{vm['id']}/actions/pause", sync="TRUE")).status_code == 204
    response = await act(xo, f"/vms/{vm['id']}/actions/unpause", sync="1")
    assert response.status_code == 422
    assert response.json() == {
        "error": {"sync": {"message": "invalid boolean value", "value": "1"}},
        "data": {},
    }


async def test_an_action_on_an_object_of_another_type_is_a_404(xo) -> None:
    host = next(iter(xo.state.inventory.collection("hosts")))
    response = await act(xo, f"/vms/{host}/actions/start")
    assert response.status_code == 404
    assert response.json() == {"error": f"no such VM {host}", "data": {"id": host, "type": "VM"}}


# ------------------------------------------------------------------ power states


async def test_power_states_follow_the_actions(xo) -> None:
    vm = vm_in(xo, "Halted")
    path = f"/vms/{vm['id']}"
    steps = [
        ("start", "Running"),
        ("pause", "Paused"),
        ("unpause", "Running"),
        ("suspend", "Suspended"),
        ("resume", "Running"),
        ("clean_reboot", "Running"),
        ("hard_reboot", "Running"),
        ("hard_shutdown", "Halted"),
    ]
    for action, state in steps:
        assert (await act(xo, f"{path}/actions/{action}", sync="true")).status_code == 204
        assert (await xo.json(path))["power_state"] == state, action
    halted = await xo.json(path)
    assert (halted["startTime"], halted["$container"]) == (None, halted["$pool"])


async def test_a_reboot_restarts_the_uptime(xo) -> None:
    vm = vm_in(xo, "Running")
    xo.state.inventory.collection("vms")[vm["id"]]["startTime"] = 1
    await act(xo, f"/vms/{vm['id']}/actions/clean_reboot", sync="true")
    assert (await xo.json(f"/vms/{vm['id']}"))["startTime"] > 1


async def test_a_started_vm_lives_on_a_host_and_a_halted_one_in_its_pool(xo) -> None:
    vm = vm_in(xo, "Halted")
    await act(xo, f"/vms/{vm['id']}/actions/start", sync="true")
    running = await xo.json(f"/vms/{vm['id']}")
    host = await xo.json(f"/hosts/{running['$container']}")
    assert vm["id"] in host["residentVms"]
    assert running["startTime"] is not None
    for vbd_id in running["$VBDs"]:
        assert (await xo.json(f"/vbds/{vbd_id}"))["attached"] is True
    await act(xo, f"/vms/{vm['id']}/actions/clean_shutdown", sync="true")
    halted = await xo.json(f"/vms/{vm['id']}")
    assert halted["$container"] == halted["$pool"]
    assert vm["id"] not in (await xo.json(f"/hosts/{host['id']}"))["residentVms"]


async def test_a_start_can_name_its_host(xo) -> None:
    vm = vm_in(xo, "Halted")
    hosts = [
        h["id"]
        for h in xo.state.inventory.collection("hosts").values()
        if h["$pool"] == vm["$pool"]
    ]
    target = hosts[-1]
    response = await act(xo, f"/vms/{vm['id']}/actions/start", {"hostId": target}, sync="true")
    assert response.status_code == 204
    assert (await xo.json(f"/vms/{vm['id']}"))["$container"] == target


async def test_a_bad_power_state_is_a_xapi_error_when_sync(xo) -> None:
    vm = vm_in(xo, "Running")
    response = await act(xo, f"/vms/{vm['id']}/actions/start", sync="true")
    assert response.status_code == 500
    assert response.json() == {
        "error": f"VM_BAD_POWER_STATE({vm['_xapiRef']}, halted, running)",
        "info": XAPI_INFO,
    }
    assert list(response.json()) == ["error", "info"]


async def test_a_bad_power_state_only_fails_the_task_when_async(xo) -> None:
    vm = vm_in(xo, "Halted")
    response = await act(xo, f"/vms/{vm['id']}/actions/clean_shutdown")
    assert response.status_code == 202
    task = await finished(xo, response.json()["taskId"])
    assert task["status"] == "failure"
    assert task["result"] == {
        "name": "XapiError",
        "message": f"VM_BAD_POWER_STATE({vm['_xapiRef']}, running, halted)",
        "code": "VM_BAD_POWER_STATE",
    }


# ------------------------------------------------------------------ creating actions


async def test_a_sync_snapshot_answers_201_with_the_snapshot(xo) -> None:
    vm = vm_in(xo, "Running")
    response = await act(
        xo, f"/vms/{vm['id']}/actions/snapshot", {"name_label": "before"}, sync="true"
    )
    assert response.status_code == 201
    snapshot_id = response.json()["id"]
    assert response.json() == {"id": snapshot_id}
    assert response.headers["location"] == f"/rest/v0/vm-snapshots/{snapshot_id}"
    snapshot = await xo.json(f"/vm-snapshots/{snapshot_id}")
    assert snapshot["name_label"] == "before"
    assert snapshot["$snapshot_of"] == vm["id"]
    assert snapshot_id in (await xo.json(f"/vms/{vm['id']}"))["snapshots"]
    assert f"/rest/v0/vm-snapshots/{snapshot_id}" in await xo.json("/vm-snapshots")
    disks = await xo.json(f"/vm-snapshots/{snapshot_id}/vdis")
    assert disks
    assert all(link.startswith("/rest/v0/vdi-snapshots/") for link in disks)


async def test_an_async_creating_action_puts_the_id_in_the_task_result(xo) -> None:
    vm = vm_in(xo, "Running")
    response = await act(xo, f"/vms/{vm['id']}/actions/snapshot", {"name_label": "nightly"})
    task = await finished(xo, response.json()["taskId"])
    assert task["status"] == "success"
    assert task["properties"]["params"] == {"name_label": "nightly"}
    assert task["properties"]["name"] == "REST API: snapshot VM"
    snapshot = await xo.json(f"/vm-snapshots/{task['result']['id']}")
    assert snapshot["name_label"] == "nightly"
    assert task["result"] == {"id": snapshot["id"]}


async def test_a_sync_clone_answers_201_with_the_new_vm(xo) -> None:
    vm = vm_in(xo, "Running")
    response = await act(xo, f"/vms/{vm['id']}/actions/clone", {"name_label": "copy"}, sync="true")
    assert response.status_code == 201
    clone_id = response.json()["id"]
    assert response.headers["location"] == f"/rest/v0/vms/{clone_id}"
    clone = await xo.json(f"/vms/{clone_id}")
    assert (clone["name_label"], clone["power_state"]) == ("copy", "Halted")
    assert f"/rest/v0/vms/{clone_id}" in await xo.json("/vms")


async def test_pool_creations_answer_201_without_location(xo) -> None:
    pool = next(iter(xo.state.inventory.collection("pools")))
    template = next(iter(xo.state.inventory.collection("vm-templates")))
    created = await act(
        xo,
        f"/pools/{pool}/actions/create_vm",
        {"template": template, "name_label": "new"},
        sync="true",
    )
    assert created.status_code == 201
    assert "location" not in created.headers
    assert (await xo.json(f"/vms/{created.json()['id']}"))["name_label"] == "new"
    pif = next(
        p["id"] for p in xo.state.inventory.collection("pifs").values() if p["$pool"] == pool
    )
    body = {"name": "lab", "pif": pif, "vlan": 42}
    network = await act(xo, f"/pools/{pool}/actions/create_network", body, sync="true")
    assert network.status_code == 201
    assert "location" not in network.headers
    assert (await xo.json(f"/networks/{network.json()['id']}"))["name_label"] == "lab"


async def test_revert_restores_a_snapshot_of_the_same_vm_only(xo) -> None:
    snapshots = list(xo.state.inventory.collection("vm-snapshots").values())
    snapshot = snapshots[0]
    owner = snapshot["$snapshot_of"]
    other = next(vm for vm in xo.state.inventory.collection("vms") if vm != owner)
    path = "/actions/revert_snapshot"
    wrong = await act(xo, f"/vms/{other}{path}", {"snapshotId": snapshot["id"]}, sync="true")
    assert wrong.status_code == 422
    assert wrong.json() == {
        "error": f"snapshot {snapshot['id']} does not belong to VM {other}",
        "data": {},
    }
    missing = await act(xo, f"/vms/{owner}{path}", {}, sync="true")
    assert missing.status_code == 422
    assert missing.json() == {
        "error": {"body.snapshotId": {"message": "'snapshotId' is required"}},
        "data": {},
    }
    good = await act(xo, f"/vms/{owner}{path}", {"snapshotId": snapshot["id"]}, sync="true")
    assert good.status_code == 204
    reverted = await xo.json(f"/vms/{owner}")
    assert (reverted["power_state"], reverted["parent"]) == ("Halted", snapshot["id"])


async def test_document_actions_answer_200(xo) -> None:
    vdi = next(iter(xo.state.inventory.collection("vdis").values()))
    target = next(
        sr["id"]
        for sr in xo.state.inventory.collection("srs").values()
        if sr["id"] != vdi["$SR"] and sr["$pool"] == vdi["$pool"] and sr["content_type"] == "user"
    )
    moved = await act(xo, f"/vdis/{vdi['id']}/actions/migrate", {"srId": target}, sync="true")
    assert moved.status_code == 200
    assert moved.json() == {"id": vdi["id"]}
    assert (await xo.json(f"/vdis/{vdi['id']}"))["$SR"] == target
    repo = next(iter(xo.state.inventory.collection("backup-repositories")))
    bench = await act(xo, f"/backup-repositories/{repo}/actions/benchmark", sync="true")
    assert bench.status_code == 200
    assert set(bench.json()) == {"success", "readRate", "writeRate"}


async def test_toggling_actions_change_their_objects(xo) -> None:
    host = next(iter(xo.state.inventory.collection("hosts")))
    await act(xo, f"/hosts/{host}/actions/disable", sync="true")
    assert (await xo.json(f"/hosts/{host}"))["enabled"] is False
    await act(xo, f"/hosts/{host}/actions/enable", sync="true")
    assert (await xo.json(f"/hosts/{host}"))["enabled"] is True
    pbd = next(iter(xo.state.inventory.collection("pbds")))
    await act(xo, f"/pbds/{pbd}/actions/unplug", sync="true")
    assert (await xo.json(f"/pbds/{pbd}"))["attached"] is False


# ------------------------------------------------------------------ tasks


async def test_a_vms_tasks_list_its_actions(xo) -> None:
    vm = vm_in(xo, "Halted")
    task_id = (await act(xo, f"/vms/{vm['id']}/actions/start")).json()["taskId"]
    assert f"/rest/v0/tasks/{task_id}" in await xo.json(f"/vms/{vm['id']}/tasks")
    tasks = await xo.json("/tasks", filter="status:pending", fields="id,status")
    assert {"id": task_id, "status": "pending", "href": f"/rest/v0/tasks/{task_id}"} in tasks


async def test_waiting_for_a_finished_task_returns_at_once(xo) -> None:
    done = next(
        t for t in xo.state.inventory.collection("tasks").values() if t["status"] != "pending"
    )
    assert await xo.json(f"/tasks/{done['id']}", wait="true") == done


async def test_a_running_task_can_be_aborted(make_xo) -> None:
    xo = await make_xo(action_seconds=60)
    vm = vm_in(xo, "Halted")
    task_id = (await act(xo, f"/vms/{vm['id']}/actions/start")).json()["taskId"]
    aborted = await act(xo, f"/tasks/{task_id}/actions/abort", sync="true")
    assert aborted.status_code == 204
    task = await finished(xo, task_id)
    assert task["status"] == "failure"
    assert task["abortionRequestedAt"] >= task["start"]
    assert (await xo.json(f"/vms/{vm['id']}"))["power_state"] == "Halted"


async def test_aborting_a_finished_task_is_a_404_when_sync(xo) -> None:
    done = next(
        t for t in xo.state.inventory.collection("tasks").values() if t["status"] != "pending"
    )
    response = await act(xo, f"/tasks/{done['id']}/actions/abort", sync="true")
    assert response.status_code == 404
    assert response.json() == {
        "error": f"no such task {done['id']}",
        "data": {"id": done["id"], "type": "task"},
    }
    async_abort = await act(xo, f"/tasks/{done['id']}/actions/abort")
    assert async_abort.status_code == 202
    abort_task = await finished(xo, async_abort.json()["taskId"])
    assert abort_task["status"] == "failure"
    assert abort_task["properties"]["name"] == "REST API: abort task"


async def test_tasks_can_be_deleted_one_by_one_or_all_finished_at_once(make_xo) -> None:
    xo = await make_xo(action_seconds=60)
    vm = vm_in(xo, "Halted")
    pending = (await act(xo, f"/vms/{vm['id']}/actions/start")).json()["taskId"]
    done = [
        t["id"] for t in xo.state.inventory.collection("tasks").values() if t["status"] != "pending"
    ]
    assert (await xo.request("DELETE", f"/tasks/{done[0]}")).status_code == 204
    assert (await xo.get(f"/tasks/{done[0]}")).status_code == 404
    assert (await xo.request("DELETE", "/tasks")).status_code == 204
    assert await xo.json("/tasks") == [f"/rest/v0/tasks/{pending}"]
