"""Every tool of the real worker, once at least, through the Python SDK client over stdio."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import anyio
import mcp_types as types
import pytest
from support.clients import ERAS, operations, text
from support.httpd import serve_in_thread
from support.processes import Sim, free_port, own_sim, worker_env
from worker.kit import call, tool_by_name, worker

from xo_mcp.worker.summary import SHOWN, STATE_ORDER

pytestmark = pytest.mark.anyio

DOC_PAGE = """<!DOCTYPE html><html><head><title>x</title><script>var x = 1;</script></head>
<body><nav>Menu</nav><article><h1>{topic}</h1><p>How to {topic} &amp; more.</p>
<ul><li>first</li><li>second</li></ul></article><footer>Vates</footer></body></html>"""


class DocsHandler(BaseHTTPRequestHandler):
    requested: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        DocsHandler.requested.append(self.path)
        topic = self.path.rsplit("/", 1)[-1]
        if self.path.startswith("/gone/"):
            self.send_error(404)
            return
        body = DOC_PAGE.format(topic=topic).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def docs_url() -> Iterator[str]:
    with serve_in_thread(ThreadingHTTPServer(("127.0.0.1", 0), DocsHandler)) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}/docs"


async def test_every_query_tool_answers_its_first_operation(sim: Sim) -> None:
    async with worker(worker_env(sim)) as client:
        tools = await client.list_tools()
        queries = [tool for tool in tools.tools if tool.name.endswith("_query")]
        assert len(queries) >= 30
        for tool in queries:
            first = operations(tool)[0]
            result, is_error = await call(client, tool.name, {"operation": first, "limit": 2})
            assert not is_error, f"{tool.name} {first}: {result}"
            assert result.strip(), f"{tool.name} {first} answered nothing"


async def test_markdown_is_relayed_and_json_pretty_printed(sim: Sim) -> None:
    vm_id = sim.rest("/vms", fields="id", limit="1")[0]["id"]
    async with worker(worker_env(sim)) as client:
        table, _ = await call(client, "vms_query", {"operation": "GetVms", "limit": 1})
        assert table.splitlines()[:2] == [
            "| name_label | power_state | uuid |",  # default fields from the spec's example
            "| --- | --- | --- |",
        ]
        one, is_error = await call(client, "vms_query", {"operation": "GetVm", "id": vm_id})
        assert not is_error
        assert one.startswith('{\n  "') and f'"id": "{vm_id}"' in one
        hrefs, _ = await call(
            client, "vms_query", {"operation": "GetVms", "fields": "", "limit": 1}
        )
        assert hrefs.startswith("/rest/v0/vms/")


async def test_filters_and_named_placeholders_reach_xo(sim: Sim) -> None:
    async with worker(worker_env(sim)) as client:
        running, _ = await call(
            client,
            "vms_query",
            {"operation": "GetVms", "filter": "power_state:Running", "fields": "power_state"},
        )
        rows = running.splitlines()[2:]
        assert rows and all(row == "| Running |" for row in rows)


@pytest.mark.parametrize("mode", ERAS)
async def test_every_action_tool_offers_a_confirmation(sim: Sim, mode: str) -> None:
    env = worker_env(sim, XO_MCP_ENABLE_ACTIONS="1")
    async with worker(env, mode=mode) as client:
        tools = await client.list_tools()
        actions = [tool for tool in tools.tools if tool.name.endswith("_action")]
        assert len(actions) >= 15
        for tool in actions:
            first = operations(tool)[0]
            properties = tool.input_schema["properties"]
            # A real object where the collection has one: the preview looks it up by id.
            collection = "/" + tool.name.removesuffix("_action").replace("_", "-")
            endless = collection == "/events"  # an event stream, not a collection
            found = (
                []
                if endless or "id" not in properties
                else sim.rest(collection, fields="id", limit="1")
            )
            real = found[0]["id"] if isinstance(found, list) and found else None
            extra = {
                name: real if name == "id" and real else "x"
                for name in properties
                if name not in ("operation", "body", "confirm_token", "wait")
            }
            result, is_error = await call(client, tool.name, {"operation": first, **extra})
            if "id" in extra and real is None:  # nothing to act on: said before any token
                assert is_error and "XO has no" in result, f"{tool.name} {first}: {result}"
                continue
            assert not is_error, f"{tool.name} {first}: {result}"
            assert result.startswith("## Confirmation Required"), result


async def test_annotations_and_titles_reach_the_client(sim: Sim) -> None:
    async with worker(worker_env(sim, XO_MCP_ENABLE_ACTIONS="1")) as client:
        tools = await client.list_tools()
        query = tool_by_name(tools, "vm_templates_query")
        assert query.title == "Query vm-templates"
        assert query.annotations is not None and query.annotations.read_only_hint is True
        action = tool_by_name(tools, "vms_action")
        assert action.annotations is not None and action.annotations.destructive_hint is True
        tag = action.input_schema["properties"]["tag"]
        assert tag["type"] == "string"


async def test_check_connection_and_summary(sim: Sim) -> None:
    async with worker(worker_env(sim)) as client:
        assert await call(client, "check_connection") == (
            "Connection to XO server successful.",
            False,
        )
        summary, is_error = await call(client, "get_infrastructure_summary")
    assert not is_error
    pools = sim.rest("/pools", fields="id,name_label")
    hosts = sim.rest("/hosts", fields="id,name_label,power_state")
    vms = sim.rest("/vms", fields="id,name_label,power_state,$container")
    states = Counter(vm["power_state"] for vm in vms)
    assert len(states) > 1  # the simulator's inventory has VMs in several states
    host_states = Counter(host["power_state"] for host in hosts)

    def counted(counter: Counter[str]) -> str:
        return ", ".join(f"{s} {counter[s]}" for s in STATE_ORDER if s in counter)

    assert summary.startswith(
        f"## Counts\n- Pools: {len(pools)}\n- Hosts: {len(hosts)} ({counted(host_states)}"
    )
    assert f"\n- VMs: {len(vms)} ({counted(states)})\n" in summary
    host_names = {host["id"]: host["name_label"] for host in hosts}
    for pool in pools:
        assert f"| {pool['name_label']} |" in summary and pool["id"] in summary
    for host in hosts:
        assert f"| {host['name_label']} | {host['power_state']}" in summary
    for vm in vms:  # every VM by name, with its state and, when it runs, its host
        on = host_names.get(vm["$container"], "-")
        assert f"| {vm['name_label']} | {vm['power_state']} | {on} |" in summary


async def test_summary_of_a_large_inventory_is_cut_with_a_way_to_the_rest() -> None:
    with own_sim("--seed", "2", "--pools", "3", "--vms", "40") as big:
        async with worker(worker_env(big)) as client:
            summary, is_error = await call(client, "get_infrastructure_summary")
            vms = big.rest("/vms", fields="name_label,power_state")
            rest = summary.rsplit("\n", 1)[1]
            # The line's advice works: the filter it suggests lists the VMs left out.
            running, _ = await call(
                client,
                "vms_query",
                {"operation": "GetVms", "filter": "power_state:Running", "fields": "name_label"},
            )
    assert not is_error
    assert len(vms) == 120
    assert f"## VMs (first {SHOWN} of 120, not running first)" in summary
    rows = summary.split("## VMs", 1)[1].splitlines()[3 : 3 + SHOWN]
    not_running = sum(1 for vm in vms if vm["power_state"] != "Running")
    assert 0 < not_running < SHOWN
    assert all("| Running |" not in row for row in rows[:not_running])
    assert rest == (
        f"{120 - SHOWN} more VMs not shown. Use vms_query (operation GetVms) with a `filter` to "
        "list them, e.g. `power_state:Running` or `$pool:<pool id>`."
    )
    shown = {row.split(" | ")[0].strip("| ") for row in rows}
    left_out = {vm["name_label"] for vm in vms} - shown
    listed = {line.strip("| ") for line in running.splitlines()[2:]}
    assert len(left_out) == 120 - SHOWN and left_out <= listed


@pytest.mark.parametrize("mode", ERAS)
async def test_infrastructure_overview_prompt(sim: Sim, mode: str) -> None:
    async with worker(worker_env(sim), mode=mode) as client:
        prompts = await client.list_prompts()
        assert [p.name for p in prompts.prompts] == ["infrastructure-overview"]
        prompt = await client.get_prompt("infrastructure-overview")
        (message,) = prompt.messages
        assert message.role == "user"
        assert "get_infrastructure_summary" in getattr(message.content, "text", "")


async def test_search_documentation_from_a_configured_site(sim: Sim, docs_url: str) -> None:
    async with worker(worker_env(sim, XO_DOCS_URL=docs_url)) as client:
        page, is_error = await call(client, "search_documentation", {"topic": "backups"})
        assert not is_error
        assert page == (
            f"# XO Documentation: backups\n\nSource: {docs_url}/backups\n\n"
            "## backups\n\nHow to backups & more.\n\n- first\n- second"
        )
    assert "/docs/backups" in DocsHandler.requested


async def test_search_documentation_offline_fails_fast_and_clearly(sim: Sim) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    async with worker(worker_env(sim, XO_DOCS_URL=closed)) as client:
        with anyio.fail_after(10):  # a generous deadline: offline must not mean a long hang
            message, is_error = await call(client, "search_documentation", {"topic": "users"})
    assert is_error
    assert message.startswith('Failed to fetch documentation for "users": Cannot reach ')
    assert closed in message and "connection refused" in message
    assert "XO_DOCS_URL" in message


async def test_search_documentation_http_error(sim: Sim, docs_url: str) -> None:
    gone = docs_url.rsplit("/", 1)[0] + "/gone"
    async with worker(worker_env(sim, XO_DOCS_URL=gone)) as client:
        message, is_error = await call(client, "search_documentation", {"topic": "releases"})
    assert is_error
    assert (
        message
        == 'Failed to fetch documentation for "releases": Failed to fetch documentation: HTTP 404'
    )


async def test_a_compact_worker_lists_every_operation_in_a_line(sim: Sim) -> None:
    env = worker_env(sim, XO_MCP_ENABLE_ACTIONS="1")
    async with worker(env) as full:
        native = await full.list_tools()
        refused = await full.call_tool("describe_operation", {"operation": "StartVm"})
    async with worker({**env, "XO_MCP_COMPACT": "1"}) as compact:
        listed = await compact.list_tools()
        described = await compact.call_tool("describe_operation", {"operation": "StartVm"})
        pools = await compact.call_tool("pools_query", {"operation": "GetPools", "limit": 1})
    # off: the official server's list, which has no describe_operation (and does not answer it)
    assert "describe_operation" not in [tool.name for tool in native.tools]
    assert refused.is_error and text(refused) == "Unknown tool: describe_operation"
    names = [tool.name for tool in listed.tools]
    assert names == [tool.name for tool in native.tools] + ["describe_operation"]
    for tool in native.tools:
        if "operation" in tool.input_schema["properties"]:
            assert operations(tool_by_name(listed, tool.name)) == operations(tool)
    assert "StartVm(id,body?)" in (tool_by_name(listed, "vms_action").description or "")
    assert _size(listed) < _size(native) / 3
    assert not described.is_error and "Request: POST /vms/{id}/actions/start" in text(described)
    assert not pools.is_error and "| --- |" in text(pools)


def _size(tools: types.ListToolsResult) -> int:
    return len(json.dumps([t.model_dump(by_alias=True, exclude_none=True) for t in tools.tools]))
