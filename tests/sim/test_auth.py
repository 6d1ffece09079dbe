"""Credentials and the MCP kill switch, in process (fact sheet §3, §4)."""

from __future__ import annotations

import base64

import pytest

pytestmark = pytest.mark.anyio

USER = "admin@example.org"
PASSWORD = "s3cret"
INVALID = {"error": "invalid credentials"}
DISABLED = {"error": "MCP is disabled by administrator", "data": {"error": "mcp_disabled"}}


def basic(text: str, scheme: str = "Basic") -> dict[str, str]:
    return {"authorization": f"{scheme} {base64.b64encode(text.encode()).decode()}"}


@pytest.fixture
async def xo(make_xo):
    return await make_xo(username=USER, password=PASSWORD)


async def call(xo, path: str = "/vms", **headers: str):
    return await xo.request("GET", path, auth=False, headers=headers)


def assert_invalid_credentials(response) -> None:
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="xo"'
    assert response.json() == INVALID


# ------------------------------------------------------------------ cookies


async def test_the_authentication_token_cookie_is_accepted(xo) -> None:
    assert (await call(xo, cookie="authenticationToken=sim-token")).status_code == 200


async def test_a_cookie_named_token_is_the_fallback(xo) -> None:
    assert (await call(xo, cookie="theme=dark; token=sim-token")).status_code == 200


async def test_an_unknown_token_is_invalid_credentials(xo) -> None:
    assert_invalid_credentials(await call(xo, cookie="authenticationToken=nope"))


async def test_a_revoked_token_stops_working_at_once(xo) -> None:
    assert (await call(xo, cookie="authenticationToken=sim-token")).status_code == 200
    xo.state.credentials.tokens.discard("sim-token")
    assert_invalid_credentials(await call(xo, cookie="authenticationToken=sim-token"))


async def test_a_token_created_through_the_api_authenticates(xo) -> None:
    admin = xo.state.admin["id"]
    response = await xo.post(f"/users/{admin}/authentication_tokens", {"description": "ci"})
    assert response.status_code == 201
    token = response.json()["token"]
    assert token["description"] == "ci"
    assert token["user_id"] == admin
    assert (await call(xo, cookie=f"authenticationToken={token['id']}")).status_code == 200


# ------------------------------------------------------------------ Basic


async def test_basic_credentials_are_accepted(xo) -> None:
    assert (await call(xo, **basic(f"{USER}:{PASSWORD}"))).status_code == 200


async def test_the_scheme_word_of_basic_is_not_checked(xo) -> None:
    assert (await call(xo, **basic(f"{USER}:{PASSWORD}", scheme="Whatever"))).status_code == 200


async def test_a_password_is_cut_at_its_first_colon(xo) -> None:
    assert (await call(xo, **basic(f"{USER}:{PASSWORD}:ignored"))).status_code == 200
    assert_invalid_credentials(await call(xo, **basic(f"{USER}:{PASSWORD}x")))


async def test_a_wrong_user_or_password_is_invalid_credentials(xo) -> None:
    assert_invalid_credentials(await call(xo, **basic(f"{USER}:wrong")))
    assert_invalid_credentials(await call(xo, **basic(f"someone:{PASSWORD}")))


async def test_an_empty_password_is_an_internal_error(xo) -> None:
    response = await call(xo, **basic(f"{USER}:"))
    assert response.status_code == 500
    assert response.json() == {"error": "empty password"}


async def test_an_authorization_header_without_a_space_is_malformed(xo) -> None:
    response = await call(xo, authorization="Basic")
    assert response.status_code == 400
    assert response.json() == {"error": "Malformed Authorization header"}


async def test_two_kinds_of_credentials_at_once_are_refused(xo) -> None:
    response = await call(xo, cookie="authenticationToken=sim-token", **basic(f"{USER}:{PASSWORD}"))
    assert response.status_code == 400
    assert response.json() == {
        "error": "Having multiple authentication methods is not supported, please choose one"
    }


# ------------------------------------------------------------------ routes and credentials


async def test_protected_routes_without_credentials_are_401(xo) -> None:
    assert_invalid_credentials(await call(xo, "/vms"))
    assert_invalid_credentials(await call(xo, "/vms/nope"))


@pytest.mark.parametrize("path", ["/ping", "/gui-routes", "/mcp/status", "/docs/swagger.json"])
async def test_public_routes_need_none_but_still_check_what_is_sent(xo, path: str) -> None:
    assert (await call(xo, path)).status_code == 200
    assert_invalid_credentials(await call(xo, path, cookie="authenticationToken=nope"))


# ------------------------------------------------------------------ the MCP kill switch


async def test_mcp_status_answers_without_credentials(xo) -> None:
    response = await call(xo, "/mcp/status")
    assert response.status_code == 200
    assert response.json() == {"enabled": True}


async def test_mcp_status_reports_the_switch_with_or_without_the_header(make_xo) -> None:
    xo = await make_xo(mcp_enabled=False)
    for headers in ({}, {"x-xo-client": "mcp"}, {"cookie": "authenticationToken=sim-token"}):
        response = await call(xo, "/mcp/status?probe=1", **headers)
        assert response.status_code == 503
        assert response.json() == DISABLED


async def test_the_gate_only_stops_requests_that_say_they_are_mcp(make_xo) -> None:
    xo = await make_xo(mcp_enabled=False)
    token = "authenticationToken=sim-token"
    assert (await call(xo, cookie=token)).status_code == 200
    for value in ("mcp", "MCP", "Mcp"):
        response = await call(xo, cookie=token, **{"x-xo-client": value})
        assert response.status_code == 503
        assert response.json() == DISABLED
    assert (await call(xo, cookie=token, **{"x-xo-client": "mcp-inspector"})).status_code == 200


async def test_the_gate_covers_the_spec_and_unknown_paths(make_xo) -> None:
    xo = await make_xo(mcp_enabled=False)
    for path in ("/docs/swagger.json", "/no-such-route", "/ping"):
        response = await call(xo, path, **{"x-xo-client": "mcp"})
        assert response.status_code == 503, path


async def test_credentials_are_checked_before_the_gate(make_xo) -> None:
    xo = await make_xo(mcp_enabled=False)
    bad = await call(xo, cookie="authenticationToken=nope", **{"x-xo-client": "mcp"})
    assert_invalid_credentials(bad)
    anonymous = await call(xo, **{"x-xo-client": "mcp"})
    assert anonymous.status_code == 503


async def test_the_switch_flips_at_runtime_through_the_control_endpoint(xo) -> None:
    mcp = {"x-xo-client": "mcp", "cookie": "authenticationToken=sim-token"}
    assert (await call(xo, **mcp)).status_code == 200
    switched = await xo.request("PUT", "/_sim/mcp", auth=False, json={"enabled": False})
    assert switched.json()["mcp_enabled"] is False
    assert (await call(xo, **mcp)).status_code == 503
    assert (await call(xo, "/mcp/status")).status_code == 503
    await xo.request("PUT", "/_sim/mcp", auth=False, json={"enabled": True})
    assert (await call(xo, **mcp)).status_code == 200


async def test_the_control_endpoint_rejects_what_it_does_not_know(xo) -> None:
    wrong = await xo.request("PUT", "/_sim/mcp", auth=False, json={"enabled": "maybe"})
    assert wrong.status_code == 400
    unknown = await xo.request("GET", "/_sim/nope", auth=False)
    assert unknown.status_code == 404
