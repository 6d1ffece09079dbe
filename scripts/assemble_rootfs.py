"""Assemble the runtime image's root filesystem inside the Containerfile's build stage.

The runtime stage is `FROM scratch` plus this tree, which holds only what xo-mcp runs on:

- the interpreter, the standard library minus what a server never imports (tests, IDLE, Tk,
  curses, readline, sqlite, dbm, ensurepip, lib2to3, pydoc data) and no site-packages of the base;
- the application's virtual environment (no pip, setuptools or activation scripts);
- the shared libraries all of these load (resolved with ldd, symlinks recreated as they are);
- the CA bundle, a passwd/group with the runtime user, nsswitch.conf and os-release;
- the dpkg records and copyright files of the Debian packages those files came from, so that
  SBOM and vulnerability scanners still know what is inside (as distroless images do).

No shell, package manager, pip or compiler is copied. Every Python file is compiled to
unchecked-hash bytecode: on a read-only root filesystem the interpreter can never write a .pyc,
and unchecked pycs stay valid whatever the files' timestamps after `COPY`. Everything is owned by
root and not writable by anyone else, so the runtime uid cannot change code or configuration.

Usage (as root, in the build stage): python3 assemble_rootfs.py --venv DIR --rootfs DIR
    [--file SRC:DEST ...] [--uid 65532]
"""

from __future__ import annotations

import argparse
import compileall
import os
import py_compile
import re
import shutil
import ssl
import stat
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Iterator
from pathlib import Path

# Parts of the standard library a headless server never imports (names relative to it).
STDLIB_EXCLUDED = {
    "test",
    "tests",
    "idlelib",
    "tkinter",
    "turtledemo",
    "turtle.py",
    "ensurepip",
    "lib2to3",
    "pydoc_data",
    "curses",
    "dbm",
    "sqlite3",
    "venv",
    "distutils",
    "site-packages",
    "dist-packages",
    "config-3.11-x86_64-linux-gnu",
    "sitecustomize.py",
    "EXTERNALLY-MANAGED",
    "__phello__",
    "__hello__.py",
    "antigravity.py",
    "this.py",
}
# Extension modules dropped with them (and the libraries only they would pull in).
DYNLOAD_EXCLUDED = re.compile(
    r"^(_test\w*|_ctypes_test|_xxtestfuzz|xxlimited\w*|_xxsubinterpreters|_curses\w*|readline"
    r"|_dbm|_gdbm|_sqlite3|_tkinter|nis|ossaudiodev|audioop|_lsprof)\."
)
# Installers and shell activation scripts, in the venv's bin/ and site-packages/ (top level).
VENV_EXCLUDED = re.compile(
    r"^(pip|pip3|pip3\.\d+|setuptools|wheel|_distutils_hack|pkg_resources|easy_install)"
    r"($|-\d.*\.dist-info$|-\d.*\.egg-info$)|^(activate|activate\..*|Activate\.ps1)$"
    r"|^distutils-precedence\.pth$"
)
# Loaded with dlopen (so ldd cannot see it): glibc needs it to unwind in pthread_exit.
DLOPENED = ("libgcc_s.so.1",)
ETC_FILES = {
    "etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
}


def log(message: str) -> None:
    print(f"assemble: {message}", file=sys.stderr, flush=True)


def _target(root: Path, path: Path) -> Path:
    return root / path.relative_to("/")


def _one_hop(link: Path) -> Path:
    return Path(os.path.normpath(link.parent / link.readlink()))


def place(path: Path, root: Path) -> None:
    """Copy `path` to the same place under root, recreating each symlink met on the way."""
    current = Path("/")
    parts = path.parts[1:]
    for index, part in enumerate(parts):
        current = current / part
        if not current.is_symlink():
            continue
        target = _target(root, current)
        if not target.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                raise SystemExit(f"{target} exists but {current} is a symlink")
            target.symlink_to(current.readlink())
        place(_one_hop(current).joinpath(*parts[index + 1 :]), root)
        return
    target = _target(root, current)
    if current.is_dir():
        target.mkdir(parents=True, exist_ok=True)
    elif not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(current, target, follow_symlinks=False)


def copy_tree(source: Path, root: Path, skip: Iterable[re.Pattern[str] | set[str]]) -> None:
    """Copy a directory tree (minus skipped names and bytecode caches) to the same place."""
    place(source, root)
    rules = list(skip)
    for entry in sorted(source.iterdir()):
        name = entry.name
        if name == "__pycache__" or any(
            name in rule if isinstance(rule, set) else rule.match(name) for rule in rules
        ):
            continue
        if entry.is_symlink():
            place(entry, root)
            resolved = entry.resolve()
            if resolved.exists():
                place(resolved, root)
        elif entry.is_dir():
            copy_tree(entry, root, [rule for rule in rules if not isinstance(rule, set)])
        else:
            place(entry, root)


def prune_venv(root: Path, venv: Path) -> None:
    tops = [_target(root, venv / "bin")]
    tops += list(_target(root, venv).glob("lib/python3*/site-packages"))
    for top in tops:
        for entry in top.iterdir():
            if not VENV_EXCLUDED.match(entry.name):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == b"\x7fELF"
    except OSError:
        return False


def shared_libraries(binary: Path) -> set[Path]:
    """Every library `binary` loads, and its loader, as ldd resolves them (the whole closure)."""
    output = subprocess.run(
        ["ldd", str(binary)], capture_output=True, text=True, check=False
    ).stdout
    found: set[Path] = set()
    for line in output.splitlines():
        if "not found" in line:
            raise SystemExit(f"{binary}: {line.strip()}")
        for word in line.split():
            if word.startswith("/"):
                found.add(Path(word))
    return found


def dlopened_libraries() -> set[Path]:
    output = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=False).stdout
    found: dict[str, Path] = {}
    for line in output.splitlines():
        name, _, location = line.strip().partition(" => ")
        soname = name.split(" ")[0]
        if soname in DLOPENED and location:
            found.setdefault(soname, Path(location.strip()))  # the first is the native one
    return set(found.values())


def files_under(root: Path) -> Iterator[Path]:
    for directory, _, names in os.walk(root):
        for name in names:
            yield Path(directory) / name


def copy_libraries(root: Path) -> None:
    needed: set[Path] = set()
    for path in files_under(root):
        if not path.is_symlink() and is_elf(path):
            needed |= shared_libraries(path)
    needed |= dlopened_libraries()
    for library in sorted(needed):
        place(library, root)
    log(f"{len(needed)} shared libraries")


def copy_certificates(root: Path) -> None:
    """The CA bundle, where OpenSSL looks by default and where SSL_CERT_FILE points."""
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    place(bundle, root)
    paths = ssl.get_default_verify_paths()
    for link, target in ((paths.openssl_cafile, bundle), (paths.openssl_capath, bundle.parent)):
        destination = _target(root, Path(link))
        if destination.exists() or destination.is_symlink():
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.symlink_to(target)


def write_accounts(root: Path, uid: int) -> None:
    etc = root / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "passwd").write_text(
        "root:x:0:0:root:/root:/sbin/nologin\n"
        f"nonroot:x:{uid}:{uid}:nonroot:/nonexistent:/sbin/nologin\n"
    )
    (etc / "group").write_text(f"root:x:0:\nnonroot:x:{uid}:\n")
    for name, text in ETC_FILES.items():
        (root / name).write_text(text)
    # os-release and debian_version: how scanners tell the distribution (and its advisories).
    for release in (
        Path("/etc/os-release"),
        Path("/usr/lib/os-release"),
        Path("/etc/debian_version"),
    ):
        if release.exists():
            place(release, root)


def _dpkg_owners() -> dict[str, str]:
    """Real path of each file → the package that ships it (symlinks are not ownership)."""
    # The CA bundle is generated by ca-certificates' maintainer script, so no list names it.
    owners: dict[str, str] = {"/etc/ssl/certs/ca-certificates.crt": "ca-certificates"}
    for listing in Path("/var/lib/dpkg/info").glob("*.list"):
        package = listing.name[: -len(".list")]
        for line in listing.read_text(errors="replace").splitlines():
            if line and not line.endswith("/.") and not Path(line).is_symlink():
                owners.setdefault(os.path.realpath(line), package)
    return owners


def _dpkg_stanzas() -> dict[str, str]:
    stanzas: dict[str, str] = {}
    text = Path("/var/lib/dpkg/status").read_text(errors="replace")
    for stanza in text.strip().split("\n\n"):
        match = re.search(r"^Package: (\S+)$", stanza, re.MULTILINE)
        if match and "Status: install ok installed" in stanza:
            stanzas[match.group(1)] = stanza.strip() + "\n"
    return stanzas


def record_packages(root: Path) -> None:
    """dpkg records for the Debian packages whose files were copied (status.d, as distroless)."""
    if not Path("/var/lib/dpkg/status").exists():
        log("no dpkg database in the base: SBOM scanners will see the Python packages only")
        return
    owners = _dpkg_owners()
    stanzas = _dpkg_stanzas()
    packages: set[str] = set()
    for path in files_under(root):
        if path.is_symlink():
            continue
        owner = owners.get(os.path.realpath("/" + str(path.relative_to(root))))
        if owner:
            packages.add(owner)
    status_dir = root / "var/lib/dpkg/status.d"
    status_dir.mkdir(parents=True, exist_ok=True)
    for package in sorted(packages):
        name = package.split(":")[0]
        if name not in stanzas:
            continue
        (status_dir / name).write_text(stanzas[name])
        md5sums = Path(f"/var/lib/dpkg/info/{package}.md5sums")
        if md5sums.exists():
            shutil.copy2(md5sums, status_dir / f"{name}.md5sums")
        copyright_file = Path(f"/usr/share/doc/{name}/copyright")
        if copyright_file.exists():
            place(copyright_file, root)
    log(f"{len(packages)} Debian packages recorded: {', '.join(sorted(packages))}")


def compile_python(root: Path, trees: Iterable[Path]) -> None:
    """Unchecked-hash pycs: always used, never rewritten (the root filesystem is read-only)."""
    for tree in trees:
        ok = compileall.compile_dir(
            _target(root, tree),
            ddir=str(tree),
            force=True,
            quiet=1,
            workers=0,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        if not ok:
            raise SystemExit(f"byte-compiling {tree} failed")


def seal(root: Path) -> None:
    """Root owns everything; nothing is writable by others; no setuid/setgid bit survives."""
    for directory, dirs, names in os.walk(root):
        for name in dirs + names:
            path = Path(directory) / name
            os.lchown(path, 0, 0)
            if path.is_symlink():
                continue
            mode = path.lstat().st_mode
            executable = path.is_dir() or mode & stat.S_IXUSR
            path.chmod(0o755 if executable else 0o644)
    os.chown(root, 0, 0)
    root.chmod(0o755)


def make_dirs(root: Path) -> None:
    for name, mode in (("tmp", 0o1777), ("etc/xo-mcp", 0o755), ("run", 0o755), ("root", 0o700)):
        path = root / name
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, required=True)
    parser.add_argument("--rootfs", type=Path, required=True)
    parser.add_argument("--file", action="append", default=[], metavar="SRC:DEST")
    parser.add_argument("--uid", type=int, default=65532)
    args = parser.parse_args()
    root: Path = args.rootfs
    root.mkdir(parents=True, exist_ok=True)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    platstdlib = Path(sysconfig.get_paths()["platstdlib"])
    dynload = platstdlib / "lib-dynload"
    place(Path(sys.executable), root)
    place(Path(sys.executable).resolve(), root)
    copy_tree(stdlib, root, [STDLIB_EXCLUDED, DYNLOAD_EXCLUDED])
    if dynload.exists():
        copy_tree(dynload, root, [DYNLOAD_EXCLUDED])
    copy_tree(args.venv, root, [])
    prune_venv(root, args.venv)
    for spec in args.file:
        source, _, destination = spec.partition(":")
        target = _target(root, Path(destination))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    copy_libraries(root)
    copy_certificates(root)
    write_accounts(root, args.uid)
    record_packages(root)
    make_dirs(root)
    compile_python(root, dict.fromkeys([stdlib, platstdlib, args.venv]))
    seal(root)
    (root / "tmp").chmod(0o1777)
    (root / "root").chmod(0o700)
    log(f"root filesystem ready in {root}")


if __name__ == "__main__":
    main()
