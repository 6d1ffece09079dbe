"""Changes REST calls make: power states, snapshots, clones, reverts, tags and patches."""

from __future__ import annotations

import copy
from typing import Any

from xo_mcp.sim.inventory.base import DAY, POWER_STATES, Obj, iso, remove
from xo_mcp.sim.inventory.vms import VmsMixin


class MutationsMixin(VmsMixin):
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
        name = name_label or f"{vm['name_label']}_{iso(now)}"
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
                    "date": iso(now),
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

    def add_tag(self, segment: str, object_id: str, tag: str) -> None:
        tags = self._require(segment, object_id).setdefault("tags", [])
        if tag not in tags:
            tags.append(tag)

    def remove_tag(self, segment: str, object_id: str, tag: str) -> None:
        remove(self._require(segment, object_id).get("tags"), tag)

    def patch(self, segment: str, object_id: str, changes: dict[str, Any]) -> None:
        self._require(segment, object_id).update(changes)

    # ------------------------------------------------------------------ snapshots and copies

    def _build_snapshots(self) -> None:
        vm_ids = list(self._data["vms"])
        if not vm_ids:
            return
        for _ in range(self._size.snapshots):
            vm = self._data["vms"][self._rng.choice(vm_ids)]
            when = self._ago(DAY, 30 * DAY)
            self._snapshot(vm, f"{vm['name_label']}_{iso(when)}", when)

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
