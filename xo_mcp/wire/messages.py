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

Frozen dataclasses, each read from JSON by its own `from_json`, which checks every field and
refuses unknown ones (ValueError). Not pydantic: every fleet worker loads this module, and
pydantic would cost each of them about 9 MiB and 55 ms of start-up for a handful of types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Literal

from xo_mcp.wire.fields import Fields


def to_json(message: Any) -> dict[str, Any]:
    """A message as a JSON object, None fields left out (at every depth).

    Walked by hand rather than with `dataclasses.asdict`, which deep-copies every value: a call
    and its answer cross the wire once each, and the copy was most of their encoding time.
    """
    return {
        item.name: _without_none(value)
        for item in fields(message)
        if (value := getattr(message, item.name)) is not None
    }


def _without_none(value: Any) -> Any:
    if is_dataclass(value):
        return to_json(value)
    if isinstance(value, dict):
        return {key: _without_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_without_none(item) for item in value]
    return value


@dataclass(frozen=True)
class ClientIdentity:
    """Who is calling, as the gateway authenticated it (for audit lines and token binding)."""

    name: str  # the gateway client entry ("stdio" on the stdio front, "local" unauthenticated)
    subject: str | None = None  # an OAuth client's `sub`

    def __str__(self) -> str:
        return self.name if self.subject is None else f"{self.name} (sub {self.subject})"

    @classmethod
    def from_json(cls, data: Any) -> ClientIdentity:
        read = Fields(data, "client")
        found = cls(name=read.text("name"), subject=read.optional_text("subject"))
        read.done()
        return found


@dataclass(frozen=True)
class Target:
    """The object an action's path points at, as XO described it a moment before."""

    type: str
    id: str
    name: str | None = None
    state: str | None = None  # power state, status…
    pool: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> Target:
        read = Fields(data, "target")
        found = cls(
            type=read.text("type"),
            id=read.text("id"),
            name=read.optional_text("name"),
            state=read.optional_text("state"),
            pool=read.optional_text("pool"),
        )
        read.done()
        return found


@dataclass(frozen=True)
class Action:
    """The exact REST request an action would send, and what it would act on."""

    operation: str
    method: str
    path: str
    instance: str | None = None
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

    @classmethod
    def from_json(cls, data: Any) -> Action:
        read = Fields(data, "action")
        target = read.optional("target")
        found = cls(
            operation=read.text("operation"),
            method=read.text("method"),
            path=read.text("path"),
            instance=read.optional_text("instance"),
            body=read.optional("body"),
            target=None if target is None else Target.from_json(target),
            summary=read.optional_text("summary") or "",
        )
        read.done()
        return found


@dataclass(frozen=True)
class Describe:
    op: Literal["describe"] = "describe"


@dataclass(frozen=True)
class Call:
    name: str
    client: ClientIdentity
    arguments: dict[str, Any] | None = None
    request_id: str | None = None  # follows the call into the worker's lines and to XO
    traceparent: str | None = None  # W3C trace context of the gateway's span
    confirmed: Action | None = None
    op: Literal["call"] = "call"

    @classmethod
    def from_json(cls, data: Any) -> Call:
        read = Fields(data, "call")
        read.constant("op", "call")
        confirmed = read.optional("confirmed")
        found = cls(
            name=read.text("name"),
            client=ClientIdentity.from_json(read.required("client")),
            arguments=read.optional_object("arguments"),
            request_id=read.optional_text("request_id"),
            traceparent=read.optional_text("traceparent"),
            confirmed=None if confirmed is None else Action.from_json(confirmed),
        )
        read.done()
        return found


Request = Describe | Call


@dataclass(frozen=True)
class WorkerStatus:
    url: str
    instance: str | None = None
    api_version: str | None = None
    tools: int = 0
    actions: bool = False

    @classmethod
    def from_json(cls, data: Any) -> WorkerStatus:
        read = Fields(data, "status")
        found = cls(
            url=read.text("url"),
            instance=read.optional_text("instance"),
            api_version=read.optional_text("api_version"),
            tools=read.integer("tools", 0),
            actions=read.flag("actions", False),
        )
        read.done()
        return found


@dataclass(frozen=True)
class OperationBrief:
    """One operation in a few words, for compact tool lists: `StartVm(id,body?)`, and the tool
    arguments it uses (so that a compact tool declares only those)."""

    line: str
    arguments: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Any) -> OperationBrief:
        read = Fields(data, "operation brief")
        found = cls(line=read.text("line"), arguments=read.texts("arguments"))
        read.done()
        return found


@dataclass(frozen=True)
class ToolBrief:
    """A tool in a few words: its operations' briefs, or (a tool without operations) a short
    description."""

    summary: str | None = None
    operations: dict[str, OperationBrief] = field(default_factory=dict)

    def merged(self, other: ToolBrief) -> ToolBrief:
        """Both tools' briefs (the same tool on two instances); this one wins a conflict."""
        return ToolBrief(
            summary=self.summary or other.summary,
            operations={**other.operations, **self.operations},
        )

    @classmethod
    def from_json(cls, data: Any) -> ToolBrief:
        read = Fields(data, "tool brief")
        operations = read.optional_object("operations") or {}
        found = cls(
            summary=read.optional_text("summary"),
            operations={name: OperationBrief.from_json(op) for name, op in operations.items()},
        )
        read.done()
        return found


@dataclass(frozen=True)
class Description:
    tools: list[dict[str, Any]]  # MCP tool definitions, in wire form
    status: WorkerStatus
    briefs: dict[str, ToolBrief] = field(default_factory=dict)  # by tool name
    kind: Literal["description"] = "description"

    @classmethod
    def from_json(cls, data: Any) -> Description:
        read = Fields(data, "description")
        read.constant("kind", "description")
        briefs = read.optional_object("briefs") or {}
        found = cls(
            tools=read.objects("tools"),
            status=WorkerStatus.from_json(read.required("status")),
            briefs={name: ToolBrief.from_json(brief) for name, brief in briefs.items()},
        )
        read.done()
        return found


@dataclass(frozen=True)
class Progress:
    progress: float
    total: float | None = None
    message: str | None = None
    kind: Literal["progress"] = "progress"

    @classmethod
    def from_json(cls, data: Any) -> Progress:
        read = Fields(data, "progress")
        read.constant("kind", "progress")
        found = cls(
            progress=read.number("progress"),
            total=read.optional_number("total"),
            message=read.optional_text("message"),
        )
        read.done()
        return found


@dataclass(frozen=True)
class Result:
    text: str
    is_error: bool = False
    mcp_disabled: bool = False  # XO's kill switch answered: the instance is disabled by admin
    confirmation: Action | None = None  # set when nothing ran: this action awaits confirmation
    kind: Literal["result"] = "result"

    @classmethod
    def from_json(cls, data: Any) -> Result:
        read = Fields(data, "result")
        read.constant("kind", "result")
        confirmation = read.optional("confirmation")
        found = cls(
            text=read.text("text"),
            is_error=read.flag("is_error", False),
            mcp_disabled=read.flag("mcp_disabled", False),
            confirmation=None if confirmation is None else Action.from_json(confirmation),
        )
        read.done()
        return found


Reply = Description | Progress | Result
