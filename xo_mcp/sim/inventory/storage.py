"""Storage: SM drivers, SRs, the PBDs that plug them into hosts, VDIs and the VBDs to VMs."""

from __future__ import annotations

from xo_mcp.sim.inventory.base import GIB, InventoryBase, Obj


class StorageMixin(InventoryBase):
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
