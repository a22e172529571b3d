"""Retention: what the store keeps of ended runs, events and old file
versions, and the blobs nothing refers to any more.

Only ended run trees lose their journals (a tree whose root ended before the
cutoff goes whole), so nothing a live run could replay is removed. The latest
version of every file always stays. A blob is removed only when no file
version refers to it and it is older than a grace period, so a write whose
version is being committed right now keeps its blob. The runs whose journals
go are named in the audit log (``retention.pruned``), so ``orgos audit
verify`` tells them apart from journals someone deleted. The store does the
removing (``store.retention``)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from orgos.config.access import RetentionSpec
from orgos.store.base import Store
from orgos.store.records import Prune
from orgos.store.repos import BlobsRepo

#: Unreferenced blobs younger than this stay (a write may be committing).
BLOB_GRACE = 3600.0


@dataclass(slots=True)
class RetentionReport:
    runs: int = 0
    journal_entries: int = 0
    journal_bytes: int = 0
    events: int = 0
    event_bytes: int = 0
    file_versions: int = 0
    blobs: int = 0
    blob_bytes: int = 0
    dry_run: bool = False

    @property
    def freed_bytes(self) -> int:
        return self.journal_bytes + self.event_bytes + self.blob_bytes

    def to_dict(self) -> dict[str, int | bool]:
        return {**asdict(self), "freed_bytes": self.freed_bytes}


async def apply_retention(
    store: Store,
    blobs: BlobsRepo,
    policy: RetentionSpec,
    *,
    dry_run: bool = False,
    now: float | None = None,
    blob_grace: float = BLOB_GRACE,
) -> RetentionReport:
    """Remove what the policy lets go; report what was (or would be) freed."""
    now = time.time() if now is None else now
    what = Prune(policy.journal_days, policy.event_days, policy.file_versions,
                 policy.file_version_days)  # fmt: skip
    p = await store.retention.prune(what, now, dry_run=dry_run)
    rep = RetentionReport(p.runs, p.journal_entries, p.journal_bytes, p.events, p.event_bytes,
                          p.file_versions, dry_run=dry_run)  # fmt: skip
    for digest, size in list(blobs.all_digests()):
        if digest in p.live_blobs:
            continue
        if now - blobs.mtime(digest) < blob_grace:
            continue
        rep.blobs += 1
        rep.blob_bytes += size if dry_run else blobs.remove(digest)
    return rep
