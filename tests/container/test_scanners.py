"""Static scanners, pinned in scripts/tools-requirements.txt (`make tools`): hadolint and
trivy on the Containerfile and the Kubernetes manifests, trivy's secret scan of the image, and
an SBOM of the image (syft) written to build/sbom/.

Every scanner runs offline (no update, version check or telemetry: tests reach loopback
only). Each lint is also shown a known-bad file, so that a clean result cannot come from a
scanner that silently checked nothing. trivy's vulnerability scan needs a database that cannot
be downloaded here: run `trivy image xo-mcp:latest` where it can.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from container.kit import BUILD, REPO

pytestmark = pytest.mark.container

TRIVY_OFFLINE = [
    "--skip-check-update",
    "--skip-version-check",
    "--disable-telemetry",
    "--quiet",
    "--format",
    "json",
]
BAD_CONTAINERFILE = """\
FROM debian:bookworm
RUN apt-get update && apt-get install -y curl
ADD app /app
CMD python3 /app/main.py
"""


def _run(command: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false", "TRIVY_NO_PROGRESS": "true"}
    return subprocess.run(
        command, capture_output=True, text=True, check=False, env=env, timeout=600, **options
    )


def _trivy(tools: Path, *args: str) -> dict[str, Any]:
    cache = ["--cache-dir", str(BUILD / "trivy-cache")]
    done = _run([str(tools / "trivy"), *args[:1], *cache, *TRIVY_OFFLINE, *args[1:]])
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _failures(report: dict[str, Any]) -> list[str]:
    return [
        f"{result['Target']}: {finding['ID']} {finding.get('Title', '')}"
        for result in report.get("Results") or []
        for finding in result.get("Misconfigurations") or []
        if finding.get("Status") == "FAIL"
    ]


def test_hadolint_passes_the_containerfile(tools: Path, tmp_path: Path) -> None:
    done = _run([str(tools / "hadolint"), "--format", "json", str(REPO / "Containerfile")])
    assert done.returncode == 0 and json.loads(done.stdout) == [], done.stdout
    bad = tmp_path / "Containerfile"
    bad.write_text(BAD_CONTAINERFILE)
    flagged = _run([str(tools / "hadolint"), "--format", "json", str(bad)])
    codes = {finding["code"] for finding in json.loads(flagged.stdout)}
    assert {"DL3020", "DL3025", "DL3008"} <= codes  # ADD, shell-form CMD, unpinned apt


def test_trivy_config_passes_the_containerfile_and_manifests(tools: Path, tmp_path: Path) -> None:
    for target in (REPO / "Containerfile", REPO / "configs" / "k8s"):
        report = _trivy(tools, "config", "--include-non-failures", str(target))
        checked = sum(
            len(result.get("Misconfigurations") or []) for result in report.get("Results") or []
        )
        assert checked > 10, f"trivy checked almost nothing in {target}"
        assert _failures(report) == [], target
    bad = tmp_path / "Containerfile"
    bad.write_text(BAD_CONTAINERFILE)
    flagged = " ".join(_failures(_trivy(tools, "config", str(bad))))
    assert "DS-0002" in flagged and "DS-0026" in flagged  # no USER, no HEALTHCHECK


def test_trivy_finds_no_secret_in_the_image(tools: Path, image: Any) -> None:
    report = _trivy(
        tools,
        "image",
        "--image-src",
        "docker",
        "--scanners",
        "secret",
        "--image-config-scanners",
        "secret",
        "--skip-db-update",
        "--offline-scan",
        image.id,
    )
    assert report["Metadata"]["OS"]["Family"] == "debian"  # the dpkg records are readable
    secrets = [
        f"{result['Target']}: {secret['RuleID']}"
        for result in report.get("Results") or []
        for secret in result.get("Secrets") or []
    ]
    assert secrets == []


def test_sbom_lists_the_runtime_and_nothing_to_build_with(tools: Path, image: Any) -> None:
    sbom = BUILD / "sbom" / "xo-mcp.spdx.json"
    sbom.parent.mkdir(parents=True, exist_ok=True)
    done = _run(
        [
            str(tools / "syft"),
            "-q",
            f"docker:{image.id}",
            "-o",
            f"spdx-json={sbom}",
            "-o",
            f"table={sbom.with_suffix('.txt')}",
        ]
    )
    assert done.returncode == 0, done.stderr
    packages = {package["name"] for package in json.loads(sbom.read_text())["packages"]}
    assert {"xo-mcp", "mcp", "pydantic", "supervisor"} <= packages  # Python, from dist-info
    assert {"libc6", "libssl3", "python3.11-minimal", "ca-certificates"} <= packages  # dpkg
    forbidden = {"pip", "setuptools", "wheel", "bash", "dash", "apt", "dpkg", "coreutils", "gcc"}
    assert packages & forbidden == set()
