"""The stdio framing against hostile input, on a real worker and on a real fleet gateway:
garbage, invalid JSON-RPC, binary, 5 MB lines. The process answers errors or ignores what is
not a request, never crashes, answers every valid request (with an id) it is sent, and still
answers a valid request afterwards; stdout carries nothing but JSON-RPC.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.fleetfile import fleet_toml, instance
from support.processes import PYTHON, Sim, running, secret_file, start_fleet, worker_env
from support.rpc import initialize

INITIALIZE = initialize(0, "hostile")
FIVE_MB = 5 * 1024 * 1024


class Peer:
    """A JSON-RPC peer on a process's stdin/stdout; a thread collects stdout lines."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.seen: list[bytes] = []  # every stdout line, for the purity check
        self.next_id = 1000
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def send(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def request(self, method: str, params: Any = None, request_id: Any = None) -> Any:
        if request_id is None:
            self.next_id += 1
            request_id = self.next_id
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(json.dumps(message).encode() + b"\n")
        return request_id

    def answers(self, *ids: Any, timeout_s: float = 60.0) -> dict[Any, dict[str, Any]]:
        """Read until every id in `ids` is answered; other lines must be JSON-RPC too."""
        wanted = set(map(json.dumps, ids))
        found: dict[Any, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout_s
        while wanted:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.process.poll() is not None:
                raise AssertionError(f"no answer to {sorted(wanted)} (exit {self.process.poll()})")
            try:
                line = self.lines.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                continue
            self.seen.append(line)
            message = json.loads(line)
            assert message["jsonrpc"] == "2.0", line[:200]
            key = json.dumps(message.get("id"))
            if key in wanted:
                wanted.discard(key)
                found[message.get("id")] = message
        return found

    def ping(self) -> None:
        ping = self.request("ping")
        assert "result" in self.answers(ping)[ping]

    def handshake(self) -> None:
        self.send(json.dumps(INITIALIZE).encode() + b"\n")
        assert "result" in self.answers(0)[0]
        self.send(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}\n')


def _start(command: list[str], env: dict[str, str], stderr: Path) -> subprocess.Popen[bytes]:
    with stderr.open("wb") as errors:
        return subprocess.Popen(
            command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors
        )


def _stop(process: subprocess.Popen[bytes]) -> int:
    assert process.stdin is not None
    process.stdin.close()  # end of the session: a stdio server stops by itself
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


@pytest.fixture(scope="module", params=["worker", "gateway"])
def peer(
    request: pytest.FixtureRequest, sim: Sim, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Peer]:
    base = tmp_path_factory.mktemp(f"stdio-{request.param}")
    if request.param == "worker":
        process = _start([PYTHON, "-m", "xo_mcp.worker"], worker_env(sim), base / "stderr")
        server = Peer(process)
        server.handshake()
        yield server
        assert _stop(process) == 0
        assert "Traceback" not in (base / "stderr").read_text(errors="replace")
        return
    token = secret_file(base, "token", sim.token)
    toml = fleet_toml(instances={"alpha": instance(sim, token_file=token)})
    with running(start_fleet(base, toml, listen=False, args=("--stdio",))) as fleet:
        server = Peer(fleet.process)  # type: ignore[arg-type]
        server.handshake()
        _wait_ready(server)
        yield server
        assert _stop(fleet.process) == 0  # type: ignore[arg-type]
        assert "Traceback" not in fleet.stderr()


def _wait_ready(server: Peer) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        asked = server.request("tools/call", {"name": "fleet_status", "arguments": {}})
        rows = server.answers(asked)[asked]["result"]["structuredContent"]["instances"]
        if all(row["state"] == "ready" for row in rows):
            return
        time.sleep(0.2)
    raise AssertionError("the fleet's instance never became ready")


# Lines that are not requests: ignored, or answered with an error; never a crash.
NOT_REQUESTS = {
    "garbage": b"garbage\n",
    "empty": b"\n",
    "blanks": b"   \t  \n",
    "binary": b"\xff\xfe\x00\x01binary\x80\n",
    "nul": b'{"jsonrpc": "2.0", "id": 1\x00, "method": "ping"}\n',
    "no method": b'{"jsonrpc": "2.0", "id": 5}\n',
    "jsonrpc 1.0": b'{"jsonrpc": "1.0", "id": 6, "method": "ping"}\n',
    "no jsonrpc": b'{"id": 7, "method": "ping"}\n',
    "array": b"[]\n",
    "batch": b'[{"jsonrpc": "2.0", "id": 8, "method": "ping"}]\n',
    "number": b"42\n",
    "string": b'"tools/list"\n',
    "deep": b"[" * 100_000 + b"]" * 100_000 + b"\n",
    "unknown notification": b'{"jsonrpc": "2.0", "method": "notifications/nope"}\n',
    "response to nothing": b'{"jsonrpc": "2.0", "id": 9, "result": {}}\n',
    "5 MB garbage": b"x" * FIVE_MB + b"\n",
    "5 MB string": b'"' + b"y" * FIVE_MB + b'"\n',
    "truncated": b'{"jsonrpc": "2.0", "id": 10, "method": "tools/li\n',
    # JSON-RPC params are structured or absent: a string makes it no request at all.
    "params a string": b'{"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": "x"}\n',
}


@pytest.mark.parametrize("line", NOT_REQUESTS.values(), ids=NOT_REQUESTS.keys())
def test_what_is_not_a_request_is_ignored_or_refused(peer: Peer, line: bytes) -> None:
    peer.send(line)
    peer.ping()


# Valid requests with wrong content: each must get an answer with its own id.
def _requests(peer: Peer) -> dict[str, Any]:
    huge = "z" * FIVE_MB
    return {
        "unknown method": peer.request("nope/nope"),
        "arguments not an object": peer.request(
            "tools/call", {"name": "check_connection", "arguments": [1, 2]}
        ),
        "unknown tool": peer.request("tools/call", {"name": "no_such_tool", "arguments": {}}),
        "5 MB argument": peer.request(
            "tools/call",
            {"name": "vms_query", "arguments": {"operation": "GetVms", "filter": huge}},
        ),
        "string id": peer.request("ping", request_id="é-" + "i" * 1000),
        "negative id": peer.request("ping", request_id=-(2**53)),
        "unknown prompt": peer.request("prompts/get", {"name": "nope"}),
    }


def test_every_request_is_answered(peer: Peer) -> None:
    asked = _requests(peer)
    found = peer.answers(*asked.values())
    for what, request_id in asked.items():
        answer = found[request_id]
        refused = "error" in answer or answer.get("result", {}).get("isError")
        assert refused or what.endswith(" id"), (what, answer)
    peer.ping()


@settings(
    max_examples=60,
    deadline=None,  # each example is a round trip through a process: no per-example budget
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.binary(max_size=2000) | st.text(max_size=200).map(str.encode))
def test_arbitrary_lines_never_break_the_session(peer: Peer, line: bytes) -> None:
    peer.send(line.replace(b"\n", b" ") + b"\n")
    peer.ping()


def test_a_valid_request_is_still_served(peer: Peer) -> None:
    listed = peer.request("tools/list")
    tools = peer.answers(listed)[listed]["result"]["tools"]
    assert any(tool["name"] == "vms_query" for tool in tools)
    arguments = {"operation": "GetVms", "limit": 1}
    if any("instance" in tool["inputSchema"]["properties"] for tool in tools):
        arguments["instance"] = "alpha"
    called = peer.request("tools/call", {"name": "vms_query", "arguments": arguments})
    result = peer.answers(called)[called]["result"]
    assert not result.get("isError"), result
    assert peer.process.poll() is None
