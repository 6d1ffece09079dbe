"""Start-up: check XO's kill switch, fetch the OpenAPI spec, generate the tools."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xo_mcp import denylist, logs
from xo_mcp.wire.exits import EXIT_CONFIG, EXIT_MCP_DISABLED, EXIT_UNAVAILABLE
from xo_mcp.worker.calls import ToolRunner
from xo_mcp.worker.openapi import ApiCatalog, SpecError, operation_names, parse_spec
from xo_mcp.worker.settings import WorkerSettings
from xo_mcp.worker.tools import ToolSpec, build_tools
from xo_mcp.worker.xo_client import XoClient, XoRequestError


class BootError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_UNAVAILABLE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Booted:
    client: XoClient
    catalog: ApiCatalog
    tools: list[ToolSpec]
    runner: ToolRunner


def _setting(settings: WorkerSettings, variable: str, value: str) -> str:
    """`XO_TLS_INSECURE=1` alone, `instances.lab.tls_insecure = true` in a fleet."""
    name = settings.name_of(variable)
    return f"{variable}={value}" if name == variable else f"{name} = {value}"


def check_deny_list(settings: WorkerSettings, spec: Any) -> None:
    """Name each deny entry that matches no operation of XO's spec (a typo would leave the
    operation offered); with `deny_unknown = "error"`, refuse to start."""
    found = denylist.unknown(settings.deny, operation_names(spec))
    if not found:
        return
    where = settings.name_of("XO_MCP_DENY_LIST")
    info = spec.get("info") if isinstance(spec.get("info"), dict) else {}
    api = f"XO's REST API {info.get('version')}" if info.get("version") else "XO's REST API"
    problems = [
        f"{where}: {entry!r} is not an operation of {api}"
        + (f" (did you mean {near!r}?)" if near else "")
        for entry, near in found
    ]
    if settings.deny_unknown == "error":
        rule = _setting(settings, "XO_MCP_DENY_UNKNOWN", "error")
        raise BootError("; ".join(problems) + f" ({rule})", EXIT_CONFIG)
    for problem in problems:
        logs.log(problem + ": nothing is hidden by it", level="warning")


async def boot(settings: WorkerSettings) -> Booted:
    if settings.tls_insecure:
        logs.log(
            f"{_setting(settings, 'XO_TLS_INSECURE', '1')}: XO's TLS certificate is NOT "
            "verified; anyone on the path can read the credentials. Use "
            f"{settings.name_of('XO_CA_BUNDLE')} instead.",
            level="warning",
        )
    client = XoClient(settings)
    try:
        await client.check_mcp_status()
        spec = await client.fetch_spec()
        check_deny_list(settings, spec)
        catalog = parse_spec(spec, actions=settings.enable_actions, deny=settings.deny)
    except XoRequestError as error:
        await client.aclose()
        code = EXIT_MCP_DISABLED if error.mcp_disabled else EXIT_UNAVAILABLE
        raise BootError(str(error), code) from None
    except SpecError as error:
        await client.aclose()
        raise BootError(str(error)) from None
    except BootError:
        await client.aclose()
        raise
    tools = build_tools(catalog)
    runner = ToolRunner(client, catalog, tools)
    mode = "actions enabled" if settings.enable_actions else "read-only"
    version = f" (API {catalog.version})" if catalog.version else ""
    logs.log(f"connected to {settings.xo_url}{version}: {len(tools)} tools, {mode}")
    if catalog.skipped_streams:
        logs.log(f"not exposed (endless streams): {', '.join(catalog.skipped_streams)}")
    return Booted(client, catalog, tools, runner)
