"""The simulator inventory: deterministic, shaped like XO's objects, relations always consistent."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from xo_mcp.sim.inventory import (
    ALARM_NAMES,
    SEGMENTS,
    XO_TYPES,
    Inventory,
    InventorySize,
)

NOW = 1_800_000_000.0
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
XAPI_SEGMENTS = (
    "pools",
    "hosts",
    "vms",
    "vm-templates",
    "vm-snapshots",
    "vm-controllers",
    "srs",
    "vdis",
    "vdi-snapshots",
    "vbds",
    "vifs",
    "pifs",
    "pbds",
    "networks",
    "pcis",
    "pgpus",
    "sms",
    "messages",
)
VM_LIKE = ("vms", "vm-templates", "vm-snapshots", "vm-controllers")

# `mcp_default_fields` of the GET `/{collection}` and `/{collection}/{id}` rows of
# xo-rest-operations.tsv, merged per collection.
_DEFAULT_FIELDS = {
    "acl-privileges": "id,action,resource|action,effect,resource,roleId,id",
    "acl-roles": "id,name,isTemplate|name,description,id,userIds,groupIds,privilegeIds",
    "backup-archives": "id,backupRepository,disks|type,backupRepository,disks,id,jobId,mode,"
    "scheduleId,size,timestamp,vm,differencingVhds,dynamicVhds,withMemory",
    "backup-jobs": "name,mode,type,id|name,mode,settings,vms,type,remotes,srs,id",
    "backup-logs": "jobName,status,data|data,id,jobId,jobName,message,scheduleId,start,status,"
    "infos,tasks,end",
    "backup-repositories": "id,name,enabled|enabled,name,benchmarks,id,url",
    "groups": "name,id,users|aclRoleIds,name,users,id",
    "hosts": "id,name_label,productBrand|CPUs,address,bios_strings,build,chipset_info,enabled,"
    "controlDomain,cpus,current_operations,hostname,iscsiIqn,zstdSupported,license_params,"
    "license_server,license_expiry,logging,name_description,name_label,memory,multipathing,"
    "otherConfig,patches,powerOnMode,power_state,residentVms,startTime,supplementalPacks,"
    "agentStartTime,rebootRequired,tags,version,productBrand,hvmCapable,certificates,PIFs,$PIFs,"
    "PCIs,$PCIs,PGPUs,$PGPUs,$PBDs,id,type,uuid,$pool,$poolId,_xapiRef",
    "messages": "name,body,id,$object|body,name,time,$object,id,type,uuid,$pool,$poolId,_xapiRef",
    "networks": "nbd,name_label,id|automatic,bridge,current_operations,defaultIsLocked,MTU,"
    "name_description,name_label,other_config,tags,PIFs,VIFs,nbd,insecureNbd,id,type,uuid,$pool,"
    "$poolId,_xapiRef",
    "pbds": "attached,id,device_config|type,attached,host,SR,device_config,otherConfig,id,uuid,"
    "$pool,$poolId,_xapiRef",
    "pcis": "class_name,device_name,id|type,class_name,device_name,pci_id,$host,id,uuid,$pool,"
    "$poolId,_xapiRef",
    "pgpus": "id,dom0Access,gpuGroup|type,dom0Access,enabledVgpuTypes,gpuGroup,"
    "isSystemDisplayDevice,pci,supportedVgpuTypes,host,$host,vgpus,$vgpus,id,uuid,$pool,$poolId,"
    "_xapiRef",
    "pifs": "attached,device,deviceName,id|type,attached,isBondMaster,isBondSlave,device,"
    "deviceName,dns,disallowUnplug,gateway,ip,ipv6,mac,management,carrier,mode,ipv6Mode,mtu,"
    "netmask,physical,primaryAddressType,vlan,speed,$host,$network,id,uuid,$pool,$poolId,_xapiRef",
    "pools": "auto_poweron,name_label,id|auto_poweron,crashDumpSr,current_operations,default_SR,"
    "HA_enabled,haSrs,master,tags,name_description,name_label,otherConfig,cpus,zstdSupported,"
    "vtpmSupported,platform_version,id,type,uuid,$pool,$poolId,_xapiRef",
    "proxies": "vmUuid,id,name|name,vmUuid,id,url,version",
    "restore-logs": "status,data|data,id,message,start,status,tasks,end,result",
    "schedules": "enabled,jobId,cron,id|cron,enabled,jobId,name,timezone,userId,id",
    "servers": "id,status|host,label,username,allowUnauthorized,poolNameLabel,enabled,readOnly,id,"
    "status,poolId",
    "sms": "uuid,name_label,SM_type|type,uuid,name_description,name_label,SM_type,configuration,"
    "vendor,features,driver_filename,required_cluster_stack,supported_image_formats,id,pool,"
    "poolId,_xapiRef",
    "srs": "uuid,name_label,allocationStrategy|type,content_type,physical_usage,allocationStrategy,"
    "current_operations,inMaintenanceMode,name_description,name_label,size,shared,SR_type,tags,"
    "usage,VDIs,other_config,sm_config,$container,$PBDs,id,uuid,$pool,$poolId,_xapiRef",
    "tasks": "status,id,properties|id,properties,start,status,updatedAt,end,result",
    "users": "permission,name,id|email,permission,pw_hash,groups,name,preferences,id",
    "vbds": "device,bootable,uuid|type,attached,bootable,device,is_cd_drive,position,read_only,VDI,"
    "VM,id,uuid,$pool,$poolId,_xapiRef",
    "vdi-snapshots": "uuid,snapshot_time,$snapshot_of|type,cbt_enabled,missing,name_description,"
    "name_label,size,snapshots,tags,usage,VDI_type,current_operations,other_config,$SR,$VBDs,"
    "snapshot_time,$snapshot_of,id,uuid,$pool,$poolId,_xapiRef",
    "vdis": "type,cbt_enabled,missing,name_description,name_label,parent,size,snapshots,tags,"
    "usage,VDI_type,current_operations,other_config,$SR,$VBDs,id,uuid,$pool,$poolId,"
    "_xapiRef|type,cbt_enabled,missing,name_description,name_label,size,snapshots,tags,usage,"
    "VDI_type,current_operations,other_config,$SR,$VBDs,id,uuid,$pool,$poolId,_xapiRef",
    "vifs": "attached,id,device|type,allowedIpv4Addresses,allowedIpv6Addresses,attached,device,"
    "lockingMode,MAC,MTU,other_config,txChecksumming,$network,$VM,id,uuid,$pool,$poolId,_xapiRef",
    "vm-controllers": "type,uuid|type,addresses,affinityHost,auto_poweron,bios_strings,"
    "blockedOperations,boot,CPUs,current_operations,expNestedHvm,viridian,high_availability,"
    "isFirmwareSupported,memory,installTime,name_description,name_label,needsVtpm,other,"
    "os_version,power_state,hasVendorDevice,snapshots,startDelay,startTime,secureBoot,tags,VIFs,"
    "VTPMs,virtualizationMode,xenTools,$container,$VBDs,VGPUs,$VGPUs,xenStoreData,PV_args,id,uuid,"
    "$pool,$poolId,_xapiRef",
    "vm-snapshots": "uuid,snapshot_time,$snapshot_of|$pool,_xapiRef,uuid,$VBDs,$VGPUs,$container,"
    "CPUs,PV_args,VGPUs,VIFs,VTPMs,addresses,affinityHost,attachedPcis,auto_poweron,bios_strings,"
    "blockedOperations,boot,coresPerSocket,cpuCap,cpuMask,cpuWeight,creation,current_operations,"
    "docker,expNestedHvm,hasVendorDevice,high_availability,installTime,isFirmwareSupported,"
    "memory,mainIpAddress,managementAgentDetected,name_description,name_label,needsVtpm,nicType,"
    "notes,os_version,other,parent,power_state,pvDriversDetected,pvDriversUpToDate,"
    "pvDriversVersion,resourceSet,secureBoot,snapshots,startDelay,startTime,suspendSr,tags,vga,"
    "videoram,viridian,virtualizationMode,xenStoreData,$snapshot_of,id,snapshot_time,suspendVdi,"
    "type",
    "vm-templates": "id,isDefaultTemplate,name_label|type,addresses,auto_poweron,bios_strings,"
    "blockedOperations,boot,CPUs,current_operations,expNestedHvm,viridian,high_availability,"
    "isFirmwareSupported,memory,installTime,name_description,name_label,needsVtpm,other,"
    "os_version,power_state,hasVendorDevice,snapshots,startDelay,startTime,secureBoot,tags,VIFs,"
    "VTPMs,virtualizationMode,$container,$VBDs,VGPUs,$VGPUs,xenStoreData,vga,videoram,id,"
    "isDefaultTemplate,template_info,uuid,$pool,$poolId,_xapiRef",
    "vms": "name_label,power_state,uuid|type,addresses,auto_poweron,bios_strings,"
    "blockedOperations,boot,CPUs,creation,current_operations,expNestedHvm,viridian,"
    "high_availability,isFirmwareSupported,memory,installTime,name_description,name_label,"
    "needsVtpm,other,os_version,power_state,hasVendorDevice,snapshots,startDelay,startTime,"
    "secureBoot,tags,VIFs,VTPMs,virtualizationMode,$container,$VBDs,VGPUs,$VGPUs,xenStoreData,"
    "vga,videoram,id,uuid,$pool,$poolId,_xapiRef",
}
DEFAULT_FIELDS = {
    segment: sorted(set(spec.replace("|", ",").split(",")))
    for segment, spec in _DEFAULT_FIELDS.items()
}
ALARM_FIELDS = ("name", "time", "type", "uuid", "$pool", "$poolId", "_xapiRef", "id", "body")
PATCH_FIELDS = ("url", "version", "name", "license", "changelog", "release", "size", "description")


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    """Shared and read-only: tests that mutate build their own with `fresh`."""
    return Inventory(seed=1, clock=lambda: NOW)


@pytest.fixture
def fresh() -> Inventory:
    return Inventory(seed=1, clock=lambda: NOW)


def dump(inv: Inventory) -> str:
    return json.dumps({s: inv.collection(s) for s in SEGMENTS}, sort_keys=True)


def find_vm_like(inv: Inventory, object_id: str) -> dict[str, Any] | None:
    return next((inv.get(s, object_id) for s in VM_LIKE if inv.get(s, object_id)), None)


def find_vdi(inv: Inventory, object_id: str) -> dict[str, Any] | None:
    return inv.get("vdis", object_id) or inv.get("vdi-snapshots", object_id)


def running_vm(inv: Inventory) -> dict[str, Any]:
    return next(vm for vm in inv.collection("vms").values() if vm["power_state"] == "Running")


def halted_vm(inv: Inventory) -> dict[str, Any]:
    return next(vm for vm in inv.collection("vms").values() if vm["power_state"] == "Halted")


def vm_with_disks(inv: Inventory) -> dict[str, Any]:
    return next(vm for vm in inv.collection("vms").values() if inv.vdis_of(vm["id"]))


# ---------------------------------------------------------------------- consistency checker


def check_users_groups_acl(inv: Inventory) -> None:
    users, groups = inv.collection("users"), inv.collection("groups")
    roles, privileges = inv.collection("acl-roles"), inv.collection("acl-privileges")
    for user in users.values():
        for group_id in user["groups"]:
            assert user["id"] in groups[group_id]["users"]
    for group in groups.values():
        for user_id in group["users"]:
            assert group["id"] in users[user_id]["groups"]
        for role_id in group["aclRoleIds"]:
            assert group["id"] in roles[role_id]["groupIds"]
    for role in roles.values():
        assert all(u in users for u in role["userIds"])
        for group_id in role["groupIds"]:
            assert role["id"] in groups[group_id]["aclRoleIds"]
        for privilege_id in role["privilegeIds"]:
            assert privileges[privilege_id]["roleId"] == role["id"]
    for privilege in privileges.values():
        assert privilege["id"] in roles[privilege["roleId"]]["privilegeIds"]


def check_vm_likes(inv: Inventory) -> None:
    pools, hosts = inv.collection("pools"), inv.collection("hosts")
    vbds, vifs = inv.collection("vbds"), inv.collection("vifs")
    for segment in VM_LIKE:
        for vm in inv.collection(segment).values():
            assert vm["$pool"] in pools
            for vbd_id in vm["$VBDs"]:
                assert vbds[vbd_id]["VM"] == vm["id"]
            for vif_id in vm["VIFs"]:
                assert vifs[vif_id]["$VM"] == vm["id"]
            for snapshot_id in vm["snapshots"]:
                assert inv.collection("vm-snapshots")[snapshot_id]["$snapshot_of"] == vm["id"]
            if vm["power_state"] in ("Running", "Paused"):
                assert vm["id"] in hosts[vm["$container"]]["residentVms"]
                assert isinstance(vm["startTime"], int)
            else:
                assert vm["$container"] == vm["$pool"]
            if segment == "vm-snapshots" and vm["$snapshot_of"] is not None:
                assert vm["id"] in inv.collection("vms")[vm["$snapshot_of"]]["snapshots"]
    for host in hosts.values():
        assert host["$pool"] in pools
        assert host["controlDomain"] in host["residentVms"]
        for vm_id in host["residentVms"]:
            resident = inv.get("vms", vm_id) or inv.get("vm-controllers", vm_id)
            assert resident is not None
            assert resident["$container"] == host["id"]
            assert resident["power_state"] in ("Running", "Paused")


def check_storage(inv: Inventory) -> None:
    srs, vbds, pbds = inv.collection("srs"), inv.collection("vbds"), inv.collection("pbds")
    for vbd in vbds.values():
        vm = find_vm_like(inv, vbd["VM"])
        vdi = find_vdi(inv, vbd["VDI"])
        assert vm is not None and vbd["id"] in vm["$VBDs"]
        assert vdi is not None and vbd["id"] in vdi["$VBDs"]
    for segment in ("vdis", "vdi-snapshots"):
        for vdi in inv.collection(segment).values():
            assert vdi["id"] in srs[vdi["$SR"]]["VDIs"]
            for vbd_id in vdi["$VBDs"]:
                assert vbds[vbd_id]["VDI"] == vdi["id"]
            for snapshot_id in vdi["snapshots"]:
                assert inv.collection("vdi-snapshots")[snapshot_id]["$snapshot_of"] == vdi["id"]
    for sr in srs.values():
        disks = [find_vdi(inv, vdi_id) for vdi_id in sr["VDIs"]]
        assert all(d is not None and d["$SR"] == sr["id"] for d in disks)
        assert sr["usage"] == sum(d["size"] for d in disks if d is not None)
        for pbd_id in sr["$PBDs"]:
            assert pbds[pbd_id]["SR"] == sr["id"]
    for pbd in pbds.values():
        assert pbd["id"] in srs[pbd["SR"]]["$PBDs"]
        assert pbd["id"] in inv.collection("hosts")[pbd["host"]]["$PBDs"]


def check_networking(inv: Inventory) -> None:
    networks, hosts = inv.collection("networks"), inv.collection("hosts")
    for vif in inv.collection("vifs").values():
        vm = find_vm_like(inv, vif["$VM"])
        assert vm is not None and vif["id"] in vm["VIFs"]
        assert vif["id"] in networks[vif["$network"]]["VIFs"]
    for pif in inv.collection("pifs").values():
        assert pif["id"] in networks[pif["$network"]]["PIFs"]
        assert pif["id"] in hosts[pif["$host"]]["PIFs"]
    for network in networks.values():
        assert all(inv.collection("vifs")[v]["$network"] == network["id"] for v in network["VIFs"])
        assert all(inv.collection("pifs")[p]["$network"] == network["id"] for p in network["PIFs"])


def check_consistent(inv: Inventory) -> None:
    check_users_groups_acl(inv)
    check_vm_likes(inv)
    check_storage(inv)
    check_networking(inv)
    for pool in inv.collection("pools").values():
        assert inv.collection("hosts")[pool["master"]]["$pool"] == pool["id"]
    for schedule in inv.collection("schedules").values():
        assert schedule["jobId"] in inv.collection("backup-jobs")
    repos = inv.collection("backup-repositories")
    for archive in inv.collection("backup-archives").values():
        assert archive["backupRepository"] in repos
    for job in inv.collection("backup-jobs").values():
        assert all(r in repos for r in job["remotes"]["id"]["__or"])


# ---------------------------------------------------------------------- determinism


def test_same_seed_builds_the_same_inventory() -> None:
    assert dump(Inventory(seed=3)) == dump(Inventory(seed=3))


def test_build_ignores_the_clock() -> None:
    assert dump(Inventory(seed=3, clock=lambda: 0.0)) == dump(Inventory(seed=3))


def test_different_seeds_differ() -> None:
    assert dump(Inventory(seed=1)) != dump(Inventory(seed=2))


def test_new_uuid_is_canonical_and_seeded() -> None:
    a, b = Inventory(seed=9), Inventory(seed=9)
    ids = [a.new_uuid() for _ in range(5)]
    assert ids == [b.new_uuid() for _ in range(5)]
    assert all(UUID.match(i) for i in ids)
    assert len(set(ids)) == 5


# ---------------------------------------------------------------------- shapes


def test_segments_and_types() -> None:
    assert set(XO_TYPES) == {*SEGMENTS, "alarms"}
    assert SEGMENTS[:3] == ("pools", "hosts", "vms")
    assert len(SEGMENTS) == 31


@pytest.mark.parametrize("segment", SEGMENTS)
def test_every_collection_holds_two_objects(inventory: Inventory, segment: str) -> None:
    assert len(inventory.collection(segment)) >= 2


def test_unknown_segment(inventory: Inventory) -> None:
    with pytest.raises(KeyError):
        inventory.collection("nope")
    assert inventory.get("vms", "nope") is None


@pytest.mark.parametrize("segment", sorted(DEFAULT_FIELDS))
def test_default_fields_exist(inventory: Inventory, segment: str) -> None:
    for obj in inventory.collection(segment).values():
        missing = [key for key in DEFAULT_FIELDS[segment] if key not in obj]
        assert not missing, f"{segment} {obj['id']} lacks {missing}"


@pytest.mark.parametrize("segment", XAPI_SEGMENTS)
def test_xapi_objects_identity(inventory: Inventory, segment: str) -> None:
    for object_id, obj in inventory.collection(segment).items():
        assert obj["id"] == object_id == obj["uuid"]
        assert UUID.match(object_id)
        assert re.fullmatch(r"OpaqueRef:" + UUID.pattern[1:-1], obj["_xapiRef"])
        assert obj["$pool"] == obj["$poolId"]
        assert obj["$pool"] in inventory.collection("pools")
        assert obj["type"] == XO_TYPES[segment]


def test_realistic_values(inventory: Inventory) -> None:
    host = next(iter(inventory.collection("hosts").values()))
    assert (host["productBrand"], host["version"]) == ("XCP-ng", "8.3.0")
    assert host["address"].startswith("10.")
    names = [vm["name_label"] for vm in inventory.collection("vms").values()]
    assert "web-01" in names and "db-01" in names
    os_names = " ".join(str(vm["os_version"]) for vm in inventory.collection("vms").values())
    assert "Windows" in os_names and ("Debian" in os_names or "Alpine" in os_names)
    vm = running_vm(inventory)
    # XAPI times are in seconds, XO-side ones in milliseconds.
    assert 1.6e9 < vm["startTime"] < 2e9
    assert all(1.6e12 < t["start"] < 2e12 for t in inventory.collection("tasks").values())
    assert all(1.6e9 < m["time"] < 2e9 for m in inventory.collection("messages").values())


def test_builds_are_consistent(inventory: Inventory) -> None:
    check_consistent(inventory)


def test_other_sizes_are_consistent() -> None:
    size = InventorySize(pools=3, hosts_per_pool=3, vms_per_pool=20, snapshots=10, messages=40)
    check_consistent(Inventory(seed=5, size=size))


def test_scale_build() -> None:
    inv = Inventory(size=InventorySize(pools=10, hosts_per_pool=8, vms_per_pool=500))
    assert len(inv.collection("vms")) == 5000
    assert len(inv.collection("hosts")) == 80
    assert len(inv.collection("vm-controllers")) == 80


def test_sizes_are_honoured(inventory: Inventory) -> None:
    size = InventorySize()
    assert len(inventory.collection("pools")) == size.pools
    assert len(inventory.collection("hosts")) == size.pools * size.hosts_per_pool
    assert len(inventory.collection("vms")) == size.pools * size.vms_per_pool
    assert len(inventory.collection("vm-controllers")) == size.pools * size.hosts_per_pool
    assert len(inventory.collection("vm-templates")) == size.pools * size.templates_per_pool
    assert len(inventory.collection("vm-snapshots")) == size.snapshots
    local_and_iso = size.pools * (size.hosts_per_pool + 1)
    assert len(inventory.collection("srs")) == size.pools * size.srs_per_pool + local_and_iso
    assert len(inventory.collection("networks")) == size.pools * size.networks_per_pool
    assert len(inventory.collection("messages")) == size.messages
    assert len(inventory.collection("backup-jobs")) == size.backup_jobs
    assert len(inventory.collection("users")) == size.users
    assert len(inventory.collection("groups")) == size.groups


# ---------------------------------------------------------------------- relations


def test_admin_user_first(inventory: Inventory) -> None:
    first = next(iter(inventory.collection("users").values()))
    assert first["permission"] == "admin"
    assert first["pw_hash"] == "***obfuscated***"


def test_users_are_in_groups(inventory: Inventory) -> None:
    assert all(user["groups"] for user in inventory.collection("users").values())
    assert any(role["groupIds"] for role in inventory.collection("acl-roles").values())
    assert any(role["userIds"] for role in inventory.collection("acl-roles").values())


def test_backup_job_types(inventory: Inventory) -> None:
    types = {job["type"] for job in inventory.collection("backup-jobs").values()}
    assert types == {"backup", "metadataBackup", "mirrorBackup"}
    for log in inventory.collection("backup-logs").values():
        assert log["jobId"] in inventory.collection("backup-jobs")
        assert log["scheduleId"] in inventory.collection("schedules")


def test_backup_jobs_of_vm(inventory: Inventory) -> None:
    job = next(j for j in inventory.collection("backup-jobs").values() if j["type"] == "backup")
    vm_id = job["vms"]["id"]["__or"][0]
    assert job in inventory.backup_jobs_of_vm(vm_id)
    assert inventory.backup_jobs_of_vm("nope") == []
    for vm_id in inventory.collection("vms"):
        assert all(j["type"] == "backup" for j in inventory.backup_jobs_of_vm(vm_id))


def test_historical_tasks(inventory: Inventory) -> None:
    tasks = list(inventory.collection("tasks").values())
    assert {t["status"] for t in tasks} == {"success", "failure"}
    assert all(re.fullmatch(r"[0-9a-z]{9}-[0-9a-z]{10}", t["id"]) for t in tasks)
    assert all(t["end"] >= t["start"] for t in tasks)
    for task in tasks:
        props = task["properties"]
        assert props.get("objectId") is None or props["objectId"] in inventory.collection("vms")
        assert props.get("userId") in inventory.collection("users")


def test_hosts_and_servers(inventory: Inventory) -> None:
    for host in inventory.collection("hosts").values():
        assert host["power_state"] == "Running"
        assert isinstance(host["enabled"], bool)
        assert host["controlDomain"] in inventory.collection("vm-controllers")
    statuses = {s["status"] for s in inventory.collection("servers").values()}
    assert "connected" in statuses


def test_vdis_of_each_vm_sibling(inventory: Inventory) -> None:
    vm = vm_with_disks(inventory)
    pairs = inventory.vdis_of(vm["id"])
    assert {segment for segment, _ in pairs} <= {"vdis"}
    assert {v["id"] for _, v in pairs} == {
        inventory.collection("vbds")[b]["VDI"] for b in vm["$VBDs"]
    }
    snapshot = next(iter(inventory.collection("vm-snapshots").values()))
    assert {segment for segment, _ in inventory.vdis_of(snapshot["id"])} == {"vdi-snapshots"}
    template = next(
        t for t in inventory.collection("vm-templates").values() if not t["isDefaultTemplate"]
    )
    assert inventory.vdis_of(template["id"])
    controller = next(iter(inventory.collection("vm-controllers")))
    assert inventory.vdis_of(controller) == []
    assert inventory.vdis_of("nope") == []


# ---------------------------------------------------------------------- messages and alarms


def test_alarms_are_reshaped_messages(inventory: Inventory) -> None:
    alarms = inventory.alarms()
    assert len(alarms) >= 3
    messages = inventory.collection("messages")
    for alarm in alarms:
        message = messages[alarm["id"]]
        assert message["name"] in ALARM_NAMES
        assert all(key in alarm for key in ALARM_FIELDS)
        assert alarm["type"] == "message"
        assert alarm["time"] == message["time"] * 1000
        assert set(alarm["body"]) == {"value", "name"}
        target = alarm["object"]
        assert target["uuid"] == message["$object"]
        segment = target["href"].split("/")[3]
        assert target["href"] == f"/rest/v0/{segment}/{target['uuid']}"
        assert inventory.collection(segment)[target["uuid"]]["type"] == target["type"]
        assert inventory.alarm(alarm["id"]) == alarm


def test_alarm_values(inventory: Inventory) -> None:
    perf = [a for a in inventory.alarms() if a["name"] == "ALARM"]
    assert perf
    for alarm in perf:
        assert re.fullmatch(r"\d+\.\d", alarm["body"]["value"])
        assert alarm["body"]["name"] in ("physical_utilisation", "cpu_usage")


def test_alarm_lookup_rejects_plain_messages(inventory: Inventory) -> None:
    plain = next(m for m in inventory.collection("messages").values() if m["name"] != "ALARM")
    if plain["name"] not in ALARM_NAMES:
        assert inventory.alarm(plain["id"]) is None
    assert inventory.alarm("nope") is None


def test_alarms_of_and_messages_of(inventory: Inventory) -> None:
    alarm = inventory.alarms()[0]
    target = alarm["object"]["uuid"]
    assert alarm in inventory.alarms_of(target)
    assert all(m["name"] not in ALARM_NAMES for m in inventory.messages_of(target))
    total = sum(
        len(inventory.messages_of(object_id)) + len(inventory.alarms_of(object_id))
        for object_id in {m["$object"] for m in inventory.collection("messages").values()}
    )
    assert total == len(inventory.collection("messages"))


# ---------------------------------------------------------------------- dashboards


def test_dashboard_counts(inventory: Inventory) -> None:
    board = inventory.dashboard()
    keys = "nPools,nHosts,backupRepositories,resourcesOverview,poolsStatus,missingPatches,"
    keys += "storageRepositories,backups,hostsStatus,vmsStatus"
    assert set(keys.split(",")) <= set(board)
    vms = list(inventory.collection("vms").values())
    assert board["nPools"] == len(inventory.collection("pools"))
    assert board["nHosts"] == len(inventory.collection("hosts"))
    assert board["vmsStatus"]["total"] == len(vms)
    assert board["vmsStatus"]["running"] == sum(vm["power_state"] == "Running" for vm in vms)
    protection = board["backups"]["vmsProtection"]
    assert sum(protection.values()) == len(vms)
    status = board["vmsStatus"]
    assert status["active"] + status["inactive"] + status["unknown"] == status["total"]
    hosts = board["hostsStatus"]
    assert (
        hosts["running"] + hosts["halted"] + hosts["disabled"] + hosts["unknown"] == hosts["total"]
    )
    assert board["poolsStatus"]["total"] == board["nPools"]
    size = board["storageRepositories"]["size"]
    assert size["total"] == size["used"] + size["available"]


def test_pool_dashboards_add_up(inventory: Inventory) -> None:
    boards = [inventory.pool_dashboard(p) for p in inventory.collection("pools")]
    for board in boards:
        assert set(board) >= {"hosts", "vms", "srs", "alarms", "cpuProvisioning"}
    assert sum(b["vms"]["status"]["total"] for b in boards) == len(inventory.collection("vms"))
    assert sum(b["hosts"]["status"]["total"] for b in boards) == len(inventory.collection("hosts"))
    assert sum(len(b["alarms"]) for b in boards) == len(inventory.alarms())


def test_vm_dashboard(inventory: Inventory) -> None:
    vm = running_vm(inventory)
    board = inventory.vm_dashboard(vm["id"])
    assert set(board) == {"quickInfo", "alarms", "backupsInfo"}
    info = board["quickInfo"]
    assert (info["id"], info["power_state"], info["host"]) == (
        vm["id"],
        "Running",
        vm["$container"],
    )
    protected = inventory.vm_dashboard(
        next(j for j in inventory.collection("backup-jobs").values() if j["type"] == "backup")[
            "vms"
        ]["id"]["__or"][0]
    )
    assert protected["backupsInfo"]["vmProtected"] is True
    assert protected["backupsInfo"]["backupArchives"]


def test_missing_patches(inventory: Inventory) -> None:
    pool_id = next(iter(inventory.collection("pools")))
    pool_patches = inventory.missing_patches(pool_id)
    names = {p["name"] for p in pool_patches}
    for host in inventory.collection("hosts").values():
        for patch in inventory.missing_patches(host["id"]):
            assert all(key in patch for key in PATCH_FIELDS)
            if host["$pool"] == pool_id:
                assert patch["name"] in names
    with pytest.raises(KeyError):
        inventory.missing_patches("nope")


# ---------------------------------------------------------------------- mutations


def test_start_places_vm_on_a_host(fresh: Inventory) -> None:
    vm = halted_vm(fresh)
    fresh.set_power_state(vm["id"], "Running")
    host = fresh.collection("hosts")[vm["$container"]]
    assert host["$pool"] == vm["$pool"] and host["enabled"]
    assert vm["id"] in host["residentVms"]
    assert vm["startTime"] == int(NOW)
    assert all(fresh.collection("vbds")[b]["attached"] for b in vm["$VBDs"])
    check_consistent(fresh)


def test_start_on_a_chosen_host_and_migrate(fresh: Inventory) -> None:
    vm = halted_vm(fresh)
    hosts = [h for h in fresh.collection("hosts").values() if h["$pool"] == vm["$pool"]]
    fresh.set_power_state(vm["id"], "Running", hosts[0]["id"])
    assert vm["$container"] == hosts[0]["id"]
    started = vm["startTime"]
    fresh.set_power_state(vm["id"], "Running", hosts[1]["id"])
    assert vm["id"] not in hosts[0]["residentVms"]
    assert vm["id"] in hosts[1]["residentVms"]
    assert vm["startTime"] == started
    check_consistent(fresh)


def test_halt_and_suspend_leave_the_host(fresh: Inventory) -> None:
    for state in ("Halted", "Suspended"):
        vm = running_vm(fresh)
        host = fresh.collection("hosts")[vm["$container"]]
        fresh.set_power_state(vm["id"], state)
        assert (vm["power_state"], vm["$container"], vm["startTime"]) == (
            state,
            vm["$pool"],
            None,
        )
        assert vm["id"] not in host["residentVms"]
        assert not any(fresh.collection("vifs")[v]["attached"] for v in vm["VIFs"])
    check_consistent(fresh)


def test_pause_stays_resident(fresh: Inventory) -> None:
    vm = running_vm(fresh)
    host_id = vm["$container"]
    fresh.set_power_state(vm["id"], "Paused")
    assert vm["$container"] == host_id
    fresh.set_power_state(vm["id"], "Running")
    assert vm["$container"] == host_id
    check_consistent(fresh)


def test_host_memory_follows_residents(fresh: Inventory) -> None:
    vm = running_vm(fresh)
    host = fresh.collection("hosts")[vm["$container"]]
    before = host["memory"]["usage"]
    fresh.set_power_state(vm["id"], "Halted")
    assert host["memory"]["usage"] == before - vm["memory"]["size"]


def test_bad_power_state(fresh: Inventory) -> None:
    with pytest.raises(ValueError, match="power state"):
        fresh.set_power_state(halted_vm(fresh)["id"], "Exploded")
    with pytest.raises(KeyError):
        fresh.set_power_state("nope", "Running")


def test_snapshot_vm(fresh: Inventory) -> None:
    vm = vm_with_disks(fresh)
    srs = fresh.collection("srs")
    originals = {
        v["id"] for _, v in fresh.vdis_of(vm["id"]) if srs[v["$SR"]]["content_type"] != "iso"
    }
    snapshot_id = fresh.snapshot_vm(vm["id"], "before upgrade")
    snapshot = fresh.collection("vm-snapshots")[snapshot_id]
    assert snapshot["name_label"] == "before upgrade"
    assert snapshot["$snapshot_of"] == vm["id"]
    assert snapshot["snapshot_time"] == int(NOW)
    assert snapshot_id in vm["snapshots"]
    copies = fresh.vdis_of(snapshot_id)
    assert {s for s, _ in copies} == {"vdi-snapshots"}
    assert {c["$snapshot_of"] for _, c in copies} == originals
    for _, copy in copies:
        assert copy["id"] in fresh.collection("vdis")[copy["$snapshot_of"]]["snapshots"]
    check_consistent(fresh)


def test_snapshot_default_name(fresh: Inventory) -> None:
    vm = vm_with_disks(fresh)
    snapshot_id = fresh.snapshot_vm(vm["id"])
    assert fresh.collection("vm-snapshots")[snapshot_id]["name_label"].startswith(vm["name_label"])


def test_clone_vm(fresh: Inventory) -> None:
    source = vm_with_disks(fresh)
    clone_id = fresh.clone_vm(source["id"], "web-clone")
    clone = fresh.collection("vms")[clone_id]
    assert (clone["name_label"], clone["power_state"], clone["$container"]) == (
        "web-clone",
        "Halted",
        source["$pool"],
    )
    assert clone["snapshots"] == []
    assert (clone["addresses"], clone["mainIpAddress"]) == ({}, None)
    assert len(clone["$VBDs"]) == len(source["$VBDs"])
    assert len(clone["VIFs"]) == len(source["VIFs"])
    mine = {v["id"] for _, v in fresh.vdis_of(clone_id)}
    theirs = {v["id"] for _, v in fresh.vdis_of(source["id"])}
    shared = mine & theirs
    # Only installation media are shared; every disk is copied.
    srs, vdis = fresh.collection("srs"), fresh.collection("vdis")
    assert all(srs[vdis[v]["$SR"]]["content_type"] == "iso" for v in shared)
    assert all(key in clone for key in DEFAULT_FIELDS["vms"])
    check_consistent(fresh)


@pytest.mark.parametrize("default", [True, False])
def test_clone_template(fresh: Inventory, default: bool) -> None:
    template = next(
        t for t in fresh.collection("vm-templates").values() if t["isDefaultTemplate"] is default
    )
    vm_id = fresh.clone_vm(template["id"])
    vm = fresh.collection("vms")[vm_id]
    assert vm["type"] == "VM"
    assert "isDefaultTemplate" not in vm and "template_info" not in vm
    assert vm["creation"]["template"] == template["id"]
    assert fresh.vdis_of(vm_id), "a VM from a template gets disks"
    assert vm["VIFs"], "and a network interface"
    check_consistent(fresh)


def test_clone_unknown(fresh: Inventory) -> None:
    with pytest.raises(KeyError):
        fresh.clone_vm("nope")


def test_revert_snapshot(fresh: Inventory) -> None:
    vm = running_vm(fresh)
    snapshot_id = fresh.snapshot_vm(vm["id"])
    vm["CPUs"]["number"] += 1
    fresh.revert_snapshot(vm["id"], snapshot_id)
    assert vm["power_state"] == "Halted"
    assert vm["CPUs"] == fresh.collection("vm-snapshots")[snapshot_id]["CPUs"]
    check_consistent(fresh)


def test_revert_foreign_snapshot(fresh: Inventory) -> None:
    vms = list(fresh.collection("vms"))
    snapshot_id = fresh.snapshot_vm(vms[0])
    with pytest.raises(ValueError, match="does not belong"):
        fresh.revert_snapshot(vms[1], snapshot_id)


def test_delete_vm(fresh: Inventory) -> None:
    vm = running_vm(fresh)
    snapshot_id = fresh.snapshot_vm(vm["id"])
    vbds, vifs = list(vm["$VBDs"]), list(vm["VIFs"])
    fresh.delete("vms", vm["id"])
    assert fresh.get("vms", vm["id"]) is None
    assert not any(fresh.get("vbds", v) for v in vbds)
    assert not any(fresh.get("vifs", v) for v in vifs)
    assert fresh.collection("vm-snapshots")[snapshot_id]["$snapshot_of"] is None
    assert all(vm["id"] not in h["residentVms"] for h in fresh.collection("hosts").values())
    check_consistent(fresh)


def test_delete_snapshot(fresh: Inventory) -> None:
    vm = vm_with_disks(fresh)
    snapshot_id = fresh.snapshot_vm(vm["id"])
    fresh.delete("vm-snapshots", snapshot_id)
    assert snapshot_id not in vm["snapshots"]
    check_consistent(fresh)


def test_delete_vdi(fresh: Inventory) -> None:
    vm = vm_with_disks(fresh)
    _, vdi = next((s, v) for s, v in fresh.vdis_of(vm["id"]) if s == "vdis")
    sr = fresh.collection("srs")[vdi["$SR"]]
    fresh.delete("vdis", vdi["id"])
    assert vdi["id"] not in sr["VDIs"]
    assert not set(vdi["$VBDs"]) & set(vm["$VBDs"])
    check_consistent(fresh)


@pytest.mark.parametrize(
    "segment",
    [
        "vbds",
        "vifs",
        "pifs",
        "pbds",
        "networks",
        "srs",
        "hosts",
        "users",
        "groups",
        "acl-roles",
        "acl-privileges",
        "backup-jobs",
        "schedules",
        "vm-templates",
        "vdi-snapshots",
        "pcis",
        "pgpus",
        "messages",
        "tasks",
        "servers",
        "backup-repositories",
    ],
)
def test_delete_keeps_relations(fresh: Inventory, segment: str) -> None:
    object_id = next(iter(fresh.collection(segment)))
    fresh.delete(segment, object_id)
    assert fresh.get(segment, object_id) is None
    check_consistent_after_delete(fresh, segment)


def check_consistent_after_delete(inv: Inventory, segment: str) -> None:
    if segment == "hosts":
        # A pool may lose its only host; every other relation must still hold.
        for pool in inv.collection("pools").values():
            assert pool["master"] is None or pool["master"] in inv.collection("hosts")
        check_users_groups_acl(inv)
        check_storage(inv)
        check_networking(inv)
        return
    check_consistent(inv)


def test_delete_user_leaves_groups(fresh: Inventory) -> None:
    user = list(fresh.collection("users").values())[1]
    groups = list(user["groups"])
    fresh.delete("users", user["id"])
    assert all(user["id"] not in fresh.collection("groups")[g]["users"] for g in groups)


def test_delete_unknown(fresh: Inventory) -> None:
    with pytest.raises(KeyError):
        fresh.delete("vms", "nope")


def test_tags(fresh: Inventory) -> None:
    vm = halted_vm(fresh)
    fresh.add_tag("vms", vm["id"], "blue")
    fresh.add_tag("vms", vm["id"], "blue")
    assert vm["tags"].count("blue") == 1
    fresh.remove_tag("vms", vm["id"], "blue")
    fresh.remove_tag("vms", vm["id"], "blue")
    assert "blue" not in vm["tags"]
    with pytest.raises(KeyError):
        fresh.add_tag("vms", "nope", "x")


def test_patch(fresh: Inventory) -> None:
    vm = halted_vm(fresh)
    fresh.patch("vms", vm["id"], {"name_label": "renamed", "notes": "hi"})
    assert (vm["name_label"], vm["notes"]) == ("renamed", "hi")
    with pytest.raises(KeyError):
        fresh.patch("vms", "nope", {})


def test_live_collection_accepts_inserts(fresh: Inventory) -> None:
    fresh.collection("servers")["x"] = {"id": "x", "status": "disconnected"}
    assert fresh.get("servers", "x") is not None
