"""`xo-mcp-fleet demo` on the host: the real fleet on two embedded simulators, the client
configuration it prints, and a clean end (closed terminal) that leaves nothing behind."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import httpx2
import pytest
from support.clients import http_client, text
from support.pids import descendants
from support.processes import PYTHON, clean_env, free_port, scratch_dir, stop_process, wait_for

pytestmark = pytest.mark.anyio


def instructions(stdout: Path) -> str:
    printed = stdout.read_text(encoding="utf-8")
    return printed if "Press Ctrl-C to stop." in printed else ""


async def test_the_demo_serves_the_fleet_prints_its_config_and_cleans_up() -> None:
    port = free_port()
    with scratch_dir("xo-d-") as tmp:
        stdout = tmp / "demo.stdout"
        with stdout.open("wb") as out, (tmp / "demo.stderr").open("wb") as err:
            process = subprocess.Popen(
                [PYTHON, "-m", "xo_mcp.fleet", "demo", "--listen", f"127.0.0.1:{port}"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=clean_env(TMPDIR=str(tmp)),
            )
        try:
            printed = wait_for(lambda: instructions(stdout), 60, "the demo's instructions")
            token = re.search(r"token:\s+(\S+)", printed)
            assert token is not None, printed
            stdio_entry = json.loads(printed[printed.index("{") : printed.rindex("}") + 1])
            command = Path(stdio_entry["mcpServers"]["xo-fleet"]["command"])
            assert command.is_absolute() and command.is_file(), command  # no PATH needed
            url = f"http://127.0.0.1:{port}"
            wait_for(
                lambda: httpx2.get(f"{url}/readyz", timeout=5).status_code == 200,
                60,
                "both instances ready",
                retrying=(httpx2.HTTPError,),
            )
            async with http_client(f"{url}/mcp", token=token.group(1)) as client:
                for instance in ("production", "staging"):  # token auth, password auth
                    result = await client.call_tool(
                        "vms_query", {"instance": instance, "operation": "GetVms", "limit": 1}
                    )
                    assert not result.is_error, text(result)
            tree = descendants(process.pid)
            assert len(tree) >= 3  # supervisord and two workers
        finally:
            stop_process(process, signal.SIGHUP, 15)
        assert process.returncode == 0
        assert [pid for pid in tree if Path(f"/proc/{pid}").exists()] == []
        assert list(tmp.glob("xo-mcp-demo-*")) == []  # its secrets went with it
