"""Objects REST calls create (`POST /{collection}`, `create_*` actions), shaped like built ones."""

from __future__ import annotations

from typing import Any

from xo_mcp.sim.inventory.base import Obj
from xo_mcp.sim.inventory.mutations import MutationsMixin

# SR drivers whose storage lives outside any one host, so the SR belongs to the whole pool.
_SHARED_SR_TYPES = frozenset(
    {"nfs", "smb", "iso", "lvmoiscsi", "lvmohba", "lvmofcoe", "glusterfs", "cephfs", "linstor"}
)


def _next_free(used: list[int]) -> int:
    return next(number for number in range(len(used) + 1) if number not in used)


class CreationsMixin(MutationsMixin):
    # ------------------------------------------------------------------ XAPI objects

    def create_vdi(self, sr_id: str, name_label: str, size: int, **extra: Any) -> str:
        sr = self._require("srs", sr_id)
        vdi = self._build_vdi(sr, name_label, size, str(extra.pop("type", None) or "user"))
        vdi.update({key: value for key, value in extra.items() if value is not None})
        self._refresh_sr(sr_id)
        return str(vdi["id"])

    def create_vif(self, vm_id: str, network_id: str, mac: str | None = None) -> str:
        vm = self._require("vms", vm_id)
        network = self._require("networks", network_id)
        used = [int(self._data["vifs"][v]["device"]) for v in vm["VIFs"] if v in self._data["vifs"]]
        return str(self._plug(vm, network, _next_free(used), mac)["id"])

    def create_vbd(self, vm_id: str, vdi_id: str, *, bootable: bool, cd: bool) -> str:
        vm = self._require("vms", vm_id)
        vdi = self._require("vdis", vdi_id)
        used = [
            int(self._data["vbds"][v]["position"]) for v in vm["$VBDs"] if v in self._data["vbds"]
        ]
        return str(self._attach(vm, vdi, _next_free(used), cd=cd, bootable=bootable)["id"])

    def create_sr(self, host_id: str, name_label: str, sr_type: str, **extra: Any) -> str:
        host = self._require("hosts", host_id)
        shared = sr_type in _SHARED_SR_TYPES
        device_config = extra.pop("device_config", None) or {}
        sr = self._build_sr(host["$pool"], "local", host)
        for pbd_id in sr["$PBDs"]:
            self._data["pbds"][pbd_id]["device_config"] = dict(device_config)
        sr.update(
            {
                "name_label": name_label,
                "SR_type": sr_type,
                "shared": shared,
                "$container": host["$pool"] if shared else host["id"],
                "content_type": "iso" if sr_type == "iso" else "user",
            }
        )
        sr.update({key: value for key, value in extra.items() if value is not None})
        return str(sr["id"])

    def create_network(self, pool_id: str, name: str, *, mtu: int, bonded: bool) -> str:
        pool = self._require("pools", pool_id)
        network = self._build_network(pool["id"], len(self._data["networks"]) + 2)
        network.update(
            {
                "name_label": name,
                "name_description": "",
                "MTU": mtu,
                "automatic": False,
                "nbd": False,
                "isBonded": bonded,
                "other_config": {},
            }
        )
        return str(network["id"])

    # ------------------------------------------------------------------ XO objects

    def create_user(self, name: str, permission: str) -> str:
        user: Obj = {
            "id": self.new_uuid(),
            "name": name,
            "email": name,
            "permission": permission,
            "groups": [],
            "preferences": {},
            "pw_hash": "***obfuscated***",
        }
        return str(self._put("users", user)["id"])

    def create_group(self, name: str) -> str:
        group: Obj = {"id": self.new_uuid(), "name": name, "users": [], "aclRoleIds": []}
        return str(self._put("groups", group)["id"])

    def create_server(self, host: str, username: str, **extra: Any) -> str:
        server: Obj = {
            "id": self.new_uuid(),
            "host": host,
            "label": extra.get("label") or host,
            "username": username,
            "allowUnauthorized": bool(extra.get("allowUnauthorized", False)),
            "enabled": True,
            "readOnly": bool(extra.get("readOnly", False)),
            "status": "disconnected",
            "poolId": None,
            "poolNameLabel": None,
        }
        return str(self._put("servers", server)["id"])

    def create_role(self, name: str, description: str = "") -> str:
        role: Obj = {
            "id": self.new_uuid(),
            "name": name,
            "description": description,
            "isTemplate": False,
            "userIds": [],
            "groupIds": [],
            "privilegeIds": [],
        }
        return str(self._put("acl-roles", role)["id"])

    def create_privilege(self, role_id: str, **fields: Any) -> str:
        role = self._require("acl-roles", role_id)
        privilege: Obj = {"id": self.new_uuid(), **fields, "roleId": role_id}
        role["privilegeIds"].append(privilege["id"])
        return str(self._put("acl-privileges", privilege)["id"])

    def copy_role(self, role_id: str, name: str | None) -> str:
        role = self._require("acl-roles", role_id)
        copy_id = self.create_role(name or f"{role['name']} (copy)", role.get("description", ""))
        copy = self._data["acl-roles"][copy_id]
        for privilege_id in role.get("privilegeIds", []):
            privilege = self._data["acl-privileges"].get(privilege_id)
            if privilege is not None:
                fields = {k: v for k, v in privilege.items() if k not in ("id", "roleId")}
                self.create_privilege(copy_id, **fields)
        copy["userIds"] = []
        return copy_id

    def create_repository(self, name: str, url: str, proxy: str | None = None) -> str:
        repo: Obj = {"id": self.new_uuid(), "name": name, "url": url, "enabled": True}
        if proxy is not None:
            repo["proxy"] = proxy
        repo["benchmarks"] = []
        self._repo_capacity[repo["id"]] = 0
        return str(self._put("backup-repositories", repo)["id"])
