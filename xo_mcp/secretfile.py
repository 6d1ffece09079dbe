"""Reading a secret from a file safely: a regular file, small, never a FIFO or a device.

Opening a FIFO blocks until a writer appears (forever, for a misconfigured path) and a device
such as /dev/zero never ends; both must be refused at once, with the path and the reason.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

MAX_SECRET_BYTES = 64 * 1024


class SecretFileError(Exception):
    """Why a secret file cannot be used; the message names the file."""


def read_secret_file(path: Path | str, limit: int = MAX_SECRET_BYTES) -> str:
    """The file's text, stripped; SecretFileError when it is unusable, too large or empty."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise SecretFileError(f"{path}: no such file") from None
    except PermissionError:
        raise SecretFileError(f"{path}: not readable by uid {os.getuid()}") from None
    except OSError as error:
        raise SecretFileError(f"{path}: cannot read it ({error.strerror})") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise SecretFileError(f"{path}: is a directory, not a file")
        if not stat.S_ISREG(mode):
            raise SecretFileError(f"{path}: not a regular file")
        data = _read_up_to(fd, limit + 1)
    except OSError as error:
        raise SecretFileError(f"{path}: cannot read it ({error.strerror})") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise SecretFileError(f"{path}: larger than {limit} bytes")
    text = data.decode("utf-8", errors="replace").strip()
    if not text:
        raise SecretFileError(f"{path}: the file is empty")
    return text


def fingerprint(path: Path | str, limit: int = MAX_SECRET_BYTES) -> str:
    """A digest of the file's content (or of why it cannot be read), to notice a change without
    keeping the content: a rotated secret, a Kubernetes `..data` swap, an edited file."""
    try:
        text = read_secret_file(path, limit)
    except SecretFileError as error:
        return "unusable: " + str(error)
    return hashlib.sha256(text.encode()).hexdigest()


def _read_up_to(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    while size > 0:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
