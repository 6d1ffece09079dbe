"""What a tool call does: validate, build the REST request, preview or run it, shape the text.

An action that needs confirmation is never run on first call: its `Outcome` carries the exact
request it would send (`wire.Action`, with the target object looked up by name) and nothing
else happens. The confirmation flow (`front.confirmations`, in the standalone server or the
gateway) keeps the token; a confirmed call comes back with `confirmed` set, and runs only if
its arguments build exactly that request.

Results are plain `Outcome`s; the MCP layer turns them into protocol results, so every path here
is testable without a client.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from xo_mcp import audit
from xo_mcp.front.arguments import check_arguments
from xo_mcp.wire.messages import Action, ClientIdentity, Target
from xo_mcp.worker.docs import fetch_documentation
from xo_mcp.worker.explain import describe
from xo_mcp.worker.openapi import ApiCatalog, Operation, resolve_schema
from xo_mcp.worker.summary import (
    HOST_FIELDS,
    POOL_FIELDS,
    READ_LIMITS,
    VM_FIELDS,
    Hints,
    Listing,
    summarize,
)
from xo_mcp.worker.targets import TargetMissing, lookup_target
from xo_mcp.worker.tools import DESCRIBE_OPERATION, ToolSpec
from xo_mcp.worker.xo_client import XoClient, XoRequestError, XoResponse

ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]
TASK_POLL_S = 0.5


@dataclass
class Outcome:
    text: str
    is_error: bool = False
    mcp_disabled: bool = False  # XO's kill switch answered
    confirmation: Action | None = None  # nothing ran: this action awaits confirmation


@dataclass(frozen=True)
class _Call:
    tool: ToolSpec
    args: dict[str, Any]
    client: ClientIdentity | None
    confirmed: Action | None
    progress: ProgressFn | None


def _error(text: str) -> Outcome:
    return Outcome(text, is_error=True)


def render_answer(response: XoResponse) -> str:
    """JSON pretty-printed, anything else (markdown, NDJSON, text) relayed as is."""
    if response.truncated:
        return response.text + (
            "\n\n[truncated: XO's answer was too long to read in full. "
            "Narrow the query with `filter`, `fields` or `limit`.]"
        )
    if response.is_json and response.text.strip():
        try:
            return json.dumps(response.json(), indent=2, ensure_ascii=False)
        except ValueError:
            # Half a document is not data: the model must not take it for an answer.
            raise XoRequestError(
                f"XO answered with invalid JSON (HTTP {response.status}); the answer was not used"
            ) from None
    return response.text


def cap(text: str, limit: int) -> str:
    """An LLM context is not infinite: cut long outputs and say so."""
    if len(text) <= limit:
        return text
    return (
        text[:limit] + f"\n\n[truncated: showing the first {limit} of {len(text)} characters. "
        "Narrow the query with `filter`, `fields` or `limit`.]"
    )


def _number_text(value: int | float) -> str:
    """`2` for 2 and 2.0 (as the official `String(limit)`), `2.5` for 2.5; never an overflow."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def encode_segment(value: str) -> str:
    """One path segment, whatever `value` holds: `/` is encoded, and so are `.`/`..` segments,
    which HTTP clients would otherwise resolve (`/vms/..` is `/`)."""
    if value in (".", ".."):
        return value.replace(".", "%2E")
    return quote(value, safe="")


def build_path(operation: Operation, arguments: dict[str, Any]) -> str:
    """Fill every placeholder from its own argument; values are always percent-encoded."""
    missing = [name for name in operation.placeholders if not arguments.get(name)]
    if missing:
        needed = ", ".join(f"`{name}`" for name in dict.fromkeys(missing))
        raise ValueError(f"{operation.name} ({operation.signature}) needs {needed}")
    path = operation.path
    for name in operation.placeholders:
        path = path.replace("{" + name + "}", encode_segment(str(arguments[name])), 1)
    return path


def _body_problems(body: Any, schema: dict[str, Any]) -> list[str]:
    """A light check of the request body: required keys and unknown keys of a plain object."""
    if schema.get("type") != "object" or not isinstance(body, dict):
        return []
    properties = schema.get("properties")
    problems = [f"body needs `{key}`" for key in schema.get("required", []) if key not in body]
    if (
        isinstance(properties, dict)
        and properties
        and schema.get("additionalProperties") is not True
    ):
        unknown = sorted(set(body) - set(properties))
        if unknown:
            allowed = ", ".join(sorted(properties))
            problems.append(f"body has unknown keys {unknown} (allowed: {allowed})")
    return problems


class ToolRunner:
    def __init__(self, client: XoClient, catalog: ApiCatalog, tools: list[ToolSpec]) -> None:
        self.client = client
        self.settings = client.settings
        self.catalog = catalog
        self.tools = {tool.name: tool for tool in [*tools, DESCRIBE_OPERATION]}

    @property
    def instance(self) -> str | None:
        return self.settings.instance

    async def run(
        self,
        name: str,
        arguments: dict[str, Any] | None,
        *,
        client: ClientIdentity | None = None,
        confirmed: Action | None = None,
        progress: ProgressFn | None = None,
    ) -> Outcome:
        tool = self.tools.get(name)
        if tool is None:
            return _error(f"Unknown tool: {name}")
        problems = check_arguments(arguments, tool.definition["inputSchema"])
        if problems:
            return _error(f"Invalid arguments for {name}: " + "; ".join(problems))
        args = dict(arguments or {})
        args.pop("confirm_token", None)  # tokens are the confirmation flow's, never XO's
        call = _Call(tool, args, client, confirmed, progress)
        try:
            outcome = await self._dispatch(call)
        except XoRequestError as error:
            outcome = _error(self._failure_prefix(tool) + str(error))
            outcome.mcp_disabled = error.mcp_disabled
        outcome.text = cap(outcome.text, self.settings.max_response_chars)
        return outcome

    def _failure_prefix(self, tool: ToolSpec) -> str:
        if tool.kind == "query":
            return f"Failed to query {tool.segment}: "
        if tool.kind == "action":
            return f"Failed to execute {tool.segment} action: "
        return f"{tool.name} failed: "

    async def _dispatch(self, call: _Call) -> Outcome:
        tool, args = call.tool, call.args
        if tool.kind == "utility":
            return await self._utility(tool.name, args)
        operation = tool.operations.get(args["operation"])
        if operation is None:
            return _error(f"Unknown operation: {args['operation']}")
        try:
            path = build_path(operation, args)
        except ValueError as error:
            return _error(self._failure_prefix(tool) + str(error))
        if tool.kind == "query":
            return await self._query(operation, path, args)
        return await self._action(operation, path, call)

    async def _query(self, operation: Operation, path: str, args: dict[str, Any]) -> Outcome:
        query = {"markdown": "true"}
        if args.get("filter"):
            query["filter"] = args["filter"]
        fields = args.get("fields") if args.get("fields") is not None else operation.default_fields
        if fields:
            query["fields"] = fields
        if args.get("limit") is not None:
            query["limit"] = _number_text(args["limit"])
        response = await self.client.request(operation.method, path, query=query)
        return Outcome(render_answer(response))

    # --- actions -------------------------------------------------------------------------

    async def _action(self, operation: Operation, path: str, call: _Call) -> Outcome:
        body = call.args.get("body")
        if body is not None and operation.body_schema is not None:
            problems = _body_problems(
                body, resolve_schema(operation.body_schema, self.catalog.components)
            )
            if problems:
                return _error(f"Invalid body for {operation.name}: " + "; ".join(problems))
        action = Action(
            instance=self.instance,
            operation=operation.name,
            method=operation.method,
            path=path,
            body=body,
        )
        if call.confirmed is not None:
            if call.confirmed.fingerprint() != action.fingerprint():
                return self._mismatch(call.confirmed, call.client)
            action = call.confirmed  # its target, as the human saw it, for the audit line
        elif operation.requires_confirm:
            return await self._preview(operation, action)
        return await self._execute(action, call)

    def _mismatch(self, confirmed: Action, client: ClientIdentity | None) -> Outcome:
        message = (
            f"This confirmation token was issued for {confirmed.operation} "
            f"({confirmed.method} {confirmed.path}) and cannot confirm anything else; it has been "
            "revoked. Request the operation again, then repeat the same operation, id and body "
            "with the new confirm_token."
        )
        self._audit("refused", confirmed, client, detail=message)
        return _error(message)

    async def _preview(self, operation: Operation, action: Action) -> Outcome:
        """What the human (or the model) is asked to confirm; nothing runs."""
        try:
            target = await lookup_target(self.client, operation.path, action.path)
        except TargetMissing as missing:
            return _error(
                f"{operation.name}: {missing} on {self.instance or 'this XO'}, so there is "
                "nothing to confirm. Find the object's id with the matching *_query tool "
                "(ids are UUIDs; names are not accepted as ids)."
            )
        summary = _what_happens(operation, target)
        preview = dataclasses.replace(action, target=target, summary=summary)
        return Outcome(f"{operation.name} needs confirmation.", confirmation=preview)

    def _audit(
        self, outcome: str, action: Action, client: ClientIdentity | None, **fields: Any
    ) -> None:
        audit.record(
            outcome,
            **action.audit_fields(),
            client=client.name if client else None,
            subject=client.subject if client else None,
            **fields,
        )

    async def _execute(self, action: Action, call: _Call) -> Outcome:
        started = time.monotonic()
        confirmed_by = str(call.client) if call.confirmed is not None and call.client else None
        try:
            response = await self.client.request(action.method, action.path, body=action.body)
        except XoRequestError as error:
            self._audit(
                "failure",
                action,
                call.client,
                answered_by=confirmed_by,
                duration_s=time.monotonic() - started,
                status=error.status,
                detail=error.summary,  # XO's own text may quote body values (422 errors do)
            )
            raise
        self._audit(
            "success",
            action,
            call.client,
            answered_by=confirmed_by,
            duration_s=time.monotonic() - started,
            status=response.status,
        )
        task_id = _task_id(response)
        if call.args.get("wait") and task_id:
            return await self._wait_for_task(task_id, call.progress)
        if response.status == 204 or not response.text.strip():
            return Outcome(f"{action.operation} succeeded (HTTP {response.status}, no content).")
        return Outcome(render_answer(response))

    async def _wait_for_task(self, task_id: str, progress: ProgressFn | None) -> Outcome:
        """Poll the task (reporting progress) until it ends or the wait budget runs out."""
        try:
            return await self._poll_task(task_id, progress)
        except XoRequestError as error:
            # The action did start: say so, rather than reporting the action itself as failed.
            return _error(
                f"The action started task {task_id}, but following it failed: {error} "
                "Check it with tasks_query (operation GetTask)."
            )

    async def _poll_task(self, task_id: str, progress: ProgressFn | None) -> Outcome:
        deadline = time.monotonic() + self.settings.wait_timeout_s
        started = time.monotonic()
        path = "/tasks/" + encode_segment(task_id)
        while True:
            response = await self.client.request("GET", path)
            try:
                task = response.json()
            except ValueError:
                task = None
            if not isinstance(task, dict):
                return _error(f"Task {task_id}: XO answered with something that is not a task.")
            if task.get("status") != "pending":
                return _task_outcome(task_id, task)
            if time.monotonic() >= deadline:
                return Outcome(
                    f"Task {task_id} is still pending after {self.settings.wait_timeout_s:g}s; "
                    "follow it with tasks_query (operation GetTask)."
                )
            if progress is not None:
                await progress(*_task_progress(task, time.monotonic() - started, task_id))
            await asyncio.sleep(TASK_POLL_S)

    # --- utility tools ---------------------------------------------------------------------

    async def _utility(self, name: str, args: dict[str, Any]) -> Outcome:
        if name == "check_connection":
            return await self.check_connection()
        if name == "get_infrastructure_summary":
            return await self.infrastructure_summary()
        if name == DESCRIBE_OPERATION.name:
            return self._describe_operation(args["operation"], args.get("tool"))
        return await self._documentation(args["topic"])

    def _describe_operation(self, operation: str, tool: Any) -> Outcome:
        domain_tools = [spec for spec in self.tools.values() if spec.operations]
        wanted = tool if isinstance(tool, str) else None
        text, is_error = describe(domain_tools, self.catalog.components, operation, wanted)
        return Outcome(text, is_error=is_error)

    async def check_connection(self) -> Outcome:
        try:
            await self.client.request("GET", "/pools", query={"limit": "1"})
        except XoRequestError as error:
            return _error(f"Connection test failed: {error}")
        return Outcome("Connection to XO server successful.")

    async def _listing(self, path: str, fields: str, limit: int) -> Listing:
        """A bounded list of small objects: only `fields`, at most `limit` of them."""
        response = await self.client.request(
            "GET", path, query={"fields": fields, "limit": str(limit)}
        )
        if response.truncated:
            raise XoRequestError(f"XO's answer to GET {path} was too long to read")
        try:
            data = response.json()
        except ValueError:
            raise XoRequestError(f"XO answered GET {path} with invalid JSON") from None
        if not isinstance(data, list):
            raise XoRequestError(f"XO answered GET {path} with something that is not a list")
        return Listing([item for item in data if isinstance(item, dict)], limit)

    def _hint(self, tool: str, operation: str, example: str) -> str:
        """How to list what the summary leaves out, if this server offers the tool for it."""
        spec = self.tools.get(tool)
        if spec is None or operation not in spec.operations:
            return ""
        return f"Use {tool} (operation {operation}) with a `filter` to list them, e.g. {example}."

    async def infrastructure_summary(self) -> Outcome:
        try:
            pools, hosts, vms = await asyncio.gather(
                self._listing("/pools", POOL_FIELDS, READ_LIMITS["pools"]),
                self._listing("/hosts", HOST_FIELDS, READ_LIMITS["hosts"]),
                self._listing("/vms", VM_FIELDS, READ_LIMITS["vms"]),
            )
        except XoRequestError as error:
            return _error(f"Failed to get infrastructure summary: {error}")
        hints = Hints(
            pools=self._hint("pools_query", "GetPools", "`name_label:lab`"),
            hosts=self._hint("hosts_query", "GetHosts", "`power_state:Halted`"),
            vms=self._hint("vms_query", "GetVms", "`power_state:Running` or `$pool:<pool id>`"),
        )
        return Outcome(summarize(pools, hosts, vms, hints))

    async def _documentation(self, topic: str) -> Outcome:
        url = f"{self.settings.docs_url}/{topic}"
        try:
            text = await fetch_documentation(url, self.settings)
        except XoRequestError as error:
            return _error(f'Failed to fetch documentation for "{topic}": {error}')
        return Outcome(f"# XO Documentation: {topic}\n\nSource: {url}\n\n{text}")


def _task_id(response: XoResponse) -> str | None:
    if response.status != 202 or not response.is_json:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    task_id = body.get("taskId") if isinstance(body, dict) else None
    return task_id if isinstance(task_id, str) else None


def _task_progress(
    task: dict[str, Any], elapsed: float, task_id: str
) -> tuple[float, float | None, str]:
    """XO's own percentage when the task has one, else the seconds spent waiting."""
    share = task.get("progress")
    message = f"task {task_id} pending for {elapsed:.1f}s"
    if isinstance(share, int | float) and not isinstance(share, bool):
        return float(share), 100.0, message
    return round(elapsed, 1), None, message


def _task_outcome(task_id: str, task: dict[str, Any]) -> Outcome:
    status = task.get("status", "unknown")
    summary = {key: task[key] for key in ("id", "status", "result", "start", "end") if key in task}
    text = f"Task {task_id} finished: {status}\n" + json.dumps(
        summary, indent=2, ensure_ascii=False
    )
    return Outcome(text, is_error=status in ("failure", "interrupted"))


def _what_happens(operation: Operation, target: Target | None) -> str:
    """The operation's own description, then what it acts on, in words."""
    words = operation.description.rstrip(".")
    if target is None:
        return words + "."
    name = f"{target.type} {target.name!r}" if target.name else f"{target.type} {target.id}"
    state = f", currently {target.state}" if target.state else ""
    return f"{words}: {name}{state}."
