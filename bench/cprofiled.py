"""Run `python -m MODULE ARGS...` with cProfile armed: SIGUSR1 starts it, SIGUSR2 stops it and
writes the statistics to OUT (pstats format). Only the window between the two is measured, so a
benchmark can profile its steady load and leave start-up and shutdown out.

    python bench/cprofiled.py OUT -m MODULE [ARGS...]

cProfile sees the main thread only, which is where the fleet launcher runs its event loop (the
gateway, the links to the workers); its two helper threads (an import at start-up, the calls to
supervisord) stay outside the window or cost little. Times are the thread's CPU time
(`time.thread_time`), so waiting in epoll counts for nothing and sending on a socket counts its
system time. cProfile's own per-call overhead inflates small functions: read the figures as
shares, not as absolute times.
"""

from __future__ import annotations

import cProfile
import runpy
import signal
import sys
import time
from types import FrameType


def main() -> None:
    if len(sys.argv) < 4 or sys.argv[2] != "-m":
        raise SystemExit("usage: cprofiled.py OUT -m MODULE [ARGS...]")
    out, module = sys.argv[1], sys.argv[3]
    profiler = cProfile.Profile(time.thread_time)

    def start(signum: int, frame: FrameType | None) -> None:
        profiler.enable()

    def stop(signum: int, frame: FrameType | None) -> None:
        profiler.disable()
        profiler.dump_stats(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    # The module must see the same sys.path as with `python -m`: the working directory first.
    sys.path[0] = ""
    sys.argv = [module, *sys.argv[4:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
