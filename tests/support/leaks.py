"""Where a fleet could leak a secret, gathered as bytes per place, and the search of them: the
tool answers, its runtime directory, `ps`, every process's argv and environment, and what it
wrote on stdout and stderr (the audit lines included)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable

from support.pids import PROC, pids
from support.processes import Fleet

Places = dict[str, bytes]


def process_texts(excluded: Iterable[int] = ()) -> Places:
    """argv and environment of every process on the machine but this one and `excluded` (the
    tests run as root, so every one is readable)."""
    skipped = {os.getpid(), *excluded}
    found = {}
    for pid in pids():
        if pid in skipped:
            continue
        for kind in ("cmdline", "environ"):
            try:
                found[f"/proc/{pid}/{kind}"] = (PROC / str(pid) / kind).read_bytes()
            except OSError:
                continue
    return found


def live_places(fleet: Fleet, answers: list[str], excluded: Iterable[int] = ()) -> Places:
    """What a running fleet shows: the tool answers, every file of its runtime directory, `ps`,
    and every process's argv and environment (the launcher's original environment block too:
    popping a variable does not erase it there)."""
    places: Places = {"tool answers": "\n".join(answers).encode()}
    places.update({str(p): p.read_bytes() for p in fleet.runtime_dir.rglob("*") if p.is_file()})
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, check=True)
    places["ps -eo args"] = ps.stdout
    places.update(process_texts(excluded))
    return places


def written_places(fleet: Fleet) -> Places:
    """What a stopped fleet wrote: stderr and stdout (kept in files with the HTTP port)."""
    assert fleet.stdout_path is not None, "a fleet on the HTTP port keeps its stdout"
    return {"stderr": fleet.stderr_path.read_bytes(), "stdout": fleet.stdout_path.read_bytes()}


def hits(places: Places, needles: Iterable[str]) -> list[tuple[str, str]]:
    """(place, needle) for every needle found in every place."""
    wanted = tuple(needles)
    return [
        (where, needle)
        for where, content in places.items()
        for needle in wanted
        if needle.encode() in content
    ]
