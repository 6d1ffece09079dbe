"""The fleet file: which XO instances to serve, how to reach them, who may use the HTTP port.

Validation is strict (unknown keys are errors: a typo must not pass silently) and reports every
problem at once, each with its TOML key path and, where it can be found, its line.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import tomllib
import types
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from xo_mcp.core import ListenAddress
from xo_mcp.fleet.toml_lines import KeyLines
from xo_mcp.secretfile import SecretFileError, read_secret_file
from xo_mcp.sockets import is_loopback

DEFAULT_CONFIG_PATH = "/etc/xo-mcp/fleet.toml"
CA_BUNDLE_MAX_BYTES = 16 * 1024 * 1024  # a whole system trust store fits
DEFAULT_RUNTIME_DIR = "/tmp/xo-mcp"  # noqa: S108 (a tmpfs in the container, one dir per worker)
OPERATION_ID = re.compile(r"[A-Za-z0-9_.-]+|(GET|POST|PUT|PATCH|DELETE) /\S*")

InstanceName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,30}$")]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
FilePath = Annotated[Path, Strict(False)]  # TOML has no path type: a string becomes a Path

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_COMMENT = re.compile(r"\s[;#]")


def _uncarriable(text: str) -> str | None:
    """Why supervisord's config format cannot carry `text` intact (values end up in its
    `environment=` and `command=` lines, which it reads as ini with inline comments and
    non-POSIX shlex), or None. A newline would even let a value add a [program:…] section."""
    if _CONTROL.search(text):
        return "a control character (newline, tab, …)"
    if '"' in text:
        return 'a double quote (")'
    if _COMMENT.search(text):
        return "a blank before ; or # (supervisord would cut the value there)"
    if text.startswith("'") or text.endswith("'"):
        return "a single quote at one end"
    return None


class _Strict(BaseModel):
    # strict: `actions = "yes"` or `timeout_s = "30"` is a mistake to report, not to coerce.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, str_strip_whitespace=False)

    @field_validator("*", mode="after")
    @classmethod
    def _carriable(cls, value: Any) -> Any:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str | Path):
                problem = _uncarriable(str(item))
                if problem:
                    raise ValueError(f"{str(item)!r} contains {problem}")
        return value


def _shown(url: str) -> str:
    """`url` fit for an error message: never echo a password someone put in it."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]).geturl()


def _http_url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{what} must be an http(s) URL such as https://xo.example.com, got {_shown(value)!r}"
        )
    return value.rstrip("/")


class ProxyOverride(_Strict):
    """Overrides the container's HTTP(S)_PROXY / NO_PROXY for one worker."""

    http: str | None = None
    https: str | None = None
    no_proxy: list[str] = Field(default_factory=list)

    @field_validator("http", "https")
    @classmethod
    def _proxy_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value, "a proxy")


DenyUnknown = Literal["warn", "error"]


class DefaultSettings(_Strict):
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    actions: bool = False
    deny: list[str] = Field(default_factory=list)
    # A deny entry that names no operation of XO's spec: a warning, or a worker that refuses
    # to start (a typo must not leave the operation offered).
    deny_unknown: DenyUnknown = "warn"


class TelemetrySettings(_Strict):
    """OpenTelemetry traces, off unless an endpoint is given."""

    otlp_endpoint: str | None = None  # OTLP over HTTP, e.g. http://otel-collector:4318

    @field_validator("otlp_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value, "otlp_endpoint")


class SupervisionSettings(_Strict):
    """How the launcher brings instances back (seconds)."""

    disabled_poll_s: float = Field(default=15.0, gt=0, le=3600)
    failed_retry_s: float = Field(default=10.0, gt=0, le=3600)
    failed_retry_max_s: float = Field(default=300.0, gt=0, le=86400)


class ReloadSettings(_Strict):
    """How `run` notices a changed fleet file or secret file (SIGHUP always reloads)."""

    watch: bool = True
    poll_s: float = Field(default=2.0, ge=0.5, le=60)


class Secret(_Strict):
    """Where an instance's secret comes from: a file, or an environment variable."""

    file: FilePath | None = None
    env: str | None = None


class InstanceSettings(_Strict):
    url: str
    token_file: FilePath | None = None
    token_env: EnvName | None = None
    username: str | None = None
    password_file: FilePath | None = None
    password_env: EnvName | None = None
    actions: bool | None = None
    deny: list[str] | None = None
    deny_unknown: DenyUnknown | None = None
    timeout_s: float | None = Field(default=None, gt=0, le=600)
    proxy: ProxyOverride | None = None
    ca_bundle: FilePath | None = None
    tls_insecure: bool = False

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        url = _http_url(value, "url")
        if urlsplit(url).username is not None or urlsplit(url).password is not None:
            raise ValueError(
                "url must not carry credentials (user:password@): use token_file/token_env, "
                "or username with password_file/password_env"
            )
        return url

    @field_validator("deny")
    @classmethod
    def _deny(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            if not OPERATION_ID.fullmatch(item):
                raise ValueError(f"{item!r} is neither an operationId nor 'METHOD /path'")
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> InstanceSettings:
        token = [k for k in ("token_file", "token_env") if getattr(self, k) is not None]
        password = [k for k in ("password_file", "password_env") if getattr(self, k) is not None]
        if len(token) > 1 or len(password) > 1:
            raise ValueError("give the secret once: either *_file or *_env, not both")
        if token and (password or self.username is not None):
            raise ValueError("both a token and a username/password are set: keep one")
        if not token and not password:
            raise ValueError(
                "no credentials: set token_file or token_env, or username with password_file "
                "or password_env"
            )
        if password and self.username is None:
            raise ValueError("password_file/password_env needs username")
        if self.ca_bundle is not None and self.tls_insecure:
            raise ValueError("ca_bundle and tls_insecure contradict each other: keep one")
        return self

    @property
    def secret(self) -> tuple[Literal["token", "password"], Secret]:
        if self.token_file is not None or self.token_env is not None:
            return "token", Secret(file=self.token_file, env=self.token_env)
        return "password", Secret(file=self.password_file, env=self.password_env)


ToolPattern = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.*?\[\]!-]{1,128}$")]


class ClientLimitSettings(_Strict):
    """Per-client limits of the HTTP port; in [gateway] they are every client's defaults."""

    max_sessions: int | None = Field(default=None, ge=1, le=10_000)
    session_idle_s: float | None = Field(default=None, gt=0, le=86_400)
    max_pending_confirmations: int | None = Field(default=None, ge=1, le=10_000)
    requests_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)


class ClientSettings(ClientLimitSettings):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    token_file: FilePath | None = None
    token_env: EnvName | None = None
    subject: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    instances: list[InstanceName] | None = None
    read_only: bool = False
    tools: list[ToolPattern] = Field(default_factory=list)
    deny_tools: list[ToolPattern] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_identity(self) -> ClientSettings:
        given = [k for k in ("token_file", "token_env", "subject") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a client needs exactly one of token_file, token_env (a static bearer token) "
                "or subject (an OAuth client: the token's sub or client_id)"
            )
        return self


def _issuer_url(value: str, what: str) -> str:
    """https, or http on loopback only (a test or a sidecar identity provider)."""
    parts = urlsplit(value)
    secure = parts.scheme == "https" or (
        parts.scheme == "http" and parts.hostname is not None and is_loopback(parts.hostname)
    )
    if not secure or not parts.hostname:
        raise ValueError(f"{what} must be an https URL (http only on loopback), got {value!r}")
    return value


class OAuthTable(_Strict):
    """The HTTP port as an OAuth 2.1 resource server (JWT access tokens, RFC 9068)."""

    issuer: str
    audience: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    jwks_url: str | None = None
    ca_bundle: FilePath | None = None
    required_scopes: list[Annotated[str, StringConstraints(pattern=r"^\S{1,128}$")]] = Field(
        default_factory=list
    )
    leeway_s: float = Field(default=30.0, ge=0, le=600)

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        return _issuer_url(value, "issuer")

    @field_validator("jwks_url")
    @classmethod
    def _jwks(cls, value: str | None) -> str | None:
        return None if value is None else _issuer_url(value, "jwks_url")


class StateTable(_Strict):
    """State shared by the replicas of a gateway: Redis (>= 6) or Valkey."""

    url: str
    password_file: FilePath | None = None
    password_env: EnvName | None = None
    ca_bundle: FilePath | None = None
    key_prefix: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9:_.-]{1,64}$")] = "xo-mcp:"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError(
                f"url must be redis://HOST[:PORT][/DB] or rediss://… (TLS), got {_shown(value)!r}"
            )
        if parts.password is not None:
            raise ValueError("url must not carry a password: use password_file or password_env")
        return value

    @model_validator(mode="after")
    def _one_password(self) -> StateTable:
        if self.password_file is not None and self.password_env is not None:
            raise ValueError("give the password once: either password_file or password_env")
        if self.ca_bundle is not None and not self.url.startswith("rediss:"):
            raise ValueError("ca_bundle is for rediss:// (TLS) URLs")
        return self


def _listen_address(value: Any) -> ListenAddress:
    if isinstance(value, ListenAddress):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:8080, got {value!r}")
    return ListenAddress.parse(value, allow_unix=False)


Listen = Annotated[ListenAddress, PlainValidator(_listen_address)]


class GatewaySettings(ClientLimitSettings):
    listen: Listen | None = None
    allow_unauthenticated: bool = False
    max_request_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    allowed_hosts: list[str] = Field(default_factory=list)
    max_sessions_total: int = Field(default=10_000, ge=1, le=100_000)
    header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    body_timeout_s: float = Field(default=30.0, gt=0, le=600)
    oauth: OAuthTable | None = None
    state: StateTable | None = None
    state_key_file: FilePath | None = None
    sessions: Literal["stateful", "stateless"] = "stateful"
    drain_s: float = Field(default=20.0, ge=0, le=600)
    compact_tools: bool = True  # the aggregated surface's tool list in compact form
    clients: list[ClientSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _exposure(self) -> GatewaySettings:
        problem = self.exposure_problem(self.listen)
        if problem:
            raise ValueError(problem)
        if self.oauth is None and any(client.subject for client in self.clients):
            raise ValueError("clients with a subject need a [gateway.oauth] table")
        if self.state is not None and self.state_key_file is None:
            raise ValueError(
                "[gateway.state] (replicas) needs state_key_file: one key all replicas share, "
                "to seal the requestState they hand out"
            )
        return self

    def exposure_problem(self, listen: ListenAddress | None) -> str | None:
        """Why serving on `listen` would expose MCP unauthenticated (None if it would not)."""
        if listen is None:
            return None
        if listen.is_loopback or self.clients or self.allow_unauthenticated:
            return None
        return (
            f"listen = {str(listen)!r} reaches beyond loopback without [[gateway.clients]]: "
            "add clients with bearer tokens, or set allow_unauthenticated = true knowingly"
        )


class Fleet(_Strict):
    sandbox: Literal["required", "warn", "off"] = "warn"
    runtime_dir: FilePath = Path(DEFAULT_RUNTIME_DIR)
    # Every line on stderr: "auto" is text on a terminal, JSON lines anywhere else.
    log_format: Literal["auto", "text", "json"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    defaults: DefaultSettings = Field(default_factory=DefaultSettings)
    supervision: SupervisionSettings = Field(default_factory=SupervisionSettings)
    reload: ReloadSettings = Field(default_factory=ReloadSettings)
    instances: dict[InstanceName, InstanceSettings]

    @field_validator("instances")
    @classmethod
    def _not_empty(cls, value: dict[str, InstanceSettings]) -> dict[str, InstanceSettings]:
        if not value:
            raise ValueError("at least one [instances.<name>] table is needed")
        return value

    @field_validator("runtime_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        if not value.is_absolute():
            raise ValueError(f"runtime_dir must be an absolute path, got {str(value)!r}")
        return value

    # Settings an instance inherits from [defaults] unless it overrides them.
    def actions_of(self, name: str) -> bool:
        own = self.instances[name].actions
        return self.defaults.actions if own is None else own

    def deny_of(self, name: str) -> list[str]:
        own = self.instances[name].deny
        return self.defaults.deny if own is None else own

    def timeout_of(self, name: str) -> float:
        own = self.instances[name].timeout_s
        return self.defaults.timeout_s if own is None else own

    def deny_unknown_of(self, name: str) -> DenyUnknown:
        own = self.instances[name].deny_unknown
        return self.defaults.deny_unknown if own is None else own

    def deny_key_of(self, name: str) -> str:
        """Where an instance's deny list was written (for messages that name fleet keys)."""
        return (
            f"instances.{name}.deny" if self.instances[name].deny is not None else ("defaults.deny")
        )


class FleetError(Exception):
    """Every problem in a fleet file, one line each."""

    def __init__(self, path: str, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.path = path
        self.problems = problems

    def report(self) -> list[str]:
        """The lines `check` prints, which a refused reload logs too (one record each)."""
        header = f"xo-mcp-fleet: {self.path} is invalid ({len(self.problems)} problem(s)):"
        return [header, *(f"  {problem}" for problem in self.problems)]


def serving_problems(
    fleet: Fleet, *, listen: ListenAddress | None, instance: str | None
) -> list[str]:
    """What `run` cannot serve with this file: checked at start and by every reload."""
    problems = []
    if instance is not None and instance not in fleet.instances:
        problems.append(
            f"--instance {instance}: no such instance (have: {', '.join(fleet.instances)})"
        )
    exposure = fleet.gateway.exposure_problem(listen)
    if exposure:
        problems.append(f"--listen: {exposure}")
    return problems


def _loc_text(loc: tuple[int | str, ...]) -> str:
    """("gateway", "clients", 0, "name") → "gateway.clients[0].name"."""
    text = ""
    for item in loc:
        text += f"[{item}]" if isinstance(item, int) else ("." if text else "") + str(item)
    return text or "(top level)"


NAME_RULE = (
    "use lowercase letters, digits and dashes, first a letter or digit, at most 31 characters"
)


INLINE_SECRETS = ("token", "password")


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "string_pattern_mismatch" and "[key]" in error["loc"]:
        return f"invalid name {error['input']!r}: {NAME_RULE}"
    if kind == "extra_forbidden" and error["loc"][-1] in INLINE_SECRETS:
        key = error["loc"][-1]
        return f"secrets are never written in the file: use {key}_file or {key}_env"
    if kind == "extra_forbidden":
        guess = _nearest_key(error["loc"])
        if guess:
            return f"unknown key; did you mean {guess!r}? (see configs/fleet.example.toml)"
        return "unknown key (check the spelling; see configs/fleet.example.toml)"
    if kind == "missing":
        return "required key is missing"
    if kind == "string_pattern_mismatch" and str(error["loc"][-1]).endswith("_env"):
        return f"{error['input']!r} is not an environment variable name (letters, digits, _)"
    message = str(error["msg"])
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    value = error.get("input")
    if isinstance(value, str | int | float | bool):  # TOML scalars: show what was written
        return f"{message}, got {tomli_w.dumps({'v': value})[4:].strip()}"
    return message


def _model_in(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model a field holds, and whether a key or an index comes first (dict, list)."""
    origin = get_origin(annotation)
    if origin in (dict, list):
        return _model_in(get_args(annotation)[-1])[0], True
    if origin in (Union, types.UnionType, Annotated):
        for arg in get_args(annotation):
            model, keyed = _model_in(arg)
            if model is not None:
                return model, keyed
        return None, False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def _nearest_key(loc: tuple[int | str, ...]) -> str | None:
    """The key of the table at `loc[:-1]` closest to the unknown `loc[-1]`, if one is close."""
    model: type[BaseModel] | None = Fleet
    keyed = False
    for part in loc[:-1]:
        if keyed:
            keyed = False
            continue
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None
        model, keyed = _model_in(model.model_fields[part].annotation)
    if model is None:
        return None
    key, fields = str(loc[-1]), list(model.model_fields)
    # `timeout` for `timeout_s`, `https_proxy` for `https`: one holds the other.
    holding = [field for field in fields if field in key or key in field]
    if holding:
        return max(holding, key=len)
    found = difflib.get_close_matches(key, fields, n=1, cutoff=0.6)
    return found[0] if found else None


Loc = tuple[str | int, ...]
# Where a secret comes from: its key path, and a file or an environment variable.
SecretSource = tuple[Loc, Path | None, str | None]
# A problem and the line it is on (0: unknown), so that they can be listed in line order.
Located = tuple[int, str]


def _problems(error: ValidationError, path: str, lines: KeyLines) -> list[Located]:
    problems = []
    for item in error.errors():
        loc = tuple(
            part for part in item["loc"] if not str(part).startswith(("function-", "model-", "["))
        )
        problems.append(_where(path, lines, loc, _message(item)))
    return problems


def _where(path: str, lines: KeyLines, loc: Loc, problem: str) -> Located:
    line = lines.find(loc)
    where = f"{path}:{line}" if line else path
    return line or 0, f"{where}: {_loc_text(loc)}: {problem}"


def _in_line_order(problems: list[Located]) -> list[str]:
    """By line (the file's own order), those without a line first; ties keep their order."""
    return [text for _, text in sorted(problems, key=lambda item: item[0])]


def _reference_problems(
    instances: Collection[str], clients: Mapping[int, ClientSettings]
) -> list[tuple[Loc, str]]:
    """What one table cannot know alone: names used twice, scopes naming unknown instances."""
    problems: list[tuple[Loc, str]] = []
    first: dict[str, int] = {}
    for index, client in clients.items():
        loc: Loc = ("gateway", "clients", index)
        if client.name in first:
            problems.append(
                (
                    (*loc, "name"),
                    f"duplicate client name {client.name!r} "
                    f"(gateway.clients[{first[client.name]}] has it too)",
                )
            )
        first.setdefault(client.name, index)
        unknown = [name for name in client.instances or [] if name not in instances]
        if unknown:
            problems.append(
                (
                    (*loc, "instances"),
                    f"unknown instance(s) {', '.join(unknown)} "
                    f"(the fleet has: {', '.join(instances)})",
                )
            )
    return problems


def _gateway_sources(gateway: GatewaySettings) -> list[SecretSource]:
    sources: list[SecretSource] = []
    if gateway.oauth is not None and gateway.oauth.ca_bundle is not None:
        sources.append((("gateway", "oauth", "ca_bundle"), gateway.oauth.ca_bundle, None))
    if gateway.state_key_file is not None:
        sources.append((("gateway", "state_key_file"), gateway.state_key_file, None))
    state = gateway.state
    if state is not None:
        loc: Loc = ("gateway", "state")
        if state.password_file is not None:
            sources.append(((*loc, "password_file"), state.password_file, None))
        if state.password_env is not None:
            sources.append(((*loc, "password_env"), None, state.password_env))
        if state.ca_bundle is not None:
            sources.append(((*loc, "ca_bundle"), state.ca_bundle, None))
    return sources


def _secret_sources(
    instances: Mapping[str, InstanceSettings],
    clients: Mapping[int, ClientSettings],
    gateway: GatewaySettings | None = None,
) -> list[SecretSource]:
    sources: list[SecretSource] = _gateway_sources(gateway) if gateway is not None else []
    for name, instance in instances.items():
        for key in ("token_file", "password_file", "token_env", "password_env", "ca_bundle"):
            value = getattr(instance, key)
            if value is None:
                continue
            is_file = key.endswith("_file") or key == "ca_bundle"
            sources.append(
                (("instances", name, key), value if is_file else None, None if is_file else value)
            )
    for index, client in clients.items():
        loc: Loc = ("gateway", "clients", index)
        if client.token_file is not None:
            sources.append(((*loc, "token_file"), client.token_file, None))
        if client.token_env is not None:
            sources.append(((*loc, "token_env"), None, client.token_env))
    return sources


def _secret_problems(
    sources: list[SecretSource], sandboxed: bool, env: Mapping[str, str]
) -> list[tuple[Loc, str]]:
    """Secrets must be readable now: finding out when a worker starts is too late."""
    problems: list[tuple[Loc, str]] = []
    for loc, file, variable in sources:
        if file is not None:
            problem = _file_problem(file, CA_BUNDLE_MAX_BYTES if loc[-1] == "ca_bundle" else None)
        else:
            problem = _env_problem(variable or "", env)
        if problem is None and file is not None and sandboxed and loc[-1] != "ca_bundle":
            problem = _exposure_problem(file)
        if problem is None and file is not None and loc[-1] == "state_key_file":
            problem = _state_key_problem(file)
        if problem:
            problems.append((loc, problem))
    return problems


def _valid_parts(
    data: Any,
) -> tuple[dict[str, InstanceSettings], dict[int, ClientSettings], list[str], bool]:
    """The instance and client tables that are valid on their own, in a file that is not (and
    every instance name): their secrets and references are checked too, so that one run of
    `check` lists every problem."""
    data = data if isinstance(data, dict) else {}
    instances: dict[str, InstanceSettings] = {}
    raw_instances = data.get("instances")
    raw_instances = raw_instances if isinstance(raw_instances, dict) else {}
    for name, table in raw_instances.items():
        with contextlib.suppress(ValidationError):
            instances[name] = InstanceSettings.model_validate(table)
    clients: dict[int, ClientSettings] = {}
    gateway = data.get("gateway")
    raw_clients = gateway.get("clients") if isinstance(gateway, dict) else None
    for index, table in enumerate(raw_clients if isinstance(raw_clients, list) else []):
        with contextlib.suppress(ValidationError):
            clients[index] = ClientSettings.model_validate(table)
    return instances, clients, list(raw_instances), data.get("sandbox") != "off"


def _file_problem(file: Path, limit: int | None = None) -> str | None:
    if not file.is_absolute():
        return f"{file}: use an absolute path"
    try:
        read_secret_file(file, limit) if limit else read_secret_file(file)
    except SecretFileError as error:
        return str(error)
    return None


def _exposure_problem(file: Path) -> str | None:
    from xo_mcp.sandbox import readable_by_every_worker

    shared = readable_by_every_worker(file)
    if shared is None:
        return None
    return (
        f"{file}: every worker may read {shared} (code and system files), so this secret would "
        "not be isolated: keep secrets elsewhere, e.g. /run/secrets"
    )


STATE_KEY_MIN_BYTES = 32


def _state_key_problem(file: Path) -> str | None:
    if len(read_secret_file(file).encode()) >= STATE_KEY_MIN_BYTES:
        return None
    return (
        f"{file}: a state key needs at least {STATE_KEY_MIN_BYTES} bytes "
        "(e.g. `openssl rand -hex 32 > FILE`), the same file on every replica"
    )


def _env_problem(variable: str, env: Mapping[str, str]) -> str | None:
    if not env.get(variable):
        return f"environment variable {variable} is not set (or empty)"
    return None


def _toml_problem(path: str, error: tomllib.TOMLDecodeError) -> str:
    """tomllib says "… (at line 5, column 16)": put the line where every other problem has it."""
    message = str(error)
    found = re.search(r" \(at line (\d+), column (\d+)\)$", message)
    if found is None:
        return f"{path}: not valid TOML: {message}"
    text = message[: found.start()]
    return f"{path}:{found.group(1)}: not valid TOML: {text} (column {found.group(2)})"


def parse_fleet(
    text: str,
    path: str = "fleet.toml",
    env: Mapping[str, str] | None = None,
    *,
    check_secrets: bool = True,
) -> Fleet:
    """Validate a fleet file's text; raise FleetError listing every problem.

    `check_secrets` also requires every secret file to be readable and every secret variable
    to be set, which is what starting the fleet needs (and `render` does not).
    """
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise FleetError(path, [f"{path}: not valid TOML: nested too deeply"]) from None
    except tomllib.TOMLDecodeError as error:
        raise FleetError(path, [_toml_problem(path, error)]) from None
    lines = KeyLines(text)
    env = os.environ if env is None else env
    try:
        fleet = Fleet.model_validate(data)
    except ValidationError as error:
        instances, clients, names, sandboxed = _valid_parts(data)
        found = _reference_problems(names, clients)
        if check_secrets:
            found += _secret_problems(_secret_sources(instances, clients), sandboxed, env)
        problems = _problems(error, path, lines)
        problems += [_where(path, lines, loc, problem) for loc, problem in found]
        raise FleetError(path, _in_line_order(problems)) from None
    clients = dict(enumerate(fleet.gateway.clients))
    located = _reference_problems(fleet.instances, clients)
    if check_secrets:
        sources = _secret_sources(fleet.instances, clients, fleet.gateway)
        located += _secret_problems(sources, fleet.sandbox != "off", env)
    if located:
        problems = [_where(path, lines, loc, problem) for loc, problem in located]
        raise FleetError(path, _in_line_order(problems))
    return fleet


def read_fleet_text(path: str | Path) -> str:
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FleetError(
            str(path), [f"{path}: no such file (create one with `xo-mcp-fleet init`)"]
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise FleetError(str(path), [f"{path}: cannot read it ({error})"]) from None


def load_fleet(
    path: str | Path, env: Mapping[str, str] | None = None, *, check_secrets: bool = True
) -> Fleet:
    text = read_fleet_text(path)
    return parse_fleet(text, str(path), env, check_secrets=check_secrets)
