"""Who may do what: users, groups, ACL roles and privileges; and the XAPI servers and proxies."""

from __future__ import annotations

from xo_mcp.sim.inventory.base import InventoryBase, Obj


class AccessMixin(InventoryBase):
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
