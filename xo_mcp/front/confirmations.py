"""Confirming dangerous actions: one flow for the standalone worker and the gateway alike.

An action tool called without confirmation runs nothing: it previews the exact REST request
(`wire.Action`). The flow then keeps a one-shot token for it, bound to that request, to the
client that asked and to its instance, for five minutes, and either asks a human (elicitation:
a live request on handshake-era connections, an input-required round trip on 2026-07-28) or
hands the token to the model, as the official server does. A confirmed call goes back to the
tool with `confirmed` set to the previewed request, which runs only if the call's arguments
build exactly that request. Whatever happens to a token is written as an audit line.

Tokens live in a `ConfirmStore`: this module's in-memory one, or a shared one (Redis) that
lets any replica redeem a token issued by another. Redeeming is an atomic get-and-delete.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from xo_mcp import audit
from xo_mcp.front import elicitation
from xo_mcp.wire.messages import Action, ClientIdentity

TTL_S = 300.0
MAX_PENDING_PER_CLIENT = 100  # per client and instance: a looping model stops itself, nobody else
MAX_PENDING_TOTAL = 100_000  # memory bound of the in-memory store
CONFIRM_ARGUMENT = "confirm_token"
NOT_EXECUTED = "Not executed: the user did not confirm the action."


class ConfirmError(Exception):
    """Why a token was refused or not issued; the message is meant for the model and the user."""

    def __init__(self, message: str, *, expired: Pending | None = None) -> None:
        super().__init__(message)
        self.expired = expired  # the token had expired: its audit line says so


@dataclass(frozen=True)
class Pending:
    action: Action
    client: ClientIdentity
    issued_at: float  # wall clock: replicas sharing a store compare it

    @property
    def instance(self) -> str | None:
        return self.action.instance


class ConfirmStore(Protocol):
    async def issue(self, action: Action, client: ClientIdentity, *, limit: int) -> str: ...

    async def redeem(self, token: str, client: ClientIdentity, instance: str | None) -> Action: ...

    async def revoke(self, token: str) -> Pending | None: ...

    async def sweep(self) -> list[Pending]:
        """Forget the expired tokens; return them (each once, for its audit line)."""
        ...


def new_token(instance: str | None) -> str:
    # The instance prefix lets a gateway tell a user which instance a token belongs to.
    random_part = secrets.token_urlsafe(18)
    return f"{instance}.{random_part}" if instance else random_part


def same_client(a: ClientIdentity, b: ClientIdentity) -> bool:
    # Bytes: compare_digest refuses non-ASCII str, and client names come from the fleet file.
    left = json.dumps([a.name, a.subject]).encode()
    return hmac.compare_digest(left, json.dumps([b.name, b.subject]).encode())


def unknown_token_message(token: str, instance: str | None) -> str:
    prefix, sep, _ = token.partition(".")
    if sep and instance and prefix != instance:
        return (
            f"This confirmation token belongs to instance {prefix!r}, not {instance!r}. "
            "Send it with the instance that issued it."
        )
    return "Invalid or expired confirmation token. Please retry the operation."


def check_redeemed(pending: Pending, client: ClientIdentity, now: float) -> Action:
    """The checks of a token just taken out of a store (it is spent whatever they say)."""
    if now - pending.issued_at > TTL_S:
        raise ConfirmError(
            "Invalid or expired confirmation token. Please retry the operation.", expired=pending
        )
    if not same_client(pending.client, client):
        raise ConfirmError(
            "This confirmation token was issued to another client; it has been revoked."
        )
    return pending.action


def limit_message(client: ClientIdentity, instance: str | None, limit: int) -> str:
    where = f" on instance {instance}" if instance else ""
    return (
        f"Too many pending confirmations for client {client.name}{where} (limit {limit}): "
        "confirm or decline the ones asked already, or let them expire (5 minutes)."
    )


@dataclass
class MemoryConfirmStore:
    clock: Callable[[], float] = time.time
    max_total: int = MAX_PENDING_TOTAL
    _pending: dict[str, Pending] = field(default_factory=dict)

    async def issue(self, action: Action, client: ClientIdentity, *, limit: int) -> str:
        now = self.clock()
        mine = [
            p
            for p in self._pending.values()
            if p.instance == action.instance
            and now - p.issued_at <= TTL_S
            and same_client(p.client, client)
        ]
        if len(mine) >= limit:
            raise ConfirmError(limit_message(client, action.instance, limit))
        if len(self._pending) >= self.max_total:
            raise ConfirmError("Too many pending confirmations on this server; retry later.")
        token = new_token(action.instance)
        self._pending[token] = Pending(action, client, self.clock())
        return token

    async def redeem(self, token: str, client: ClientIdentity, instance: str | None) -> Action:
        pending = self._pending.pop(token, None)
        if pending is None:
            raise ConfirmError(unknown_token_message(token, instance))
        if pending.instance != instance:
            self._pending[token] = pending  # not spent: it was sent to the wrong instance
            raise ConfirmError(unknown_token_message(token, instance))
        return check_redeemed(pending, client, self.clock())

    async def revoke(self, token: str) -> Pending | None:
        return self._pending.pop(token, None)

    async def sweep(self) -> list[Pending]:
        return self._expired()

    def _expired(self) -> list[Pending]:
        now = self.clock()
        gone = [t for t, p in self._pending.items() if now - p.issued_at > TTL_S]
        return [self._pending.pop(token) for token in gone]

    def __len__(self) -> int:
        return sum(1 for p in self._pending.values() if self.clock() - p.issued_at <= TTL_S)


def record(
    outcome: str, action: Action, client: ClientIdentity, answered_by: ClientIdentity | None = None
) -> None:
    audit.record(
        outcome,
        **action.audit_fields(),
        client=client.name,
        subject=client.subject,
        answered_by=str(answered_by) if answered_by is not None else None,
    )


# --- the flow -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolAnswer:
    """What a tool call produced, wherever it ran (in process or in a worker)."""

    text: str
    is_error: bool = False
    mcp_disabled: bool = False
    confirmation: Action | None = None

    def as_result(self) -> types.CallToolResult:
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=self.text)], is_error=self.is_error
        )


# Runs the tool with these arguments; `confirmed` is the previewed request a token vouches for.
RunTool = Callable[[dict[str, Any], Action | None], Awaitable[ToolAnswer]]


def error_result(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


def token_text(action: Action, token: str) -> str:
    """The preview and the token, for a model whose client cannot ask a human."""
    lines = ["## Confirmation Required", elicitation.describe(action), ""]
    lines += [
        "This operation is classified as **dangerous**. To proceed, call this tool again with "
        f'the same operation, id and body and `confirm_token: "{token}"`.',
        "_Token expires in 5 minutes and works once._",
    ]
    return "\n".join(lines)


class ConfirmationFlow:
    def __init__(self, store: ConfirmStore) -> None:
        self.store = store

    async def call(
        self,
        ctx: ServerRequestContext[Any] | None,
        client: ClientIdentity,
        instance: str | None,
        params: types.CallToolRequestParams,
        arguments: dict[str, Any],
        run: RunTool,
        *,
        limit: int = MAX_PENDING_PER_CLIENT,
    ) -> tuple[types.CallToolResult | types.InputRequiredResult, ToolAnswer | None]:
        """Run a tool call through the confirmation rules.

        Returns the MCP result and the tool's own answer when the tool ran (None when the
        flow answered by itself: a refused token, a decline, a question to the human).
        """
        if params.request_state is not None and params.input_responses is not None:
            reply = elicitation.retry_answer(params)
            return await self._answered(
                client, instance, params.request_state, reply, arguments, run
            )
        token = arguments.pop(CONFIRM_ARGUMENT, None)
        if isinstance(token, str) and token:
            return await self._redeem_and_run(client, instance, token, arguments, run)
        answer = await run(arguments, None)
        action = answer.confirmation
        if action is None:
            return answer.as_result(), answer
        try:
            token = await self.store.issue(action, client, limit=limit)
        except ConfirmError as error:
            return error_result(str(error)), None
        record("confirmation_requested", action, client)
        return await self._ask(ctx, client, instance, action, token, arguments, run)

    async def _ask(
        self,
        ctx: ServerRequestContext[Any] | None,
        client: ClientIdentity,
        instance: str | None,
        action: Action,
        token: str,
        arguments: dict[str, Any],
        run: RunTool,
    ) -> tuple[types.CallToolResult | types.InputRequiredResult, ToolAnswer | None]:
        if ctx is None or not elicitation.supports_form(ctx):
            return _text_result(token_text(action, token)), None
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return elicitation.input_required(action, token), None
        try:
            reply = await elicitation.ask_now(ctx, action)
        except Exception:  # no back channel, or the client failed: the token still works
            return _text_result(token_text(action, token)), None
        return await self._answered(client, instance, token, reply, arguments, run)

    async def _answered(
        self,
        client: ClientIdentity,
        instance: str | None,
        token: str,
        reply: Any,
        arguments: dict[str, Any],
        run: RunTool,
    ) -> tuple[types.CallToolResult | types.InputRequiredResult, ToolAnswer | None]:
        verdict = elicitation.verdict(reply)
        if verdict == "accept":
            return await self._redeem_and_run(client, instance, token, arguments, run)
        pending = await self.store.revoke(token)
        if pending is not None:
            record(verdict, pending.action, pending.client, answered_by=client)
        return _text_result(NOT_EXECUTED), None

    async def _redeem_and_run(
        self,
        client: ClientIdentity,
        instance: str | None,
        token: str,
        arguments: dict[str, Any],
        run: RunTool,
    ) -> tuple[types.CallToolResult | types.InputRequiredResult, ToolAnswer | None]:
        try:
            action = await self.store.redeem(token, client, instance)
        except ConfirmError as error:
            if error.expired is not None:
                record("expired", error.expired.action, error.expired.client)
            else:
                operation = arguments.get("operation")
                audit.record(
                    "refused",
                    instance=instance,
                    operation=operation if isinstance(operation, str) else None,
                    client=client.name,
                    subject=client.subject,
                    detail=str(error),
                )
            return error_result(str(error)), None
        answer = await run(arguments, action)
        return answer.as_result(), answer

    async def sweep(self) -> None:
        """Write the `expired` line of every token nobody redeemed in time."""
        for pending in await self.store.sweep():
            record("expired", pending.action, pending.client)

    async def sweep_forever(self, interval_s: float = 15.0) -> None:
        while True:
            await asyncio.sleep(interval_s)
            await self.sweep()


def _text_result(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)])
