"""The simulator's Xen Orchestra inventory: seeded, in memory, with consistent relations.

Every object is a plain dict shaped like the XO REST API returns it (see the reference fact
sheet §7), stored per collection segment in insertion order. The REST layer reads the live
dicts directly and calls the mutation methods below, which keep both ends of every link in
step (a VM's `$VBDs` and the VBD's `VM`, a host's `residentVms` and the VM's `$container`, …).
"""

from __future__ import annotations

import copy
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

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
_XAPI_SEGMENTS = (
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
_VM_LIKE = ("vms", "vm-templates", "vm-snapshots", "vm-controllers")

# Build-time "now" (2026-01-15T09:00:00Z): a fixed epoch keeps one seed's inventory identical
# whenever it is built; only later mutations read the injected clock.
_EPOCH = 1_768_467_600
_DAY = 86_400
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


_DEFAULT_SIZE = InventorySize()

_POOL_SITES = (
    ("Paris DC1", "par"),
    ("Lyon DC2", "lyo"),
    ("Grenoble lab", "gre"),
    ("Amsterdam edge", "ams"),
    ("Frankfurt DR", "fra"),
    ("London office", "lon"),
    ("Madrid DC", "mad"),
    ("Milan DC", "mil"),
)
_VM_ROLES = ("web", "db", "app", "cache", "proxy", "ci", "mail", "monitor", "dns", "k8s-node")
_OSES: tuple[dict[str, str], ...] = (
    {
        "name": "Debian GNU/Linux 12 (bookworm)",
        "distro": "debian",
        "major": "12",
        "minor": "9",
        "uname": "6.1.0-30-amd64",
    },
    {
        "name": "Alpine Linux v3.21",
        "distro": "alpine",
        "major": "3",
        "minor": "21",
        "uname": "6.12.13-0-lts",
    },
    {
        "name": "Ubuntu 24.04.1 LTS",
        "distro": "ubuntu",
        "major": "24",
        "minor": "04",
        "uname": "6.8.0-51-generic",
    },
    {
        "name": "Rocky Linux 9.5 (Blue Onyx)",
        "distro": "rocky",
        "major": "9",
        "minor": "5",
        "uname": "5.14.0-503.14.1.el9_5.x86_64",
    },
    {
        "name": "Microsoft Windows Server 2022 Standard|C:\\Windows"
        "|\\Device\\Harddisk0\\Partition2",
        "distro": "windows",
        "major": "10",
        "minor": "0",
        "build": "20348",
    },
)
_HOST_CPUS = (
    ("Intel(R) Xeon(R) Silver 4214R CPU @ 2.40GHz", "GenuineIntel", 24, 2, "2394.374"),
    ("Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", "GenuineIntel", 64, 2, "1995.312"),
    ("AMD EPYC 7313P 16-Core Processor", "AuthenticAMD", 32, 1, "2994.374"),
)
_TEMPLATES = (
    ("Debian Bookworm 12", _OSES[0]),
    ("Ubuntu Noble Numbat 24.04", _OSES[2]),
    ("Windows Server 2022 (64-bit)", _OSES[4]),
    ("Rocky Linux 9", _OSES[3]),
    ("Alpine Linux 3.21", _OSES[1]),
    ("Other install media", None),
)
_ISOS = (
    ("alpine-virt-3.21.2-x86_64.iso", 65 * MIB),
    ("debian-12.9.0-amd64-netinst.iso", 632 * MIB),
    ("SERVER_EVAL_x64FRE_en-us.iso", 4_700 * MIB),
)
_PATCHES: tuple[dict[str, Any], ...] = (
    {
        "name": "xapi-core",
        "version": "25.6.0",
        "release": "1.12.xcpng8.3",
        "description": "xapi - xen toolstack for XCP",
        "license": "LGPL+linking exception",
        "size": 6_389_120,
    },
    {
        "name": "xen-hypervisor",
        "version": "4.17.5",
        "release": "6.xcpng8.3",
        "description": "The Xen Hypervisor",
        "license": "GPLv2 and LGPLv2 and BSD",
        "size": 2_843_500,
    },
    {
        "name": "kernel",
        "version": "4.19.19",
        "release": "8.0.38.1.xcpng8.3",
        "description": "The Linux kernel",
        "license": "GPLv2",
        "size": 31_270_912,
    },
    {
        "name": "sm",
        "version": "3.2.3",
        "release": "1.14.xcpng8.3",
        "description": "sm - XCP storage managers",
        "license": "LGPL",
        "size": 1_093_632,
    },
    {
        "name": "openssl",
        "version": "1.1.1k",
        "release": "12.1.xcpng8.3",
        "description": "Utilities from the general purpose cryptography library with TLS",
        "license": "OpenSSL",
        "size": 721_456,
    },
    {
        "name": "xcp-ng-release",
        "version": "8.3.0",
        "release": "32",
        "description": "XCP-ng release file",
        "license": "GPLv2",
        "size": 48_212,
    },
)
_MESSAGE_KINDS: tuple[tuple[str, str, str], ...] = (
    ("VM_STARTED", "vms", "VM '{name}' started"),
    ("VM_SHUTDOWN", "vms", "VM '{name}' shut down"),
    ("VM_SNAPSHOTTED", "vms", "VM '{name}' snapshotted"),
    ("VM_REBOOTED", "vms", "VM '{name}' rebooted"),
    ("HOST_CLOCK_SKEW_DETECTED", "hosts", "The clock of host '{name}' is 3 seconds off"),
    ("PBD_PLUG_FAILED_ON_SERVER_START", "hosts", "PBD plug failed on '{name}' during startup"),
    ("HA_POOL_OVERCOMMITTED", "pools", "The pool '{name}' can no longer tolerate a host failure"),
    ("SR_LARGE_ALLOCATION", "srs", "SR '{name}' allocated a large virtual disk"),
)
_ALARM_BODY = (
    'value: {value:.6f}\nconfig:\n<variable>\n\t<name value="{name}"/>\n'
    '\t<alarm_trigger_level value="{level}"/>\n\t<alarm_trigger_period value="60"/>\n'
    '\t<alarm_auto_inhibit_period value="3600"/>\n</variable>'
)
_ALARM_VALUE = re.compile(r"^value:\s*([-0-9.eE]+)", re.MULTILINE)
_ALARM_VAR = re.compile(r'<name value="([^"]+)"')
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(number: int) -> str:
    digits = ""
    while True:
        number, remainder = divmod(number, 36)
        digits = _BASE36[remainder] + digits
        if number == 0:
            return digits


def _iso(seconds: float) -> str:
    stamp = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _remove(items: list[Any] | None, value: Any) -> None:
    if items is not None and value in items:
        items.remove(value)


def _matches(pattern: Any, value: Any) -> bool:
    """The subset of XO's value-matcher that backup jobs use for their `vms` patterns."""
    if isinstance(pattern, dict):
        if "__or" in pattern:
            return any(_matches(p, value) for p in pattern["__or"])
        if "__and" in pattern:
            return all(_matches(p, value) for p in pattern["__and"])
        if "__not" in pattern:
            return not _matches(pattern["__not"], value)
        if not isinstance(value, dict):
            return False
        return all(_matches(p, value.get(key)) for key, p in pattern.items())
    if isinstance(pattern, list):
        # A list pattern means "each of these is somewhere in the value" (tags).
        return isinstance(value, list) and all(any(_matches(p, v) for v in value) for p in pattern)
    return bool(pattern == value)


class Inventory:
    def __init__(
        self,
        *,
        seed: int = 1,
        size: InventorySize = _DEFAULT_SIZE,
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
        self._build()

    # ------------------------------------------------------------------ public reads

    def collection(self, segment: str) -> dict[str, Obj]:
        return self._data[segment]

    def get(self, segment: str, object_id: str) -> Obj | None:
        if segment == "alarms":
            return self.alarm(object_id)
        return self._data.get(segment, {}).get(object_id)

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def alarms(self) -> list[Obj]:
        return [
            self._alarm_view(message)
            for message in self._data["messages"].values()
            if message.get("name") in ALARM_NAMES
        ]

    def alarm(self, alarm_id: str) -> Obj | None:
        message = self._data["messages"].get(alarm_id)
        if message is None or message.get("name") not in ALARM_NAMES:
            return None
        return self._alarm_view(message)

    def alarms_of(self, object_id: str) -> list[Obj]:
        return [alarm for alarm in self.alarms() if alarm["object"]["uuid"] == object_id]

    def messages_of(self, object_id: str) -> list[Obj]:
        return [
            message
            for message in self._data["messages"].values()
            if message.get("$object") == object_id and message.get("name") not in ALARM_NAMES
        ]

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

    def backup_jobs_of_vm(self, vm_id: str) -> list[Obj]:
        vm = self._data["vms"].get(vm_id)
        if vm is None:
            return []
        return [
            job
            for job in self._data["backup-jobs"].values()
            if job.get("type") == "backup" and _matches(job.get("vms"), vm)
        ]

    def missing_patches(self, pool_or_host_id: str) -> list[Obj]:
        if pool_or_host_id in self._data["hosts"]:
            return [self._patch_view(p) for p in self._missing.get(pool_or_host_id, [])]
        if pool_or_host_id not in self._data["pools"]:
            raise KeyError(pool_or_host_id)
        seen: dict[str, dict[str, Any]] = {}
        for host in self._hosts_of(pool_or_host_id):
            for patch in self._missing.get(host["id"], []):
                seen.setdefault(patch["name"], patch)
        return [self._patch_view(p) for p in seen.values()]

    # ------------------------------------------------------------------ dashboards

    def dashboard(self) -> Obj:
        hosts = list(self._data["hosts"].values())
        srs = [sr for sr in self._data["srs"].values() if sr["content_type"] != "iso"]
        return {
            "nPools": len(self._data["pools"]),
            "nHosts": len(hosts),
            "backupRepositories": self._backup_repositories_overview(),
            "resourcesOverview": {
                "nCpus": sum(int(h["CPUs"].get("cpu_count", 0)) for h in hosts),
                "memorySize": sum(h["memory"]["size"] for h in hosts),
                "srSize": sum(sr["size"] for sr in srs),
            },
            "poolsStatus": self._pools_status(),
            "missingPatches": self._missing_patches_overview(),
            "storageRepositories": {"size": self._storage_size(srs)},
            "backups": self._backups_overview(),
            "hostsStatus": self._hosts_status(hosts),
            "vmsStatus": self._vms_status(list(self._data["vms"].values())),
        }

    def pool_dashboard(self, pool_id: str) -> Obj:
        pool = self._require("pools", pool_id)
        hosts = self._hosts_of(pool["id"])
        vms = [vm for vm in self._data["vms"].values() if vm["$pool"] == pool_id]
        srs = [sr for sr in self._data["srs"].values() if sr["$pool"] == pool_id]
        host_status = self._hosts_status(hosts)
        vm_status = self._vms_status(vms)
        return {
            "hosts": {
                "status": {k: host_status[k] for k in ("running", "disabled", "halted", "total")},
                "topFiveUsage": {
                    "ram": self._top_ram(hosts),
                    "cpu": self._top_cpu(hosts),
                },
            },
            "vms": {
                "status": {
                    k: vm_status[k] for k in ("running", "halted", "paused", "suspended", "total")
                },
                "topFiveUsage": {
                    "ram": self._top_ram([vm for vm in vms if vm["power_state"] == "Running"]),
                    "cpu": self._top_cpu([vm for vm in vms if vm["power_state"] == "Running"]),
                },
            },
            "srs": {"topFiveUsage": self._top_srs(srs)},
            "alarms": [a for a in self.alarms() if a["$pool"] == pool_id],
            "cpuProvisioning": self._cpu_provisioning(hosts, vms),
        }

    def vm_dashboard(self, vm_id: str) -> Obj:
        vm = self._require("vms", vm_id)
        host = self._data["hosts"].get(vm["$container"])
        return {
            "quickInfo": {
                "id": vm["id"],
                "power_state": vm["power_state"],
                "uuid": vm["uuid"],
                "name_description": vm["name_description"],
                "CPUs": {"number": vm["CPUs"]["number"]},
                "mainIpAddress": vm.get("mainIpAddress"),
                "os_version": {"name": (vm.get("os_version") or {}).get("name")},
                "memory": {"size": vm["memory"]["size"]},
                "creation": dict(vm.get("creation") or {}),
                "$pool": vm["$pool"],
                "virtualizationMode": vm["virtualizationMode"],
                "tags": list(vm["tags"]),
                "host": None if host is None else host["id"],
                "pvDriversDetected": vm.get("pvDriversDetected"),
                "startTime": vm.get("startTime"),
            },
            "alarms": self.alarms_of(vm_id),
            "backupsInfo": self._vm_backups_info(vm),
        }

    # ------------------------------------------------------------------ mutations

    def set_power_state(self, vm_id: str, state: str, host_id: str | None = None) -> None:
        if state not in POWER_STATES:
            raise ValueError(f"unknown power state {state!r}")
        vm = self._require("vms", vm_id)
        current_host = vm["$container"] if vm["$container"] in self._data["hosts"] else None
        if state in ("Halted", "Suspended"):
            self._evict(vm)
            vm.update({"power_state": state, "startTime": None, "$container": vm["$pool"]})
            vm["memory"]["usage"] = 0
            self._set_devices_attached(vm, attached=False)
            return
        target = host_id or current_host or self._pick_host(vm["$pool"])
        if target is None:
            raise ValueError(f"no running host in pool {vm['$pool']} for VM {vm_id}")
        host = self._require("hosts", target)
        if current_host is None:
            vm["startTime"] = int(self._clock())
        elif current_host != target:
            self._evict(vm)
        vm.update({"power_state": state, "$container": host["id"]})
        vm["memory"]["usage"] = vm["memory"]["size"] // 2
        if vm["id"] not in host["residentVms"]:
            host["residentVms"].append(vm["id"])
        self._refresh_host(host)
        self._set_devices_attached(vm, attached=True)

    def snapshot_vm(self, vm_id: str, name_label: str | None = None) -> str:
        vm = self._require("vms", vm_id)
        now = self._clock()
        name = name_label or f"{vm['name_label']}_{_iso(now)}"
        return self._snapshot(vm, name, int(now))

    def clone_vm(self, source_id: str, name_label: str | None = None) -> str:
        source = self._data["vms"].get(source_id) or self._data["vm-templates"].get(source_id)
        if source is None:
            raise KeyError(source_id)
        now = self._clock()
        from_template = source["type"] == "VM-template"
        name = name_label or (
            f"{source['name_label']} VM" if from_template else f"{source['name_label']} (clone)"
        )
        vm = self._copy_vm_like(source, "VM", name)
        vm.update(
            {
                "power_state": "Halted",
                "$container": source["$pool"],
                "installTime": int(now),
                "creation": {
                    "date": _iso(now),
                    "template": source["id"]
                    if from_template
                    else source["creation"].get("template"),
                    "user": self._admin_id,
                },
                "tags": [] if from_template else list(source["tags"]),
                # Guest metrics belong to the running source, not to its copy.
                "addresses": {},
                "mainIpAddress": None,
            }
        )
        if from_template:
            vm["other"].pop("default_template", None)
        self._put("vms", vm)
        self._copy_disks(source, vm)
        self._copy_vifs(source, vm)
        return str(vm["id"])

    def revert_snapshot(self, vm_id: str, snapshot_id: str) -> None:
        vm = self._require("vms", vm_id)
        snapshot = self._data["vm-snapshots"].get(snapshot_id)
        if snapshot is None or snapshot.get("$snapshot_of") != vm_id:
            raise ValueError(f"snapshot {snapshot_id} does not belong to VM {vm_id}")
        self.set_power_state(vm_id, "Halted")
        vm["CPUs"] = copy.deepcopy(snapshot["CPUs"])
        vm["memory"] = copy.deepcopy(snapshot["memory"])
        vm["memory"]["usage"] = 0
        vm["parent"] = snapshot_id
        for _, disk in self.vdis_of(snapshot_id):
            base = self._data["vdis"].get(disk.get("$snapshot_of") or "")
            if base is not None:
                base["size"] = disk["size"]
        for sr_id in {vdi["$SR"] for _, vdi in self.vdis_of(vm_id)}:
            self._refresh_sr(sr_id)

    def delete(self, segment: str, object_id: str) -> None:
        obj = self._require(segment, object_id)
        cleanup = self._CLEANUPS.get(segment)
        if cleanup is not None:
            cleanup(self, obj)
        self._data[segment].pop(object_id, None)

    def add_tag(self, segment: str, object_id: str, tag: str) -> None:
        tags = self._require(segment, object_id).setdefault("tags", [])
        if tag not in tags:
            tags.append(tag)

    def remove_tag(self, segment: str, object_id: str, tag: str) -> None:
        _remove(self._require(segment, object_id).get("tags"), tag)

    def patch(self, segment: str, object_id: str, changes: dict[str, Any]) -> None:
        self._require(segment, object_id).update(changes)

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
        for segment in _VM_LIKE:
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
        return next((s for s in _XAPI_SEGMENTS if object_id in self._data[s]), None)

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
        return _EPOCH - self._rng.randint(low_s, high_s)

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
        suffix = "".join(self._rng.choice(_BASE36) for _ in range(10))
        return f"{_base36(start_ms).rjust(9, '0')}-{suffix}"

    # ------------------------------------------------------------------ build

    def _build(self) -> None:
        self._build_users()
        self._build_groups()
        self._build_acl()
        for index in range(self._size.pools):
            self._build_pool(index)
        self._build_snapshots()
        for sr_id in self._data["srs"]:
            self._refresh_sr(sr_id)
        for host in self._data["hosts"].values():
            self._refresh_host(host)
        self._build_messages()
        self._build_servers()
        self._build_backup_repositories()
        self._build_backup_jobs()
        self._build_backup_archives()
        self._build_restore_logs()
        self._build_proxies()
        self._build_tasks()

    # users, groups, ACLs -------------------------------------------------

    def _build_users(self) -> None:
        names = ("admin@admin.net", "alice@example.org", "bob@example.org", "carol@example.org")
        for index in range(max(self._size.users, 1)):
            name = names[index] if index < len(names) else f"user{index:02d}@example.org"
            user: Obj = {
                "id": self.new_uuid(),
                "name": name,
                "email": name,
                "permission": "admin" if index == 0 else "none",
                "groups": [],
                "preferences": {"lang": "en"} if index == 0 else {},
                "pw_hash": "***obfuscated***",
            }
            self._put("users", user)
        self._admin_id = next(iter(self._data["users"]))

    def _build_groups(self) -> None:
        names = ("ops", "developers", "auditors", "dba")
        users = list(self._data["users"].values())
        groups: list[Obj] = []
        for index in range(self._size.groups):
            name = names[index] if index < len(names) else f"team-{index:02d}"
            group: Obj = {"id": self.new_uuid(), "name": name, "users": [], "aclRoleIds": []}
            groups.append(self._put("groups", group))
        if not groups:
            return
        for index, user in enumerate(users):
            # The admin sits in the first group; the others are spread over all groups.
            member_of = groups[0] if index == 0 else groups[(index - 1) % len(groups)]
            member_of["users"].append(user["id"])
            user["groups"].append(member_of["id"])

    def _build_acl(self) -> None:
        roles = (
            ("Viewer", "Read-only access to every object", True, ("read", "read", "read")),
            ("Operator", "Start, stop and snapshot VMs", True, ("read", "start", "snapshot")),
            ("Paris VM admins", "Full control of the Paris VMs", False, ("*", "read", "delete")),
        )
        resources = ("vm", "host", "pool")
        users = list(self._data["users"])
        groups = list(self._data["groups"].values())
        for index, (name, description, template, actions) in enumerate(roles):
            role: Obj = {
                "id": self.new_uuid(),
                "name": name,
                "description": description,
                "isTemplate": template,
                "userIds": [],
                "groupIds": [],
                "privilegeIds": [],
            }
            self._put("acl-roles", role)
            if not template:
                role["userIds"] = users[1:2]
            if groups and index > 0:
                group = groups[(index - 1) % len(groups)]
                role["groupIds"].append(group["id"])
                group["aclRoleIds"].append(role["id"])
            for action, resource in zip(actions, resources, strict=True):
                privilege = {
                    "id": self.new_uuid(),
                    "action": action,
                    "effect": "deny" if action == "delete" else "allow",
                    "resource": resource,
                    "roleId": role["id"],
                }
                self._put("acl-privileges", privilege)
                role["privilegeIds"].append(privilege["id"])

    # pools ----------------------------------------------------------------

    def _build_pool(self, index: int) -> None:
        name, slug = (
            _POOL_SITES[index] if index < len(_POOL_SITES) else (f"Pool {index}", f"p{index}")
        )
        pool = self._xapi("pool", "")
        pool.update({"$pool": pool["id"], "$poolId": pool["id"]})
        self._put("pools", pool)
        pool_id = pool["id"]
        hosts = [
            self._build_host(pool_id, index, h, slug) for h in range(self._size.hosts_per_pool)
        ]
        if len(hosts) > 1 and index == self._size.pools - 1:
            hosts[-1]["enabled"] = False  # one host in maintenance mode somewhere
        networks = [self._build_network(pool_id, n) for n in range(self._size.networks_per_pool)]
        for h, host in enumerate(hosts):
            self._build_controller(host)
            for n, network in enumerate(networks):
                self._build_pif(host, network, n, f"10.{index}.{n}.{11 + h}")
            self._build_host_devices(host)
        self._build_sms(pool_id)
        local = [self._build_sr(pool_id, "local", host) for host in hosts]
        shared = [
            self._build_sr(pool_id, "shared", None, n) for n in range(self._size.srs_per_pool)
        ]
        iso_sr = self._build_sr(pool_id, "iso", None)
        for sr in [*shared, iso_sr]:
            for host in hosts:
                self._build_pbd(sr, host)
        isos = [self._build_vdi(iso_sr, iso_name, iso_size, "user") for iso_name, iso_size in _ISOS]
        disk_srs = shared or local
        templates = [
            self._build_template(pool_id, t, disk_srs[0] if disk_srs else None)
            for t in range(self._size.templates_per_pool)
        ]
        for v in range(self._size.vms_per_pool):
            self._build_vm(pool_id, index, v, hosts, templates, disk_srs, networks, isos)
        master = hosts[0]["id"] if hosts else None
        default_sr = disk_srs[0]["id"] if disk_srs else None
        pool.update(
            {
                "name_label": name,
                "name_description": f"XCP-ng 8.3 pool, site {slug.upper()}",
                "master": master,
                "default_SR": default_sr,
                "crashDumpSr": default_sr,
                "suspendSr": default_sr,
                "HA_enabled": index == 0 and bool(shared),
                "haSrs": [shared[0]["id"]] if index == 0 and shared else [],
                "haRebootVmOnInternalShutdown": True,
                "auto_poweron": index % 2 == 0,
                "migrationCompression": False,
                "cpus": {
                    "cores": sum(h["cpus"]["cores"] for h in hosts),
                    "sockets": sum(h["cpus"]["sockets"] for h in hosts),
                },
                "platform_version": "3.4.0",
                "zstdSupported": True,
                "vtpmSupported": True,
                "otherConfig": {"auto_poweron": str(index % 2 == 0).lower()},
                "tags": ["production"] if index == 0 else [],
                "current_operations": {},
            }
        )

    def _build_host(self, pool_id: str, pool_index: int, host_index: int, slug: str) -> Obj:
        model, vendor, cores, sockets, speed = self._rng.choice(_HOST_CPUS)
        memory = self._rng.choice((256, 384, 512)) * GIB
        started = self._ago(3 * _DAY, 90 * _DAY)
        name = f"xcp-{slug}-{host_index + 1:02d}"
        host = self._xapi("host", pool_id)
        host.update(
            {
                "name_label": name,
                "name_description": "Default install",
                "address": f"10.{pool_index}.0.{11 + host_index}",
                "hostname": name,
                "power_state": "Running",
                "enabled": True,
                "productBrand": "XCP-ng",
                "version": "8.3.0",
                "build": "8.3.0",
                "memory": {"usage": 0, "size": memory, "total": memory},
                "cpus": {"cores": cores, "sockets": sockets},
                "CPUs": {
                    "cpu_count": str(cores),
                    "socket_count": str(sockets),
                    "vendor": vendor,
                    "speed": speed,
                    "modelname": model,
                    "family": "6" if vendor == "GenuineIntel" else "25",
                },
                "bios_strings": {
                    "bios-vendor": "Dell Inc.",
                    "bios-version": "2.21.2",
                    "system-manufacturer": "Dell Inc.",
                    "system-product-name": "PowerEdge R650",
                    "system-serial-number": "".join(
                        self._rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(7)
                    ),
                },
                "residentVms": [],
                "controlDomain": None,
                "PIFs": [],
                "$PIFs": [],
                "PCIs": [],
                "$PCIs": [],
                "PGPUs": [],
                "$PGPUs": [],
                "$PBDs": [],
                "patches": [],
                "rebootRequired": False,
                "startTime": started,
                "agentStartTime": started + self._rng.randint(60, 600),
                "license_expiry": None,
                "license_params": {"sku_type": "free", "restrict_vtpm": "false"},
                "license_server": {"address": "localhost", "port": "27000"},
                "logging": {},
                "multipathing": pool_index % 2 == 1,
                "hvmCapable": True,
                "iscsiIqn": f"iqn.2025-01.org.example:{self._rng.getrandbits(32):08x}",
                "chipset_info": {"iommu": True},
                "certificates": [
                    {
                        "fingerprint": ":".join(
                            f"{self._rng.randrange(256):02X}" for _ in range(32)
                        ),
                        "notAfter": started + 3650 * _DAY,
                    }
                ],
                "supplementalPacks": [],
                "powerOnMode": "",
                "zstdSupported": True,
                "otherConfig": {"iscsi_iqn": "", "agent_start_time": f"{started}."},
                "tags": [],
                "current_operations": {},
            }
        )
        self._put("hosts", host)
        # A seeded subset of the catalogue, in catalogue order; some hosts are up to date.
        self._missing[host["id"]] = [p for p in _PATCHES if self._rng.random() < 0.4]
        return host

    def _build_controller(self, host: Obj) -> None:
        dom0 = self._vm_like(
            "VM-controller",
            host["$pool"],
            f"Control domain on host: {host['hostname']}",
            "The domain which manages physical devices and manages other domains",
            cpus=16,
            memory=8 * GIB,
            os_version={"name": "XCP-ng 8.3.0", "distro": "xcp-ng", "major": "8", "minor": "3"},
            install_time=host["startTime"] - 30 * _DAY,
        )
        dom0.update(
            {
                "power_state": "Running",
                "$container": host["id"],
                "startTime": host["startTime"],
                "virtualizationMode": "pv",
                "xenTools": False,
                "PV_args": "",
            }
        )
        self._put("vm-controllers", dom0)
        host["controlDomain"] = dom0["id"]
        host["residentVms"].append(dom0["id"])

    def _build_network(self, pool_id: str, index: int) -> Obj:
        network = self._xapi("network", pool_id)
        physical = index < 2
        network.update(
            {
                "name_label": f"Pool-wide network associated with eth{index}"
                if physical
                else f"VLAN {100 + index}",
                "name_description": "" if physical else "Tagged network on eth1",
                "bridge": f"xenbr{index}" if physical else f"xapi{index}",
                "MTU": 1500 if index != 1 else 9000,
                "PIFs": [],
                "VIFs": [],
                "automatic": index == 0,
                "defaultIsLocked": False,
                "isBonded": False,
                "nbd": index == 0,
                "insecureNbd": False,
                "other_config": {"automatic": "true"} if index == 0 else {},
                "tags": [],
                "current_operations": {},
            }
        )
        return self._put("networks", network)

    def _build_pif(self, host: Obj, network: Obj, index: int, ip: str) -> None:
        pif = self._xapi("PIF", host["$pool"])
        physical = index < 2
        pif.update(
            {
                "attached": True,
                "isBondMaster": False,
                "isBondSlave": False,
                "device": f"eth{index}" if physical else "eth1",
                "deviceName": "Ethernet Controller X710 for 10GbE SFP+",
                "dns": "10.0.0.53" if index == 0 else "",
                "disallowUnplug": index == 0,
                "gateway": ip.rsplit(".", 1)[0] + ".1" if index == 0 else "",
                "ip": ip if index < 2 else "",
                "ipv6": [],
                "mac": self._mac(),
                "management": index == 0,
                "carrier": True,
                "mode": "Static" if index < 2 else "None",
                "ipv6Mode": "None",
                "mtu": network["MTU"],
                "netmask": "255.255.255.0" if index < 2 else "",
                "physical": physical,
                "primaryAddressType": "IPv4",
                "vlan": -1 if physical else 100 + index,
                "speed": 10_000,
                "$host": host["id"],
                "$network": network["id"],
            }
        )
        self._put("pifs", pif)
        host["PIFs"].append(pif["id"])
        host["$PIFs"].append(pif["id"])
        network["PIFs"].append(pif["id"])

    def _build_host_devices(self, host: Obj) -> None:
        pci_ids = []
        devices = (
            ("Ethernet controller", "Ethernet Controller X710 for 10GbE SFP+", "0000:3b:00.0"),
            ("VGA compatible controller", "Integrated Matrox G200eW3 Graphics", "0000:03:00.0"),
        )
        for class_name, device_name, address in devices:
            pci = self._xapi("PCI", host["$pool"])
            pci.update(
                {
                    "class_name": class_name,
                    "device_name": device_name,
                    "pci_id": address,
                    "$host": host["id"],
                }
            )
            self._put("pcis", pci)
            pci_ids.append(pci["id"])
        host["PCIs"] = list(pci_ids)
        host["$PCIs"] = list(pci_ids)
        pgpu = self._xapi("PGPU", host["$pool"])
        pgpu.update(
            {
                "dom0Access": "enabled",
                "enabledVgpuTypes": [],
                "gpuGroup": self.new_uuid(),
                "isSystemDisplayDevice": True,
                "pci": pci_ids[1],
                "supportedVgpuTypes": [],
                "host": host["id"],
                "$host": host["id"],
                "vgpus": [],
                "$vgpus": [],
            }
        )
        self._put("pgpus", pgpu)
        host["PGPUs"] = [pgpu["id"]]
        host["$PGPUs"] = [pgpu["id"]]

    def _build_sms(self, pool_id: str) -> None:
        drivers = (
            ("ext", "Local EXT3 VHD", "FileSR"),
            ("lvm", "Local LVM", "LVMSR"),
            ("nfs", "NFS VHD", "NFSSR"),
            ("iso", "ISO", "ISOSR"),
            ("lvmoiscsi", "LVM over iSCSI", "LVMoISCSISR"),
        )
        for sm_type, label, driver in drivers:
            sm = self._xapi("SM", pool_id)
            sm.update(
                {
                    "name_label": label,
                    "name_description": f"SR plugin which represents disks as {label}",
                    "SM_type": sm_type,
                    "configuration": {"device": "local device path (required)"}
                    if sm_type in ("ext", "lvm")
                    else {},
                    "vendor": "Citrix Systems Inc / Vates SAS",
                    "features": {"SR_PROBE": 1, "SR_UPDATE": 1, "VDI_CREATE": 1, "VDI_SNAPSHOT": 1},
                    "driver_filename": f"/opt/xensource/sm/{driver}",
                    "required_cluster_stack": [],
                    "supported_image_formats": ["vhd", "qcow2"] if sm_type != "iso" else [],
                    "pool": pool_id,
                    "poolId": pool_id,
                }
            )
            self._put("sms", sm)

    def _build_sr(self, pool_id: str, kind: str, host: Obj | None, index: int = 0) -> Obj:
        sr = self._xapi("SR", pool_id)
        if kind == "local" and host is not None:
            sr_type, label, size, container = "ext", "Local storage", 900 * GIB, host["id"]
        elif kind == "iso":
            sr_type, label, size, container = "iso", "ISO library", 500 * GIB, pool_id
        else:
            sr_type = "nfs" if index % 2 == 0 else "lvmoiscsi"
            label = f"NFS-{index + 1:02d} VM storage" if sr_type == "nfs" else f"SAN-{index:02d}"
            size, container = 4 * 1024 * GIB, pool_id
        thick = sr_type == "lvmoiscsi"
        sr.update(
            {
                "name_label": label,
                "name_description": "" if kind != "iso" else "Installation media",
                "SR_type": sr_type,
                "content_type": "iso" if kind == "iso" else "user",
                "size": size,
                "physical_usage": 0,
                "usage": 0,
                "shared": kind != "local",
                "allocationStrategy": "thick" if thick else "thin",
                "inMaintenanceMode": False,
                "VDIs": [],
                "$PBDs": [],
                "$container": container,
                "other_config": {},
                "sm_config": {"allocation": "thick" if thick else "thin"},
                "tags": [],
                "current_operations": {},
            }
        )
        self._put("srs", sr)
        if host is not None:
            self._build_pbd(sr, host)
        return sr

    def _build_pbd(self, sr: Obj, host: Obj) -> None:
        configs = {
            "ext": {"device": "/dev/sda3"},
            "nfs": {"server": "10.0.0.40", "serverpath": "/export/vms", "nfsversion": "4.1"},
            "lvmoiscsi": {"target": "10.0.0.41", "targetIQN": "iqn.2024-03.org.example:san"},
            "iso": {"location": "10.0.0.40:/export/iso", "type": "nfs_iso"},
        }
        pbd = self._xapi("PBD", sr["$pool"])
        pbd.update(
            {
                "attached": True,
                "host": host["id"],
                "SR": sr["id"],
                "device_config": dict(configs.get(sr["SR_type"], {})),
                "otherConfig": {},
            }
        )
        self._put("pbds", pbd)
        sr["$PBDs"].append(pbd["id"])
        host["$PBDs"].append(pbd["id"])

    def _build_vdi(self, sr: Obj, name: str, size: int, vdi_type: str = "user") -> Obj:
        vdi = self._xapi("VDI", sr["$pool"])
        thin = sr["allocationStrategy"] == "thin"
        usage = int(size * self._rng.uniform(0.15, 0.7)) if thin else size
        vdi.update(
            {
                "name_label": name,
                "name_description": "",
                "size": size,
                "usage": usage,
                "chainPhysicalUsage": usage,
                "VDI_type": vdi_type,
                "$SR": sr["id"],
                "$VBDs": [],
                "snapshots": [],
                "parent": None,
                "missing": False,
                "cbt_enabled": False,
                "image_format": "vhd",
                "other_config": {},
                "tags": [],
                "current_operations": {},
            }
        )
        self._put("vdis", vdi)
        sr["VDIs"].append(vdi["id"])
        return vdi

    def _attach(
        self, vm: Obj, vdi: Obj, position: int, *, cd: bool = False, bootable: bool = False
    ) -> Obj:
        vbd = self._xapi("VBD", vm["$pool"])
        vbd.update(
            {
                "attached": vm["power_state"] in ("Running", "Paused"),
                "bootable": bootable,
                "device": f"xvd{'abcdefghij'[position]}",
                "is_cd_drive": cd,
                "position": str(position),
                "read_only": cd,
                "VDI": vdi["id"],
                "VM": vm["id"],
            }
        )
        self._put("vbds", vbd)
        vm["$VBDs"].append(vbd["id"])
        vdi["$VBDs"].append(vbd["id"])
        return vbd

    def _plug(self, vm: Obj, network: Obj, device: int, mac: str | None = None) -> Obj:
        vif = self._xapi("VIF", vm["$pool"])
        vif.update(
            {
                "allowedIpv4Addresses": [],
                "allowedIpv6Addresses": [],
                "attached": vm["power_state"] in ("Running", "Paused"),
                "device": str(device),
                "lockingMode": "network_default",
                "MAC": mac or self._mac(),
                "MTU": network["MTU"],
                "other_config": {},
                "txChecksumming": True,
                "$network": network["id"],
                "$VM": vm["id"],
            }
        )
        self._put("vifs", vif)
        vm["VIFs"].append(vif["id"])
        network["VIFs"].append(vif["id"])
        return vif

    # VM-like objects -----------------------------------------------------

    def _vm_like(
        self,
        type_: str,
        pool_id: str,
        name: str,
        description: str,
        *,
        cpus: int,
        memory: int,
        os_version: dict[str, str] | None,
        install_time: int | None,
    ) -> Obj:
        """Every key any VM sibling exposes, so the four collections share one shape."""
        vm = self._xapi(type_, pool_id)
        windows = bool(os_version and os_version.get("distro") == "windows")
        vm.update(
            {
                "name_label": name,
                "name_description": description,
                "power_state": "Halted",
                "CPUs": {"number": cpus, "max": 2 * cpus if type_ == "VM" else cpus},
                "memory": {
                    "dynamic": [memory, memory],
                    "static": [min(memory, 512 * MIB), memory],
                    "size": memory,
                    "usage": 0,
                },
                "virtualizationMode": "hvm",
                "boot": {"firmware": "uefi" if windows else "bios", "order": "cd"},
                "auto_poweron": False,
                "high_availability": "",
                "addresses": {},
                "mainIpAddress": None,
                "os_version": os_version,
                "$container": pool_id,
                "affinityHost": None,
                "VIFs": [],
                "$VBDs": [],
                "VGPUs": [],
                "$VGPUs": [],
                "VTPMs": [],
                "attachedPcis": [],
                "snapshots": [],
                "parent": None,
                "tags": [],
                "other": {"base_template_name": name} if type_ == "VM-template" else {},
                "xenStoreData": {"vm-data/mmio-hole-size": "268435456"},
                "bios_strings": {"bios-vendor": "Xen", "system-manufacturer": "Xen"},
                "blockedOperations": {},
                "current_operations": {},
                "creation": {"date": None, "user": None},
                "installTime": install_time,
                "startTime": None,
                "startDelay": 0,
                "secureBoot": windows,
                "isFirmwareSupported": True,
                "needsVtpm": windows,
                "hasVendorDevice": windows,
                "expNestedHvm": False,
                "isNestedVirtEnabled": False,
                "viridian": windows,
                "vga": "std" if windows else "cirrus",
                "videoram": 8,
                "coresPerSocket": None,
                "cpuCap": None,
                "cpuWeight": None,
                "cpuMask": None,
                "nicType": None,
                "notes": None,
                "PV_args": None,
                "resourceSet": None,
                "suspendSr": None,
                "suspendVdi": None,
                "pvDriversDetected": False,
                "pvDriversUpToDate": False,
                "pvDriversVersion": None,
                "managementAgentDetected": False,
                "xenTools": False,
                "docker": None,
                "vulnerabilities": {"xsa468": False},
            }
        )
        return vm

    def _build_template(self, pool_id: str, index: int, disk_sr: Obj | None) -> Obj:
        label, os_version = _TEMPLATES[index % len(_TEMPLATES)]
        windows = bool(os_version and os_version["distro"] == "windows")
        custom = index == 0
        name = f"{label} - cloud-init ready" if custom else label
        template = self._vm_like(
            "VM-template",
            pool_id,
            name,
            "Template with cloud-init"
            if custom
            else f"Template that allows VM installation from {label}",
            cpus=2 if windows else 1,
            memory=(4 if windows else 2) * GIB,
            os_version=os_version if custom else None,
            install_time=self._ago(200 * _DAY, 400 * _DAY) if custom else None,
        )
        disk_size = (32 if windows else 10) * GIB
        template.update(
            {
                "isDefaultTemplate": not custom,
                "template_info": {
                    "arch": "amd64",
                    "install_methods": [] if custom else ["cdrom", "http", "nfs"],
                    "disks": [
                        {
                            "bootable": True,
                            "device": "0",
                            "size": disk_size,
                            "SR": "",
                            "type": "system",
                        }
                    ],
                },
            }
        )
        if not custom:
            template["other"]["default_template"] = "true"
        self._put("vm-templates", template)
        if custom and disk_sr is not None:
            disk = self._build_vdi(disk_sr, f"{name} disk", disk_size)
            self._attach(template, disk, 0, bootable=True)
        return template

    def _build_vm(
        self,
        pool_id: str,
        pool_index: int,
        index: int,
        hosts: list[Obj],
        templates: list[Obj],
        disk_srs: list[Obj],
        networks: list[Obj],
        isos: list[Obj],
    ) -> None:
        rng = self._rng
        role = _VM_ROLES[index % len(_VM_ROLES)]
        # One VM in six runs Windows, so even the smallest pool has one.
        os_version = _OSES[4] if index % 6 == 5 else rng.choice(_OSES[:4])
        windows = os_version["distro"] == "windows"
        template = templates[index % len(templates)] if templates else None
        installed = self._ago(10 * _DAY, 700 * _DAY)
        environment = rng.choice(("prod", "prod", "staging", "dev"))
        vm = self._vm_like(
            "VM",
            pool_id,
            self._next_name(role),
            f"{role} server ({environment})",
            cpus=rng.choice((1, 2, 2, 4, 4, 8)),
            memory=rng.choice((1, 2, 4, 4, 8, 16)) * GIB,
            os_version=dict(os_version),
            install_time=installed,
        )
        ip = f"10.{100 + pool_index}.{index // 250}.{index % 250 + 2}"
        vm.update(
            {
                "addresses": {"0/ipv4/0": ip},
                "mainIpAddress": ip,
                "auto_poweron": environment == "prod",
                "high_availability": "restart" if environment == "prod" and role == "db" else "",
                "tags": [role, environment],
                "creation": {
                    "date": _iso(installed),
                    "template": None if template is None else template["id"],
                    "user": self._admin_id,
                },
                "pvDriversDetected": not windows,
                "pvDriversUpToDate": not windows,
                "pvDriversVersion": None if windows else {"major": "8", "minor": "3"},
                "managementAgentDetected": not windows,
                "xenTools": False if windows else {"major": 8, "minor": 3, "version": "8.3.0-1"},
            }
        )
        self._put("vms", vm)
        self._add_vm_devices(vm, role, windows, disk_srs, networks, isos, index)
        state = rng.choices(("Running", "Halted", "Suspended", "Paused"), (13, 5, 1, 1))[0]
        running_hosts = [h for h in hosts if h["enabled"]]
        if state in ("Running", "Paused") and running_hosts:
            host = running_hosts[index % len(running_hosts)]
            vm.update({"power_state": state, "$container": host["id"]})
            vm["startTime"] = self._ago(3600, 40 * _DAY)
            vm["memory"]["usage"] = int(vm["memory"]["size"] * rng.uniform(0.3, 0.9))
            host["residentVms"].append(vm["id"])
            self._set_devices_attached(vm, attached=True)
        elif state == "Suspended":
            vm["power_state"] = "Suspended"

    def _add_vm_devices(
        self,
        vm: Obj,
        role: str,
        windows: bool,
        disk_srs: list[Obj],
        networks: list[Obj],
        isos: list[Obj],
        index: int,
    ) -> None:
        if disk_srs:
            sr = disk_srs[index % len(disk_srs)]
            system = self._build_vdi(
                sr, f"{vm['name_label']} system", (64 if windows else 20) * GIB
            )
            self._attach(vm, system, 0, bootable=True)
            if role == "db":
                data = self._build_vdi(sr, f"{vm['name_label']} data", 200 * GIB)
                self._attach(vm, data, 1)
        if isos and index % 4 == 0:
            self._attach(vm, isos[index % len(isos)], 3, cd=True)
        for device, network in enumerate(networks[: 2 if role == "db" else 1]):
            self._plug(vm, network, device)

    def _build_snapshots(self) -> None:
        vm_ids = list(self._data["vms"])
        if not vm_ids:
            return
        for _ in range(self._size.snapshots):
            vm = self._data["vms"][self._rng.choice(vm_ids)]
            when = self._ago(_DAY, 30 * _DAY)
            self._snapshot(vm, f"{vm['name_label']}_{_iso(when)}", when)

    # messages, servers -----------------------------------------------------

    def _build_messages(self) -> None:
        total = self._size.messages
        alarm_count = min(total, max(3, total // 5))
        built = [self._alarm_message(i) for i in range(alarm_count)]
        built += [self._plain_message(i) for i in range(total - alarm_count)]
        # Stored oldest first, as XAPI lists them.
        for message in sorted((m for m in built if m is not None), key=lambda m: m["time"]):
            self._put("messages", message)

    def _message(self, name: str, body: str, target: Obj) -> Obj:
        message = self._xapi("message", target["$pool"])
        message.update(
            {"name": name, "body": body, "time": self._ago(60, 7 * _DAY), "$object": target["id"]}
        )
        return message

    def _pick(self, segment: str) -> Obj | None:
        objects = self._data[segment]
        if not objects:
            return None
        return objects[self._rng.choice(list(objects))]

    def _alarm_message(self, index: int) -> Obj | None:
        kind = index % 5
        if kind == 3:
            pif = self._pick("pifs")
            if pif is not None:
                body = "The status of the eth0+eth1 bond changed: 1/2 up"
                return self._message("BOND_STATUS_CHANGED", body, pif)
        if kind == 4:
            host = self._pick("hosts")
            if host is not None:
                body = (
                    f'[{_iso(_EPOCH)}] host={host["uuid"]}; host-name="{host["name_label"]}"; '
                    "pbd=; scsi_id=36001405a1b2c3d4e5f6; current=1; max=2"
                )
                return self._message("MULTIPATH_PERIODIC_ALERT", body, host)
        segment, variable, level = (
            ("srs", "physical_utilisation", 0.8),
            ("hosts", "cpu_usage", 0.9),
            ("vms", "cpu_usage", 0.95),
        )[index % 3]
        target = self._pick(segment) or self._pick("pools")
        if target is None:
            return None
        value = round(self._rng.uniform(level, 1.0), 4)
        body = _ALARM_BODY.format(value=value, name=variable, level=level)
        return self._message("ALARM", body, target)

    def _plain_message(self, index: int) -> Obj | None:
        name, segment, template = _MESSAGE_KINDS[index % len(_MESSAGE_KINDS)]
        target = self._pick(segment)
        if target is None:
            return None
        return self._message(name, template.format(name=target["name_label"]), target)

    def _build_servers(self) -> None:
        for index, pool in enumerate(self._data["pools"].values()):
            self._put("servers", self._server(f"10.{index}.0.11", pool["name_label"], pool))
        # A decommissioned lab XAPI that XO still knows about but cannot reach.
        stale = self._server("10.250.0.10", "Old lab (decommissioned)", None)
        stale.update({"status": "disconnected", "enabled": False, "error": None})
        self._put("servers", stale)

    def _server(self, address: str, label: str, pool: Obj | None) -> Obj:
        return {
            "id": self.new_uuid(),
            "host": address,
            "label": label,
            "username": "root",
            "allowUnauthorized": True,
            "enabled": True,
            "readOnly": False,
            "status": "connected",
            "poolId": None if pool is None else pool["id"],
            "poolNameLabel": None if pool is None else pool["name_label"],
        }

    # backups ------------------------------------------------------------

    def _build_backup_repositories(self) -> None:
        repos = (
            ("NFS backups", "nfs://10.0.0.50:/export/xo-backups", True, 20),
            ("S3 offsite", "s3://backups.s3.eu-west-3.amazonaws.com/xo-offsite", True, 0),
            ("Old SMB share", "smb://WORKGROUP\\backup@10.0.0.51\\xo", False, 8),
        )
        for name, url, enabled, capacity_tib in repos:
            repo: Obj = {
                "id": self.new_uuid(),
                "name": name,
                "url": url,
                "enabled": enabled,
                "benchmarks": [
                    {
                        "readRate": self._rng.randint(50, 400) * MIB,
                        "writeRate": self._rng.randint(40, 300) * MIB,
                        "timestamp": self._ago(_DAY, 20 * _DAY) * 1000,
                    }
                ],
            }
            self._put("backup-repositories", repo)
            self._repo_capacity[repo["id"]] = capacity_tib * 1024 * GIB

    def _build_backup_jobs(self) -> None:
        kinds = ("backup", "metadataBackup", "mirrorBackup")
        for index in range(self._size.backup_jobs):
            kind = kinds[index] if index < len(kinds) else "backup"
            job = {
                "backup": self._vm_backup_job,
                "metadataBackup": self._metadata_job,
                "mirrorBackup": self._mirror_job,
            }[kind](index)
            schedule_id = self.new_uuid()
            job["settings"][schedule_id] = job["settings"].pop("<schedule>")
            self._put("backup-jobs", job)
            self._put("schedules", self._schedule(schedule_id, job, index))
            for run in range(2):
                self._put("backup-logs", self._backup_log(job, schedule_id, index, run))

    def _repo_ids(self) -> list[str]:
        return list(self._data["backup-repositories"])

    def _vm_backup_job(self, index: int) -> Obj:
        vms = list(self._data["vms"])
        if index == 0:
            pattern: Obj = {"id": {"__or": vms[: max(1, min(4, len(vms) // 2))]}}
            name, mode = "Daily delta - critical VMs", "delta"
        else:
            pattern = {"type": "VM", "tags": ["prod"]}
            name, mode = f"Weekly full - prod #{index}", "full"
        srs = [sr["id"] for sr in self._data["srs"].values() if sr["shared"]][:1]
        return {
            "id": self.new_uuid(),
            "type": "backup",
            "name": name,
            "mode": mode,
            "compression": "zstd" if mode == "full" else "",
            "proxy": None,
            "vms": pattern,
            "remotes": {"id": {"__or": self._repo_ids()[:1]}},
            "srs": {"id": {"__or": srs if index == 0 else []}},
            "settings": {
                "": {
                    "timezone": "Europe/Paris",
                    "reportWhen": "failure",
                    "reportRecipients": ["ops@example.org"],
                    "concurrency": 2,
                    "offlineSnapshot": False,
                    "checkpointSnapshot": False,
                    "nRetriesVmBackupFailures": 1,
                    "preferNbd": True,
                    "nbdConcurrency": 4,
                    "longTermRetention": {},
                    "backupReportTpl": "compactMjml",
                    "hideSuccessfulItems": True,
                },
                "<schedule>": {"exportRetention": 7, "snapshotRetention": 2, "copyRetention": 3},
            },
        }

    def _metadata_job(self, index: int) -> Obj:
        # The generic collection exposes the VM-backup keys on every job; absent ones are null.
        return {
            "id": self.new_uuid(),
            "type": "metadataBackup",
            "name": "XO config and pool metadata",
            "mode": None,
            "vms": None,
            "srs": None,
            "proxy": None,
            "remotes": {"id": {"__or": self._repo_ids()[:2]}},
            "xoMetadata": True,
            "pools": {"id": {"__or": list(self._data["pools"])}},
            "userId": self._admin_id,
            "settings": {
                "": {"reportWhen": "failure"},
                "<schedule>": {"retentionXoMetadata": 7, "retentionPoolMetadata": 7},
            },
        }

    def _mirror_job(self, index: int) -> Obj:
        repos = self._repo_ids()
        return {
            "id": self.new_uuid(),
            "type": "mirrorBackup",
            "name": "Mirror NFS to S3",
            "mode": "delta",
            "vms": None,
            "srs": None,
            "proxy": None,
            "sourceRemote": repos[0],
            "remotes": {"id": {"__or": repos[1:2]}},
            "settings": {
                "": {"reportWhen": "always", "concurrency": 1},
                "<schedule>": {"exportRetention": 14},
            },
        }

    def _schedule(self, schedule_id: str, job: Obj, index: int) -> Obj:
        hour = 1 + index % 5
        return {
            "id": schedule_id,
            "jobId": job["id"],
            "name": f"{job['name']} - nightly" if index % 2 == 0 else f"{job['name']} - weekly",
            "cron": f"0 {hour} * * *" if index % 2 == 0 else f"30 {hour} * * 6",
            "enabled": index != 2,
            "timezone": "Europe/Paris",
            "userId": self._admin_id,
        }

    def _backup_log(self, job: Obj, schedule_id: str, index: int, run: int) -> Obj:
        start = (_EPOCH - (run + 1) * _DAY - index * 600 - self._rng.randint(0, 300)) * 1000
        end = start + self._rng.randint(60, 3600) * 1000
        status = "failure" if (index + run) % 4 == 3 else "success"
        tasks: list[Obj] = []
        if job["type"] == "backup":
            for vm_id in self._job_vm_ids(job)[:3]:
                tasks.append(
                    {
                        "id": self._task_id(start),
                        "message": "backup VM",
                        "data": {"type": "VM", "id": vm_id},
                        "start": start,
                        "end": end,
                        "status": status,
                        "result": {} if status == "success" else {"message": "VDI_IO_ERROR"},
                        "tasks": [],
                    }
                )
        return {
            "id": str(start),
            "jobId": job["id"],
            "jobName": job["name"],
            "scheduleId": schedule_id,
            "message": "backup" if job["type"] != "metadataBackup" else "metadata",
            "data": {"mode": job.get("mode"), "reportWhen": job["settings"][""]["reportWhen"]},
            "start": start,
            "end": end,
            "status": status,
            "infos": [{"message": "vms", "data": {"vms": self._job_vm_ids(job)[:3]}}]
            if job["type"] == "backup"
            else [],
            "tasks": tasks,
        }

    def _vm_disks(self, vm_id: str) -> list[Obj]:
        return [vdi for segment, vdi in self.vdis_of(vm_id) if segment == "vdis"]

    def _is_iso(self, vdi: Obj) -> bool:
        sr = self._data["srs"].get(vdi.get("$SR") or "")
        return sr is None or sr["content_type"] == "iso"

    def _job_vm_ids(self, job: Obj) -> list[str]:
        return [vm_id for vm_id, vm in self._data["vms"].items() if _matches(job.get("vms"), vm)]

    def _build_backup_archives(self) -> None:
        jobs = [j for j in self._data["backup-jobs"].values() if j["type"] == "backup"]
        if not jobs:
            return
        job = jobs[0]
        schedule_id = next((k for k in job["settings"] if k), "")
        repo_id = job["remotes"]["id"]["__or"][0]
        for vm_id in self._job_vm_ids(job)[:3]:
            for age in (1, 2):
                self._put("backup-archives", self._archive(job, schedule_id, repo_id, vm_id, age))

    def _archive(self, job: Obj, schedule_id: str, repo_id: str, vm_id: str, age: int) -> Obj:
        vm = self._data["vms"][vm_id]
        timestamp = (_EPOCH - age * _DAY + self._rng.randint(3600, 7200)) * 1000
        stamp = _iso(timestamp / 1000).replace("-", "").replace(":", "").replace(".000", "")
        own_disks = [vdi for vdi in self._vm_disks(vm_id) if not self._is_iso(vdi)]
        disks = [
            {
                "id": f"/xo-vm-backups/{vm_id}/vdis/{job['id']}/{vdi['id']}/{stamp}.vhd",
                "name": vdi["name_label"],
                "uuid": vdi["id"],
            }
            for vdi in own_disks
        ]
        return {
            "id": f"{repo_id}//xo-vm-backups/{vm_id}/{stamp}.json",
            "type": "delta",
            "backupRepository": repo_id,
            "disks": disks,
            "jobId": job["id"],
            "mode": job["mode"],
            "scheduleId": schedule_id,
            "size": sum(vdi["usage"] for vdi in own_disks) // (2 * age),
            "timestamp": timestamp,
            "vm": {
                "uuid": vm_id,
                "name_label": vm["name_label"],
                "name_description": vm["name_description"],
            },
            "differencingVhds": 0 if age == 2 else len(disks),
            "dynamicVhds": len(disks),
            "withMemory": False,
        }

    def _build_restore_logs(self) -> None:
        archives = list(self._data["backup-archives"].values())
        srs = [sr["id"] for sr in self._data["srs"].values() if sr["shared"]]
        for index in range(2):
            archive = archives[index] if index < len(archives) else None
            start = (_EPOCH - (index + 3) * _DAY) * 1000
            success = index == 0
            log = {
                "id": str(start),
                "message": "restore",
                "data": {
                    "backupId": None if archive is None else archive["id"],
                    "jobId": None if archive is None else archive["jobId"],
                    "srId": srs[0] if srs else None,
                    "time": None if archive is None else archive["timestamp"],
                },
                "start": start,
                "end": start + self._rng.randint(120, 900) * 1000,
                "status": "success" if success else "failure",
                "tasks": [],
                "result": {"id": self.new_uuid()}
                if success
                else {"message": "SR_BACKEND_FAILURE_44", "name": "XapiError"},
            }
            self._put("restore-logs", log)

    def _build_proxies(self) -> None:
        vm_ids = list(self._data["vms"])
        for index, site in enumerate(("paris", "lyon")):
            proxy = {
                "id": self.new_uuid(),
                "name": f"xo-proxy-{site}",
                "vmUuid": vm_ids[index] if index < len(vm_ids) else None,
                "url": f"https://10.{index}.0.250",
                "version": "0.29.24",
            }
            self._put("proxies", proxy)

    # tasks ----------------------------------------------------------------

    def _build_tasks(self) -> None:
        vms = list(self._data["vms"])
        users = list(self._data["users"])
        target = vms[0] if vms else None
        other = vms[1] if len(vms) > 1 else target
        history = (
            ("REST API: start VM", "xo:rest-api:action", target, "success", None),
            ("REST API: snapshot VM", "xo:rest-api:action", other, "success", None),
            ("API call: vm.migrate", "api.call", other, "failure", "VM_BAD_POWER_STATE"),
            ("XO user authentication", "xo:authentication:authenticateUser", None, "failure", ""),
        )
        for index, (name, kind, object_id, status, error) in enumerate(history):
            start = (_EPOCH - (len(history) - index) * 3 * 3600) * 1000
            end = start + self._rng.randint(2, 40) * 1000
            properties: Obj = {"name": name, "type": kind, "userId": users[0] if users else None}
            if object_id is not None:
                properties.update(objectId=object_id, objectType="VM")
            if kind == "api.call":
                properties.update(method="vm.migrate", params={"id": object_id})
            result: Any = {"id": object_id} if status == "success" else None
            if error is not None:
                result = {"name": "XapiError", "message": error or "invalid credentials"}
                if error:
                    result["code"] = error
            task = {
                "id": self._task_id(start),
                "properties": properties,
                "start": start,
                "status": status,
                "updatedAt": end,
                "end": end,
                "result": result,
            }
            self._put("tasks", task)

    # ------------------------------------------------------------------ mutation helpers

    def _snapshot(self, vm: Obj, name: str, when: int) -> str:
        snapshot = self._copy_vm_like(vm, "VM-snapshot", name)
        snapshot.update(
            {
                "power_state": "Halted",
                "$container": vm["$pool"],
                "$snapshot_of": vm["id"],
                "snapshot_time": when,
                "parent": vm.get("parent"),
            }
        )
        self._put("vm-snapshots", snapshot)
        for vbd_id in list(vm["$VBDs"]):
            vbd = self._data["vbds"].get(vbd_id)
            disk = self._data["vdis"].get(vbd["VDI"]) if vbd else None
            if vbd is None or disk is None or vbd["is_cd_drive"]:
                continue
            copy_ = self._snapshot_vdi(disk, when)
            self._attach(snapshot, copy_, int(vbd["position"]), bootable=vbd["bootable"])
        for vif_id in vm["VIFs"]:
            vif = self._data["vifs"].get(vif_id)
            network = self._data["networks"].get(vif["$network"]) if vif else None
            if vif is not None and network is not None:
                self._plug(snapshot, network, int(vif["device"]), vif["MAC"])
        vm["snapshots"].append(snapshot["id"])
        vm["parent"] = snapshot["id"]
        return str(snapshot["id"])

    def _snapshot_vdi(self, disk: Obj, when: int) -> Obj:
        sr = self._data["srs"][disk["$SR"]]
        snap = self._xapi("VDI-snapshot", disk["$pool"])
        snap.update({k: copy.deepcopy(v) for k, v in disk.items() if k not in snap})
        snap.update(
            {
                "usage": max(1, disk["usage"] // 10),
                "$VBDs": [],
                "snapshots": [],
                "snapshot_time": when,
                "$snapshot_of": disk["id"],
                "tags": [],
            }
        )
        self._put("vdi-snapshots", snap)
        sr["VDIs"].append(snap["id"])
        disk["snapshots"].append(snap["id"])
        self._refresh_sr(sr["id"])
        return snap

    def _copy_vm_like(self, source: Obj, type_: str, name: str) -> Obj:
        """A fresh object with the source's settings but none of its identity or devices."""
        fresh = self._xapi(type_, source["$pool"])
        dropped = {"isDefaultTemplate", "template_info", "$snapshot_of", "snapshot_time"}
        for key, value in source.items():
            if key not in fresh and key not in dropped:
                fresh[key] = copy.deepcopy(value)
        fresh.update(
            {
                "name_label": name,
                "$VBDs": [],
                "VIFs": [],
                "snapshots": [],
                "startTime": None,
                "parent": None,
            }
        )
        fresh["memory"]["usage"] = 0
        return fresh

    def _copy_disks(self, source: Obj, vm: Obj) -> None:
        copied = False
        for vbd_id in source["$VBDs"]:
            vbd = self._data["vbds"].get(vbd_id)
            found = self._find_vdi(vbd["VDI"]) if vbd else None
            if vbd is None or found is None:
                continue
            disk = found[1]
            position = int(vbd["position"])
            if vbd["is_cd_drive"]:
                self._attach(vm, disk, position, cd=True)
                continue
            sr = self._data["srs"][disk["$SR"]]
            label = str(disk["name_label"]).replace(source["name_label"], vm["name_label"])
            clone = self._build_vdi(sr, label, disk["size"])
            self._attach(vm, clone, position, bootable=vbd["bootable"])
            self._refresh_sr(sr["id"])
            copied = True
        if copied or source["type"] != "VM-template":
            return
        # Default templates carry disk specs instead of disks.
        pool = self._data["pools"].get(source["$pool"])
        default_sr = self._data["srs"].get((pool or {}).get("default_SR") or "")
        if default_sr is None:
            return
        for spec in source.get("template_info", {}).get("disks", []):
            disk = self._build_vdi(default_sr, f"{vm['name_label']} {spec['type']}", spec["size"])
            self._attach(vm, disk, int(spec["device"]), bootable=spec["bootable"])
        self._refresh_sr(default_sr["id"])

    def _copy_vifs(self, source: Obj, vm: Obj) -> None:
        for vif_id in source["VIFs"]:
            vif = self._data["vifs"].get(vif_id)
            network = self._data["networks"].get(vif["$network"]) if vif else None
            if vif is not None and network is not None:
                self._plug(vm, network, int(vif["device"]))
        if vm["VIFs"]:
            return
        # A VM without any network is useless; XO's VM creation adds one on the first network.
        network = next(
            (n for n in self._data["networks"].values() if n["$pool"] == vm["$pool"]), None
        )
        if network is not None:
            self._plug(vm, network, 0)

    def _evict(self, vm: Obj) -> None:
        host = self._data["hosts"].get(vm.get("$container") or "")
        if host is None:
            return
        _remove(host["residentVms"], vm["id"])
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

    # delete cleanups: each removes what would dangle once the object is gone ---------

    def _forget_vm_like(self, vm: Obj) -> None:
        self._evict(vm)
        for vbd_id in list(vm.get("$VBDs", [])):
            vbd = self._data["vbds"].get(vbd_id)
            if vbd is None:
                continue
            self._forget_vbd(vbd)
            self._data["vbds"].pop(vbd_id, None)
            found = self._find_vdi(vbd.get("VDI"))
            # XO destroys a deleted VM's own disks, never shared ISOs or disks in use elsewhere.
            if found and not vbd["is_cd_drive"] and not found[1]["$VBDs"]:
                self.delete(found[0], found[1]["id"])
        for vif_id in list(vm.get("VIFs", [])):
            vif = self._data["vifs"].pop(vif_id, None)
            if vif is not None:
                self._forget_vif(vif)
        for snapshot_id in vm.get("snapshots", []):
            snapshot = self._data["vm-snapshots"].get(snapshot_id)
            if snapshot is not None:
                snapshot["$snapshot_of"] = None
        origin = self._data["vms"].get(vm.get("$snapshot_of") or "")
        if origin is not None:
            _remove(origin["snapshots"], vm["id"])
            if origin.get("parent") == vm["id"]:
                origin["parent"] = vm.get("parent")
        for host in self._data["hosts"].values():
            if host.get("controlDomain") == vm["id"]:
                host["controlDomain"] = None

    def _forget_vdi(self, vdi: Obj) -> None:
        for vbd_id in list(vdi.get("$VBDs", [])):
            vbd = self._data["vbds"].pop(vbd_id, None)
            if vbd is not None:
                vm = self._find_vm_like(vbd["VM"])
                if vm is not None:
                    _remove(vm["$VBDs"], vbd_id)
        sr = self._data["srs"].get(vdi.get("$SR") or "")
        if sr is not None:
            _remove(sr["VDIs"], vdi["id"])
        for snapshot_id in vdi.get("snapshots", []):
            snapshot = self._data["vdi-snapshots"].get(snapshot_id)
            if snapshot is not None:
                snapshot["$snapshot_of"] = None
        origin = self._data["vdis"].get(vdi.get("$snapshot_of") or "")
        if origin is not None:
            _remove(origin["snapshots"], vdi["id"])
        if sr is not None:
            self._refresh_sr(sr["id"])

    def _forget_vbd(self, vbd: Obj) -> None:
        vm = self._find_vm_like(vbd.get("VM") or "")
        if vm is not None:
            _remove(vm["$VBDs"], vbd["id"])
        found = self._find_vdi(vbd.get("VDI"))
        if found is not None:
            _remove(found[1]["$VBDs"], vbd["id"])

    def _forget_vif(self, vif: Obj) -> None:
        vm = self._find_vm_like(vif.get("$VM") or "")
        if vm is not None:
            _remove(vm["VIFs"], vif["id"])
        network = self._data["networks"].get(vif.get("$network") or "")
        if network is not None:
            _remove(network["VIFs"], vif["id"])

    def _forget_pif(self, pif: Obj) -> None:
        host = self._data["hosts"].get(pif.get("$host") or "")
        if host is not None:
            _remove(host["PIFs"], pif["id"])
            _remove(host["$PIFs"], pif["id"])
        network = self._data["networks"].get(pif.get("$network") or "")
        if network is not None:
            _remove(network["PIFs"], pif["id"])

    def _forget_network(self, network: Obj) -> None:
        for vif_id in list(network["VIFs"]):
            if vif_id in self._data["vifs"]:
                self.delete("vifs", vif_id)
        for pif_id in list(network["PIFs"]):
            if pif_id in self._data["pifs"]:
                self.delete("pifs", pif_id)

    def _forget_pbd(self, pbd: Obj) -> None:
        host = self._data["hosts"].get(pbd.get("host") or "")
        if host is not None:
            _remove(host["$PBDs"], pbd["id"])
        sr = self._data["srs"].get(pbd.get("SR") or "")
        if sr is not None:
            _remove(sr["$PBDs"], pbd["id"])

    def _forget_sr(self, sr: Obj) -> None:
        for vdi_id in list(sr["VDIs"]):
            found = self._find_vdi(vdi_id)
            if found is not None:
                self.delete(found[0], vdi_id)
        for pbd_id in list(sr["$PBDs"]):
            if pbd_id in self._data["pbds"]:
                self.delete("pbds", pbd_id)
        for pool in self._data["pools"].values():
            for key in ("default_SR", "crashDumpSr", "suspendSr"):
                if pool.get(key) == sr["id"]:
                    pool[key] = None
            _remove(pool["haSrs"], sr["id"])

    def _forget_host(self, host: Obj) -> None:
        for vm_id in list(host["residentVms"]):
            if vm_id in self._data["vms"]:
                self.set_power_state(vm_id, "Halted")
        for segment, key in (("pifs", "$PIFs"), ("pbds", "$PBDs"), ("pcis", "$PCIs")):
            for object_id in list(host[key]):
                if object_id in self._data[segment]:
                    self.delete(segment, object_id)
        for pgpu_id in list(host["$PGPUs"]):
            self._data["pgpus"].pop(pgpu_id, None)
        if host.get("controlDomain") in self._data["vm-controllers"]:
            self.delete("vm-controllers", host["controlDomain"])
        pool = self._data["pools"].get(host["$pool"])
        if pool is not None and pool.get("master") == host["id"]:
            others = [h["id"] for h in self._hosts_of(pool["id"]) if h["id"] != host["id"]]
            pool["master"] = others[0] if others else None

    def _forget_pci(self, pci: Obj) -> None:
        host = self._data["hosts"].get(pci.get("$host") or "")
        if host is not None:
            _remove(host["PCIs"], pci["id"])
            _remove(host["$PCIs"], pci["id"])

    def _forget_pgpu(self, pgpu: Obj) -> None:
        host = self._data["hosts"].get(pgpu.get("$host") or "")
        if host is not None:
            _remove(host["PGPUs"], pgpu["id"])
            _remove(host["$PGPUs"], pgpu["id"])

    def _forget_user(self, user: Obj) -> None:
        for group in self._data["groups"].values():
            _remove(group["users"], user["id"])
        for role in self._data["acl-roles"].values():
            _remove(role.get("userIds"), user["id"])

    def _forget_group(self, group: Obj) -> None:
        for user in self._data["users"].values():
            _remove(user.get("groups"), group["id"])
        for role in self._data["acl-roles"].values():
            _remove(role.get("groupIds"), group["id"])

    def _forget_role(self, role: Obj) -> None:
        for privilege_id in list(role.get("privilegeIds", [])):
            self._data["acl-privileges"].pop(privilege_id, None)
        for privilege_id, privilege in list(self._data["acl-privileges"].items()):
            if privilege.get("roleId") == role["id"]:
                self._data["acl-privileges"].pop(privilege_id)
        for group in self._data["groups"].values():
            _remove(group.get("aclRoleIds"), role["id"])

    def _forget_privilege(self, privilege: Obj) -> None:
        role = self._data["acl-roles"].get(privilege.get("roleId") or "")
        if role is not None:
            _remove(role.get("privilegeIds"), privilege["id"])

    def _forget_backup_job(self, job: Obj) -> None:
        for schedule_id, schedule in list(self._data["schedules"].items()):
            if schedule.get("jobId") == job["id"]:
                self._data["schedules"].pop(schedule_id)

    def _forget_backup_repository(self, repo: Obj) -> None:
        for archive_id, archive in list(self._data["backup-archives"].items()):
            if archive.get("backupRepository") == repo["id"]:
                self._data["backup-archives"].pop(archive_id)
        for job in self._data["backup-jobs"].values():
            targets = (job.get("remotes") or {}).get("id", {}).get("__or")
            _remove(targets, repo["id"])
        self._repo_capacity.pop(repo["id"], None)

    def _forget_schedule(self, schedule: Obj) -> None:
        job = self._data["backup-jobs"].get(schedule.get("jobId") or "")
        if job is not None:
            job.get("settings", {}).pop(schedule["id"], None)

    _CLEANUPS: ClassVar[dict[str, Callable[[Inventory, Obj], None]]] = {
        "vms": _forget_vm_like,
        "vm-templates": _forget_vm_like,
        "vm-snapshots": _forget_vm_like,
        "vm-controllers": _forget_vm_like,
        "vdis": _forget_vdi,
        "vdi-snapshots": _forget_vdi,
        "vbds": _forget_vbd,
        "vifs": _forget_vif,
        "pifs": _forget_pif,
        "networks": _forget_network,
        "pbds": _forget_pbd,
        "srs": _forget_sr,
        "hosts": _forget_host,
        "pcis": _forget_pci,
        "pgpus": _forget_pgpu,
        "users": _forget_user,
        "groups": _forget_group,
        "acl-roles": _forget_role,
        "acl-privileges": _forget_privilege,
        "backup-jobs": _forget_backup_job,
        "schedules": _forget_schedule,
        "backup-repositories": _forget_backup_repository,
    }

    # ------------------------------------------------------------------ view helpers

    def _alarm_view(self, message: Obj) -> Obj:
        target_id = message.get("$object") or ""
        segment = self._segment_of(target_id)
        target: Obj = {"type": "unknown", "uuid": target_id}
        if segment is not None:
            target = {
                "type": self._data[segment][target_id].get("type", XO_TYPES[segment]),
                "uuid": target_id,
                "href": f"/rest/v0/{segment}/{target_id}",
            }
        return {
            "id": message["id"],
            "uuid": message["uuid"],
            "type": "message",
            "name": message["name"],
            "$pool": message["$pool"],
            "$poolId": message["$poolId"],
            "_xapiRef": message["_xapiRef"],
            "time": message["time"] * 1000,
            "body": self._alarm_body(message),
            "object": target,
        }

    @staticmethod
    def _alarm_body(message: Obj) -> dict[str, str]:
        body = str(message.get("body", ""))
        value = _ALARM_VALUE.search(body)
        variable = _ALARM_VAR.search(body)
        if value is None or variable is None:
            # Not a performance alarm: XO keeps the text and names it after the message.
            return {"value": body, "name": str(message["name"])}
        return {"value": f"{float(value.group(1)) * 100:.1f}", "name": variable.group(1)}

    @staticmethod
    def _patch_view(patch: dict[str, Any]) -> Obj:
        return {
            "name": patch["name"],
            "version": patch["version"],
            "release": patch["release"],
            "description": patch["description"],
            "license": patch["license"],
            "size": patch["size"],
            "url": "https://updates.xcp-ng.org/8/8.3/base/x86_64/Packages/"
            f"{patch['name']}-{patch['version']}-{patch['release']}.x86_64.rpm",
            "changelog": {
                "date": _EPOCH - 5 * _DAY,
                "author": "Vates <packaging@vates.tech>",
                "description": f"- Update {patch['name']} to {patch['version']}",
            },
        }

    def _hosts_status(self, hosts: list[Obj]) -> dict[str, int]:
        running = sum(1 for h in hosts if h["power_state"] == "Running" and h["enabled"])
        disabled = sum(1 for h in hosts if h["power_state"] == "Running" and not h["enabled"])
        halted = sum(1 for h in hosts if h["power_state"] == "Halted")
        return {
            "running": running,
            "halted": halted,
            "disabled": disabled,
            "unknown": len(hosts) - running - disabled - halted,
            "total": len(hosts),
        }

    def _vms_status(self, vms: list[Obj]) -> dict[str, int]:
        counts = dict.fromkeys(("Running", "Halted", "Paused", "Suspended"), 0)
        for vm in vms:
            if vm["power_state"] in counts:
                counts[vm["power_state"]] += 1
        known = sum(counts.values())
        return {
            "running": counts["Running"],
            "halted": counts["Halted"],
            "paused": counts["Paused"],
            "suspended": counts["Suspended"],
            "active": counts["Running"] + counts["Paused"],
            "inactive": counts["Halted"] + counts["Suspended"],
            "unknown": len(vms) - known,
            "total": len(vms),
        }

    def _pools_status(self) -> dict[str, int]:
        connected = {
            s["poolId"] for s in self._data["servers"].values() if s["status"] == "connected"
        }
        total = len(self._data["pools"])
        up = sum(1 for pool_id in self._data["pools"] if pool_id in connected)
        return {
            "connected": up,
            "disconnected": total - up,
            "unreachable": 0,
            "unknown": 0,
            "total": total,
        }

    @staticmethod
    def _storage_size(srs: Iterable[Obj]) -> dict[str, int]:
        srs = list(srs)
        total = sum(sr["size"] for sr in srs)
        used = sum(min(sr["physical_usage"], sr["size"]) for sr in srs)
        return {
            "available": total - used,
            "other": 0,
            "replicated": 0,
            "total": total,
            "used": used,
        }

    def _backup_repositories_overview(self) -> Obj:
        repos = list(self._data["backup-repositories"].values())
        if not repos:
            return {"isEmpty": True}
        per_repo: dict[str, int] = {}
        for archive in self._data["backup-archives"].values():
            repo = archive["backupRepository"]
            per_repo[repo] = per_repo.get(repo, 0) + archive["size"]
        s3 = [r for r in repos if str(r["url"]).startswith("s3://")]
        other = [r for r in repos if r not in s3]
        total = sum(self._repo_capacity.get(r["id"], 0) for r in other)
        backups = sum(per_repo.get(r["id"], 0) for r in other)
        used = min(total, backups + total // 20)
        return {
            "s3": {"size": {"backups": sum(per_repo.get(r["id"], 0) for r in s3)}},
            "other": {
                "size": {
                    "available": total - used,
                    "backups": backups,
                    "other": used - backups,
                    "total": total,
                    "used": used,
                }
            },
        }

    def _backups_overview(self) -> Obj:
        jobs = list(self._data["backup-jobs"].values())
        if not jobs:
            return {"isEmpty": True}
        enabled_jobs = {s["jobId"] for s in self._data["schedules"].values() if s.get("enabled")}
        last: dict[str, Obj] = {}
        for log in self._data["backup-logs"].values():
            previous = last.get(log["jobId"])
            if previous is None or log["start"] > previous["start"]:
                last[log["jobId"]] = log
        statuses = [last[j["id"]]["status"] for j in jobs if j["id"] in last]
        covered: set[str] = set()
        protected: set[str] = set()
        for job in jobs:
            if job["type"] != "backup":
                continue
            vm_ids = self._job_vm_ids(job)
            covered.update(vm_ids)
            # A VM is protected when at least one of its jobs last succeeded.
            if last.get(job["id"], {}).get("status") == "success":
                protected.update(vm_ids)
        return {
            "jobs": {
                "disabled": sum(1 for j in jobs if j["id"] not in enabled_jobs),
                "failed": statuses.count("failure"),
                "skipped": statuses.count("skipped"),
                "successful": statuses.count("success"),
                "total": len(jobs),
            },
            "issues": [
                {
                    "logs": [
                        log["status"]
                        for log in self._data["backup-logs"].values()
                        if log["jobId"] == j["id"]
                    ],
                    "name": j["name"],
                    "type": j["type"],
                    "uuid": j["id"],
                }
                for j in jobs
                if last.get(j["id"], {}).get("status") == "failure"
            ],
            "vmsProtection": {
                "protected": len(protected),
                "unprotected": len(covered - protected),
                "notInJob": len(self._data["vms"]) - len(covered),
            },
        }

    def _missing_patches_overview(self) -> Obj:
        hosts = [h for h in self._data["hosts"].values() if self._missing.get(h["id"])]
        return {
            "hasAuthorization": True,
            "nHostsFailed": 0,
            "nHostsWithMissingPatches": len(hosts),
            "nPoolsWithMissingPatches": len({h["$pool"] for h in hosts}),
        }

    @staticmethod
    def _top_ram(objects: list[Obj]) -> list[Obj]:
        rows = [
            {
                "name_label": o["name_label"],
                "id": o["id"],
                "size": o["memory"]["size"],
                "usage": o["memory"].get("usage") or 0,
                "percent": round(100 * (o["memory"].get("usage") or 0) / o["memory"]["size"], 2)
                if o["memory"]["size"]
                else 0,
            }
            for o in objects
        ]
        return sorted(rows, key=lambda r: -r["percent"])[:5]

    def _top_cpu(self, objects: list[Obj]) -> list[Obj]:
        # Stable per object, so two reads of a dashboard agree.
        rows = [
            {
                "percent": round(random.Random(o["id"]).uniform(2, 90), 2),
                "id": o["id"],
                "name_label": o["name_label"],
            }
            for o in objects
        ]
        return sorted(rows, key=lambda r: -r["percent"])[:5]

    @staticmethod
    def _top_srs(srs: list[Obj]) -> list[Obj]:
        rows = [
            {
                "name_label": sr["name_label"],
                "id": sr["id"],
                "size": sr["size"],
                "physical_usage": sr["physical_usage"],
                "percent": round(100 * sr["physical_usage"] / sr["size"], 2) if sr["size"] else 0,
            }
            for sr in srs
            if sr["content_type"] != "iso"
        ]
        return sorted(rows, key=lambda r: -r["percent"])[:5]

    @staticmethod
    def _cpu_provisioning(hosts: list[Obj], vms: list[Obj]) -> Obj:
        total = sum(h["cpus"].get("cores", 0) for h in hosts)
        assigned = sum(vm["CPUs"]["number"] for vm in vms if vm["power_state"] == "Running")
        return {
            "total": total,
            "assigned": assigned,
            "percent": round(100 * assigned / total, 2) if total else 0,
        }

    def _vm_backups_info(self, vm: Obj) -> Obj:
        jobs = self.backup_jobs_of_vm(vm["id"])
        job_ids = {j["id"] for j in jobs}
        runs = [log for log in self._data["backup-logs"].values() if log["jobId"] in job_ids]
        runs.sort(key=lambda log: log["start"], reverse=True)
        archives = [
            a for a in self._data["backup-archives"].values() if a["vm"]["uuid"] == vm["id"]
        ]
        return {
            "lastRun": [
                {"backupJobId": log["jobId"], "timestamp": log["start"], "status": log["status"]}
                for log in runs[:3]
            ],
            "vmProtected": bool(jobs),
            "backupArchives": [
                {
                    "id": a["id"],
                    "timestamp": a["timestamp"],
                    "backupRepository": a["backupRepository"],
                    "size": a["size"],
                }
                for a in archives
            ],
        }
