"""Traces through the whole fleet: a tool call is one trace, from the gateway's span through the
worker's to a span per XO request, exported by both processes to the OTLP/HTTP endpoint of the
fleet file, and in the client's own trace when it sent a traceparent (MCP `_meta`, or the HTTP
header). The request id of the call is on every span and in the log lines."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.clients import http_client, text
from support.fleetfile import fleet_toml, instance
from support.otlp import Receiver, Span, otlp_receiver
from support.processes import Fleet, Sim, sims_and_fleet, wait_for

pytestmark = pytest.mark.anyio
META_TRACE = "0af7651916cd43dd8448eb211c80319c"
HEADER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
QUERY = {"instance": "alpha", "operation": "GetVms", "limit": 1}


Traced = tuple[Fleet, Receiver, Sim]


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[Traced]:
    with otlp_receiver() as receiver:

        def fleet_file(sims: dict[str, Sim]) -> tuple[str, dict[str, str]]:
            toml = fleet_toml(
                instances={"alpha": instance(sims["alpha"], token_env="ALPHA_TOKEN", actions=True)},
                telemetry={"otlp_endpoint": receiver.url},
            )
            return toml, {"ALPHA_TOKEN": sims["alpha"].token}

        with sims_and_fleet(tmp_path, {"alpha": ()}, fleet_file) as (fleet, sims):
            yield fleet, receiver, sims["alpha"]


def one_trace(receiver: Receiver, trace_id: str | None = None) -> list[Span]:
    """The spans of the trace whose gateway span has this trace id (or no parent)."""
    for root in receiver.named("tools/call vms_query"):
        if (trace_id is None and not root.parent_id) or root.trace_id == trace_id:
            return [span for span in receiver.spans if span.trace_id == root.trace_id]
    return []


def chain(spans: list[Span]) -> tuple[Span, Span, Span] | None:
    """gateway → worker → XO request, each the parent of the next, or None (not all in yet)."""
    gateway = [s for s in spans if s.name == "tools/call vms_query"]
    worker = [s for s in spans if s.name == "execute_tool vms_query"]
    xo = [s for s in spans if s.name == "GET"]
    if not (gateway and worker and xo):
        return None
    return gateway[0], worker[0], xo[0]


async def test_one_trace_per_call_from_the_gateway_to_xo(traced: Traced) -> None:
    fleet, receiver, _ = traced
    meta_parent = f"00-{META_TRACE}-b7ad6b7169203331-01"
    async with http_client(f"{fleet.url}/mcp") as client:
        result = await client.call_tool("vms_query", QUERY, meta={"traceparent": meta_parent})
        assert not result.is_error, text(result)
        untraced = await client.call_tool("vms_query", QUERY)
        assert not untraced.is_error
    headers = {"traceparent": f"00-{HEADER_TRACE}-00f067aa0ba902b7-01"}
    async with http_client(f"{fleet.url}/mcp", headers=headers) as client:
        assert not (await client.call_tool("vms_query", QUERY)).is_error

    # The client's trace, from its `_meta`: gateway (fleet) → worker → XO, one request id.
    found = wait_for(lambda: chain(one_trace(receiver, META_TRACE)), 30, "the _meta trace")
    gateway, worker, xo = found
    assert (gateway.service, worker.service, xo.service) == ("xo-mcp-fleet", "xo-mcp", "xo-mcp")
    assert gateway.parent_id == "b7ad6b7169203331" and gateway.kind == "server"
    assert worker.parent_id == gateway.span_id and worker.kind == "server"
    assert xo.parent_id == worker.span_id and xo.kind == "client"
    assert xo.attributes["url.path"] == "/rest/v0/vms"
    assert xo.attributes["http.response.status_code"] == 200
    request_id = gateway.attributes["xo_mcp.request_id"]
    assert worker.attributes["xo_mcp.request_id"] == request_id
    assert worker.attributes["xo_mcp.instance"] == "alpha"
    assert worker.attributes["xo_mcp.operation"] == "GetVms"

    # From the HTTP header, when `_meta` has none.
    found = wait_for(lambda: chain(one_trace(receiver, HEADER_TRACE)), 30, "the header trace")
    assert found[0].parent_id == "00f067aa0ba902b7"

    # Without a traceparent: a trace of its own, rooted at the gateway.
    found = wait_for(lambda: chain(one_trace(receiver)), 30, "a trace of the gateway's own")
    assert found[0].trace_id not in (META_TRACE, HEADER_TRACE)


async def test_the_request_id_follows_the_call_into_the_workers_lines(traced: Traced) -> None:
    """The confirmed call's audit line, written by the worker and relayed by the launcher,
    carries the id the gateway gave that call (the id its spans carry too)."""
    fleet, receiver, sim = traced
    vm_id = str(sim.rest("/vms", fields="id")[0]["id"])
    action = {"instance": "alpha", "operation": "PutVmTag", "id": vm_id, "tag": "traced"}
    async with http_client(f"{fleet.url}/mcp") as client:
        preview = await client.call_tool("vms_action", action)
        token = re.search(r'confirm_token: "([^"]+)"', text(preview))
        assert token is not None, text(preview)
        done = await client.call_tool("vms_action", {**action, "confirm_token": token.group(1)})
        assert not done.is_error, text(done)
    puts = wait_for(lambda: receiver.named("PUT"), 30, "the PUT span")
    (worker,) = [s for s in receiver.spans if s.span_id == puts[0].parent_id]
    request_id = worker.attributes["xo_mcp.request_id"]
    audit = wait_for(
        lambda: [r for r in fleet.records() if r.get("outcome") == "success"], 30, "the audit"
    )
    assert [(r["component"], r["instance"], r["request_id"]) for r in audit] == [
        ("audit", "alpha", request_id)
    ]
    (asked,) = [r for r in fleet.records() if r.get("outcome") == "confirmation_requested"]
    assert asked["request_id"] != request_id  # each tools/call has its own
