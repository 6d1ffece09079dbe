"""configs/k8s: the agent pod with xo-mcp as its sidecar meets Pod Security "restricted" (every
rule of the table in hardening.md §1.1, Baseline included), runs with a read-only root
filesystem, and is wired as the image expects (fleet file, secrets, /tmp, probes). The same
for configs/k8s/ha (three replicas, Valkey, and HAProxy in the sticky mode), plus what
replicas need: spread, disruption budget, autoscaler, a graceful stop that fits the drain,
the store and its secrets, HAProxy's and Valkey's own configurations run by the real servers;
every manifest validated against Kubernetes' schemas (kubernetes-validate, offline).

No Docker needed: the manifests are parsed with PyYAML. The checker is also shown pods that
break each rule, so that a pass cannot come from a checker that looks at nothing.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from support import haproxy, redis_server
from support.processes import free_port, stop_process, wait_for

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


# --- configs/k8s/ha: replicas behind a Service, or behind HAProxy (sticky) ---------------------

HA = K8S / "ha"
MODES = ("stateless", "sticky")
TEARDOWN_S = 10  # what the launcher needs after the drain (workers, supervisord), at most


def _deep_merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = value


def render(folder: Path) -> list[dict[str, Any]]:
    """What `kubectl apply -k folder` applies, for the features our kustomizations use:
    resources (files and folders) and strategic-merge patches of whole objects."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        path = folder / resource
        if path.is_dir():
            docs += render(path)
        else:
            docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for patch in kustomization.get("patches", []):
        change = yaml.safe_load((folder / patch["path"]).read_text())
        key = (change["kind"], change["metadata"]["name"])
        targets = [doc for doc in docs if (doc["kind"], doc["metadata"]["name"]) == key]
        assert len(targets) == 1, f"{patch['path']} patches nothing"
        _deep_merge(targets[0], change)
    return docs


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, (kind, name, len(found))
    return found[0]


def replicas_pod(docs: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = one(docs, "Deployment", "xo-mcp")["spec"]["template"]["spec"]
    return spec


def ha_fleet(docs: list[dict[str, Any]]) -> Any:
    configmap = one(docs, "ConfigMap", "xo-mcp-fleet")
    return parse_fleet(configmap["data"]["fleet.toml"], "fleet.toml", check_secrets=False)


@pytest.fixture(scope="module", params=MODES)
def mode(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(HA / request.param)


def test_every_ha_pod_meets_pod_security_restricted(mode: tuple[str, list[Any]]) -> None:
    name, docs = mode
    specs = dict(pod_specs(docs))
    expected = {"Deployment/xo-mcp", "StatefulSet/valkey"}
    assert set(specs) == expected | ({"Deployment/xo-mcp-lb"} if name == "sticky" else set())
    for pod, spec in specs.items():
        assert restricted_violations(spec) == [], pod
        for container in all_containers(spec):
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, pod
        assert spec["automountServiceAccountToken"] is False, pod


def test_each_ha_kustomization_names_every_manifest_of_its_folder() -> None:
    for folder in (HA / "base", HA / "stateless", HA / "sticky"):
        kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
        listed = set(kustomization["resources"]) | {
            patch["path"] for patch in kustomization.get("patches", [])
        }
        files = {path.name for path in folder.glob("*.yaml")} - {"kustomization.yaml"}
        assert files <= listed, folder
        assert {entry for entry in listed if not (folder / entry).exists()} == set(), folder


def test_the_ha_namespace_enforces_restricted(mode: tuple[str, list[Any]]) -> None:
    _, docs = mode
    namespace = one(docs, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    namespaced = [doc for doc in docs if doc["kind"] != "Namespace"]
    assert {doc["metadata"]["namespace"] for doc in namespaced} == {namespace["metadata"]["name"]}


def test_replicas_spread_with_a_disruption_budget_and_an_autoscaler(
    mode: tuple[str, list[Any]],
) -> None:
    _, docs = mode
    deployment = one(docs, "Deployment", "xo-mcp")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["replicas"] == 3
    rolling = deployment["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0 and rolling["maxSurge"] == 1  # one at a time
    spread = {c["topologyKey"]: c for c in replicas_pod(docs)["topologySpreadConstraints"]}
    assert set(spread) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    assert spread["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    for constraint in spread.values():
        assert constraint["labelSelector"]["matchLabels"].items() <= labels.items()
    budget = one(docs, "PodDisruptionBudget", "xo-mcp")["spec"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()
    assert 2 <= budget["minAvailable"] < deployment["spec"]["replicas"]
    autoscaler = one(docs, "HorizontalPodAutoscaler", "xo-mcp")["spec"]
    assert autoscaler["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "xo-mcp",
    }
    assert autoscaler["minReplicas"] == 3 < autoscaler["maxReplicas"]
    [metric] = autoscaler["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert replicas_pod(docs)["containers"][0]["resources"]["requests"]["cpu"]


def test_probes_and_the_graceful_stop_match_the_fleet_file(mode: tuple[str, list[Any]]) -> None:
    name, docs = mode
    pod = replicas_pod(docs)
    [container] = pod["containers"]
    fleet = ha_fleet(docs)
    assert fleet.gateway.sessions == ("stateful" if name == "sticky" else "stateless")
    assert fleet.gateway.listen is not None and fleet.gateway.listen.host == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    probes = {kind: container[kind]["httpGet"] for kind in ("livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    for probe in probes.values():
        assert ports[probe["port"]] == fleet.gateway.listen.port
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]  # no shell in the image
    assert pre_stop >= 1
    grace = pod["terminationGracePeriodSeconds"]
    assert grace >= pre_stop + fleet.gateway.drain_s + TEARDOWN_S


def test_the_fleet_file_reaches_the_store_and_its_secrets(mode: tuple[str, list[Any]]) -> None:
    _, docs = mode
    fleet = ha_fleet(docs)
    state = fleet.gateway.state
    assert state is not None and fleet.gateway.state_key_file is not None
    store = urlsplit(state.url)
    service = one(docs, "Service", "valkey")
    namespace = service["metadata"]["namespace"]
    assert store.hostname == f"valkey.{namespace}.svc"
    assert store.port == service["spec"]["ports"][0]["port"]
    pod = replicas_pod(docs)
    [container] = pod["containers"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    secret_dir = next(path for path, name in mounts.items() if "secret" in volumes[name])
    items = volumes[mounts[secret_dir]]["secret"]["items"]
    secret = one(docs, "Secret", volumes[mounts[secret_dir]]["secret"]["secretName"])
    assert {item["key"] for item in items} <= set(secret["stringData"])
    files = [fleet.gateway.state_key_file, state.password_file]
    files += [instance.secret[1].file for instance in fleet.instances.values()]
    files += [client.token_file for client in fleet.gateway.clients]
    for file in files:
        assert file is not None and file.parent == Path(secret_dir), file
        assert file.name in {item["path"] for item in items}, file
    for host in ("xo-mcp:8080", f"xo-mcp.{namespace}.svc:8080"):
        assert host in fleet.gateway.allowed_hosts  # the Host header clients send


def test_services_select_their_pods(mode: tuple[str, list[Any]]) -> None:
    _, docs = mode
    pods = {
        doc["metadata"]["name"]: doc["spec"]["template"]
        for doc in docs
        if doc["kind"] in POD_TEMPLATES
    }
    for service in (doc for doc in docs if doc["kind"] == "Service"):
        selector = service["spec"]["selector"].items()
        matched = [t for t in pods.values() if selector <= t["metadata"]["labels"].items()]
        assert len(matched) == 1, service["metadata"]["name"]
        named = {p["name"] for c in matched[0]["spec"]["containers"] for p in c["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in named, service["metadata"]["name"]


def test_the_sticky_fleet_file_differs_by_sessions_only() -> None:
    base, sticky = (ha_fleet(render(HA / folder)) for folder in MODES)
    assert base.gateway.sessions == "stateless" and sticky.gateway.sessions == "stateful"
    assert base.model_copy(update={"gateway": None}) == sticky.model_copy(update={"gateway": None})
    stateful = base.gateway.model_copy(update={"sessions": "stateful"})
    assert stateful == sticky.gateway


def test_the_sticky_haproxy_is_the_one_the_container_test_runs(tmp_path: Path) -> None:
    docs = render(HA / "sticky")
    config = one(docs, "ConfigMap", "xo-mcp-haproxy")["data"]["haproxy.cfg"]
    lines = {line.strip() for line in config.splitlines()}
    for directive in haproxy.RECOMMENDED:
        assert directive in lines, directive
        assert directive in haproxy.CONFIG, directive  # and in the one the tests start
    headless = one(docs, "Service", "xo-mcp-pods")
    assert headless["spec"]["clusterIP"] == "None"
    name = f"{headless['metadata']['name']}.{headless['metadata']['namespace']}.svc"
    assert any(line.startswith("server-template") and name in line for line in lines)
    lb = one(docs, "Deployment", "xo-mcp-lb")["spec"]["template"]["spec"]["containers"][0]
    path = Path(lb["volumeMounts"][0]["mountPath"]) / "haproxy.cfg"
    assert str(path) in lb["args"]
    (tmp_path / "haproxy.cfg").write_text(config)
    checked = subprocess.run(
        [haproxy.haproxy_or_skip(), "-c", "-f", str(tmp_path / "haproxy.cfg")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_valkey_configuration_runs_and_wants_the_password(tmp_path: Path) -> None:
    """Debian's redis-server (what the tests run) on the StatefulSet's configuration, its
    paths moved to a scratch folder: it serves only to a client that knows the password."""
    redis_server.redis_or_skip()
    docs = render(HA / "stateless")
    config = one(docs, "ConfigMap", "valkey-config")["data"]["server.conf"]
    auth = one(docs, "Secret", "valkey-auth")["stringData"]["auth.conf"]
    (tmp_path / "auth.conf").write_text(auth.replace("REPLACE-with-the-valkey-password", "pw"))
    port = free_port()
    config = config.replace("/run/secrets/valkey/auth.conf", str(tmp_path / "auth.conf"))
    config = config.replace("dir /data", f"dir {tmp_path}").replace("port 6379", f"port {port}")
    (tmp_path / "valkey.conf").write_text(config.replace("bind 0.0.0.0", "bind 127.0.0.1"))
    server = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", str(tmp_path / "valkey.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        wait_for(lambda: _answers(redis.Redis(port=port, password="pw")), 10, "redis-server")
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).ping()
        policy = redis.Redis(port=port, password="pw").config_get("maxmemory-policy")
        assert {str(key): str(value) for key, value in policy.items()} == {
            "maxmemory-policy": "noeviction"
        }
    finally:
        stop_process(server)


def _answers(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


@pytest.mark.parametrize("version", ["1.30.0", "1.37.0"])
def test_every_manifest_matches_the_kubernetes_schemas(version: str) -> None:
    """Strict validation (no unknown field) against the oldest Kubernetes the HA files need
    (the preStop sleep action) and the newest the schemas know, offline."""
    import kubernetes_validate

    docs = documents() + [doc for mode in MODES for doc in render(HA / mode)]
    for doc in docs:
        if doc["kind"] == "Kustomization":
            continue
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_schema_check_catches_an_unknown_field() -> None:
    import kubernetes_validate

    broken = copy.deepcopy(one(render(HA / "stateless"), "Deployment", "xo-mcp"))
    broken["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"]["sleeps"] = 5
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.30.0", strict=True)
