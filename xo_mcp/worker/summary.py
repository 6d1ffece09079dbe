"""The text of `get_infrastructure_summary`: counts first, then the objects a model needs by name.

Counts per type and per power state come first (a question like "how many VMs are down?" needs
nothing else); then the pools, the hosts with their state, and the VMs with their state, host and
pool, each with its id so that the next call can act on it. Long lists are cut, with a line saying
how to get the rest: VMs that are not running come first, since they are what people ask about.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# What is read from XO: `fields` keeps each object small, `limit` bounds the whole answer
# (about 300 bytes a VM: 2,500 VMs stay well under what the client reads of one answer).
POOL_FIELDS = "id,name_label"
HOST_FIELDS = "id,name_label,power_state,enabled,$pool"
VM_FIELDS = "id,name_label,power_state,$container,$pool"
READ_LIMITS = {"pools": 500, "hosts": 1000, "vms": 2500}
SHOWN = 50  # rows per table
STATE_ORDER = ("Running", "Halted", "Suspended", "Paused", "Unknown")
# VMs people ask about first: in no known state, stopped half-way, then stopped.
_VM_RANK = {"Paused": 1, "Suspended": 1, "Halted": 2, "Running": 3}

Obj = dict[str, Any]


@dataclass(frozen=True)
class Listing:
    """One collection as XO returned it, and whether XO had more than the limit let through."""

    objects: list[Obj]
    limit: int

    @property
    def complete(self) -> bool:
        return len(self.objects) < self.limit


@dataclass(frozen=True)
class Hints:
    """How to get what a table leaves out: the tool and operation, if this server offers them."""

    pools: str = ""
    hosts: str = ""
    vms: str = ""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _cell(value: Any) -> str:
    """A table cell: a `|` or a line break in a name must not break the table."""
    text = _text(value) or ("" if value is None else str(value))
    return " ".join(text.split()).replace("|", "\\|") or "-"


def _state(obj: Obj) -> str:
    return _text(obj.get("power_state")) or "Unknown"


def state_counts(objects: Sequence[Obj]) -> str:
    """`Running 3, Halted 1`: known states in a fixed order, others after them."""
    counts = Counter(_state(obj) for obj in objects)
    order = [s for s in STATE_ORDER if s in counts] + sorted(set(counts) - set(STATE_ORDER))
    return ", ".join(f"{state} {counts[state]}" for state in order)


def _count(name: str, listing: Listing, detail: str) -> str:
    number = f"{len(listing.objects)}" if listing.complete else f"at least {len(listing.objects)}"
    line = f"- {name}: {number}" + (f" ({detail})" if detail else "")
    if not listing.complete:
        line += f"; XO's answer was cut at {listing.limit}, counts cover those"
    return line


def _names(listing: Listing) -> dict[str, str]:
    return {_text(o.get("id")): _text(o.get("name_label")) for o in listing.objects}


def _table(header: Sequence[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines


def _section(
    title: str,
    objects: list[Obj],
    header: Sequence[str],
    row: Callable[[Obj], list[Any]],
    hint: str,
    order_note: str = "",
) -> list[str]:
    """A heading, up to SHOWN rows, and what to do about the rest."""
    shown = objects[:SHOWN]
    heading = f"## {title}"
    if len(objects) > len(shown):
        heading += f" (first {len(shown)} of {len(objects)}{order_note})"
    if not objects:
        return [heading, "None."]
    lines = [heading, *_table(header, [row(obj) for obj in shown])]
    rest = len(objects) - len(shown)
    if rest:
        lines.append(f"{rest} more {title} not shown." + (f" {hint}" if hint else ""))
    return lines


def _vm_order(pool_names: dict[str, str]) -> Callable[[Obj], tuple[int, str, str]]:
    def key(vm: Obj) -> tuple[int, str, str]:
        pool = pool_names.get(_text(vm.get("$pool")), "")
        return _VM_RANK.get(_state(vm), 0), pool.lower(), _text(vm.get("name_label")).lower()

    return key


def _host_state(host: Obj) -> str:
    return _state(host) + (", disabled" if host.get("enabled") is False else "")


def summarize(pools: Listing, hosts: Listing, vms: Listing, hints: Hints = Hints()) -> str:
    """The whole summary, as markdown."""
    pool_names = _names(pools)
    host_names = _names(hosts)
    disabled = sum(1 for host in hosts.objects if host.get("enabled") is False)
    host_detail = state_counts(hosts.objects) + (f"; {disabled} disabled" if disabled else "")
    per_pool = Counter(_text(vm.get("$pool")) for vm in vms.objects)
    running_per_pool = Counter(_text(v.get("$pool")) for v in vms.objects if _state(v) == "Running")
    hosts_per_pool = Counter(_text(host.get("$pool")) for host in hosts.objects)
    running_per_host = Counter(
        _text(vm.get("$container")) for vm in vms.objects if _state(vm) == "Running"
    )
    lines = [
        "## Counts",
        _count("Pools", pools, ""),
        _count("Hosts", hosts, host_detail),
        _count("VMs", vms, state_counts(vms.objects)),
        "",
    ]
    lines += _section(
        "Pools",
        sorted(pools.objects, key=lambda p: _text(p.get("name_label")).lower()),
        ("pool", "hosts", "VMs", "running VMs", "id"),
        lambda p: [
            p.get("name_label"),
            hosts_per_pool[_text(p.get("id"))],
            per_pool[_text(p.get("id"))],
            running_per_pool[_text(p.get("id"))],
            p.get("id"),
        ],
        hints.pools,
    )
    lines.append("")
    lines += _section(
        "Hosts",
        sorted(
            hosts.objects,
            key=lambda h: (
                _host_state(h) == "Running",
                pool_names.get(_text(h.get("$pool")), "").lower(),
                _text(h.get("name_label")).lower(),
            ),
        ),
        ("host", "state", "pool", "running VMs", "id"),
        lambda h: [
            h.get("name_label"),
            _host_state(h),
            pool_names.get(_text(h.get("$pool"))),
            running_per_host[_text(h.get("id"))],
            h.get("id"),
        ],
        hints.hosts,
        ", not running first",
    )
    lines.append("")
    lines += _section(
        "VMs",
        sorted(vms.objects, key=_vm_order(pool_names)),
        ("VM", "state", "host", "pool", "id"),
        lambda v: [
            v.get("name_label"),
            _state(v),
            host_names.get(_text(v.get("$container"))),  # a halted VM's container is its pool
            pool_names.get(_text(v.get("$pool"))),
            v.get("id"),
        ],
        hints.vms,
        ", not running first",
    )
    return "\n".join(lines)
