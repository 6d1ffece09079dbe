"""Real processes for integration tests: simulators, workers, fleets (loopback only), and the
waiting and stopping they all need."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx2

from support.pids import fleet_processes

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
BASE_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR")
T = TypeVar("T")


def clean_env(**extra: str) -> dict[str, str]:
    """A minimal environment: no proxy variables or secrets leak in from the test runner."""
    env = {key: os.environ[key] for key in BASE_ENV_KEYS if key in os.environ}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def wait_for(
    probe: Callable[[], T | None],
    timeout_s: float = 30.0,
    what: str = "condition",
    *,
    interval_s: float = 0.05,
    retrying: tuple[type[Exception], ...] = (),
) -> T:
    """Poll `probe` until it returns something truthy (returned); fail after a generous deadline.

    Exceptions of the `retrying` kinds count as "not yet"; an AssertionError always ends the
    wait at once (the thing waited for can no longer happen, e.g. its process exited)."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except AssertionError:
            raise
        except retrying as error:
            last_error = error
        else:
            if value:
                return value
        time.sleep(interval_s)
    detail = f" (last error: {last_error!r})" if last_error is not None else ""
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}{detail}")


def stop_process(
    process: subprocess.Popen[Any], signum: int = signal.SIGTERM, timeout_s: float = 5.0
) -> None:
    """Send `signum` if it still runs; kill it when it lingers past `timeout_s`."""
    if process.poll() is not None:
        return
    process.send_signal(signum)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def scratch_dir(
    prefix: str, *, mode: int | None = None, owner: int | None = None
) -> Iterator[Path]:
    """A fresh directory under /tmp (with `mode`, owned by `owner` if given), removed with all
    it holds afterwards."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if mode is not None:
        path.chmod(mode)
    if owner is not None:
        os.chown(path, owner, owner)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def kill(pid: int, signum: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _read_line(process: subprocess.Popen[str], timeout_s: float) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            return process.stdout.readline()
        if process.poll() is not None:
            break
    exit_code = process.poll()
    raise RuntimeError(f"no output from {process.args!r} within {timeout_s}s (exit {exit_code})")


# --- simulators --------------------------------------------------------------------------------


@dataclass
class Sim:
    """A simulated XO (`xo-mcp-sim`) in its own process, with its runtime switches."""

    url: str
    process: subprocess.Popen[str]
    token: str = "sim-token"

    def control(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = httpx2.request(method, f"{self.url}/_sim/{path}", json=body, timeout=10)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def set_mcp(self, enabled: bool) -> None:
        self.control("PUT", "mcp", {"enabled": enabled})

    def set_faults(self, faults: list[dict[str, Any]]) -> None:
        self.control("PUT", "faults", faults)

    def clear_faults(self) -> None:
        self.control("DELETE", "faults")

    def tokens(self, *, add: str | None = None, revoke: str | None = None) -> None:
        self.control("POST", "tokens", {"add": add, "revoke": revoke})

    def rest(self, path: str, **params: str) -> Any:
        response = httpx2.get(
            f"{self.url}/rest/v0{path}",
            params=params,
            cookies={"authenticationToken": self.token},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def delete(self, path: str) -> None:
        """DELETE through XO's API, as another XO user would (no MCP in the way)."""
        response = httpx2.delete(
            f"{self.url}/rest/v0{path}", cookies={"authenticationToken": self.token}, timeout=10
        )
        response.raise_for_status()

    def stop(self) -> None:
        stop_process(self.process)


def start_sim(*args: str, host: str = "127.0.0.1") -> Sim:
    command = [
        PYTHON,
        "-m",
        "xo_mcp.sim",
        "--listen",
        f"{host}:0",
        "--action-seconds",
        "0.05",
        *args,
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=clean_env()
    )
    line = _read_line(process, 30)
    if "listening on" not in line:
        process.kill()
        raise RuntimeError(f"xo-mcp-sim did not start: {line!r}")
    return Sim(line.rsplit(" ", 1)[1].strip(), process)


def wait_until_serving(server: Sim, timeout_s: float = 30.0) -> Sim:
    """The simulator prints its address before it accepts connections: wait for the latter."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            httpx2.get(f"{server.url}/rest/v0/ping", timeout=5, trust_env=False)
            return server
        except httpx2.TransportError:
            if time.monotonic() > deadline or server.process.poll() is not None:
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def own_sim(*args: str) -> Iterator[Sim]:
    """A simulator started with options of its own (credentials, spec, kill switch), once it
    serves; stopped afterwards."""
    server = start_sim(*args)
    try:
        yield wait_until_serving(server)
    finally:
        server.stop()


def worker_env(sim: Sim, **extra: str) -> dict[str, str]:
    return clean_env(XO_URL=sim.url, XO_TOKEN=sim.token, **extra)


# --- fleets ------------------------------------------------------------------------------------


@dataclass
class Fleet:
    """`xo-mcp-fleet run` in its own process; stderr (and, with the HTTP port, stdout) go to
    files the test can read."""

    process: subprocess.Popen[bytes]
    config: Path
    runtime_dir: Path
    stderr_path: Path
    url: str | None = None
    stdout_path: Path | None = None

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def records(self) -> list[dict[str, Any]]:
        """The fleet's log lines (JSON, as it writes them when stderr is not a terminal)."""
        found = []
        for line in self.stderr().splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    found.append(json.loads(line))
        return found

    def said(self, text: str, instance: str | None = None) -> list[dict[str, Any]]:
        """The log records whose message holds `text` (about `instance`, if given)."""
        return [
            record
            for record in self.records()
            if text in str(record.get("msg", ""))
            and (instance is None or record.get("instance") == instance)
        ]

    def readyz_status(self) -> int:
        assert self.url is not None
        try:
            return httpx2.get(f"{self.url}/readyz", timeout=5).status_code
        except httpx2.HTTPError:
            return 0

    def rewrite(self, toml_text: str) -> None:
        """Replace the fleet file (same runtime dir) as an editor or Kubernetes would: whole, by
        a rename, so that a reload never reads half of it."""
        replace_file(self.config, f'runtime_dir = "{self.runtime_dir}"\n{toml_text}')

    def readyz(self) -> dict[str, Any]:
        assert self.url is not None
        body: dict[str, Any] = httpx2.get(f"{self.url}/readyz", timeout=5).json()
        return body

    def wait_ready(
        self, timeout_s: float = 40.0, states: tuple[str, ...] = ("ready",)
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"fleet exited {self.process.returncode}:\n{self.stderr()}")
            try:
                last = self.readyz()
            except httpx2.HTTPError:
                time.sleep(0.1)
                continue
            if all(state in states for state in last["instances"].values()):
                return last
            time.sleep(0.1)
        raise RuntimeError(f"fleet not ready within {timeout_s}s: {last}\n{self.stderr()}")

    def stop(self, signum: int = signal.SIGTERM, timeout_s: float = 15.0) -> tuple[int, float]:
        """Send `signum`; return (exit code, seconds until exit)."""
        started = time.monotonic()
        stop_process(self.process, signum, timeout_s)
        return self.process.returncode, time.monotonic() - started


@dataclass
class FleetRig:
    """A fleet behind its HTTP port and what a test keeps with it (simulators, answers)."""

    fleet: Fleet

    @property
    def url(self) -> str:
        assert self.fleet.url is not None
        return self.fleet.url


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def replace_file(path: Path, text: str) -> None:
    """Write `text` to a new file and rename it over `path` (mode 0600): readers see the old
    content or the new one, never a part."""
    staged = path.with_name(f".{path.name}.new")
    staged.write_text(text, encoding="utf-8")
    staged.chmod(0o600)
    staged.replace(path)


def secret_file(directory: Path, name: str, value: str, *, owner: int | None = None) -> Path:
    path = directory / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    if owner is not None:
        os.chown(path, owner, owner)
    return path


def start_fleet(
    base: Path,
    toml_text: str,
    *,
    env: dict[str, str] | None = None,
    listen: bool = True,
    args: tuple[str, ...] = (),
    python: tuple[str, ...] = (PYTHON,),
    preexec: Callable[[], None] | None = None,
    cwd: Path | str | None = None,
) -> Fleet:
    """`xo-mcp-fleet run` on `toml_text` with runtime dir `base/run`; stderr in `base/fleet.stderr`
    (and, with the HTTP port, stdout in `base/fleet.stdout`).

    `python` is the interpreter and whatever goes before `-m xo_mcp.fleet` (a profiler);
    `preexec` runs in the child before it starts (e.g. to drop to another uid, whose files in
    `base` must then be reachable by it). In stdio mode (listen=False) stdin and stdout are
    pipes the test drives.
    """
    runtime = base / "run"
    config = base / "fleet.toml"
    config.write_text(f'runtime_dir = "{runtime}"\n{toml_text}', encoding="utf-8")
    config.chmod(0o644)
    stderr_path = base / "fleet.stderr"
    command = [*python, "-m", "xo_mcp.fleet", "run", "--config", str(config), *args]
    url = stdout_path = None
    if listen:
        port = free_port()
        command += ["--listen", f"127.0.0.1:{port}"]
        url = f"http://127.0.0.1:{port}"
        # With the HTTP port, stdout is kept in a file too: nothing may ever be written there.
        stdout_path = base / "fleet.stdout"
    with contextlib.ExitStack() as files:
        stderr = files.enter_context(stderr_path.open("wb"))
        stdout = files.enter_context(stdout_path.open("wb")) if stdout_path else subprocess.PIPE
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL if listen else subprocess.PIPE,
            stdout=stdout,
            stderr=stderr,
            env=env if env is not None else clean_env(),
            cwd=cwd,
            preexec_fn=preexec,
        )
    return Fleet(process, config, runtime, stderr_path, url, stdout_path)


@contextlib.contextmanager
def running(fleet: Fleet) -> Iterator[Fleet]:
    """Stop the fleet whatever happens, and never leave one of its processes behind."""
    try:
        yield fleet
    finally:
        fleet.stop()
        for pid in fleet_processes(fleet.runtime_dir):
            kill(pid)


# The fleet file over the simulators, and the variables (beyond clean_env's) it runs with.
FleetFile = Callable[[dict[str, Sim]], tuple[str, dict[str, str]]]


@contextlib.contextmanager
def sims_and_fleet(
    base: Path, sims: Mapping[str, Sequence[str]], fleet_file: FleetFile
) -> Iterator[tuple[Fleet, dict[str, Sim]]]:
    """Simulators started with the given options, then a fleet on the HTTP port over them
    (`fleet_file(sims)` may also flip their switches first), once all its instances are ready;
    everything stopped afterwards."""
    started: dict[str, Sim] = {}
    try:
        for name, args in sims.items():
            started[name] = start_sim(*args)
        toml, env = fleet_file(started)
        with running(start_fleet(base, toml, env=clean_env(**env))) as fleet:
            fleet.wait_ready(timeout_s=60)
            yield fleet, started
    finally:
        for sim in started.values():
            sim.stop()
