"""Tool arguments from a hostile (or confused) model, property-based: `ToolRunner.run` answers
every one with an outcome (an error where the arguments are wrong), never an exception; an
id can only ever fill its own path segment (no traversal to another XO route); an action never
runs without its confirmation.

The tools are those of the simulator's spec (every domain, actions enabled). XO is a fake that
records requests; the last test sends traversal ids to a real simulator through a real client.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.fakes import Confirming, FakeXo, tool_runner
from support.processes import Sim

from xo_mcp.sim.state import SimConfig, SimState
from xo_mcp.worker.calls import Outcome
from xo_mcp.worker.openapi import Operation, parse_spec
from xo_mcp.worker.settings import Credentials, WorkerSettings
from xo_mcp.worker.tools import build_tools
from xo_mcp.worker.xo_client import XoClient, XoResponse

SETTINGS = settings(
    max_examples=400,
    deadline=5000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
WORKER = WorkerSettings(
    xo_url="http://xo.invalid",
    credentials=Credentials(token="t"),
    max_response_chars=5000,
    docs_url="http://127.0.0.1:9",  # search_documentation stays on loopback (and fails)
)
SPEC = json.loads(SimState(SimConfig()).spec_bytes())
CATALOG = parse_spec(SPEC, actions=True)
TOOLS = build_tools(CATALOG)
OPERATIONS: dict[str, Operation] = {
    op.name: op for tool in TOOLS for op in tool.operations.values()
}
TRAVERSALS = [
    "..",
    ".",
    "../..",
    "../../pools",
    "%2e%2e",
    "%2E%2E%2Fpools",
    "a/../b",
    "..\\..\\",
    "..;/pools",
    "?fields=*",
    "#x",
    "\x00",
    " ",
    "/",
    "//",
    "é/ü",
]


def _table(*_: Any) -> XoResponse:
    return XoResponse(200, "text/markdown", "| a |\n| - |\n| 1 |", {})


def _runner() -> tuple[Confirming, FakeXo]:
    """The runner on a fake XO that records every request and answers 200 with a small table."""
    fake = FakeXo(_table, WORKER)
    return tool_runner(fake, CATALOG, TOOLS), fake


def run(runner: Confirming, name: str, arguments: Any) -> Outcome:
    return asyncio.run(runner.run(name, arguments))


def assert_confined(operation: Operation, sent: str, arguments: dict[str, Any]) -> None:
    """The request path has the template's shape; each value sits, intact, in its segment."""
    template = operation.path.split("/")
    segments = sent.split("/")
    assert len(segments) == len(template), (operation.path, sent)
    for pattern, segment in zip(template, segments, strict=True):
        if pattern.startswith("{") and pattern.endswith("}"):
            assert segment not in (".", "..")
            assert unquote(segment) == str(arguments[pattern[1:-1]])
        else:
            assert segment == pattern


# --- strategies ----------------------------------------------------------------------------

LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**300), max_value=10**300),
    st.floats(),
    st.text(max_size=30),
    st.sampled_from(TRAVERSALS),
    st.just("x" * 100_001),
)
VALUE = st.recursive(
    LEAF,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
NAMES = st.sampled_from([tool.name for tool in TOOLS]) | st.text(max_size=20)
ARGUMENT_KEYS = st.sampled_from(
    ["operation", "id", "filter", "fields", "limit", "body", "confirm_token", "wait", "tag", "x"]
)


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, Any]:
    name = draw(NAMES)
    tool = next((tool for tool in TOOLS if tool.name == name), None)
    arguments: dict[str, Any] = draw(st.dictionaries(ARGUMENT_KEYS, VALUE, max_size=6))
    if tool is not None and tool.operations and draw(st.booleans()):
        # Mostly well-formed, so the calls get past validation and reach the fake XO.
        arguments["operation"] = draw(st.sampled_from(sorted(tool.operations)))
        for key in ("id", "tag"):
            if draw(st.booleans()):
                arguments[key] = draw(st.sampled_from(TRAVERSALS) | st.text(max_size=20))
    shape = draw(st.sampled_from(["dict", "dict", "dict", "none", "junk"]))
    if shape == "none":
        return name, None
    if shape == "junk":
        return name, draw(VALUE)
    return name, arguments


@SETTINGS
@given(calls())
def test_any_arguments_get_an_outcome_never_an_exception(call: tuple[str, Any]) -> None:
    name, arguments = call
    runner, fake = _runner()
    outcome = run(runner, name, arguments)
    assert isinstance(outcome, Outcome) and isinstance(outcome.text, str)
    assert len(outcome.text) <= WORKER.max_response_chars + 200
    tool = next((tool for tool in TOOLS if tool.name == name), None)
    if tool is None:
        assert outcome.is_error and fake.calls == []
    elif tool.kind == "utility":  # fixed paths of their own (/pools, /hosts, /vms)
        assert all(path in ("/pools", "/hosts", "/vms") for _, path, _, _ in fake.calls)
    elif tool.kind == "action":
        # Only reads: the preview looks its target up, nothing acts before a confirmation.
        assert all(call[0] == "GET" for call in fake.calls), "an action ran without confirmation"
    else:
        for _, path, _, _ in fake.calls:
            # The tool's own operation: XO's spec repeats some operationIds (GetSrs on /sms).
            assert_confined(tool.operations[arguments["operation"]], path, arguments)


@SETTINGS
@given(st.sampled_from(TRAVERSALS) | st.text(min_size=1, max_size=40), st.text(max_size=40))
def test_ids_only_ever_fill_their_own_segment(value: str, token: str) -> None:
    runner, fake = _runner()
    arguments = {"operation": "GetVm", "id": value}
    outcome = run(runner, "vms_query", arguments)
    assert not outcome.is_error, outcome.text
    [(method, path, _, _)] = fake.calls
    assert method == "GET"
    assert_confined(OPERATIONS["GetVm"], path, arguments)
    # Two placeholders, a made-up confirmation token: refused, nothing sent.
    action = {"operation": "PutVmTag", "id": value, "tag": value, "confirm_token": token or "t"}
    refused = run(runner, "vms_action", action)
    assert refused.is_error and len(fake.calls) == 1


def test_a_confirmed_action_with_traversal_values_stays_in_its_path() -> None:
    runner, fake = _runner()
    arguments = {"operation": "PutVmTag", "id": "../../users", "tag": "../.."}
    preview = run(runner, "vms_action", arguments)
    token = re.search(r'confirm_token: "([^"]+)"', preview.text)
    assert token is not None, preview.text
    [(method, lookup, _, _)] = fake.calls  # the VM, looked up for the preview: one segment
    assert (method, lookup) == ("GET", "/vms/..%2F..%2Fusers")
    done = run(runner, "vms_action", {**arguments, "confirm_token": token.group(1)})
    assert not done.is_error, done.text
    [(method, path, _, _)] = fake.calls[1:]
    assert method == "PUT"
    assert_confined(OPERATIONS["PutVmTag"], path, arguments)


@pytest.mark.parametrize("key", ["limit", "operation"])
def test_huge_integers_are_error_results(key: str) -> None:
    runner, fake = _runner()
    outcome = run(runner, "vms_query", {"operation": "GetVms", key: 10**5000})
    assert isinstance(outcome, Outcome) and outcome.is_error, outcome.text
    assert f"`{key}`" in outcome.text and fake.calls == []


@pytest.mark.parametrize("value", TRAVERSALS)
def test_traversal_ids_reach_no_other_route_of_a_real_xo(sim: Sim, value: str) -> None:
    settings = WorkerSettings(xo_url=sim.url, credentials=Credentials(token=sim.token))

    async def call() -> Outcome:
        client = XoClient(settings)
        try:
            runner = tool_runner(client, CATALOG, TOOLS)
            return await runner.run("vms_query", {"operation": "GetVm", "id": value})
        finally:
            await client.aclose()

    outcome = asyncio.run(call())
    # Whatever the value, XO is asked for one VM: it has none of that name.
    assert outcome.is_error, outcome.text
    assert "XO API error (404 Not Found)" in outcome.text, outcome.text
