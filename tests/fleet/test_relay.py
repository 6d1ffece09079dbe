"""The relay: supervisord's raw lines in our words (or silenced), the workers' records passed
on under the instance of the FIFO they came by, anything else a worker prints wrapped into a
record; and the whole path through real FIFOs and the launcher's event loop."""

from __future__ import annotations

import asyncio
import io
import json
import os
import time
from datetime import datetime
from pathlib import Path

import pytest

from xo_mcp import logs
from xo_mcp.core import RuntimeLayout
from xo_mcp.fleet.relay import Relay, make_pipes, supervisord_record, worker_records

pytestmark = pytest.mark.anyio

NAMES = ["alpha", "beta"]


def local(stamp: str) -> str:
    """supervisord's local time, as the UTC `ts` our records carry."""
    moment = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").astimezone()
    return logs.timestamp(moment.timestamp())


@pytest.mark.parametrize(
    ("line", "level", "instance", "msg", "extra"),
    [
        (
            "INFO spawned: 'alpha' with pid 123",
            "info",
            "alpha",
            "worker started",
            {"pid": 123},
        ),
        (
            "INFO success: alpha entered RUNNING state, process has stayed up for > than 1 "
            "seconds (startsecs)",
            "debug",
            "alpha",
            "worker up for supervisord's startsecs",
            {},
        ),
        (
            "INFO exited: beta (exit status 3; expected)",
            "info",
            "beta",
            "worker exited (exit status 3), as expected: the launcher takes it from there",
            {"exit_status": 3},
        ),
        (
            "WARN exited: alpha (terminated by SIGKILL; not expected)",
            "warning",
            "alpha",
            "worker exited (terminated by SIGKILL), unexpected to supervisord, which restarts it",
            {},
        ),
        (
            "INFO gave up: beta entered FATAL state, too many start retries too quickly",
            "warning",
            "beta",
            "worker failed to start (too many start retries too quickly); the launcher "
            "retries it later",
            {},
        ),
        (
            "INFO stopped: alpha (terminated by SIGTERM)",
            "info",
            "alpha",
            "worker stopped (terminated by SIGTERM)",
            {},
        ),
        ("INFO Set uid to user 0 succeeded", "debug", None, "running as the launcher's user", {}),
        ("CRIT something supervisord never said before", "error", None, None, {}),
        ("INFO waiting for alpha, beta to die", "debug", None, "waiting for alpha, beta", {}),
    ],
)
def test_supervisord_lines_become_records_in_our_words(
    line: str, level: str, instance: str | None, msg: str | None, extra: dict[str, object]
) -> None:
    stamp = "2026-12-04 20:57:17,002"
    record = supervisord_record(f"{stamp} {line}", NAMES)
    assert record["ts"] == local(stamp)
    assert (record["level"], record["component"]) == (level, "supervisord")
    assert record.get("instance") == instance
    assert record["msg"] == (msg or line.split(" ", 1)[1])
    for key, value in extra.items():
        assert record[key] == value


def test_a_name_that_is_no_instance_is_not_taken_for_one() -> None:
    record = supervisord_record("2026-12-04 20:57:17,002 INFO spawned: 'ghost' with pid 9", NAMES)
    assert "instance" not in record and record["msg"] == "worker started"


def test_what_is_not_supervisords_log_is_an_error_as_it_is() -> None:
    record = supervisord_record("Traceback (most recent call last):", NAMES)
    assert (record["level"], record["msg"]) == ("error", "Traceback (most recent call last):")


def test_worker_records_pass_under_the_fifos_instance() -> None:
    own = {"ts": "t", "level": "info", "component": "worker", "instance": "alpha", "msg": "hi"}
    forged = {**own, "instance": "beta", "msg": "I am beta"}
    records = worker_records([json.dumps(own), json.dumps(forged)], "alpha")
    assert [r["instance"] for r in records] == ["alpha", "alpha"]  # never a sibling's name
    assert records[0] == own


def test_anything_else_a_worker_prints_is_wrapped_one_record_per_burst() -> None:
    traceback = [
        "Traceback (most recent call last):",
        '  File "x.py", line 1, in <module>',
        "ValueError: boom",
    ]
    record = {"ts": "t", "level": "info", "component": "worker", "msg": "after"}
    found = worker_records([*traceback, json.dumps(record), "{not json", ""], "beta")
    assert [(r["level"], r["component"], r["instance"]) for r in found] == [
        ("error", "worker", "beta"),
        ("info", "worker", "beta"),
        ("error", "worker", "beta"),
    ]
    assert found[0]["msg"] == "\n".join(traceback)
    assert found[2]["msg"] == "{not json"


async def test_the_relay_reads_supervisord_and_every_fifo(tmp_path: Path) -> None:
    with logs.redirected(io.StringIO(), "json"):
        records = await _relayed(tmp_path)
    assert [(r.get("instance"), r["msg"]) for r in records] == [
        ("alpha", "run 0"),
        ("alpha", "run 1"),
        ("beta", "worker started"),
    ]


async def _relayed(tmp_path: Path) -> list[dict[str, object]]:
    """Two runs of the alpha worker through its FIFO, then a line of supervisord's."""
    layout = RuntimeLayout(tmp_path)
    pipes = make_pipes(layout, NAMES)
    supervisord_read, supervisord_write = os.pipe()
    written: list[str] = []
    relay = Relay(asyncio.get_running_loop(), supervisord_read, pipes, output=written.append)
    # What supervisord does: open the FIFO for each spawn, write, close (a restart).
    for attempt in range(2):
        with open(layout.root / "logs" / "alpha.pipe", "wb") as fifo:
            record = {"ts": "t", "level": "info", "component": "worker", "msg": f"run {attempt}"}
            half = json.dumps(record).encode()
            fifo.write(half[:10])
            fifo.flush()
            await asyncio.sleep(0.05)  # half a line now, the rest later: one record
            fifo.write(half[10:] + b"\n")
    os.write(supervisord_write, b"2026-12-04 20:57:17,002 INFO spawned: 'beta' with pid 7\n")
    deadline = time.monotonic() + 5
    while len(written) < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    os.close(supervisord_write)
    relay.close()
    return [json.loads(line) for line in written]


def test_the_fifos_are_the_launchers_alone(tmp_path: Path) -> None:
    layout = RuntimeLayout(tmp_path)
    pipes = make_pipes(layout, ["alpha"])
    try:
        folder = layout.root / "logs"
        assert folder.stat().st_mode & 0o777 == 0o700
        assert (folder / "alpha.pipe").stat().st_mode & 0o777 == 0o600
    finally:
        for fd in pipes["alpha"]:
            os.close(fd)
