"""The TypeScript SDK client (npm @modelcontextprotocol/sdk@1) drives the worker over stdio."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from support.npm import NpmPeers
from support.processes import Sim, clean_env, worker_env
from worker.kit import WORKER

SCRIPT = Path(__file__).with_name("ts_client.mjs")


def test_typescript_client_lists_and_queries(npm: NpmPeers, sim: Sim) -> None:
    env = clean_env(
        TS_SDK_DIR=str(npm.node_modules / "@modelcontextprotocol" / "sdk"),
        WORKER_COMMAND=json.dumps(WORKER),
        WORKER_ENV=json.dumps(worker_env(sim)),
        NODE_NO_WARNINGS="1",
    )
    result = subprocess.run(
        ["node", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["server"]["name"] == "xo-mcp"
    assert "vms_query" in seen["tools"] and seen["tools"][-3:] == [
        "check_connection",
        "search_documentation",
        "get_infrastructure_summary",
    ]
    assert seen["vmsOperations"][0] == "GetVms"
    assert seen["vmsReadOnly"] is True
    assert seen["query"]["isError"] is False
    lines = seen["query"]["text"].splitlines()
    assert lines[:2] == ["| name_label | power_state |", "| --- | --- |"] and len(lines) == 4
    assert seen["failure"]["isError"] is True
    assert (
        "404 Not Found" in seen["failure"]["text"] and "no such VM nope" in seen["failure"]["text"]
    )
    assert seen["prompts"] == ["infrastructure-overview"]
