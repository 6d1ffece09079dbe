"""The image's posture, read from its configuration and its exported filesystem (no shell is
needed: the filesystem is streamed out of a created, never started, container)."""

from __future__ import annotations

import re
import tarfile
from dataclasses import dataclass, field
from typing import Any

import pytest
from container.kit import RUNTIME_UID
from support.tarstream import streamed_tar

pytestmark = pytest.mark.container

SIZE_BUDGET_BYTES = 120_000_000
SECRET_NAME = re.compile(r"(?i)(pass(word)?|secret|token|api[_-]?key|private[_-]?key)")
SHELLS = ("sh", "bash", "dash", "ash", "zsh", "ksh", "csh", "busybox", "toybox")
PACKAGE_MANAGERS = ("apt", "apt-get", "apt-cache", "dpkg", "dpkg-deb", "rpm", "yum", "apk", "dnf")
COMPILERS = ("gcc", "cc", "c++", "g++", "clang", "ld", "as", "make", "cpp")
BIN_DIRS = (
    "bin",
    "sbin",
    "usr/bin",
    "usr/sbin",
    "usr/local/bin",
    "usr/local/sbin",
    "opt/xo-mcp/bin",
)
PYC_UNCHECKED = 0b01  # PEP 552 flags: hash-based, check_source unset


@dataclass
class Exported:
    members: dict[str, tarfile.TarInfo] = field(default_factory=dict)
    pyc_flags: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def exported(docker_client: Any, image: Any) -> Exported:
    """Every file of the image (created, never started), with the flags of every .pyc."""
    container = docker_client.containers.create(image.id)
    result = Exported()
    try:
        with streamed_tar(container.export()) as archive:
            for member in archive:
                name = member.name.lstrip("./")
                result.members[name] = member
                if member.isfile() and name.endswith(".pyc"):
                    handle = archive.extractfile(member)
                    assert handle is not None
                    header = handle.read(8)
                    result.pyc_flags[name] = int.from_bytes(header[4:8], "little")
    finally:
        container.remove(force=True)
    return result


def test_runs_as_a_numeric_non_root_user(image: Any) -> None:
    user = image.attrs["Config"]["User"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) == RUNTIME_UID, user
    assert gid.isdigit() and int(gid) != 0, user


def test_entrypoint_is_exec_form_and_serves_stdio_by_default(image: Any) -> None:
    config = image.attrs["Config"]
    assert config["Entrypoint"] == ["/opt/xo-mcp/bin/xo-mcp-fleet"]
    assert config["Cmd"] == ["run", "--stdio"]
    assert config["Env"] and "XO_MCP_FLEET_CONFIG=/etc/xo-mcp/fleet.toml" in config["Env"]


def test_healthcheck_is_exec_form_without_a_shell(image: Any) -> None:
    check = image.attrs["Config"]["Healthcheck"]
    assert check["Test"][0] == "CMD", check  # CMD-SHELL would need /bin/sh
    assert check["Test"][1] == "/opt/xo-mcp/bin/python"
    assert check["Interval"] > 0 and check["Timeout"] > 0 and check["Retries"] > 0


def test_carries_oci_labels(image: Any) -> None:
    labels = image.labels
    for key in ("title", "description", "version", "revision", "created", "licenses", "base.name"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    assert labels["org.opencontainers.image.licenses"] == "AGPL-3.0-or-later"
    assert re.fullmatch(r"[0-9a-f]{64}", labels["io.xo-mcp.source-digest"])


def test_no_secret_in_environment_or_history(image: Any) -> None:
    for entry in image.attrs["Config"]["Env"]:
        name, _, value = entry.partition("=")
        assert not (SECRET_NAME.search(name) and value), entry
    for layer in image.history():
        created_by = layer.get("CreatedBy", "")
        assert not re.search(r"(?i)(password|token|secret)\s*=", created_by), created_by


def test_size_is_within_budget(image: Any) -> None:
    size = image.attrs["Size"]
    print(f"image size: {size / 1e6:.1f} MB uncompressed")
    assert size < SIZE_BUDGET_BYTES, f"{size / 1e6:.1f} MB is over the 120 MB budget"


def test_no_setuid_or_setgid_file(exported: Exported) -> None:
    flagged = [name for name, m in exported.members.items() if m.mode & 0o6000]
    assert flagged == []


def _present(exported: Exported, names: tuple[str, ...]) -> list[str]:
    return [
        f"{directory}/{name}"
        for directory in BIN_DIRS
        for name in names
        if f"{directory}/{name}" in exported.members
    ]


def test_no_shell_package_manager_or_compiler(exported: Exported) -> None:
    assert _present(exported, SHELLS) == []
    assert _present(exported, PACKAGE_MANAGERS) == []
    assert _present(exported, COMPILERS) == []
    assert not any(name.startswith("var/lib/apt") for name in exported.members)
    # dpkg's records are kept (as in distroless) for SBOM and vulnerability scanners only
    assert "var/lib/dpkg/status.d/libc6" in exported.members
    assert not any(name.startswith("usr/lib/gcc") for name in exported.members)


def test_no_pip_setuptools_or_ensurepip(exported: Exported) -> None:
    packages = [n for n in exported.members if "site-packages/" in n or "/python3.11/" in n]
    for name in packages:
        top = re.split(r"site-packages/|python3\.11/", name, maxsplit=1)[1].split("/")[0]
        assert not re.match(r"(pip|setuptools|wheel|ensurepip|_distutils_hack)($|[-.])", top), name
    assert _present(exported, ("pip", "pip3", "pip3.11", "easy_install")) == []


def test_code_and_configuration_belong_to_root_and_are_read_only(exported: Exported) -> None:
    writable = []
    for name, member in exported.members.items():
        if name.startswith(("proc/", "sys/", "dev/")) or name in ("tmp", ".dockerenv"):
            continue
        if member.issym():
            continue
        if member.uid != 0 or member.gid != 0 or member.mode & 0o022:
            writable.append(f"{name} uid={member.uid} mode={oct(member.mode)}")
    assert writable == []
    assert exported.members["tmp"].mode & 0o1777 == 0o1777  # the tmpfs mount point
    assert exported.members["etc/xo-mcp"].isdir()


def test_python_is_compiled_to_unchecked_bytecode(exported: Exported) -> None:
    """A read-only root filesystem cannot take .pyc files: every module must have one that
    the interpreter uses without looking at the source's timestamp."""
    sources = [n for n in exported.members if n.endswith(".py") and "/bin/" not in n]
    assert len(sources) > 1000
    missing = []
    for source in sources:
        directory, _, module = source.rpartition("/")
        pyc = f"{directory}/__pycache__/{module[:-3]}.cpython-311.pyc"
        if exported.pyc_flags.get(pyc) != PYC_UNCHECKED:
            missing.append(source)
    assert missing == []


def test_accounts_and_trust_store(exported: Exported) -> None:
    assert exported.members["etc/passwd"].isfile()
    assert exported.members["etc/ssl/certs/ca-certificates.crt"].size > 100_000
    assert "usr/bin/python3.11" in exported.members
    assert "opt/xo-mcp/libexec/healthcheck.py" in exported.members
