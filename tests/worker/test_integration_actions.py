"""Actions through real clients: confirm tokens and their misuse, elicitation in both eras,
`wait` with progress, multi-placeholder paths, encoded ids and the audit trail."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp.client.session import ClientRequestContext
from support.clients import ERAS, LEGACY, MODERN, text
from support.processes import Sim, own_sim, worker_env
from worker.kit import audit_lines, call, worker

pytestmark = pytest.mark.anyio
TOKEN = re.compile(r'`confirm_token: "([^"]+)"`')


def actions_env(sim: Sim, **extra: str) -> dict[str, str]:
    return worker_env(sim, XO_MCP_ENABLE_ACTIONS="1", **extra)


def halted_vm(sim: Sim) -> str:
    vms = sim.rest("/vms", fields="id,power_state", filter="power_state:Halted")
    vm_id: str = vms[0]["id"]
    return vm_id


def vm(sim: Sim, vm_id: str) -> dict[str, Any]:
    result: dict[str, Any] = sim.rest(f"/vms/{vm_id}")
    return result


async def token_for(client: Any, tool: str, arguments: dict[str, Any], **options: Any) -> str:
    result = await client.call_tool(tool, arguments, **options)
    assert not result.is_error, text(result)
    assert text(result).startswith("## Confirmation Required")
    found = TOKEN.search(text(result))
    assert found is not None, text(result)
    return found.group(1)


@pytest.mark.parametrize("mode", ERAS)
async def test_token_flow_runs_the_action_once(fresh_sim: Sim, mode: str) -> None:
    vm_id = halted_vm(fresh_sim)
    arguments = {"operation": "PutVmTag", "id": vm_id, "tag": "from-mcp"}
    async with worker(actions_env(fresh_sim), mode=mode) as client:
        token = await token_for(client, "vms_action", arguments)
        assert "from-mcp" not in vm(fresh_sim, vm_id)["tags"]  # nothing ran yet
        message, is_error = await call(client, "vms_action", {**arguments, "confirm_token": token})
        assert not is_error and message == "PutVmTag succeeded (HTTP 204, no content)."
        assert "from-mcp" in vm(fresh_sim, vm_id)["tags"]
        replay, is_error = await call(client, "vms_action", {**arguments, "confirm_token": token})
        assert is_error and "Invalid or expired confirmation token" in replay


async def test_multi_placeholder_path_uses_each_argument(fresh_sim: Sim) -> None:
    vm_id = halted_vm(fresh_sim)
    arguments = {"operation": "PutVmTag", "id": vm_id, "tag": "a/b c"}
    async with worker(actions_env(fresh_sim)) as client:
        token = await token_for(client, "vms_action", arguments)
        await call(client, "vms_action", {**arguments, "confirm_token": token})
        missing, is_error = await call(client, "vms_action", {"operation": "PutVmTag", "id": vm_id})
    assert "a/b c" in vm(fresh_sim, vm_id)["tags"]  # not the VM id, as the official server does
    assert is_error and missing == (
        "Failed to execute vms action: PutVmTag (PUT /vms/{id}/tags/{tag}) needs `tag`"
    )


@pytest.mark.parametrize(
    "changed",
    [
        {"operation": "DeleteVmTag"},  # another operation
        {"id": "00000000-0000-0000-0000-000000000000"},  # another object
        {"tag": "other"},  # another placeholder value
    ],
)
async def test_a_token_confirms_nothing_else(fresh_sim: Sim, changed: dict[str, str]) -> None:
    vm_id = halted_vm(fresh_sim)
    arguments = {"operation": "PutVmTag", "id": vm_id, "tag": "t1"}
    async with worker(actions_env(fresh_sim)) as client:
        token = await token_for(client, "vms_action", arguments)
        message, is_error = await call(
            client, "vms_action", {**arguments, **changed, "confirm_token": token}
        )
        assert is_error and "cannot confirm anything else" in message
        # Revoked by the misuse: the right request cannot use it any more.
        message, is_error = await call(client, "vms_action", {**arguments, "confirm_token": token})
        assert is_error and "Invalid or expired" in message
    assert "t1" not in vm(fresh_sim, vm_id)["tags"]


async def test_a_token_bound_to_another_body_or_tool(fresh_sim: Sim) -> None:
    vm_id = halted_vm(fresh_sim)
    start = {"operation": "StartVm", "id": vm_id, "body": {"hostId": "h1"}}
    async with worker(actions_env(fresh_sim)) as client:
        token = await token_for(client, "vms_action", start)
        message, is_error = await call(
            client, "vms_action", {**start, "body": {"hostId": "h2"}, "confirm_token": token}
        )
        assert is_error and "cannot confirm anything else" in message
        token = await token_for(client, "vms_action", start)
        pool = fresh_sim.rest("/pools", fields="id")[0]["id"]
        message, is_error = await call(
            client,
            "pools_action",
            {"operation": "CreateNetwork", "id": pool, "confirm_token": token},
        )
        assert is_error and "issued for StartVm" in message  # another tool cannot use it
    assert vm(fresh_sim, vm_id)["power_state"] == "Halted"


async def test_instance_name_prefixes_tokens(fresh_sim: Sim) -> None:
    arguments = {"operation": "DeleteVm", "id": halted_vm(fresh_sim)}
    async with worker(actions_env(fresh_sim), args=("--instance", "staging")) as client:
        token = await token_for(client, "vms_action", arguments)
        assert token.startswith("staging.")
        message, is_error = await call(
            client, "vms_action", {**arguments, "confirm_token": "production.abc"}
        )
    assert is_error and "belongs to instance 'production', not 'staging'" in message


def elicitation(action: str, seen: list[str]) -> Any:
    async def answer(context: ClientRequestContext, params: types.ElicitRequestParams) -> Any:
        seen.append(params.message)
        content = {"confirm": True} if action == "accept" else None
        return types.ElicitResult(action=action, content=content)

    return answer


@pytest.mark.parametrize("mode", ERAS)
async def test_elicitation_accepted_runs_the_action(fresh_sim: Sim, mode: str) -> None:
    vm_id = halted_vm(fresh_sim)
    seen: list[str] = []
    env = actions_env(fresh_sim, XO_MCP_INSTANCE="lab")
    async with worker(env, mode=mode, elicitation_callback=elicitation("accept", seen)) as client:
        message, is_error = await call(
            client, "vms_action", {"operation": "PutVmTag", "id": vm_id, "tag": "asked"}
        )
    assert not is_error and message == "PutVmTag succeeded (HTTP 204, no content)."
    assert "asked" in vm(fresh_sim, vm_id)["tags"]
    (question,) = seen
    lines = question.splitlines()
    assert lines[0] == "The assistant wants to run an action on Xen Orchestra."
    assert "**Operation**: PutVmTag on instance lab" in lines
    assert f"**Request**: PUT /vms/{vm_id}/tags/asked" in lines
    name = vm(fresh_sim, vm_id)["name_label"]
    assert any(
        line.startswith(f"**Target**: VM {name}, id {vm_id}, state Halted") for line in lines
    )


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.parametrize("action", ["decline", "cancel"])
async def test_elicitation_declined_runs_nothing(fresh_sim: Sim, mode: str, action: str) -> None:
    vm_id = halted_vm(fresh_sim)
    seen: list[str] = []
    async with worker(
        actions_env(fresh_sim), mode=mode, elicitation_callback=elicitation(action, seen)
    ) as client:
        message, is_error = await call(
            client, "vms_action", {"operation": "PutVmTag", "id": vm_id, "tag": "refused"}
        )
    assert not is_error and message == "Not executed: the user did not confirm the action."
    assert "refused" not in vm(fresh_sim, vm_id)["tags"]
    assert len(seen) == 1


async def test_wait_returns_the_final_task_status_with_progress() -> None:
    with own_sim("--seed", "5", "--action-seconds", "1.5") as slow:
        vm_id = halted_vm(slow)
        arguments = {"operation": "StartVm", "id": vm_id, "wait": True}
        progress: list[tuple[float, float | None, str | None]] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, total, message))

        async with worker(actions_env(slow)) as client:
            token = await token_for(client, "vms_action", arguments)
            result = await client.call_tool(
                "vms_action", {**arguments, "confirm_token": token}, progress_callback=on_progress
            )
        assert not result.is_error, text(result)
        first, rest = text(result).split("\n", 1)
        assert first.startswith("Task ") and first.endswith(" finished: success")
        task = json.loads(rest)
        assert task["status"] == "success" and "end" in task
        assert vm(slow, vm_id)["power_state"] == "Running"
        assert progress, "no progress notification while waiting"
        assert all(message and "pending for" in message for _, _, message in progress)


async def test_without_wait_the_task_id_comes_back(fresh_sim: Sim) -> None:
    arguments = {"operation": "StartVm", "id": halted_vm(fresh_sim)}
    async with worker(actions_env(fresh_sim)) as client:
        token = await token_for(client, "vms_action", arguments)
        message, is_error = await call(client, "vms_action", {**arguments, "confirm_token": token})
    assert not is_error
    assert set(json.loads(message)) == {"taskId"}


async def test_hostile_id_never_leaves_its_segment(fresh_sim: Sim) -> None:
    pools_before = fresh_sim.rest("/pools")
    arguments = {"operation": "DeleteVm", "id": "../pools"}
    async with worker(actions_env(fresh_sim)) as client:
        message, is_error = await call(client, "vms_action", arguments)
    # Looked up as one segment (/vms/..%2Fpools): XO knows no such VM, so no token exists.
    assert is_error and "XO has no vms object with id '../pools'" in message
    assert "confirm_token" not in message
    assert fresh_sim.rest("/pools") == pools_before


async def test_a_name_is_not_an_id(fresh_sim: Sim) -> None:
    """A preview for `id=proxy-01` (a name) would ask a human to approve a certain 404."""
    async with worker(actions_env(fresh_sim)) as client:
        message, is_error = await call(
            client, "vms_action", {"operation": "StartVm", "id": "proxy-01"}
        )
    assert is_error and "XO has no vms object with id 'proxy-01'" in message
    assert "names are not accepted as ids" in message


async def test_audit_lines_on_stderr(fresh_sim: Sim, tmp_path: Path) -> None:
    stderr = tmp_path / "worker.stderr"
    vm_id = halted_vm(fresh_sim)
    secret_body = {"name": "mcp-user", "password": "Sup3r-S3cret!"}
    env = actions_env(fresh_sim, XO_MCP_INSTANCE="audited", XO_MCP_LOG_FORMAT="json")
    async with worker(env, stderr=stderr, mode=LEGACY) as client:
        tag = {"operation": "PutVmTag", "id": vm_id, "tag": "audited"}
        token = await token_for(client, "vms_action", tag)
        await call(client, "vms_action", {**tag, "confirm_token": token})
        await call(client, "vms_action", {**tag, "confirm_token": token})  # refused replay
        user = {"operation": "CreateUser", "body": secret_body}
        token = await token_for(client, "users_action", user)
        await call(client, "users_action", {**user, "confirm_token": token})
        doomed = next(v["id"] for v in fresh_sim.rest("/vms", fields="id") if v["id"] != vm_id)
        gone = {"operation": "DeleteVm", "id": doomed}
        token = await token_for(client, "vms_action", gone)
        fresh_sim.delete(f"/vms/{doomed}")  # someone else was faster: XO will answer 404
        await call(client, "vms_action", {**gone, "confirm_token": token})
    lines = audit_lines(stderr)
    outcomes = [(line["operation"], line["outcome"]) for line in lines]
    assert outcomes == [
        ("PutVmTag", "confirmation_requested"),
        ("PutVmTag", "success"),
        ("PutVmTag", "refused"),
        ("CreateUser", "confirmation_requested"),
        ("CreateUser", "success"),
        ("DeleteVm", "confirmation_requested"),
        ("DeleteVm", "failure"),
    ]
    for line in lines:
        assert line["event"] == "xo_action" and line["instance"] == "audited"
        assert line["client"] == "local" and {"ts", "level", "component"} <= set(line)
        if line["outcome"] != "refused":  # a token that matches nothing names no request
            assert {"method", "path"} <= set(line)
    # Each tools/call has its own request id, on its every line (and sent to XO).
    ids = [line["request_id"] for line in lines]
    assert all(re.fullmatch(r"[0-9a-f]{16}", found) for found in ids)
    assert len(set(ids)) == len(ids)  # the preview and the confirmed run are two calls
    assert lines[1] | {"ts": "", "duration_ms": 0, "request_id": ""} == {
        "ts": "",
        "level": "info",
        "component": "audit",
        "event": "xo_action",
        "operation": "PutVmTag",
        "method": "PUT",
        "path": f"/vms/{vm_id}/tags/audited",
        "target": vm(fresh_sim, vm_id)["name_label"],
        "outcome": "success",
        "client": "local",
        "answered_by": "local",
        "duration_ms": 0,
        "instance": "audited",
        "status": 204,
        "request_id": "",
    }
    assert lines[2]["detail"].startswith("Invalid or expired confirmation token")
    assert lines[4]["body_keys"] == ["name", "password"] and lines[4]["status"] == 201
    assert lines[6]["status"] == 404 and lines[6]["detail"] == "XO API error (404 Not Found)"
    everything = stderr.read_text(encoding="utf-8")
    assert "Sup3r-S3cret!" not in everything and "mcp-user" not in everything
    assert fresh_sim.token not in everything


async def test_modern_clients_without_elicitation_get_the_token(fresh_sim: Sim) -> None:
    arguments = {"operation": "DeleteVm", "id": halted_vm(fresh_sim)}
    async with worker(actions_env(fresh_sim), mode=MODERN) as client:
        token = await token_for(client, "vms_action", arguments)
        assert token
