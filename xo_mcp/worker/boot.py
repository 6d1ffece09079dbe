"""Start-up: check XO's kill switch, fetch the OpenAPI spec, generate the tools."""

from __future__ import annotations

from dataclasses import dataclass

from xo_mcp import logs
from xo_mcp.wire.exits import EXIT_MCP_DISABLED, EXIT_UNAVAILABLE
from xo_mcp.worker.calls import ToolRunner
from xo_mcp.worker.openapi import ApiCatalog, SpecError, parse_spec
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


def log(message: str, level: logs.LogLevel = "info") -> None:
    logs.log(message, level=level)


async def boot(settings: WorkerSettings) -> Booted:
    if settings.tls_insecure:
        log(
            "XO_TLS_INSECURE=1: XO's TLS certificate is NOT verified; anyone on the path "
            "can read the credentials. Use XO_CA_BUNDLE instead.",
            "warning",
        )
    client = XoClient(settings)
    try:
        await client.check_mcp_status()
        spec = await client.fetch_spec()
        catalog = parse_spec(spec, actions=settings.enable_actions, deny=settings.deny)
    except XoRequestError as error:
        await client.aclose()
        code = EXIT_MCP_DISABLED if error.mcp_disabled else EXIT_UNAVAILABLE
        raise BootError(str(error), code) from None
    except SpecError as error:
        await client.aclose()
        raise BootError(str(error)) from None
    tools = build_tools(catalog)
    runner = ToolRunner(client, catalog, tools)
    mode = "actions enabled" if settings.enable_actions else "read-only"
    version = f" (API {catalog.version})" if catalog.version else ""
    log(f"connected to {settings.xo_url}{version}: {len(tools)} tools, {mode}")
    if catalog.skipped_streams:
        log(f"not exposed (endless streams): {', '.join(catalog.skipped_streams)}")
    return Booted(client, catalog, tools, runner)
