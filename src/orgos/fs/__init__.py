"""The shared workspace filesystem: versioned files with authors and lineage,
content-addressed blobs, path confinement and per-path permissions."""

from orgos.fs.paths import AccessDenied, PathError, clean_path
from orgos.globs import glob_match

__all__ = ["AccessDenied", "PathError", "clean_path", "glob_match"]
