"""Tar archives read as they stream out of the Docker SDK (`container.export()`,
`image.save()`), without holding a whole image in memory or on disk."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any


class _Chunks(io.RawIOBase):
    """A file object over an iterator of byte chunks, for tarfile's stream mode."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


@contextmanager
def streamed_tar(chunks: Iterable[bytes]) -> Iterator[tarfile.TarFile]:
    """The archive the chunks make up, to be read once, member after member."""
    stream = io.BufferedReader(_Chunks(chunks), buffer_size=1 << 20)
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        yield archive
