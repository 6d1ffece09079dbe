"""VM-shaped objects: the shared shape, templates and VMs with their disks and ports."""

from __future__ import annotations

from xo_mcp.sim.inventory.base import DAY, GIB, MIB, Obj, iso
from xo_mcp.sim.inventory.network import NetworkMixin
from xo_mcp.sim.inventory.samples import OSES, TEMPLATES, VM_ROLES
from xo_mcp.sim.inventory.storage import StorageMixin


class VmsMixin(NetworkMixin, StorageMixin):
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
        label, os_version = TEMPLATES[index % len(TEMPLATES)]
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
            install_time=self._ago(200 * DAY, 400 * DAY) if custom else None,
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
        role = VM_ROLES[index % len(VM_ROLES)]
        # One VM in six runs Windows, so even the smallest pool has one.
        os_version = OSES[4] if index % 6 == 5 else rng.choice(OSES[:4])
        windows = os_version["distro"] == "windows"
        template = templates[index % len(templates)] if templates else None
        installed = self._ago(10 * DAY, 700 * DAY)
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
                    "date": iso(installed),
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
            vm["startTime"] = self._ago(3600, 40 * DAY)
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
