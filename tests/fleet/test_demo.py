"""`xo-mcp-fleet demo` on the host: the real fleet on two embedded simulators, the client
configuration it prints (HTTP and a token wherever it runs, no terminal needed), a clean end
(closed terminal) that leaves nothing behind; and what it prints inside a container."""

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
from support.processes import PYTHON, clean_env, scratch_dir, stop_process, wait_for

from xo_mcp.core import ListenAddress
from xo_mcp.fleet.demo import CONTAINER_ENV, in_container, instructions

pytestmark = pytest.mark.anyio


def printed_instructions(stdout: Path) -> str:
    printed = stdout.read_text(encoding="utf-8")
    return printed if "Stop it with" in printed else ""


async def test_the_demo_serves_the_fleet_prints_its_config_and_cleans_up() -> None:
    """As `make demo > demo.log 2>&1 &` runs it: no flag, no terminal, stdin empty."""
    with scratch_dir("xo-d-") as tmp:
        stdout = tmp / "demo.stdout"
        with stdout.open("wb") as out, (tmp / "demo.stderr").open("wb") as err:
            process = subprocess.Popen(
                [PYTHON, "-m", "xo_mcp.fleet", "demo"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                # Where a newcomer runs it, and CI too: possibly a container that is not the
                # image (this machine has a /.dockerenv), which must print what works here.
                env=clean_env(TMPDIR=str(tmp)),
            )
        try:
            printed = wait_for(lambda: printed_instructions(stdout), 60, "the demo's instructions")
            assert "Press Ctrl-C" not in printed and f"kill {process.pid}" in printed
            token = re.search(r"token:\s+(\S+)", printed)
            assert token is not None, printed
            stdio_entry = json.loads(printed[printed.index("{") : printed.rindex("}") + 1])
            command = Path(stdio_entry["mcpServers"]["xo-fleet"]["command"])
            assert command.is_absolute() and command.is_file(), command  # no PATH needed
            found = re.search(r"fleet:\s+(http://127\.0\.0\.1:\d+)/mcp", printed)
            assert found is not None, printed  # 8080, or a free port when it is taken
            url = found.group(1)
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


# --- in a container ------------------------------------------------------------------------


def _printed(listen: str | None, *, container: bool) -> str:
    address = ListenAddress.parse(listen, allow_unix=False) if listen else None
    return instructions(
        Path("/tmp/xo-mcp-demo-1/fleet.toml"),
        Path("/tmp/xo-mcp-demo-1/fleet-stdio.toml"),
        address,
        "the-token",
        container=container,
        interactive=False,
    )


def test_in_a_container_the_demo_says_how_to_reach_it_from_the_host() -> None:
    printed = _printed("127.0.0.1:8080", container=True)
    assert "docker run --rm -p 127.0.0.1:8080:8080 xo-mcp:0.1.0 demo --listen 0.0.0.0:8080" in (
        printed
    )
    assert "inside this container only" in printed
    assert "fleet:        http://127.0.0.1:8080/mcp" in printed  # `docker exec` reaches it
    assert "token:        the-token" in printed
    assert "/tmp/" not in printed  # the container's paths mean nothing on the host
    entry = json.loads(printed[printed.index("{") : printed.rindex("}") + 1])
    assert entry["mcpServers"]["xo-fleet"] == {
        "command": "docker",
        "args": ["run", "-i", "--rm", "xo-mcp:0.1.0", "demo", "--stdio"],
    }
    assert "docker stop" in printed and "kill " not in printed


def test_in_a_container_on_a_published_port_the_demo_prints_the_host_url() -> None:
    printed = _printed("0.0.0.0:8080", container=True)
    assert "fleet:        http://127.0.0.1:8080/mcp" in printed
    assert "with -p 127.0.0.1:8080:8080" in printed
    assert "token:        the-token" in printed
    assert "0.0.0.0" not in printed and "/tmp/" not in printed


def test_on_the_host_the_demo_prints_its_files_and_its_own_command() -> None:
    printed = _printed("127.0.0.1:8080", container=False)
    assert "fleet file: /tmp/xo-mcp-demo-1/fleet.toml" in printed
    assert "fleet:        http://127.0.0.1:8080/mcp" in printed
    assert "docker" not in printed


def test_only_the_image_counts_as_a_container(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A development container or a CI runner (`/.dockerenv`) is where the user's shell is: its
    loopback and paths work. Only the image, which says so, prints the host's view."""
    monkeypatch.delenv(CONTAINER_ENV, raising=False)
    assert not in_container()
    monkeypatch.setenv(CONTAINER_ENV, "0")
    assert not in_container()
    monkeypatch.setenv(CONTAINER_ENV, "1")
    assert in_container()
    containerfile = Path(__file__).parents[2] / "Containerfile"
    assert f"{CONTAINER_ENV}=1" in containerfile.read_text(encoding="utf-8")
