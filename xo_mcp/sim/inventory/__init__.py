"""The simulator's Xen Orchestra inventory: seeded, in memory, with consistent relations.

One family of objects per module (compute, vms, storage, network, backups, access, events,
dashboards, mutations, cleanups), combined into `Inventory` in `core`.
"""

from xo_mcp.sim.inventory.base import (
    ALARM_NAMES,
    POWER_STATES,
    SEGMENTS,
    XO_TYPES,
    InventorySize,
    Obj,
)
from xo_mcp.sim.inventory.core import Inventory

__all__ = [
    "ALARM_NAMES",
    "POWER_STATES",
    "SEGMENTS",
    "XO_TYPES",
    "Inventory",
    "InventorySize",
    "Obj",
]
