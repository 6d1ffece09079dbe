"""The supervisord configuration for a fleet: one program per instance, never a secret in it.

Secrets reach workers as file paths (`*_file`) or through the launcher's per-worker socket
(`*_env`); the control socket is password-protected with a random password whose plain text
only the launcher holds (the file has its SHA-1, as supervisord expects).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import sys
from importlib import resources
from string import Template

from xo_mcp.core import RuntimeLayout
from xo_mcp.fleet.config import Fleet, InstanceSettings
from xo_mcp.fleet.relay import log_pipe
from xo_mcp.wire.exits import EXIT_MCP_DISABLED, EXIT_UNAVAILABLE

PROXY_KEYS = ("http_proxy", "https_proxy", "no_proxy")
CONTROL_USER = "launcher"


def _literal(value: str) -> str:
    """`value` as supervisord reads it back: it expands %(name)s everywhere, so % is doubled."""
    return value.replace("%", "%%")


def _quote(value: str) -> str:
    """A value for supervisord's `environment=`, which it splits with a non-POSIX shlex: a
    double-quoted token keeps everything but `"` (no escapes exist), and quotes are stripped.
    The fleet file's validation refuses what cannot be carried (`"`, control characters, a
    blank before ; or #); a backslash is literal, so it is not doubled."""
    return f'"{_literal(value)}"'


def _proxy_env(instance: InstanceSettings) -> dict[str, str]:
    """Per-instance proxy settings, in both cases so they beat inherited lowercase ones."""
    proxy = instance.proxy
    if proxy is None:
        return {}
    values = {"http_proxy": proxy.http, "https_proxy": proxy.https}
    if proxy.no_proxy:
        values["no_proxy"] = ",".join(proxy.no_proxy)
    env: dict[str, str] = {}
    for key, value in values.items():
        if value is not None:
            env[key] = value
            env[key.upper()] = value
    return env


def worker_environment(fleet: Fleet, name: str, layout: RuntimeLayout) -> dict[str, str]:
    instance = fleet.instances[name]
    kind, secret = instance.secret
    # No PYTHONUNBUFFERED: a line-buffered stderr writes each log line at once, so supervisord
    # never copies half a line (print() unbuffered writes the text and its newline apart).
    # The worker's socket answers this pid only (the launcher, which hosts the gateway): a
    # sandboxed sibling could otherwise call it with this instance's credentials.
    env = {"XO_URL": instance.url, "XO_MCP_INSTANCE": name, "XO_MCP_GATEWAY_PID": str(os.getpid())}
    if secret.file is not None:
        env["XO_TOKEN_FILE" if kind == "token" else "XO_PASSWORD_FILE"] = str(secret.file)
    else:
        env["XO_MCP_SECRET_SOCKET"] = str(layout.secret_socket(name))
        env["XO_MCP_SECRET_KIND"] = kind
    if instance.username is not None:
        env["XO_USERNAME"] = instance.username
    if fleet.actions_of(name):
        env["XO_MCP_ENABLE_ACTIONS"] = "1"
    deny = fleet.deny_of(name)
    if deny:
        env["XO_MCP_DENY_LIST"] = ",".join(deny)
    env["XO_MCP_TIMEOUT"] = f"{fleet.timeout_of(name):g}"
    if instance.ca_bundle is not None:
        env["XO_CA_BUNDLE"] = str(instance.ca_bundle)
    if instance.tls_insecure:
        env["XO_TLS_INSECURE"] = "1"
    env["XO_MCP_DENY_UNKNOWN"] = fleet.deny_unknown_of(name)
    if fleet.telemetry.otlp_endpoint is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = fleet.telemetry.otlp_endpoint
    env.update(_proxy_env(instance))
    env["XO_MCP_FLEET_KEYS"] = ",".join(f"{k}={v}" for k, v in fleet_keys(fleet, name).items())
    return env


def fleet_keys(fleet: Fleet, name: str) -> dict[str, str]:
    """The fleet-file key behind each variable, so that the worker's messages name what the
    operator wrote (`instances.lyon.password_env`), not a variable they never saw."""
    instance = fleet.instances[name]
    table = f"instances.{name}"
    secret_key = next(
        key
        for key in ("token_file", "token_env", "password_file", "password_env")
        if getattr(instance, key) is not None
    )
    keys = {
        "XO_URL": f"{table}.url",
        "XO_USERNAME": f"{table}.username",
        "XO_CA_BUNDLE": f"{table}.ca_bundle",
        "XO_TLS_INSECURE": f"{table}.tls_insecure",
        "XO_MCP_DENY_LIST": fleet.deny_key_of(name),
        "XO_MCP_DENY_UNKNOWN": (
            f"{table}.deny_unknown"
            if instance.deny_unknown is not None
            else "defaults.deny_unknown"
        ),
        "XO_MCP_TIMEOUT": (
            f"{table}.timeout_s" if instance.timeout_s is not None else "defaults.timeout_s"
        ),
    }
    variable = "XO_TOKEN" if secret_key.startswith("token") else "XO_PASSWORD"
    keys[variable] = keys[f"{variable}_FILE"] = f"{table}.{secret_key}"
    return keys


def worker_command(fleet: Fleet, name: str, layout: RuntimeLayout, python: str) -> str:
    args = [
        python,
        "-m",
        "xo_mcp.worker",
        "--gateway-socket",
        str(layout.worker_socket(name)),
        "--sandbox",
        fleet.sandbox,
        "--runtime-dir",
        str(layout.instance_dir(name)),
    ]
    return _literal(shlex.join(args))


def _root_user() -> str:
    # As root, supervisord warns unless told that staying root is intended (CI runs as root;
    # the image runs as uid 65532).
    return "\nuser=root" if os.geteuid() == 0 else ""


def password_hash(password: str) -> str:
    return "{SHA}" + hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest()


def template(name: str) -> Template:
    """One of the files in supervisor/ (packaged as xo_mcp/fleet/supervisor_conf)."""
    text = resources.files("xo_mcp.fleet").joinpath("supervisor_conf", name).read_text("utf-8")
    return Template(text)


def program_section(fleet: Fleet, name: str, layout: RuntimeLayout, python: str) -> str:
    environment = ",".join(
        f"{k}={_quote(v)}" for k, v in worker_environment(fleet, name, layout).items()
    )
    return template("program.conf").substitute(
        name=name,
        command=worker_command(fleet, name, layout, python),
        environment=environment,
        # supervisord expands a program's log file name twice (its `get`, then `expand`).
        log_pipe=_literal(_literal(str(log_pipe(layout, name)))),
        expected_exits=f"{EXIT_MCP_DISABLED},{EXIT_UNAVAILABLE}",
    )


def program_sections(
    fleet: Fleet, layout: RuntimeLayout, python: str | None = None
) -> dict[str, str]:
    """Each instance's [program:…] section: what its worker runs with, all of it (a reload
    restarts the workers whose section differs)."""
    python = python or sys.executable
    return {name: program_section(fleet, name, layout, python) for name in fleet.instances}


def render_supervisord_conf(
    fleet: Fleet, layout: RuntimeLayout, control_password: str, python: str | None = None
) -> str:
    """The whole supervisord.conf. Its only credential is the control socket's password hash."""
    python = python or sys.executable
    head = template("supervisord.conf").substitute(
        loglevel="info",
        pidfile=_literal(str(layout.pidfile)),
        runtime_dir=_literal(str(layout.root)),
        root_user=_root_user(),
        control_socket=_literal(str(layout.control_socket)),
        control_user=CONTROL_USER,
        password_hash=password_hash(control_password),
    )
    return head + "".join(program_sections(fleet, layout, python).values())
