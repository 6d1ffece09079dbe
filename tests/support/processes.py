"""Real processes for integration tests: simulators, workers, fleets (loopback only)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
BASE_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR")


def clean_env(**extra: str) -> dict[str, str]:
    """A minimal environment: no proxy variables or secrets leak in from the test runner."""
    env = {key: os.environ[key] for key in BASE_ENV_KEYS if key in os.environ}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def _read_line(process: subprocess.Popen[str], timeout_s: float) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            return process.stdout.readline()
        if process.poll() is not None:
            break
    raise RuntimeError(f"no output from {process.args} within {timeout_s}s (exit {process.poll()})")


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

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


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


def worker_env(sim: Sim, **extra: str) -> dict[str, str]:
    return clean_env(XO_URL=sim.url, XO_TOKEN=sim.token, **extra)


@dataclass
class Fleet:
    """`xo-mcp-fleet run` in its own process; stderr goes to a file the test can read."""

    process: subprocess.Popen[bytes]
    config: Path
    runtime_dir: Path
    stderr_path: Path
    url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

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
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode, time.monotonic() - started


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_fleet(
    tmp_path: Path,
    toml_text: str,
    *,
    env: dict[str, str] | None = None,
    listen: bool = True,
    args: tuple[str, ...] = (),
    preexec: Any = None,
) -> Fleet:
    """Start a fleet whose file is `toml_text`; its runtime dir is `tmp_path/run`."""
    runtime = tmp_path / "run"
    config = tmp_path / "fleet.toml"
    config.write_text(f'runtime_dir = "{runtime}"\n{toml_text}', encoding="utf-8")
    stderr_path = tmp_path / "fleet.stderr"
    command = [PYTHON, "-m", "xo_mcp.fleet", "run", "--config", str(config), *args]
    url = None
    if listen:
        port = free_port()
        command += ["--listen", f"127.0.0.1:{port}"]
        url = f"http://127.0.0.1:{port}"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL if listen else subprocess.PIPE,
            stdout=subprocess.PIPE if not listen else subprocess.DEVNULL,
            stderr=stderr,
            env=env if env is not None else clean_env(),
            preexec_fn=preexec,
        )
    return Fleet(process, config, runtime, stderr_path, url)
