"""The gateway's link to one worker (`gateway/links`), on an in-process worker socket:
readiness, reuse of idle connections, a restarted worker, cancellation, a vanished worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support.worker_socket import ScriptedRunner, serving, socket_path

from xo_mcp.core import Registry, State
from xo_mcp.gateway import links
from xo_mcp.gateway.links import WorkerDown, WorkerLink
from xo_mcp.wire.messages import Call, ClientIdentity

pytestmark = pytest.mark.anyio


@dataclass
class Rig:
    path: Path
    runner: ScriptedRunner
    link: WorkerLink
    changes: list[str] = field(default_factory=list)

    async def ready(self) -> None:
        for _ in range(500):
            if self.link.connected:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the link never read the worker's tools")

    async def call(self, name: str = "vms_query") -> str:
        result = await asyncio.wait_for(self.link.call(request(name), None), 10)
        assert result.is_error is False
        return result.text.rsplit(" #", 1)[0]


def request(name: str) -> Call:
    return Call(name=name, arguments={}, client=ClientIdentity(name="ops"))


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    registry = Registry({"alpha": "https://xo"})
    with socket_path() as path:
        changes: list[str] = []
        link = WorkerLink("alpha", path, registry, changes.append)
        following = asyncio.ensure_future(link.run())
        yield Rig(path, ScriptedRunner(), link, changes)
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following


async def test_the_link_reads_the_tools_and_reports_ready(rig: Rig) -> None:
    async with serving(rig.path, rig.runner):
        await rig.ready()
    assert [tool.name for tool in rig.link.tools] == ["vms_query"]
    assert rig.link.registry["alpha"].state is State.READY
    assert rig.link.registry["alpha"].api_version == "0.39.0"
    assert rig.changes == ["alpha"]


async def test_calls_one_after_the_other_share_one_connection(rig: Rig) -> None:
    async with serving(rig.path, rig.runner) as server:
        await rig.ready()
        before = server.accepted  # the link's own describe
        for _ in range(5):
            assert await rig.call() == "vms_query done"
        assert server.accepted == before + 1


async def test_concurrent_calls_each_get_a_connection_and_keep_at_most_max_idle(
    rig: Rig,
) -> None:
    async with serving(rig.path, rig.runner):
        await rig.ready()
        many = links.MAX_IDLE + 4
        assert len(await asyncio.gather(*(rig.call() for _ in range(many)))) == many
        assert len(rig.link._idle) == links.MAX_IDLE


async def test_a_restarted_worker_is_called_on_a_new_connection_without_error(
    rig: Rig,
) -> None:
    async with serving(rig.path, rig.runner):
        await rig.ready()
        await rig.call()
        assert len(rig.link._idle) == 1
    # The worker's process is gone (its connections with it); a new one serves the socket.
    async with serving(rig.path, rig.runner) as restarted:
        assert await rig.call() == "vms_query done"
        assert restarted.accepted >= 1
    assert [name for name, *_ in rig.runner.calls] == ["vms_query", "vms_query"]


async def test_a_cancelled_call_closes_its_connection_and_the_worker_stops_it(rig: Rig) -> None:
    async with serving(rig.path, rig.runner) as server:
        await rig.ready()
        await rig.call()
        idle_before = len(rig.link._idle)
        slow = asyncio.ensure_future(rig.link.call(request("slow"), None))
        await asyncio.wait_for(rig.runner.slow_started.wait(), 5)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        await asyncio.wait_for(rig.runner.cancelled.wait(), 5)
        assert len(rig.link._idle) == idle_before - 1  # the slow call's connection is not back
        accepted = server.accepted
        assert await rig.call() == "vms_query done"
        assert server.accepted == accepted + 1


async def test_a_worker_dying_mid_call_fails_that_call_clearly(rig: Rig) -> None:
    async with serving(rig.path, rig.runner) as server:
        await rig.ready()
        slow = asyncio.ensure_future(rig.link.call(request("slow"), None))
        await asyncio.wait_for(rig.runner.slow_started.wait(), 5)
        server.drop_connections()
        with pytest.raises(WorkerDown, match="stopped during the call"):
            await asyncio.wait_for(slow, 5)
        assert rig.link._idle == []


async def test_a_call_to_a_worker_that_is_gone_fails_fast_naming_the_instance(rig: Rig) -> None:
    async with serving(rig.path, rig.runner):
        await rig.ready()
        await rig.call()
    rig.link.registry.set_state("alpha", State.FAILED, "XO unreachable")
    with pytest.raises(WorkerDown, match=r"instance 'alpha' is not available \(failed"):
        await asyncio.wait_for(rig.link.call(request("vms_query"), None), 5)


async def test_a_retired_link_says_its_instance_left_the_fleet(rig: Rig) -> None:
    async with serving(rig.path, rig.runner) as server:
        await rig.ready()
        slow = asyncio.ensure_future(rig.link.call(request("slow"), None))
        await asyncio.wait_for(rig.runner.slow_started.wait(), 5)
        rig.link.retire()  # a reload removed the instance: its worker is being stopped
        rig.link.registry.remove(["alpha"])
        server.drop_connections()
        with pytest.raises(WorkerDown, match=r"removed from the fleet .*; the call may"):
            await asyncio.wait_for(slow, 5)
        with pytest.raises(WorkerDown, match="'alpha' was removed from the fleet"):
            await asyncio.wait_for(rig.link.call(request("vms_query"), None), 5)
