"""Assistants for the task scripts of support/assistant_tasks.py: what a careful model can do on
each surface, and how it reads answers.

- `FleetAssistant`: the fleet's aggregated surface (one MCP session, `instance` on each call,
  `describe_operation`, `wait`, a human confirming through elicitation when the client can);
- `OfficialAssistant`: one official `@xen-orchestra/mcp` server per instance, as a user of the
  official server configures them (no fleet-wide tool, confirm tokens echoed by the model,
  tasks followed by polling `tasks_query`).

Every call is recorded (`Exchange`): the benchmark counts calls and bytes per task.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import mcp_types as types
from mcp import Client
from mcp.shared.exceptions import MCPError

from support.clients import http_client

TOKEN = re.compile(r'confirm_token: "([^"]+)"')
TASK_ID = re.compile(r'"taskId":\s*"([^"]+)"')
NO_RESULTS = "No results."  # XO's markdown answer to an empty list


@dataclass(frozen=True)
class Answer:
    text: str
    is_error: bool = False


@dataclass(frozen=True)
class Exchange:
    """One tool call as the model sees it: what it sent, what it read."""

    tool: str
    arguments: dict[str, Any]
    answer: Answer

    @property
    def bytes(self) -> int:
        sent = json.dumps(self.arguments, separators=(",", ":"), ensure_ascii=False)
        return len(sent.encode()) + len(self.answer.text.encode())


def _text(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


async def _call(client: Client, tool: str, arguments: dict[str, Any]) -> Answer:
    try:
        result = await client.call_tool(tool, arguments)
    except MCPError as error:  # the official server refuses bad arguments at the protocol level
        return Answer(str(error), is_error=True)
    return Answer(_text(result), bool(result.is_error))


@dataclass
class Assistant:
    """What a task may do; each surface does it the way a careful model would there."""

    instances: list[str]
    exchanges: list[Exchange] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)  # what a human was asked to confirm

    async def call(self, tool: str, arguments: dict[str, Any], instance: str | None) -> Answer:
        raise NotImplementedError

    async def describe(self, operation: str) -> Answer | None:
        """An operation in full; None where the tool list already says all there is."""
        raise NotImplementedError

    async def fleet_wide(self, tool: str) -> dict[str, str]:
        """A utility tool's answer for every instance."""
        raise NotImplementedError

    def waiting(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """An action's arguments for a call that should end with the action's task."""
        return arguments

    async def follow(self, answer: Answer, instance: str) -> Answer:
        """The end of the XO task an action answer started (the answer itself if none)."""
        return answer

    async def _record(self, tool: str, arguments: dict[str, Any], answer: Answer) -> Answer:
        self.exchanges.append(Exchange(tool, arguments, answer))
        return answer

    async def act(self, tool: str, arguments: dict[str, Any], instance: str) -> Answer:
        """An action, confirmed: by a human when the client can ask one, else by sending the
        token the preview gives back (the same operation, id and body)."""
        answer = await self.call(tool, arguments, instance)
        token = TOKEN.search(answer.text)
        if answer.is_error or token is None:
            return answer
        return await self.call(tool, {**arguments, "confirm_token": token.group(1)}, instance)

    async def run(self, tool: str, arguments: dict[str, Any], instance: str) -> Answer:
        """An action confirmed and followed to its end."""
        answer = await self.act(tool, self.waiting(arguments), instance)
        return await self.follow(answer, instance)


@dataclass
class FleetAssistant(Assistant):
    """The fleet's aggregated surface, through one MCP session."""

    client: Client | None = None

    async def call(self, tool: str, arguments: dict[str, Any], instance: str | None) -> Answer:
        assert self.client is not None
        sent = {"instance": instance, **arguments} if instance is not None else dict(arguments)
        return await self._record(tool, sent, await _call(self.client, tool, sent))

    async def describe(self, operation: str) -> Answer | None:
        return await self.call("describe_operation", {"operation": operation}, None)

    async def fleet_wide(self, tool: str) -> dict[str, str]:
        answer = await self.call(tool, {}, None)
        assert not answer.is_error, answer.text
        parts = re.split(r"^# Instance (\S+).*$", answer.text, flags=re.MULTILINE)
        return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}

    def waiting(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return {**arguments, "wait": True}  # the gateway follows the task, with progress


@contextlib.asynccontextmanager
async def fleet_session(
    url: str, bearer: str, assistant: FleetAssistant, *, human: bool
) -> AsyncIterator[FleetAssistant]:
    """`assistant` on the fleet's aggregated surface at `url`; with `human`, a person accepts
    every confirmation the fleet asks for (elicitation), and what they were asked is kept."""
    options: dict[str, Any] = {}
    if human:

        async def accept(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
            assistant.asked.append(params.message)
            return types.ElicitResult(action="accept", content={"confirm": True})

        options["elicitation_callback"] = accept
    async with http_client(url, token=bearer, **options) as session:
        assistant.client = session
        yield assistant


@dataclass
class OfficialAssistant(Assistant):
    """One official server per instance: the model picks the server, not an argument."""

    clients: Mapping[str, Client] = field(default_factory=dict)
    poll_s: float = 1.0  # a model polls once per turn, and a turn takes a second at least

    async def call(self, tool: str, arguments: dict[str, Any], instance: str | None) -> Answer:
        assert instance is not None, "every official server is one instance"
        answer = await _call(self.clients[instance], tool, arguments)
        return await self._record(f"{instance}/{tool}", dict(arguments), answer)

    async def describe(self, operation: str) -> Answer | None:
        return None  # no such tool: the model reads the (long) descriptions it was given

    async def fleet_wide(self, tool: str) -> dict[str, str]:
        found = {}
        for instance in self.instances:
            answer = await self.call(tool, {}, instance)
            assert not answer.is_error, answer.text
            found[instance] = answer.text
        return found

    async def follow(self, answer: Answer, instance: str) -> Answer:
        """No `wait` here: poll the task the action answered with until it ends."""
        task = TASK_ID.search(answer.text)
        if answer.is_error or task is None:
            return answer
        while True:
            status = await self.call(
                "tasks_query", {"operation": "GetTask", "id": task.group(1)}, instance
            )
            if status.is_error or json.loads(status.text).get("status") != "pending":
                return status
            await asyncio.sleep(self.poll_s)


# --- reading answers -------------------------------------------------------------------------


def table(text: str) -> list[dict[str, Any]]:
    """The rows of the first markdown table in `text`; JSON-looking cells parsed."""
    if text.strip() == NO_RESULTS:
        return []
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("|")]
    assert len(lines) >= 2, f"no table in: {text[:300]}"
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append({key: _cell(value) for key, value in zip(header, cells, strict=False)})
    return rows


def _cell(value: str) -> Any:
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def one(rows: list[dict[str, Any]], **wanted: Any) -> dict[str, Any]:
    found = [row for row in rows if all(row.get(k) == v for k, v in wanted.items())]
    assert len(found) == 1, (wanted, rows)
    return found[0]


def finished(answer: Answer) -> dict[str, Any]:
    """The final state of a followed task, as JSON (ours prefixes it with a status line)."""
    assert not answer.is_error, answer.text
    body = answer.text[answer.text.index("{") :]
    task: dict[str, Any] = json.loads(body)
    assert task.get("status") == "success", answer.text
    return task


def body_keys(description: str) -> tuple[set[str], set[str]]:
    """(required, every) body key of an operation described by describe_operation."""
    required = re.search(r"^- body: a JSON object \(required keys: ([^)]*)\)", description, re.M)
    schema = re.search(r"^Body schema: (.*)$", description, re.M)
    assert schema is not None, description
    every: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            every.update(node.get("properties", {}) or {})
            for key in ("anyOf", "oneOf", "allOf"):
                for part in node.get(key, []) or []:
                    walk(part)

    walk(json.loads(schema.group(1)))
    needed = {key.strip() for key in required.group(1).split(",")} if required else set()
    return needed, every


def nearest_in(error: str, typo: str) -> str:
    """The name an error offers that is closest to the mistyped one."""
    offered = set(re.findall(r"\b[A-Z][A-Za-z0-9]+\b", error)) - {typo}
    near = difflib.get_close_matches(typo, offered, n=1, cutoff=0.6)
    near = near or [name for name in offered if name.lower() == typo.lower()]
    assert near, f"no name close to {typo!r} in: {error[:500]}"
    return near[0]
