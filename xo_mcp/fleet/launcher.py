"""`xo-mcp-fleet run`: harden, start supervisord and the workers, serve the gateway, stop cleanly.

The launcher may be PID 1 in a container: it reaps every orphan, stops everything on SIGTERM,
SIGINT or SIGHUP (a closed terminal) within 10 s with exit 0, and exits with
EXIT_SUPERVISOR_LOST (70) if supervisord dies under it, so that the container runtime restarts
the whole fleet.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
from collections.abc import Awaitable, MutableMapping
from pathlib import Path
from typing import Any

from xo_mcp import logs, sandbox, telemetry
from xo_mcp.core import LAST_ERROR_FILE, Registry, RuntimeLayout
from xo_mcp.fleet.config import Fleet
from xo_mcp.fleet.handoff import gateway_setup
from xo_mcp.fleet.reaper import Reaper
from xo_mcp.fleet.relay import Relay, log_pipe, make_pipes
from xo_mcp.fleet.render import render_supervisord_conf
from xo_mcp.fleet.secrets import SecretBroker, client_tokens, env_secrets, take_env_values
from xo_mcp.fleet.supervision import Supervision
from xo_mcp.fleet.supervisord import Supervisord, SupervisorError
from xo_mcp.gateway.service import Gateway, Serving
from xo_mcp.outbound import ProxySettings

EXIT_OK = 0
EXIT_RUNTIME_DIR = 2
EXIT_SUPERVISOR_LOST = 70
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)  # SIGHUP: its terminal closed
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
    # Workers write JSON records, whatever the launcher's format: the relay reads them and
    # writes them again in that format, with the instance they came from.
    env[logs.FORMAT_ENV] = "json"
    env[logs.LEVEL_ENV] = logs.current_level()
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    return env


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise OSError(
            f"{path} is not private to uid {os.getuid()} "
            f"(owner {info.st_uid}, mode {oct(info.st_mode)})"
        )
    path.chmod(0o700)


def prepare_runtime(fleet: Fleet, layout: RuntimeLayout) -> None:
    _private_dir(layout.root)
    _private_dir(layout.control_socket.parent)
    _private_dir(layout.root / "instances")
    for name in fleet.instances:
        _private_dir(layout.instance_dir(name))
        for stale in ("worker.sock", "secret.sock", LAST_ERROR_FILE):
            (layout.instance_dir(name) / stale).unlink(missing_ok=True)


class Launcher:
    def __init__(
        self, fleet: Fleet, serving: Serving, environ: MutableMapping[str, str] | None = None
    ) -> None:
        self.fleet = fleet
        self.serving = serving
        self.environ = os.environ if environ is None else environ
        self.layout = RuntimeLayout(fleet.runtime_dir)
        self.registry = Registry({name: inst.url for name, inst in fleet.instances.items()})
        self.stop = asyncio.Event()
        self.supervisord: Supervisord | None = None
        self.lost_supervisor = False
        self._tasks: list[asyncio.Task[Any]] = []

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
        values = take_env_values(self.fleet, self.environ)
        secrets_by_instance = env_secrets(self.fleet, values)
        tokens = client_tokens(self.fleet, values)
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
        password = secrets.token_urlsafe(32)
        config = render_supervisord_conf(self.fleet, self.layout, password)
        fd = os.open(self.layout.config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(config)
        loop = asyncio.get_running_loop()
        reaper = Reaper()
        reaper.install(loop)
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, self.stop.set)
        supervisord = self.supervisord = Supervisord(self.layout, password)
        # The broker listens before any worker starts: a worker asks for its secret at once.
        broker = SecretBroker(secrets_by_instance, self.layout, self._pid_of, self.stop.is_set)
        await broker.start()
        relay: Relay | None = None
        try:
            relay = Relay(loop, supervisord.start(base_env), pipes)
            assert supervisord.process is not None
            reaper.watch(supervisord.process.pid, self._supervisor_exited)
            reaper.reap()  # in case it already died
            await supervisord.wait_ready()
            return await self._serve(supervisord, tokens, base_env)
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
        self, supervisord: Supervisord, client_tokens: dict[str, str], base_env: dict[str, str]
    ) -> int:
        setup = gateway_setup(self.fleet, self.layout, client_tokens, self.serving.listen)
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
        self._spawn(supervision.run())
        self._spawn(gateway.run_links())
        front = self._spawn(gateway.serve(self.serving))
        stopped = self._spawn(self.stop.wait())
        await asyncio.wait([front, stopped], return_when=asyncio.FIRST_COMPLETED)
        if front.done() and not front.cancelled() and front.exception() is not None:
            logs.log(f"gateway failed: {front.exception()}", level="error")
            return 1
        return EXIT_SUPERVISOR_LOST if self.lost_supervisor else EXIT_OK

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
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        if self.supervisord is not None:
            await self.supervisord.stop()
        for name in self.fleet.instances:
            with contextlib.suppress(OSError):
                self.layout.worker_socket(name).unlink(missing_ok=True)
                log_pipe(self.layout, name).unlink(missing_ok=True)  # open ones read on
        with contextlib.suppress(OSError):
            self.layout.config.unlink()


def run_fleet(fleet: Fleet, serving: Serving) -> int:
    return asyncio.run(Launcher(fleet, serving).run())
