"""Processes as /proc shows them: command lines, parents and states, memory figures, and the
processes of a fleet (tests kill workers and check that nothing is left behind)."""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")


def pids() -> list[int]:
    return [int(entry) for entry in os.listdir(PROC) if entry.isdigit()]


def cmdline(pid: int) -> list[str]:
    """argv of a process ([] once it is gone, or for a kernel thread)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, …, utime, stime at
    11 and 12); None once the process is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The name is in parentheses and may hold spaces or parentheses itself.
    return text.rsplit(")", 1)[1].split()


def kib(path: Path, key: str) -> int | None:
    """A `Key:   123 kB` line of a /proc file (status, smaps_rollup, meminfo)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return None


def descendants(root: int) -> dict[int, str]:
    """Every process below `root`, zombies included: pid → state letter."""
    children: dict[int, list[int]] = {}
    states: dict[int, str] = {}
    for pid in pids():
        fields = stat_fields(pid)
        if fields is not None:
            states[pid] = fields[0]
            children.setdefault(int(fields[1]), []).append(pid)
    found: dict[int, str] = {}
    pending = list(children.get(root, []))
    while pending:
        pid = pending.pop()
        found[pid] = states[pid]
        pending += children.get(pid, [])
    return found


def zombies_below(root: int) -> list[int]:
    return [pid for pid, state in descendants(root).items() if state == "Z"]


# --- a fleet's processes -----------------------------------------------------------------------


def fleet_processes(runtime_dir: Path) -> dict[int, list[str]]:
    """supervisord and workers of the fleet whose runtime directory is `runtime_dir`."""
    marker = str(runtime_dir)
    found = {}
    for pid in pids():
        args = cmdline(pid)
        if any(marker in arg for arg in args):
            found[pid] = args
    return found


def worker_instance(args: list[str]) -> str | None:
    """The instance a worker's argv serves (its runtime directory's name); None if not one."""
    if "xo_mcp.worker" not in args or "--runtime-dir" not in args:
        return None
    return Path(args[args.index("--runtime-dir") + 1]).name


def worker_pids(runtime_dir: Path) -> dict[str, int]:
    """Instance name → pid of its running worker."""
    workers = {}
    for pid, args in fleet_processes(runtime_dir).items():
        instance = worker_instance(args)
        if instance is not None:
            workers[instance] = pid
    return workers


def worker_pid(runtime_dir: Path, instance: str) -> int:
    """The pid of the one worker serving `instance` in the fleet whose runtime dir is given."""
    found = [
        pid
        for pid, args in fleet_processes(runtime_dir).items()
        if worker_instance(args) == instance
    ]
    if len(found) != 1:
        raise LookupError(f"expected one worker for {instance}, found {found}")
    return found[0]


def supervisord_pid(runtime_dir: Path) -> int | None:
    for pid, args in fleet_processes(runtime_dir).items():
        if "--configuration" in args:
            return pid
    return None
