"""SIGTERM (docker stop, supervisord, systemd) stops the worker cleanly in every mode: exit 0,
within seconds, no traceback."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from support.processes import Sim, free_port, scratch_dir, stop_process, wait_for, worker_env
from worker.kit import WORKER

MODES = {
    "stdio": ((), "connected to"),
    "tcp": (("--listen", "127.0.0.1:{port}"), "serving MCP on"),
    "unix": (("--listen", "unix:{dir}/mcp.sock"), "serving MCP on"),
    "fleet": (("--gateway-socket", "{dir}/worker.sock", "--sandbox", "off"), "serving the fleet"),
}


@pytest.mark.parametrize("mode", MODES)
def test_sigterm_stops_the_worker_with_exit_0(sim: Sim, mode: str) -> None:
    template, ready = MODES[mode]
    with scratch_dir("xo-sig-") as directory:
        args = [arg.format(port=free_port(), dir=directory) for arg in template]
        stderr = directory / "stderr"
        with stderr.open("wb") as err:
            process = subprocess.Popen(
                [*WORKER, *args],
                env=worker_env(sim),
                stdin=subprocess.PIPE,  # kept open: a closed stdin would end stdio by itself
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        try:
            wait_for(lambda: ready in stderr.read_text(), 60, f"the worker serving ({mode})")
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=10)
        finally:
            stop_process(process, signal.SIGKILL)
        elapsed = time.monotonic() - started
        assert code == 0, stderr.read_text()
        assert elapsed < 5
        assert "Traceback" not in stderr.read_text()
