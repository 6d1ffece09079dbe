"""Older handshake revisions, spoken as raw JSON-RPC (SDK clients always pick their newest)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from support import rpc
from support.processes import Sim, free_port, worker_env
from worker.kit import WORKER, serving

HANDSHAKE_VERSIONS = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]


class StdioSession:
    """A worker over stdio driven line by line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            WORKER,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.next_id = 0

    def notify(self, method: str) -> None:
        self._send({"jsonrpc": "2.0", "method": method})

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.next_id += 1
        self._send(rpc.request(self.next_id, method, params))
        assert self.process.stdout is not None
        while True:
            line = self.process.stdout.readline()
            assert line, "the worker closed stdout"
            answer: dict[str, Any] = json.loads(line)
            if answer.get("id") == self.next_id:
                return answer

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def close(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(timeout=15)


@pytest.fixture
def session(sim: Sim) -> Iterator[StdioSession]:
    stdio = StdioSession(worker_env(sim))
    yield stdio
    if stdio.process.poll() is None:
        stdio.close()


@pytest.mark.parametrize("version", HANDSHAKE_VERSIONS)
def test_stdio_handshake_revisions(session: StdioSession, version: str) -> None:
    answer = session.request("initialize", rpc.initialize_params(version=version))
    assert answer["result"]["protocolVersion"] == version
    assert answer["result"]["serverInfo"]["name"] == "xo-mcp"
    assert "tools" in answer["result"]["capabilities"]
    session.notify("notifications/initialized")
    tools = session.request("tools/list")["result"]["tools"]
    assert {"vms_query", "check_connection"} <= {tool["name"] for tool in tools}
    result = session.request(
        "tools/call", {"name": "vms_query", "arguments": {"operation": "GetVms", "limit": 1}}
    )["result"]
    assert result["isError"] is False
    assert result["content"][0]["text"].startswith("| name_label |")
    failed = session.request("tools/call", {"name": "vms_query", "arguments": {"operation": 1}})
    assert failed["result"]["isError"] is True  # a tool error, not a JSON-RPC error
    assert session.close() == 0  # stdin closed: a clean exit


def test_stdio_unknown_prompt_is_a_protocol_error(session: StdioSession) -> None:
    session.request("initialize", rpc.initialize_params(version="2025-06-18"))
    session.notify("notifications/initialized")
    answer = session.request("prompts/get", {"name": "nope"})
    assert answer["error"]["code"] == -32602


def sse_messages(response: httpx2.Response) -> list[dict[str, Any]]:
    if response.headers["content-type"].startswith("application/json"):
        return [response.json()]
    return [
        json.loads(line[len("data:") :])
        for line in response.text.splitlines()
        if line.startswith("data:") and line[len("data:") :].strip()
    ]


def test_http_with_the_2025_06_18_handshake(sim: Sim, tmp_path: Path) -> None:
    port = free_port()
    headers = {"Accept": "application/json, text/event-stream"}
    with serving(worker_env(sim), f"127.0.0.1:{port}", tmp_path / "err"):
        url = f"http://127.0.0.1:{port}/mcp"
        with httpx2.Client(headers=headers, timeout=30, trust_env=False) as http:
            opened = http.post(url, json=rpc.initialize(1, version="2025-06-18"))
            (answer,) = sse_messages(opened)
            assert answer["result"]["protocolVersion"] == "2025-06-18"
            session = {
                "Mcp-Session-Id": opened.headers["mcp-session-id"],
                "MCP-Protocol-Version": "2025-06-18",
            }
            http.post(url, json=rpc.INITIALIZED, headers=session)
            listed = http.post(url, json=rpc.request(2, "tools/list"), headers=session)
            (tools,) = sse_messages(listed)
            assert "hosts_query" in {tool["name"] for tool in tools["result"]["tools"]}
