"""Workspace paths: one canonical form, checked before anything else.

A workspace path is a key in the store, never a path on disk (file contents
live in blobs named by their hash), so no path can reach the host's
filesystem. Still, anything that is not plainly a relative path of ordinary
names is refused rather than interpreted: ``..``, absolute paths, backslashes,
percent-encodings, control and format characters, look-alike Unicode."""

from __future__ import annotations

import unicodedata

from orgos.errors import OrgosError

MAX_PATH = 1024
MAX_SEGMENT = 255
#: Punctuation allowed in a name, besides letters, digits and marks.
_PUNCT = frozenset(" -_.,+=@()#&!'~$^")


class PathError(OrgosError):
    """A path that is not a plain relative workspace path."""


class AccessDenied(OrgosError):
    """The actor may not read (or write) this path or memory scope."""


def clean_path(raw: object, *, allow_root: bool = False) -> str:
    """The path, if it is canonical; PathError saying why otherwise.

    ``allow_root``: the empty path (the whole workspace) is accepted, for
    listings. A trailing slash is accepted on prefixes."""
    if not isinstance(raw, str):
        raise PathError(f"a path must be a string, not {type(raw).__name__}")
    path = raw
    if allow_root and path.endswith("/") and not path.endswith("//"):
        path = path[:-1]
    if path == "" and allow_root:
        return ""
    shown = path.encode("unicode_escape").decode()[:80]
    if not path:
        raise PathError("the path is empty")
    if len(path) > MAX_PATH:
        raise PathError(f"the path is longer than {MAX_PATH} characters")
    if unicodedata.normalize("NFKC", path) != path:
        raise PathError(f"{shown!r}: use the plain form of these characters (NFKC)")
    if path.startswith("/"):
        raise PathError(f"{shown!r}: absolute paths are not allowed; paths are relative")
    for ch in path:
        if ch == "/" or ch in _PUNCT:
            continue
        if ch == "%":
            raise PathError(f"{shown!r}: '%' is not allowed (no percent-encoding)")
        if ch == "\\":
            raise PathError(f"{shown!r}: use '/' to separate folders, not '\\'")
        if unicodedata.category(ch)[0] not in "LNM":
            raise PathError(f"{shown!r}: character {ch!r} is not allowed in a path")
    for seg in path.split("/"):
        if seg in ("", ".", ".."):
            what = "empty" if not seg else f"{seg!r}"
            raise PathError(f"{shown!r}: {what} path segments are not allowed")
        if len(seg) > MAX_SEGMENT:
            raise PathError(f"{shown!r}: a name is longer than {MAX_SEGMENT} characters")
        if seg[0] == " " or seg[-1] in " .":
            raise PathError(f"{shown!r}: a name may not start with a space or end in '.' or ' '")
    return path


def under(prefix: str, path: str) -> bool:
    """Is ``path`` the folder ``prefix`` or inside it?"""
    return not prefix or path == prefix or path.startswith(prefix + "/")
