"""The worker's configuration, read from the environment exactly like `@xen-orchestra/mcp`.

Beyond the official variables: `XO_TOKEN_FILE` / `XO_PASSWORD_FILE` (secrets from files),
`XO_CA_BUNDLE` (trust a private CA), `XO_TLS_INSECURE=1` (skip verification, loudly),
`XO_DOCS_URL`, `XO_MCP_TIMEOUT`, `XO_MCP_INSTANCE` (name in audit lines and tokens) and
`XO_MCP_MAX_RESPONSE_CHARS` (cap on what one tool call returns), `XO_MCP_COMPACT=1` (compact tool
list and `describe_operation`), `XO_MCP_DENY_UNKNOWN` (`warn` or `error` for a deny entry naming
no operation of XO's spec).

In a fleet, the launcher sets these variables from the fleet file and says which key each came
from (`XO_MCP_FLEET_KEYS`): messages then name `instances.lyon.password_env`, which the
operator wrote, rather than `XO_PASSWORD`, which they never saw.
"""

from __future__ import annotations

import math
import os
import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from xo_mcp.outbound import ProxySettings
from xo_mcp.secretfile import SecretFileError, read_secret_file

DEFAULT_DOCS_URL = "https://docs.xen-orchestra.com"
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_RESPONSE_CHARS = 200_000
DEFAULT_WAIT_TIMEOUT_S = 120.0
INSTANCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
FLEET_KEYS_ENV = "XO_MCP_FLEET_KEYS"
DENY_UNKNOWN_ENV = "XO_MCP_DENY_UNKNOWN"
SECRET_ATTEMPTS = 4  # the launcher may refuse while supervisord is between two states
SECRET_RETRY_S = 0.5

ENV_HELP = """\
environment (as @xen-orchestra/mcp):
  XO_URL                   Xen Orchestra URL, e.g. https://xo.example.com (required)
  XO_TOKEN                 authentication token (wins over username/password)
  XO_USERNAME, XO_PASSWORD XO user and password (when no token)
  XO_MCP_ENABLE_ACTIONS=1  expose write operations ({domain}_action tools)
  XO_MCP_DENY_LIST         comma-separated operationIds or "METHOD /path" to hide
  HTTP_PROXY, HTTPS_PROXY, NO_PROXY (and lowercase forms)
environment (xo-mcp additions):
  XO_TOKEN_FILE, XO_PASSWORD_FILE   read the secret from a file instead
  XO_CA_BUNDLE             PEM file of CAs to trust for XO's certificate
  XO_TLS_INSECURE=1        do not verify XO's certificate (logged as a warning)
  XO_DOCS_URL              documentation site for search_documentation
                           (default https://docs.xen-orchestra.com)
  XO_MCP_TIMEOUT           seconds per XO request (default 30)
  XO_MCP_INSTANCE          instance name shown in audit lines and confirm tokens
  XO_MCP_MAX_RESPONSE_CHARS  longest tool output before truncation (default 200000)
  XO_MCP_WAIT_TIMEOUT      longest wait for an action's task with `wait` (default 120)
  XO_MCP_COMPACT=1         compact tool list (one short line per operation) and the
                           describe_operation tool; off, tools are the official server's
  XO_MCP_DENY_UNKNOWN      a deny entry naming no operation of XO's spec: warn (default)
                           or error (refuse to start)
  XO_MCP_LOG_FORMAT        text (default) or json (one JSON record per line on stderr)
  XO_MCP_LOG_LEVEL         debug, info (default), warning or error
  OTEL_EXPORTER_OTLP_ENDPOINT  OpenTelemetry traces over OTLP/HTTP, e.g.
                           http://127.0.0.1:4318 (off when unset)
"""


class ConfigError(Exception):
    """Every problem found in the environment, so the user fixes them all at once."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Credentials:
    token: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def mode(self) -> str:
        return "token" if self.token is not None else "basic"

    def __repr__(self) -> str:  # never print a secret, even in a traceback
        return f"Credentials(mode={self.mode!r}, username={self.username!r})"


@dataclass(frozen=True)
class WorkerSettings:
    xo_url: str
    credentials: Credentials
    enable_actions: bool = False
    deny: tuple[str, ...] = ()
    proxy: ProxySettings = field(default_factory=ProxySettings)
    ca_bundle: Path | None = None
    tls_insecure: bool = False
    docs_url: str = DEFAULT_DOCS_URL
    timeout_s: float = DEFAULT_TIMEOUT_S
    instance: str | None = None
    max_response_chars: int = DEFAULT_MAX_RESPONSE_CHARS
    wait_timeout_s: float = DEFAULT_WAIT_TIMEOUT_S
    compact: bool = False
    deny_unknown: str = "warn"
    # Variable → the fleet-file key it came from (empty for a standalone worker).
    names: Mapping[str, str] = field(default_factory=dict, repr=False)

    def name_of(self, variable: str) -> str:
        """How to name a setting to the operator: its fleet-file key, else its variable."""
        return self.names.get(variable, variable)


def fleet_keys(env: Mapping[str, str]) -> dict[str, str]:
    """`XO_TOKEN=instances.a.token_env,XO_URL=instances.a.url` → a mapping (bad pairs skipped)."""
    pairs = (item.partition("=") for item in env.get(FLEET_KEYS_ENV, "").split(","))
    return {name: key for name, sep, key in pairs if sep and name and key}


def _named(env: Mapping[str, str], variable: str) -> str:
    return fleet_keys(env).get(variable, variable)


def _secret_from_socket(path: str) -> str:
    """The fleet launcher hands env-provided secrets over a per-worker unix socket; it answers
    nothing (closes) when it refuses."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(path)
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8").strip()


def _secret_from_launcher(path: str, kind: str, key: str, problems: list[str]) -> str | None:
    """Ask a few times: a refusal may be a moment when supervisord reports no pid for us."""
    error: OSError | None = None
    for attempt in range(SECRET_ATTEMPTS):
        if attempt:
            time.sleep(SECRET_RETRY_S)
        try:
            value = _secret_from_socket(path)
        except OSError as failed:
            error = failed
            continue
        if value:
            return value
        error = None
    if error is not None:
        problems.append(f"cannot get the {kind} ({key}) from the fleet launcher ({error})")
    else:
        problems.append(
            f"the fleet launcher did not hand over the {kind} ({key}) after "
            f"{SECRET_ATTEMPTS} attempts; its log says why"
        )
    return None


def _read_secret(env: Mapping[str, str], name: str, problems: list[str]) -> str | None:
    """`NAME` from the environment, or the content of the file named by `NAME_FILE`."""
    kind = "token" if name == "XO_TOKEN" else "password"
    socket_path = env.get("XO_MCP_SECRET_SOCKET")
    if socket_path and env.get("XO_MCP_SECRET_KIND") == kind:
        return _secret_from_launcher(socket_path, kind, _named(env, name), problems)
    value = env.get(name) or None
    path = env.get(f"{name}_FILE") or None
    if value is not None and path is not None:
        problems.append(f"{name} and {name}_FILE are both set: keep one")
        return None
    if path is None:
        return value
    try:
        return read_secret_file(path)
    except SecretFileError as error:
        key = _named(env, f"{name}_FILE")
        problems.append(f"{key}: {error}" if key != f"{name}_FILE" else f"{key}={error}")
        return None


def _xo_url(env: Mapping[str, str], problems: list[str]) -> str:
    url = (env.get("XO_URL") or "").strip()
    name = _named(env, "XO_URL")
    if not url:
        problems.append(f"{name} is missing: the Xen Orchestra URL, e.g. https://xo.example.com")
        return ""
    if not _is_http_url(url):
        problems.append(f"{name}={url!r} is not an http(s) URL such as https://xo.example.com")
    return url.rstrip("/")


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:  # e.g. "http://[oops" or "http://xo:99999"
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _has_control_characters(text: str) -> bool:
    return any(ord(char) < 0x20 or ord(char) == 0x7F for char in text)


def _credentials(env: Mapping[str, str], problems: list[str]) -> Credentials:
    known = len(problems)
    token = _read_secret(env, "XO_TOKEN", problems)
    if token is not None:
        # A line break in a token would end up inside an HTTP header: refuse it up front.
        if _has_control_characters(token):
            problems.append(
                f"{_named(env, 'XO_TOKEN')} contains a line break or another control character"
            )
        return Credentials(token=token)
    if len(problems) > known:  # the token was named but could not be read: that is the problem
        return Credentials()
    username = (env.get("XO_USERNAME") or "").strip() or None
    if username is not None and (":" in username or _has_control_characters(username)):
        # Basic auth joins user and password with ":"; XO splits on the first one.
        problems.append(f"{_named(env, 'XO_USERNAME')} must not contain ':' or control characters")
    before = len(problems)
    password = _read_secret(env, "XO_PASSWORD", problems)
    said = len(problems) > before  # the password was named but could not be had: said why
    missing = [
        name
        for name, value in (("XO_USERNAME", username), ("XO_PASSWORD", password))
        if value is None and not (name == "XO_PASSWORD" and said)
    ]
    if missing:
        problems.append(
            f"{' and '.join(missing)} missing: set XO_TOKEN (or XO_TOKEN_FILE), "
            "or both XO_USERNAME and XO_PASSWORD (or XO_PASSWORD_FILE)"
        )
    return Credentials(username=username, password=password)


def _number(
    env: Mapping[str, str], name: str, default: float, problems: list[str], *, integer: bool = False
) -> float:
    text = env.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    # "nan" and "inf" parse as floats but would disable timeouts and caps silently.
    if not math.isfinite(value) or value <= 0 or (integer and not value.is_integer()):
        kind = "whole number" if integer else "number"
        problems.append(f"{name}={text!r} must be a positive {kind}")
        return default
    return value


def _tls(env: Mapping[str, str], problems: list[str]) -> tuple[Path | None, bool]:
    insecure = env.get("XO_TLS_INSECURE", "") == "1"
    bundle_text = env.get("XO_CA_BUNDLE") or None
    if bundle_text is None:
        return None, insecure
    bundle = Path(bundle_text)
    if not bundle.is_file():
        problems.append(f"{_named(env, 'XO_CA_BUNDLE')}={bundle_text}: no such file")
    if insecure:
        problems.append("XO_CA_BUNDLE and XO_TLS_INSECURE=1 contradict each other: keep one")
    return bundle, insecure


def load_settings(env: Mapping[str, str] | None = None) -> WorkerSettings:
    """Read and check the environment; raise ConfigError listing every problem."""
    env = os.environ if env is None else env
    problems: list[str] = []
    url = _xo_url(env, problems)
    credentials = _credentials(env, problems)
    ca_bundle, insecure = _tls(env, problems)
    timeout = _number(env, "XO_MCP_TIMEOUT", DEFAULT_TIMEOUT_S, problems)
    max_chars = _number(
        env, "XO_MCP_MAX_RESPONSE_CHARS", DEFAULT_MAX_RESPONSE_CHARS, problems, integer=True
    )
    wait_timeout = _number(env, "XO_MCP_WAIT_TIMEOUT", DEFAULT_WAIT_TIMEOUT_S, problems)
    deny_unknown = (env.get(DENY_UNKNOWN_ENV) or "warn").strip().lower()
    if deny_unknown not in ("warn", "error"):
        problems.append(f"{DENY_UNKNOWN_ENV}={deny_unknown!r} must be warn or error")
    docs_url = (env.get("XO_DOCS_URL") or DEFAULT_DOCS_URL).strip().rstrip("/")
    if not _is_http_url(docs_url):
        problems.append(f"XO_DOCS_URL={docs_url!r} is not an http(s) URL")
    instance = env.get("XO_MCP_INSTANCE") or None
    if instance is not None and not INSTANCE_NAME.fullmatch(instance):
        # It prefixes confirm tokens (`name.random`) and appears in audit lines.
        problems.append(
            f"XO_MCP_INSTANCE={instance!r}: use letters, digits, '-' or '_' (at most 63)"
        )
    if problems:
        raise ConfigError(problems)
    deny = tuple(
        item.strip() for item in env.get("XO_MCP_DENY_LIST", "").split(",") if item.strip()
    )
    return WorkerSettings(
        deny_unknown=deny_unknown,
        names=fleet_keys(env),
        xo_url=url,
        credentials=credentials,
        enable_actions=env.get("XO_MCP_ENABLE_ACTIONS") == "1",
        deny=deny,
        proxy=ProxySettings.from_env(env),
        ca_bundle=ca_bundle,
        tls_insecure=insecure,
        docs_url=docs_url,
        timeout_s=timeout,
        instance=instance,
        max_response_chars=int(max_chars),
        wait_timeout_s=wait_timeout,
        compact=env.get("XO_MCP_COMPACT") == "1",
    )
