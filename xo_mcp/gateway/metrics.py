"""Per-instance and per-client counters and a latency histogram, in Prometheus' text format."""

from __future__ import annotations

import bisect
import collections
from collections.abc import Callable
from dataclasses import dataclass, field

from xo_mcp.core import Registry, State

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class _Series:
    calls: int = 0
    errors: int = 0
    bucket_counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    seconds_sum: float = 0.0


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._series: dict[str, _Series] = {name: _Series() for name in registry.statuses}
        self._client_calls: collections.Counter[str] = collections.Counter()
        self._client_errors: collections.Counter[str] = collections.Counter()
        self._refusals: collections.Counter[tuple[str, str]] = collections.Counter()
        # Lines of what the gateway does not see itself (the launcher's reloads), in this format.
        self.collectors: list[Callable[[], list[str]]] = []

    def observe(self, instance: str, client: str, seconds: float, error: bool) -> None:
        series = self._series.setdefault(instance, _Series())
        series.calls += 1
        series.errors += int(error)
        series.seconds_sum += seconds
        series.bucket_counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self._client_calls[client] += 1
        self._client_errors[client] += int(error)

    def refused(self, client: str, reason: str) -> None:
        """A request the port turned away (authentication, a limit, a scope)."""
        self._refusals[(client, reason)] += 1

    def render(self) -> str:
        lines = [
            "# HELP xo_mcp_instance_up 1 when the instance's worker is ready to take calls.",
            "# TYPE xo_mcp_instance_up gauge",
        ]
        statuses = self.registry.statuses.values()
        for status in statuses:
            up = 1 if status.state is State.READY else 0
            lines.append(f'xo_mcp_instance_up{{instance="{_label(status.name)}"}} {up}')
        lines += [
            "# HELP xo_mcp_instance_state Current state of each instance (1 for the current one).",
            "# TYPE xo_mcp_instance_state gauge",
        ]
        for status in statuses:
            for state in State:
                value = 1 if status.state is state else 0
                labels = f'instance="{_label(status.name)}",state="{state.value}"'
                lines.append(f"xo_mcp_instance_state{{{labels}}} {value}")
        lines += [
            "# HELP xo_mcp_instance_restarts_total Worker restarts since the fleet started.",
            "# TYPE xo_mcp_instance_restarts_total counter",
        ]
        lines += [
            f'xo_mcp_instance_restarts_total{{instance="{_label(s.name)}"}} {s.restarts}'
            for s in statuses
        ]
        lines += self._call_lines()
        lines += self._client_lines()
        for collect in self.collectors:
            lines += collect()
        return "\n".join(lines) + "\n"

    def _client_lines(self) -> list[str]:
        lines = [
            "# HELP xo_mcp_client_calls_total Tool calls per gateway client.",
            "# TYPE xo_mcp_client_calls_total counter",
        ]
        lines += [
            f'xo_mcp_client_calls_total{{client="{_label(c)}"}} {n}'
            for c, n in sorted(self._client_calls.items())
        ]
        lines += [
            "# HELP xo_mcp_client_errors_total Tool calls per gateway client that failed.",
            "# TYPE xo_mcp_client_errors_total counter",
        ]
        lines += [
            f'xo_mcp_client_errors_total{{client="{_label(c)}"}} {n}'
            for c, n in sorted(self._client_errors.items())
        ]
        lines += [
            "# HELP xo_mcp_client_refusals_total Requests refused per client, by reason.",
            "# TYPE xo_mcp_client_refusals_total counter",
        ]
        lines += [
            f'xo_mcp_client_refusals_total{{client="{_label(c)}",reason="{_label(r)}"}} {n}'
            for (c, r), n in sorted(self._refusals.items())
        ]
        return lines

    def _call_lines(self) -> list[str]:
        lines = [
            "# HELP xo_mcp_tool_calls_total Tool calls routed to each instance.",
            "# TYPE xo_mcp_tool_calls_total counter",
        ]
        lines += [
            f'xo_mcp_tool_calls_total{{instance="{_label(n)}"}} {s.calls}'
            for n, s in self._series.items()
        ]
        lines += [
            "# HELP xo_mcp_tool_errors_total Tool calls that returned an error.",
            "# TYPE xo_mcp_tool_errors_total counter",
        ]
        lines += [
            f'xo_mcp_tool_errors_total{{instance="{_label(n)}"}} {s.errors}'
            for n, s in self._series.items()
        ]
        lines += [
            "# HELP xo_mcp_tool_call_duration_seconds Latency of tool calls through the gateway.",
            "# TYPE xo_mcp_tool_call_duration_seconds histogram",
        ]
        for name, series in self._series.items():
            label = _label(name)
            cumulative = 0
            for bound, count in zip((*BUCKETS, float("inf")), series.bucket_counts, strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                labels = f'instance="{label}",le="{le}"'
                lines.append(f"xo_mcp_tool_call_duration_seconds_bucket{{{labels}}} {cumulative}")
            total = f"{series.seconds_sum:.6f}"
            lines.append(f'xo_mcp_tool_call_duration_seconds_sum{{instance="{label}"}} {total}')
            lines.append(
                f'xo_mcp_tool_call_duration_seconds_count{{instance="{label}"}} {series.calls}'
            )
        return lines
