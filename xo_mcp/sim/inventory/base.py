"""What every part of the inventory shares: segments and types, sizes, state, lookups, links.

Every object is a plain dict shaped like the XO REST API returns it (see the reference fact
sheet §7), stored per collection segment in insertion order. The REST layer reads the live
dicts directly and calls the mutation methods, which keep both ends of every link in step
(a VM's `$VBDs` and the VBD's `VM`, a host's `residentVms` and the VM's `$container`, …).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]

SEGMENTS: tuple[str, ...] = (
    "pools",
    "hosts",
    "vms",
    "vm-templates",
    "vm-snapshots",
    "vm-controllers",
    "srs",
    "vdis",
    "vdi-snapshots",
    "vbds",
    "vifs",
    "pifs",
    "pbds",
    "networks",
    "pcis",
    "pgpus",
    "sms",
    "messages",
    "tasks",
    "users",
    "groups",
    "servers",
    "backup-jobs",
    "schedules",
    "backup-logs",
    "backup-repositories",
    "backup-archives",
    "restore-logs",
    "proxies",
    "acl-roles",
    "acl-privileges",
)

XO_TYPES: dict[str, str] = {
    "pools": "pool",
    "hosts": "host",
    "vms": "VM",
    "vm-templates": "VM-template",
    "vm-snapshots": "VM-snapshot",
    "vm-controllers": "VM-controller",
    "srs": "SR",
    "vdis": "VDI",
    "vdi-snapshots": "VDI-snapshot",
    "vbds": "VBD",
    "vifs": "VIF",
    "pifs": "PIF",
    "pbds": "PBD",
    "networks": "network",
    "pcis": "PCI",
    "pgpus": "PGPU",
    "sms": "SM",
    "messages": "message",
    "tasks": "task",
    "users": "user",
    "groups": "group",
    "servers": "server",
    "schedules": "schedule",
    "backup-jobs": "backup-job",
    "backup-logs": "backup-log",
    "backup-repositories": "backup-repository",
    "backup-archives": "backup-archive",
    "restore-logs": "restore-log",
    "proxies": "proxy",
    "acl-roles": "acl-role",
    "acl-privileges": "acl-privilege",
    "alarms": "alarm",
}

ALARM_NAMES = frozenset({"ALARM", "BOND_STATUS_CHANGED", "MULTIPATH_PERIODIC_ALERT"})

POWER_STATES = frozenset({"Running", "Halted", "Paused", "Suspended"})

# XAPI objects, in the order an alarm's object is looked up.
XAPI_SEGMENTS = (
    "vms",
    "hosts",
    "srs",
    "pools",
    "vdis",
    "networks",
    "pifs",
    "vifs",
    "vbds",
    "pbds",
    "vm-controllers",
    "vm-templates",
    "vm-snapshots",
    "vdi-snapshots",
    "pcis",
    "pgpus",
    "sms",
)
VM_LIKE = ("vms", "vm-templates", "vm-snapshots", "vm-controllers")

# Build-time "now" (2026-01-15T09:00:00Z): a fixed epoch keeps one seed's inventory identical
# whenever it is built; only later mutations read the injected clock.
EPOCH = 1_768_467_600
DAY = 86_400
GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class InventorySize:
    pools: int = 2
    hosts_per_pool: int = 2
    vms_per_pool: int = 6
    templates_per_pool: int = 3
    snapshots: int = 4
    srs_per_pool: int = 2
    networks_per_pool: int = 2
    messages: int = 20
    backup_jobs: int = 3
    users: int = 3
    groups: int = 2


DEFAULT_SIZE = InventorySize()
BASE36_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36(number: int) -> str:
    digits = ""
    while True:
        number, remainder = divmod(number, 36)
        digits = BASE36_DIGITS[remainder] + digits
        if number == 0:
            return digits


def iso(seconds: float) -> str:
    stamp = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def remove(items: list[Any] | None, value: Any) -> None:
    if items is not None and value in items:
        items.remove(value)


class InventoryBase:
    """The inventory's state and the helpers every family of objects builds on."""

    def __init__(
        self,
        *,
        seed: int = 1,
        size: InventorySize = DEFAULT_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rng = random.Random(seed)
        self._size = size
        self._clock = clock
        self._data: dict[str, dict[str, Obj]] = {segment: {} for segment in SEGMENTS}
        # Missing patches are not an attribute of the host object in XO, so they live aside.
        self._missing: dict[str, list[dict[str, Any]]] = {}
        self._repo_capacity: dict[str, int] = {}
        self._name_counters: dict[str, int] = {}
        self._admin_id = ""

    # ------------------------------------------------------------------ public reads

    def collection(self, segment: str) -> dict[str, Obj]:
        return self._data[segment]

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def vdis_of(self, vm_like_id: str) -> list[tuple[str, Obj]]:
        vm = self._find_vm_like(vm_like_id)
        if vm is None:
            return []
        found: list[tuple[str, Obj]] = []
        for vbd_id in vm.get("$VBDs", []):
            vbd = self._data["vbds"].get(vbd_id)
            if vbd is None:
                continue
            located = self._find_vdi(vbd.get("VDI"))
            if located is not None:
                found.append(located)
        return found

    # ------------------------------------------------------------------ lookups

    def _require(self, segment: str, object_id: str) -> Obj:
        obj = self._data[segment].get(object_id)
        if obj is None:
            raise KeyError(f"no such {XO_TYPES.get(segment, segment)} {object_id}")
        return obj

    def _put(self, segment: str, obj: Obj) -> Obj:
        self._data[segment][obj["id"]] = obj
        return obj

    def _find_vm_like(self, object_id: str) -> Obj | None:
        for segment in VM_LIKE:
            found = self._data[segment].get(object_id)
            if found is not None:
                return found
        return None

    def _find_vdi(self, vdi_id: str | None) -> tuple[str, Obj] | None:
        if vdi_id is None:
            return None
        for segment in ("vdis", "vdi-snapshots"):
            found = self._data[segment].get(vdi_id)
            if found is not None:
                return segment, found
        return None

    def _segment_of(self, object_id: str) -> str | None:
        return next((s for s in XAPI_SEGMENTS if object_id in self._data[s]), None)

    def _hosts_of(self, pool_id: str) -> list[Obj]:
        return [h for h in self._data["hosts"].values() if h["$pool"] == pool_id]

    def _pick_host(self, pool_id: str) -> str | None:
        """The least loaded running, enabled host of the pool (first one on ties)."""
        candidates = [
            h for h in self._hosts_of(pool_id) if h["power_state"] == "Running" and h["enabled"]
        ]
        if not candidates:
            return None
        return str(min(candidates, key=lambda h: len(h["residentVms"]))["id"])

    # ------------------------------------------------------------------ id / time helpers

    def _xapi(self, type_: str, pool_id: str) -> Obj:
        object_id = self.new_uuid()
        return {
            "id": object_id,
            "uuid": object_id,
            "type": type_,
            "$pool": pool_id,
            "$poolId": pool_id,
            "_xapiRef": f"OpaqueRef:{self.new_uuid()}",
        }

    def _ago(self, low_s: int, high_s: int) -> int:
        return EPOCH - self._rng.randint(low_s, high_s)

    def _mac(self) -> str:
        # Locally administered unicast, as XO generates for new VIFs.
        octets = [0x02 | (self._rng.randrange(256) & 0xFC)] + [
            self._rng.randrange(256) for _ in range(5)
        ]
        return ":".join(f"{o:02x}" for o in octets)

    def _next_name(self, role: str) -> str:
        number = self._name_counters.get(role, 0) + 1
        self._name_counters[role] = number
        return f"{role}-{number:02d}"

    def _task_id(self, start_ms: int) -> str:
        suffix = "".join(self._rng.choice(BASE36_DIGITS) for _ in range(10))
        return f"{base36(start_ms).rjust(9, '0')}-{suffix}"

    # ------------------------------------------------------------------ links kept in step

    def _evict(self, vm: Obj) -> None:
        host = self._data["hosts"].get(vm.get("$container") or "")
        if host is None:
            return
        remove(host["residentVms"], vm["id"])
        self._refresh_host(host)

    def _set_devices_attached(self, vm: Obj, *, attached: bool) -> None:
        for vbd_id in vm["$VBDs"]:
            if vbd_id in self._data["vbds"]:
                self._data["vbds"][vbd_id]["attached"] = attached
        for vif_id in vm["VIFs"]:
            if vif_id in self._data["vifs"]:
                self._data["vifs"][vif_id]["attached"] = attached

    def _refresh_host(self, host: Obj) -> None:
        used = 0
        for vm_id in host["residentVms"]:
            vm = self._data["vms"].get(vm_id) or self._data["vm-controllers"].get(vm_id)
            if vm is not None:
                used += vm["memory"]["size"]
        host["memory"]["usage"] = used

    def _refresh_sr(self, sr_id: str) -> None:
        sr = self._data["srs"].get(sr_id)
        if sr is None:
            return
        size = usage = 0
        for vdi_id in sr["VDIs"]:
            found = self._find_vdi(vdi_id)
            if found is not None:
                size += found[1]["size"]
                usage += found[1]["usage"]
        sr["usage"] = size
        sr["physical_usage"] = usage if sr["content_type"] != "iso" else size
