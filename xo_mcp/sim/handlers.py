"""Which function answers which operation: by path shape, with named exceptions."""

from __future__ import annotations

from xo_mcp.sim import actions, collections, documents, writes
from xo_mcp.sim.exchange import Handler
from xo_mcp.sim.routing import Route

# Operations whose shape alone does not say what they do (keyed by method and path,
# because operationIds are not unique in XO's spec).
_SPECIAL: dict[tuple[str, str], Handler] = {
    ("GET", "/dashboard"): documents.dashboard,
    ("GET", "/ping"): documents.ping,
    ("GET", "/gui-routes"): documents.gui_routes,
    ("GET", "/mcp/status"): documents.mcp_status,
    ("GET", "/events"): documents.events_stream,
    ("POST", "/events/{id}/subscriptions"): documents.add_subscription,
    ("DELETE", "/events/{id}/subscriptions/{subscriptionId}"): documents.remove_subscription,
    ("GET", "/pools/{id}/dashboard"): documents.pool_dashboard,
    ("GET", "/vms/{id}/dashboard"): documents.vm_dashboard,
    ("GET", "/pools/{id}/missing_patches"): documents.missing_patches,
    ("GET", "/hosts/{id}/missing_patches"): documents.missing_patches,
    ("GET", "/hosts/{id}/smt"): documents.host_smt,
    ("GET", "/backup-repositories/{id}/health"): documents.repository_health,
    ("GET", "/hosts/{id}/audit.txt"): documents.audit_log,
    ("GET", "/hosts/{id}/logs.tgz"): documents.host_logs,
    ("PUT", "/vdis/{id}.{format}"): documents.import_disk_content,
    ("PUT", "/vms/{id}/stats/data_source/{data_source}"): documents.data_source,
    ("DELETE", "/vms/{id}/stats/data_source/{data_source}"): documents.data_source,
    ("GET", "/users/{id}/authentication_tokens"): collections.list_authentication_tokens,
    ("POST", "/users/{id}/authentication_tokens"): writes.create_token,
    ("POST", "/users/authentication_tokens"): writes.create_token,
    ("DELETE", "/tasks"): writes.delete_tasks,
    ("POST", "/pools/{id}/vms"): writes.import_content,
    ("POST", "/srs/{id}/vdis"): writes.import_content,
}


def _by_shape(route: Route) -> Handler:
    method, path = route.row.method, route.row.path
    parts = path.split("/")[1:]
    if path.endswith(".{format}"):
        return documents.export_content
    if path.endswith("/stats"):
        return documents.stats
    if "/actions/" in path:
        return actions.run_action
    if "/tags/{tag}" in path:
        return writes.put_tag if method == "PUT" else writes.delete_tag
    if method in ("PUT", "DELETE") and len(parts) == 4:
        return writes.set_membership
    if method == "POST":
        return writes.create_object
    if method == "PATCH":
        return writes.patch_object
    if method == "DELETE":
        return writes.delete_object
    if not path.endswith("}") and "{id}/" in path:
        return collections.list_sub_collection
    if path.endswith("{id}"):
        return collections.get_object
    return collections.list_collection


def handler_for(route: Route) -> Handler:
    return _SPECIAL.get((route.row.method, route.row.path)) or _by_shape(route)
