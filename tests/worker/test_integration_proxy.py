"""The worker behind a recording HTTP proxy on loopback: HTTP(S)_PROXY, NO_PROXY, credentials."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from support.httpd import RecordingProxy, serve_in_thread
from support.processes import Sim, free_port, worker_env
from worker.kit import call, run_worker, worker

from xo_mcp.wire.exits import EXIT_UNAVAILABLE

pytestmark = pytest.mark.anyio

DOCS_HOST = "docs.example.invalid"  # never resolved: the proxy answers for it


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    """Relays to loopback; answers for DOCS_HOST itself; records everything."""
    page = b"<html><body><h1>From the proxy</h1></body></html>"
    with serve_in_thread(RecordingProxy(pages={DOCS_HOST: page})) as server:
        yield server


async def test_rest_requests_go_through_the_proxy(sim: Sim, proxy: RecordingProxy) -> None:
    async with worker(worker_env(sim, HTTP_PROXY=proxy.url)) as client:
        assert (await call(client, "vms_query", {"operation": "GetVms", "limit": 1}))[1] is False
    paths = proxy.paths()
    assert paths[:3] == ["/rest/v0/mcp/status", "/rest/v0/docs/swagger.json", "/rest/v0/vms"]
    status, spec, vms = proxy.seen[:3]
    assert status.target.startswith(sim.url)  # absolute form: a real proxy request
    assert "cookie" not in status.headers  # the kill-switch probe carries no credentials
    assert spec.headers["cookie"] == f"authenticationToken={sim.token}"
    assert vms.headers["x-xo-client"] == "mcp"
    assert "markdown=true" in vms.target


@pytest.mark.parametrize(
    "no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*", "127.0.0.1:{port}", "other, 127.0.0.1"]
)
async def test_no_proxy_covering_xo_sends_nothing_to_the_proxy(
    sim: Sim, proxy: RecordingProxy, no_proxy: str
) -> None:
    port = str(urlsplit(sim.url).port)
    env = worker_env(sim, HTTP_PROXY=proxy.url, NO_PROXY=no_proxy.format(port=port))
    async with worker(env) as client:
        assert (await call(client, "check_connection"))[1] is False
    assert proxy.seen == []


async def test_no_proxy_for_another_port_still_proxies(sim: Sim, proxy: RecordingProxy) -> None:
    env = worker_env(sim, HTTP_PROXY=proxy.url, NO_PROXY=f"127.0.0.1:{free_port()}")
    async with worker(env) as client:
        assert (await call(client, "check_connection"))[1] is False
    assert "/rest/v0/pools" in proxy.paths()


async def test_lowercase_variables(sim: Sim, proxy: RecordingProxy) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    env = worker_env(sim, http_proxy=proxy.url, HTTP_PROXY=dead)
    async with worker(env) as client:
        assert (await call(client, "check_connection"))[1] is False
    assert "/rest/v0/pools" in proxy.paths()
    proxy.seen.clear()
    env = worker_env(sim, HTTP_PROXY=proxy.url, no_proxy="127.0.0.1", NO_PROXY="nothing")
    async with worker(env) as client:
        assert (await call(client, "check_connection"))[1] is False
    assert proxy.seen == []


async def test_proxy_credentials_are_sent_and_never_shown(sim: Sim, proxy: RecordingProxy) -> None:
    authenticated = proxy.url.replace("http://", "http://ops:pr0xy-pass@")
    async with worker(worker_env(sim, HTTP_PROXY=authenticated)) as client:
        assert (await call(client, "check_connection"))[1] is False
    expected = "Basic " + base64.b64encode(b"ops:pr0xy-pass").decode()
    assert proxy.seen[0].headers["proxy-authorization"] == expected


def test_a_dead_proxy_is_named_without_its_password(sim: Sim) -> None:
    dead = f"http://ops:pr0xy-pass@127.0.0.1:{free_port()}"
    result = run_worker(worker_env(sim, HTTP_PROXY=dead))
    assert result.returncode == EXIT_UNAVAILABLE
    assert f"through proxy {dead.replace('ops:pr0xy-pass@', '')}" in result.stderr
    assert "pr0xy-pass" not in result.stderr


async def test_encoded_ids_reach_xo_as_one_segment(sim: Sim, proxy: RecordingProxy) -> None:
    async with worker(worker_env(sim, HTTP_PROXY=proxy.url)) as client:
        for hostile in ("../pools?x=1#y", "..", "x/y?z#w"):
            message, is_error = await call(
                client, "vms_query", {"operation": "GetVm", "id": hostile}
            )
            assert is_error and "XO API error (404 Not Found)" in message
        # Without dots (the simulator reads `a.b` as `{id}.{format}`), XO's text names the id.
        assert "no such VM x/y?z#w" in message
    targets = [urlsplit(s.target).path for s in proxy.seen]
    assert "/rest/v0/vms/..%2Fpools%3Fx%3D1%23y" in targets
    assert "/rest/v0/vms/%2E%2E" in targets
    assert "/rest/v0/vms/x%2Fy%3Fz%23w" in targets
    assert "/rest/v0/pools" not in targets and "/rest/v0" not in targets


async def test_search_documentation_honours_the_proxy(sim: Sim, proxy: RecordingProxy) -> None:
    env = worker_env(
        sim,
        HTTP_PROXY=proxy.url,
        NO_PROXY="127.0.0.1",
        XO_DOCS_URL=f"http://{DOCS_HOST}/docs",
    )
    async with worker(env) as client:
        page, is_error = await call(client, "search_documentation", {"topic": "restapi"})
    assert not is_error
    assert page.endswith("## From the proxy")
    assert [s.target for s in proxy.seen] == [f"http://{DOCS_HOST}/docs/restapi"]
