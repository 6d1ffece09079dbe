"""Python run inside the image by `docker exec` (the image has no shell): each probe prints
one JSON document. Kept as source text: it runs on the image's interpreter, not the host's."""

from __future__ import annotations

import json
from typing import Any

from container.kit import RUNTIME_UID, exec_python

PREAMBLE = r"""
import ctypes, errno, json, os, signal, sys
from pathlib import Path

def cmdline(pid):
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]

def role(pid):
    argv = cmdline(pid)
    if pid == 1:
        return "pid1"
    if pid == os.getpid():
        return None  # this probe's own code mentions every marker below
    if "xo_mcp.worker" in argv and "--runtime-dir" in argv:
        return "worker:" + Path(argv[argv.index("--runtime-dir") + 1]).name
    if "--configuration" in argv and any("supervisor" in arg for arg in argv):
        return "supervisord"
    return None

def fleet():
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            name = role(int(entry.name))
            if name:
                found[name] = int(entry.name)
    return found

def attempt(action):
    try:
        action()
    except PermissionError:
        return "DENIED"
    except OSError as error:
        return errno.errorcode.get(error.errno, str(error.errno))
    return "ALLOWED"

def ptrace_attach(pid):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    if libc.ptrace(16, pid, None, None) == 0:  # PTRACE_ATTACH
        libc.ptrace(17, pid, None, None)  # PTRACE_DETACH
        return "ALLOWED"
    return errno.errorcode.get(ctypes.get_errno(), "?")

def status(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    keys = ("Uid", "NoNewPrivs", "CapEff", "CapPrm", "CapBnd", "Seccomp")
    return {key: fields.get(key) for key in keys}

def read(path):
    with open(path, "rb") as handle:
        return handle.read()
"""


def run_probe(
    container: Any, body: str, params: dict[str, Any] | None = None, *, user: str = f"{RUNTIME_UID}"
) -> Any:
    """Run PREAMBLE + body (which reads PARAMS and prints one JSON document); its document."""
    given = f"PARAMS = json.loads({json.dumps(json.dumps(params or {}))})\n"
    code, output = exec_python(container, PREAMBLE + given + body, user=user)
    assert code == 0, f"probe failed ({code}):\n{output}"
    return json.loads(output.strip().splitlines()[-1])


FLEET = "print(json.dumps(fleet()))"

POSTURE = r"""
report = {name: status(pid) for name, pid in fleet().items()}
report["probe"] = status("self")
writes = {}
for path in ("/probe", "/etc/probe", "/opt/xo-mcp/probe", "/usr/lib/python3.11/probe",
             "/etc/xo-mcp/probe", "/tmp/probe"):
    writes[path] = attempt(lambda: Path(path).write_text("x"))
report["writes"] = writes
print(json.dumps(report))
"""

CROSS_PROCESS = r"""
report = {}
for name, pid in fleet().items():
    report[name] = {
        "environ": attempt(lambda: read(f"/proc/{pid}/environ")),
        "mem": attempt(lambda: open(f"/proc/{pid}/mem", "rb").close()),
        "ptrace": ptrace_attach(pid),
    }
supervisord = fleet().get("supervisord")
environ = b""
if supervisord:
    try:
        environ = read(f"/proc/{supervisord}/environ")
    except OSError:
        environ = None
report["supervisord_environ"] = None if environ is None else environ.decode(errors="replace")
print(json.dumps(report))
"""

# The same sandbox a worker enters (xo_mcp.sandbox, the worker's own rules), then everything a
# compromised worker would try against its siblings and the launcher.
SANDBOXED_AS_WORKER = r"""
from xo_mcp import sandbox
own_secret = Path(PARAMS["own_secret"])
runtime = Path(PARAMS["runtime"])
targets = fleet()
line = sandbox.sandbox_worker("required", [own_secret], runtime)
report = {"sandbox": line, "own_secret": attempt(lambda: read(own_secret))}
report["other_files"] = {path: attempt(lambda: read(path)) for path in PARAMS["other_files"]}
report["processes"] = {}
for name, pid in targets.items():
    report["processes"][name] = {
        "environ": attempt(lambda: read(f"/proc/{pid}/environ")),
        "mem": attempt(lambda: open(f"/proc/{pid}/mem", "rb").close()),
        "ptrace": ptrace_attach(pid),
        "signal": attempt(lambda: os.kill(pid, 0)),
    }
print(json.dumps(report))
"""

KILL = r"""
os.kill(PARAMS["pid"], signal.SIGKILL)
print(json.dumps({"killed": PARAMS["pid"]}))
"""

# A grandchild orphaned by its parent is re-parented to PID 1, which must reap it.
ORPHAN = r"""
import time
child = os.fork()
if child == 0:
    grandchild = os.fork()
    if grandchild == 0:
        time.sleep(0.5)
        Path("/tmp/orphan-ppid").write_text(str(os.getppid()))
        time.sleep(0.5)
        os._exit(0)
    Path("/tmp/orphan-pid").write_text(str(grandchild))
    os._exit(0)
os.waitpid(child, 0)
print(json.dumps({"orphan": int(Path("/tmp/orphan-pid").read_text())}))
"""

PROCESS_STATES = r"""
states = {}
for entry in Path("/proc").iterdir():
    if entry.name.isdigit():
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        states[entry.name] = text.rsplit(")", 1)[1].split()[0]
ppid = Path("/tmp/orphan-ppid").read_text() if Path("/tmp/orphan-ppid").exists() else None
print(json.dumps({"states": states, "orphan_ppid": ppid}))
"""

# Bounded: at most `limit` threads, released at once; the pids cgroup must refuse earlier.
THREADS = r"""
import threading
stop = threading.Event()
started = 0
error = None
threads = []
try:
    for _ in range(PARAMS["limit"]):
        thread = threading.Thread(target=stop.wait)
        thread.start()
        threads.append(thread)
        started += 1
except RuntimeError as failure:
    error = str(failure)
stop.set()
for thread in threads:
    thread.join()
print(json.dumps({"started": started, "error": error}))
"""
