"""What each operation does, in the simulator's own words, with the facts XO's 0.39.0 spec gives:
what it does, its preconditions, and the privileges (resource, action) XO checks.

The text is built from the operation's facts, never from its HTTP method alone: listings, single
objects, tags and plain deletions follow from the resource (and sub-resource) of the path; every
other operation has its own entry. The privileges are written as XO writes them (a header line,
then `- resource: vm, action: delete` lines), so clients read the simulator's spec as they read
XO's.
"""

from __future__ import annotations

from typing import NamedTuple

from xo_mcp.sim.catalog import Row


class Kind(NamedTuple):
    one: str  # with its article: "a VM"
    many: str  # "VMs"
    resource: str  # the resource privileges name: "vm"


KINDS: dict[str, Kind] = {
    "pools": Kind("a pool", "pools", "pool"),
    "hosts": Kind("a host", "hosts", "host"),
    "vms": Kind("a VM", "VMs", "vm"),
    "vm-templates": Kind("a VM template", "VM templates", "vm-template"),
    "vm-snapshots": Kind("a VM snapshot", "VM snapshots", "vm-snapshot"),
    "vm-controllers": Kind("a VM controller", "VM controllers", "vm-controller"),
    "srs": Kind("an SR", "SRs", "sr"),
    "vdis": Kind("a VDI", "VDIs", "vdi"),
    "vdi-snapshots": Kind("a VDI snapshot", "VDI snapshots", "vdi-snapshot"),
    "vbds": Kind("a VBD", "VBDs", "vbd"),
    "vifs": Kind("a VIF", "VIFs", "vif"),
    "pifs": Kind("a PIF", "PIFs", "pif"),
    "pbds": Kind("a PBD", "PBDs", "pbd"),
    "networks": Kind("a network", "networks", "network"),
    "pcis": Kind("a PCI device", "PCI devices", "pci"),
    "pgpus": Kind("a PGPU", "PGPUs", "pgpu"),
    "sms": Kind("an SM", "SMs", "sm"),
    "messages": Kind("a message", "messages", "message"),
    "alarms": Kind("an alarm", "alarms", "alarm"),
    "tasks": Kind("a task", "tasks", "task"),
    "users": Kind("a user", "users", "user"),
    "groups": Kind("a group", "groups", "group"),
    "servers": Kind("a server", "servers", "server"),
    "schedules": Kind("a schedule", "schedules", "schedule"),
    "backup-jobs": Kind("a backup job", "backup jobs", "backup-job"),
    "backup-logs": Kind("a backup log", "backup logs", "backup-log"),
    "backup-repositories": Kind("a backup repository", "backup repositories", "backup-repository"),
    "backup-archives": Kind("a backup archive", "backup archives", "backup-archive"),
    "restore-logs": Kind("a restore log", "restore logs", "restore-log"),
    "proxies": Kind("a proxy", "proxies", "proxy"),
    "acl-roles": Kind("an ACL role", "ACL roles", "acl-role"),
    "acl-privileges": Kind("an ACL privilege", "ACL privileges", "acl-privilege"),
    "privileges": Kind("an ACL privilege", "ACL privileges", "acl-privilege"),
    # Deprecated aliases, named after the collection they narrow.
    "backup/jobs/vm": Kind("a VM backup job", "VM backup jobs", "backup-job"),
    "backup/jobs/metadata": Kind("a metadata backup job", "metadata backup jobs", "backup-job"),
    "backup/jobs/mirror": Kind("a mirror backup job", "mirror backup jobs", "backup-job"),
    "backup/logs": Kind("a backup log", "backup logs", "backup-log"),
    "restore/logs": Kind("a restore log", "restore logs", "restore-log"),
}


class Facts(NamedTuple):
    text: str
    privileges: tuple[str, ...] = ()  # "vm:start", "host:allow-vm (when `hostId` is given)"
    listing: bool = False  # the privileges filter a list rather than refuse the call


def _kind(collection: str) -> Kind:
    return KINDS[collection.strip("/")]


def _collection(path: str) -> str:
    """The collection a path starts with: `vms`, or a deprecated alias such as `backup/jobs/vm`."""
    head = path.split("/{", 1)[0].strip("/")
    return head if head in KINDS else head.split("/")[0]


def _lists(row: Row) -> bool:
    return row.method == "GET" and any(
        f"query:{name}" in row.params.split(",") for name in ("fields", "filter", "limit")
    )


def _generic(row: Row) -> Facts | None:
    """Listings, single objects, tags and deletions: what they do follows from the path."""
    kind = _kind(_collection(row.path))
    rest = row.path.removeprefix("/" + _collection(row.path))
    if _lists(row) and rest.startswith("/{id}/"):
        items = KINDS[rest.rsplit("/", 1)[1]]
        return Facts(
            f"Lists the {items.many} of {kind.one}.", (f"{items.resource}:read",), listing=True
        )
    if _lists(row):
        return Facts(f"Lists {kind.many}.", (f"{kind.resource}:read",), listing=True)
    if rest == "/{id}/tags/{tag}":
        if row.method == "PUT":
            return Facts(f"Adds the tag `tag` to {kind.one}.", (f"{kind.resource}:update:tags",))
        return Facts(f"Removes the tag `tag` from {kind.one}.", (f"{kind.resource}:update:tags",))
    if rest == "/{id}" and row.method == "GET":
        return Facts(f"Returns {kind.one}.", (f"{kind.resource}:read",))
    if rest == "/{id}" and row.method == "DELETE":
        return Facts(f"Destroys {kind.one}.", (f"{kind.resource}:delete",))
    return None


def _per_field(resource: str) -> tuple[str, ...]:
    """Updates check one privilege per field of the body, or one for the whole object."""
    return (
        f"{resource}:update (every field)",
        f"{resource}:update:<field> (for each field of the body)",
    )


_NO_CREDENTIALS = "Answers without credentials."
_ROLLING = (
    "VMs that cannot move (PCI passthrough, vGPU, SR-IOV VIF) make it fail with "
    "`incorrect state` unless `shutdownPinnedVms` is true: then they are shut down before their "
    "host goes and started again on it afterwards."
)

# Every operation whose text does not follow from its path alone.
SPECIFIC: dict[tuple[str, str], Facts] = {
    ("GET", "/dashboard"): Facts(
        "The infrastructure's dashboard: counts of pools, hosts and VMs by state, storage use, "
        "backups and missing patches."
    ),
    ("GET", "/ping"): Facts(f"Answers a ping, to check that XO is up. {_NO_CREDENTIALS}"),
    ("GET", "/gui-routes"): Facts(
        f"The GUI routes: where the XO 5 and XO 6 web interfaces live. {_NO_CREDENTIALS}"
    ),
    ("GET", "/mcp/status"): Facts(
        f"The MCP status: whether the administrator lets MCP clients use XO. {_NO_CREDENTIALS}"
    ),
    ("GET", "/docs/swagger.json"): Facts(
        "This OpenAPI document (swagger.json), the docs of the REST API."
    ),
    ("GET", "/events"): Facts(
        "Opens a stream of server-sent events: first `init` with the connection id, then `ping`s "
        "and the changes of the collections subscribed to. It never ends."
    ),
    ("POST", "/events/{id}/subscriptions"): Facts(
        "Adds a subscription to an event connection, for the changes of one collection."
    ),
    ("DELETE", "/events/{id}/subscriptions/{subscriptionId}"): Facts(
        "Ends a subscription of an event connection."
    ),
    # --- VMs ---------------------------------------------------------------------------------
    ("GET", "/vms/{id}.{format}"): Facts(
        "Exports a VM as an XVA or OVA file; compression applies to XVA only.", ("vm:export",)
    ),
    ("PATCH", "/vms/{id}"): Facts(
        "Changes the properties of a VM present in the body and leaves the others alone. "
        "Changes apply one after the other: a failure does not undo the earlier ones.",
        ("vm:update:<field> (for each field of the body)",),
    ),
    ("GET", "/vms/{id}/stats"): Facts(
        "The stats (performance figures) of a VM. The VM must be running.", ("vm:read",)
    ),
    ("PUT", "/vms/{id}/stats/data_source/{data_source}"): Facts(
        "Starts recording a stats data source of a VM (such as `cpu_usage` or `memory`). "
        "The VM must be running.",
        ("vm:update:datasources",),
    ),
    ("DELETE", "/vms/{id}/stats/data_source/{data_source}"): Facts(
        "Stops recording a stats data source of a VM. The VM must be running.",
        ("vm:update:datasources",),
    ),
    ("POST", "/vms/{id}/actions/start"): Facts(
        "Starts a VM. The VM must be halted; `hostId` in the body picks its host.",
        ("vm:start", "host:allow-vm (when `hostId` is given)"),
    ),
    ("POST", "/vms/{id}/actions/clean_shutdown"): Facts(
        "Shuts a VM down through its guest tools, which must be installed.",
        ("vm:shutdown:clean",),
    ),
    ("POST", "/vms/{id}/actions/clean_reboot"): Facts(
        "Reboots a VM through its guest tools, which must be installed.", ("vm:reboot:clean",)
    ),
    ("POST", "/vms/{id}/actions/hard_shutdown"): Facts(
        "Powers a VM off without its guest's help.", ("vm:shutdown:hard",)
    ),
    ("POST", "/vms/{id}/actions/hard_reboot"): Facts(
        "Resets a VM without its guest's help.", ("vm:reboot:hard",)
    ),
    ("POST", "/vms/{id}/actions/pause"): Facts(
        "Pauses a VM. The VM must be running.", ("vm:pause",)
    ),
    ("POST", "/vms/{id}/actions/suspend"): Facts(
        "Suspends a VM. The VM must be running.", ("vm:suspend",)
    ),
    ("POST", "/vms/{id}/actions/resume"): Facts(
        "Resumes a VM. The VM must be suspended.", ("vm:resume",)
    ),
    ("POST", "/vms/{id}/actions/unpause"): Facts(
        "Unpauses a VM. The VM must be paused.", ("vm:unpause",)
    ),
    ("POST", "/vms/{id}/actions/revert_snapshot"): Facts(
        "Reverts a VM to its snapshot `snapshotId`; `snapshotBefore: true` snapshots it first.",
        ("vm:revert-snapshot", "vm:snapshot (when `snapshotBefore` is true)"),
    ),
    ("POST", "/vms/{id}/actions/snapshot"): Facts(
        "Snapshots a VM, under the name `name_label` if given.", ("vm:snapshot",)
    ),
    ("POST", "/vms/{id}/actions/clone"): Facts(
        "Copies a VM. Without `srId` it stays on its SR: `fast: true` clones it quickly, "
        "`fast: false` copies it in full. With `srId` it is copied in full to that SR, in any "
        "pool, and `compress` (gzip or zstd) can shrink the stream between pools.",
        ("vm:clone",),
    ),
    ("GET", "/vms/{id}/dashboard"): Facts(
        "The dashboard of a VM: key facts, its alarms and how its backups went.", ("vm:read",)
    ),
    ("POST", "/vms/{id}/actions/migrate"): Facts(
        "Moves a VM to the host `hostId`. Within a pool its VIFs cannot be remapped; the networks "
        "and SRs given must belong to the destination host's pool.",
        ("vm:migrate-send", "host:migrate-receive (on the destination host)"),
    ),
    ("GET", "/vm-templates/{id}.{format}"): Facts(
        "Exports a VM template as an XVA or OVA file; compression applies to XVA only.",
        ("vm-template:export",),
    ),
    ("GET", "/vm-snapshots/{id}.{format}"): Facts(
        "Exports a VM snapshot as an XVA or OVA file; compression applies to XVA only.",
        ("vm-snapshot:export",),
    ),
    # --- VIFs, VDIs, VBDs ------------------------------------------------------------------
    ("POST", "/vifs"): Facts("Creates a VIF, linking a VM to a network.", ("vif:create",)),
    ("PATCH", "/vifs/{id}"): Facts(
        "Changes the properties of a VIF present in the body. A non-empty list of allowed IPs "
        "switches its locking mode to `locked`; `rateLimit` is in kB/s.",
        ("vif:update:<field> (for each field of the body)",),
    ),
    ("POST", "/vifs/{id}/actions/connect"): Facts(
        "Hot-plugs a VIF into its running VM, whose PV drivers must be installed.",
        ("vif:connect",),
    ),
    ("POST", "/vifs/{id}/actions/disconnect"): Facts(
        "Hot-unplugs a VIF from its running VM, whose PV drivers must be installed.",
        ("vif:disconnect",),
    ),
    ("POST", "/vdis"): Facts(
        "Creates an empty VDI on the SR `srId`.",
        ("sr:import:vdi (on the target SR)", "vdi:create"),
    ),
    ("PATCH", "/vdis/{id}"): Facts(
        "Changes the properties of a VDI present in the body, one after the other (a failure "
        "does not undo the earlier ones). `size` is in bytes and can only grow.",
        ("vdi:update:<field> (for each field of the body)",),
    ),
    ("POST", "/vdis/{id}/actions/migrate"): Facts(
        "Moves a VDI to the SR `srId`. The moved VDI has a new id, given in the answer.",
        ("vdi:migrate-send", "sr:migrate-receive (on the target SR)"),
    ),
    ("GET", "/vdis/{id}.{format}"): Facts(
        "Exports the content of a VDI (VHD or raw).", ("vdi:export-content",)
    ),
    ("PUT", "/vdis/{id}.{format}"): Facts(
        "Replaces the content of a VDI with the uploaded file (VHD or raw).",
        ("vdi:import-content",),
    ),
    ("GET", "/vdi-snapshots/{id}.{format}"): Facts(
        "Exports the content of a VDI snapshot (VHD or raw).", ("vdi-snapshot:export",)
    ),
    ("POST", "/vbds"): Facts("Creates a VBD, attaching a VDI to a VM.", ("vbd:create",)),
    ("DELETE", "/vbds/{id}"): Facts(
        "Destroys a VBD: its VDI is detached from the VM but kept.", ("vbd:delete",)
    ),
    ("POST", "/vbds/{id}/actions/connect"): Facts(
        "Hot-plugs a VBD into its running VM.", ("vbd:connect",)
    ),
    ("POST", "/vbds/{id}/actions/disconnect"): Facts(
        "Hot-unplugs a VBD from its running VM.", ("vbd:disconnect",)
    ),
    # --- users, groups, tasks -----------------------------------------------------------------
    ("POST", "/users"): Facts("Creates a user.", ("user:create",)),
    ("GET", "/users/{id}"): Facts("Returns a user.", ("user:read (except for oneself)",)),
    ("PATCH", "/users/{id}"): Facts(
        "Changes the properties of a user present in the body. Nobody can change their own "
        "`permission`, whatever their privileges.",
        _per_field("user"),
    ),
    ("GET", "/users/{id}/authentication_tokens"): Facts(
        "Lists the authentication tokens of a user; only one's own can be seen."
    ),
    ("POST", "/users/{id}/authentication_tokens"): Facts(
        "Creates an authentication token for a user; only for oneself."
    ),
    ("POST", "/users/authentication_tokens"): Facts(
        "Creates an authentication token for the calling user."
    ),
    ("GET", "/users/{id}/acl-privileges"): Facts(
        "Lists the ACL privileges of a user.",
        ("acl-privilege:read (except for oneself)",),
        listing=True,
    ),
    ("POST", "/groups"): Facts("Creates a group.", ("group:create",)),
    ("PATCH", "/groups/{id}"): Facts(
        "Renames a group. Synchronized groups cannot be changed, whatever the privileges.",
        _per_field("group"),
    ),
    ("PUT", "/groups/{id}/users/{userId}"): Facts(
        "Adds a user to a group. Not for synchronized groups.", ("group:update:users",)
    ),
    ("DELETE", "/groups/{id}/users/{userId}"): Facts(
        "Removes a user from a group. Not for synchronized groups.", ("group:update:users",)
    ),
    ("DELETE", "/tasks"): Facts("Deletes every task the caller may delete.", ("task:delete",)),
    ("DELETE", "/tasks/{id}"): Facts("Deletes a task from the task log.", ("task:delete",)),
    ("POST", "/tasks/{id}/actions/abort"): Facts("Aborts a running task.", ("task:abort",)),
    # --- storage --------------------------------------------------------------------------------
    ("POST", "/srs"): Facts(
        "Creates an SR on the host `hostId`. `device_config` goes to XAPI unchanged; its keys "
        "depend on `SR_type` (nfs: server, serverpath; smb: server, username, password; "
        "lvmoiscsi: target, targetIQN, SCSIid). Network and SAN types are shared, local ones not. "
        "XOSTOR (linstor) is not supported yet (501).",
        ("sr:create",),
    ),
    ("POST", "/srs/{id}/actions/reclaim_space"): Facts(
        "Reclaims the free space of an SR.", ("sr:reclaim-space",)
    ),
    ("POST", "/srs/{id}/actions/scan"): Facts("Scans an SR for its VDIs.", ("sr:scan",)),
    ("POST", "/srs/{id}/actions/forget"): Facts("Forgets an SR.", ("sr:forget",)),
    ("POST", "/srs/{id}/vdis"): Facts(
        "Imports an exported VDI into an SR, from an uploaded file.", ("sr:import:vdi",)
    ),
    ("POST", "/pbds/{id}/actions/plug"): Facts(
        "Plugs a PBD, connecting its SR to its host.", ("pbd:plug",)
    ),
    ("POST", "/pbds/{id}/actions/unplug"): Facts(
        "Unplugs a PBD, disconnecting its SR from its host.", ("pbd:unplug",)
    ),
    # --- servers, schedules, backups ----------------------------------------------------------
    ("POST", "/servers"): Facts(
        "Adds a server (an XAPI pool master) for XO to connect to.", ("server:create",)
    ),
    ("DELETE", "/servers/{id}"): Facts("Removes a server from XO.", ("server:delete",)),
    ("POST", "/servers/{id}/actions/connect"): Facts(
        "Connects XO to a server.", ("server:connect",)
    ),
    ("POST", "/servers/{id}/actions/disconnect"): Facts(
        "Disconnects XO from a server.", ("server:disconnect",)
    ),
    ("POST", "/schedules/{id}/actions/run"): Facts(
        "Runs the job of a schedule now.", ("schedule:run",)
    ),
    ("POST", "/backup-repositories"): Facts(
        "Registers a backup repository.", ("backup-repository:create",)
    ),
    ("PATCH", "/backup-repositories/{id}"): Facts(
        "Changes the properties of a backup repository present in the body.",
        _per_field("backup-repository"),
    ),
    ("POST", "/backup-repositories/{id}/actions/forget"): Facts(
        "Forgets a backup repository. Refused while any backup job, enabled or not, uses it.",
        ("backup-repository:forget",),
    ),
    ("GET", "/backup-repositories/{id}/health"): Facts(
        "Checks the health of a backup repository by reaching it.", ("backup-repository:read",)
    ),
    ("POST", "/backup-repositories/{id}/actions/benchmark"): Facts(
        "Measures how fast a backup repository reads and writes (bytes per second), keeps the "
        "result with it and returns it; 502 when it cannot be reached.",
        ("backup-repository:benchmark",),
    ),
    ("GET", "/backup/jobs/vm/{id}"): Facts("Returns a VM backup job."),
    ("GET", "/backup/jobs/metadata/{id}"): Facts("Returns a metadata backup job."),
    ("GET", "/backup/jobs/mirror/{id}"): Facts("Returns a mirror backup job."),
    ("GET", "/backup/logs/{id}"): Facts("Returns a backup log."),
    ("GET", "/restore/logs/{id}"): Facts("Returns a restore log."),
    # --- pools ----------------------------------------------------------------------------------
    ("POST", "/pools/{id}/actions/create_network"): Facts(
        "Creates a network on a pool, on the PIF `pif` with the VLAN `vlan`.",
        ("pool:create:network", "network:create"),
    ),
    ("POST", "/pools/{id}/actions/create_bonded_network"): Facts(
        "Creates a network on a pool, on a bond of the PIFs `pifIds` in the mode `bondMode`.",
        ("pool:create:network", "network:create"),
    ),
    ("POST", "/pools/{id}/actions/create_internal_network"): Facts(
        "Creates a network internal to a pool, with no PIF.",
        ("pool:create:network", "network:create"),
    ),
    ("POST", "/pools/{id}/actions/emergency_shutdown"): Facts(
        "Shuts every host of a pool down at once.", ("pool:emergency-shutdown",)
    ),
    ("POST", "/pools/{id}/actions/rolling_reboot"): Facts(
        f"Reboots the hosts of a pool one after the other. {_ROLLING}", ("pool:rolling-reboot",)
    ),
    ("POST", "/pools/{id}/actions/rolling_update"): Facts(
        f"Patches and reboots the hosts of a pool one after the other. {_ROLLING}",
        ("pool:rolling-update",),
    ),
    ("POST", "/pools/{id}/actions/create_vm"): Facts(
        "Creates a VM on a pool from the template `template`.",
        (
            "pool:create:vm",
            "vm-template:instantiate",
            "vdi:create (when `vdis` is given)",
            "vdi:boot (when `install.repository` is given)",
            "vif:create (when `vifs` is given)",
            "host:allow-vm (when `affinity` is given)",
        ),
    ),
    ("GET", "/pools/{id}/stats"): Facts(
        "The stats (performance figures) of the hosts of a pool.", ("pool:read",)
    ),
    ("GET", "/pools/{id}/dashboard"): Facts(
        "The dashboard of a pool: its hosts, VMs, SRs, alarms and CPU provisioning.",
        ("pool:read",),
    ),
    ("GET", "/pools/{id}/missing_patches"): Facts(
        "The patches missing on the hosts of a pool.", ("pool:read",)
    ),
    ("POST", "/pools/{id}/actions/management_reconfigure"): Facts(
        "Moves the management interface of every host of a pool to the network `network`, "
        "whose PIFs must already have IP addresses.",
        ("pif:update:management",),
    ),
    ("POST", "/pools/{id}/actions/add_host"): Facts(
        "Adds the host `host` to a pool.", ("pool:add-host", "host:join-pool")
    ),
    ("POST", "/pools/{id}/vms"): Facts(
        "Imports a VM into a pool, from an uploaded XVA file.", ("sr:import:vm",)
    ),
    # --- hosts ----------------------------------------------------------------------------------
    ("GET", "/hosts/{id}/stats"): Facts(
        "The stats (performance figures) of a host. The host must be running.", ("host:read",)
    ),
    ("GET", "/hosts/{id}/audit.txt"): Facts(
        "Downloads the audit log (audit.txt) of a host. The host must be running.",
        ("host:export:logs",),
    ),
    ("GET", "/hosts/{id}/logs.tgz"): Facts(
        "Downloads every log of a host as logs.tgz. The host must be running.",
        ("host:export:logs",),
    ),
    ("GET", "/hosts/{id}/smt"): Facts(
        "Tells whether SMT (simultaneous multithreading) is on for a host.", ("host:read",)
    ),
    ("GET", "/hosts/{id}/missing_patches"): Facts(
        "The patches missing on a host. The host must be running.", ("host:read",)
    ),
    ("POST", "/hosts/{id}/actions/management_reconfigure"): Facts(
        "Moves the management interface of a host to the PIF `pif`, which must already have an "
        "IP address.",
        ("pif:update:management",),
    ),
    ("POST", "/hosts/{id}/actions/disable"): Facts(
        "Disables a host. `evacuate: true` also moves its running VMs to other hosts of the "
        "pool (`force` ignores evacuation errors); `autoEnable: true` enables it again after a "
        "toolstack restart.",
        ("host:disable", "host:evacuate (when `evacuate` is true)"),
    ),
    ("POST", "/hosts/{id}/actions/enable"): Facts(
        "Enables a host again after it was disabled.", ("host:enable",)
    ),
    ("POST", "/hosts/{id}/actions/start"): Facts("Powers a host on.", ("host:start",)),
    ("POST", "/hosts/{id}/actions/clean_shutdown"): Facts(
        "Shuts a host down.", ("host:shutdown:clean",)
    ),
    ("POST", "/hosts/{id}/actions/clean_reboot"): Facts(
        "Reboots a host once its VMs have moved to other hosts, after checking running backups "
        "and versions.",
        ("host:reboot:clean",),
    ),
    ("POST", "/hosts/{id}/actions/smart_reboot"): Facts(
        "Reboots a host, suspending its VMs where they are.", ("host:reboot:smart",)
    ),
    ("POST", "/hosts/{id}/actions/restart_toolstack"): Facts(
        "Restarts the toolstack of a host.", ("host:restart-toolstack",)
    ),
    ("POST", "/hosts/{id}/actions/emergency_shutdown"): Facts(
        "Powers a host off at once: it is disabled and its VMs suspended where they are "
        "(errors ignored), nothing migrates and no backup check is made.",
        ("host:shutdown:emergency",),
    ),
    ("POST", "/hosts/{id}/actions/detach"): Facts(
        "Takes a host out of its pool.", ("host:detach",)
    ),
    ("POST", "/hosts/{id}/actions/forget"): Facts(
        "Forgets a host, which must not be running.", ("host:forget",)
    ),
    ("POST", "/hosts/{id}/actions/scan_pifs"): Facts(
        "Finds the physical network interfaces of a host and creates their PIFs. The host must "
        "be running.",
        ("host:scan-pifs",),
    ),
    # --- ACLs -----------------------------------------------------------------------------------
    ("POST", "/acl-roles"): Facts("Creates an ACL role.", ("acl-role:create",)),
    ("PATCH", "/acl-roles/{id}"): Facts(
        "Changes the name or description of an ACL role.", _per_field("acl-role")
    ),
    ("POST", "/acl-roles/{id}/actions/copy"): Facts(
        "Copies an ACL role with its privileges, with a new name and description if given.",
        ("acl-role:create", "acl-privilege:create (when the role has privileges)"),
    ),
    ("PUT", "/acl-roles/{id}/groups/{groupId}"): Facts(
        "Gives an ACL role to a group.", ("acl-role:update:groups",)
    ),
    ("DELETE", "/acl-roles/{id}/groups/{groupId}"): Facts(
        "Takes an ACL role away from a group.", ("acl-role:update:groups",)
    ),
    ("PUT", "/acl-roles/{id}/users/{userId}"): Facts(
        "Gives an ACL role to a user.", ("acl-role:update:users",)
    ),
    ("DELETE", "/acl-roles/{id}/users/{userId}"): Facts(
        "Takes an ACL role away from a user.", ("acl-role:update:users",)
    ),
    ("POST", "/acl-privileges"): Facts(
        "Creates an ACL privilege in the role `roleId`.", ("acl-privilege:create",)
    ),
    ("PATCH", "/acl-privileges/{id}"): Facts(
        "Changes the properties of an ACL privilege present in the body.",
        _per_field("acl-privilege"),
    ),
}


def facts(row: Row) -> Facts:
    found = SPECIFIC.get((row.method, row.path)) or _generic(row)
    if found is None:
        raise KeyError(f"no description for {row.method} {row.path}")
    return found


def _privilege_line(privilege: str) -> str:
    """`host:allow-vm (when …)` → `- resource: host, action: allow-vm (when …)`."""
    grant, _, condition = privilege.partition(" ")
    resource, _, action = grant.partition(":")
    return f"- resource: {resource}, action: {action}" + (f" {condition}" if condition else "")


def description(row: Row) -> str:
    """The operation's description: what it does, then the privileges XO checks."""
    found = facts(row)
    if not found.privileges:
        return found.text
    if found.listing:
        header = "Lists only the objects the caller holds this privilege on:"
    elif len(found.privileges) == 1:
        header = "Privilege checked:"
    else:
        header = "Privileges checked:"
    lines = [_privilege_line(privilege) for privilege in found.privileges]
    return "\n".join([found.text, "", header, *lines])
