"""What a tool call does: validate, build the REST request, confirm, call XO, shape the text.

Results are plain `Outcome`s (text, error flag, optional metadata); the MCP layer turns them into
protocol results, so every path here is testable without a client.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from xo_mcp.worker.arguments import check_arguments
from xo_mcp.worker.audit import AuditLog
from xo_mcp.worker.confirm import ConfirmError, ConfirmStore
from xo_mcp.worker.docs import fetch_documentation
from xo_mcp.worker.meta import CONFIRM_META_KEY, MCP_DISABLED_META_KEY
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
from xo_mcp.worker.tools import ToolSpec
from xo_mcp.worker.xo_client import XoClient, XoRequestError, XoResponse

ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]
TASK_POLL_S = 0.5


@dataclass
class Outcome:
    text: str
    is_error: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def confirmation(self) -> dict[str, Any] | None:
        """Set when the call only issued a confirmation token (nothing ran yet)."""
        value = self.meta.get(CONFIRM_META_KEY)
        return value if isinstance(value, dict) else None


def _error(text: str) -> Outcome:
    return Outcome(text, is_error=True)


def render(response: XoResponse) -> str:
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
    def __init__(
        self,
        client: XoClient,
        catalog: ApiCatalog,
        tools: list[ToolSpec],
        *,
        confirms: ConfirmStore | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.client = client
        self.settings = client.settings
        self.catalog = catalog
        self.tools = {tool.name: tool for tool in tools}
        # `is None`, not `or`: an empty store is falsy (it has a length) yet must be kept.
        self.confirms = (
            ConfirmStore(instance=self.settings.instance) if confirms is None else confirms
        )
        self.audit = AuditLog(self.settings.instance) if audit is None else audit

    async def run(
        self,
        name: str,
        arguments: dict[str, Any] | None,
        *,
        principal: str = "",
        progress: ProgressFn | None = None,
    ) -> Outcome:
        tool = self.tools.get(name)
        if tool is None:
            return _error(f"Unknown tool: {name}")
        problems = check_arguments(arguments, tool.definition["inputSchema"])
        if problems:
            return _error(f"Invalid arguments for {name}: " + "; ".join(problems))
        args = dict(arguments or {})
        try:
            outcome = await self._dispatch(tool, args, principal, progress)
        except XoRequestError as error:
            outcome = _error(self._failure_prefix(tool) + str(error))
            if error.mcp_disabled:
                outcome.meta[MCP_DISABLED_META_KEY] = True
        outcome.text = cap(outcome.text, self.settings.max_response_chars)
        return outcome

    def _failure_prefix(self, tool: ToolSpec) -> str:
        if tool.kind == "query":
            return f"Failed to query {tool.segment}: "
        if tool.kind == "action":
            return f"Failed to execute {tool.segment} action: "
        return f"{tool.name} failed: "

    async def _dispatch(
        self, tool: ToolSpec, args: dict[str, Any], principal: str, progress: ProgressFn | None
    ) -> Outcome:
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
        return await self._action(operation, path, args, principal, progress)

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
        return Outcome(render(response))

    # --- actions -------------------------------------------------------------------------

    async def _action(
        self,
        operation: Operation,
        path: str,
        args: dict[str, Any],
        principal: str,
        progress: ProgressFn | None,
    ) -> Outcome:
        body = args.get("body")
        if body is not None and operation.body_schema is not None:
            problems = _body_problems(
                body, resolve_schema(operation.body_schema, self.catalog.components)
            )
            if problems:
                return _error(f"Invalid body for {operation.name}: " + "; ".join(problems))
        token = args.get("confirm_token")
        if token:
            try:
                self.confirms.consume(
                    token, operation.name, operation.method, path, body, principal
                )
            except ConfirmError as error:
                self.audit.record(
                    operation.name,
                    operation.method,
                    path,
                    "refused",
                    detail=str(error),
                )
                return _error(str(error))
        elif operation.requires_confirm:
            return self._ask_confirmation(operation, path, body, principal)
        return await self._execute(operation, path, body, bool(args.get("wait")), progress)

    def _ask_confirmation(
        self, operation: Operation, path: str, body: Any, principal: str
    ) -> Outcome:
        token = self.confirms.issue(operation.name, operation.method, path, body, principal)
        lines = [
            "## Confirmation Required",
            f"**Operation**: {operation.name}",
            f"**Method**: {operation.method}",
            f"**Path**: {path}",
        ]
        if body is not None:
            lines.append(f"**Body**: {json.dumps(body, ensure_ascii=False)}")
        lines += [
            "This operation is classified as **dangerous**. To proceed, call this tool again with "
            f'the same operation, id and body and `confirm_token: "{token}"`.',
            "_Token expires in 5 minutes and works once._",
        ]
        meta = {
            CONFIRM_META_KEY: {
                "token": token,
                "operation": operation.name,
                "method": operation.method,
                "path": path,
                "body": body,
                "instance": self.settings.instance,
            }
        }
        self.audit.record(
            operation.name,
            operation.method,
            path,
            "confirmation_requested",
            body=body,
        )
        return Outcome("\n".join(lines), meta=meta)

    async def _execute(
        self, operation: Operation, path: str, body: Any, wait: bool, progress: ProgressFn | None
    ) -> Outcome:
        started = time.monotonic()
        try:
            response = await self.client.request(operation.method, path, body=body)
        except XoRequestError as error:
            self.audit.record(
                operation.name,
                operation.method,
                path,
                "failure",
                duration_s=time.monotonic() - started,
                status=error.status,
                body=body,
                detail=error.summary,  # XO's own text may quote body values (422 errors do)
            )
            raise
        self.audit.record(
            operation.name,
            operation.method,
            path,
            "success",
            duration_s=time.monotonic() - started,
            status=response.status,
            body=body,
        )
        task_id = _task_id(response)
        if wait and task_id:
            return await self._wait_for_task(task_id, progress)
        if response.status == 204 or not response.text.strip():
            return Outcome(f"{operation.name} succeeded (HTTP {response.status}, no content).")
        return Outcome(render(response))

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
        return await self._documentation(args["topic"])

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
