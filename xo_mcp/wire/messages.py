"""The messages of the gateway↔worker protocol.

    gateway → worker                         worker → gateway
    Describe                                 Description (tools, status, briefs)
    Call (tool, arguments, client, …)        Progress*, then Result

A connection carries one request at a time and may carry the next once the answer is in. The
worker answers only the gateway's process (SO_PEERCRED); closing the connection cancels the
call in progress (and its XO request).

Confirmations: an action tool called without confirmation answers a `Result` whose
`confirmation` previews the request it would send (nothing ran). The gateway keeps the token
and, once a human or the model confirms, calls again with `confirmed` set to that preview: the
worker runs the call only if its arguments build exactly that request.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClientIdentity(_Message):
    """Who is calling, as the gateway authenticated it (for audit lines and token binding)."""

    name: str  # the gateway client entry ("stdio" on the stdio front, "local" unauthenticated)
    subject: str | None = None  # an OAuth client's `sub`

    def __str__(self) -> str:
        return self.name if self.subject is None else f"{self.name} (sub {self.subject})"


class Target(_Message):
    """The object an action's path points at, as XO described it a moment before."""

    type: str
    id: str
    name: str | None = None
    state: str | None = None  # power state, status…
    pool: str | None = None


class Action(_Message):
    """The exact REST request an action would send, and what it would act on."""

    instance: str | None = None
    operation: str
    method: str
    path: str
    body: Any = None
    target: Target | None = None
    summary: str = ""  # what will happen, in words

    def audit_fields(self) -> dict[str, Any]:
        """What an audit line says of this action (the body's keys only, never its values)."""
        return {
            "instance": self.instance,
            "operation": self.operation,
            "method": self.method,
            "path": self.path,
            "target": (self.target.name or self.target.id) if self.target else None,
            "body": self.body,
        }

    def fingerprint(self) -> str:
        """What a confirmation is bound to: the request itself, not its description."""
        return json.dumps(
            [self.operation, self.method, self.path, self.body],
            sort_keys=True,
            separators=(",", ":"),
        )


class Describe(_Message):
    op: Literal["describe"] = "describe"


class Call(_Message):
    op: Literal["call"] = "call"
    name: str
    arguments: dict[str, Any] | None = None
    client: ClientIdentity
    request_id: str | None = None  # follows the call into the worker's lines and to XO
    traceparent: str | None = None  # W3C trace context of the gateway's span
    confirmed: Action | None = None


Request = Annotated[Describe | Call, Field(discriminator="op")]


class WorkerStatus(_Message):
    instance: str | None = None
    url: str
    api_version: str | None = None
    tools: int = 0
    actions: bool = False


class OperationBrief(_Message):
    """One operation in a few words, for compact tool lists: `StartVm(id,body?)`, and the tool
    arguments it uses (so that a compact tool declares only those)."""

    line: str
    arguments: tuple[str, ...] = ()


class ToolBrief(_Message):
    """A tool in a few words: its operations' briefs, or (a tool without operations) a short
    description."""

    summary: str | None = None
    operations: dict[str, OperationBrief] = {}

    def merged(self, other: ToolBrief) -> ToolBrief:
        """Both tools' briefs (the same tool on two instances); this one wins a conflict."""
        return ToolBrief(
            summary=self.summary or other.summary,
            operations={**other.operations, **self.operations},
        )


class Description(_Message):
    kind: Literal["description"] = "description"
    tools: list[dict[str, Any]]  # MCP tool definitions, in wire form
    status: WorkerStatus
    briefs: dict[str, ToolBrief] = {}  # by tool name


class Progress(_Message):
    kind: Literal["progress"] = "progress"
    progress: float
    total: float | None = None
    message: str | None = None


class Result(_Message):
    kind: Literal["result"] = "result"
    text: str
    is_error: bool = False
    mcp_disabled: bool = False  # XO's kill switch answered: the instance is disabled by admin
    confirmation: Action | None = None  # set when nothing ran: this action awaits confirmation


Reply = Annotated[Description | Progress | Result, Field(discriminator="kind")]
