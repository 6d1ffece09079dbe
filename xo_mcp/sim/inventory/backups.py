"""Backups: repositories, jobs and their schedules, run logs, archives and restore logs."""

from __future__ import annotations

from typing import Any

from xo_mcp.sim.inventory.base import DAY, EPOCH, GIB, MIB, InventoryBase, Obj, iso


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


class BackupsMixin(InventoryBase):
    def backup_jobs_of_vm(self, vm_id: str) -> list[Obj]:
        vm = self._data["vms"].get(vm_id)
        if vm is None:
            return []
        return [
            job
            for job in self._data["backup-jobs"].values()
            if job.get("type") == "backup" and _matches(job.get("vms"), vm)
        ]

    # ------------------------------------------------------------------ build

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
                        "timestamp": self._ago(DAY, 20 * DAY) * 1000,
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
        start = (EPOCH - (run + 1) * DAY - index * 600 - self._rng.randint(0, 300)) * 1000
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
        timestamp = (EPOCH - age * DAY + self._rng.randint(3600, 7200)) * 1000
        stamp = iso(timestamp / 1000).replace("-", "").replace(":", "").replace(".000", "")
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
            start = (EPOCH - (index + 3) * DAY) * 1000
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
