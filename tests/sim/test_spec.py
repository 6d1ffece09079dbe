"""The OpenAPI document the simulator generates from its own routes (fact sheet §5, §6.2).

What matters is what an MCP server derives from it: operationIds, `x-mcp-exposure`, the
default `fields` read from the examples, and the tools grouped by first path segment.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
from support.npm import OFFICIAL_READ_ONLY_TOOLS
from support.paths import path_facts, words

from xo_mcp.sim.catalog import ROWS
from xo_mcp.sim.params import parse_params

pytestmark = pytest.mark.anyio

TSV = Path("/work/shared/reference/xo-rest-operations.tsv")
METHODS = ("get", "post", "put", "patch", "delete")

# Used when the reference table is not on this machine: `mcp_default_fields` of every
# top-level collection, as the official MCP derives them from XO's real spec.
COLLECTION_DEFAULT_FIELDS = {
    "/acl-privileges": "id,action,resource",
    "/acl-roles": "id,name,isTemplate",
    "/alarms": "body,id,object",
    "/backup/jobs/metadata": "name,xoMetadata,id",
    "/backup/jobs/mirror": "name,mode,id",
    "/backup/jobs/vm": "name,mode,type,id",
    "/backup/logs": "jobName,status,data",
    "/backup-archives": "id,backupRepository,disks",
    "/backup-jobs": "name,mode,type,id",
    "/backup-logs": "jobName,status,data",
    "/backup-repositories": "id,name,enabled",
    "/groups": "name,id,users",
    "/hosts": "id,name_label,productBrand",
    "/messages": "name,body,id,$object",
    "/networks": "nbd,name_label,id",
    "/pbds": "attached,id,device_config",
    "/pcis": "class_name,device_name,id",
    "/pgpus": "id,dom0Access,gpuGroup",
    "/pifs": "attached,device,deviceName,id",
    "/pools": "auto_poweron,name_label,id",
    "/proxies": "vmUuid,id,name",
    "/restore/logs": "status,data",
    "/restore-logs": "status,data",
    "/schedules": "enabled,jobId,cron,id",
    "/servers": "id,status",
    "/sms": "uuid,name_label,SM_type",
    "/srs": "uuid,name_label,allocationStrategy",
    "/tasks": "status,id,properties",
    "/users": "permission,name,id",
    "/vbds": "device,bootable,uuid",
    "/vdi-snapshots": "uuid,snapshot_time,$snapshot_of",
    "/vdis": "type,cbt_enabled,missing,name_description,name_label,parent,size,snapshots,tags,"
    "usage,VDI_type,current_operations,other_config,$SR,$VBDs,id,uuid,$pool,$poolId,_xapiRef",
    "/vifs": "attached,id,device",
    "/vm-controllers": "type,uuid",
    "/vm-snapshots": "uuid,snapshot_time,$snapshot_of",
    "/vm-templates": "id,isDefaultTemplate,name_label",
    "/vms": "name_label,power_state,uuid",
}


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, item[method])
        for path, item in spec["paths"].items()
        for method in METHODS
        if method in item
    ]


def default_fields(operation: dict[str, Any]) -> str:
    """What the official MCP's `extractDefaultFields` reads from an operation's examples."""
    for code in ("200", "201"):
        for media in operation["responses"].get(code, {}).get("content", {}).values():
            for example in media.get("examples", {}).values():
                value = example.get("value")
                value = value[0] if isinstance(value, list) and value else value
                if isinstance(value, dict):
                    return ",".join(key for key in value if key != "href")
    return ""


def read_only_tools(spec: dict[str, Any]) -> list[str]:
    """The official MCP's grouping: first path segment, `allow` GETs, route filter applied."""
    tools: list[str] = []
    for method, path, operation in operations(spec):
        if path.endswith(("/stats", ".{format}", ".txt", ".tgz")):
            continue
        if method != "GET" or operation.get("x-mcp-exposure") != "allow":
            continue
        name = path.lstrip("/").split("/")[0].replace("-", "_") + "_query"
        if name not in tools:
            tools.append(name)
    return tools


@pytest.fixture
async def spec(xo) -> dict[str, Any]:
    response = await xo.request("GET", "/docs/swagger.json", auth=False)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    document: dict[str, Any] = response.json()
    return document


async def test_the_document_is_openapi_3_with_xos_version_and_base(spec) -> None:
    assert spec["openapi"] == "3.0.0"
    assert spec["info"]["version"] == "0.39.0"
    assert spec["servers"] == [{"url": "/rest/v0"}]
    assert set(spec["components"]["securitySchemes"]) == {"token", "basic"}


async def test_it_covers_every_operation_the_simulator_serves(spec) -> None:
    ops = operations(spec)
    assert len(ops) == len(ROWS) >= 100
    assert len({path.split("/")[1] for _, path, _ in ops}) >= 20
    assert sorted((method, path) for method, path, _ in ops) == sorted(
        (r.method, r.path) for r in ROWS
    )
    # Tool order follows the order of `paths`, so it keeps the real spec's.
    assert list(spec["paths"]) == list(dict.fromkeys(r.path for r in ROWS))


async def test_operation_ids_exposures_and_parameters_follow_the_catalog(spec) -> None:
    rows = {(row.method, row.path): row for row in ROWS}
    for method, path, operation in operations(spec):
        row = rows[(method, path)]
        assert operation["operationId"] == row.operation_id
        assert operation.get("x-mcp-exposure") == row.exposure
        assert operation["tags"] == row.tags.split(",")
        declared = [(p["in"], p["name"]) for p in operation.get("parameters", [])]
        assert declared == [(p.location, p.name) for p in parse_params(row.params)]
        assert all(p["required"] for p in operation.get("parameters", []) if p["in"] == "path")
        assert "summary" not in operation
        assert operation["description"]


# Words of the real spec's descriptions, or of the simulator's old ones, that must not come back:
# XO's privilege boilerplate, and arguments the simulator invented.
NOT_OURS = ("Required privilege", "match the following", "markdown=true", "sync=true")


async def test_descriptions_say_what_each_operation_acts_on(spec) -> None:
    for method, path, operation in operations(spec):
        description = operation["description"]
        facts = path_facts(path)
        # Its first sentence, without any path it quotes (a quoted path names everything).
        said = words(re.sub(r"\S*/\S*", "", description.split(". ")[0]))
        missing = [word for word in facts.resource + facts.sub if word not in said]
        assert missing == [], (method, path, description)
        assert not any(text in description for text in NOT_OURS), (method, path)


async def test_descriptions_carry_xos_privileges_and_preconditions(spec) -> None:
    def described(method: str, path: str) -> str:
        text: str = spec["paths"][path][method]["description"]
        return text

    assert described("delete", "/vms/{id}").endswith("\n- resource: vm, action: delete")
    start = described("post", "/vms/{id}/actions/start")
    assert "must be halted" in start
    assert start.endswith(
        "- resource: vm, action: start\n- resource: host, action: allow-vm (when `hostId` is given)"
    )
    assert "must be running" in described("delete", "/vms/{id}/stats/data_source/{data_source}")
    listing = described("get", "/vms/{id}/alarms")
    assert listing.endswith("privilege on:\n- resource: alarm, action: read")
    assert "privilege" not in described("get", "/ping")


def reference_table() -> list[dict[str, str]]:
    """XO's real operations (the reference TSV), or the collections encoded above."""
    if not TSV.exists():
        return [
            {"method": "GET", "path": path, "mcp_default_fields": fields}
            for path, fields in COLLECTION_DEFAULT_FIELDS.items()
        ]
    with TSV.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


async def test_it_matches_xos_real_operations(spec) -> None:
    ours = {(method, path): operation for method, path, operation in operations(spec)}
    table = reference_table()
    if TSV.exists():
        assert set(ours) == {(row["method"], row["path"]) for row in table}
    for row in table:
        operation = ours[(row["method"], row["path"])]
        if "operationId" in row:
            assert operation["operationId"] == row["operationId"]
            assert operation.get("x-mcp-exposure", "(missing)") == row["x-mcp-exposure"]
            assert sorted(operation["responses"]) == sorted(row["response_codes"].split(","))
            assert operation.get("deprecated", False) == (row["deprecated"] == "yes")


async def test_every_get_gives_mcps_xos_default_fields(spec) -> None:
    ours = {(method, path): operation for method, path, operation in operations(spec)}
    for row in reference_table():
        if row["method"] == "GET":
            operation = ours[("GET", row["path"])]
            assert default_fields(operation) == row["mcp_default_fields"], row["path"]


async def test_collections_give_mcps_xos_default_fields(spec) -> None:
    # Runs everywhere, reference table or not.
    for path, fields in COLLECTION_DEFAULT_FIELDS.items():
        assert default_fields(spec["paths"][path]["get"]) == fields, path


async def test_collection_examples_are_hrefs_then_objects_with_hrefs(spec) -> None:
    examples = spec["paths"]["/vms/{id}/vdis"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["examples"]
    links = examples["Example 1"]["value"]
    assert all(link.startswith("/rest/v0/vdis/") for link in links)
    assert [item["href"] for item in examples["Example 2"]["value"]] == links
    privileges = spec["paths"]["/acl-roles/{id}/privileges"]["get"]["responses"]["200"]
    first = privileges["content"]["application/json"]["examples"]["Example 1"]["value"][0]
    assert first.startswith("/rest/v0/acl-privileges/")


async def test_async_actions_document_their_task_answer(spec) -> None:
    start = spec["paths"]["/vms/{id}/actions/start"]["post"]
    accepted = start["responses"]["202"]["content"]["application/json"]["examples"]
    assert accepted == {"Example 1": {"value": {"taskId": "0m7kl0j9l"}}}
    assert [p["name"] for p in start["parameters"]] == ["id", "sync"]
    assert start["requestBody"]["content"]["application/json"]["schema"]["properties"] == {
        "hostId": {"type": "string"}
    }


async def test_an_mcp_derives_the_official_read_only_tools(spec) -> None:
    assert read_only_tools(spec) == OFFICIAL_READ_ONLY_TOOLS


async def test_the_document_does_not_change_with_the_inventory(xo, spec) -> None:
    vm = next(iter(xo.state.inventory.collection("vms")))
    await xo.post(f"/vms/{vm}/actions/snapshot", sync="true")
    again = await xo.request("GET", "/docs/swagger.json", auth=False)
    assert again.json() == spec


async def test_a_given_spec_file_is_served_byte_for_byte(make_xo, tmp_path) -> None:
    document = {"openapi": "3.0.0", "info": {"version": "x"}, "paths": {"/ping": {}}}
    path = tmp_path / "swagger.json"
    path.write_text(json.dumps(document, indent=4), encoding="utf-8")
    xo = await make_xo(spec_file=path)
    response = await xo.request("GET", "/docs/swagger.json", auth=False)
    assert response.content == path.read_bytes()
