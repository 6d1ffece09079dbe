"""Reloading the fleet file without a restart: on SIGHUP, and when the watch sees a change.

A reload reads the file and validates it exactly as `check` does (secrets included). An invalid
file changes nothing: its problems are logged as `check` prints them, one record per line, and
/metrics counts the failure. A valid one is compared with the running fleet (`changes`) and only
what changed is touched: supervisord re-reads its rendered file (`reloadConfig`) and adds,
removes or restarts those programs alone; the gateway adds or removes links and surfaces and
swaps its clients, then tells connected clients that the tool list changed.

Secrets from variables (`*_env`): the launcher took them out of its environment at start and
keeps their values. A reload reuses them, and takes variables named for the first time if the
launcher's environment has them; it cannot see a new value of a variable (a running process's
environment never changes), so those need a restart to rotate. Secret files rotate with a
reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import ChainMap
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

from xo_mcp import logs
from xo_mcp.core import Registry, RuntimeLayout, State
from xo_mcp.fleet.changes import (
    SECRET_CHANGED,
    SETTINGS_CHANGED,
    Changes,
    Snapshot,
    changes,
    secret_prints,
    token_prints,
)
from xo_mcp.fleet.config import Fleet, FleetError, parse_fleet, read_fleet_text, serving_problems
from xo_mcp.fleet.handoff import client_directory
from xo_mcp.fleet.relay import Relay, make_pipes
from xo_mcp.fleet.render import program_sections, render_supervisord_conf
from xo_mcp.fleet.runtime import prepare_instance, write_private
from xo_mcp.fleet.secrets import SecretBroker, client_tokens, env_secrets, take_env_values
from xo_mcp.fleet.status import ReloadRow
from xo_mcp.fleet.supervision import Supervision
from xo_mcp.fleet.supervisord import Supervisord, SupervisorError
from xo_mcp.fleet.watch import FileWatch
from xo_mcp.gateway.service import Gateway, Serving
from xo_mcp.secretfile import SecretFileError

ENV_CAVEAT = (
    "secrets from environment variables ({names}) keep the values the launcher read when it "
    "first took them: a running process's environment never changes, so rotating one needs a "
    "restart of the fleet (secret files rotate with a reload)"
)


def snapshot(fleet: Fleet, layout: RuntimeLayout, env_values: Mapping[str, str]) -> Snapshot:
    """What a reload compares (reads the secret files: call it off the event loop)."""
    try:
        tokens = token_prints(client_tokens(fleet, dict(env_values)))
    except SecretFileError:
        tokens = {}  # a client token file vanished since the check: the next reload sees it
    return Snapshot(
        fleet, program_sections(fleet, layout), secret_prints(fleet, env_values), tokens
    )


@dataclass
class ReloadStats:
    """What /metrics and `status` say about reloads."""

    reloads: int = 0
    failures: int = 0
    last_success: float = field(default_factory=time.time)  # the start counts as one
    last_failure: float | None = None
    problems: list[str] = field(default_factory=list)  # of the last attempt, if it failed

    @property
    def last_ok(self) -> bool:
        return not self.problems

    def metric_lines(self) -> list[str]:
        return [
            "# HELP xo_mcp_config_reloads_total Fleet file reloads applied since the start.",
            "# TYPE xo_mcp_config_reloads_total counter",
            f"xo_mcp_config_reloads_total {self.reloads}",
            "# HELP xo_mcp_config_reload_failures_total Fleet file reloads refused (invalid file).",
            "# TYPE xo_mcp_config_reload_failures_total counter",
            f"xo_mcp_config_reload_failures_total {self.failures}",
            "# HELP xo_mcp_config_last_reload_successful 1 when the last reload (or the start) "
            "applied the file, 0 when it was refused.",
            "# TYPE xo_mcp_config_last_reload_successful gauge",
            f"xo_mcp_config_last_reload_successful {int(self.last_ok)}",
            "# HELP xo_mcp_config_last_reload_success_timestamp_seconds When the running "
            "fleet file was applied (Unix time).",
            "# TYPE xo_mcp_config_last_reload_success_timestamp_seconds gauge",
            f"xo_mcp_config_last_reload_success_timestamp_seconds {self.last_success:.3f}",
        ]


@dataclass
class RunningFleet:
    """The parts of the running fleet a reload changes."""

    layout: RuntimeLayout
    serving: Serving
    control_password: str
    supervisord: Supervisord
    registry: Registry
    gateway: Gateway
    supervision: Supervision
    broker: SecretBroker
    environ: MutableMapping[str, str]
    env_values: dict[str, str]  # every `*_env` value taken so far, by variable
    relay: Relay | None  # where a new worker's output is read


class Reloader:
    def __init__(self, config: Path, fleet: Fleet, running: RunningFleet) -> None:
        self.config = config
        self.running = running
        self.stats = ReloadStats()
        self.watch = FileWatch(config)
        self.current = snapshot(fleet, running.layout, running.env_values)
        self._requested = asyncio.Event()
        self._reasons: list[str] = []

    @property
    def fleet(self) -> Fleet:
        return self.current.fleet

    def row(self) -> ReloadRow:
        """What `status` says about reloads."""
        stats, settings = self.stats, self.fleet.reload
        return ReloadRow(
            config=str(self.config),
            watch=settings.watch,
            poll_s=settings.poll_s,
            reloads=stats.reloads,
            failures=stats.failures,
            last_success=stats.last_success,
            last_failure=stats.last_failure,
            problems=stats.problems,
        )

    def request(self, reason: str) -> None:
        self._reasons.append(reason)
        self._requested.set()

    async def run(self) -> None:
        """Reload on request, one at a time; a request during a reload runs right after it."""
        await asyncio.to_thread(self._first_snapshot)
        while True:
            await self._requested.wait()
            self._requested.clear()
            reasons, self._reasons = self._reasons, []
            try:
                await self.reload(", ".join(dict.fromkeys(reasons)))
            except Exception as error:  # a bug must not end reloading: say so, keep serving
                self._failed([f"reload failed: {error!r}"])

    def _first_snapshot(self) -> None:
        """The files as the fleet starts; a file already edited since `run` read it reloads."""
        try:
            text = read_fleet_text(self.config)
        except FleetError:
            text = None
        self.watch.snapshot(text)
        if text is None:
            return
        with contextlib.suppress(FleetError):
            if parse_fleet(text, str(self.config), check_secrets=False) != self.fleet:
                self.request("the fleet file changed while the fleet started")

    async def watch_files(self) -> None:
        await self.watch.run(lambda: self.fleet.reload, self.request)

    # --- one reload ---------------------------------------------------------------------

    async def reload(self, reason: str) -> bool:
        logs.log(f"reloading {self.config} ({reason})")
        try:
            fleet = await asyncio.to_thread(self._read)
        except FleetError as error:
            self._refused(error)
            return False
        self._take_new_variables(fleet)
        new = await asyncio.to_thread(snapshot, fleet, self.running.layout, self.running.env_values)
        found = changes(self.current, new)
        for key in found.fixed:
            logs.log(
                f"{key} changed: it takes effect at the next start (the running value is kept)",
                level="warning",
            )
        try:
            await self._apply(new, found)
        except SupervisorError as error:
            self.current = new
            self._failed([f"reload partly applied: {error}"])
            return False
        self.current = new
        self.stats.reloads += 1
        self.stats.last_success = time.time()
        self.stats.problems = []
        logs.log(f"reloaded {self.config}: {found.summary()}")
        self._env_caveat(fleet)
        return True

    def _read(self) -> Fleet:
        """Read and validate the file as `check` does, and as this `run` can serve it."""
        try:
            text = read_fleet_text(self.config)
        except FleetError:
            self.watch.snapshot(None)
            raise
        self.watch.snapshot(text)
        # Variables already taken are gone from the environment: their kept values count.
        env = ChainMap(self.running.env_values, self.running.environ)
        fleet = parse_fleet(text, str(self.config), env)
        serving = self.running.serving
        problems = serving_problems(fleet, listen=serving.listen, instance=serving.instance)
        if problems:
            raise FleetError(str(self.config), problems)
        return fleet

    def _take_new_variables(self, fleet: Fleet) -> None:
        self.running.env_values.update(take_env_values(fleet, self.running.environ))

    def _refused(self, error: FleetError) -> None:
        lines = error.report()
        if any("environment variable" in problem for problem in error.problems):
            lines.append(
                "  (a running fleet has only the variables it was started with: set new ones "
                "and restart it, or use *_file)"
            )
        self._failed(lines)

    def _failed(self, lines: list[str]) -> None:
        for line in lines:
            logs.log(line, level="error")
        logs.log("reload refused: the fleet keeps serving its current configuration", level="error")
        self.stats.failures += 1
        self.stats.last_failure = time.time()
        self.stats.problems = lines

    def _env_caveat(self, fleet: Fleet) -> None:
        names = {instance.secret[1].env for instance in fleet.instances.values()}
        names |= {client.token_env for client in fleet.gateway.clients}
        used = sorted(name for name in names if name)
        if used:
            logs.log(ENV_CAVEAT.format(names=", ".join(used)))

    # --- applying it --------------------------------------------------------------------

    async def _apply(self, new: Snapshot, found: Changes) -> None:
        running = self.running
        fleet = new.fleet
        tokens = await asyncio.to_thread(client_tokens, fleet, running.env_values)
        running.gateway.set_directory(client_directory(fleet, tokens))
        running.supervision.fleet = fleet
        if not found.workers:
            return
        config = render_supervisord_conf(fleet, running.layout, running.control_password)
        write_private(running.layout.config, config)
        await running.supervisord.reload_config()
        for name in found.removed:
            await self._remove(name)
        for name in found.added:
            prepare_instance(running.layout, name)  # the broker listens in there
        await running.broker.update(env_secrets(fleet, running.env_values))
        for name, why in found.restarted.items():
            await self._restart(name, fleet, rebuilt=why == SETTINGS_CHANGED)
        for name in found.added:
            await self._add(name, fleet)
        await running.gateway.instances_changed()

    async def _remove(self, name: str) -> None:
        running = self.running
        await running.gateway.remove_instance(name)  # from now on: "removed" errors
        await running.supervisord.remove_group(name)
        running.registry.remove([name])
        running.supervision.forget(name)
        for stale in (running.layout.worker_socket(name), running.layout.secret_socket(name)):
            stale.unlink(missing_ok=True)
        logs.log("removed from the fleet: worker stopped", instance=name)

    async def _restart(self, name: str, fleet: Fleet, *, rebuilt: bool) -> None:
        """Stop the worker, then start it anew: its link re-reads its tools once it answers."""
        running = self.running
        supervisord = running.supervisord
        if rebuilt:
            await supervisord.remove_group(name)  # its program changed: supervisord's too
        else:
            await supervisord.stop_group(name)
        running.layout.last_error(name).unlink(missing_ok=True)  # the old worker's words
        status = running.registry[name]
        status.url = fleet.instances[name].url
        status.pid = 0  # a restart asked for, not one more crash in `restarts`
        status.last_error = None
        running.registry.set_state(name, State.STARTING)
        running.supervision.forget(name)
        running.gateway.worker_restarted(name)
        if rebuilt:
            await supervisord.add_group(name)
        else:
            await supervisord.start_process(name)
        why = SETTINGS_CHANGED if rebuilt else SECRET_CHANGED
        logs.log(f"restarting the worker: {why}", instance=name)

    async def _add(self, name: str, fleet: Fleet) -> None:
        running = self.running
        running.registry.add(name, fleet.instances[name].url)
        await running.gateway.add_instance(name)
        if running.relay is not None:  # before supervisord opens the worker's FIFO
            running.relay.add(name, make_pipes(running.layout, [name])[name])
        await running.supervisord.add_group(name)
        logs.log("added to the fleet: worker starting", instance=name)
