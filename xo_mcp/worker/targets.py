"""What an action acts on: the object its path points at, looked up before anyone confirms.

A human asked to approve `POST /vms/3f1c…/actions/snapshot` cannot judge it; "snapshot VM
web-01 (running, pool prod-a)" they can. The lookup is one small GET of the object (its name,
type and state only) plus, when it belongs to a pool, one of the pool's name; both bounded by a
short timeout. An id XO does not know is an error before any token exists: a name passed
as an id (`proxy-01`) would only ever 404.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote

from xo_mcp.wire.messages import Target
from xo_mcp.worker.xo_client import XoClient, XoRequestError

LOOKUP_TIMEOUT_S = 5.0
FIELDS = "id,name_label,type,power_state,status,$pool"
_OBJECT = re.compile(r"^/([^/{}]+)/\{[^/}]+\}")  # /vms/{id}… : the object is /vms/<id>


class TargetMissing(Exception):
    """XO answered 404 for the object the action names."""


def object_path(template: str, path: str) -> tuple[str, str, str] | None:
    """(collection, id, path of the object) for paths like /vms/{id}/…, else None."""
    if not _OBJECT.match(template):
        return None
    segments = path.split("/")
    if len(segments) < 3 or not segments[2]:
        return None
    return segments[1], segments[2], "/".join(segments[:3])


async def lookup_target(client: XoClient, template: str, path: str) -> Target | None:
    """The object, or None when the path names none or XO could not say (the preview then
    goes without it); TargetMissing when XO says it does not exist."""
    found = object_path(template, path)
    if found is None:
        return None
    collection, object_id, object_url = found
    try:
        response = await client.request(
            "GET", object_url, query={"fields": FIELDS}, timeout=LOOKUP_TIMEOUT_S
        )
        data = response.json()
    except XoRequestError as error:
        if error.mcp_disabled:
            raise  # the kill switch: the call reports it, as any other would
        if error.status == 404:
            missing = f"XO has no {collection} object with id {_unquote(object_id)!r}"
            raise TargetMissing(missing) from None
        return None
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return Target(
        type=_text(data.get("type")) or collection,
        id=_text(data.get("id")) or _unquote(object_id),
        name=_text(data.get("name_label")),
        state=_text(data.get("power_state")) or _text(data.get("status")),
        pool=await _pool_name(client, data.get("$pool")),
    )


async def _pool_name(client: XoClient, pool_id: Any) -> str | None:
    if not isinstance(pool_id, str) or not pool_id:
        return None
    try:
        response = await client.request(
            "GET",
            f"/pools/{quote(pool_id, safe='')}",
            query={"fields": "name_label"},
            timeout=LOOKUP_TIMEOUT_S,
        )
        name = response.json().get("name_label")
    except (XoRequestError, ValueError, AttributeError):
        return pool_id
    return name if isinstance(name, str) and name else pool_id


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _unquote(segment: str) -> str:
    return unquote(segment)
