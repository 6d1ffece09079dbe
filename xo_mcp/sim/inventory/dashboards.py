"""The dashboards (global, per pool, per VM) and the missing-patches reports."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from xo_mcp.sim.inventory.backups import BackupsMixin
from xo_mcp.sim.inventory.base import DAY, EPOCH, Obj
from xo_mcp.sim.inventory.events import EventsMixin


class DashboardsMixin(EventsMixin, BackupsMixin):
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

    # ------------------------------------------------------------------ parts

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
                "date": EPOCH - 5 * DAY,
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
