"""Find fleet processes from /proc (tests kill workers and check nothing is left behind)."""

from __future__ import annotations

from pathlib import Path


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def pids_matching(fragment: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and fragment in cmdline(int(entry.name)):
            found.append(int(entry.name))
    return found


def worker_pid(runtime_dir: Path, instance: str) -> int:
    """The pid of the worker serving `instance` in the fleet whose runtime dir is given."""
    socket_path = runtime_dir / "instances" / instance / "worker.sock"
    pids = pids_matching(f"--gateway-socket {socket_path}")
    if len(pids) != 1:
        raise LookupError(f"expected one worker for {instance}, found {pids}")
    return pids[0]
