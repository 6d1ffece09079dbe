"""Which proxy a request to a given URL goes through: HTTP(S)_PROXY and NO_PROXY.

The rules are those of the official server's README: a NO_PROXY entry is an exact host
(`xoa.internal.example.com`, optionally `host:port`), a suffix (`.example.com` or
`*.example.com`, matching subdomains but not the bare domain), or `*` for everything.
CIDR ranges are not supported. Lowercase variables win over uppercase ones, as in undici.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


def _first(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name)
        if value:
            return value.strip()
    return None


@dataclass(frozen=True)
class ProxySettings:
    http: str | None = None
    https: str | None = None
    no_proxy: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProxySettings:
        no_proxy = _first(env, "no_proxy", "NO_PROXY") or ""
        return cls(
            http=_first(env, "http_proxy", "HTTP_PROXY"),
            https=_first(env, "https_proxy", "HTTPS_PROXY"),
            no_proxy=tuple(e.strip().lower() for e in no_proxy.split(",") if e.strip()),
        )

    def bypasses(self, host: str, port: int | None) -> bool:
        host = host.lower().strip("[]")
        return any(_entry_matches(entry, host, port) for entry in self.no_proxy)

    def proxy_for(self, url: str) -> str | None:
        """The proxy URL to use for `url`, or None to connect directly."""
        parts = urlsplit(url)
        proxy = self.https if parts.scheme == "https" else self.http
        if proxy is None or parts.hostname is None:
            return None
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return None if self.bypasses(parts.hostname, port) else proxy


def _split_port(entry: str) -> tuple[str, str]:
    host, sep, port = entry.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, port
    return entry, ""


def _entry_matches(entry: str, host: str, port: int | None) -> bool:
    if entry == "*":
        return True
    entry_host, entry_port = _split_port(entry)
    if entry_port and port is not None and entry_port != str(port):
        return False
    if entry_host.startswith(("*.", ".")):
        return host.endswith(entry_host.lstrip("*"))
    return host == entry_host
