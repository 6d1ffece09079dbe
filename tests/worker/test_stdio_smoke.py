"""The worker over stdio with the Python SDK client, in both protocol eras."""

from __future__ import annotations

import pytest
from support.clients import ERAS, stdio_client, text, tool_names
from support.processes import PYTHON, Sim, worker_env

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", ERAS)
async def test_lists_tools_and_answers_a_query(sim: Sim, mode: str) -> None:
    async with stdio_client([PYTHON, "-m", "xo_mcp.worker"], worker_env(sim), mode=mode) as client:
        names = tool_names(await client.list_tools())
        assert "vms_query" in names and "check_connection" in names
        assert not any(name.endswith("_action") for name in names)
        result = await client.call_tool(
            "vms_query", {"operation": "GetVms", "fields": "name_label", "limit": 2}
        )
        lines = text(result).splitlines()
        assert lines[:2] == ["| name_label |", "| --- |"]
        assert len(lines) == 4
