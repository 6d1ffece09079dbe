"""The confirmation flow's audit trail: who asked, who answered, and every outcome — confirmed,
declined, cancelled, expired, refused — as its own line."""

from __future__ import annotations

from typing import Any

import mcp_types as types
import pytest
from support.fakes import Clock, LogLines, captured_logs

from xo_mcp.front.confirmations import TTL_S, ConfirmationFlow, MemoryConfirmStore, ToolAnswer
from xo_mcp.wire.messages import Action, ClientIdentity, Target

pytestmark = pytest.mark.anyio
ACTION = Action(
    instance="staging",
    operation="StartVm",
    method="POST",
    path="/vms/v1/actions/start",
    target=Target(type="VM", id="v1", name="web-01"),
)
OPS = ClientIdentity(name="ops", subject="ops-bot")
ARGUMENTS = {"operation": "StartVm", "id": "v1"}


class Tool:
    """Previews ACTION until it comes back confirmed, then 'runs' it."""

    def __init__(self) -> None:
        self.ran: list[Action] = []

    async def __call__(self, arguments: dict[str, Any], confirmed: Action | None) -> ToolAnswer:
        if confirmed is None:
            return ToolAnswer("needs confirmation", confirmation=ACTION)
        self.ran.append(confirmed)
        return ToolAnswer("started")


def retry(token: str, action: str, confirm: bool = True) -> types.CallToolRequestParams:
    """A 2026-07-28 retry carrying the human's answer (the SDK unseals requestState first)."""
    content = {"confirm": confirm} if action == "accept" else None
    answer = types.ElicitResult(action=action, content=content)  # type: ignore[arg-type]
    return types.CallToolRequestParams(
        name="vms_action",
        arguments=ARGUMENTS,
        request_state=token,
        input_responses={"confirm": answer},
    )


async def first_call(flow: ConfirmationFlow, tool: Tool) -> str:
    params = types.CallToolRequestParams(name="vms_action", arguments=ARGUMENTS)
    result, _ = await flow.call(None, OPS, "staging", params, dict(ARGUMENTS), tool)
    assert isinstance(result, types.CallToolResult)
    text = result.content[0].text  # type: ignore[union-attr]
    return text.split('confirm_token: "')[1].split('"')[0]


@pytest.fixture
def lines() -> Any:
    with captured_logs() as captured:
        yield captured


@pytest.mark.parametrize(
    ("answer", "confirm", "outcome"),
    [("decline", False, "declined"), ("cancel", False, "cancelled"), ("accept", False, "declined")],
)
async def test_a_no_from_the_human_is_its_own_line(
    lines: LogLines, answer: str, confirm: bool, outcome: str
) -> None:
    flow, tool = ConfirmationFlow(MemoryConfirmStore()), Tool()
    token = await first_call(flow, tool)
    result, ran = await flow.call(None, OPS, "staging", retry(token, answer, confirm), {}, tool)
    assert ran is None and tool.ran == []
    assert "Not executed" in result.content[0].text  # type: ignore[union-attr]
    records = lines.audit()
    assert [r["outcome"] for r in records] == ["confirmation_requested", outcome]
    assert records[1]["answered_by"] == "ops (sub ops-bot)"
    assert records[1]["client"] == "ops" and records[1]["subject"] == "ops-bot"
    assert records[1]["target"] == "web-01" and records[1]["instance"] == "staging"


async def test_an_accepted_confirmation_runs_the_previewed_request(lines: LogLines) -> None:
    flow, tool = ConfirmationFlow(MemoryConfirmStore()), Tool()
    token = await first_call(flow, tool)
    _, ran = await flow.call(None, OPS, "staging", retry(token, "accept"), dict(ARGUMENTS), tool)
    assert ran is not None and tool.ran == [ACTION]


async def test_an_unanswered_confirmation_expires_with_a_line(lines: LogLines) -> None:
    clock = Clock()
    store = MemoryConfirmStore(clock=clock)
    flow, tool = ConfirmationFlow(store), Tool()
    await first_call(flow, tool)
    clock.now += TTL_S + 1
    await flow.sweep()  # what the gateway does every 15 s
    await flow.sweep()  # once only
    assert [r["outcome"] for r in lines.audit()] == ["confirmation_requested", "expired"]


async def test_a_late_token_is_refused_and_its_line_says_expired(lines: LogLines) -> None:
    clock = Clock()
    flow, tool = ConfirmationFlow(MemoryConfirmStore(clock=clock)), Tool()
    token = await first_call(flow, tool)
    clock.now += TTL_S + 1
    late = {**ARGUMENTS, "confirm_token": token}
    params = types.CallToolRequestParams(name="vms_action", arguments=late)
    result, _ = await flow.call(None, OPS, "staging", params, dict(late), tool)
    assert result.is_error and tool.ran == []  # type: ignore[union-attr]
    assert [r["outcome"] for r in lines.audit()] == ["confirmation_requested", "expired"]
