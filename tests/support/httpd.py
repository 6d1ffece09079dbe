"""HTTP servers of the tests' own on loopback, each served from a thread: `serve_in_thread`
runs any of them; `RecordingProxy` is a forward proxy that records what went through it."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import BaseServer
from typing import TypeVar
from urllib.parse import urlsplit

Server = TypeVar("Server", bound=BaseServer)

LOOPBACK = ("127.0.0.1", "localhost")
# Headers of one hop, not passed on; Date and Server are the proxy's own to send.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te"}
NOT_RELAYED = HOP_BY_HOP | {"transfer-encoding", "content-length", "date", "server"}


@contextmanager
def serve_in_thread(server: Server, *, poll_interval_s: float = 0.5) -> Iterator[Server]:
    """`server` answering from a daemon thread until the block ends; then closed (shutting
    down takes up to `poll_interval_s`)."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": poll_interval_s}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Seen:
    method: str
    target: str  # absolute form, as a proxy receives it
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case

    @property
    def line(self) -> str:
        return f"{self.method} {self.target}"


class RecordingProxy(ThreadingHTTPServer):
    """A forward proxy for plain http:// that records every request, then relays it to a
    loopback target (or to loopback for a host in `aliases`, e.g. a name that does not
    resolve), answers itself for a host in `pages` (an HTML page), and refuses the rest."""

    daemon_threads = True

    def __init__(
        self, *, aliases: dict[str, str] | None = None, pages: dict[str, bytes] | None = None
    ) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.aliases = aliases or {}
        self.pages = pages or {}
        self.seen: list[Seen] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def lines(self) -> list[str]:
        """`METHOD absolute-target` of every request, in order."""
        with self.lock:
            return [s.line for s in self.seen]

    def paths(self) -> list[str]:
        with self.lock:
            return [urlsplit(s.target).path for s in self.seen]

    def to(self, host_port: str) -> list[str]:
        """The request lines aimed at `host:port`."""
        return [line for line in self.lines() if f"//{host_port}/" in line]


class _ProxyHandler(BaseHTTPRequestHandler):
    server: RecordingProxy
    protocol_version = "HTTP/1.1"

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k.lower(): v for k, v in self.headers.items()}
        with self.server.lock:
            self.server.seen.append(Seen(self.command, self.path, headers))
        target = urlsplit(self.path)
        host = target.hostname or ""
        if host in self.server.pages:
            self._answer(200, self.server.pages[host], [("Content-Type", "text/html")])
            return
        upstream_host = self.server.aliases.get(host, host)
        if upstream_host not in LOOPBACK:
            self._answer(502, b"refusing a non-loopback target", [("Content-Type", "text/plain")])
            return
        relayed = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = http.client.HTTPConnection(upstream_host, target.port or 80, timeout=30)
        try:
            path = target.path + (f"?{target.query}" if target.query else "")
            upstream.request(self.command, path, body=body, headers=relayed)
            response = upstream.getresponse()
            payload = response.read()
        finally:
            upstream.close()
        kept = [(k, v) for k, v in response.getheaders() if k.lower() not in NOT_RELAYED]
        self._answer(response.status, payload, kept)

    def _answer(self, status: int, payload: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay

    def log_message(self, *args: object) -> None:
        pass
