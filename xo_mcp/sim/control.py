"""`/_sim/*`: runtime switches for tests and demos (not part of XO's API).

GET    /_sim/state             what is in force
PUT    /_sim/mcp               {"enabled": false} flips XO's MCP kill switch
PUT    /_sim/faults            [{"route": "GET /vms*", "error_rate": 0.5}, …] replaces the rules
DELETE /_sim/faults            removes every rule
POST   /_sim/tokens            {"add": "…"} or {"revoke": "…"}
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from xo_mcp.sim.exchange import Reply, json_reply
from xo_mcp.sim.faults import Fault, FaultPlan
from xo_mcp.sim.state import SimState


class _McpSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool


class _TokenChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    add: str | None = None
    revoke: str | None = None


_FAULTS = TypeAdapter(list[Fault])


def _state_view(state: SimState) -> dict[str, Any]:
    return {
        "mcp_enabled": state.mcp_enabled,
        "faults": [fault.model_dump() for fault in state.faults.faults],
        "tokens": len(state.credentials.tokens),
        "requests": state.requests_served,
        "in_flight": state.in_flight,
    }


def _apply(state: SimState, method: str, path: str, payload: Any) -> None:
    if (method, path) == ("PUT", "/_sim/mcp"):
        state.mcp_enabled = _McpSwitch.model_validate(payload).enabled
    elif (method, path) == ("PUT", "/_sim/faults"):
        state.faults = FaultPlan(_FAULTS.validate_python(payload), seed=state.config.seed)
    elif (method, path) == ("DELETE", "/_sim/faults"):
        state.faults = FaultPlan([], seed=state.config.seed)
    elif (method, path) == ("POST", "/_sim/tokens"):
        change = _TokenChange.model_validate(payload)
        if change.add:
            state.credentials.tokens.add(change.add)
        if change.revoke:
            state.credentials.tokens.discard(change.revoke)
    elif (method, path) != ("GET", "/_sim/state"):
        raise LookupError(f"no control endpoint {method} {path}")


async def handle_control(state: SimState, method: str, path: str, body: bytes) -> Reply:
    try:
        payload = json.loads(body) if body.strip() else None
        _apply(state, method, path.rstrip("/"), payload)
    except LookupError as error:
        return json_reply({"error": str(error)}, 404)
    except (ValidationError, json.JSONDecodeError) as error:
        return json_reply({"error": f"invalid control request: {error}"}, 400)
    return json_reply(_state_view(state))
