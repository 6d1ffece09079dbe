"""Traces (xo_mcp/telemetry.py): nothing of OpenTelemetry's SDK is loaded or paid for when off;
on, spans reach an OTLP/HTTP receiver and XO requests carry their own span's traceparent."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import httpx2
import pytest
from support.otlp import Receiver, otlp_receiver
from support.processes import PYTHON, clean_env

from xo_mcp import telemetry
from xo_mcp.worker.settings import Credentials, WorkerSettings
from xo_mcp.worker.xo_client import XoClient, XoRequestError

pytestmark = pytest.mark.anyio
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_PARENT = f"00-{CLIENT_TRACE}-00f067aa0ba902b7-01"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as found:
        telemetry.configure("xo-mcp-test", telemetry.traces_url(found.url))
        try:
            yield found
        finally:
            telemetry.shutdown()  # flushes what is batched


def test_off_it_is_a_shared_null_context_and_no_header() -> None:
    assert not telemetry.enabled()
    assert telemetry.span("x") is telemetry.span("y")  # nothing made per call
    assert telemetry.headers() == {} and telemetry.traceparent() is None


def test_off_the_sdk_is_never_imported() -> None:
    """A worker and a gateway that do not trace load none of it (import time, memory)."""
    code = (
        "import sys\n"
        "import xo_mcp.worker.cli, xo_mcp.worker.gateway_socket, xo_mcp.worker.xo_client\n"
        "import xo_mcp.fleet.launcher, xo_mcp.gateway.surfaces\n"
        "from xo_mcp import telemetry\n"
        "telemetry.configure('x', telemetry.endpoint_from())\n"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry.sdk', "
        "'opentelemetry.exporter', 'google.protobuf', 'requests'))))\n"
    )
    done = subprocess.run(
        [PYTHON, "-c", code], capture_output=True, text=True, env=clean_env(), check=True
    )
    assert done.stdout.strip() == "[]"


def test_the_endpoint_variables() -> None:
    assert telemetry.endpoint_from({}) is None
    base = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}
    assert telemetry.endpoint_from(base) == "http://collector:4318/v1/traces"
    full = {**base, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:1/custom"}
    assert telemetry.endpoint_from(full) == "http://c:1/custom"


async def test_an_xo_request_carries_its_own_spans_traceparent(receiver: Receiver) -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(404, json={"error": "no such VM"})

    xo = XoClient(WorkerSettings(xo_url="http://xo.test", credentials=Credentials(token="t")))
    xo._http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    with (
        telemetry.span("execute_tool vms_query", kind="server", parent=CLIENT_PARENT),
        pytest.raises(XoRequestError, match="404"),
    ):
        await xo.request("GET", "/vms/nope")
    telemetry.shutdown()
    deadline = time.monotonic() + 10
    while len(receiver.spans) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    (tool,) = receiver.named("execute_tool vms_query")
    (request,) = receiver.named("GET")
    assert tool.trace_id == request.trace_id == CLIENT_TRACE
    assert tool.parent_id == "00f067aa0ba902b7" and request.parent_id == tool.span_id
    assert (request.kind, request.error) == ("client", True)
    assert request.attributes["http.response.status_code"] == 404
    assert request.attributes["url.path"] == "/rest/v0/vms/nope"
    assert seen[0].headers["traceparent"] == f"00-{CLIENT_TRACE}-{request.span_id}-01"
    assert receiver.paths == ["/v1/traces"] * len(receiver.paths)
