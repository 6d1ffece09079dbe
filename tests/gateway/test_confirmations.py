"""Confirmations through the gateway: tokens stay with their instance and client; humans confirm
through elicitation when the client can ask them."""

from __future__ import annotations

import re
from typing import Any

import httpx2
import mcp_types as types
import pytest
from support.clients import ERAS, http_client, text
from support.gateway_fleet import ADMIN_TOKEN, OPS_TOKEN, GatewayFleet

pytestmark = pytest.mark.anyio
TOKEN = re.compile(r'confirm_token: "([^"]+)"')


def _halted_vm(gateway: GatewayFleet) -> str:
    """A halted VM of staging (one is shut down first when every VM already runs)."""
    sim = gateway.staging
    vms = sim.rest("/vms", fields="id,power_state")
    halted = [vm["id"] for vm in vms if vm["power_state"] == "Halted"]
    if halted:
        return str(halted[0])
    vm_id = next(vm["id"] for vm in vms if vm["power_state"] == "Running")
    httpx2.post(
        f"{sim.url}/rest/v0/vms/{vm_id}/actions/hard_shutdown?sync=true",
        cookies={"authenticationToken": sim.token},
        timeout=10,
    ).raise_for_status()
    return str(vm_id)


def _start(vm_id: str, **extra: Any) -> dict[str, Any]:
    return {"instance": "staging", "operation": "StartVm", "id": vm_id, **extra}


async def test_a_token_runs_the_action_it_was_issued_for_once(gateway: GatewayFleet) -> None:
    vm_id = _halted_vm(gateway)
    async with http_client(f"{gateway.url}/mcp", token=ADMIN_TOKEN) as client:
        preview = await client.call_tool("vms_action", _start(vm_id))
        token = TOKEN.search(text(preview)).group(1)  # type: ignore[union-attr]
        assert token.startswith("staging.")
        done = await client.call_tool("vms_action", _start(vm_id, confirm_token=token, wait=True))
        replay = await client.call_tool("vms_action", _start(vm_id, confirm_token=token))
    assert not done.is_error and "finished: success" in text(done)
    assert replay.is_error and "Invalid or expired" in text(replay)
    power = {
        vm["id"]: vm["power_state"] for vm in gateway.staging.rest("/vms", fields="id,power_state")
    }
    assert power[vm_id] == "Running"


async def test_a_token_is_refused_by_another_instance(gateway: GatewayFleet) -> None:
    vm_id = _halted_vm(gateway)
    async with http_client(f"{gateway.url}/mcp", token=ADMIN_TOKEN) as client:
        preview = await client.call_tool("vms_action", _start(vm_id))
        token = TOKEN.search(text(preview)).group(1)  # type: ignore[union-attr]
        wrong = await client.call_tool(
            "vms_action", {**_start(vm_id, confirm_token=token), "instance": "lab"}
        )
        passthrough = await client.call_tool(  # same check without the gateway's help
            "vms_action", {**_start(vm_id, confirm_token=token), "instance": "staging"}
        )
    assert wrong.is_error
    assert "issued by instance 'staging', not 'lab'" in text(wrong)
    assert not passthrough.is_error  # the token was not spent by the refused attempt


async def test_a_token_is_refused_to_another_client(gateway: GatewayFleet, tmp_path: Any) -> None:
    vm_id = _halted_vm(gateway)
    async with http_client(f"{gateway.url}/instances/staging/mcp", token=ADMIN_TOKEN) as admin:
        preview = await admin.call_tool("vms_action", {"operation": "StartVm", "id": vm_id})
        token = TOKEN.search(text(preview)).group(1)  # type: ignore[union-attr]
    # ops is read-only: it cannot even reach the action tool, let alone use admin's token
    async with http_client(f"{gateway.url}/mcp", token=OPS_TOKEN) as ops:
        stolen = await ops.call_tool("vms_action", _start(vm_id, confirm_token=token))
    assert stolen.is_error


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.parametrize("answer", ["accept", "decline"])
async def test_a_human_confirms_through_elicitation(
    gateway: GatewayFleet, mode: str, answer: str
) -> None:
    vm_id = _halted_vm(gateway)
    asked: list[str] = []

    async def elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        if answer == "accept":
            return types.ElicitResult(action="accept", content={"confirm": True})
        return types.ElicitResult(action="decline")

    async with http_client(
        f"{gateway.url}/mcp", token=ADMIN_TOKEN, mode=mode, elicitation_callback=elicit
    ) as client:
        result = await client.call_tool("vms_action", _start(vm_id, wait=True))
    assert len(asked) == 1 and "StartVm on instance staging" in asked[0]
    power = {
        vm["id"]: vm["power_state"] for vm in gateway.staging.rest("/vms", fields="id,power_state")
    }
    if answer == "accept":
        assert "finished: success" in text(result)
        assert power[vm_id] == "Running"
    else:
        assert "Not executed" in text(result)
        assert power[vm_id] == "Halted"
