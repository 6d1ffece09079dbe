"""The infrastructure summary's text: counts first, then pools, hosts and VMs by name, cut."""

from __future__ import annotations

from typing import Any

from xo_mcp.worker.summary import SHOWN, Hints, Listing, state_counts, summarize

POOL = {"id": "p1", "name_label": "Lab"}


def host(number: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"h{number}", "name_label": f"host-{number}", "power_state": "Running",
            "enabled": True, "$pool": "p1", **extra}  # fmt: skip


def vm(number: int, state: str = "Running", container: str = "h1") -> dict[str, Any]:
    return {"id": f"v{number}", "name_label": f"vm-{number:03}", "power_state": state,
            "$container": container, "$pool": "p1"}  # fmt: skip


def listing(objects: list[dict[str, Any]], limit: int = 1000) -> Listing:
    return Listing(objects, limit)


def section(text: str, title: str) -> list[str]:
    """The lines of one `## title` section, below its heading."""
    after_heading = text.split(f"## {title}", 1)[1].split("\n", 1)[1]
    return after_heading.split("\n## ", 1)[0].strip().splitlines()


def test_counts_come_first_per_type_and_state() -> None:
    hosts = [host(1), host(2, power_state="Halted"), host(3, enabled=False)]
    vms = [vm(1), vm(2, "Halted", "p1"), vm(3, "Paused"), vm(4)]
    text = summarize(listing([POOL]), listing(hosts), listing(vms))
    assert text.splitlines()[:4] == [
        "## Counts",
        "- Pools: 1",
        "- Hosts: 3 (Running 2, Halted 1; 1 disabled)",
        "- VMs: 4 (Running 2, Halted 1, Paused 1)",
    ]


def test_objects_by_name_with_state_host_and_pool() -> None:
    hosts = [host(1), host(2, enabled=False)]
    vms = [vm(1), vm(2, "Halted", "p1")]
    text = summarize(listing([POOL]), listing(hosts), listing(vms))
    assert section(text, "Pools") == [
        "| pool | hosts | VMs | running VMs | id |",
        "| --- | --- | --- | --- | --- |",
        "| Lab | 2 | 2 | 1 | p1 |",
    ]
    assert section(text, "Hosts")[2:] == [
        "| host-2 | Running, disabled | Lab | 0 | h2 |",  # a problem first
        "| host-1 | Running | Lab | 1 | h1 |",
    ]
    assert section(text, "VMs")[2:] == [
        "| vm-002 | Halted | - | Lab | v2 |",  # a halted VM is on no host
        "| vm-001 | Running | host-1 | Lab | v1 |",
    ]


def test_long_lists_are_cut_not_running_first_with_a_way_to_the_rest() -> None:
    vms = [vm(n) for n in range(70)] + [vm(n, "Halted", "p1") for n in range(70, 80)]
    hints = Hints(vms="Use vms_query.")
    text = summarize(listing([POOL]), listing([host(1)]), listing(vms), hints)
    assert "## VMs (first 50 of 80, not running first)" in text
    rows = [line for line in section(text, "VMs") if line.startswith("| vm-")]
    assert len(rows) == SHOWN
    assert all("| Halted |" in row for row in rows[:10])
    assert text.endswith("30 more VMs not shown. Use vms_query.")


def test_an_answer_cut_by_the_read_limit_says_its_counts_are_partial() -> None:
    text = summarize(listing([POOL]), listing([host(1)]), Listing([vm(1), vm(2)], limit=2))
    assert "- VMs: at least 2 (Running 2); XO's answer was cut at 2, counts cover those" in text


def test_names_cannot_break_the_tables() -> None:
    odd = {**vm(1), "name_label": "a|b\nc"}
    text = summarize(listing([POOL]), listing([host(1)]), listing([odd]))
    assert "| a\\|b c | Running |" in text


def test_an_empty_inventory() -> None:
    text = summarize(listing([]), listing([]), listing([]))
    assert "- VMs: 0\n" in text and text.endswith("## VMs\nNone.")


def test_odd_objects_do_not_crash() -> None:
    odd: list[dict[str, Any]] = [{}, {"power_state": 3, "name_label": None, "$pool": []}]
    assert state_counts(odd) == "Unknown 2"
    assert "Unknown 2" in summarize(listing(odd), listing(odd), listing(odd))
