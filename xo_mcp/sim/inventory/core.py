"""The inventory as a whole: every family of objects, built in a fixed order from one seed."""

from __future__ import annotations

import time
from collections.abc import Callable

from xo_mcp.sim.inventory.access import AccessMixin
from xo_mcp.sim.inventory.base import DEFAULT_SIZE, InventorySize, Obj
from xo_mcp.sim.inventory.cleanups import CleanupsMixin
from xo_mcp.sim.inventory.compute import ComputeMixin
from xo_mcp.sim.inventory.creations import CreationsMixin
from xo_mcp.sim.inventory.dashboards import DashboardsMixin


class Inventory(DashboardsMixin, AccessMixin, ComputeMixin, CreationsMixin, CleanupsMixin):
    def __init__(
        self,
        *,
        seed: int = 1,
        size: InventorySize = DEFAULT_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(seed=seed, size=size, clock=clock)
        # The build order is part of the seed's contract: every draw from the generator
        # happens in this sequence, so changing it changes every inventory.
        self._build()

    def get(self, segment: str, object_id: str) -> Obj | None:
        if segment == "alarms":
            return self.alarm(object_id)
        return self._data.get(segment, {}).get(object_id)

    def _build(self) -> None:
        self._build_users()
        self._build_groups()
        self._build_acl()
        for index in range(self._size.pools):
            self._build_pool(index)
        self._build_snapshots()
        for sr_id in self._data["srs"]:
            self._refresh_sr(sr_id)
        for host in self._data["hosts"].values():
            self._refresh_host(host)
        self._build_messages()
        self._build_servers()
        self._build_backup_repositories()
        self._build_backup_jobs()
        self._build_backup_archives()
        self._build_restore_logs()
        self._build_proxies()
        self._build_tasks()
