"""Per-process isolation without privileges: non-dumpable processes and Landlock.

Workers of one fleet share a uid, so plain file and /proc permissions cannot keep them apart.
A non-dumpable process hides its memory and environment from same-uid processes, and a
Landlock domain limits which files a process may open (and, since ABI 6, which processes it
may signal). Both must be set by each process itself: `execve` resets the dumpable flag.
"""

from __future__ import annotations

import ctypes
import os
import signal
import struct
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

SandboxMode = Literal["required", "warn", "off"]

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

# Landlock syscalls have the same numbers on every architecture Linux supports.
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
LANDLOCK_SCOPE_SIGNAL = 1 << 1

# Test hook, documented in the README: "1" makes landlock_abi() report no Landlock, so tests can
# show that `sandbox = "required"` refuses to run and "warn" warns, on a kernel that has it.
# It can only weaken isolation, and only for whoever already sets the worker's environment.
FORCE_UNAVAILABLE_ENV = "XO_MCP_SANDBOX_FORCE_UNAVAILABLE"

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5

_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ_ONLY = EXECUTE | READ_FILE | READ_DIR
READ_WRITE = (
    READ_ONLY | WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | MAKE_SOCK | TRUNCATE
)


class SandboxError(Exception):
    """Isolation could not be applied; the message says why and what to do."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> None:
    if _libc().prctl(option, value, 0, 0, 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"prctl({option}): {os.strerror(code)}")


def make_non_dumpable() -> None:
    """Deny same-uid processes our memory, environment and ptrace (and core dumps)."""
    _prctl(PR_SET_DUMPABLE, 0)


def is_dumpable() -> bool:
    return bool(_libc().prctl(3, 0, 0, 0, 0))  # PR_GET_DUMPABLE


def become_subreaper() -> None:
    """Orphans of our subtree get re-parented to us, so we can reap them (no zombies)."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    _prctl(PR_SET_PDEATHSIG, signum)


def _syscall(number: int, *args: object) -> int:
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    result = int(libc.syscall(ctypes.c_long(number), *args))
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is missing or disabled."""
    if os.environ.get(FORCE_UNAVAILABLE_ENV) == "1":
        return 0
    try:
        return _syscall(
            SYS_LANDLOCK_CREATE_RULESET,
            None,
            ctypes.c_size_t(0),
            ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION),
        )
    except OSError:
        return 0


def _handled_rights(abi: int) -> int:
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def _add_rule(ruleset: int, path: Path, access: int, handled: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return  # nothing to allow
    try:
        if not path.is_dir():
            access &= _FILE_RIGHTS
        attr = ctypes.create_string_buffer(struct.pack("=Qi", access & handled, fd))
        _syscall(
            SYS_LANDLOCK_ADD_RULE,
            ctypes.c_int(ruleset),
            ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
            attr,
            ctypes.c_uint32(0),
        )
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Rules:
    """What a sandboxed process may still open."""

    read_only: tuple[Path, ...] = ()
    read_write: tuple[Path, ...] = ()


def restrict(rules: Rules) -> int:
    """Enter a Landlock domain allowing only `rules`; returns the ABI used."""
    abi = landlock_abi()
    if abi < 1 and os.environ.get(FORCE_UNAVAILABLE_ENV) == "1":
        raise SandboxError(f"Landlock is switched off by {FORCE_UNAVAILABLE_ENV}=1 (a test hook)")
    if abi < 1:
        raise SandboxError(
            "the kernel offers no Landlock (needs Linux >= 5.13 with landlock in the LSM list)"
        )
    handled = _handled_rights(abi)
    scoped = LANDLOCK_SCOPE_SIGNAL | LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET if abi >= 6 else 0
    attr = struct.pack("=QQQ", handled, 0, scoped) if scoped else struct.pack("=Q", handled)
    buffer = ctypes.create_string_buffer(attr)
    ruleset = _syscall(
        SYS_LANDLOCK_CREATE_RULESET, buffer, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0)
    )
    try:
        for path in rules.read_only:
            _add_rule(ruleset, path, READ_ONLY, handled)
        for path in rules.read_write:
            _add_rule(ruleset, path, READ_WRITE, handled)
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        _syscall(SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
    return abi


def _startup_entry() -> str | None:
    """The sys.path entry Python added for how it was started: the working directory (`-m`),
    '' (`-c`) or the script's directory. None under `-P` (safe_path), which adds nothing."""
    if sys.flags.safe_path or not sys.path:
        return None
    return sys.path[0]


def code_paths() -> tuple[Path, ...]:
    """Where Python and xo-mcp's code live (read-only in the sandbox).

    The start-up entry of sys.path is left out: it is wherever the process was started, `/` in
    many containers, and reading `/` would hand every worker its siblings' secrets. xo-mcp's own
    package directory is granted instead of its parent (a checkout holds more than code).
    """
    paths = sysconfig.get_paths()
    candidates: list[str] = [
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        str(Path(sys.executable).parent),
        *(paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")),
    ]
    startup = _startup_entry()
    candidates += [entry for entry in sys.path if entry and entry != startup]
    candidates.append(str(Path(__file__).resolve().parent))
    resolved = (Path(c).resolve() for c in candidates if Path(c).exists())
    return tuple(dict.fromkeys(path for path in resolved if path != Path("/")))


SYSTEM_READ = ("/usr", "/lib", "/lib32", "/lib64", "/proc", "/dev/urandom", "/dev/random")
# Not all of /etc: secrets are often mounted there (/etc/xo-mcp/…, /etc/secrets). Only what
# name resolution, TLS, time zones and the dynamic loader read.
ETC_READ = (
    "/etc/ssl",
    "/etc/pki",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
    "/etc/crypto-policies",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/passwd",
    "/etc/group",
    "/etc/mime.types",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/os-release",
)


def _system_paths() -> list[Path]:
    paths = [Path(p) for p in (*SYSTEM_READ, *ETC_READ)]
    paths += sorted(Path("/etc").glob("python3*"))  # Debian's sitecustomize
    return paths


def shared_read_paths() -> tuple[Path, ...]:
    """What every sandboxed worker may read: nothing secret may live under these."""
    return tuple(dict.fromkeys([*_system_paths(), *code_paths()]))


def readable_by_every_worker(path: Path) -> Path | None:
    """The shared read-only path that exposes `path` to every worker, if any."""
    target = path.resolve()
    for shared in shared_read_paths():
        real = shared.resolve()  # /lib may be /usr/lib: rules follow links, so compare targets
        if target == real or real in target.parents:
            return shared
    return None


def worker_rules(secret_files: Iterable[Path], runtime_dir: Path | None) -> Rules:
    read_only = [*shared_read_paths(), *(Path(f) for f in secret_files)]
    read_write = [Path("/dev/null")] + ([runtime_dir] if runtime_dir else [])
    return Rules(tuple(dict.fromkeys(read_only)), tuple(read_write))


def sandbox_worker(
    mode: SandboxMode, secret_files: Iterable[Path], runtime_dir: Path | None
) -> str:
    """Harden the current process before it reads a secret; returns a one-line report.

    `required` raises SandboxError when Landlock is unavailable; `warn` carries on without it.
    """
    if mode == "off":
        return "sandbox off (by configuration)"
    make_non_dumpable()
    try:
        abi = restrict(worker_rules(secret_files, runtime_dir))
    except (SandboxError, OSError) as error:
        reason = str(error) if isinstance(error, SandboxError) else f"landlock failed: {error}"
        if mode == "required":
            raise SandboxError(f'sandbox = "required" but {reason}') from None
        return (
            f"WARNING: running WITHOUT Landlock ({reason}); the process is only non-dumpable. "
            'Set sandbox = "required" to refuse this.'
        )
    return f"sandboxed: non-dumpable, Landlock ABI {abi}"


def main() -> None:
    """`python -m xo_mcp.sandbox`: what a fleet worker started like this one may touch."""
    import json

    rules = worker_rules([], None)
    report = {
        "landlock_abi": landlock_abi(),
        "read_only": [str(path) for path in rules.read_only if path.exists()],
        "read_write": [str(path) for path in rules.read_write],
        "plus": "each worker's own secret file (read) and runtime directory (read-write)",
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
