"""What every benchmark shares: the machine, process memory and CPU, percentiles, JSON output,
and two raw MCP drivers (stdio and Streamable HTTP) whose own cost stays out of the figures.

The drivers speak JSON-RPC by hand instead of using an SDK client: a client's import time and
per-message overhead would otherwise be counted against the server under test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import io
import json
import os
import platform
import select
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
RESULTS = BENCH / "results"
sys.path.insert(0, str(REPO / "tests"))

from support import rpc  # noqa: E402
from support.npm import OFFICIAL, NpmPeers, npm_peers  # noqa: E402
from support.pids import PROC, cmdline, descendants, kib, stat_fields  # noqa: E402
from support.processes import (  # noqa: E402
    PYTHON,
    Sim,
    clean_env,
    free_port,
    scratch_dir,
    start_sim,
    stop_process,
)
from support.rpc import INITIALIZED, request  # noqa: E402
from support.rpc import tool_call as call  # noqa: E402

__all__ = [
    "INITIALIZED",
    "OFFICIAL",
    "PYTHON",
    "NpmPeers",
    "Sim",
    "call",
    "clean_env",
    "descendants",
    "free_port",
    "npm_peers",
    "request",
    "start_sim",
    "stop_process",
]

LEGACY_VERSION = rpc.PROTOCOL_VERSION
CLIENT = "xo-mcp-bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# --- the machine ----------------------------------------------------------------------------


def _first_line(command: list[str]) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except OSError as error:
        return f"unavailable ({error})"
    return (result.stdout or result.stderr).strip().splitlines()[0]


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    return {
        "nproc": int(_first_line(["nproc"])),
        "cpu_model": _cpu_model(),
        "ram_gib": round((kib(PROC / "meminfo", "MemTotal") or 0) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": _first_line(["node", "--version"]),
        "loadavg": os.getloadavg(),
    }


# --- processes ------------------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    return kib(PROC / str(pid) / "status", "VmRSS") or 0


def pss_kb(pid: int) -> int:
    return kib(PROC / str(pid) / "smaps_rollup", "Pss") or 0


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of one process (not its children)."""
    fields = stat_fields(pid)
    if fields is None:
        return 0.0, 0.0
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (not its children)."""
    return sum(cpu_split(pid))


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def command_line(pid: int) -> str:
    return " ".join(cmdline(pid))


# --- statistics -----------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float], digits: int = 2) -> dict[str, Any]:
    return {
        "n": len(values),
        "median": round(percentile(values, 50), digits),
        "p90": round(percentile(values, 90), digits),
        "p99": round(percentile(values, 99), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "mean": round(sum(values) / len(values), digits),
    }


@dataclass
class Row:
    """One line of the results table: ours against the peer, and the target on their ratio."""

    scenario: str
    ours: float
    peer: float | None
    unit: str
    target: str  # e.g. "<= 1.0x", ">= 500", "<= 1 ms added"
    met: bool | None
    ratio: float | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def ratio(ours: float, peer: float) -> float:
    return round(ours / peer, 3) if peer else float("inf")


def compare(
    scenario: str, ours: float, peer: float, unit: str, limit: float, note: str = ""
) -> Row:
    """A lower-is-better comparison whose target is `ours / peer <= limit`."""
    value = ratio(ours, peer)
    return Row(scenario, ours, peer, unit, f"<= {limit:g}x", value <= limit, value, note)


def write_json(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    return path


def document(area: str, started: float, **figures: Any) -> dict[str, Any]:
    """A benchmark's JSON document: against what, on which machine, its figures, how long,
    when (`RESULTS.md`, re-rendered later, says when each part was measured)."""
    return {
        "area": area,
        "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "peer": OFFICIAL,
        "machine": machine(),
        "simulator": "xo-mcp-sim --spec <@xen-orchestra/rest-api@0.39.0 swagger.json>",
        **figures,
        "seconds": round(time.monotonic() - started, 1),
    }


def measured(found: dict[str, Any], key: str | None = None) -> str:
    """ "20 warm-up then N calls", N read from the first result's summary."""
    first = next(iter(found.values()))
    count = (first[key] if key else first)["n"]
    return f"20 warm-up then {count} calls"


def when(found: dict[str, Any]) -> str:
    """When a document was measured (older ones said `finished_utc`)."""
    return str(found.get("at") or found.get("finished_utc") or "an earlier run")


def run_from_cli(name: str, doc: str, run: Callable[..., Any], **helps: str) -> None:
    """`run(peers, **options)` from the command line, one `--option` per keyword in `helps`
    (its default and type are `run`'s own); the document written to bench/results/<name>.json."""
    parser = argparse.ArgumentParser(description=doc.split("\n", 1)[0])
    defaults = inspect.signature(run).parameters
    for keyword, text in helps.items():
        default = defaults[keyword].default
        flag = "--" + keyword.replace("_", "-")
        parser.add_argument(flag, type=type(default), default=default, help=text)
    options = vars(parser.parse_args())
    print(write_json(name, run(npm_peers(), **options)))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Row):
        return value.as_dict()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


# --- the code under test --------------------------------------------------------------------


@dataclass
class CodeCopy:
    """A copy of xo_mcp/ put first on PYTHONPATH, so that what is (or is not) compiled is known.

    The checkout's own __pycache__ holds whatever other runs left there (this machine sets
    PYTHONDONTWRITEBYTECODE=1, which stops writing, not reading), so neither variant uses it.
    """

    root: Path
    compiled: bool

    def env(self) -> dict[str, str]:
        return {"PYTHONPATH": str(self.root), "PYTHONDONTWRITEBYTECODE": "1"}

    @property
    def cwd(self) -> Path:
        """Where to start processes: `python -m` puts the working directory first on sys.path,
        so from the checkout it would load the checkout's xo_mcp, not this copy. Not the copy's
        root either: the sandbox leaves the start-up entry of sys.path out of the readable
        code paths, which would lock a fleet worker out of its own code."""
        return self.root.parent


def code_at(revision: str, scratch: Path) -> Path | None:
    """xo_mcp/ (and supervisor/, which it links to, where it exists) as they were at `revision`,
    compiled, in a folder of their own; None without git history (a source tarball)."""
    paths = ["xo_mcp"]
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-tree", "--name-only", revision, "supervisor"],
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.stdout.strip():
        paths.append("supervisor")
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", revision, *paths], capture_output=True, check=False
    )
    if archive.returncode != 0:
        return None
    root = scratch / f"code-{revision}"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(root, filter="data")
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(root / "xo_mcp")], check=True)
    return root


def code_copy(parent: Path, *, compiled: bool) -> CodeCopy:
    root = parent / ("compiled" if compiled else "source")
    shutil.copytree(
        REPO / "xo_mcp", root / "xo_mcp", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    if compiled:
        subprocess.run([PYTHON, "-m", "compileall", "-q", str(root / "xo_mcp")], check=True)
    copy = CodeCopy(root, compiled)
    _check_loaded_from(copy)
    return copy


def _check_loaded_from(copy: CodeCopy) -> None:
    probe = "import xo_mcp.worker.cli as m, sys; print(m.__file__, m.__cached__)"
    result = subprocess.run(
        [PYTHON, "-c", probe],
        env=clean_env(**copy.env()),
        cwd=copy.cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    source, cached = result.stdout.split()
    if not source.startswith(str(copy.root)):
        raise RuntimeError(f"the code copy is not what loads: {source}")
    if copy.compiled != Path(cached).exists():
        raise RuntimeError(f"bytecode of the copy is not as intended: {cached}")


@contextlib.contextmanager
def sim_and_scratch(peers: NpmPeers, prefix: str) -> Iterator[tuple[Sim, Path]]:
    """The benchmark simulator and a scratch directory, both gone afterwards."""
    sim = start_bench_sim(peers.real_spec)
    try:
        with scratch_dir(prefix) as scratch:
            yield sim, scratch
    finally:
        sim.stop()


def start_bench_sim(spec: Path) -> Sim:
    """The simulated XO every server under test talks to: XO's real spec, token auth.

    It listens (TCP_NODELAY, like every xo-mcp listener) before it prints its address, so it
    is serving once start_sim returns."""
    return start_sim("--spec", str(spec))


# --- JSON-RPC messages ----------------------------------------------------------------------


def initialize(request_id: int = 1) -> dict[str, Any]:
    return rpc.initialize(request_id, CLIENT, version=LEGACY_VERSION, client_version="1")


def tools_bytes(tools: list[Any]) -> int:
    """The size of a tools array as compact UTF-8 JSON (the same yardstick for every server)."""
    return len(json.dumps(tools, separators=(",", ":"), ensure_ascii=False).encode())


class RpcError(RuntimeError):
    pass


def result_of(message: dict[str, Any]) -> dict[str, Any]:
    if "error" in message:
        raise RpcError(f"JSON-RPC error: {message['error']}")
    result: dict[str, Any] = message["result"]
    if result.get("isError"):
        raise RpcError(f"tool error: {json.dumps(result)[:500]}")
    return result


# --- a raw stdio driver ---------------------------------------------------------------------


@dataclass
class StdioServer:
    """An MCP server spawned with pipes; requests are written and answered line by line."""

    process: subprocess.Popen[bytes]
    started: float
    _buffer: bytes = b""
    _next_id: int = 100

    @classmethod
    def spawn(
        cls, command: list[str], env: dict[str, str], stderr: Any, cwd: Path | None = None
    ) -> StdioServer:
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            cwd=cwd,
        )
        return cls(process, started)

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, *messages: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        data = b"".join(json.dumps(m, separators=(",", ":")).encode() + b"\n" for m in messages)
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def _line(self, deadline: float) -> bytes:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.process.poll() is not None:
                raise RpcError(f"no answer from {self.process.args!r} (exit {self.process.poll()})")
            ready, _, _ = select.select([fd], [], [], min(remaining, 0.5))
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise RpcError(f"{self.process.args!r} closed its stdout")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def wait_for(self, request_id: int, timeout_s: float = 60.0) -> tuple[dict[str, Any], int]:
        """The response to `request_id` and its size on the wire; other messages are skipped."""
        deadline = time.monotonic() + timeout_s
        while True:
            line = self._line(deadline)
            if not line.strip():
                continue
            message = json.loads(line)
            if message.get("id") == request_id and "method" not in message:
                return message, len(line)

    def handshake_and_list(self) -> tuple[list[Any], int]:
        """initialize, initialized and tools/list in one write; the tools and the reply size."""
        self.send(initialize(1), INITIALIZED, request(2, "tools/list"))
        tools: list[Any] = []
        size = 0
        reply, size = self.wait_for(2)
        tools += result_of(reply)["tools"]
        cursor = reply["result"].get("nextCursor")
        while cursor:
            self._next_id += 1
            self.send(request(self._next_id, "tools/list", {"cursor": cursor}))
            reply, more = self.wait_for(self._next_id)
            size += more
            tools += result_of(reply)["tools"]
            cursor = reply["result"].get("nextCursor")
        return tools, size

    def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        self.send(call(self._next_id, tool, arguments))
        reply, _ = self.wait_for(self._next_id)
        return result_of(reply)

    def close(self, timeout_s: float = 5.0) -> None:
        """Close stdin (how MCP hosts stop a stdio server), then terminate if it lingers."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stop_process(self.process, timeout_s=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


# --- a raw Streamable HTTP driver (handshake era, one keep-alive connection) -----------------


class HttpError(RuntimeError):
    pass


@dataclass
class HttpSession:
    """One MCP session over one HTTP/1.1 keep-alive connection, with a hand-written parser."""

    host: str
    port: int
    path: str = "/mcp"
    token: str | None = None
    session_id: str | None = None
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    next_id: int = 1
    received: int = 0  # body bytes of the last response
    headers: dict[str, str] = field(default_factory=dict)

    async def open(self) -> dict[str, Any]:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        reply = await self.rpc(initialize(self._take_id()))
        await self.post(INITIALIZED)
        return reply

    def _take_id(self) -> int:
        self.next_id += 1
        return self.next_id

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await self.writer.wait_closed()

    def _request_bytes(self, body: bytes) -> bytes:
        lines = [
            f"POST {self.path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            "Content-Type: application/json",
            "Accept: application/json, text/event-stream",
            f"Content-Length: {len(body)}",
        ]
        if self.session_id:
            lines += [
                f"Mcp-Session-Id: {self.session_id}",
                f"MCP-Protocol-Version: {LEGACY_VERSION}",
            ]
        if self.token:
            lines.append(f"Authorization: Bearer {self.token}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def post(self, message: dict[str, Any]) -> tuple[int, bytes]:
        assert self.writer is not None
        self.writer.write(self._request_bytes(json.dumps(message, separators=(",", ":")).encode()))
        status, body = await self._response()
        if status >= 300:
            raise HttpError(f"HTTP {status}: {body[:300]!r}")
        return status, body

    async def _response(self) -> tuple[int, bytes]:
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        headers = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        self.headers = headers
        if "mcp-session-id" in headers:
            self.session_id = headers["mcp-session-id"]
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunked()
        else:
            body = await self.reader.read()
        self.received = len(body)
        return status, body

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    async def rpc(self, message: dict[str, Any]) -> dict[str, Any]:
        _, body = await self.post(message)
        for candidate in _messages(body, self.headers.get("content-type", "")):
            if candidate.get("id") == message["id"] and "method" not in candidate:
                return candidate
        raise HttpError(f"no response to {message['method']} in {body[:300]!r}")

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return result_of(await self.rpc(call(self._take_id(), tool, arguments)))

    async def list_tools(self) -> tuple[list[Any], int]:
        """Every page of tools/list, and the body bytes received for them."""
        tools: list[Any] = []
        size = 0
        cursor = None
        while True:
            params = {"cursor": cursor} if cursor else None
            reply = result_of(await self.rpc(request(self._take_id(), "tools/list", params)))
            size += self.received
            tools += reply["tools"]
            cursor = reply.get("nextCursor")
            if not cursor:
                return tools, size


def _messages(body: bytes, content_type: str) -> list[dict[str, Any]]:
    if "text/event-stream" not in content_type:
        parsed = json.loads(body)
        return parsed if isinstance(parsed, list) else [parsed]
    found = []
    for event in body.replace(b"\r\n", b"\n").split(b"\n\n"):
        data = b"\n".join(
            line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:")
        )
        if data:
            found.append(json.loads(data))
    return found
