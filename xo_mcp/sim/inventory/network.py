"""Networks, PIFs (a host's ports on them) and VIFs (a VM's ports on them)."""

from __future__ import annotations

from xo_mcp.sim.inventory.base import InventoryBase, Obj


class NetworkMixin(InventoryBase):
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
