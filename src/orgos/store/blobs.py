"""Content-addressed blobs: file contents on disk, named by their sha256.

Contents stay out of the journal and the database; a journal entry holds the
hash. A blob is written once (temp file, fsync, rename, fsync of the folder),
so a reader never sees half a blob and a crash leaves at most a stray temp
file. Writing content that already exists is a no-op, which is what makes a
re-executed write harmless."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from orgos.errors import NotFound

_HEX = re.compile(r"^[0-9a-f]{64}$")


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync

    def path_of(self, digest: str) -> Path:
        if not _HEX.match(digest):
            raise ValueError(f"not a sha256 digest: {digest[:80]!r}")
        return self.root / digest[:2] / digest[2:]

    def exists(self, digest: str) -> bool:
        return self.path_of(digest).is_file()

    def put_sync(self, data: bytes) -> str:
        digest = sha256_of(data)
        dest = self.path_of(digest)
        if dest.is_file():
            return digest
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".tmp-{digest[:16]}-{os.getpid()}-{os.urandom(4).hex()}"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                if self.fsync:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        if self.fsync:
            fd = os.open(dest.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return digest

    def get_sync(self, digest: str) -> bytes:
        try:
            data = self.path_of(digest).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"blob {digest[:12]} is missing (removed by retention?)") from None
        return data

    async def put(self, data: bytes) -> str:
        """Store ``data``; returns its sha256. Large blobs are written off the loop."""
        if len(data) < 64 * 1024 and not self.fsync:
            return self.put_sync(data)
        return await asyncio.to_thread(self.put_sync, data)

    async def get(self, digest: str) -> bytes:
        try:
            size = self.path_of(digest).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"blob {digest[:12]} is missing (removed by retention?)") from None
        if size < 64 * 1024:
            return self.get_sync(digest)
        return await asyncio.to_thread(self.get_sync, digest)

    def all_digests(self) -> Iterator[tuple[str, int]]:
        if not self.root.is_dir():
            return
        for sub in self.root.iterdir():
            if sub.is_dir() and len(sub.name) == 2:
                for f in sub.iterdir():
                    if not f.name.startswith("."):
                        yield sub.name + f.name, f.stat().st_size

    def mtime(self, digest: str) -> float:
        return self.path_of(digest).stat().st_mtime

    def remove(self, digest: str) -> int:
        p = self.path_of(digest)
        try:
            size = p.stat().st_size
            p.unlink()
        except FileNotFoundError:
            return 0
        return size
