"""Isolation between workers and from the launcher, on a fleet running as the image's uid.

Root would pass every check below by its capabilities, so the fleet and the probes run as uid
65532, like in the container. A probe cannot be "inside" a worker; the evidence is:
  (a) a same-uid process outside any sandbox (what `docker exec` gives) is denied the workers'
      and the launcher's environment and memory (they are non-dumpable), though it may read
      the secret files (same uid);
  (b) a process sandboxed exactly as a worker is (xo_mcp.sandbox.sandbox_worker) cannot open a
      sibling's secret, environment or memory, nor the supervisord config;
  (c) the control socket refuses a same-uid client without the launcher's password, and the
      secret socket refuses any process but its own worker.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fleet.fleetkit import (
    UNPRIVILEGED,
    run_as_unprivileged,
    start_unprivileged,
    unprivileged_dir,
)
from support.clients import http_client
from support.fleetfile import fleet_toml, instance
from support.pids import supervisord_pid, worker_pids
from support.processes import Fleet, Sim, clean_env, kill, running, secret_file, start_sim, wait_for

pytestmark = pytest.mark.anyio

ALPHA_SECRET = "alpha-secret-4f1d2c"
BETA_SECRET = "beta-secret-8e7b3a"


@dataclass
class Isolated:
    fleet: Fleet
    python: str
    base: Path
    alpha_secret: Path

    def instance_dir(self, name: str) -> Path:
        return self.fleet.runtime_dir / "instances" / name


def _toml(alpha: Sim, beta: Sim, alpha_secret: Path) -> str:
    return fleet_toml(
        sandbox="required",
        instances={
            "alpha": instance(alpha, token_file=alpha_secret),
            "beta": instance(beta, token_env="BETA_TOKEN"),
        },
    )


@pytest.fixture(scope="module")
def isolated(python_65532: str) -> Iterator[Isolated]:
    """alpha (secret in a file) and beta (secret in an env var), run as uid 65532 from `/`,
    the way a container starts it (`/` as working directory must not widen the sandbox)."""
    alpha, beta = start_sim("--seed", "1"), start_sim("--seed", "2")
    try:
        alpha.tokens(add=ALPHA_SECRET)
        beta.tokens(add=BETA_SECRET)
        with unprivileged_dir() as base:
            secrets = base / "secrets"
            secrets.mkdir(mode=0o700)
            os.chown(secrets, UNPRIVILEGED, UNPRIVILEGED)
            alpha_secret = secret_file(secrets, "alpha", ALPHA_SECRET, owner=UNPRIVILEGED)
            env = clean_env(BETA_TOKEN=BETA_SECRET)
            fleet = start_unprivileged(
                base, _toml(alpha, beta, alpha_secret), python_65532, env=env, cwd="/"
            )
            with running(fleet):
                fleet.wait_ready(timeout_s=60)
                yield Isolated(fleet, python_65532, base, alpha_secret)
    finally:
        alpha.stop()
        beta.stop()


def _probe(python: str, body: str, prologue: str = "") -> dict[str, str]:
    """Run `body` as uid 65532; each `attempt(label, fn)` reports "allowed" or the errno."""
    code = (
        textwrap.dedent(
            """\
            import ctypes, errno, json, os, socket, sys
            from pathlib import Path
            results = {}
            def attempt(label, action):
                try:
                    outcome = action()
                except OSError as error:
                    results[label] = errno.errorcode.get(error.errno, str(error.errno))
                else:
                    results[label] = outcome if isinstance(outcome, str) else "allowed"
            def read(path):
                with open(path, "rb") as handle:
                    return "read " + str(len(handle.read(64))) + " bytes"
            def ptrace(pid):
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.ptrace(16, pid, 0, 0) != 0:  # PTRACE_ATTACH
                    code = ctypes.get_errno()
                    raise OSError(code, os.strerror(code))
                libc.ptrace(17, pid, 0, 0)  # PTRACE_DETACH
            """
        )
        + textwrap.dedent(prologue)
        + textwrap.dedent(body)
        + "\nprint(json.dumps(results))\n"
    )
    result = run_as_unprivileged(python, "-c", code)
    assert result.returncode == 0, result.stderr
    outcome: dict[str, str] = json.loads(result.stdout.splitlines()[-1])
    return outcome


def test_everything_runs_as_the_unprivileged_uid(isolated: Isolated) -> None:
    runtime = isolated.fleet.runtime_dir
    supervisor = supervisord_pid(runtime)
    workers = worker_pids(runtime)
    assert supervisor is not None and set(workers) == {"alpha", "beta"}
    for pid in (isolated.fleet.process.pid, supervisor, *workers.values()):
        uids = Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[:4]
        assert uids == [str(UNPRIVILEGED)] * 4
    assert "sandboxed: non-dumpable, Landlock ABI" in isolated.fleet.stderr()


def test_a_same_uid_process_cannot_read_workers_or_the_launcher(isolated: Isolated) -> None:
    runtime = isolated.fleet.runtime_dir
    targets = {**worker_pids(runtime), "launcher": isolated.fleet.process.pid}
    body = "".join(
        f"attempt('{name} environ', lambda: read('/proc/{pid}/environ'))\n"
        f"attempt('{name} mem', lambda: read('/proc/{pid}/mem'))\n"
        f"attempt('{name} ptrace', lambda: ptrace({pid}))\n"
        for name, pid in targets.items()
    )
    body += f"attempt('alpha secret file', lambda: read({str(isolated.alpha_secret)!r}))\n"
    results = _probe(isolated.python, body)
    for name in targets:
        for kind in ("environ", "mem", "ptrace"):
            assert results[f"{name} {kind}"] in ("EACCES", "EPERM"), (name, kind, results)
    # Same uid, no sandbox: plain file permissions cannot keep the secret file from it.
    # That is what Landlock is for (next test), and why the worker reads nothing else.
    assert results["alpha secret file"].startswith("read ")


def test_a_sandboxed_sibling_cannot_reach_another_instance(isolated: Isolated) -> None:
    runtime = isolated.fleet.runtime_dir
    workers = worker_pids(runtime)
    beta_dir = isolated.instance_dir("beta")
    alpha_dir = isolated.instance_dir("alpha")
    prologue = f"""\
        from xo_mcp.sandbox import sandbox_worker
        print(sandbox_worker("required", [], Path({str(beta_dir)!r})), file=sys.stderr)
        """
    body = f"""\
        attempt("alpha secret", lambda: read({str(isolated.alpha_secret)!r}))
        attempt("alpha environ", lambda: read("/proc/{workers["alpha"]}/environ"))
        attempt("alpha mem", lambda: read("/proc/{workers["alpha"]}/mem"))
        attempt("alpha ptrace", lambda: ptrace({workers["alpha"]}))
        attempt("launcher environ", lambda: read("/proc/{isolated.fleet.process.pid}/environ"))
        attempt("supervisord.conf", lambda: read({str(runtime / "supervisord.conf")!r}))
        attempt("alpha dir", lambda: os.listdir({str(alpha_dir)!r}))
        attempt("write in alpha dir", lambda: open({str(alpha_dir / "x")!r}, "w"))
        attempt("write in own dir", lambda: Path({str(beta_dir / "probe")!r}).write_text("x"))
        attempt("read code", lambda: read(os.__file__))
        """
    results = _probe(isolated.python, body, prologue)
    for denied in (
        "alpha secret",
        "alpha environ",
        "alpha mem",
        "alpha ptrace",
        "launcher environ",
        "supervisord.conf",
        "alpha dir",
        "write in alpha dir",
    ):
        assert results[denied] in ("EACCES", "EPERM"), (denied, results)
    assert results["write in own dir"] == "allowed"
    assert results["read code"].startswith("read ")


def test_the_sandbox_never_grants_the_working_directory(isolated: Isolated) -> None:
    """Workers run `python -m` from wherever the launcher was started (`/` in a container):
    Python puts that directory first on sys.path, and it must not become readable."""
    result = run_as_unprivileged(isolated.python, "-m", "xo_mcp.sandbox", cwd="/")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert "/" not in report["read_only"]
    for path in report["read_only"]:
        assert not str(isolated.alpha_secret).startswith(path.rstrip("/") + "/"), path


def test_the_secret_socket_answers_only_its_own_worker(isolated: Isolated) -> None:
    sock = isolated.instance_dir("beta") / "secret.sock"
    assert sock.exists()
    body = f"""\
        def ask():
            with socket.socket(socket.AF_UNIX) as client:
                client.settimeout(10)
                client.connect({str(sock)!r})
                data = client.recv(4096)
            return "got " + str(len(data)) + " bytes"
        attempt("beta secret socket", ask)
        """
    results = _probe(isolated.python, body)
    assert results["beta secret socket"] == "got 0 bytes"
    wait_for(lambda: "refused the beta secret to pid" in isolated.fleet.stderr(), 10)


def test_a_worker_socket_answers_the_gateway_only(isolated: Isolated) -> None:
    """A sibling must not call another instance's worker (and act with its credentials)."""
    sock = isolated.instance_dir("alpha") / "worker.sock"
    body = f"""\
        def status():
            with socket.socket(socket.AF_UNIX) as client:
                client.settimeout(10)
                client.connect({str(sock)!r})
                client.sendall(b'{{"op": "describe"}}\\n')
                data = client.recv(4096)
            return "got " + str(len(data)) + " bytes"
        attempt("alpha worker socket", status)
        """
    results = _probe(isolated.python, body)
    assert results["alpha worker socket"] in ("got 0 bytes", "ECONNRESET", "EPIPE")
    wait_for(lambda: "refused a connection from pid" in isolated.fleet.stderr(), 10)
    assert isolated.fleet.readyz()["instances"]["alpha"] == "ready"


def test_the_control_socket_refuses_a_same_uid_client(isolated: Isolated) -> None:
    control = isolated.fleet.runtime_dir / "control"
    assert control.stat().st_mode & 0o777 == 0o700
    body = f"""\
        import xmlrpc.client
        from supervisor.xmlrpc import SupervisorTransport
        def call(user, password):
            transport = SupervisorTransport(user, password, "unix://{control}/supervisor.sock")
            proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
            try:
                proxy.supervisor.stopProcess("alpha")
            except xmlrpc.client.ProtocolError as error:
                return "HTTP " + str(error.errcode)
            return "obeyed"
        attempt("no password", lambda: call(None, None))
        attempt("wrong password", lambda: call("launcher", "guess"))
        """
    results = _probe(isolated.python, body)
    assert results == {"no password": "HTTP 401", "wrong password": "HTTP 401"}
    assert "alpha" in worker_pids(isolated.fleet.runtime_dir)
    assert isolated.fleet.readyz()["instances"]["alpha"] == "ready"


async def test_calls_still_work_under_isolation(isolated: Isolated) -> None:
    assert isolated.fleet.url is not None
    async with http_client(f"{isolated.fleet.url}/mcp") as client:
        for instance in ("alpha", "beta"):
            result = await client.call_tool(
                "vms_query", {"instance": instance, "operation": "GetVms", "limit": 1}
            )
            assert not result.is_error


async def test_a_fleet_writes_nothing_outside_its_runtime_dir(python_65532: str, sim: Sim) -> None:
    """Run as 65532 with HOME, TMPDIR and the working directory on empty directories of its
    own; afterwards, that uid owns nothing new anywhere it could write but the runtime dir."""
    with unprivileged_dir() as base:
        scratch = {name: base / name for name in ("home", "tmp", "cwd")}
        for path in scratch.values():
            path.mkdir()
            os.chown(path, UNPRIVILEGED, UNPRIVILEGED)
        secret = secret_file(base, "token", sim.token, owner=UNPRIVILEGED)
        toml = fleet_toml(instances={"alpha": instance(sim, token_file=secret)})
        env = clean_env(HOME=str(scratch["home"]), TMPDIR=str(scratch["tmp"]))
        started = time.time()
        fleet = start_unprivileged(base, toml, python_65532, env=env, cwd=scratch["cwd"])
        with running(fleet):
            fleet.wait_ready(timeout_s=60)
            async with http_client(f"{fleet.url}/mcp") as client:
                await client.call_tool("vms_query", {"operation": "GetVms", "limit": 1})
            kill(worker_pids(fleet.runtime_dir)["alpha"])  # a restart writes too
            wait_for(lambda: fleet.readyz()["instances"]["alpha"] == "ready", 30)
            assert fleet.stop(signal.SIGTERM)[0] == 0
        leftovers = {name: sorted(path.iterdir()) for name, path in scratch.items()}
        written = _owned_since(UNPRIVILEGED, started, exclude=base)
    assert leftovers == {"home": [], "tmp": [], "cwd": []}
    assert written == []


def _owned_since(uid: int, since: float, exclude: Path) -> list[str]:
    """Files and directories owned by `uid`, changed since `since`, where any uid may write."""
    found = []
    for root in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock"):
        for directory, subdirs, files in os.walk(root):
            if Path(directory) == exclude or exclude in Path(directory).parents:
                subdirs[:] = []
                continue
            for name in subdirs + files:
                path = Path(directory) / name
                try:
                    info = path.lstat()
                except OSError:
                    continue
                if info.st_uid == uid and info.st_ctime >= since and path != exclude:
                    found.append(str(path))
    return found
