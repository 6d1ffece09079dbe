"""Pools and hosts, with each host's control domain, PCI devices and GPU."""

from __future__ import annotations

from xo_mcp.sim.inventory.base import DAY, GIB, Obj
from xo_mcp.sim.inventory.samples import HOST_CPUS, ISOS, PATCHES, POOL_SITES
from xo_mcp.sim.inventory.vms import VmsMixin


class ComputeMixin(VmsMixin):
    def _build_pool(self, index: int) -> None:
        name, slug = (
            POOL_SITES[index] if index < len(POOL_SITES) else (f"Pool {index}", f"p{index}")
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
        isos = [self._build_vdi(iso_sr, iso_name, iso_size, "user") for iso_name, iso_size in ISOS]
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
        model, vendor, cores, sockets, speed = self._rng.choice(HOST_CPUS)
        memory = self._rng.choice((256, 384, 512)) * GIB
        started = self._ago(3 * DAY, 90 * DAY)
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
                        "notAfter": started + 3650 * DAY,
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
        self._missing[host["id"]] = [p for p in PATCHES if self._rng.random() < 0.4]
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
            install_time=host["startTime"] - 30 * DAY,
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
