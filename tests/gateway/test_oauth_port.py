"""The HTTP port as an OAuth 2.1 resource server, end to end: a real fleet, a real OpenID
provider (npm oidc-provider, client_credentials with a resource indicator), real MCP clients.

Clients of the fleet: `admin` (a static bearer token, every instance), `robot-ops` (OAuth
subject `robot`, staging only), `reader-ro` (OAuth subject `reader`, read-only). Every refusal
reason of the verifier has its own unit test (test_oauth.py); here each kind of answer is seen
through the port: 401 with the metadata URL, 403 for a missing scope, the subject's scope.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from support.clients import http_client, text
from support.fleetfile import client, fleet_toml, instance
from support.gateway_fleet import GatewayFleet, two_sim_fleet
from support.oidc import AUDIENCE, OTHER_AUDIENCE, READER, ROBOT, OidcProvider
from support.processes import Sim, secret_file, wait_for
from support.rpc import MCP_HEADERS, initialize

pytestmark = pytest.mark.anyio
ADMIN = "oauth-port-admin-token-5e1d9c"
METADATA = "/.well-known/oauth-protected-resource"


def oauth_fleet(base: Path, provider: OidcProvider) -> Iterator[GatewayFleet]:
    def fleet_file(sims: dict[str, Sim]) -> tuple[str, dict[str, str]]:
        token = secret_file(base, "xo", sims["production"].token)
        admin = secret_file(base, "admin", ADMIN)
        toml = fleet_toml(
            gateway={"oauth": {"issuer": provider.issuer, "audience": AUDIENCE}},
            clients=[
                client("admin", token_file=admin),
                client("robot-ops", subject=ROBOT.client_id, instances=["staging"]),
                client("reader-ro", subject=READER.client_id, read_only=True),
            ],
            instances={
                "production": instance(sims["production"], token_file=token),
                "staging": instance(sims["staging"], token_file=token, actions=True),
            },
        )
        return toml, {}

    with two_sim_fleet(base, fleet_file) as served:
        yield served


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory, oidc: OidcProvider) -> Iterator[GatewayFleet]:
    yield from oauth_fleet(tmp_path_factory.mktemp("oauth-port"), oidc)


def post(url: str, token: str | None) -> httpx2.Response:
    headers = dict(MCP_HEADERS)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx2.post(url, headers=headers, json=initialize(), timeout=10)


@pytest.mark.parametrize("path", ["/mcp", "/instances/staging/mcp"])
def test_protected_resource_metadata_for_each_surface(
    port: GatewayFleet, oidc: OidcProvider, path: str
) -> None:
    metadata = httpx2.get(f"{port.url}{METADATA}{path}", timeout=10)
    assert metadata.status_code == 200
    body = metadata.json()
    assert body["resource"] == "https://gateway.test" + path
    assert body["authorization_servers"] == [oidc.issuer]
    assert httpx2.get(f"{port.url}{METADATA}/instances/nowhere/mcp", timeout=10).status_code == 404


@pytest.mark.parametrize("token", [None, "not-a-token", "a.b.c"])
def test_every_401_points_to_the_metadata(port: GatewayFleet, token: str | None) -> None:
    refused = post(f"{port.url}/mcp", token)
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="https://gateway.test{METADATA}/mcp"' in challenge
    assert "Traceback" not in refused.text


def test_refusals_say_why(port: GatewayFleet, oidc: OidcProvider) -> None:
    elsewhere = post(f"{port.url}/mcp", oidc.token_for(ROBOT, resource=OTHER_AUDIENCE))
    assert elsewhere.status_code == 401 and "audience" in elsewhere.json()["error_description"]
    forged = oidc.token_for(ROBOT)[:-4] + "AAAA"
    assert "signature" in post(f"{port.url}/mcp", forged).json()["error_description"]


async def test_an_oauth_client_sees_what_its_entry_allows(
    port: GatewayFleet, oidc: OidcProvider
) -> None:
    async with http_client(f"{port.url}/mcp", token=oidc.token_for(ROBOT)) as robot:
        tools = await robot.list_tools()
        status = await robot.call_tool("fleet_status", {})
        production = await robot.call_tool(
            "vms_query", {"instance": "production", "operation": "GetVms"}
        )
    rows = status.structured_content["instances"]  # type: ignore[index]
    assert [row["instance"] for row in rows] == ["staging"]
    assert any(tool.name == "vms_action" for tool in tools.tools)
    assert production.is_error and "Unknown instance 'production'" in text(production)
    assert post(f"{port.url}/instances/production/mcp", oidc.token_for(ROBOT)).status_code == 404


async def test_a_read_only_oauth_client_cannot_act(port: GatewayFleet, oidc: OidcProvider) -> None:
    async with http_client(f"{port.url}/mcp", token=oidc.token_for(READER)) as reader:
        names = [tool.name for tool in (await reader.list_tools()).tools]
    assert "vms_query" in names and not [name for name in names if name.endswith("_action")]


async def test_static_tokens_keep_working_beside_oauth(port: GatewayFleet) -> None:
    async with http_client(f"{port.url}/mcp", token=ADMIN) as admin:
        status = await admin.call_tool("fleet_status", {})
    rows = status.structured_content["instances"]  # type: ignore[index]
    assert {row["instance"] for row in rows} == {"production", "staging"}


async def test_the_audit_line_names_the_client_and_its_subject(
    port: GatewayFleet, oidc: OidcProvider
) -> None:
    vm = port.staging.rest("/vms", fields="id", limit="1")[0]["id"]
    arguments = {"instance": "staging", "operation": "PutVmTag", "id": vm, "tag": "robot"}
    async with http_client(f"{port.url}/mcp", token=oidc.token_for(ROBOT)) as robot:
        preview = await robot.call_tool("vms_action", arguments)
        token = text(preview).split('confirm_token: "')[1].split('"')[0]
        done = await robot.call_tool("vms_action", {**arguments, "confirm_token": token})
    assert not done.is_error, text(done)
    lines = [r for r in port.fleet.records() if r.get("event") == "xo_action"]
    mine = [r for r in lines if r.get("path") == f"/vms/{vm}/tags/robot"]
    assert [r["outcome"] for r in mine] == ["confirmation_requested", "success"]
    for record in mine:
        assert record["client"] == "robot-ops" and record["subject"] == ROBOT.client_id
    assert mine[1]["answered_by"] == f"robot-ops (sub {ROBOT.client_id})"


def test_a_missing_scope_is_403(tmp_path: Path, oidc: OidcProvider) -> None:
    """With `required_scopes`, a reader's token (xo:read only) is refused as insufficient."""

    def fleet_file(sims: dict[str, Sim]) -> tuple[str, dict[str, str]]:
        oauth = {"issuer": oidc.issuer, "audience": AUDIENCE, "required_scopes": ["xo:write"]}
        toml = fleet_toml(
            gateway={"oauth": oauth},
            clients=[client("reader-ro", subject=READER.client_id)],
            instances={"production": instance(sims["production"], token_env="XO_TOKEN")},
        )
        return toml, {"XO_TOKEN": sims["production"].token}

    with two_sim_fleet(tmp_path, fleet_file) as served:
        refused = post(f"{served.url}/mcp", oidc.token_for(READER))
        accepted = post(f"{served.url}/mcp", oidc.token_for(ROBOT, scope="xo:read xo:write"))
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    # ROBOT has no client entry in this fleet: valid token, nobody to be.
    assert accepted.status_code == 401
    assert "no client entry" in json.dumps(accepted.json())


def test_the_provider_rotates_its_key_and_the_port_follows(
    tmp_path: Path, fresh_oidc: OidcProvider
) -> None:
    fleet = oauth_fleet(tmp_path, fresh_oidc)
    served = next(fleet)
    try:
        before = fresh_oidc.token_for(ROBOT)
        assert post(f"{served.url}/mcp", before).status_code == 200
        fresh_oidc.rotate()
        after = fresh_oidc.token_for(ROBOT)
        # A new kid makes the port fetch the keys again: at once, or once the refetch limit
        # (one fetch per 10 s, against a flood of made-up kids) allows it.
        wait_for(lambda: post(f"{served.url}/mcp", after).status_code == 200, 15, "the new key")
        # The old key is gone from the provider's JWKS: its tokens no longer verify.
        assert post(f"{served.url}/mcp", before).status_code == 401
    finally:
        fleet.close()
