"""Start-up checks on XO's spec: a deny entry that names no operation is a warning naming the
nearest real one, or, with deny_unknown = "error", a refusal to start (exit 2: fix the file)."""

from __future__ import annotations

from typing import Any

import pytest
from support.fakes import captured_logs

from xo_mcp.wire.exits import EXIT_CONFIG
from xo_mcp.worker.boot import BootError, check_deny_list
from xo_mcp.worker.settings import Credentials, WorkerSettings

SPEC: dict[str, Any] = {
    "info": {"version": "0.39.0"},
    "paths": {
        "/vms/{id}": {
            "get": {"operationId": "GetVm"},
            "delete": {"operationId": "DeleteVm", "x-mcp-exposure": "confirm"},
        },
        "/vms/{id}/actions/hard_shutdown": {"post": {"operationId": "HardShutdownVm"}},
    },
}


def settings(*deny: str, mode: str = "warn", **names: str) -> WorkerSettings:
    return WorkerSettings(
        xo_url="http://xo.test",
        credentials=Credentials(token="t"),
        deny=deny,
        deny_unknown=mode,
        names=names,
    )


def test_entries_that_name_real_operations_say_nothing() -> None:
    with captured_logs() as lines:
        check_deny_list(settings("DeleteVm", "POST /vms/{id}/actions/hard_shutdown"), SPEC)
    assert lines.records() == []


def test_an_unknown_entry_is_a_warning_with_the_nearest_operation() -> None:
    with captured_logs() as lines:
        check_deny_list(settings("DeleteVM", "Nothing"), SPEC)
    assert [(r["level"], r["msg"]) for r in lines.records()] == [
        (
            "warning",
            "XO_MCP_DENY_LIST: 'DeleteVM' is not an operation of XO's REST API 0.39.0 "
            "(did you mean 'DeleteVm'?): nothing is hidden by it",
        ),
        (
            "warning",
            "XO_MCP_DENY_LIST: 'Nothing' is not an operation of XO's REST API 0.39.0: "
            "nothing is hidden by it",
        ),
    ]


def test_the_strict_setting_refuses_to_start_naming_the_fleet_keys() -> None:
    names = {
        "XO_MCP_DENY_LIST": "instances.lyon.deny",
        "XO_MCP_DENY_UNKNOWN": "defaults.deny_unknown",
    }
    with pytest.raises(BootError) as caught:
        check_deny_list(settings("DELETE /vm/{id}", mode="error", **names), SPEC)
    assert caught.value.exit_code == EXIT_CONFIG
    assert str(caught.value) == (
        "instances.lyon.deny: 'DELETE /vm/{id}' is not an operation of XO's REST API 0.39.0 "
        "(did you mean 'DELETE /vms/{id}'?) (defaults.deny_unknown = error)"
    )
