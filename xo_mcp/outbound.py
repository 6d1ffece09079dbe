"""How xo-mcp's processes reach other servers: which proxy a URL goes through, which TLS trust.

Used by the worker (XO), the launcher (XO's kill switch) and the gateway (an OAuth issuer).

Proxies: HTTP(S)_PROXY and NO_PROXY.

The rules are those of the official server (undici's `EnvHttpProxyAgent`), as its README
documents them: a NO_PROXY entry is an exact host (`xoa.internal.example.com`, optionally
`host:port`), a suffix (`.example.com` or `*.example.com`, matching subdomains but not the bare
domain), or `*` for everything; entries are separated by commas or blanks. CIDR ranges are not
supported. A lowercase variable that is set (even empty) wins over its uppercase form, and
HTTPS requests fall back to HTTP_PROXY when HTTPS_PROXY is unset, as in undici.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

_SEPARATORS = re.compile(r"[,\s]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _first(env: Mapping[str, str], lower: str, upper: str) -> str | None:
    # undici reads `env.lower ?? env.UPPER`: a set-but-empty lowercase variable wins.
    value = env[lower] if lower in env else env.get(upper)
    if value is None:
        return None
    return value.strip() or None


def _strip_brackets(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


@dataclass(frozen=True)
class NoProxyEntry:
    host: str  # lower case, IPv6 without brackets; may start with "." or "*"
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> NoProxyEntry:
        text = text.lower()
        if text.startswith("["):  # [::1] or [::1]:8080
            host, _, rest = text[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else ""
            return cls(host, int(port) if port.isdigit() else None)
        host, sep, port = text.rpartition(":")
        if sep and port.isdigit() and host and ":" not in host:
            return cls(host, int(port))
        return cls(text)

    def matches(self, host: str, port: int | None) -> bool:
        if self.host == "*":
            return True
        if self.port is not None and port is not None and self.port != port:
            return False
        if self.host.startswith((".", "*")):
            return host.endswith(self.host.lstrip("*"))
        return host == self.host


@dataclass(frozen=True)
class ProxySettings:
    http: str | None = None
    https: str | None = None
    no_proxy: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProxySettings:
        no_proxy = _first(env, "no_proxy", "NO_PROXY") or ""
        http = _first(env, "http_proxy", "HTTP_PROXY")
        return cls(
            http=http,
            https=_first(env, "https_proxy", "HTTPS_PROXY") or http,
            no_proxy=tuple(e for e in _SEPARATORS.split(no_proxy) if e),
        )

    def bypasses(self, host: str, port: int | None) -> bool:
        host = _strip_brackets(host.lower())
        return any(NoProxyEntry.parse(entry).matches(host, port) for entry in self.no_proxy)

    def proxy_for(self, url: str) -> str | None:
        """The proxy URL to use for `url`, or None to connect directly."""
        parts = urlsplit(url)
        proxy = self.https if parts.scheme == "https" else self.http
        if proxy is None or parts.hostname is None:
            return None
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
        return None if self.bypasses(parts.hostname, port) else proxy


def ssl_context(url: str, ca_bundle: Path | None, insecure: bool = False) -> ssl.SSLContext | bool:
    """Verification by default; a private CA bundle; or, knowingly, no verification."""
    if not url.startswith("https:"):
        return True
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
