"""Tool calls without a client: path building and encoding, caps, confirmations, outcomes."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from typing import Any

import pytest
from support.fakes import Answer, FakeXo, tool_runner

from xo_mcp.worker.calls import Outcome, ToolRunner, build_path, cap, encode_segment, render
from xo_mcp.worker.meta import CONFIRM_META_KEY, MCP_DISABLED_META_KEY
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


def runner(answer: Answer, **settings: Any) -> tuple[ToolRunner, FakeXo, io.StringIO]:
    fake = FakeXo(answer, replace(SETTINGS, **settings))
    audit = io.StringIO()
    return tool_runner(fake, parse_spec(SPEC, actions=True), audit=audit), fake, audit


def audit_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


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


def test_render() -> None:
    assert render(response(text='{"a":[1,2]}')) == '{\n  "a": [\n    1,\n    2\n  ]\n}'
    assert render(response(text='{"name":"café"}')) == '{\n  "name": "café"\n}'
    assert render(response(text="| a |\n| --- |", content_type=MARKDOWN)) == "| a |\n| --- |"
    with pytest.raises(XoRequestError, match="invalid JSON"):
        render(response(text="{not json"))
    assert render(response(204, "")) == ""
    truncated = XoResponse(200, JSON, '{"a": [1, 2', {}, truncated=True)
    assert render(truncated).startswith('{"a": [1, 2\n\n[truncated: XO\'s answer was too long')


# --- queries --------------------------------------------------------------------------------------


async def test_query_sends_markdown_and_default_fields() -> None:
    tool_runner, fake, _ = runner(ok())
    outcome = await tool_runner.run("vms_query", {"operation": "GetVms"})
    assert outcome == Outcome("| a |")
    assert fake.calls == [("GET", "/vms", {"markdown": "true", "fields": "name_label,uuid"}, None)]


async def test_query_arguments() -> None:
    tool_runner, fake, _ = runner(ok())
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


async def test_query_of_one_object() -> None:
    tool_runner, fake, _ = runner(ok('{"id":"v/1"}', JSON))
    outcome = await tool_runner.run("vms_query", {"operation": "GetVm", "id": "v/1"})
    assert fake.calls[0][1] == "/vms/v%2F1"
    assert outcome.text == '{\n  "id": "v/1"\n}'


async def test_query_without_its_id_sends_nothing() -> None:
    tool_runner, fake, _ = runner(ok())
    outcome = await tool_runner.run("vms_query", {"operation": "GetVm"})
    assert outcome.is_error
    assert outcome.text == "Failed to query vms: GetVm (GET /vms/{id}) needs `id`"
    assert fake.calls == []


async def test_invalid_arguments_send_nothing() -> None:
    tool_runner, fake, _ = runner(ok())
    outcome = await tool_runner.run("vms_query", {"operation": "DeleteVm", "limit": "2"})
    assert outcome.is_error
    assert outcome.text.startswith("Invalid arguments for vms_query: `operation` must be one of")
    assert "`limit` must be a number" in outcome.text
    assert fake.calls == []


async def test_unknown_tool() -> None:
    tool_runner, _, _ = runner(ok())
    assert await tool_runner.run("nope", {}) == Outcome("Unknown tool: nope", is_error=True)


async def test_xo_errors_become_tool_errors() -> None:
    error = XoRequestError("XO API error (404 Not Found): no such VM x", status=404)
    tool_runner, _, _ = runner(lambda *_: error)
    outcome = await tool_runner.run("vms_query", {"operation": "GetVm", "id": "x"})
    assert outcome == Outcome(
        "Failed to query vms: XO API error (404 Not Found): no such VM x", True
    )


async def test_kill_switch_is_flagged() -> None:
    error = XoRequestError("MCP disabled by admin: …", status=503, mcp_disabled=True)
    tool_runner, _, _ = runner(lambda *_: error)
    outcome = await tool_runner.run("vms_query", {"operation": "GetVms"})
    assert outcome.is_error and "MCP disabled by admin" in outcome.text
    assert outcome.meta == {MCP_DISABLED_META_KEY: True}


async def test_long_outputs_are_capped() -> None:
    tool_runner, _, _ = runner(ok("y" * 500), max_response_chars=100)
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
        status = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        task = {"id": "t1", "status": status, "start": 1, "properties": {"name": "x"}}
        if status != "pending":
            task["end"] = 2
            task["result"] = {"id": "new"} if status == "success" else {"message": "boom"}
        return response(200, json.dumps(task))

    return answer


async def confirm_token(tool_runner: ToolRunner, arguments: dict[str, Any]) -> str:
    outcome = await tool_runner.run("vms_action", arguments)
    assert not outcome.is_error
    confirmation = outcome.confirmation
    assert confirmation is not None
    token: str = confirmation["token"]
    return token


async def test_an_action_first_asks_for_confirmation() -> None:
    tool_runner, fake, audit = runner(task_flow(["success"]))
    arguments = {"operation": "StartVm", "id": "v1", "body": {"hostId": "h"}}
    outcome = await tool_runner.run("vms_action", arguments)
    assert fake.calls == []
    lines = outcome.text.splitlines()
    assert lines[:5] == [
        "## Confirmation Required",
        "**Operation**: StartVm",
        "**Method**: POST",
        "**Path**: /vms/v1/actions/start",
        '**Body**: {"hostId": "h"}',
    ]
    token = outcome.meta[CONFIRM_META_KEY]["token"]
    assert f'`confirm_token: "{token}"`' in outcome.text
    assert outcome.meta[CONFIRM_META_KEY]["path"] == "/vms/v1/actions/start"
    (line,) = audit_lines(audit)
    assert line["outcome"] == "confirmation_requested" and line["body_keys"] == ["hostId"]


async def test_confirmed_action_runs_once() -> None:
    tool_runner, fake, audit = runner(task_flow(["success"]))
    arguments = {"operation": "StartVm", "id": "v1"}
    token = await confirm_token(tool_runner, arguments)
    outcome = await tool_runner.run("vms_action", {**arguments, "confirm_token": token})
    assert outcome == Outcome('{\n  "taskId": "t1"\n}')
    assert fake.calls == [("POST", "/vms/v1/actions/start", None, None)]
    replay = await tool_runner.run("vms_action", {**arguments, "confirm_token": token})
    assert replay.is_error and "Invalid or expired confirmation token" in replay.text
    assert len(fake.calls) == 1
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
async def test_a_token_only_confirms_its_own_request(changed: dict[str, Any]) -> None:
    tool_runner, fake, _ = runner(task_flow(["success"]))
    arguments = {"operation": "StartVm", "id": "v1"}
    token = await confirm_token(tool_runner, arguments)
    outcome = await tool_runner.run("vms_action", {**arguments, **changed, "confirm_token": token})
    assert outcome.is_error and "cannot confirm anything else" in outcome.text
    assert fake.calls == []


async def test_tokens_are_bound_to_the_principal() -> None:
    tool_runner, fake, _ = runner(task_flow(["success"]))
    arguments = {"operation": "StartVm", "id": "v1"}
    outcome = await tool_runner.run("vms_action", arguments, principal="alice")
    token = outcome.meta[CONFIRM_META_KEY]["token"]
    stolen = await tool_runner.run(
        "vms_action", {**arguments, "confirm_token": token}, principal="mallory"
    )
    assert stolen.is_error and "another client" in stolen.text
    assert fake.calls == []


async def test_instance_names_prefix_tokens_and_audit_lines() -> None:
    tool_runner, _, audit = runner(task_flow(["success"]), instance="production")
    token = await confirm_token(tool_runner, {"operation": "DeleteVm", "id": "v1"})
    assert token.startswith("production.")
    assert audit_lines(audit)[0]["instance"] == "production"


async def test_multi_placeholder_action() -> None:
    tool_runner, fake, _ = runner(task_flow(["success"], action_status=204))
    arguments = {"operation": "PutVmTag", "id": "v1", "tag": "a/b"}
    token = await confirm_token(tool_runner, arguments)
    outcome = await tool_runner.run("vms_action", {**arguments, "confirm_token": token})
    assert fake.calls == [("PUT", "/vms/v1/tags/a%2Fb", None, None)]
    assert outcome.text == "PutVmTag succeeded (HTTP 204, no content)."
    missing = await tool_runner.run("vms_action", {"operation": "PutVmTag", "id": "v1"})
    assert missing.is_error and "needs `tag`" in missing.text


async def test_body_is_checked_before_anything_else() -> None:
    tool_runner, fake, _ = runner(task_flow(["success"]))
    outcome = await tool_runner.run(
        "vdis_action", {"operation": "CreateVdi", "body": {"name_label": "x", "size": 1}}
    )
    assert outcome.is_error
    assert outcome.text.startswith("Invalid body for CreateVdi: body needs `srId`")
    assert "unknown keys ['size']" in outcome.text
    assert fake.calls == []


async def test_wait_returns_the_final_task_status_with_progress() -> None:
    tool_runner, fake, _ = runner(task_flow(["pending", "pending", "success"]))
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
    assert [call[1] for call in fake.calls] == ["/vms/v1/actions/start"] + ["/tasks/t1"] * 3
    assert len(seen) == 2 and all(m and "task t1 pending" in m for _, _, m in seen)


async def test_wait_reports_a_failed_task_as_an_error() -> None:
    tool_runner, _, _ = runner(task_flow(["failure"]))
    arguments = {"operation": "StartVm", "id": "v1", "wait": True}
    token = await confirm_token(tool_runner, arguments)
    outcome = await tool_runner.run("vms_action", {**arguments, "confirm_token": token})
    assert outcome.is_error and outcome.text.startswith("Task t1 finished: failure")


async def test_wait_gives_up_after_its_budget() -> None:
    tool_runner, _, _ = runner(task_flow(["pending"]), wait_timeout_s=0.01)
    arguments = {"operation": "StartVm", "id": "v1", "wait": True}
    token = await confirm_token(tool_runner, arguments)
    outcome = await tool_runner.run("vms_action", {**arguments, "confirm_token": token})
    assert not outcome.is_error
    assert outcome.text.startswith("Task t1 is still pending after 0.01s")


async def test_wait_when_following_the_task_fails() -> None:
    def answer(method: str, path: str, query: Any, body: Any) -> XoResponse | Exception:
        if method == "POST":
            return response(202, '{"taskId": "t1"}')
        return XoRequestError("Request to XO server timed out after 1s.")

    tool_runner, _, audit = runner(answer)
    arguments = {"operation": "StartVm", "id": "v1", "wait": True}
    token = await confirm_token(tool_runner, arguments)
    outcome = await tool_runner.run("vms_action", {**arguments, "confirm_token": token})
    assert outcome.is_error
    assert outcome.text.startswith("The action started task t1, but following it failed")
    assert audit_lines(audit)[-1]["outcome"] == "success"


async def test_wait_without_a_task_returns_the_answer() -> None:
    tool_runner, fake, _ = runner(task_flow(["success"], action_status=204))
    arguments = {"operation": "DeleteVm", "id": "v1", "wait": True}
    token = await confirm_token(tool_runner, arguments)
    outcome = await tool_runner.run("vms_action", {**arguments, "confirm_token": token})
    assert outcome.text == "DeleteVm succeeded (HTTP 204, no content)."
    assert len(fake.calls) == 1


async def test_failed_action_is_audited_without_xo_text_or_body() -> None:
    error = XoRequestError(
        'XO API error (422 Unprocessable Entity): {"error":{"body.password":{"value":"hunter2"}}}',
        status=422,
        summary="XO API error (422 Unprocessable Entity)",
    )
    tool_runner, _, audit = runner(lambda *_: error)
    arguments = {"operation": "CreateVdi", "body": {"srId": "hunter2"}}
    outcome = await tool_runner.run("vdis_action", arguments)
    token = outcome.meta[CONFIRM_META_KEY]["token"]
    failed = await tool_runner.run("vdis_action", {**arguments, "confirm_token": token})
    assert failed.is_error and failed.text.startswith("Failed to execute vdis action: XO API error")
    assert "hunter2" not in audit.getvalue()
    line = audit_lines(audit)[-1]
    assert line["outcome"] == "failure" and line["status"] == 422
    assert line["detail"] == "XO API error (422 Unprocessable Entity)"
    assert line["body_keys"] == ["srId"]
    assert {"ts", "event", "operation", "method", "path", "duration_ms"} <= set(line)


# --- utility tools --------------------------------------------------------------------------------


async def test_check_connection() -> None:
    tool_runner, fake, _ = runner(ok("[]", JSON))
    outcome = await tool_runner.run("check_connection", {})
    assert outcome == Outcome("Connection to XO server successful.")
    assert fake.calls == [("GET", "/pools", {"limit": "1"}, None)]
    failing, _, _ = runner(lambda *_: XoRequestError("Authentication failed: check XO_TOKEN"))
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


async def test_infrastructure_summary() -> None:
    tool_runner, fake, _ = runner(lambda m, path, q, b: response(200, json.dumps(INVENTORY[path])))
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
async def test_infrastructure_summary_failures(answer: Any, expected: str) -> None:
    def answers(method: str, path: str, *_: Any) -> Any:
        return answer if path == "/pools" else response(200, "[]")

    failing, _, _ = runner(answers)
    outcome = await failing.run("get_infrastructure_summary", {})
    assert outcome == Outcome(f"Failed to get infrastructure summary: {expected}", True)


async def test_an_unknown_argument_error_lists_every_argument_of_the_tool() -> None:
    # XO's own query parameters (`sync`, `markdown`) are not arguments: the answer says which are.
    tool_runner, fake, _ = runner(ok())
    outcome = await tool_runner.run(
        "vms_action", {"operation": "StartVm", "id": "x", "sync": True, "markdown": True}
    )
    allowed = list(tool_runner.tools["vms_action"].definition["inputSchema"]["properties"])
    assert "tag" in allowed and "wait" in allowed
    assert outcome.is_error
    assert outcome.text == (
        "Invalid arguments for vms_action: unknown arguments `sync`, `markdown` "
        f"(allowed: {', '.join(allowed)})"
    )
    assert fake.calls == []


async def test_utility_tools_refuse_unknown_arguments() -> None:
    tool_runner, fake, _ = runner(ok())
    outcome = await tool_runner.run("search_documentation", {"topic": "nope"})
    assert outcome.is_error and "`topic` must be one of: installation" in outcome.text
    outcome = await tool_runner.run("check_connection", {"verbose": True})
    assert outcome.is_error and "unknown argument `verbose`" in outcome.text
    assert fake.calls == []
