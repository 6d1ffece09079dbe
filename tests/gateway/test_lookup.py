"""Where an operation lives on the aggregated surface, for one caller."""

from __future__ import annotations

import mcp_types as types

from xo_mcp.gateway.clients import ClientPolicy
from xo_mcp.gateway.lookup import holders, no_such_operation, offered_by


def tool(name: str, *operations: str) -> types.Tool:
    enum = list(operations)
    schema = {"type": "object", "properties": {"operation": {"type": "string", "enum": enum}}}
    return types.Tool(name=name, input_schema=schema)


OFFERED = {
    "production": [tool("srs_query", "GetSrs", "GetSr"), tool("sms_query", "GetSrs")],
    "staging": [tool("srs_query", "GetSrs"), tool("vms_action", "StartVm")],
}
ADMIN = ClientPolicy("admin")
READER = ClientPolicy("reader", read_only=True)


def test_every_tool_and_instance_that_hold_an_operation() -> None:
    assert holders(OFFERED, ADMIN, "GetSrs", None) == {
        "srs_query": ["production", "staging"],
        "sms_query": ["production"],
    }
    assert holders(OFFERED, ADMIN, "GetSrs", "sms_query") == {"sms_query": ["production"]}
    assert holders(OFFERED, ADMIN, "StartVm", None) == {"vms_action": ["staging"]}
    assert holders(OFFERED, READER, "StartVm", None) == {}  # never shown to a read-only client


def test_nobody_offers_it() -> None:
    assert no_such_operation(OFFERED, ADMIN, "StartVM", None, None) == (
        "No operation 'StartVM'; did you mean StartVm (vms_action)?"
    )
    assert no_such_operation(OFFERED, READER, "StartVM", None, "staging") == (
        "No operation 'StartVM' on staging"
    )
    assert no_such_operation(OFFERED, ADMIN, "GetSR", "vms_action", None).startswith(
        "No operation 'GetSR' in vms_action; did you mean GetSr (srs_query)"
    )


def test_the_instances_that_offer_it() -> None:
    assert offered_by(["staging"]) == "Instance: staging (the only instance that offers it)"
    assert offered_by(["staging", "lab"]) == "Instance: one of staging, lab (required)"
