"""Single documents: dashboards, ping, status, stats, exports and the SSE event stream."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator
from typing import Any

from xo_mcp.sim.collections import require
from xo_mcp.sim.errors import invalid_parameters_text, mcp_disabled, no_such_object
from xo_mcp.sim.exchange import Call, Reply, json_reply, no_content, text_reply
from xo_mcp.sim.output import to_compact_json

_GRANULARITY_SECONDS = {"seconds": 5, "minutes": 60, "hours": 3600, "days": 86400}


def _document(call: Call, value: dict[str, Any]) -> Reply:
    """Dashboards stream one `{"key": value}` line per part with ndjson=true."""
    if not call.flag("ndjson"):
        return json_reply(value)
    lines = "".join(to_compact_json({key: part}) + "\n" for key, part in value.items())
    return text_reply(lines, "application/x-ndjson")


async def dashboard(call: Call) -> Reply:
    return _document(call, call.state.inventory.dashboard())


async def pool_dashboard(call: Call) -> Reply:
    require(call, "pools", call.id)
    return _document(call, call.state.inventory.pool_dashboard(call.id))


async def vm_dashboard(call: Call) -> Reply:
    require(call, "vms", call.id)
    return _document(call, call.state.inventory.vm_dashboard(call.id))


async def ping(call: Call) -> Reply:
    return json_reply({"result": "pong", "timestamp": int(time.time() * 1000)})


async def gui_routes(call: Call) -> Reply:
    return json_reply({"xo5": "/", "xo6": "/v6"})


async def mcp_status(call: Call) -> Reply:
    if not call.state.mcp_enabled:
        raise mcp_disabled()
    return json_reply({"enabled": True})


async def missing_patches(call: Call) -> Reply:
    require(call, call.route.segment, call.id)
    return json_reply(call.state.inventory.missing_patches(call.id))


async def host_smt(call: Call) -> Reply:
    require(call, "hosts", call.id)
    return json_reply({"enabled": True})


async def repository_health(call: Call) -> Reply:
    require(call, "backup-repositories", call.id)
    return json_reply({"success": True})


def _series(seed: int, length: int) -> list[float]:
    return [round(((seed * 31 + i * 17) % 1000) / 1000, 3) for i in range(length)]


def stats_document(obj: dict[str, Any], interval: int, now: int) -> dict[str, Any]:
    """RRD statistics of a host or VM, stable for one object."""
    seed = sum(map(ord, str(obj["id"])))
    return {
        "endTimestamp": now,
        "interval": interval,
        "stats": {
            "cpus": {"0": _series(seed, 10), "1": _series(seed + 1, 10)},
            "memory": [obj.get("memory", {}).get("size", 0)] * 10,
            "memoryFree": _series(seed + 2, 10),
        },
    }


def pool_stats_document(
    hosts: list[dict[str, Any]], interval: int, now: int
) -> dict[str, dict[str, Any]]:
    """A pool's statistics are its hosts' statistics, keyed by host id."""
    return {host["id"]: stats_document(host, interval, now) for host in hosts}


async def stats(call: Call) -> Reply:
    segment = call.route.segment
    obj = require(call, segment, call.id)
    if segment == "vms" and obj.get("power_state") != "Running":
        raise invalid_parameters_text(f"VM {call.id} is halted or host could not be found.")
    interval = _GRANULARITY_SECONDS[call.arg("granularity") or "seconds"]
    now = int(time.time())
    if segment == "pools":
        hosts = [
            host
            for host in call.state.inventory.collection("hosts").values()
            if host["$pool"] == call.id
        ]
        return json_reply(pool_stats_document(hosts, interval, now))
    return json_reply(stats_document(obj, interval, now))


async def export_content(call: Call) -> Reply:
    require(call, call.route.segment, call.id)
    payload = f"simulated {call.path.get('format', 'raw')} export of {call.id}\n".encode()
    return Reply(200, payload, "application/octet-stream")


async def import_disk_content(call: Call) -> Reply:
    require(call, "vdis", call.id)
    return no_content()


async def audit_log(call: Call) -> Reply:
    require(call, "hosts", call.id)
    return text_reply(f"simulated audit log of host {call.id}\n", "text/plain; charset=utf-8")


async def host_logs(call: Call) -> Reply:
    require(call, "hosts", call.id)
    return Reply(200, gzip.compress(f"logs of {call.id}\n".encode(), mtime=0), "application/gzip")


async def events_stream(call: Call) -> Reply:
    """`GET /events` never ends: an `init` event, then a ping every 30 s, as XO does."""
    connection_id = call.state.inventory.new_uuid()
    period = call.state.config.sse_ping_seconds

    async def frames() -> AsyncIterator[bytes]:
        yield f"event: init\ndata: {to_compact_json({'id': connection_id})}\n\n".encode()
        while True:
            await asyncio.sleep(period)
            ping_data = to_compact_json({"ping": int(time.time() * 1000)})
            yield f"event: ping\ndata: {ping_data}\n\n".encode()

    return Reply(200, content_type="text/event-stream", stream=frames())


async def add_subscription(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else {}
    return json_reply({"id": body.get("collection", "")}, 201)


async def remove_subscription(call: Call) -> Reply:
    if not call.path.get("subscriptionId"):
        raise no_such_object(call.id, "subscription")
    return no_content()


async def data_source(call: Call) -> Reply:
    require(call, "vms", call.id)
    return no_content()
