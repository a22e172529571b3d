"""Path confinement and globs, on their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from orgos.fs.blobs import BlobStore
from orgos.fs.paths import PathError, clean_path
from orgos.globs import glob_match

GOOD = ["a", "teams/sales/plan.md", "shared/Résumé 2026 (v2).txt", "a/b-c_d/e.f.g", "数据/报告.md"]

BAD = [
    "", "/etc/passwd", "../x", "a/../b", "a/./b", "./a", "a//b", "a/", "a\\b", "..",
    "a/%2e%2e/b", "a%2fb", "a/\x00b", "a/b\n", "a/\u202eb", "a/\u200bb", "a/．．/b",
    "a/..／b", "a/\u2024\u2024/b", "a/.../b", "a/b. ", "a/ b", "C:\\x", "a/*", "a/[x]",
    "x" * 2000, "a/\u2215b", "a;b", "a/b?", "file:///x",
]  # fmt: skip


@pytest.mark.parametrize("path", GOOD)
def test_plain_paths_pass_unchanged(path: str) -> None:
    assert clean_path(path) == path


@pytest.mark.parametrize("path", BAD)
def test_crafted_paths_are_refused(path: str) -> None:
    with pytest.raises(PathError):
        clean_path(path)


def test_non_strings_and_roots() -> None:
    for v in (None, 3, ["a"], {"a": 1}, b"a"):
        with pytest.raises(PathError, match="must be a string"):
            clean_path(v)
    assert clean_path("", allow_root=True) == ""
    assert clean_path("teams/a/", allow_root=True) == "teams/a"
    with pytest.raises(PathError):
        clean_path("teams/a//", allow_root=True)


@pytest.mark.parametrize(
    ("pattern", "path", "hit"),
    [
        ("teams/a/**", "teams/a", True),
        ("teams/a/**", "teams/a/x/y.md", True),
        ("teams/a/**", "teams/ab/x", False),
        ("teams/*/notes.md", "teams/b/notes.md", True),
        ("teams/*/notes.md", "teams/b/c/notes.md", False),
        ("**/*.md", "x.md", True),
        ("**/*.md", "a/b/x.md", True),
        ("**/*.md", "a/b/x.txt", False),
        ("a/**/z", "a/z", True),
        ("a/**/z", "a/b/c/z", True),
        ("shared/?.txt", "shared/1.txt", True),
        ("shared/?.txt", "shared/12.txt", False),
        ("**", "anything/at/all", True),
        ("a.b", "aXb", False),
    ],
)
def test_globs(pattern: str, path: str, hit: bool) -> None:
    assert glob_match(pattern, path) is hit


def test_blob_names_come_only_from_digests(tmp_path: Path) -> None:
    b = BlobStore(tmp_path, fsync=False)
    for bad in ("../../etc/passwd", "g" * 64, "A" * 64, "0" * 63, "/" + "0" * 63):
        with pytest.raises(ValueError):
            b.path_of(bad)
    digest = b.put_sync(b"hello")
    assert b.get_sync(digest) == b"hello"
    assert b.put_sync(b"hello") == digest  # the same content is one blob
    assert [d for d, _ in b.all_digests()] == [digest]
