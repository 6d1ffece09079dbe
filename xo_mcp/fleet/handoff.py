"""What the launcher hands the gateway, built from the fleet file: the gateway never reads it.

Client entries become `ClientPolicy`s with their limits (a client's own value, else the
[gateway] default, else the built-in one) and their identity: a bearer token the launcher read,
or an OAuth subject checked by a `JwtVerifier`. The port's settings become `PortSettings`; the
instance names and the runtime layout tell the gateway where each worker's socket is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from xo_mcp.core import ListenAddress, RuntimeLayout
from xo_mcp.fleet.config import ClientLimitSettings, ClientSettings, Fleet, OAuthTable
from xo_mcp.fleet.secrets import client_tokens, state_key, state_password
from xo_mcp.gateway.auth import ClientDirectory, OAuthClient, StaticClient
from xo_mcp.gateway.clients import ClientLimits, ClientPolicy
from xo_mcp.gateway.http import PortSettings
from xo_mcp.gateway.oauth import JwtVerifier, OAuthSettings
from xo_mcp.gateway.service import GatewaySetup, HttpLimits, allowed_hosts

if TYPE_CHECKING:
    from xo_mcp.gateway.shared_state import SharedState

BUILT_IN = ClientLimits()
T = TypeVar("T")


def _first(*values: T | None) -> T:
    """The first value set: the client's own, else the [gateway] default, else the built-in."""
    return next(value for value in values if value is not None)


def client_limits(client: ClientSettings, defaults: ClientLimitSettings) -> ClientLimits:
    rate = client.requests_per_minute or defaults.requests_per_minute
    return ClientLimits(
        max_sessions=_first(client.max_sessions, defaults.max_sessions, BUILT_IN.max_sessions),
        session_idle_s=_first(
            client.session_idle_s, defaults.session_idle_s, BUILT_IN.session_idle_s
        ),
        max_pending_confirmations=_first(
            client.max_pending_confirmations,
            defaults.max_pending_confirmations,
            BUILT_IN.max_pending_confirmations,
        ),
        requests_per_minute=rate,  # None: no rate limit
    )


def client_policy(client: ClientSettings, defaults: ClientLimitSettings) -> ClientPolicy:
    instances = frozenset(client.instances) if client.instances is not None else None
    return ClientPolicy(
        client.name,
        instances,
        client.read_only,
        tools=tuple(client.tools),
        deny_tools=tuple(client.deny_tools),
        limits=client_limits(client, defaults),
    )


def oauth_settings(table: OAuthTable) -> OAuthSettings:
    return OAuthSettings(
        issuer=table.issuer,
        audience=table.audience,
        jwks_url=table.jwks_url,
        ca_bundle=table.ca_bundle,
        required_scopes=tuple(table.required_scopes),
        leeway_s=table.leeway_s,
    )


def client_directory(
    fleet: Fleet, tokens: dict[str, str], jwt: JwtVerifier | None = None
) -> ClientDirectory:
    """Every client of the port. `jwt` is kept across reloads while [gateway.oauth] is unchanged
    (it holds the identity provider's cached keys)."""
    gateway = fleet.gateway
    static = [
        StaticClient(client_policy(client, gateway), tokens[client.name])
        for client in gateway.clients
        if client.subject is None and client.name in tokens
    ]
    oauth = [
        OAuthClient(client_policy(client, gateway), client.subject)
        for client in gateway.clients
        if client.subject is not None
    ]
    if gateway.oauth is not None and jwt is None:
        jwt = JwtVerifier(oauth_settings(gateway.oauth))
    return ClientDirectory(static, oauth, jwt if gateway.oauth is not None else None)


def port_settings(fleet: Fleet, listen: ListenAddress) -> PortSettings:
    gateway = fleet.gateway
    return PortSettings(
        allowed_hosts=allowed_hosts(listen, gateway.allowed_hosts),
        max_request_bytes=gateway.max_request_bytes,
        resource_url=gateway.oauth.audience if gateway.oauth else None,
        authorization_server=gateway.oauth.issuer if gateway.oauth else None,
        required_scopes=tuple(gateway.oauth.required_scopes) if gateway.oauth else (),
        header_timeout_s=gateway.header_timeout_s,
        body_timeout_s=gateway.body_timeout_s,
    )


def shared_state(fleet: Fleet, env_values: dict[str, str]) -> SharedState | None:
    """The replicas' shared store, when [gateway.state] names one (not contacted yet)."""
    table = fleet.gateway.state
    if table is None:
        return None
    from xo_mcp.gateway.shared_state import SharedState, StateSettings  # redis-py: only now

    settings = StateSettings(
        url=table.url,
        password=state_password(fleet, env_values),
        ca_bundle=table.ca_bundle,
        key_prefix=table.key_prefix,
    )
    return SharedState.of(settings)


def gateway_setup(
    fleet: Fleet, layout: RuntimeLayout, env_values: dict[str, str], listen: ListenAddress | None
) -> GatewaySetup:
    gateway = fleet.gateway
    key = state_key(fleet)
    return GatewaySetup(
        instances=list(fleet.instances),
        layout=layout,
        directory=client_directory(fleet, client_tokens(fleet, env_values)),
        port=port_settings(fleet, listen) if listen is not None else None,
        limits=HttpLimits(
            max_sessions=gateway.max_sessions_total,
            session_idle_s=gateway.session_idle_s or BUILT_IN.session_idle_s,
            stateless=gateway.sessions == "stateless",
        ),
        state_keys=[key] if key is not None else [],
        shared=shared_state(fleet, env_values),
        compact_tools=gateway.compact_tools,
    )
