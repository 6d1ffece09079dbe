"""Deletion: each cleanup removes what would dangle once its object is gone."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from xo_mcp.sim.inventory.base import Obj, remove
from xo_mcp.sim.inventory.mutations import MutationsMixin


class CleanupsMixin(MutationsMixin):
    def delete(self, segment: str, object_id: str) -> None:
        obj = self._require(segment, object_id)
        cleanup = self._CLEANUPS.get(segment)
        if cleanup is not None:
            cleanup(self, obj)
        self._data[segment].pop(object_id, None)

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
            remove(origin["snapshots"], vm["id"])
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
                    remove(vm["$VBDs"], vbd_id)
        sr = self._data["srs"].get(vdi.get("$SR") or "")
        if sr is not None:
            remove(sr["VDIs"], vdi["id"])
        for snapshot_id in vdi.get("snapshots", []):
            snapshot = self._data["vdi-snapshots"].get(snapshot_id)
            if snapshot is not None:
                snapshot["$snapshot_of"] = None
        origin = self._data["vdis"].get(vdi.get("$snapshot_of") or "")
        if origin is not None:
            remove(origin["snapshots"], vdi["id"])
        if sr is not None:
            self._refresh_sr(sr["id"])

    def _forget_vbd(self, vbd: Obj) -> None:
        vm = self._find_vm_like(vbd.get("VM") or "")
        if vm is not None:
            remove(vm["$VBDs"], vbd["id"])
        found = self._find_vdi(vbd.get("VDI"))
        if found is not None:
            remove(found[1]["$VBDs"], vbd["id"])

    def _forget_vif(self, vif: Obj) -> None:
        vm = self._find_vm_like(vif.get("$VM") or "")
        if vm is not None:
            remove(vm["VIFs"], vif["id"])
        network = self._data["networks"].get(vif.get("$network") or "")
        if network is not None:
            remove(network["VIFs"], vif["id"])

    def _forget_pif(self, pif: Obj) -> None:
        host = self._data["hosts"].get(pif.get("$host") or "")
        if host is not None:
            remove(host["PIFs"], pif["id"])
            remove(host["$PIFs"], pif["id"])
        network = self._data["networks"].get(pif.get("$network") or "")
        if network is not None:
            remove(network["PIFs"], pif["id"])

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
            remove(host["$PBDs"], pbd["id"])
        sr = self._data["srs"].get(pbd.get("SR") or "")
        if sr is not None:
            remove(sr["$PBDs"], pbd["id"])

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
            remove(pool["haSrs"], sr["id"])

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
            remove(host["PCIs"], pci["id"])
            remove(host["$PCIs"], pci["id"])

    def _forget_pgpu(self, pgpu: Obj) -> None:
        host = self._data["hosts"].get(pgpu.get("$host") or "")
        if host is not None:
            remove(host["PGPUs"], pgpu["id"])
            remove(host["$PGPUs"], pgpu["id"])

    def _forget_user(self, user: Obj) -> None:
        for group in self._data["groups"].values():
            remove(group["users"], user["id"])
        for role in self._data["acl-roles"].values():
            remove(role.get("userIds"), user["id"])

    def _forget_group(self, group: Obj) -> None:
        for user in self._data["users"].values():
            remove(user.get("groups"), group["id"])
        for role in self._data["acl-roles"].values():
            remove(role.get("groupIds"), group["id"])

    def _forget_role(self, role: Obj) -> None:
        for privilege_id in list(role.get("privilegeIds", [])):
            self._data["acl-privileges"].pop(privilege_id, None)
        for privilege_id, privilege in list(self._data["acl-privileges"].items()):
            if privilege.get("roleId") == role["id"]:
                self._data["acl-privileges"].pop(privilege_id)
        for group in self._data["groups"].values():
            remove(group.get("aclRoleIds"), role["id"])

    def _forget_privilege(self, privilege: Obj) -> None:
        role = self._data["acl-roles"].get(privilege.get("roleId") or "")
        if role is not None:
            remove(role.get("privilegeIds"), privilege["id"])

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
            remove(targets, repo["id"])
        self._repo_capacity.pop(repo["id"], None)

    def _forget_schedule(self, schedule: Obj) -> None:
        job = self._data["backup-jobs"].get(schedule.get("jobId") or "")
        if job is not None:
            job.get("settings", {}).pop(schedule["id"], None)

    _CLEANUPS: ClassVar[dict[str, Callable[[CleanupsMixin, Obj], None]]] = {
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
