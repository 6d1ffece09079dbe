"""Tool calls without a client: path building and encoding, caps, confirmations, outcomes."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pytest
from support.fakes import Answer, Confirming, FakeXo, LogLines, captured_logs, tool_runner

from xo_mcp.wire.messages import ClientIdentity
from xo_mcp.worker.calls import Outcome, build_path, cap, encode_segment, render_answer
from xo_mcp.worker.openapi import Operation, parse_spec
from xo_mcp.worker.settings import Credentials, WorkerSettings
from xo_mcp.worker.xo_client import XoRequestError, XoResponse

pytestmark = pytest.mark.anyio

SETTINGS = WorkerSettings(xo_url="http://xo.test", credentials=Credentials(token="secret-token"))
JSON = "application/json; charset=utf-8"
MARKDOWN = "text/markdown; charset=utf-8"


def response(status: int = 200, text: str = "", content_type: str = JSON) -> XoResponse:
    return XoResponse(status, content_type, text, {"content-type": content_type})


def op(operation_id: str, exposure: str = "allow", **extra: Any) -> dict[str, Any]:
    return {"operationId": operation_id, "x-mcp-exposure": exposure, **extra}


def body_of(*required: str) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {"srId": {"type": "string"}, "name_label": {"type": "string"}},
        "required": list(required),
    }
    return {"content": {"application/json": {"schema": schema}}}


VM_EXAMPLE = {
    "responses": {
        "200": {
            "content": {
                "application/json": {
                    "examples": {"e": {"value": [{"name_label": "a", "uuid": "1", "href": "/x"}]}}
                }
            }
        }
    }
}

SPEC = {
    "paths": {
        "/vms": {"get": op("GetVms", **VM_EXAMPLE)},
        "/vms/{id}": {"get": op("GetVm"), "delete": op("DeleteVm", "confirm")},
        "/vms/{id}/actions/start": {"post": op("StartVm", "confirm")},
        "/vms/{id}/tags/{tag}": {"put": op("PutVmTag", "confirm")},
        "/vdis": {"post": op("CreateVdi", "confirm", requestBody=body_of("srId"))},
        "/tasks/{id}": {"get": op("GetTask")},
    }
}


@pytest.fixture(autouse=True)
def audit() -> Any:
    with captured_logs() as lines:
        yield lines


def runner(answer: Answer, **settings: Any) -> tuple[Confirming, FakeXo]:
    fake = FakeXo(answer, replace(SETTINGS, **settings))
    return tool_runner(fake, parse_spec(SPEC, actions=True)), fake


def audit_lines(lines: LogLines) -> list[dict[str, Any]]:
    return lines.audit()


def xo_calls(fake: FakeXo) -> list[Any]:
    """What reached XO, without the target lookups that precede a confirmation."""
    return [call for call in fake.calls if not (call[0] == "GET" and call[1].startswith("/vms/v"))]


def ok(text: str = "| a |", content_type: str = MARKDOWN) -> Answer:
    return lambda *_: response(200, text, content_type)


# --- path building and encoding ----------------------------------------------------------------


def operation(path: str) -> Operation:
    return Operation(name="Op", method="GET", path=path, description="")


def test_build_path_fills_every_placeholder_from_its_own_argument() -> None:
    built = build_path(operation("/vms/{id}/tags/{tag}"), {"id": "v1", "tag": "prod"})
    assert built == "/vms/v1/tags/prod"
    built = build_path(operation("/groups/{id}/users/{userId}"), {"id": "g", "userId": "u"})
    assert built == "/groups/g/users/u"


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("../pools", "..%2Fpools"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("a/b", "a%2Fb"),
        ("a?b#c", "a%3Fb%23c"),
        ("50%", "50%25"),
        ("é tag", "%C3%A9%20tag"),
        ("{id}", "%7Bid%7D"),
        ("OpaqueRef:1", "OpaqueRef%3A1"),
        ("...", "..."),
    ],
)
def test_values_are_always_one_encoded_segment(value: str, encoded: str) -> None:
    assert encode_segment(value) == encoded
    assert build_path(operation("/vms/{id}"), {"id": value}) == f"/vms/{encoded}"


def test_a_value_cannot_fill_a_later_placeholder() -> None:
    built = build_path(operation("/vms/{id}/tags/{tag}"), {"id": "{tag}", "tag": "t"})
    assert built == "/vms/%7Btag%7D/tags/t"


def test_missing_placeholders_are_named() -> None:
    with pytest.raises(ValueError, match=r"PutVmTag \(PUT /vms/\{id\}/tags/\{tag\}\) needs `tag`"):
        build_path(
            Operation("PutVmTag", "PUT", "/vms/{id}/tags/{tag}", ""), {"id": "v1", "tag": ""}
        )
    with pytest.raises(ValueError, match="needs `id`, `tag`"):
        build_path(operation("/vms/{id}/tags/{tag}"), {})


# --- caps and rendering ---------------------------------------------------------------------------


def test_cap() -> None:
    assert cap("short", 10) == "short"
    assert cap("x" * 10, 10) == "x" * 10
    capped = cap("x" * 25, 10)
    assert capped.startswith("x" * 10 + "\n\n[truncated: showing the first 10 of 25 characters")
    assert "`filter`, `fields` or `limit`" in capped


def test_render_answer() -> None:
    assert render_answer(response(text='{"a":[1,2]}')) == '{\n  "a": [\n    1,\n    2\n  ]\n}'
    assert render_answer(response(text='{"name":"café"}')) == '{\n  "name": "café"\n}'
    assert render_answer(response(text="| a |\n| --- |", content_type=MARKDOWN)) == "| a |\n| --- |"
    with pytest.raises(XoRequestError, match="invalid JSON"):
        render_answer(response(text="{not json"))
    assert render_answer(response(204, "")) == ""
    truncated = XoResponse(200, JSON, '{"a": [1, 2', {}, truncated=True)
    assert render_answer(truncated).startswith(
        '{"a": [1, 2\n\n[truncated: XO\'s answer was too long'
    )


# --- queries --------------------------------------------------------------------------------------


async def test_query_sends_markdown_and_default_fields(audit: LogLines) -> None:
    tool_runner, fake = runner(ok())
    outcome = await tool_runner.run("vms_query", {"operation": "GetVms"})
    assert outcome == Outcome("| a |")
    assert fake.calls == [("GET", "/vms", {"markdown": "true", "fields": "name_label,uuid"}, None)]


async def test_query_arguments(audit: LogLines) -> None:
    tool_runner, fake = runner(ok())
    arguments = {"operation": "GetVms", "filter": "power_state:Running", "fields": "*", "limit": 2}
    await tool_runner.run("vms_query", arguments)
    await tool_runner.run("vms_query", {"operation": "GetVms", "fields": "", "limit": 2.5})
    assert fake.calls[0][2] == {
        "markdown": "true",
        "filter": "power_state:Running",
        "fields": "*",
        "limit": "2",
    }
    assert fake.calls[1][2] == {"markdown": "true", "limit": "2.5"}  # "" asks for no fields
    huge = await tool_runner.run("vms_query", {"operation": "GetVms", "limit": 10**400})
    await tool_runner.run("vms_query", {"operation": "GetVms", "limit": 3.0})
    assert huge.is_error and "`limit` is out of range" in huge.text  # refused, never sent
    assert len(fake.calls) == 3
    assert fake.calls[2][2]["limit"] == "3"


async def test_query_of_one_object(audit: LogLines) -> None:
    tool_runner, fake = runner(ok('{"id":"v/1"}', JSON))
    outcome = await tool_runner.run("vms_query", {"operation": "GetVm", "id": "v/1"})
    assert fake.calls[0][1] == "/vms/v%2F1"
    assert outcome.text == '{\n  "id": "v/1"\n}'


async def test_query_without_its_id_sends_nothing(audit: LogLines) -> None:
    tool_runner, fake = runner(ok())
    outcome = await tool_runner.run("vms_query", {"operation": "GetVm"})
    assert outcome.is_error
    assert outcome.text == "Failed to query vms: GetVm (GET /vms/{id}) needs `id`"
    assert fake.calls == []


async def test_invalid_arguments_send_nothing(audit: LogLines) -> None:
    tool_runner, fake = runner(ok())
    outcome = await tool_runner.run("vms_query", {"operation": "DeleteVm", "limit": "2"})
    assert outcome.is_error
    assert outcome.text.startswith("Invalid arguments for vms_query: `operation` must be one of")
    assert "`limit` must be a number" in outcome.text
    assert fake.calls == []


async def test_unknown_tool(audit: LogLines) -> None:
    tool_runner, _ = runner(ok())
    assert await tool_runner.run("nope", {}) == Outcome("Unknown tool: nope", is_error=True)


async def test_xo_errors_become_tool_errors(audit: LogLines) -> None:
    error = XoRequestError("XO API error (404 Not Found): no such VM x", status=404)
    tool_runner, _ = runner(lambda *_: error)
    outcome = await tool_runner.run("vms_query", {"operation": "GetVm", "id": "x"})
    assert outcome == Outcome(
        "Failed to query vms: XO API error (404 Not Found): no such VM x", True
    )


async def test_kill_switch_is_flagged(audit: LogLines) -> None:
    error = XoRequestError("MCP disabled by admin: …", status=503, mcp_disabled=True)
    tool_runner, _ = runner(lambda *_: error)
    outcome = await tool_runner.run("vms_query", {"operation": "GetVms"})
    assert outcome.is_error and "MCP disabled by admin" in outcome.text
    assert outcome.mcp_disabled


async def test_long_outputs_are_capped(audit: LogLines) -> None:
    tool_runner, _ = runner(ok("y" * 500), max_response_chars=100)
    outcome = await tool_runner.run("vms_query", {"operation": "GetVms"})
    assert outcome.text.startswith("y" * 100 + "\n\n[truncated: showing the first 100 of 500")


# --- actions --------------------------------------------------------------------------------------


def task_flow(statuses: list[str], action_status: int = 202) -> Answer:
    """A 202 with a task id, then the task's status on each poll."""
    remaining = list(statuses)

    def answer(method: str, path: str, query: Any, body: Any) -> XoResponse | Exception:
        if method != "GET":
            if action_status == 204:
                return response(204, "", "")
            return response(202, '{"taskId": "t1"}')
        if path.startswith("/vms/"):
            vm = {"id": path.split("/")[2], "name_label": "web-01", "type": "VM"}
            return response(200, json.dumps({**vm, "power_state": "Halted", "$pool": "p1"}))
        if path.startswith("/pools/"):
            return response(200, '{"name_label": "prod-a"}')
        status = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        task = {"id": "t1", "status": status, "start": 1, "properties": {"name": "x"}}
        if status != "pending":
            task["end"] = 2
            task["result"] = {"id": "new"} if status == "success" else {"message": "boom"}
        return response(200, json.dumps(task))

    return answer


TOKEN = re.compile(r'`confirm_token: "([^"]+)"`')


def token_in(outcome: Outcome) -> str:
    found = TOKEN.search(outcome.text)
    assert found is not None and not outcome.is_error, outcome.text
    return found.group(1)


async def confirm_token(
    tool_runner: Confirming, arguments: dict[str, Any], tool: str = "vms_action"
) -> str:
    return token_in(await tool_runner.run(tool, arguments))


async def test_an_action_first_asks_for_confirmation(audit: LogLines) -> None:
    tool_runner, fake = runner(task_flow(["success"]))
    arguments = {"operation": "StartVm", "id": "v1", "body": {"hostId": "h", "password": "pw"}}
    outcome = await tool_runner.run("vms_action", arguments)
    # Nothing ran: the VM and its pool were only looked up, by name, for the preview.
    assert xo_calls(fake) == [("GET", "/pools/p1", {"fields": "name_label"}, None)]
    assert fake.calls[0][:2] == ("GET", "/vms/v1")
    lines = outcome.text.splitlines()
    assert lines[:2] == ["## Confirmation Required", "**Operation**: StartVm"]
    assert "**Target**: VM web-01, id v1, state Halted, pool prod-a" in lines
    assert "**Request**: POST /vms/v1/actions/start" in lines
    assert '  "hostId": "h",' in lines and '  "password": "********"' in lines
    assert "pw" not in outcome.text.replace("password", "")
    token = token_in(outcome)
    assert f'`confirm_token: "{token}"`' in outcome.text
    (line,) = audit_lines(audit)
    assert line["outcome"] == "confirmation_requested" and line["body_keys"] == [
        "hostId",
        "password",
    ]
    assert line["target"] == "web-01" and line["path"] == "/vms/v1/actions/start"


async def test_confirmed_action_runs_once(audit: LogLines) -> None:
    tool_runner, fake = runner(task_flow(["success"]))
    arguments = {"operation": "StartVm", "id": "v1"}
    token = await confirm_token(tool_runner, arguments)
    outcome = await tool_runner.run("vms_action", {**arguments, "confirm_token": token})
    assert outcome == Outcome('{\n  "taskId": "t1"\n}')
    assert xo_calls(fake)[-1] == ("POST", "/vms/v1/actions/start", None, None)
    posts = len(fake.calls)
    replay = await tool_runner.run("vms_action", {**arguments, "confirm_token": token})
    assert replay.is_error and "Invalid or expired confirmation token" in replay.text
    assert len(fake.calls) == posts
    outcomes = [line["outcome"] for line in audit_lines(audit)]
    assert outcomes == ["confirmation_requested", "success", "refused"]


@pytest.mark.parametrize(
    "changed",
    [
        {"operation": "DeleteVm"},
        {"id": "v2"},
        {"body": {"hostId": "elsewhere"}},
    ],
)
async def test_a_token_only_confirms_its_own_request(
    changed: dict[str, Any], audit: LogLines
) -> None:
    tool_runner, fake = runner(task_flow(["success"]))
    arguments = {"operation": "StartVm", "id": "v1"}
    token = await confirm_token(tool_runner, arguments)
    outcome = await tool_runner.run("vms_action", {**arguments, **changed, "confirm_token": token})
    assert outcome.is_error and "cannot confirm anything else" in outcome.text
    assert [call for call in fake.calls if call[0] != "GET"] == []
    again = await tool_runner.run("vms_action", {**arguments, "confirm_token": token})
    assert again.is_error and "Invalid or expired" in again.text  # a misused token is spent


async def test_tokens_are_bound_to_the_client(audit: LogLines) -> None:
    tool_runner, fake = runner(task_flow(["success"]))
    arguments = {"operation": "StartVm", "id": "v1"}
    alice, mallory = ClientIdentity(name="alice"), ClientIdentity(name="mallory")
    token = token_in(await tool_runner.run("vms_action", arguments, client=alice))
    stolen = await tool_runner.run(
        "vms_action", {**arguments, "confirm_token": token}, client=mallory
    )
    assert stolen.is_error and "another client" in stolen.text
    assert [call for call in fake.calls if call[0] != "GET"] == []


async def test_instance_names_prefix_tokens_and_audit_lines(audit: LogLines) -> None:
    tool_runner, _ = runner(task_flow(["success"]), instance="production")
    token = await confirm_token(tool_runner, {"operation": "DeleteVm", "id": "v1"})
    assert token.startswith("production.")
    assert audit_lines(audit)[0]["instance"] == "production"


async def test_multi_placeholder_action(audit: LogLines) -> None:
    tool_runner, fake = runner(task_flow(["success"], action_status=204))
    arguments = {"operation": "PutVmTag", "id": "v1", "tag": "a/b"}
    token = await confirm_token(tool_runner, arguments)
    outcome = await tool_runner.run("vms_action", {**arguments, "confirm_token": token})
    assert xo_calls(fake)[-1] == ("PUT", "/vms/v1/tags/a%2Fb", None, None)
    assert outcome.text == "PutVmTag succeeded (HTTP 204, no content)."
    missing = await tool_runner.run("vms_action", {"operation": "PutVmTag", "id": "v1"})
    assert missing.is_error and "needs `tag`" in missing.text


async def test_body_is_checked_before_anything_else(audit: LogLines) -> None:
    tool_runner, fake = runner(task_flow(["success"]))
    outcome = await tool_runner.run(
        "vdis_action", {"operation": "CreateVdi", "body": {"name_label": "x", "size": 1}}
    )
    assert outcome.is_error
    assert outcome.text.startswith("Invalid body for CreateVdi: body needs `srId`")
    assert "unknown keys ['size']" in outcome.text
    assert fake.calls == []


async def test_wait_returns_the_final_task_status_with_progress(audit: LogLines) -> None:
    tool_runner, fake = runner(task_flow(["pending", "pending", "success"]))
    seen: list[tuple[float, float | None, str | None]] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        seen.append((value, total, message))

    arguments = {"operation": "StartVm", "id": "v1", "wait": True}
    token = await confirm_token(tool_runner, arguments)
    outcome = await tool_runner.run(
        "vms_action", {**arguments, "confirm_token": token}, progress=progress
    )
    assert not outcome.is_error
    assert outcome.text.startswith("Task t1 finished: success\n")
    assert json.loads(outcome.text.split("\n", 1)[1])["result"] == {"id": "new"}
    assert [call[1] for call in xo_calls(fake)] == (
        ["/pools/p1", "/vms/v1/actions/start"] + ["/tasks/t1"] * 3
    )
    assert len(seen) == 2 and all(m and "task t1 pending" in m for _, _, m in seen)


async def test_wait_reports_a_failed_task_as_an_error(audit: LogLines) -> None:
    tool_runner, _ = runner(task_flow(["failure"]))
    arguments = {"operation": "StartVm", "id": "v1", "wait": True}
    token = await confirm_token(tool_runner, arguments)
    outcome = await tool_runner.run("vms_action", {**arguments, "confirm_token": token})
    assert outcome.is_error and outcome.text.startswith("Task t1 finished: failure")


async def test_wait_gives_up_after_its_budget(audit: LogLines) -> None:
    tool_runner, _ = runner(task_flow(["pending"]), wait_timeout_s=0.01)
    arguments = {"operation": "StartVm", "id": "v1", "wait": True}
    token = await confirm_token(tool_runner, arguments)
    outcome = await tool_runner.run("vms_action", {**arguments, "confirm_token": token})
    assert not outcome.is_error
    assert outcome.text.startswith("Task t1 is still pending after 0.01s")


async def test_wait_when_following_the_task_fails(audit: LogLines) -> None:
    def answer(method: str, path: str, query: Any, body: Any) -> XoResponse | Exception:
        if method == "POST":
            return response(202, '{"taskId": "t1"}')
        if path.startswith("/vms/"):
            return response(200, '{"id": "v1", "name_label": "web-01"}')
        return XoRequestError("Request to XO server timed out after 1s.")

    tool_runner, _ = runner(answer)
    arguments = {"operation": "StartVm", "id": "v1", "wait": True}
    token = await confirm_token(tool_runner, arguments)
    outcome = await tool_runner.run("vms_action", {**arguments, "confirm_token": token})
    assert outcome.is_error
    assert outcome.text.startswith("The action started task t1, but following it failed")
    assert audit_lines(audit)[-1]["outcome"] == "success"


async def test_wait_without_a_task_returns_the_answer(audit: LogLines) -> None:
    tool_runner, fake = runner(task_flow(["success"], action_status=204))
    arguments = {"operation": "DeleteVm", "id": "v1", "wait": True}
    token = await confirm_token(tool_runner, arguments)
    outcome = await tool_runner.run("vms_action", {**arguments, "confirm_token": token})
    assert outcome.text == "DeleteVm succeeded (HTTP 204, no content)."
    assert [call[0] for call in xo_calls(fake)] == ["GET", "DELETE"]  # the pool, the VM


async def test_failed_action_is_audited_without_xo_text_or_body(audit: LogLines) -> None:
    error = XoRequestError(
        'XO API error (422 Unprocessable Entity): {"error":{"body.password":{"value":"hunter2"}}}',
        status=422,
        summary="XO API error (422 Unprocessable Entity)",
    )
    tool_runner, _ = runner(lambda *_: error)
    arguments = {"operation": "CreateVdi", "body": {"srId": "hunter2"}}
    token = await confirm_token(tool_runner, arguments, "vdis_action")
    failed = await tool_runner.run("vdis_action", {**arguments, "confirm_token": token})
    assert failed.is_error and failed.text.startswith("Failed to execute vdis action: XO API error")
    assert "hunter2" not in audit.getvalue()
    line = audit_lines(audit)[-1]
    assert line["outcome"] == "failure" and line["status"] == 422
    assert line["detail"] == "XO API error (422 Unprocessable Entity)"
    assert line["body_keys"] == ["srId"]
    assert {"ts", "event", "operation", "method", "path", "duration_ms"} <= set(line)


# --- utility tools --------------------------------------------------------------------------------


async def test_check_connection(audit: LogLines) -> None:
    tool_runner, fake = runner(ok("[]", JSON))
    outcome = await tool_runner.run("check_connection", {})
    assert outcome == Outcome("Connection to XO server successful.")
    assert fake.calls == [("GET", "/pools", {"limit": "1"}, None)]
    failing, _ = runner(lambda *_: XoRequestError("Authentication failed: check XO_TOKEN"))
    outcome = await failing.run("check_connection", None)
    assert outcome == Outcome("Connection test failed: Authentication failed: check XO_TOKEN", True)


INVENTORY = {
    "/pools": [{"id": "p1", "name_label": "Lab", "href": "/rest/v0/pools/p1"}],
    "/hosts": [{"id": "h1", "name_label": "xcp-1", "power_state": "Running", "$pool": "p1"}],
    "/vms": [
        {"id": "v1", "name_label": "web", "power_state": "Running", "$container": "h1",
         "$pool": "p1"},
        {"id": "v2", "name_label": "db", "power_state": "Halted", "$container": "p1",
         "$pool": "p1"},
    ],
}  # fmt: skip


async def test_infrastructure_summary(audit: LogLines) -> None:
    tool_runner, fake = runner(lambda m, path, q, b: response(200, json.dumps(INVENTORY[path])))
    outcome = await tool_runner.run("get_infrastructure_summary", {})
    assert not outcome.is_error
    assert outcome.text.startswith(
        "## Counts\n- Pools: 1\n- Hosts: 1 (Running 1)\n- VMs: 2 (Running 1, Halted 1)\n"
    )
    assert "| web | Running | xcp-1 | Lab | v1 |" in outcome.text
    # Bounded reads of small objects, in JSON (not XO's markdown tables, which hold no counts).
    assert sorted((path, query) for _, path, query, _ in fake.calls) == [
        ("/hosts", {"fields": "id,name_label,power_state,enabled,$pool", "limit": "1000"}),
        ("/pools", {"fields": "id,name_label", "limit": "500"}),
        ("/vms", {"fields": "id,name_label,power_state,$container,$pool", "limit": "2500"}),
    ]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (XoRequestError("Cannot connect"), "Cannot connect"),
        (response(200, "| not | json |", MARKDOWN), "XO answered GET /pools with invalid JSON"),
        (response(200, '{"a": 1}'), "XO answered GET /pools with something that is not a list"),
        (
            XoResponse(200, JSON, "[", {}, truncated=True),
            "XO's answer to GET /pools was too long to read",
        ),
    ],
)
async def test_infrastructure_summary_failures(answer: Any, expected: str, audit: LogLines) -> None:
    def answers(method: str, path: str, *_: Any) -> Any:
        return answer if path == "/pools" else response(200, "[]")

    failing, _ = runner(answers)
    outcome = await failing.run("get_infrastructure_summary", {})
    assert outcome == Outcome(f"Failed to get infrastructure summary: {expected}", True)


async def test_an_unknown_argument_error_lists_every_argument_of_the_tool(audit: LogLines) -> None:
    # XO's own query parameters (`sync`, `markdown`) are not arguments: the answer says which are.
    tool_runner, fake = runner(ok())
    outcome = await tool_runner.run(
        "vms_action", {"operation": "StartVm", "id": "x", "sync": True, "markdown": True}
    )
    allowed = list(tool_runner.runner.tools["vms_action"].definition["inputSchema"]["properties"])
    assert "tag" in allowed and "wait" in allowed
    assert outcome.is_error
    assert outcome.text == (
        "Invalid arguments for vms_action: unknown arguments `sync`, `markdown` "
        f"(allowed: {', '.join(allowed)})"
    )
    assert fake.calls == []


async def test_utility_tools_refuse_unknown_arguments(audit: LogLines) -> None:
    tool_runner, fake = runner(ok())
    outcome = await tool_runner.run("search_documentation", {"topic": "nope"})
    assert outcome.is_error and "`topic` must be one of: installation" in outcome.text
    outcome = await tool_runner.run("check_connection", {"verbose": True})
    assert outcome.is_error and "unknown argument `verbose`" in outcome.text
    assert fake.calls == []
