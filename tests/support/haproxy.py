"""A real HAProxy (Debian's `haproxy -f FILE -db`) of the tests' own on a free loopback port, in
front of gateway replicas: round-robin, health checks on /readyz, and the stick table that
keeps a handshake-era session (its `Mcp-Session-Id`) on the replica that opened it.

The configuration is the one README's "Sidecar, single pod, or HA" recommends (and
configs/k8s/ha/haproxy.yaml ships), with faster health checks so that a test waits less.
Skipped with the reason where the binary is missing, except under CI=true where that fails.
"""

from __future__ import annotations

import csv
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from support.npm import IN_CI
from support.processes import free_port, stop_process, wait_for

# Everything but the servers and the timings is what the HA guide recommends.
CONFIG = """\
global
    maxconn 4000
    stats socket {admin} mode 600 level admin

defaults
    mode http
    timeout connect 2s
    timeout client 5m
    timeout server 5m
    timeout http-request 10s
    timeout queue 10s
    # A replica that is gone (connection refused, or closed before it answered) is retried on
    # another one: nothing was served, so nothing runs twice.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
    option http-server-close

frontend mcp
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server check inter {inter_ms}ms fall 1 rise 2
    # Handshake-era sessions: learned from the answer to initialize, matched on every request.
    stick-table type string len 64 size 100k expire 30m
    stick store-response res.hdr(mcp-session-id)
    stick match req.hdr(mcp-session-id)
{servers}
"""


# The directives the HA guide recommends, which configs/k8s/ha/sticky/haproxy.yaml carries too
# (tests/container/test_k8s_manifest.py checks it): what the container test proves is shipped.
RECOMMENDED = (
    "retries 3",
    "option redispatch 1",
    "retry-on conn-failure empty-response",
    "option http-server-close",
    "balance roundrobin",
    "option httpchk GET /readyz",
    "http-check expect status 200",
    "stick-table type string len 64 size 100k expire 30m",
    "stick store-response res.hdr(mcp-session-id)",
    "stick match req.hdr(mcp-session-id)",
)


def haproxy_or_skip() -> str:
    binary = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
    if binary is None:
        reason = "haproxy is not installed (`make test` installs Debian's haproxy)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return binary


class HaProxy:
    """`servers` maps a name to a loopback port; `states()` reads each one's health."""

    def __init__(self, directory: Path, servers: dict[str, int], *, inter_ms: int = 250) -> None:
        self.binary = haproxy_or_skip()
        self.port = free_port()
        self.admin = directory / "haproxy.sock"
        self.config = directory / "haproxy.cfg"
        lines = [f"    server {name} 127.0.0.1:{port}" for name, port in servers.items()]
        self.config.write_text(
            CONFIG.format(
                admin=self.admin, port=self.port, inter_ms=inter_ms, servers="\n".join(lines)
            )
        )
        self.log = directory / "haproxy.log"
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                [self.binary, "-f", str(self.config), "-db"],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._listening, 10, "haproxy to listen")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _listening(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"haproxy exited {self.process.returncode}:\n{self.output()}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return self.admin.exists()
        except OSError:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def command(self, line: str) -> str:
        """One command on the admin socket (the runtime API), its answer."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(self.admin))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def states(self) -> dict[str, str]:
        """Each server's status as HAProxy sees it: UP, DOWN, MAINT, "UP 1/2"…"""
        rows = csv.DictReader(self.command("show stat").lstrip("# ").splitlines())
        return {
            row["svname"]: row["status"]
            for row in rows
            if row["pxname"] == "replicas" and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def stick_entries(self) -> int:
        """Sessions the stick table holds."""
        answer = self.command("show table replicas")
        header = answer.splitlines()[0] if answer else ""
        return int(header.split("used:", 1)[1].split()[0]) if "used:" in header else 0

    def wait_state(self, server: str, status: str, timeout_s: float = 60) -> None:
        wait_for(
            lambda: self.states().get(server) == status,
            timeout_s,
            f"haproxy to see {server} {status}",
        )

    def stop(self) -> None:
        stop_process(self.process)
