"""State the replicas of a gateway share, in Redis (>= 6) or Valkey: confirm tokens and request
rates.

Not the events of resumable SSE streams: a stream belongs to a handshake-era session, and a
session lives in the replica that opened it (another answers its id with 404), so only that
replica can ever replay its events; each keeps them in memory (`events.MemoryEventStore`).
Written to Redis they would cost every handshake-era answer two round trips for nothing
(bench/replicas.py measured +0.5 ms per call and +17-29 % of the launcher's CPU).

Why in the gateway, not the workers: the gateway is where tokens are issued and redeemed (a
worker only checks that a confirmed call builds the previewed request), and workers stay what
they are: each reaches its own XO and nothing else, with no credentials but its own. A worker
with the store's password could read or spend any instance's tokens.

Every operation that must be atomic (issue under a per-client limit, redeem once, sweep the
expired once) is one Lua script, so two replicas can never both redeem a token. The client
library is redis-py (its asyncio API); it speaks to Valkey unchanged. A store that does not
answer within a second is an error the caller turns into a clear message; the connection pool
reconnects by itself when the server is back.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as redis
from redis.exceptions import RedisError

from xo_mcp import logs
from xo_mcp.front.confirmations import (
    TTL_S,
    ConfirmError,
    Pending,
    check_redeemed,
    limit_message,
    new_token,
    unknown_token_message,
)
from xo_mcp.wire.messages import Action, ClientIdentity, to_json

TIMEOUT_S = 1.0  # a store that does not answer in a second is down, for this request


@dataclass(frozen=True)
class StateSettings:
    url: str
    password: str | None = None
    ca_bundle: Path | None = None
    key_prefix: str = "xo-mcp:"

    @property
    def shown(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}"


def connect(settings: StateSettings) -> redis.Redis:
    """A client (and its pool); nothing is sent until the first command."""
    options: dict[str, Any] = {
        "password": settings.password,
        "socket_connect_timeout": TIMEOUT_S,
        "socket_timeout": TIMEOUT_S,
        "health_check_interval": 15,
        "decode_responses": True,
    }
    if settings.url.startswith("rediss:"):
        context = ssl.create_default_context(
            cafile=str(settings.ca_bundle) if settings.ca_bundle else None
        )
        options["ssl_context"] = context  # redis-py 5+: a context, verified by default
    return redis.Redis.from_url(settings.url, **options)


def unavailable(settings: StateSettings, what: str) -> str:
    return (
        f"The shared state ({settings.shown}) does not answer, so {what} are unavailable right "
        "now; queries still work. Retry in a moment."
    )


@dataclass
class SharedState:
    """One connection pool, and what the gateway keeps through it."""

    settings: StateSettings
    client: redis.Redis
    confirms: RedisConfirmStore
    rates: RedisRateLimiter

    @classmethod
    def of(cls, settings: StateSettings) -> SharedState:
        client = connect(settings)
        return cls(
            settings,
            client,
            RedisConfirmStore(client, settings),
            RedisRateLimiter(client, settings),
        )

    async def close(self) -> None:
        await self.client.aclose()


# --- confirm tokens -----------------------------------------------------------------------

# KEYS: pending (hash token → json), expiries (zset token → deadline), mine (zset of this
# client's tokens at this instance). ARGV: now, limit, token, json, deadline.
_ISSUE = """
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[3])
redis.call('EXPIRE', KEYS[3], 600)
return 1
"""
# Get and delete in one step: the token is spent by the first replica that asks, whatever the
# checks that follow say. KEYS: pending, expiries, and (optional) the count it is expected in:
# its redeemer's (a legitimate redeemer is its owner), so that one round trip does both.
# ARGV: token. Returns {json, 1 if it was out of that count}.
_TAKE = """
local found = redis.call('HGET', KEYS[1], ARGV[1])
if not found then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local counted = 0
if KEYS[3] then counted = redis.call('ZREM', KEYS[3], ARGV[1]) end
return {found, counted}
"""
# Pop up to 100 expired tokens (each once, whichever replica sweeps). ARGV: now.
_SWEEP = """
local tokens = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 100)
local found = {}
for _, token in ipairs(tokens) do
  local value = redis.call('HGET', KEYS[1], token)
  redis.call('HDEL', KEYS[1], token)
  redis.call('ZREM', KEYS[2], token)
  if value then table.insert(found, value) end
end
return found
"""


def _encode(pending: Pending) -> str:
    return json.dumps(
        {
            "action": to_json(pending.action),
            "client": to_json(pending.client),
            "issued_at": pending.issued_at,
        }
    )


def _decode(text: str) -> Pending:
    data = json.loads(text)
    return Pending(
        Action.from_json(data["action"]),
        ClientIdentity.from_json(data["client"]),
        float(data["issued_at"]),
    )


class RedisConfirmStore:
    """`front.confirmations.ConfirmStore` in Redis: any replica redeems, exactly once."""

    def __init__(
        self,
        client: redis.Redis,
        settings: StateSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.settings = settings
        self.clock = clock
        prefix = settings.key_prefix
        self.pending_key = f"{prefix}confirm:pending"
        self.expiries_key = f"{prefix}confirm:expiries"
        self._issue = client.register_script(_ISSUE)
        self._take = client.register_script(_TAKE)
        self._sweep = client.register_script(_SWEEP)

    def _mine(self, client: ClientIdentity, instance: str | None) -> str:
        who = json.dumps([client.name, client.subject, instance])
        return f"{self.settings.key_prefix}confirm:by:{who}"

    async def issue(self, action: Action, client: ClientIdentity, *, limit: int) -> str:
        now = self.clock()
        token = new_token(action.instance)
        pending = Pending(action, client, now)
        keys = [self.pending_key, self.expiries_key, self._mine(client, action.instance)]
        try:
            issued = await self._issue(keys, [now, limit, token, _encode(pending), now + TTL_S])
        except RedisError:
            raise ConfirmError(unavailable(self.settings, "confirmations")) from None
        if not issued:
            raise ConfirmError(limit_message(client, action.instance, limit))
        return token

    async def redeem(self, token: str, client: ClientIdentity, instance: str | None) -> Action:
        prefix, sep, _ = token.partition(".")
        if sep and instance and prefix != instance:
            raise ConfirmError(unknown_token_message(token, instance))  # not spent elsewhere
        expected = self._mine(client, instance or (prefix if sep else None))
        pending = await self._take_pending(token, expected)
        if pending is None:
            raise ConfirmError(unknown_token_message(token, instance))
        return check_redeemed(pending, client, self.clock())

    async def revoke(self, token: str) -> Pending | None:
        return await self._take_pending(token)

    async def _take_pending(self, token: str, expected: str | None = None) -> Pending | None:
        """Take the token; out of its client's count too, in the same script when `expected`
        is that count (else, or if it was not there, a second step)."""
        keys = [self.pending_key, self.expiries_key, *([expected] if expected else [])]
        try:
            found = await self._take(keys, [token])
        except RedisError:
            raise ConfirmError(unavailable(self.settings, "confirmations")) from None
        if not found:
            return None
        text, counted = found
        pending = _decode(text)
        if not counted:
            await self._forget(pending, token)
        return pending

    async def _forget(self, pending: Pending, token: str) -> None:
        """Out of its client's count (not atomic with the take: an index entry that stays
        a moment longer only delays that client's next token by its expiry, at most)."""
        with contextlib.suppress(RedisError):
            await self.client.zrem(self._mine(pending.client, pending.instance), token)

    async def sweep(self) -> list[Pending]:
        try:
            found = await self._sweep([self.pending_key, self.expiries_key], [self.clock()])
        except RedisError as error:
            logs.log(f"cannot sweep expired confirmations: {error}", level="warning")
            return []
        return [_decode(text) for text in found]


# --- request rates ------------------------------------------------------------------------

# A token bucket per client in one hash. KEYS: the bucket. ARGV: now, per_minute.
# Returns 0 when the request may go, else the seconds until one may (as a string).
_BUCKET = """
local capacity = tonumber(ARGV[2])
local rate = capacity / 60.0
local now = tonumber(ARGV[1])
local tokens = tonumber(redis.call('HGET', KEYS[1], 't') or capacity)
local stamp = tonumber(redis.call('HGET', KEYS[1], 's') or now)
tokens = math.min(capacity, tokens + (now - stamp) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 's', tostring(now))
redis.call('EXPIRE', KEYS[1], 120)
return tostring(wait)
"""


class RedisRateLimiter:
    """The same token bucket as `limits.RateLimiter`, shared by every replica."""

    def __init__(self, client: redis.Redis, settings: StateSettings) -> None:
        self.settings = settings
        self._take = client.register_script(_BUCKET)

    async def wait_s(self, client: str, per_minute: int) -> float:
        key = f"{self.settings.key_prefix}rate:{client}"
        try:
            return float(await self._take([key], [time.time(), per_minute]))
        except RedisError:
            return 0.0  # the store is down: requests go (queries keep working)
