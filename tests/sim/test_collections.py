"""Reads over HTTP, in process: collections, formats, filters, sub-collections, objects, quirks.

Fact sheet §1-§2 and §4; the inventory is the simulator's own (seed 1), read directly to know
what each answer must contain.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from xo_mcp.sim.inventory import ALARM_NAMES

pytestmark = pytest.mark.anyio

JSON_TYPE = "application/json; charset=utf-8"
HOST_ALARM_SOURCE = "hosts"


def hrefs(segment: str, ids: Any) -> list[str]:
    return [f"/rest/v0/{segment}/{object_id}" for object_id in ids]


def first(xo: Any, segment: str, **where: Any) -> dict[str, Any]:
    objects = xo.state.inventory.collection(segment).values()
    return next(o for o in objects if all(o.get(k) == v for k, v in where.items()))


# ------------------------------------------------------------------ plain collections


async def test_a_plain_collection_is_a_pretty_json_array_of_hrefs(xo) -> None:
    response = await xo.get("/vms")
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_TYPE
    expected = hrefs("vms", xo.state.inventory.collection("vms"))
    assert response.json() == expected
    assert response.text == json.dumps(expected, indent=2)


async def test_a_trailing_slash_reaches_the_same_collection(xo) -> None:
    assert (await xo.json("/vms/")) == (await xo.json("/vms"))


async def test_every_inventory_collection_lists_its_objects(xo) -> None:
    for segment in ("pools", "hosts", "srs", "vdis", "networks", "users", "backup-jobs"):
        assert await xo.json(f"/{segment}") == hrefs(
            segment, xo.state.inventory.collection(segment)
        )


# ------------------------------------------------------------------ fields


async def test_fields_star_gives_whole_objects_with_href_last(xo) -> None:
    items = await xo.json("/hosts", fields="*")
    hosts = list(xo.state.inventory.collection("hosts").values())
    assert [list(item) for item in items] == [[*host, "href"] for host in hosts]
    assert [item["href"] for item in items] == hrefs("hosts", (h["id"] for h in hosts))


async def test_fields_keep_order_drop_unknowns_and_read_dotted_paths(xo) -> None:
    items = await xo.json("/vms", fields="power_state,nope,CPUs.number,name_label, uuid")
    vm = next(iter(xo.state.inventory.collection("vms").values()))
    assert items[0] == {
        "power_state": vm["power_state"],
        "CPUs": {"number": vm["CPUs"]["number"]},
        "name_label": vm["name_label"],
        "href": f"/rest/v0/vms/{vm['id']}",
    }
    assert list(items[0]) == ["power_state", "CPUs", "name_label", "href"]


async def test_empty_fields_give_objects_with_only_an_href(xo) -> None:
    items = await xo.json("/pools", fields="")
    assert items == [
        {"href": href} for href in hrefs("pools", xo.state.inventory.collection("pools"))
    ]


async def test_a_repeated_fields_parameter_is_rejected_by_validation(xo) -> None:
    response = await xo.request("GET", "/vms?fields=name_label&fields=uuid")
    assert response.status_code == 422
    assert response.json() == {
        "error": {"fields": {"message": "invalid string value", "value": ["name_label", "uuid"]}},
        "data": {},
    }


async def test_single_objects_ignore_collection_parameters(xo) -> None:
    vm = next(iter(xo.state.inventory.collection("vms").values()))
    response = await xo.get(f"/vms/{vm['id']}", fields="name_label", markdown="true", limit="x")
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_TYPE
    assert response.json() == vm
    assert "href" not in response.json()


# ------------------------------------------------------------------ limit


async def test_limit_counts_after_the_filter(xo) -> None:
    running = [
        vm["id"]
        for vm in xo.state.inventory.collection("vms").values()
        if vm["power_state"] == "Running"
    ]
    assert await xo.json("/vms", filter="power_state:Running", limit="2") == hrefs(
        "vms", running[:2]
    )


@pytest.mark.parametrize(
    ("limit", "count"),
    [("0", 0), ("1", 1), ("3", 3), ("1e1", 10), ("-1", None), ("2.5", None), ("e5", None)],
)
async def test_limit_counts_down_to_exactly_zero(xo, limit: str, count: int | None) -> None:
    every = await xo.json("/vms")
    assert await xo.json("/vms", limit=limit) == every[:count]


@pytest.mark.parametrize("limit", ["abc", "", " 2", "Infinity", "1_0", "0x10"])
async def test_a_limit_that_is_no_float_is_a_422(xo, limit: str) -> None:
    response = await xo.get("/vms", limit=limit)
    assert response.status_code == 422
    assert response.json() == {
        "error": {"limit": {"message": "invalid float number", "value": limit}},
        "data": {},
    }


# ------------------------------------------------------------------ ndjson and markdown


async def test_ndjson_streams_one_item_per_line(xo) -> None:
    response = await xo.get("/pools", ndjson="true", fields="name_label")
    assert response.headers["content-type"] == "application/x-ndjson"
    pools = xo.state.inventory.collection("pools").values()
    assert response.text == "".join(
        json.dumps(
            {"name_label": p["name_label"], "href": f"/rest/v0/pools/{p['id']}"},
            separators=(",", ":"),
        )
        + "\n"
        for p in pools
    )


async def test_ndjson_without_fields_writes_quoted_hrefs(xo) -> None:
    response = await xo.get("/pools", ndjson="true")
    lines = response.text.split("\n")
    assert lines[-1] == ""
    assert [json.loads(line) for line in lines[:-1]] == await xo.json("/pools")


async def test_markdown_renders_a_table_without_trailing_newline(xo) -> None:
    response = await xo.get("/pools", fields="name_label,auto_poweron,tags", markdown="true")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    rows = [
        f"| {p['name_label']} | {str(p['auto_poweron']).lower()} | "
        f"{json.dumps(p['tags'], separators=(',', ':'))} |"
        for p in xo.state.inventory.collection("pools").values()
    ]
    assert response.text == "\n".join(
        ["| name_label | auto_poweron | tags |", "| --- | --- | --- |", *rows]
    )


async def test_markdown_without_fields_lists_hrefs(xo) -> None:
    response = await xo.get("/pools", markdown="true")
    assert response.text == "\n".join(await xo.json("/pools"))


async def test_markdown_of_nothing_says_so(xo) -> None:
    response = await xo.get("/vms", filter="name_label:no-such-vm", markdown="true")
    assert response.text == "No results."


async def test_markdown_works_where_the_spec_does_not_declare_it(xo) -> None:
    response = await xo.get("/acl-privileges", fields="action", markdown="true")
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    assert response.text.startswith("| action |\n| --- |\n")


@pytest.mark.parametrize("flag", ["markdown", "ndjson"])
async def test_output_modes_need_the_exact_lowercase_true(xo, flag: str) -> None:
    response = await xo.get("/pools", **{flag: "True"})
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_TYPE


@pytest.mark.parametrize("flag", ["markdown", "ndjson"])
async def test_output_mode_flags_are_validated_as_booleans(xo, flag: str) -> None:
    response = await xo.get("/pools", **{flag: "1"})
    assert response.status_code == 422
    assert response.json() == {
        "error": {flag: {"message": "invalid boolean value", "value": "1"}},
        "data": {},
    }


async def test_markdown_and_ndjson_together_are_a_422(xo) -> None:
    response = await xo.get("/vms", markdown="true", ndjson="true")
    assert response.status_code == 422
    assert response.json() == {
        "error": "Cannot use both ndjson and markdown output formats simultaneously",
        "data": {},
    }


# ------------------------------------------------------------------ filter


async def test_filter_parse_errors_are_400_with_the_filter(xo) -> None:
    response = await xo.get("/vms", filter="name_label:")
    assert response.status_code == 400
    assert response.json() == {
        "error": "parse error: expected end of input at position 10",
        "data": {"stringToParse": "name_label:"},
    }


async def test_a_comparison_with_no_number_is_a_400(xo) -> None:
    response = await xo.get("/srs", filter="size:>abc")
    assert response.status_code == 400
    assert response.json() == {
        "error": "value must be a number",
        "data": {"stringToParse": "size:>abc"},
    }


async def test_filters_select_by_nested_properties_and_tags(xo) -> None:
    pool = next(iter(xo.state.inventory.collection("pools")))
    expected = [
        vm["id"]
        for vm in xo.state.inventory.collection("vms").values()
        if vm["$pool"] == pool and "prod" in vm["tags"] and vm["CPUs"]["number"] >= 2
    ]
    got = await xo.json("/vms", filter=f"$pool:{pool} tags:prod CPUs:number:>=2")
    assert got == hrefs("vms", expected)


# ------------------------------------------------------------------ sub-collections


async def test_vm_disks_point_at_their_own_collections(xo) -> None:
    vm = first(xo, "vms")
    expected = [
        f"/rest/v0/{segment}/{vdi['id']}" for segment, vdi in xo.state.inventory.vdis_of(vm["id"])
    ]
    assert expected
    assert await xo.json(f"/vms/{vm['id']}/vdis") == expected
    snapshot = first(xo, "vm-snapshots")
    snapshot_disks = await xo.json(f"/vm-snapshots/{snapshot['id']}/vdis")
    assert snapshot_disks
    assert all(link.startswith("/rest/v0/vdi-snapshots/") for link in snapshot_disks)


async def test_alarms_are_reshaped_messages_linked_under_alarms(xo) -> None:
    alarms = await xo.json("/alarms", fields="*")
    assert alarms
    for alarm in alarms:
        assert alarm["href"] == f"/rest/v0/alarms/{alarm['id']}"
        assert alarm["name"] in ALARM_NAMES
        assert set(alarm["body"]) == {"value", "name"}
        assert alarm["time"] % 1000 == 0
    target = alarms[0]["object"]
    segment = target["href"].split("/")[3]
    sub = await xo.json(f"/{segment}/{target['uuid']}/alarms")
    assert f"/rest/v0/alarms/{alarms[0]['id']}" in sub


async def test_messages_leave_alarms_out_everywhere(xo) -> None:
    messages = await xo.json("/messages", fields="name,$object")
    assert messages
    assert not {m["name"] for m in messages} & ALARM_NAMES
    assert all(m["href"].startswith("/rest/v0/messages/") for m in messages)
    for message in xo.state.inventory.collection("messages").values():
        segment = next(
            s
            for s in ("vms", "hosts", "srs", "pools", "pifs")
            if message["$object"] in xo.state.inventory.collection(s)
        )
        listed = await xo.json(f"/{segment}/{message['$object']}/messages")
        link = f"/rest/v0/messages/{message['id']}"
        assert (link in listed) == (message["name"] not in ALARM_NAMES)


async def test_object_tasks_are_those_naming_the_object(xo) -> None:
    tasks = xo.state.inventory.collection("tasks").values()
    vm_id = next(t["properties"]["objectId"] for t in tasks if "objectId" in t["properties"])
    expected = [
        t["id"]
        for t in tasks
        if vm_id
        in (t["properties"].get("objectId"), (t["properties"].get("params") or {}).get("id"))
    ]
    assert await xo.json(f"/vms/{vm_id}/tasks") == hrefs("tasks", expected)


async def test_backup_archives_can_be_narrowed_to_repositories(xo) -> None:
    archives = xo.state.inventory.collection("backup-archives").values()
    repository = next(iter(archives))["backupRepository"]
    listed = await xo.json("/backup-archives", **{"backup-repository": repository, "fields": "*"})
    assert listed
    assert {archive["backupRepository"] for archive in listed} == {repository}
    unknown = await xo.get("/backup-archives", **{"backup-repository": "nope"})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "no such backup-repository nope"


async def test_users_and_groups_list_each_other(xo) -> None:
    for group in xo.state.inventory.collection("groups").values():
        assert await xo.json(f"/groups/{group['id']}/users") == hrefs("users", group["users"])
        for user_id in group["users"]:
            assert f"/rest/v0/groups/{group['id']}" in await xo.json(f"/users/{user_id}/groups")


async def test_role_privileges_link_to_the_privileges_collection(xo) -> None:
    role = first(xo, "acl-roles")
    links = await xo.json(f"/acl-roles/{role['id']}/privileges")
    assert links == hrefs("acl-privileges", role["privilegeIds"])


async def test_user_privileges_come_from_their_roles_and_their_groups_roles(xo) -> None:
    inventory = xo.state.inventory
    for user in inventory.collection("users").values():
        roles = [
            role
            for role in inventory.collection("acl-roles").values()
            if user["id"] in role["userIds"] or set(user["groups"]) & set(role["groupIds"])
        ]
        expected = {p for role in roles for p in role["privilegeIds"]}
        listed = await xo.json(f"/users/{user['id']}/acl-privileges")
        assert set(listed) == {f"/rest/v0/acl-privileges/{p}" for p in expected}


async def test_a_sub_collection_of_an_unknown_object_is_a_404(xo) -> None:
    response = await xo.get("/vms/00000000-0000-0000-0000-000000000000/vdis")
    assert response.status_code == 404
    assert response.json()["data"] == {"id": "00000000-0000-0000-0000-000000000000", "type": "VM"}


# ------------------------------------------------------------------ objects and 404s


async def test_an_id_of_another_type_is_a_404_naming_the_routes_type(xo) -> None:
    host = first(xo, "hosts")
    response = await xo.get(f"/vms/{host['id']}")
    assert response.status_code == 404
    assert response.json() == {
        "error": f"no such VM {host['id']}",
        "data": {"id": host["id"], "type": "VM"},
    }


@pytest.mark.parametrize(
    ("path", "xo_type"),
    [("/tasks/nope", "task"), ("/vm-templates/nope", "VM-template"), ("/srs/nope", "SR")],
)
async def test_unknown_objects_are_404s_with_their_type(xo, path: str, xo_type: str) -> None:
    response = await xo.get(path)
    assert response.status_code == 404
    assert response.json() == {
        "error": f"no such {xo_type} nope",
        "data": {"id": "nope", "type": xo_type},
    }


async def test_a_message_that_is_no_alarm_is_no_alarm(xo) -> None:
    message = next(
        m
        for m in xo.state.inventory.collection("messages").values()
        if m["name"] not in ALARM_NAMES
    )
    response = await xo.get(f"/alarms/{message['id']}")
    assert response.status_code == 404
    assert response.json()["error"] == f"no such alarm {message['id']}"


async def test_an_unknown_id_beats_a_bad_parameter_on_object_routes(xo) -> None:
    response = await xo.post("/vms/nope/actions/start", sync="1")
    assert response.status_code == 404
    assert response.json()["error"] == "no such VM nope"


# ------------------------------------------------------------------ redirects, aliases, unknowns


async def test_the_api_root_redirects_to_the_docs(xo) -> None:
    for path in ("/rest/v0", "/rest/v0/"):
        response = await xo.request("GET", path)
        assert response.status_code == 302
        assert response.headers["location"] == "/rest/v0/docs"


async def test_the_docs_page_points_at_the_document(xo) -> None:
    response = await xo.request("GET", "/rest/v0/docs", auth=False)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "/rest/v0/docs/swagger.json" in response.text


async def test_users_me_redirects_to_the_callers_id(xo) -> None:
    admin = xo.state.admin["id"]
    response = await xo.get("/users/me")
    assert response.status_code == 307
    assert response.headers["location"] == f"/rest/v0/users/{admin}"
    response = await xo.get("/users/me/groups")
    assert response.headers["location"] == f"/rest/v0/users/{admin}/groups"


async def test_users_me_needs_credentials(xo) -> None:
    response = await xo.request("GET", "/users/me", auth=False)
    assert response.status_code == 401


async def test_deprecated_backup_aliases_narrow_and_link_to_themselves(xo) -> None:
    jobs = xo.state.inventory.collection("backup-jobs").values()
    vm_jobs = [j["id"] for j in jobs if j["type"] == "backup"]
    assert await xo.json("/backup/jobs/vm") == [f"/rest/v0/backup/jobs/vm/{i}" for i in vm_jobs]
    metadata = next(j for j in jobs if j["type"] == "metadataBackup")
    assert (await xo.json(f"/backup/jobs/metadata/{metadata['id']}")) == metadata
    assert (await xo.get(f"/backup/jobs/vm/{metadata['id']}")).status_code == 404
    logs = xo.state.inventory.collection("backup-logs")
    assert await xo.json("/backup/logs") == [f"/rest/v0/backup/logs/{i}" for i in logs]


@pytest.mark.parametrize("shadowed", ["metadata", "mirror", "anything"])
async def test_the_hidden_job_route_shadows_the_deprecated_listings(xo, shadowed: str) -> None:
    response = await xo.get(f"/backup/jobs/{shadowed}")
    assert response.status_code == 308
    assert response.headers["location"] == f"/rest/v0/backup/jobs/vm/{shadowed}"
    followed = await xo.get(f"/backup/jobs/vm/{shadowed}")
    assert followed.status_code == 404


@pytest.mark.parametrize(
    "path", ["/rest/v0/nope", "/rest/v0/vms/x/nope", "/elsewhere", "/rest/v0vms"]
)
async def test_unknown_paths_get_expresss_html_404(xo, path: str) -> None:
    response = await xo.http.get(path, headers={"cookie": "authenticationToken=sim-token"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert f"Cannot GET {path}" in response.text


async def test_watching_tasks_needs_ndjson(xo) -> None:
    response = await xo.get("/tasks", watch="true")
    assert response.status_code == 400
    assert response.json() == {"error": "watch=true requires ndjson=true"}


# ------------------------------------------------------------------ documents


async def test_public_documents_need_no_credentials(xo) -> None:
    ping = await xo.request("GET", "/ping", auth=False)
    assert ping.status_code == 200
    assert set(ping.json()) == {"result", "timestamp"}
    routes = await xo.request("GET", "/gui-routes", auth=False)
    assert routes.json() == {"xo5": "/", "xo6": "/v6"}


async def test_dashboards_stream_their_parts_as_ndjson(xo) -> None:
    whole = await xo.json("/dashboard")
    response = await xo.get("/dashboard", ndjson="true")
    parts = [json.loads(line) for line in response.text.splitlines()]
    assert [next(iter(part)) for part in parts] == list(whole)
    assert {key: value for part in parts for key, value in part.items()} == whole


async def test_pool_stats_are_keyed_by_the_pools_hosts(xo) -> None:
    pool = first(xo, "pools")
    stats = await xo.json(f"/pools/{pool['id']}/stats")
    hosts = [
        h["id"] for h in xo.state.inventory.collection("hosts").values() if h["$pool"] == pool["id"]
    ]
    assert list(stats) == hosts
    assert set(stats[hosts[0]]) == {"endTimestamp", "interval", "stats"}


async def test_missing_patches_are_patch_documents(xo) -> None:
    host = next(
        h
        for h in xo.state.inventory.collection("hosts").values()
        if xo.state.inventory.missing_patches(h["id"])
    )
    patches = await xo.json(f"/hosts/{host['id']}/missing_patches", markdown="true")
    assert patches
    assert list(patches[0]) == [
        "name",
        "version",
        "release",
        "description",
        "license",
        "size",
        "url",
        "changelog",
    ]
