"""Identity on the HTTP port, through the MCP SDK's own auth machinery.

`ClientDirectory.verify_token` is the SDK's `TokenVerifier`: Starlette's authentication
middleware (with the SDK's `BearerAuthBackend`) turns the bearer token into an
`AuthenticatedUser` in `scope["user"]`, and the SDK's session manager binds every session to
that identity: a request carrying another client's session id is answered as an unknown
session (404), on every surface. The access token's `client_id` is the client entry's name.

Static tokens and OAuth (JWT) clients live side by side; the directory is replaced as a whole on
reload, so new requests see new clients, tokens and scopes at once.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
)
from starlette.requests import HTTPConnection

from xo_mcp.gateway.clients import LOCAL_POLICY, Caller, ClientPolicy
from xo_mcp.gateway.oauth import JwtVerifier, TokenRefused, VerifiedToken
from xo_mcp.wire.messages import ClientIdentity

STATIC_ISSUER = "xo-mcp:static"  # what a static token's identity says it was issued by


@dataclass(frozen=True)
class StaticClient:
    policy: ClientPolicy
    token: str

    def __repr__(self) -> str:
        return f"StaticClient({self.policy.name!r})"


@dataclass(frozen=True)
class OAuthClient:
    """A client entry that names an OAuth subject (the token's `sub`, or its `client_id`)."""

    policy: ClientPolicy
    subject: str


class ClientDirectory:
    """Every client of the port, by token or by OAuth subject; the SDK's `TokenVerifier`."""

    def __init__(
        self,
        static: Iterable[StaticClient] = (),
        oauth: Iterable[OAuthClient] = (),
        jwt: JwtVerifier | None = None,
    ) -> None:
        self.static = list(static)
        self.oauth = {client.subject: client for client in oauth}
        self.jwt = jwt
        self.policies = {client.policy.name: client.policy for client in self.static}
        self.policies.update({client.policy.name: client.policy for client in self.oauth.values()})
        if self.open:
            self.policies[LOCAL_POLICY.name] = LOCAL_POLICY
        self._callers: dict[tuple[str, str | None], Caller] = {}

    @property
    def open(self) -> bool:
        """No client at all: a loopback port anyone on the machine may use (`local`)."""
        return not self.static and not self.oauth and self.jwt is None

    async def verify_token(self, token: str) -> AccessToken | None:
        if not token:
            return None
        if self.jwt is not None and self.jwt.looks_like_jwt(token):
            return self._oauth_token(token, await self.jwt.verify(token))
        policy = self._static_policy(token)
        if policy is None:
            return None
        return AccessToken(
            token=token,
            client_id=policy.name,
            scopes=[],
            claims={"iss": STATIC_ISSUER},
        )

    def _static_policy(self, presented: str) -> ClientPolicy | None:
        """Constant-time comparison against every token (no early exit leaks which matched)."""
        found: ClientPolicy | None = None
        for client in self.static:
            if hmac.compare_digest(client.token.encode(), presented.encode()):
                found = client.policy
        return found

    def _oauth_token(self, token: str, verified: VerifiedToken) -> AccessToken:
        client = self.oauth.get(verified.subject) or self.oauth.get(verified.client_id or "")
        if client is None:
            raise TokenRefused(f"no client entry for subject {verified.subject!r}")
        return AccessToken(
            token=token,
            client_id=client.policy.name,
            scopes=list(verified.scopes),
            expires_at=verified.expires_at,
            resource=verified.audience[0] if verified.audience else None,
            subject=verified.subject,
            claims={"iss": verified.issuer},
        )

    def caller(self, connection: HTTPConnection | None, default: Caller) -> Caller:
        """The caller a request was authenticated as; `default` on stdio or an open port."""
        user = connection.scope.get("user") if connection is not None else None
        if not isinstance(user, AuthenticatedUser):
            return default
        token = user.access_token
        key = (token.client_id, token.subject)
        found = self._callers.get(key)  # a per-request lookup: built once per principal
        if found is None:
            policy = self.policies.get(token.client_id)
            if policy is None:  # the entry left the fleet file since the session began
                policy = ClientPolicy(token.client_id, instances=frozenset(), read_only=True)
            identity = ClientIdentity(name=token.client_id, subject=token.subject)
            found = self._callers[key] = Caller(policy, identity)
        return found


class LocalBackend(AuthenticationBackend):
    """An open loopback port: everyone is `local` (sessions are still bound to it)."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser]:
        token = AccessToken(token="", client_id=LOCAL_POLICY.name, scopes=[])
        return AuthCredentials([]), AuthenticatedUser(token)
