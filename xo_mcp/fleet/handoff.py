"""What the launcher hands the gateway, built from the fleet file: the gateway never reads it.

Client entries become `ClientPolicy`s (with their bearer tokens, read by the launcher), the
port's settings become `PortSettings`; the instance names and the runtime layout tell the
gateway where each worker's socket is.
"""

from __future__ import annotations

from xo_mcp.core import ListenAddress, RuntimeLayout
from xo_mcp.fleet.config import ClientSettings, Fleet
from xo_mcp.gateway.auth import ClientDirectory, StaticClient
from xo_mcp.gateway.clients import ClientPolicy
from xo_mcp.gateway.http import PortSettings
from xo_mcp.gateway.service import GatewaySetup, allowed_hosts


def client_policy(client: ClientSettings) -> ClientPolicy:
    instances = frozenset(client.instances) if client.instances is not None else None
    return ClientPolicy(client.name, instances, client.read_only)


def client_directory(fleet: Fleet, tokens: dict[str, str]) -> ClientDirectory:
    static = [
        StaticClient(client_policy(client), tokens[client.name])
        for client in fleet.gateway.clients
        if client.name in tokens
    ]
    return ClientDirectory(static)


def gateway_setup(
    fleet: Fleet, layout: RuntimeLayout, tokens: dict[str, str], listen: ListenAddress | None
) -> GatewaySetup:
    gateway = fleet.gateway
    port = None
    if listen is not None:
        port = PortSettings(
            allowed_hosts=allowed_hosts(listen, gateway.allowed_hosts),
            max_request_bytes=gateway.max_request_bytes,
        )
    return GatewaySetup(
        instances=list(fleet.instances),
        layout=layout,
        directory=client_directory(fleet, tokens),
        port=port,
        compact_tools=gateway.compact_tools,
    )
