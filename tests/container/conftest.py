"""Fixtures of the container tests: the engine, the image (built once, reused), the scanners,
and hardened containers that are always removed.

The image is built by `make image` only when it is missing or its `io.xo-mcp.source-digest`
label differs from the sources' digest (scripts/source_digest.py): content, not timestamps.
Without a reachable engine these tests skip with a reason, except in CI (CI=true), where they
must run.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from container.kit import (
    BUILD,
    HARDENED,
    IMAGE,
    IN_CI,
    REPO,
    TOOLS,
    source_digest,
    unique_name,
)


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"container tests must run in CI: {reason}")
    pytest.skip(reason)


def _make(target: str, log_name: str, **variables: str) -> None:
    """Run a make target, its output in build/<log_name>; fail with its tail."""
    BUILD.mkdir(exist_ok=True)
    log = BUILD / log_name
    command = ["make", "--no-print-directory", target, *(f"{k}={v}" for k, v in variables.items())]
    with log.open("wb") as output:
        done = subprocess.run(
            command, cwd=REPO, stdout=output, stderr=subprocess.STDOUT, check=False
        )
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        pytest.fail(f"`make {target}` failed ({done.returncode}); see {log}:\n{tail}")


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    try:
        import docker
    except ImportError as error:
        _unavailable(f"the Docker SDK is not installed: {error}")
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as error:
        _unavailable(f"no Docker engine reachable ({error}); `make engine` starts one")
    yield client
    client.close()


@pytest.fixture(scope="session")
def image(docker_client: Any) -> Any:
    """The image under test, built with `make image` only if missing or stale."""
    import docker

    wanted = source_digest()
    try:
        current = docker_client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        current = None
    if current is None or current.labels.get("io.xo-mcp.source-digest") != wanted:
        # Sources edited while it builds only make the next session rebuild: no failure here.
        _make("image", "image-build.log", IMAGE=IMAGE)
        current = docker_client.images.get(IMAGE)
    return current


@pytest.fixture(scope="session")
def tools() -> Any:
    """The pinned scanners (hadolint, trivy, syft), installed by `make tools` if missing."""
    if not all((TOOLS / name).exists() for name in ("hadolint", "trivy", "syft")):
        _make("tools", "tools-install.log")
    return TOOLS


@pytest.fixture
def containers(docker_client: Any, image: Any) -> Iterator[Callable[..., Any]]:
    """`run(command..., **options)`: a detached container with the hardened flags (options
    override them); every container started is removed at teardown."""
    started: list[Any] = []

    def run(*command: str, **options: Any) -> Any:
        settings = {**HARDENED, "detach": True, "name": unique_name(), **options}
        container = docker_client.containers.run(image.id, list(command) or None, **settings)
        started.append(container)
        return container

    yield run
    for container in started:
        try:
            container.remove(force=True)
        except Exception as error:
            print(f"could not remove {container.name}: {error}")


@pytest.fixture
def cli_names() -> Iterator[list[str]]:
    """Names given to `docker run` subprocesses: removed at teardown (killing the client does
    not stop an attached container)."""
    names: list[str] = []
    yield names
    for name in names:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
