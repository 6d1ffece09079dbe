"""What a reload changes: the difference between the running fleet file and the new one.

Only what changed restarts. An instance restarts when its worker would run differently (its
rendered [program:…] section: URL, settings, secret paths, sandbox, proxy…) or when what it
reads at start changed under the same path (its token or password file, its CA bundle, the
value of its secret variable). Gateway clients never restart anything: the gateway swaps them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from xo_mcp.fleet.config import CA_BUNDLE_MAX_BYTES, Fleet
from xo_mcp.secretfile import fingerprint

# Keys the running fleet cannot change (its socket, its directory, its port's settings).
FIXED_KEYS = ("runtime_dir", "gateway.listen", "gateway.allowed_hosts", "gateway.max_request_bytes")
SETTINGS_CHANGED = "its settings changed"
SECRET_CHANGED = "its secret or CA bundle changed"  # noqa: S105 (a reason, not a value)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def secret_prints(fleet: Fleet, env_values: Mapping[str, str]) -> dict[str, str]:
    """Per instance, a digest of what its worker reads at start besides its settings."""
    prints: dict[str, str] = {}
    for name, instance in fleet.instances.items():
        _, secret = instance.secret
        parts = []
        if secret.file is not None:
            parts.append(fingerprint(secret.file))
        if secret.env is not None:
            parts.append(_digest(env_values.get(secret.env, "")))
        if instance.ca_bundle is not None:
            parts.append(fingerprint(instance.ca_bundle, CA_BUNDLE_MAX_BYTES))
        prints[name] = _digest("|".join(parts))
    return prints


def token_prints(tokens: Mapping[str, str]) -> dict[str, str]:
    """Client name → a digest of its bearer token (to say which token rotated, never how)."""
    return {name: _digest(token) for name, token in tokens.items()}


@dataclass(frozen=True)
class Snapshot:
    """A loaded fleet file as a reload compares it: its workers' sections and secrets."""

    fleet: Fleet
    sections: dict[str, str]
    secrets: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)  # client name → token digest


@dataclass(frozen=True)
class Changes:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    restarted: dict[str, str] = field(default_factory=dict)  # instance → why
    clients: list[str] = field(default_factory=list)  # what changed among the clients
    fixed: list[str] = field(default_factory=list)  # FIXED_KEYS that differ: kept as running

    @property
    def workers(self) -> bool:
        """Whether any worker starts, stops or restarts."""
        return bool(self.added or self.removed or self.restarted)

    def summary(self) -> str:
        parts = []
        if self.added:
            parts.append(f"added {', '.join(self.added)}")
        if self.removed:
            parts.append(f"removed {', '.join(self.removed)}")
        parts += [f"restarted {name} ({why})" for name, why in self.restarted.items()]
        parts += self.clients
        return "; ".join(parts) or "nothing changed"


def _fixed_keys(old: Fleet, new: Fleet) -> list[str]:
    values = {
        "runtime_dir": (old.runtime_dir, new.runtime_dir),
        "gateway.listen": (old.gateway.listen, new.gateway.listen),
        "gateway.allowed_hosts": (old.gateway.allowed_hosts, new.gateway.allowed_hosts),
        "gateway.max_request_bytes": (
            old.gateway.max_request_bytes,
            new.gateway.max_request_bytes,
        ),
    }
    return [key for key in FIXED_KEYS if values[key][0] != values[key][1]]


def _client_changes(old: Snapshot, new: Snapshot) -> list[str]:
    before = {client.name: client for client in old.fleet.gateway.clients}
    after = {client.name: client for client in new.fleet.gateway.clients}
    found = []
    added = [name for name in after if name not in before]
    removed = [name for name in before if name not in after]
    changed = [name for name in after if name in before and after[name] != before[name]]
    rotated = [
        name
        for name in after
        if name in before and name not in changed and old.tokens.get(name) != new.tokens.get(name)
    ]
    for what, names in (
        ("client added", added),
        ("client removed", removed),
        ("client changed", changed),
        ("client token rotated", rotated),
    ):
        if names:
            found.append(f"{what}: {', '.join(names)}")
    return found


def changes(old: Snapshot, new: Snapshot) -> Changes:
    running, wanted = old.fleet.instances, new.fleet.instances
    restarted = {}
    for name in wanted:
        if name not in running:
            continue
        if old.sections[name] != new.sections[name]:
            restarted[name] = SETTINGS_CHANGED
        elif old.secrets[name] != new.secrets[name]:
            restarted[name] = SECRET_CHANGED
    return Changes(
        added=[name for name in wanted if name not in running],
        removed=[name for name in running if name not in wanted],
        restarted=restarted,
        clients=_client_changes(old, new),
        fixed=_fixed_keys(old.fleet, new.fleet),
    )
