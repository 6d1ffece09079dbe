"""The supervision loop's decisions, on a fake supervisord and a fake clock: retry schedule of
failed workers, XO's kill switch (however the worker's exit looks to supervisord), restarts."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.fakes import Clock
from support.fleetfile import fleet_toml, instance

from xo_mcp.core import Registry, RuntimeLayout, State
from xo_mcp.fleet import supervision
from xo_mcp.fleet.config import parse_fleet
from xo_mcp.fleet.supervision import Supervision
from xo_mcp.fleet.supervisord import ProcessInfo
from xo_mcp.outbound import ProxySettings
from xo_mcp.worker.xo_client import MCP_DISABLED

pytestmark = pytest.mark.anyio


class FakeSupervisord:
    exit_status = None

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def start_process(self, name: str) -> None:
        self.calls.append(f"start {name}")

    async def stop_process(self, name: str) -> None:
        self.calls.append(f"stop {name}")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(supervision.time, "monotonic", fake)
    return fake


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        toml = fleet_toml(
            runtime_dir=tmp_path,
            supervision={"disabled_poll_s": 5, "failed_retry_s": 10, "failed_retry_max_s": 35},
            instances={"alpha": instance("https://xo", token_env="T")},
        )
        fleet = parse_fleet(toml, check_secrets=False)
        self.layout = RuntimeLayout(tmp_path)
        self.layout.instance_dir("alpha").mkdir(parents=True)
        self.registry = Registry({name: i.url for name, i in fleet.instances.items()})
        self.supervisord = FakeSupervisord()
        self.restarted: list[str] = []
        self.xo_enabled = False
        self.loop = Supervision(
            fleet,
            self.layout,
            self.supervisord,  # type: ignore[arg-type]
            self.registry,
            self.restarted.append,
            ProxySettings(),
        )
        self.registry.subscribe(self.loop.on_state_change)

        async def mcp_enabled(name: str) -> bool:
            return self.xo_enabled

        self.loop._mcp_enabled = mcp_enabled  # type: ignore[method-assign]

    async def see(self, state: str, pid: int = 0, exit_status: int = 0) -> None:
        await self.loop._observe("alpha", ProcessInfo("alpha", state, pid, exit_status, ""))

    async def poll(self, clock: Clock, seconds: float, state: str, **info: int) -> None:
        """What the real loop does: look every half second for `seconds`."""
        for _ in range(int(seconds / 0.5)):
            await self.see(state, **info)
            clock.now += 0.5

    def last_error(self, text: str) -> None:
        (self.layout.instance_dir("alpha") / "last-error").write_text(text + "\n")

    @property
    def state(self) -> State:
        return self.registry["alpha"].state


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


async def test_a_failed_worker_is_retried_with_a_doubling_capped_delay(
    rig: Rig, clock: Clock
) -> None:
    rig.last_error("Unable to reach XO server")
    starts = []
    for _ in range(300):  # 150 s of polls, every half second, supervisord saying FATAL
        await rig.see("FATAL")
        if rig.supervisord.calls[len(starts) :]:
            starts.append(clock.now)
        clock.now += 0.5
    gaps = [later - earlier for earlier, later in zip([1000.0, *starts], starts, strict=False)]
    assert len(gaps) >= 4
    for gap, expected in zip(gaps, [10, 20, 35, 35], strict=False):
        assert expected <= gap <= expected + 0.5  # one poll of slack
    assert rig.state is State.FAILED
    assert rig.registry["alpha"].last_error == "Unable to reach XO server"


async def test_a_failed_worker_stays_failed_while_it_is_retried(rig: Rig, clock: Clock) -> None:
    await rig.see("FATAL")
    for state in ("STARTING", "BACKOFF", "STARTING", "BACKOFF"):
        await rig.see(state, pid=42)
        assert rig.state is State.FAILED  # /readyz does not flap during a retry
    rig.registry.set_state("alpha", State.READY)  # the gateway reached the worker
    await rig.see("FATAL")
    clock.now += 10
    await rig.see("FATAL")
    assert rig.supervisord.calls == ["start alpha"]  # the count started over: 10 s again


async def test_a_worker_that_exits_3_at_once_is_stopped_and_marked_disabled(
    rig: Rig, clock: Clock
) -> None:
    """Exit 3 within startsecs looks like a failed start to supervisord (BACKOFF, retries)."""
    await rig.see("STARTING", pid=7)
    rig.last_error(MCP_DISABLED)
    await rig.see("BACKOFF")
    assert rig.supervisord.calls == ["stop alpha"]
    assert rig.state is State.DISABLED
    await rig.poll(clock, 30, "STOPPED")  # XO still says disabled: polled, never restarted
    assert rig.supervisord.calls == ["stop alpha"]
    rig.xo_enabled = True
    await rig.poll(clock, 5.5, "STOPPED")
    assert rig.supervisord.calls == ["stop alpha", "start alpha"]
    assert rig.state is State.STARTING


async def test_a_worker_that_exits_3_later_is_not_restarted(rig: Rig, clock: Clock) -> None:
    await rig.see("RUNNING", pid=7)
    await rig.poll(clock, 30, "EXITED", exit_status=3)
    assert rig.state is State.DISABLED
    assert rig.supervisord.calls == []
    rig.xo_enabled = True
    await rig.poll(clock, 5.5, "EXITED", exit_status=3)
    assert rig.supervisord.calls == ["start alpha"]


async def test_a_running_worker_disabled_by_admin_is_relinked_once_enabled(
    rig: Rig, clock: Clock
) -> None:
    await rig.see("RUNNING", pid=7)
    rig.registry.set_state("alpha", State.DISABLED, MCP_DISABLED)  # seen on a call
    await rig.poll(clock, 20, "RUNNING", pid=7)
    assert rig.restarted == []
    rig.xo_enabled = True
    await rig.poll(clock, 5.5, "RUNNING", pid=7)
    assert rig.restarted == ["alpha"]  # the link re-reads the worker, which marks it ready
    assert rig.supervisord.calls == []


async def test_a_new_pid_means_a_restart(rig: Rig, clock: Clock) -> None:
    await rig.see("RUNNING", pid=7)
    rig.registry.set_state("alpha", State.READY)
    await rig.see("RUNNING", pid=8)
    assert rig.state is State.STARTING  # until the gateway reaches the new process
    assert rig.restarted == ["alpha"]
    assert rig.registry["alpha"].restarts == 1
