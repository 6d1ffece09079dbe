"""Three replicas of the real image behind HAProxy, sharing one Redis and one state key: what
one replica hands out the others honour once; a rolling restart under load loses nothing a
client can notice beyond what its protocol era allows; a killed replica fails only its calls
in flight; Redis down stops confirmations only, and everything recovers by itself.

The replicas run hardened (the flags of every container test), on the host's network and
loopback only (`run --listen 127.0.0.1:<port>`), with the fleet file and its secrets mounted
read-only. The simulated XO, Redis (tests/support/redis_server.py) and HAProxy
(tests/support/haproxy.py: round-robin, health checks on /readyz, the stick table that keeps a
handshake-era session on its replica) are processes of the test on the host's loopback. One set
of containers serves every scenario; the "stateless" rolling restart replaces them with
replicas configured `sessions = "stateless"` (as a Kubernetes rollout of a new ConfigMap would).

The load is 8 clients through HAProxy (4 of the 2026-07-28 era, 4 of the handshake era), each
looping over mixed queries and confirmations. A handshake-era client whose request reaches a
replica that does not know its session gets a 404 (the SDK: "Session terminated") and, as the
spec wants, opens a new session and goes on: `Worker.run_legacy` does exactly that.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from container.kit import HARDENED, FleetFiles, fleet_files, logs, unique_name, wait_ready
from mcp import Client
from support.clients import MODERN, http_client, text
from support.fleetfile import client, fleet_toml, instance
from support.haproxy import HaProxy, haproxy_or_skip
from support.processes import Sim, free_port, own_sim
from support.redis_server import PASSWORD, RedisServer, redis_or_skip

pytestmark = [pytest.mark.container, pytest.mark.anyio]

TOKEN = "replicas-container-token-5e0c2a97"
SECRETS = "/run/secrets/xo-mcp"
DRAIN_S = 10
CONFIRM = re.compile(r'confirm_token: "([^"]+)"')
STORE_DOWN = "shared state"  # in "The shared state (redis://…) does not answer, so …"
CALL_TIMEOUT_S = 30
# A request that reaches a replica without its session: HTTP 404, as the SDK reports it.
SESSION_LOST = ("Session not found", "Session terminated")
Held = tuple[str, str, str]  # a confirm token, its VM, its tag


# --- the replicas ---------------------------------------------------------------------------


@dataclass
class Replica:
    name: str
    port: int
    container: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp(self) -> str:
        return f"{self.url}/mcp"


@dataclass
class Cluster:
    docker: Any
    image: Any
    base: Path
    sim: Sim
    redis: RedisServer
    replicas: list[Replica]
    haproxy: HaProxy
    sessions: str = ""
    files: FleetFiles | None = None
    started: list[Any] = field(default_factory=list)

    @property
    def mcp(self) -> str:
        return f"{self.haproxy.url}/mcp"

    def fleet_toml(self, sessions: str) -> str:
        secret = f"{SECRETS}/xo-token"
        return fleet_toml(
            gateway={
                "state": {
                    "url": self.redis.url,
                    "password_file": f"{SECRETS}/redis-password",
                    "key_prefix": "replicas:",
                },
                "state_key_file": f"{SECRETS}/state-key",
                "sessions": sessions,
                "drain_s": DRAIN_S,
            },
            clients=[client("admin", token_file=f"{SECRETS}/gateway-token")],
            instances={
                "production": instance(self.sim, token_file=secret, actions=True),
                "staging": instance(self.sim, token_file=secret, actions=True),
            },
        )

    def deploy(self, sessions: str) -> None:
        """Replace every replica with one running `sessions` (a no-op when they already do)."""
        if sessions == self.sessions:
            return
        for replica in self.replicas:
            if replica.container is not None:
                replica.container.remove(force=True)
        secrets = {
            "xo-token": self.sim.token,
            "gateway-token": TOKEN,
            "redis-password": PASSWORD,
            "state-key": "s" * 48,
        }
        self.files = fleet_files(self.base / sessions, self.fleet_toml(sessions), secrets)
        for replica in self.replicas:
            settings = {**HARDENED, "detach": True, "name": unique_name("xo-mcp-replica")}
            replica.container = self.docker.containers.run(
                self.image.id,
                ["run", "--listen", f"127.0.0.1:{replica.port}"],
                network_mode="host",
                volumes=self.files.volumes(),
                **settings,
            )
            self.started.append(replica.container)
        for replica in self.replicas:
            wait_ready(replica.container, replica.url)
            self.haproxy.wait_state(replica.name, "UP")
        self.sessions = sessions

    def start_again(self, replica: Replica) -> None:
        replica.container.start()
        wait_ready(replica.container, replica.url)
        self.haproxy.wait_state(replica.name, "UP")

    def logs(self) -> str:
        return "\n".join(f"--- {r.name}\n{logs(r.container)[-4000:]}" for r in self.replicas)

    def remove(self) -> None:
        for container in self.started:
            try:
                container.remove(force=True)
            except Exception as error:
                print(f"could not remove {container.name}: {error}")


@pytest.fixture(scope="module")
def cluster(
    docker_client: Any, image: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    redis_or_skip()
    haproxy_or_skip()
    base = tmp_path_factory.mktemp("replicas")
    replicas = [Replica(f"r{number}", free_port()) for number in (1, 2, 3)]
    with ExitStack() as stack:
        sim = stack.enter_context(own_sim("--seed", "11", "--action-seconds", "0.05"))
        redis = RedisServer(tmp_path_factory.mktemp("redis"))
        stack.callback(redis.stop)
        haproxy = HaProxy(base, {r.name: r.port for r in replicas})
        stack.callback(haproxy.stop)
        found = Cluster(docker_client, image, base, sim, redis, replicas, haproxy)
        stack.callback(found.remove)
        try:
            found.deploy("stateful")
        except AssertionError as error:
            raise AssertionError(f"{error}\n{found.logs()}") from None
        yield found


@pytest.fixture
def stateful(cluster: Cluster) -> Cluster:
    cluster.deploy("stateful")
    return cluster


# --- what the clients do --------------------------------------------------------------------


async def accept(*_: object) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"confirm": True})


def vm_ids(sim: Sim) -> list[str]:
    return [vm["id"] for vm in sim.rest("/vms", fields="id")]


def tags(sim: Sim, vm: str) -> list[str]:
    found: list[str] = sim.rest(f"/vms/{vm}", fields="tags")["tags"]
    return found


def tag_call(vm: str, tag: str, instance_: str = "production") -> dict[str, Any]:
    return {"instance": instance_, "operation": "PutVmTag", "id": vm, "tag": tag}


async def preview(client_: Client, arguments: dict[str, Any]) -> str:
    """An action called without confirmation: its one-shot token."""
    result = await client_.call_tool("vms_action", arguments)
    found = CONFIRM.search(text(result))
    assert found is not None, text(result)
    return found.group(1)


QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("vms_query", {"instance": "production", "operation": "GetVms", "fields": "name_label"}),
    ("hosts_query", {"instance": "staging", "operation": "GetHosts", "fields": "name_label"}),
    ("check_connection", {"instance": "staging"}),
    ("get_infrastructure_summary", {}),
    ("fleet_status", {}),
]


@dataclass
class Call:
    worker: str
    what: str
    started: float
    ended: float
    error: str | None  # None: it worked

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass
class Worker:
    """One client of the load: its calls, in order, and how many sessions it opened."""

    name: str
    era: str
    url: str
    vms: list[str]
    calls: list[Call] = field(default_factory=list)
    sessions: int = 0
    confirmed: int = 0
    counter: Iterator[int] = field(default_factory=itertools.count)
    current: tuple[str, float] | None = None  # the call under way, and since when

    async def _timed(self, what: str, work: Callable[[], Awaitable[None]]) -> bool:
        started = time.monotonic()
        self.current = (what, started)
        error: str | None = None
        try:
            with anyio.fail_after(CALL_TIMEOUT_S):
                await work()
        except Exception as failure:
            error = f"{type(failure).__name__}: {failure}"
        self.current = None
        self.calls.append(Call(self.name, what, started, time.monotonic(), error))
        return error is None

    async def _step(self, client_: Client, number: int, held: list[Held]) -> None:
        if number % 6 != 5:
            tool, arguments = QUERIES[number % len(QUERIES)]

            async def query() -> None:
                result = await client_.call_tool(tool, arguments)
                assert not result.is_error, text(result)

            await self._timed(tool, query)
            return
        vm = self.vms[number % len(self.vms)]
        arguments = tag_call(vm, f"{self.name}-{number}")
        if self.era == MODERN:
            # Elicitation: the input-required answer goes round-robin to another replica.
            async def confirm() -> None:
                result = await client_.call_tool("vms_action", arguments)
                assert not result.is_error, text(result)

            if await self._timed("vms_action (elicited)", confirm):
                self.confirmed += 1
            return

        # Handshake era: a token now, redeemed on the next round (maybe on another session,
        # another replica: a token whose redeem failed is kept for the next try).
        async def redeem_held() -> None:
            token, earlier_vm, earlier_tag = held[-1]
            confirmed = {**tag_call(earlier_vm, earlier_tag), "confirm_token": token}
            result = await client_.call_tool("vms_action", confirmed)
            assert not result.is_error, text(result)
            held.pop()

        if held:
            if await self._timed("vms_action (token)", redeem_held):
                self.confirmed += 1
            return

        async def issue() -> None:
            held.append((await preview(client_, arguments), vm, arguments["tag"]))

        await self._timed("vms_action (preview)", issue)

    async def run_modern(self, stop: anyio.Event) -> None:
        """No session to lose: one client for the whole run, unless its transport fails (a
        failure: recorded, then a new client)."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                async with http_client(
                    self.url, token=TOKEN, mode=MODERN, elicitation_callback=accept
                ) as c:
                    while not stop.is_set():
                        await self._step(c, next(self.counter), [])
                        await anyio.sleep(0.05)
            except Exception as failure:
                self._transport_failed(started, failure)

    async def run_legacy(self, stop: anyio.Event) -> None:
        """A session until a request fails, then a new session (a failed initialize counts as
        a failed request too)."""
        held: list[Held] = []
        while not stop.is_set():
            opened = False
            started = time.monotonic()
            try:
                async with http_client(self.url, token=TOKEN) as c:
                    opened = True
                    self.sessions += 1
                    while not stop.is_set():
                        before = len(self.calls)
                        await self._step(c, next(self.counter), held)
                        if any(call.failed for call in self.calls[before:]):
                            break  # its session is gone: open a new one
                        await anyio.sleep(0.05)
            except Exception as failure:
                if not opened:
                    self._transport_failed(started, failure, "initialize")
                # else: closing a session whose replica is gone may complain; nothing was lost

    def _transport_failed(self, started: float, failure: Exception, what: str = "") -> None:
        """The client's transport failed (the SDK then cancels the call under way, if any, and
        raises from the client's context): the call it cancelled, or opening the client, failed.
        """
        if self.current is not None:
            what, started = self.current
            self.current = None
        what = what or "transport"
        error = f"{type(failure).__name__} from the transport: {failure}"
        self.calls.append(Call(self.name, what, started, time.monotonic(), error))


@dataclass
class Load:
    workers: list[Worker]

    @property
    def calls(self) -> list[Call]:
        return [call for worker in self.workers for call in worker.calls]

    def of(self, era: str) -> list[Worker]:
        return [worker for worker in self.workers if worker.era == era]

    def failures(self, era: str) -> list[Call]:
        return [call for worker in self.of(era) for call in worker.calls if call.failed]

    def summary(self) -> str:
        lines = []
        for worker in self.workers:
            failed = [call for call in worker.calls if call.failed]
            lines.append(
                f"{worker.name} ({worker.era}): {len(worker.calls)} calls, {len(failed)} failed, "
                f"{worker.sessions} sessions, {worker.confirmed} confirmed"
            )
            lines += [f"    {call.what}: {call.error}" for call in failed[:5]]
        return "\n".join(lines)


async def under_load(url: str, vms: list[str], scenario: Callable[[], Awaitable[None]]) -> Load:
    """8 clients (4 per era) through `url` while `scenario` runs, then until they stop."""
    workers = [Worker(f"modern{n}", MODERN, url, vms) for n in range(4)]
    workers += [Worker(f"legacy{n}", "legacy", url, vms) for n in range(4)]
    stop = anyio.Event()
    async with anyio.create_task_group() as group:
        for worker in workers:
            run = worker.run_modern if worker.era == MODERN else worker.run_legacy
            group.start_soon(run, stop)
        await anyio.sleep(2)  # every client is busy before anything happens
        try:
            await scenario()
            await anyio.sleep(2)  # and still busy afterwards
        finally:
            stop.set()
    load = Load(workers)
    print(load.summary())  # shown with the failure, if any
    return load


def assert_legacy_recovered(load: Load, most_losses: int) -> None:
    """Each handshake-era client: a failed request only where its session was lost, then a
    new session, whose next request worked (never two failures in a row)."""
    for worker in load.of("legacy"):
        outcomes = [call.failed for call in worker.calls]
        assert outcomes and not outcomes[-1], load.summary()
        assert not any(a and b for a, b in itertools.pairwise(outcomes)), load.summary()
        failures = sum(outcomes)
        assert failures <= most_losses, load.summary()
        assert worker.sessions == 1 + failures, load.summary()


def in_thread(work: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
    async def run() -> Any:
        return await anyio.to_thread.run_sync(work)

    return run


# --- scenarios ------------------------------------------------------------------------------


async def test_a_token_from_one_replica_runs_once_through_another(stateful: Cluster) -> None:
    r1, r2, r3 = stateful.replicas
    vm = vm_ids(stateful.sim)[0]
    arguments = tag_call(vm, "three-replicas")
    async with http_client(r1.mcp, token=TOKEN) as one:
        token = await preview(one, arguments)
    confirmed = {**arguments, "confirm_token": token}
    async with http_client(r2.mcp, token=TOKEN) as two:
        done = await two.call_tool("vms_action", confirmed)
    async with http_client(r3.mcp, token=TOKEN) as three:
        replay = await three.call_tool("vms_action", confirmed)
    assert not done.is_error, text(done)
    assert "three-replicas" in tags(stateful.sim, vm)
    assert replay.is_error and "Invalid or expired" in text(replay), text(replay)


async def test_an_elicitation_round_trip_split_across_replicas(stateful: Cluster) -> None:
    """2026-07-28: asked by replica 1, answered through replica 2, replayed on replica 3."""
    r1, r2, r3 = stateful.replicas
    vm = vm_ids(stateful.sim)[1]
    arguments = tag_call(vm, "split-three")

    async def never(*_: object) -> types.ElicitResult:
        raise AssertionError("the answer is sent by hand here")

    async with http_client(r1.mcp, token=TOKEN, mode=MODERN, elicitation_callback=never) as one:
        asked = await one.session.call_tool("vms_action", arguments, allow_input_required=True)
    assert isinstance(asked, types.InputRequiredResult) and asked.request_state
    yes = {"confirm": types.ElicitResult(action="accept", content={"confirm": True})}
    state = asked.request_state
    async with http_client(r2.mcp, token=TOKEN, mode=MODERN) as two:
        done = await two.call_tool(
            "vms_action", arguments, input_responses=yes, request_state=state
        )
    async with http_client(r3.mcp, token=TOKEN, mode=MODERN) as three:
        replay = await three.call_tool(
            "vms_action", arguments, input_responses=yes, request_state=state
        )
    assert not done.is_error, text(done)
    assert "split-three" in tags(stateful.sim, vm)
    assert replay.is_error and "Invalid or expired" in text(replay), text(replay)


async def test_redis_down_stops_confirmations_only_and_recovers(stateful: Cluster) -> None:
    vms = vm_ids(stateful.sim)
    started_at = {r.name: r.container.attrs["State"]["StartedAt"] for r in stateful.replicas}
    stateful.redis.stop()
    try:
        for replica in stateful.replicas:
            async with http_client(replica.mcp, token=TOKEN) as legacy:
                down = await legacy.call_tool("vms_action", tag_call(vms[2], "while-down"))
                assert down.is_error and STORE_DOWN in text(down), text(down)
                assert "queries still work" in text(down)
                query = await legacy.call_tool(*QUERIES[0])
                assert not query.is_error, text(query)
            async with http_client(
                replica.mcp, token=TOKEN, mode=MODERN, elicitation_callback=accept
            ) as modern:
                down = await modern.call_tool("vms_action", tag_call(vms[2], "while-down"))
                assert down.is_error and STORE_DOWN in text(down), text(down)
                query = await modern.call_tool(*QUERIES[1])
                assert not query.is_error, text(query)
        assert set(stateful.haproxy.states().values()) == {"UP"}  # still ready: queries work
    finally:
        stateful.redis.start()
    assert "while-down" not in tags(stateful.sim, vms[2])
    for number, replica in enumerate(stateful.replicas):
        tag = f"after-redis-{number}"

        async def confirms_again(replica: Replica = replica, tag: str = tag) -> bool:
            async with http_client(replica.mcp, token=TOKEN) as legacy:
                result = await legacy.call_tool("vms_action", tag_call(vms[2], tag))
                if result.is_error and STORE_DOWN in text(result):
                    return False
                token = CONFIRM.search(text(result))
                assert token is not None, text(result)
                done = await legacy.call_tool(
                    "vms_action", {**tag_call(vms[2], tag), "confirm_token": token.group(1)}
                )
                assert not done.is_error, text(done)
                return True

        deadline = time.monotonic() + 30
        while not await confirms_again():
            assert time.monotonic() < deadline, "confirmations did not recover"
            await anyio.sleep(0.5)
    assert {f"after-redis-{n}" for n in range(3)} <= set(tags(stateful.sim, vms[2]))
    for replica in stateful.replicas:  # nothing was restarted
        replica.container.reload()
        assert replica.container.attrs["State"]["StartedAt"] == started_at[replica.name]
        assert replica.container.attrs["RestartCount"] == 0


async def test_a_killed_replica_fails_only_its_calls_in_flight(stateful: Cluster) -> None:
    victim = stateful.replicas[1]
    vms = vm_ids(stateful.sim)
    in_flight: dict[str, Any] = {}
    killed_at = 0.0

    async def kill_during_a_slow_call() -> None:
        nonlocal killed_at
        # A query held for 5 s in the simulator, straight to the victim: in flight for sure.
        stateful.sim.set_faults([{"route": "GET /pools*", "latency_ms": 5000}])
        try:
            async with anyio.create_task_group() as group:

                async def slow() -> None:
                    try:
                        async with http_client(victim.mcp, token=TOKEN, mode=MODERN) as direct:
                            in_flight["result"] = await direct.call_tool(
                                "pools_query", {"instance": "staging", "operation": "GetPools"}
                            )
                    except Exception as error:  # the call, or the client's transport after it
                        in_flight["error"] = error

                group.start_soon(slow)
                await anyio.sleep(1.5)
                killed_at = time.monotonic()
                await in_thread(victim.container.kill)()
        finally:
            stateful.sim.clear_faults()
        await anyio.sleep(3)  # the load goes on over two replicas

    try:
        load = await under_load(stateful.mcp, vms, kill_during_a_slow_call)
    finally:
        await in_thread(lambda: stateful.start_again(victim))()
    failed_in_flight = "error" in in_flight or in_flight["result"].is_error
    assert failed_in_flight, in_flight
    for call in load.failures(MODERN):  # only calls under way when it died
        assert call.started < killed_at < call.ended, load.summary()
    # A handshake-era client fails a call under way on it, or (its session was there) its next
    # request with a 404; then a new session.
    for call in load.failures("legacy"):
        lost = any(text_ in str(call.error) for text_ in SESSION_LOST)
        assert lost or call.started < killed_at < call.ended, load.summary()
    assert_legacy_recovered(load, most_losses=1)
    assert sum(len(w.calls) for w in load.of(MODERN)) > 40, load.summary()


async def rolling_restart(cluster: Cluster, held: list[Held]) -> None:
    """As a Deployment's rolling update: one replica at a time gets SIGTERM (docker stop), drains
    and exits 0; the next goes only once its successor is ready and HAProxy sends it traffic."""
    async with http_client(cluster.mcp, token=TOKEN) as before:
        for number, vm in enumerate(vm_ids(cluster.sim)[3:6]):
            tag = f"held-{cluster.sessions}-{number}"
            held.append((await preview(before, tag_call(vm, tag)), vm, tag))
    for replica in cluster.replicas:
        await in_thread(lambda r=replica: r.container.stop(timeout=DRAIN_S + 10))()
        replica.container.reload()
        assert replica.container.attrs["State"]["ExitCode"] == 0, logs(replica.container)
        await in_thread(lambda r=replica: cluster.start_again(r))()


async def assert_held_tokens_redeem(cluster: Cluster, held: list[Held]) -> None:
    """Tokens issued before the restart redeem after it, on replicas that never saw them."""
    assert len(held) == 3
    async with http_client(cluster.mcp, token=TOKEN) as after:
        for token, vm, tag in held:
            done = await after.call_tool(
                "vms_action", {**tag_call(vm, tag), "confirm_token": token}
            )
            assert not done.is_error, text(done)
            assert tag in tags(cluster.sim, vm)


async def test_a_rolling_restart_under_load_with_sticky_sessions(stateful: Cluster) -> None:
    held: list[Held] = []
    load = await under_load(
        stateful.mcp, vm_ids(stateful.sim), lambda: rolling_restart(stateful, held)
    )
    assert load.failures(MODERN) == [], load.summary()
    # Every replica restarted with sessions on it: some handshake-era client lost its session,
    # and each one that did got exactly one failed request, then a new session.
    assert_legacy_recovered(load, most_losses=3)
    assert sum(w.sessions for w in load.of("legacy")) > 4, load.summary()
    for call in load.failures("legacy"):  # the 404 that tells a client to initialize again
        assert any(lost in str(call.error) for lost in SESSION_LOST), load.summary()
    for worker in load.workers:
        assert worker.confirmed > 0, load.summary()
    await assert_held_tokens_redeem(stateful, held)


async def test_a_rolling_restart_under_load_with_stateless_sessions(cluster: Cluster) -> None:
    """`sessions = "stateless"`: no session to lose, so no failed request in either era."""
    cluster.deploy("stateless")
    held: list[Held] = []
    load = await under_load(
        cluster.mcp, vm_ids(cluster.sim), lambda: rolling_restart(cluster, held)
    )
    assert load.failures(MODERN) == [], load.summary()
    assert load.failures("legacy") == [], load.summary()
    assert_legacy_recovered(load, most_losses=0)
    for worker in load.workers:
        assert worker.confirmed > 0, load.summary()
    await assert_held_tokens_redeem(cluster, held)
