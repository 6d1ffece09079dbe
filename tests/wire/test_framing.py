"""The wire's messages: every one survives a round trip; anything else on the line is refused
with a ValueError that names the field; and a fleet worker loads no pydantic for them."""

from __future__ import annotations

import json
import subprocess

import pytest
from support.processes import PYTHON, clean_env

from xo_mcp.wire.framing import decode_reply, decode_request, encode
from xo_mcp.wire.messages import (
    Action,
    Call,
    ClientIdentity,
    Describe,
    Description,
    OperationBrief,
    Progress,
    Result,
    Target,
    ToolBrief,
    WorkerStatus,
)

ACTION = Action(
    instance="lab",
    operation="StartVm",
    method="POST",
    path="/vms/0f3c/actions/start",
    body={"force": True, "nested": {"list": [1, None]}},
    target=Target(type="VM", id="0f3c", name="web-01", state="Halted"),
    summary="Start the VM web-01",
)
REQUESTS = [
    Describe(),
    Call(name="vms_query", client=ClientIdentity(name="ops")),
    Call(
        name="vms_action",
        arguments={"operation": "StartVm", "id": "0f3c", "wait": True},
        client=ClientIdentity(name="sso", subject="robot"),
        request_id="5f2c9a1e",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        confirmed=ACTION,
    ),
]
REPLIES = [
    Description(
        tools=[{"name": "vms_query", "inputSchema": {"type": "object"}}],
        status=WorkerStatus(url="https://xo", instance="lab", api_version="0.39.0", tools=1),
        briefs={
            "vms_query": ToolBrief(
                operations={"GetVms": OperationBrief(line="GetVms(filter?)", arguments=("filter",))}
            ),
            "check_connection": ToolBrief(summary="Test the connection"),
        },
    ),
    Progress(progress=1, total=3.5, message="step"),
    Result(text="done"),
    Result(text="Confirmation required", confirmation=ACTION),
    Result(text="disabled", is_error=True, mcp_disabled=True),
]


@pytest.mark.parametrize("message", REQUESTS, ids=lambda m: type(m).__name__)
def test_requests_round_trip(message: Describe | Call) -> None:
    line = encode(message)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode_request(line) == message


@pytest.mark.parametrize("message", REPLIES, ids=lambda m: type(m).__name__)
def test_replies_round_trip(message: Description | Progress | Result) -> None:
    assert decode_reply(encode(message)) == message


def test_none_fields_are_left_out() -> None:
    sent = json.loads(encode(Call(name="t", client=ClientIdentity(name="ops"))))
    assert sent == {"name": "t", "client": {"name": "ops"}, "op": "call"}


@pytest.mark.parametrize(
    ("line", "named"),
    [
        (b"[]", "expected a JSON object"),
        (b"{not json", "Expecting property name"),
        (b'{"op": "delete"}', "not a request"),
        (b'{"op": "describe", "extra": 1}', "not a request"),
        (b'{"op": "call", "name": "t"}', "call.client is missing"),
        (b'{"op": "call", "name": 5, "client": {"name": "a"}}', "call.name: expected a string"),
        (b'{"op": "call", "name": "t", "client": {"name": "a", "role": "x"}}', "role"),
        (b'{"op": "call", "name": "t", "client": {"name": "a"}, "arguments": []}', "arguments"),
        (
            b'{"op": "call", "name": "t", "client": {"name": "a"}, '
            b'"confirmed": {"operation": "X"}}',
            "action.method is missing",
        ),
    ],
)
def test_what_is_not_a_request_is_refused(line: bytes, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        decode_request(line)


@pytest.mark.parametrize(
    ("line", "named"),
    [
        (b'{"kind": "result"}', "result.text is missing"),
        (b'{"kind": "result", "text": "x", "is_error": "yes"}', "is_error: expected true or false"),
        (b'{"kind": "progress", "progress": true}', "progress.progress: expected a number"),
        (b'{"kind": "description", "tools": [1], "status": {"url": "u"}}', "list of objects"),
        (b'{"kind": "description", "tools": [], "status": {"url": "u", "tools": 1.5}}', "integer"),
        (b'{"kind": "result", "text": "x", "later": 1}', "unknown field"),
        (b'{"kind": "other"}', "not a reply"),
    ],
)
def test_what_is_not_a_reply_is_refused(line: bytes, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        decode_reply(line)


def test_a_fleet_worker_loads_no_pydantic() -> None:
    """Every fleet worker imports the wire: it must stay light (no pydantic, no MCP SDK)."""
    probe = (
        "import sys, xo_mcp.worker.cli, xo_mcp.worker.boot, xo_mcp.worker.gateway_socket;"
        "print(sorted(m for m in ('pydantic', 'mcp', 'mcp_types') if m in sys.modules))"
    )
    done = subprocess.run(
        [PYTHON, "-c", probe], env=clean_env(), capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
