"""Fault injection: make chosen routes slow, failing, malformed, dropped or stalled."""

from __future__ import annotations

import fnmatch
import random

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Fault(BaseModel):
    """One rule. `route` is a glob over `METHOD /path` (path relative to /rest/v0)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    route: str = "*"
    latency_ms: int = Field(default=0, ge=0, le=3_600_000)
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    malformed_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    drop_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    stall: bool = False

    def matches(self, method: str, path: str) -> bool:
        pattern = self.route if " " in self.route else f"* {self.route}"
        return fnmatch.fnmatchcase(f"{method} {path}", pattern)


def parse_fault(text: str) -> Fault:
    """`route=/vms*,latency_ms=200,error_rate=0.5` → Fault; ValueError names what is wrong."""
    values: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"fault {text!r}: {item!r} is not key=value")
        values[key.strip()] = value.strip()
    try:
        return Fault.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ValueError(f"fault {text!r}: {problems}") from None


class Decision(BaseModel):
    """What to do to one request, rolled once from every matching rule."""

    latency_s: float = 0.0
    stall: bool = False
    drop: bool = False
    error: bool = False
    malformed: bool = False


class FaultPlan:
    """The rules in force; replaced as a whole at runtime so a request sees one consistent set."""

    def __init__(self, faults: list[Fault] | None = None, *, seed: int = 0) -> None:
        self.faults: list[Fault] = list(faults or [])
        self._rng = random.Random(seed)

    def decide(self, method: str, path: str) -> Decision:
        decision = Decision()
        for fault in self.faults:
            if not fault.matches(method, path):
                continue
            decision.latency_s += fault.latency_ms / 1000
            decision.stall |= fault.stall
            decision.drop |= self._rng.random() < fault.drop_rate
            decision.error |= self._rng.random() < fault.error_rate
            decision.malformed |= self._rng.random() < fault.malformed_rate
        return decision
