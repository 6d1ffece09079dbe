"""`xo-mcp-fleet run`: harden, start supervisord and the workers, serve the gateway, stop cleanly.

The launcher may be PID 1 in a container: it reaps every orphan, stops everything on SIGTERM or
SIGINT within 10 s with exit 0, and exits with EXIT_SUPERVISOR_LOST (70) if supervisord dies
under it, so that the container runtime restarts the whole fleet. SIGHUP reloads the fleet file
(`reload`), which is also watched for changes; without a file to reload (the demo), SIGHUP
stops, as for a closed terminal. `xo-mcp-fleet status` asks the launcher on its status socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, MutableMapping
from pathlib import Path
from typing import Any, NoReturn

from xo_mcp import logs, sandbox, telemetry
from xo_mcp.core import Registry, RuntimeLayout
from xo_mcp.fleet.config import Fleet
from xo_mcp.fleet.control import StatusSocket, fleet_status, live_pids
from xo_mcp.fleet.handoff import gateway_setup
from xo_mcp.fleet.reaper import Reaper
from xo_mcp.fleet.relay import Relay, log_pipe, make_pipes
from xo_mcp.fleet.reload import Reloader, RunningFleet
from xo_mcp.fleet.render import render_supervisord_conf
from xo_mcp.fleet.runtime import prepare_instance, private_dir, write_private
from xo_mcp.fleet.secrets import SecretBroker, env_secrets, take_env_values
from xo_mcp.fleet.status import FleetStatus, ReloadRow
from xo_mcp.fleet.supervision import Supervision
from xo_mcp.fleet.supervisord import Supervisord, SupervisorError
from xo_mcp.gateway.service import Gateway, Serving
from xo_mcp.outbound import ProxySettings

EXIT_OK = 0
EXIT_RUNTIME_DIR = 2
EXIT_SUPERVISOR_LOST = 70
TEARDOWN_BUDGET_S = 2.5
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)  # SIGHUP: reload, or stop
PASSED_ENV = (
    "PATH",
    "HOME",
    "LANG",
    "TZ",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "PYTHONPATH",
    sandbox.FORCE_UNAVAILABLE_ENV,
)
PROXY_ENV = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")


def worker_base_env(environ: MutableMapping[str, str], layout: RuntimeLayout) -> dict[str, str]:
    """What supervisord (and so every worker) inherits: an allow-list, never the whole env."""
    env = {key: environ[key] for key in (*PASSED_ENV, *PROXY_ENV) if environ.get(key)}
    env.update({key: value for key, value in environ.items() if key.startswith("LC_")})
    env["TMPDIR"] = str(layout.root)
    # Workers write their lines in the launcher's format (their stderr is a pipe, never a tty).
    env[logs.FORMAT_ENV] = logs.current_format()
    env[logs.LEVEL_ENV] = logs.current_level()
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    return env


def prepare_runtime(fleet: Fleet, layout: RuntimeLayout) -> None:
    private_dir(layout.root)
    private_dir(layout.control_socket.parent)
    private_dir(layout.root / "instances")
    for name in fleet.instances:
        prepare_instance(layout, name)


class Launcher:
    def __init__(
        self,
        fleet: Fleet,
        serving: Serving,
        environ: MutableMapping[str, str] | None = None,
        config: Path | None = None,  # the fleet file to reload; None: SIGHUP stops
    ) -> None:
        self.fleet = fleet
        self.serving = serving
        self.environ = os.environ if environ is None else environ
        self.config = config
        self.layout = RuntimeLayout(fleet.runtime_dir)
        self.registry = Registry({name: inst.url for name, inst in fleet.instances.items()})
        self.stop = asyncio.Event()
        self.supervisord: Supervisord | None = None
        self.lost_supervisor = False
        self.started = time.time()
        self.reloader: Reloader | None = None
        self._early_hangup = False
        self._env_values: dict[str, str] = {}
        self._password = secrets.token_urlsafe(32)
        self._tasks: list[asyncio.Task[Any]] = []
        self.relay: Relay | None = None

    def _harden(self) -> None:
        sandbox.make_non_dumpable()
        with contextlib.suppress(OSError):
            sandbox.become_subreaper()

    async def run(self) -> int:
        self._harden()
        endpoint = self.fleet.telemetry.otlp_endpoint
        telemetry.configure("xo-mcp-fleet", telemetry.traces_url(endpoint) if endpoint else None)
        try:
            return await self._run()
        finally:
            telemetry.shutdown()

    async def _run(self) -> int:
        values = self._env_values = take_env_values(self.fleet, self.environ)
        secrets_by_instance = env_secrets(self.fleet, values)
        base_env = worker_base_env(self.environ, self.layout)
        try:
            prepare_runtime(self.fleet, self.layout)
            pipes = make_pipes(self.layout, self.fleet.instances)  # the workers' output
        except OSError as error:
            logs.log(
                f"cannot prepare the runtime directory {self.layout.root}: {error}. It must be "
                "writable (in a container with a read-only root: mount a tmpfs or emptyDir there)",
                level="error",
            )
            return EXIT_RUNTIME_DIR
        password = self._password
        write_private(
            self.layout.config, render_supervisord_conf(self.fleet, self.layout, password)
        )
        loop = asyncio.get_running_loop()
        reaper = Reaper()
        reaper.install(loop)
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, self._on_signal, signum)
        supervisord = self.supervisord = Supervisord(self.layout, password)
        # The broker listens before any worker starts: a worker asks for its secret at once.
        broker = SecretBroker(secrets_by_instance, self.layout, self._pid_of, self.stop.is_set)
        await broker.start()
        relay: Relay | None = None
        try:
            relay = self.relay = Relay(loop, supervisord.start(base_env), pipes)
            assert supervisord.process is not None
            reaper.watch(supervisord.process.pid, self._supervisor_exited)
            reaper.reap()  # in case it already died
            await supervisord.wait_ready()
            return await self._serve(supervisord, broker, base_env)
        except SupervisorError as error:
            logs.log(str(error), level="error")
            return EXIT_SUPERVISOR_LOST
        finally:
            await self._shutdown()
            await broker.close()
            if relay is not None:
                relay.close()
            else:
                for fd in (fd for ends in pipes.values() for fd in ends):
                    with contextlib.suppress(OSError):
                        os.close(fd)
            for signum in STOP_SIGNALS:
                loop.remove_signal_handler(signum)
            reaper.reap()
            reaper.uninstall(loop)

    def _on_signal(self, signum: int) -> None:
        if signum != signal.SIGHUP or self.config is None:
            self.stop.set()
        elif self.reloader is not None:
            self.reloader.request("SIGHUP")
        else:
            self._early_hangup = True  # the fleet is still starting: reload once it is up

    def _supervisor_exited(self, code: int) -> None:
        assert self.supervisord is not None
        self.supervisord.exit_status = code
        if self.supervisord.process is not None:
            self.supervisord.process.returncode = code
        if not self.stop.is_set():
            self.lost_supervisor = True
            logs.log(
                f"supervisord exited unexpectedly (status {code}); stopping the fleet",
                level="error",
            )
            self.stop.set()

    async def _serve(
        self,
        supervisord: Supervisord,
        broker: SecretBroker,
        base_env: dict[str, str],
    ) -> int:
        setup = gateway_setup(self.fleet, self.layout, self._env_values, self.serving.listen)
        gateway = Gateway(setup, self.registry)
        supervision = Supervision(
            self.fleet,
            self.layout,
            supervisord,
            self.registry,
            gateway.worker_restarted,
            ProxySettings.from_env(base_env),
        )
        self.registry.subscribe(supervision.on_state_change)
        if self.config is not None:
            self._start_reloading(supervisord, broker, gateway, supervision)
        status = StatusSocket(self.layout.status_socket, lambda: self._status(gateway))
        await status.start()
        try:
            self._spawn(supervision.run())
            self._spawn(gateway.run_links())
            front = self._spawn(gateway.serve(self.serving))
            stopped = self._spawn(self.stop.wait())
            await asyncio.wait([front, stopped], return_when=asyncio.FIRST_COMPLETED)
        finally:
            await status.close()
        if front.done() and not front.cancelled() and front.exception() is not None:
            logs.log(f"gateway failed: {front.exception()}", level="error")
            return 1
        if self.lost_supervisor:
            return EXIT_SUPERVISOR_LOST
        await gateway.drain(self.fleet.gateway.drain_s)
        return EXIT_OK

    def _start_reloading(
        self,
        supervisord: Supervisord,
        broker: SecretBroker,
        gateway: Gateway,
        supervision: Supervision,
    ) -> None:
        assert self.config is not None
        running = RunningFleet(
            self.layout,
            self.serving,
            self._password,
            supervisord,
            self.registry,
            gateway,
            supervision,
            broker,
            self.environ,
            self._env_values,
            self.relay,
        )
        reloader = self.reloader = Reloader(self.config, self.fleet, running)
        gateway.metrics.collectors.append(reloader.stats.metric_lines)
        if self._early_hangup:
            reloader.request("SIGHUP")
        self._spawn(reloader.run())
        self._spawn(reloader.watch_files())

    async def _status(self, gateway: Gateway) -> FleetStatus:
        assert self.supervisord is not None
        pids = await live_pids(self.supervisord)
        reloads = self.reloader.row() if self.reloader else ReloadRow.never(self.started)
        return fleet_status(self.registry, pids, gateway, self.serving, self.started, reloads)

    async def _pid_of(self, name: str) -> int | None:
        assert self.supervisord is not None
        try:
            processes = await self.supervisord.processes()
        except SupervisorError:
            return None
        info = processes.get(name)
        return info.pid if info and info.pid else None

    def _spawn(self, work: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(work)
        self._tasks.append(task)
        return task

    async def _shutdown(self) -> None:
        self.stop.set()
        if self.supervisord is not None:
            # Workers stop while the gateway drains: both fit in the runtime's grace period.
            self.supervisord.terminate()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Thousands of idle MCP sessions take the SDK ~0.5 ms each to tear down: bounded, so
            # that SIGTERM stops the fleet within seconds (the process then exits without it).
            await asyncio.wait(self._tasks, timeout=TEARDOWN_BUDGET_S)
        if self.supervisord is not None:
            await self.supervisord.stop()
        fleet = self.reloader.fleet if self.reloader is not None else self.fleet
        for name in fleet.instances:
            with contextlib.suppress(OSError):
                self.layout.worker_socket(name).unlink(missing_ok=True)
                log_pipe(self.layout, name).unlink(missing_ok=True)  # open ones read on
        with contextlib.suppress(OSError):
            self.layout.config.unlink()


def run_fleet(fleet: Fleet, serving: Serving, config: Path | None = None) -> NoReturn:
    """Run until stopped, then exit the process at once: workers, supervisord and sockets are
    gone by then; what may remain is the teardown of idle sessions, not worth waiting for."""
    loop = asyncio.new_event_loop()
    code = loop.run_until_complete(Launcher(fleet, serving, config=config).run())
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
