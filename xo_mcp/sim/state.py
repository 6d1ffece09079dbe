"""Everything one simulated XO holds, and the knobs tests turn while it runs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xo_mcp.sim.auth import Credentials
from xo_mcp.sim.faults import Fault, FaultPlan
from xo_mcp.sim.inventory import Inventory, InventorySize
from xo_mcp.sim.output import to_json
from xo_mcp.sim.spec import build_spec
from xo_mcp.sim.tasks import TaskStore

DEFAULT_TOKEN = "sim-token"  # noqa: S105 (the simulator's documented demo credential)


@dataclass(frozen=True)
class SimConfig:
    seed: int = 1
    size: InventorySize = field(default_factory=InventorySize)
    tokens: tuple[str, ...] = (DEFAULT_TOKEN,)
    username: str | None = None
    password: str | None = None
    mcp_enabled: bool = True
    spec_file: Path | None = None
    action_seconds: float = 0.2
    faults: tuple[Fault, ...] = ()
    sse_ping_seconds: float = 30.0


class SimState:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.inventory = Inventory(seed=config.seed, size=config.size)
        self.credentials = Credentials(set(config.tokens), config.username, config.password)
        self.mcp_enabled = config.mcp_enabled
        self.faults = FaultPlan(list(config.faults), seed=config.seed)
        self.tasks = TaskStore(
            self.inventory.collection("tasks"),
            seed=config.seed,
            duration_s=config.action_seconds,
        )
        self.started_at = time.time()
        self.requests_served = 0
        self.in_flight = 0
        # Built before any action mutates the inventory, so the examples never change.
        self._spec = self._load_spec()

    @property
    def admin(self) -> dict[str, Any]:
        """The user every accepted credential stands for."""
        users = self.inventory.collection("users").values()
        return next((u for u in users if u.get("permission") == "admin"), next(iter(users)))

    def _load_spec(self) -> bytes:
        if self.config.spec_file is not None:
            return self.config.spec_file.read_bytes()
        return to_json(build_spec(self.inventory)).encode()

    def spec_bytes(self) -> bytes:
        """The OpenAPI document served at /rest/v0/docs/swagger.json."""
        return self._spec
