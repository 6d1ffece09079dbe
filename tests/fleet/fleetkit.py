"""What the fleet's integration tests share: starting a fleet (also as the image's uid, 65532),
finding its processes in /proc, and waiting for things to happen."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from support.processes import PYTHON, Fleet, clean_env, free_port

UNPRIVILEGED = 65532  # the image's uid (distroless "nonroot")
T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout_s: float = 30.0, what: str = "condition") -> T:
    """Poll `probe` until it returns something truthy; fail after a generous deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


# --- processes ---------------------------------------------------------------------------------


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid) of a live or zombie process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def fleet_processes(runtime_dir: Path) -> dict[int, list[str]]:
    """supervisord and workers of the fleet whose runtime directory is `runtime_dir`."""
    marker = str(runtime_dir)
    found = {}
    for pid in pids():
        args = _cmdline(pid)
        if any(marker in arg for arg in args):
            found[pid] = args
    return found


def worker_pids(runtime_dir: Path) -> dict[str, int]:
    """Instance name → pid of its running worker."""
    workers = {}
    prefix = str(runtime_dir / "instances") + "/"
    for pid, args in fleet_processes(runtime_dir).items():
        if "xo_mcp.worker" in args and "--runtime-dir" in args:
            directory = args[args.index("--runtime-dir") + 1]
            workers[directory.removeprefix(prefix)] = pid
    return workers


def supervisord_pid(runtime_dir: Path) -> int | None:
    for pid, args in fleet_processes(runtime_dir).items():
        if "--configuration" in args:
            return pid
    return None


def descendants(root: int) -> dict[int, str]:
    """Every process below `root`, zombies included: pid → state letter."""
    children: dict[int, list[int]] = {}
    states: dict[int, str] = {}
    for pid in pids():
        stat = _stat(pid)
        if stat is not None:
            states[pid] = stat[0]
            children.setdefault(stat[1], []).append(pid)
    found: dict[int, str] = {}
    pending = list(children.get(root, []))
    while pending:
        pid = pending.pop()
        found[pid] = states[pid]
        pending += children.get(pid, [])
    return found


def zombies_below(root: int) -> list[int]:
    return [pid for pid, state in descendants(root).items() if state == "Z"]


# --- starting fleets ---------------------------------------------------------------------------


@contextlib.contextmanager
def unprivileged_dir(prefix: str = "xo-fleet-") -> Iterator[Path]:
    """A directory under /tmp owned by uid 65532 (pytest's own tmp dirs are root-only)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chown(path, UNPRIVILEGED, UNPRIVILEGED)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def as_unprivileged() -> None:
    """preexec_fn: become uid/gid 65532 with no supplementary groups (root bypasses the very
    checks the isolation tests are about)."""
    os.setgroups([])
    os.setresgid(UNPRIVILEGED, UNPRIVILEGED, UNPRIVILEGED)
    os.setresuid(UNPRIVILEGED, UNPRIVILEGED, UNPRIVILEGED)


def secret_file(directory: Path, name: str, value: str, *, owner: int | None = None) -> Path:
    path = directory / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    if owner is not None:
        os.chown(path, owner, owner)
    return path


def launch(
    base: Path,
    toml_text: str,
    *,
    env: dict[str, str] | None = None,
    listen: bool = True,
    args: tuple[str, ...] = (),
    python: str = PYTHON,
    user: int | None = None,
    cwd: Path | str | None = None,
) -> Fleet:
    """`xo-mcp-fleet run` on `toml_text` with runtime dir `base/run`; stderr in `base/fleet.stderr`
    (and, with the HTTP port, stdout in `base/fleet.stdout`).

    With `user`, the fleet runs as that uid (its files in `base` must be reachable by it).
    In stdio mode (listen=False) stdin and stdout are pipes the test drives.
    """
    runtime = base / "run"
    config = base / "fleet.toml"
    config.write_text(f'runtime_dir = "{runtime}"\n{toml_text}', encoding="utf-8")
    config.chmod(0o644)
    stderr_path = base / "fleet.stderr"
    command = [python, "-m", "xo_mcp.fleet", "run", "--config", str(config), *args]
    url = None
    if listen:
        port = free_port()
        command += ["--listen", f"127.0.0.1:{port}"]
        url = f"http://127.0.0.1:{port}"
    # With the HTTP port, stdout is kept in a file too: nothing may ever be written there.
    stdout_target = (base / "fleet.stdout").open("wb") if listen else None
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL if listen else subprocess.PIPE,
            stdout=stdout_target if stdout_target is not None else subprocess.PIPE,
            stderr=stderr,
            env=env if env is not None else clean_env(),
            cwd=cwd,
            preexec_fn=as_unprivileged if user is not None else None,
        )
    if stdout_target is not None:
        stdout_target.close()
    return Fleet(process, config, runtime, stderr_path, url)


@contextlib.contextmanager
def running(fleet: Fleet) -> Iterator[Fleet]:
    """Stop the fleet whatever happens, and never leave one of its processes behind."""
    try:
        yield fleet
    finally:
        fleet.stop()
        for pid in fleet_processes(fleet.runtime_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def unprivileged_python(scratch: Path) -> str:
    """A Python interpreter uid 65532 can run, with this checkout's packages.

    Ours may live where 65532 cannot go (pyenv under /root): then build a throwaway venv on a
    world-readable interpreter of the same version that reads our site-packages.
    """
    try:
        result = run_as_unprivileged(
            sys.executable, "-c", "import sys, xo_mcp; print(sys.base_prefix)"
        )
    except PermissionError:
        result = None
    if result is not None and result.returncode == 0 and result.stdout.strip() == sys.base_prefix:
        return sys.executable
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    base = shutil.which(version, path="/usr/local/bin:/usr/bin:/bin")
    if base is None:
        raise RuntimeError(f"no {version} that uid {UNPRIVILEGED} can run")
    venv = scratch / "venv"
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
    site_packages = next(Path(p) for p in sys.path if p.endswith("site-packages"))
    pth = venv / "lib" / version / "site-packages" / "xo_mcp_tests.pth"
    pth.write_text(f"import site; site.addsitedir({str(site_packages)!r})\n")
    for path in [venv, *venv.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o055 if path.is_dir() else path.stat().st_mode | 0o044)
    return str(venv / "bin" / "python")


def run_as_unprivileged(
    python: str, *args: str, env: dict[str, str] | None = None, cwd: str = "/"
) -> subprocess.CompletedProcess[str]:
    """`python ARGS` as uid 65532, from `/` by default (like the fleet in a container)."""
    return subprocess.run(
        [python, *args],
        capture_output=True,
        text=True,
        env=env if env is not None else clean_env(),
        cwd=cwd,
        preexec_fn=as_unprivileged,
        timeout=60,
        check=False,
    )


def kill(pid: int, signum: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def stderr_lines(fleet: Fleet, needle: str) -> list[str]:
    return [line for line in fleet.stderr().splitlines() if needle in line]
