"""One JSON line on stderr per action: who asked what, what happened, how long it took.

Bodies are never written (they may carry passwords, e.g. CreateUser); only their keys are.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO


class AuditLog:
    def __init__(self, instance: str | None = None, stream: TextIO | None = None) -> None:
        self._instance = instance
        self._stream = stream

    def record(
        self,
        operation: str,
        method: str,
        path: str,
        outcome: str,
        *,
        duration_s: float = 0.0,
        status: int | None = None,
        body: Any = None,
        detail: str | None = None,
    ) -> None:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "event": "xo_action",
            "operation": operation,
            "method": method,
            "path": path,
            "outcome": outcome,
            "duration_ms": round(duration_s * 1000, 1),
        }
        if self._instance:
            entry["instance"] = self._instance
        if status is not None:
            entry["status"] = status
        if isinstance(body, dict):
            entry["body_keys"] = sorted(map(str, body))
        if detail:
            entry["detail"] = detail[:300]
        stream = self._stream or sys.stderr
        stream.write(json.dumps(entry, ensure_ascii=False) + "\n")
        stream.flush()
