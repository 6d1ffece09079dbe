"""configs/k8s: the agent pod with xo-mcp as its sidecar meets Pod Security "restricted" (every
rule of the table in hardening.md §1.1, Baseline included), runs with a read-only root
filesystem, and is wired as the image expects (fleet file, secrets, /tmp, probes).

No Docker needed: the manifests are parsed with PyYAML. The checker is also shown pods that
break each rule, so that a pass cannot come from a checker that looks at nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from xo_mcp.fleet.config import parse_fleet

K8S = Path(__file__).resolve().parents[2] / "configs" / "k8s"
ALLOWED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
POD_TEMPLATES = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


def documents() -> list[dict[str, Any]]:
    """Every Kubernetes object of configs/k8s (the kustomization is not one)."""
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return [doc for doc in docs if doc["kind"] != "Kustomization"]


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] == "Pod":
            yield name, doc["spec"]
        elif doc["kind"] in POD_TEMPLATES:
            yield name, doc["spec"]["template"]["spec"]
        elif doc["kind"] == "CronJob":
            yield name, doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def all_containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    kinds = ("containers", "initContainers", "ephemeralContainers")
    return [container for kind in kinds for container in spec.get(kind) or []]


def _container_violations(
    container: dict[str, Any], pod_context: dict[str, Any], linux: bool
) -> list[str]:
    where = f"container {container['name']}"
    context = container.get("securityContext") or {}
    problems = []
    if context.get("privileged"):
        problems.append(f"{where}: privileged")
    for port in container.get("ports") or []:
        if port.get("hostPort"):
            problems.append(f"{where}: hostPort {port['hostPort']}")
    if context.get("procMount", "Default") != "Default":
        problems.append(f"{where}: procMount {context['procMount']}")
    if (context.get("windowsOptions") or {}).get("hostProcess"):
        problems.append(f"{where}: windows hostProcess")
    selinux = (context.get("seLinuxOptions") or {}).get("type", "")
    if selinux not in SELINUX_TYPES:
        problems.append(f"{where}: SELinux type {selinux}")
    if (context.get("appArmorProfile") or {}).get("type") == "Unconfined":
        problems.append(f"{where}: AppArmor unconfined")
    non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
    if non_root is not True:
        problems.append(f"{where}: runAsNonRoot is not true")
    if context.get("runAsUser") == 0:
        problems.append(f"{where}: runAsUser 0")
    if not linux:
        return problems
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{where}: allowPrivilegeEscalation is not false")
    seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        problems.append(f"{where}: seccomp profile {seccomp}")
    capabilities = context.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        problems.append(f"{where}: capabilities.drop lacks ALL")
    if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
        problems.append(f"{where}: capabilities.add {capabilities['add']}")
    return problems


def restricted_violations(spec: dict[str, Any]) -> list[str]:
    """Every Pod Security "restricted" (and so Baseline) rule this pod spec breaks."""
    problems = []
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            problems.append(f"pod: {key}")
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            problems.append(f"volume {volume['name']}: {sorted(kinds - ALLOWED_VOLUMES)}")
    pod_context = spec.get("securityContext") or {}
    if pod_context.get("runAsUser") == 0:
        problems.append("pod: runAsUser 0")
    if (pod_context.get("windowsOptions") or {}).get("hostProcess"):
        problems.append("pod: windows hostProcess")
    for sysctl in pod_context.get("sysctls") or []:
        if sysctl["name"] not in SAFE_SYSCTLS:
            problems.append(f"pod: sysctl {sysctl['name']}")
    if (pod_context.get("seLinuxOptions") or {}).get("type", "") not in SELINUX_TYPES:
        problems.append("pod: SELinux type")
    if (pod_context.get("appArmorProfile") or {}).get("type") == "Unconfined":
        problems.append("pod: AppArmor unconfined")
    linux = (spec.get("os") or {}).get("name", "linux") != "windows"
    for container in all_containers(spec):
        problems += _container_violations(container, pod_context, linux)
    return problems


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    return documents()


@pytest.fixture(scope="module")
def pod(docs: list[dict[str, Any]]) -> dict[str, Any]:
    specs = dict(pod_specs(docs))
    assert list(specs) == ["Deployment/ai-agent"]
    return specs["Deployment/ai-agent"]


def sidecar(spec: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in all_containers(spec) if c["name"] == "xo-mcp")


def test_every_pod_meets_pod_security_restricted(docs: list[dict[str, Any]]) -> None:
    specs = list(pod_specs(docs))
    assert specs
    for name, spec in specs:
        assert restricted_violations(spec) == [], name


def test_the_kustomization_applies_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    manifests = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == manifests


def test_the_namespace_enforces_restricted(docs: list[dict[str, Any]]) -> None:
    namespace = next(doc for doc in docs if doc["kind"] == "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    namespaced = [doc for doc in docs if doc["kind"] != "Namespace"]
    assert {doc["metadata"]["namespace"] for doc in namespaced} == {namespace["metadata"]["name"]}


def _break(spec: dict[str, Any], rule: str) -> dict[str, Any]:
    broken = copy.deepcopy(spec)
    target = sidecar(broken)
    context = target["securityContext"]
    if rule == "privileged":
        context["privileged"] = True
    elif rule == "escalation":
        context.pop("allowPrivilegeEscalation")
    elif rule == "root":
        context["runAsUser"] = 0
    elif rule == "non-root-unset":
        context.pop("runAsNonRoot")
        broken["securityContext"].pop("runAsNonRoot")
    elif rule == "seccomp":
        context["seccompProfile"] = {"type": "Unconfined"}
    elif rule == "seccomp-absent":
        context.pop("seccompProfile")
        broken["securityContext"].pop("seccompProfile")
    elif rule == "capability":
        context["capabilities"]["add"] = ["SYS_ADMIN"]
    elif rule == "no-drop-all":
        context["capabilities"]["drop"] = ["NET_RAW"]
    elif rule == "hostpath":
        broken["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    elif rule == "hostnetwork":
        broken["hostNetwork"] = True
    elif rule == "hostport":
        target["ports"][0]["hostPort"] = 8080
    elif rule == "sysctl":
        broken["securityContext"]["sysctls"] = [{"name": "kernel.msgmax", "value": "1"}]
    elif rule == "procmount":
        context["procMount"] = "Unmasked"
    return broken


@pytest.mark.parametrize(
    "rule",
    [
        "privileged",
        "escalation",
        "root",
        "non-root-unset",
        "seccomp",
        "seccomp-absent",
        "capability",
        "no-drop-all",
        "hostpath",
        "hostnetwork",
        "hostport",
        "sysctl",
        "procmount",
    ],
)
def test_the_checker_catches_each_broken_rule(pod: dict[str, Any], rule: str) -> None:
    assert restricted_violations(_break(pod, rule)) != []


def test_sidecar_has_a_read_only_root_and_a_tmp_emptydir(pod: dict[str, Any]) -> None:
    container = sidecar(pod)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["restartPolicy"] == "Always"  # a native sidecar
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    for path, mount in mounts.items():
        assert path == "/tmp" or mount.get("readOnly") is True, path
    for other in all_containers(pod):
        assert other["securityContext"]["readOnlyRootFilesystem"] is True, other["name"]
    assert pod["securityContext"]["runAsUser"] == 65532  # the image's user


def test_fleet_file_comes_from_the_configmap_and_secrets_from_the_secret(
    docs: list[dict[str, Any]], pod: dict[str, Any]
) -> None:
    container = sidecar(pod)
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    config_volume = volumes[mounts["/etc/xo-mcp"]]["configMap"]
    configmap = next(
        doc
        for doc in docs
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == config_volume["name"]
    )
    assert [item["path"] for item in config_volume["items"]] == ["fleet.toml"]
    fleet = parse_fleet(configmap["data"]["fleet.toml"], "fleet.toml", check_secrets=False)
    secret_mount = next(path for path, name in mounts.items() if "secret" in volumes[name])
    secret_volume = volumes[mounts[secret_mount]]["secret"]
    provided = {item["path"] for item in secret_volume["items"]}
    secret = next(
        doc
        for doc in docs
        if doc["kind"] == "Secret" and doc["metadata"]["name"] == secret_volume["secretName"]
    )
    assert {item["key"] for item in secret_volume["items"]} <= set(secret["stringData"])
    files = [instance.secret[1].file for instance in fleet.instances.values()]
    files += [client.token_file for client in fleet.gateway.clients]
    for file in files:
        assert file is not None and file.parent == Path(secret_mount), file
        assert file.name in provided, file
    assert str(fleet.runtime_dir).startswith("/tmp/")
    assert fleet.sandbox == "required"


def test_probes_hit_healthz_and_readyz_on_the_fleet_port(
    docs: list[dict[str, Any]], pod: dict[str, Any]
) -> None:
    container = sidecar(pod)
    configmap = next(doc for doc in docs if doc["kind"] == "ConfigMap")
    fleet = parse_fleet(configmap["data"]["fleet.toml"], "fleet.toml", check_secrets=False)
    assert fleet.gateway.listen is not None
    host, port = fleet.gateway.listen.host, fleet.gateway.listen.port
    assert host == "0.0.0.0"  # the kubelet probes the pod IP, not loopback
    assert fleet.gateway.clients, "beyond loopback, MCP paths need bearer tokens"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    probes = {kind: container[kind]["httpGet"] for kind in ("livenessProbe", "readinessProbe")}
    probes["startupProbe"] = container["startupProbe"]["httpGet"]
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["startupProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    for probe in probes.values():
        assert ports.get(probe["port"], probe["port"]) == port
