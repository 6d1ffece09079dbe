"""Collection and object reads: filter → limit → fields → JSON, NDJSON or markdown."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from xo_mcp.sim.errors import XoError, invalid_parameters_text, no_such_object
from xo_mcp.sim.exchange import BASE, Call, Reply, json_reply, text_reply
from xo_mcp.sim.inventory import SEGMENTS, XO_TYPES
from xo_mcp.sim.matcher import FilterError, compile_filter
from xo_mcp.sim.output import map_object, to_compact_json, to_markdown, to_ndjson

if TYPE_CHECKING:
    from xo_mcp.sim.routing import Route
    from xo_mcp.sim.state import SimState

Item = tuple[dict[str, Any], str]  # (object, href)

# Deprecated aliases read another collection, narrowed to one kind of object.
ALIASES: dict[str, tuple[str, dict[str, str]]] = {
    "/backup/jobs/vm": ("backup-jobs", {"type": "backup"}),
    "/backup/jobs/metadata": ("backup-jobs", {"type": "metadataBackup"}),
    "/backup/jobs/mirror": ("backup-jobs", {"type": "mirrorBackup"}),
    "/backup/logs": ("backup-logs", {}),
    "/restore/logs": ("restore-logs", {}),
}


def href(segment: str, object_id: str) -> str:
    return f"{BASE}/{segment}/{object_id}"


def _limit(call: Call) -> float | None:
    text = call.arg("limit")
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        # Validation lets "e5" or "+." through; parseFloat makes NaN of them: no limit.
        return math.nan


def _take(items: Iterable[Item], limit: float | None) -> list[Item]:
    # XO counts down and stops at exactly zero, so negative or fractional limits mean "all".
    if limit is None or limit < 0 or not limit.is_integer():
        return list(items)
    taken: list[Item] = []
    for item in items:
        if len(taken) >= limit:
            break
        taken.append(item)
    return taken


def _predicate(call: Call) -> Any:
    text = call.arg("filter")
    if text is None:
        return None
    try:
        return compile_filter(text)
    except FilterError as error:
        raise XoError(400, error.message, {"stringToParse": text}) from None


def send_objects(call: Call, items: Iterable[Item]) -> Reply:
    """The shared tail of every collection route (XO's `sendObjects`)."""
    ndjson, markdown = call.flag("ndjson"), call.flag("markdown")
    if ndjson and markdown:
        raise invalid_parameters_text(
            "Cannot use both ndjson and markdown output formats simultaneously"
        )
    predicate = _predicate(call)
    selected = (item for item in items if predicate is None or predicate(item[0]))
    fields = call.arg("fields")
    mapped = [map_object(obj, fields, link) for obj, link in _take(selected, _limit(call))]
    if ndjson:
        return text_reply(to_ndjson(mapped), "application/x-ndjson")
    if markdown:
        return text_reply(to_markdown(mapped), "text/markdown; charset=utf-8")
    return json_reply(mapped)


def collection_items(call: Call, segment: str) -> list[Item]:
    return [
        (obj, href(segment, key)) for key, obj in call.state.inventory.collection(segment).items()
    ]


def require(call: Call, segment: str, object_id: str) -> dict[str, Any]:
    obj = call.state.inventory.get(segment, object_id)
    if obj is None:
        raise no_such_object(object_id, XO_TYPES.get(segment, segment))
    return obj


def resolve_early(state: SimState, route: Route, path_values: dict[str, str]) -> None:
    """XO's `acl` middleware: object routes (those that can answer 403) look their object up
    before tsoa validates anything, so an unknown id wins over every other error."""
    object_id = path_values.get("id")
    if object_id is None or "403" not in route.row.responses.split(","):
        return
    if route.segment not in SEGMENTS:
        return
    if state.inventory.get(route.segment, object_id) is None:
        raise no_such_object(object_id, XO_TYPES.get(route.segment, route.segment))


async def list_collection(call: Call) -> Reply:
    path = call.route.row.path
    if path in ALIASES:
        segment, narrowing = ALIASES[path]
        base = BASE + path
        items = [
            (obj, f"{base}/{key}")
            for key, obj in call.state.inventory.collection(segment).items()
            if all(obj.get(k) == v for k, v in narrowing.items())
        ]
        return send_objects(call, items)
    if path == "/alarms":
        return send_objects(
            call, [(a, href("alarms", a["id"])) for a in call.state.inventory.alarms()]
        )
    if path == "/messages":
        return send_objects(call, _messages(call, None))
    if path == "/tasks" and call.bool_arg("watch"):
        return _watch_tasks(call)
    if path == "/backup-archives" and "backup-repository" in call.query:
        return send_objects(call, _archives_in(call, call.query["backup-repository"]))
    return send_objects(call, collection_items(call, call.route.segment))


def _archives_in(call: Call, repository_ids: list[str]) -> list[Item]:
    for repository_id in repository_ids:
        require(call, "backup-repositories", repository_id)
    return [
        (archive, href("backup-archives", key))
        for key, archive in call.state.inventory.collection("backup-archives").items()
        if archive["backupRepository"] in repository_ids
    ]


def _messages(call: Call, object_id: str | None) -> list[Item]:
    inventory = call.state.inventory
    if object_id is not None:
        return [(m, href("messages", m["id"])) for m in inventory.messages_of(object_id)]
    alarm_ids = {a["id"] for a in inventory.alarms()}
    return [
        (m, href("messages", key))
        for key, m in inventory.collection("messages").items()
        if key not in alarm_ids
    ]


async def get_object(call: Call) -> Reply:
    path = call.route.row.path
    if path == "/alarms/{id}":
        alarm = call.state.inventory.alarm(call.id)
        if alarm is None:
            raise no_such_object(call.id, "alarm")
        return json_reply(alarm)
    alias = ALIASES.get(path.rsplit("/", 1)[0])
    if alias is not None:
        segment, narrowing = alias
        obj = require(call, segment, call.id)
        if not all(obj.get(k) == v for k, v in narrowing.items()):
            raise no_such_object(call.id, XO_TYPES.get(segment, segment))
        return json_reply(obj)
    if call.route.segment == "tasks" and call.bool_arg("wait"):
        return json_reply(await call.state.tasks.wait(call.id))
    return json_reply(require(call, call.route.segment, call.id))


def _tasks_of(call: Call, object_id: str, user_key: str | None = None) -> list[Item]:
    def concerns(task: dict[str, Any]) -> bool:
        props = task.get("properties", {})
        params = props.get("params") if isinstance(props.get("params"), dict) else {}
        if user_key is not None:
            return bool(props.get(user_key) == object_id)
        return bool(props.get("objectId") == object_id or params.get("id") == object_id)

    return [
        (t, href("tasks", key))
        for key, t in call.state.inventory.collection("tasks").items()
        if concerns(t)
    ]


def _vdis(call: Call) -> list[Item]:
    return [
        (vdi, href(segment, vdi["id"])) for segment, vdi in call.state.inventory.vdis_of(call.id)
    ]


def _members(call: Call, segment: str, ids: Iterable[str]) -> list[Item]:
    collection = call.state.inventory.collection(segment)
    return [(collection[i], href(segment, i)) for i in ids if i in collection]


def _sub_items(call: Call, parent: dict[str, Any], sub: str) -> list[Item]:
    inventory = call.state.inventory
    segment = call.route.segment
    if sub == "alarms":
        return [(a, href("alarms", a["id"])) for a in inventory.alarms_of(call.id)]
    if sub == "messages":
        return _messages(call, call.id)
    if sub == "tasks":
        if segment in ("users", "groups"):
            return (
                _tasks_of(call, call.id, "userId")
                if segment == "users"
                else _group_tasks(call, parent)
            )
        return _tasks_of(call, call.id)
    if sub == "vdis":
        return _vdis(call)
    if sub == "backup-jobs":
        return [(j, href("backup-jobs", j["id"])) for j in inventory.backup_jobs_of_vm(call.id)]
    return _relation_items(call, parent, sub)


def _group_tasks(call: Call, group: dict[str, Any]) -> list[Item]:
    users = set(group.get("users", []))
    return [
        (t, href("tasks", key))
        for key, t in call.state.inventory.collection("tasks").items()
        if t.get("properties", {}).get("userId") in users
    ]


def _relation_items(call: Call, parent: dict[str, Any], sub: str) -> list[Item]:
    """users ↔ groups ↔ acl-roles ↔ acl-privileges, read from the id lists each object holds."""
    inventory = call.state.inventory
    if sub == "groups" and call.route.segment == "users":
        return _members(call, "groups", parent.get("groups", []))
    if sub == "users" and call.route.segment == "groups":
        return _members(call, "users", parent.get("users", []))
    if sub == "users":
        return _members(call, "users", parent.get("userIds", []))
    if sub == "groups":
        return _members(call, "groups", parent.get("groupIds", []))
    if sub in ("privileges", "acl-privileges"):
        role_ids = _role_ids(call, parent)
        return [
            (p, href("acl-privileges", key))
            for key, p in inventory.collection("acl-privileges").items()
            if p.get("roleId") in role_ids
        ]
    if sub == "acl-roles":
        return _members(call, "acl-roles", parent.get("aclRoleIds", []))
    return []


def _role_ids(call: Call, parent: dict[str, Any]) -> set[str]:
    if call.route.segment == "acl-roles":
        return {call.id}
    # A user holds the roles given to them and those given to any of their groups.
    groups = set(parent.get("groups", []))
    roles = call.state.inventory.collection("acl-roles").values()
    return {
        r["id"]
        for r in roles
        if call.id in r.get("userIds", []) or groups & set(r.get("groupIds", []))
    }


async def list_sub_collection(call: Call) -> Reply:
    parent = require(call, call.route.segment, call.id)
    sub = call.route.row.path.rsplit("/", 1)[1]
    return send_objects(call, _sub_items(call, parent, sub))


async def list_authentication_tokens(call: Call) -> Reply:
    """Always full token objects, filtered and limited, never hrefs nor markdown."""
    require(call, "users", call.id)
    tokens = [
        {
            "client": {"id": "xo-mcp-sim"},
            "created_at": int(call.state.started_at * 1000),
            "description": "simulator token",
            "user_id": call.id,
            "expiration": int(call.state.started_at * 1000) + 30 * 86_400_000,
            "last_uses": {},
            "id": f"{'*' * 8}{token[-4:]}",
        }
        for token in sorted(call.state.credentials.tokens)
    ]
    predicate = _predicate(call)
    kept = [t for t in tokens if predicate is None or predicate(t)]
    return json_reply([t for t, _ in _take(((t, "") for t in kept), _limit(call))])


def _watch_tasks(call: Call) -> Reply:
    if not call.flag("ndjson"):
        raise XoError(400, "watch=true requires ndjson=true")
    tasks = call.state.inventory.collection("tasks")
    fields = call.arg("fields")

    async def lines() -> AsyncIterator[bytes]:
        seen: dict[str, Any] = {key: task.get("updatedAt") for key, task in tasks.items()}
        while True:
            await asyncio.sleep(0.2)
            for key, task in list(tasks.items()):
                if seen.get(key) != task.get("updatedAt"):
                    seen[key] = task.get("updatedAt")
                    item = map_object(task, fields, href("tasks", key))
                    yield (to_compact_json(["update", item]) + "\n").encode()
            for key in [k for k in seen if k not in tasks]:
                del seen[key]
                yield (to_compact_json(["remove", {"id": key}]) + "\n").encode()

    return Reply(200, content_type="application/x-ndjson", stream=lines())
