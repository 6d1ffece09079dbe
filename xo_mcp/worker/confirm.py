"""One-shot confirmation tokens for dangerous actions.

A token is bound to the exact request it previews (operation, method, path, body) and to the
client that asked for it; it works once, within five minutes. Unlike the official server, the
second call must repeat the same request: a token can never run something else.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TTL_S = 300.0
MAX_PENDING = 1000  # a looping model must not grow the store without bound


@dataclass(frozen=True)
class PendingAction:
    operation: str
    method: str
    path: str
    body: Any
    principal: str
    issued_at: float

    def fingerprint(self) -> str:
        return _fingerprint(self.operation, self.method, self.path, self.body)


def _fingerprint(operation: str, method: str, path: str, body: Any) -> str:
    return json.dumps([operation, method, path, body], sort_keys=True, separators=(",", ":"))


class ConfirmError(Exception):
    """Why a token was refused; the message is meant for the model and the user."""


class ConfirmStore:
    def __init__(self, *, instance: str | None = None, clock: Callable[[], float] = time.monotonic):
        self._instance = instance
        self._clock = clock
        self._pending: dict[str, PendingAction] = {}

    def _expire(self) -> None:
        now = self._clock()
        for token in [t for t, p in self._pending.items() if now - p.issued_at > TTL_S]:
            del self._pending[token]

    def issue(self, operation: str, method: str, path: str, body: Any, principal: str = "") -> str:
        self._expire()
        while len(self._pending) >= MAX_PENDING:  # dicts keep insertion order: oldest first
            del self._pending[next(iter(self._pending))]
        random_part = secrets.token_urlsafe(18)
        # The instance prefix lets a gateway tell a user which instance a token belongs to.
        token = f"{self._instance}.{random_part}" if self._instance else random_part
        self._pending[token] = PendingAction(
            operation, method, path, body, principal, self._clock()
        )
        return token

    def consume(
        self, token: str, operation: str, method: str, path: str, body: Any, principal: str = ""
    ) -> PendingAction:
        """Spend the token (whatever happens next) and check it matches this exact request."""
        self._expire()
        pending = self._pending.pop(token, None)
        if pending is None:
            raise ConfirmError(self._unknown_token_message(token))
        # Bytes: compare_digest refuses non-ASCII str, and principals are client-supplied names.
        if not hmac.compare_digest(pending.principal.encode(), principal.encode()):
            raise ConfirmError(
                "This confirmation token was issued to another client; it has been revoked."
            )
        if pending.fingerprint() != _fingerprint(operation, method, path, body):
            raise ConfirmError(
                f"This confirmation token was issued for {pending.operation} "
                f"({pending.method} {pending.path}) and cannot confirm anything else; it has been "
                "revoked. Request the operation again, then repeat the same operation, id and body "
                "with the new confirm_token."
            )
        return pending

    def revoke(self, token: str) -> None:
        """Forget a token whose action the user declined."""
        self._pending.pop(token, None)

    def _unknown_token_message(self, token: str) -> str:
        prefix, sep, _ = token.partition(".")
        if sep and self._instance and prefix != self._instance:
            return (
                f"This confirmation token belongs to instance {prefix!r}, not {self._instance!r}. "
                "Send it with the instance that issued it."
            )
        return "Invalid or expired confirmation token. Please retry the operation."

    def __len__(self) -> int:
        self._expire()
        return len(self._pending)
