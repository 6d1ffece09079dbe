"""Proxy settings: the launcher's HTTP(S)_PROXY / NO_PROXY (either case) reach every worker,
and an instance's own [instances.<name>.proxy] wins. Recording proxies on loopback show which
way each worker's requests to XO went."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fleet.fleetkit import launch, running, secret_file, worker_pids
from support.clients import http_client
from support.processes import Sim, clean_env

pytestmark = pytest.mark.anyio

HOP_BY_HOP = ("connection", "keep-alive", "proxy-connection", "proxy-authorization")


class RecordingProxy:
    """A forwarding HTTP proxy (plain http:// only) that logs each absolute-form request line
    it forwards. One request per connection: answers say `Connection: close`."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        start = asyncio.start_server(self._handle, "127.0.0.1", 0)
        self._server = asyncio.run_coroutine_threadsafe(start, self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def seen(self, host_port: str) -> list[str]:
        return [line for line in self.requests if f"//{host_port}/" in line]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")[:-2]
            method, target, _ = request_line.split(" ", 2)
            self.requests.append(f"{method} {target}")
            headers = [
                line for line in header_lines if line.split(":")[0].lower() not in HOP_BY_HOP
            ]
            length = next(
                (
                    int(h.split(":", 1)[1])
                    for h in headers
                    if h.lower().startswith("content-length")
                ),
                0,
            )
            body = await reader.readexactly(length)
            answer = await self._forward(method, target, headers, body)
            writer.write(answer)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _forward(method: str, target: str, headers: list[str], body: bytes) -> bytes:
        url = urlsplit(target)
        if url.scheme != "http" or url.hostname is None:
            return b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n"
        reader, writer = await asyncio.open_connection(url.hostname, url.port or 80)
        path = url.path + (f"?{url.query}" if url.query else "")
        request = "\r\n".join([f"{method} {path} HTTP/1.1", *headers, "Connection: close"])
        writer.write(request.encode("latin-1") + b"\r\n\r\n" + body)
        await writer.drain()
        response = await reader.read()
        writer.close()
        head, _, rest = response.partition(b"\r\n\r\n")
        status, *lines = head.decode("latin-1").split("\r\n")
        kept = [line for line in lines if line.split(":")[0].lower() not in HOP_BY_HOP]
        return "\r\n".join([status, *kept, "Connection: close"]).encode("latin-1") + (
            b"\r\n\r\n" + rest
        )


@pytest.fixture
def proxies() -> Iterator[tuple[RecordingProxy, RecordingProxy]]:
    with RecordingProxy() as inherited, RecordingProxy() as own:
        yield inherited, own


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()  # the test runs as root
    pairs = (item.decode().split("=", 1) for item in raw.split(b"\0") if b"=" in item)
    return dict(pairs)


async def test_proxies_pass_through_and_an_instance_override_wins(
    tmp_path: Path, sim_pair: tuple[Sim, Sim], proxies: tuple[RecordingProxy, RecordingProxy]
) -> None:
    first, second = sim_pair
    inherited, own = proxies
    token = secret_file(tmp_path, "token", first.token)
    first_port = urlsplit(first.url).port
    # alpha: inherits HTTP_PROXY (upper case); beta: its own proxy; gamma: the same XO as
    # alpha under the name `localhost`, which the inherited no_proxy (lower case) exempts.
    toml = f"""
[instances.alpha]
url = "{first.url}"
token_file = "{token}"

[instances.beta]
url = "{second.url}"
token_file = "{token}"
[instances.beta.proxy]
http = "{own.url}"

[instances.gamma]
url = "http://localhost:{first_port}"
token_file = "{token}"
"""
    env = clean_env(HTTP_PROXY=inherited.url, no_proxy="localhost")
    with running(launch(tmp_path, toml, env=env)) as fleet:
        fleet.wait_ready(timeout_s=60)
        async with http_client(f"{fleet.url}/mcp") as client:
            for instance in ("alpha", "beta", "gamma"):
                result = await client.call_tool(
                    "vms_query", {"instance": instance, "operation": "GetVms", "limit": 1}
                )
                assert not result.is_error
        environs = {name: _environ(pid) for name, pid in worker_pids(fleet.runtime_dir).items()}

    alpha_host = f"127.0.0.1:{first_port}"
    beta_host = urlsplit(second.url).netloc
    assert f"GET http://{alpha_host}/rest/v0/mcp/status" in inherited.requests
    assert any("/rest/v0/vms" in line for line in inherited.seen(alpha_host))
    assert inherited.seen(beta_host) == []
    assert any("/rest/v0/vms" in line for line in own.seen(beta_host))
    assert own.seen(alpha_host) == []
    assert not any("localhost" in line for line in inherited.requests + own.requests)
    # What the workers were given: both cases pass through, the override replaces both.
    for name in ("alpha", "gamma"):
        assert environs[name]["HTTP_PROXY"] == inherited.url
        assert environs[name]["no_proxy"] == "localhost"
    assert environs["beta"]["HTTP_PROXY"] == environs["beta"]["http_proxy"] == own.url
    assert environs["beta"]["no_proxy"] == "localhost"
