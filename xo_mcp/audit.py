"""One audit line per step of an action: who asked what, who confirmed, what happened, how long.

Steps: `confirmation_requested` (a token or a question went out), then one outcome:
`success`, `failure`, `refused` (a token that could not be used), `declined` or `cancelled`
(the human said no), `expired` (nobody answered in five minutes). Lines name the instance, the
gateway client (and an OAuth client's subject), who answered a confirmation, and the target
object's name when it was looked up.

Bodies are never written (they may carry passwords, e.g. CreateUser); only their keys are.
"""

from __future__ import annotations

from typing import Any

from xo_mcp import logs

EVENT = "xo_action"


def record(
    outcome: str,
    *,
    operation: str | None = None,
    method: str | None = None,
    path: str | None = None,
    instance: str | None = None,
    client: str | None = None,
    subject: str | None = None,
    answered_by: str | None = None,
    target: str | None = None,
    body: Any = None,
    status: int | None = None,
    duration_s: float | None = None,
    detail: str | None = None,
) -> None:
    entry: dict[str, Any] = {
        "ts": logs.timestamp(),
        "level": "info",
        "component": "audit",
        "event": EVENT,
    }
    fields: dict[str, Any] = {
        "instance": instance,
        "operation": operation,
        "method": method,
        "path": path,
        "target": target,
        "outcome": outcome,
        "client": client,
        "subject": subject,
        "answered_by": answered_by,
        "status": status,
    }
    entry.update({key: value for key, value in fields.items() if value is not None})
    if duration_s is not None:
        entry["duration_ms"] = round(duration_s * 1000, 1)
    if isinstance(body, dict):
        entry["body_keys"] = sorted(map(str, body))
    if detail:
        entry["detail"] = detail[:300]
    context = logs.context()
    entry.setdefault("client", context.get("client"))
    if context.get("request_id"):
        entry["request_id"] = context["request_id"]
    logs.write({key: value for key, value in entry.items() if value is not None})
