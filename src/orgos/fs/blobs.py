"""Content-addressed blobs (kept by the store: ``orgos.store.blobs``)."""

from orgos.store.blobs import BlobStore, sha256_of

__all__ = ["BlobStore", "sha256_of"]
