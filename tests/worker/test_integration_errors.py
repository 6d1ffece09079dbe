"""Every failure the worker meets: a clear exit at start-up, an `isError` result at runtime."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio
import pytest
from support.clients import ERAS, LEGACY
from support.processes import Sim, clean_env, free_port, own_sim, worker_env
from worker.kit import call, run_worker, worker

from xo_mcp.wire.exits import EXIT_MCP_DISABLED, EXIT_UNAVAILABLE

pytestmark = pytest.mark.anyio


# --- start-up -------------------------------------------------------------------------------


def test_kill_switch_at_start_exits_3(fresh_sim: Sim) -> None:
    fresh_sim.set_mcp(False)
    result = run_worker(worker_env(fresh_sim))
    assert result.returncode == EXIT_MCP_DISABLED == 3
    assert result.stderr.strip() == "xo-mcp: ERROR: MCP disabled by admin"
    assert result.stdout == ""


def test_kill_switch_flag_of_the_simulator() -> None:
    with own_sim("--mcp-disabled") as disabled:
        result = run_worker(worker_env(disabled))
    assert result.returncode == EXIT_MCP_DISABLED
    assert "MCP disabled by admin" in result.stderr


def test_unreachable_xo_names_the_url_and_the_cause() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_worker(clean_env(XO_URL=url, XO_TOKEN="t"))
    assert result.returncode == EXIT_UNAVAILABLE
    assert result.stderr.strip() == (
        f"xo-mcp: ERROR: Unable to reach XO server at {url} to verify MCP status: "
        "connection refused"
    )


def test_wrong_token_at_start(sim: Sim) -> None:
    result = run_worker(clean_env(XO_URL=sim.url, XO_TOKEN="wrong"))
    assert result.returncode == EXIT_UNAVAILABLE
    assert (
        "Authentication failed: check XO_TOKEN — the token may have expired or been revoked."
        in result.stderr
    )
    assert "wrong" not in result.stderr


def test_wrong_password_at_start() -> None:
    with own_sim("--username", "admin@example.com", "--password", "right") as basic:
        env = clean_env(XO_URL=basic.url, XO_USERNAME="admin@example.com", XO_PASSWORD="nope")
        result = run_worker(env)
    assert result.returncode == EXIT_UNAVAILABLE
    assert "Authentication failed: check XO_USERNAME and XO_PASSWORD." in result.stderr
    assert "nope" not in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"openapi": "3.0.0"}', 'invalid OpenAPI spec: missing "paths" object'),
        ('{"paths": []}', 'invalid OpenAPI spec: missing "paths" object'),
    ],
)
def test_invalid_spec(tmp_path: Path, content: str, message: str) -> None:
    spec = tmp_path / "swagger.json"
    spec.write_text(content, encoding="utf-8")
    with own_sim("--spec", str(spec)) as odd:
        result = run_worker(worker_env(odd))
    assert result.returncode == EXIT_UNAVAILABLE
    assert message in result.stderr
    assert "Traceback" not in result.stderr


async def test_basic_auth_mode_works() -> None:
    with own_sim("--username", "admin@example.com", "--password", "right") as basic:
        env = clean_env(XO_URL=basic.url, XO_USERNAME="admin@example.com", XO_PASSWORD="right")
        async with worker(env) as client:
            assert await call(client, "check_connection") == (
                "Connection to XO server successful.",
                False,
            )


# --- at runtime -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ERAS)
async def test_revoked_token_gets_the_token_wording(fresh_sim: Sim, mode: str) -> None:
    fresh_sim.tokens(add="short-lived")
    env = clean_env(XO_URL=fresh_sim.url, XO_TOKEN="short-lived")
    async with worker(env, mode=mode) as client:
        fresh_sim.tokens(revoke="short-lived")
        message, is_error = await call(client, "vms_query", {"operation": "GetVms"})
        assert is_error
        assert message == (
            "Failed to query vms: Authentication failed: check XO_TOKEN — the token may have "
            "expired or been revoked."
        )
        message, is_error = await call(client, "check_connection")
        assert is_error and message.startswith("Connection test failed: Authentication failed")


async def test_refused_connection_when_xo_goes_away(fresh_sim: Sim) -> None:
    async with worker(worker_env(fresh_sim)) as client:
        fresh_sim.stop()
        message, is_error = await call(client, "vms_query", {"operation": "GetVms"})
    assert is_error
    assert message == (
        f"Failed to query vms: Cannot connect to XO server at {fresh_sim.url} (connection "
        "refused). Verify the server is running and XO_URL is correct."
    )


@pytest.mark.parametrize("mode", ERAS)
async def test_timeout_returns_within_the_timeout_and_a_second(fresh_sim: Sim, mode: str) -> None:
    async with worker(worker_env(fresh_sim, XO_MCP_TIMEOUT="1"), mode=mode) as client:
        fresh_sim.set_faults([{"route": "GET /vms*", "stall": True}])
        started = time.monotonic()
        with anyio.fail_after(2):
            message, is_error = await call(client, "vms_query", {"operation": "GetVms"})
        assert time.monotonic() - started < 2
        assert is_error
        assert message == "Failed to query vms: Request to XO server timed out after 1s."
        # Other routes are unaffected, and the worker is still fine.
        assert (await call(client, "hosts_query", {"operation": "GetHosts"}))[1] is False


async def test_http_status_and_xo_error_text(sim: Sim) -> None:
    async with worker(worker_env(sim)) as client:
        message, is_error = await call(client, "vms_query", {"operation": "GetVm", "id": "nope"})
    assert is_error
    prefix = "Failed to query vms: XO API error (404 Not Found): "
    assert message.startswith(prefix)
    body = json.loads(message[len(prefix) :])
    assert body["error"] == "no such VM nope"


async def test_server_errors_and_malformed_answers(fresh_sim: Sim) -> None:
    async with worker(worker_env(fresh_sim)) as client:
        fresh_sim.set_faults([{"route": "GET /hosts", "error_rate": 1.0}])
        message, is_error = await call(client, "hosts_query", {"operation": "GetHosts"})
        assert is_error
        assert message == (
            "Failed to query hosts: XO API error (500 Internal Server Error): "
            '{\n  "error": "simulated internal error"\n}'
        )
        vm_id = fresh_sim.rest("/vms", fields="id", limit="1")[0]["id"]
        fresh_sim.set_faults([{"route": "GET /vms/*", "malformed_rate": 1.0}])
        message, is_error = await call(client, "vms_query", {"operation": "GetVm", "id": vm_id})
        assert is_error
        assert message == (
            "Failed to query vms: XO answered with invalid JSON (HTTP 200); the answer was not used"
        )
        fresh_sim.set_faults([{"route": "GET /pools", "drop_rate": 1.0}])
        message, is_error = await call(client, "pools_query", {"operation": "GetPools"})
        assert is_error
        assert message.startswith(f"Failed to query pools: Request to XO server at {fresh_sim.url}")
        assert "peer closed connection" in message


@pytest.mark.parametrize("mode", ERAS)
async def test_kill_switch_at_runtime_and_recovery(fresh_sim: Sim, mode: str) -> None:
    async with worker(worker_env(fresh_sim), mode=mode) as client:
        fresh_sim.set_mcp(False)
        message, is_error = await call(client, "vms_query", {"operation": "GetVms"})
        assert is_error
        assert message.startswith("Failed to query vms: MCP disabled by admin")
        message, is_error = await call(client, "check_connection")
        assert is_error and "MCP disabled by admin" in message
        fresh_sim.set_mcp(True)
        assert (await call(client, "vms_query", {"operation": "GetVms"}))[1] is False


async def test_bad_arguments_are_tool_errors_not_protocol_errors(sim: Sim) -> None:
    async with worker(worker_env(sim), mode=LEGACY) as client:
        message, is_error = await call(client, "vms_query", {"operation": "Nope", "limit": "x"})
        assert is_error
        assert message.startswith("Invalid arguments for vms_query: `operation` must be one of")
        message, is_error = await call(client, "vms_query", {"operation": "GetVm"})
        assert is_error and message == "Failed to query vms: GetVm (GET /vms/{id}) needs `id`"
        message, is_error = await call(client, "no_such_tool")
        assert is_error and message == "Unknown tool: no_such_tool"
