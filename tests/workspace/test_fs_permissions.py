"""An agent cannot read another team's folder: not directly, not through any
crafted path. Each refusal is an error the model reads and an entry the
audit hook sees. People's access follows their role."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ws_helpers import runtime

from orgos.errors import NotFound
from orgos.fs.paths import AccessDenied, PathError
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.testing.scripted import ScriptedModel

SECRET = "the support team's secret: code 7781"
TARGET = "teams/support/secret.txt"

#: Ways to reach teams/support/secret.txt from the sales team's folder.
ATTACKS = [
    TARGET,
    "teams/sales/../support/secret.txt",
    "../support/secret.txt",
    "teams/sales/../../teams/support/secret.txt",
    "teams/sales/../../../../etc/passwd",
    "/teams/support/secret.txt",
    "//teams/support/secret.txt",
    "./teams/support/secret.txt",
    "teams/./support/secret.txt",
    "teams//support/secret.txt",
    "teams/support/secret.txt/",
    "teams\\support\\secret.txt",
    "teams/sales/..\\support\\secret.txt",
    "C:\\teams\\support\\secret.txt",
    "file:///teams/support/secret.txt",
    "teams/sales/%2e%2e/support/secret.txt",
    "teams/sales/%2E%2E/support/secret.txt",
    "teams%2fsupport%2fsecret.txt",
    "teams/sales/%252e%252e/support/secret.txt",
    "teams/sales/..%2fsupport/secret.txt",
    "teams/sales/%c0%ae%c0%ae/support/secret.txt",
    "teams/sales/\uff0e\uff0e/support/secret.txt",  # fullwidth dots
    "teams/sales/..\uff0fsupport/secret.txt",  # fullwidth slash
    "teams/sales/..\u2215support/secret.txt",  # division slash
    "teams/sales/\u2024\u2024/support/secret.txt",  # one-dot leaders
    "teams/sales/\u2025/support/secret.txt",  # two-dot leader
    "teams/sales/..\x00/support/secret.txt",
    "teams/support/secret.txt\x00.md",
    "teams/sales/\u202e../support/secret.txt",  # right-to-left override
    "teams/sales/\u200b../support/secret.txt",  # zero-width space
    "teams/sales/.../support/secret.txt",
    "teams/sales/.. /support/secret.txt",
    "teams/sales/ ../support/secret.txt",
    "teams/sales/\n/../support/secret.txt",
    "teams/sales/..;/support/secret.txt",
    "teams/*/secret.txt",
    "teams/s?pport/secret.txt",
    "TEAMS/support/secret.txt",
    "teams/Support/secret.txt",
    "~/teams/support/secret.txt",
    "shared/../teams/support/secret.txt",
    "teams/sales/" + "../" * 50 + TARGET,
]


def _reader(paths: list[str]) -> ScriptedModel:
    def respond(req: ModelRequest) -> ModelResponse:
        if not any(m.role == "tool" for m in req.messages):
            return ScriptedModel.calls(*[("read_file", {"path": p}) for p in paths])
        return ScriptedModel.final("\x1e".join(m.content for m in req.messages if m.role == "tool"))

    return ScriptedModel(respond)


async def test_no_crafted_path_reaches_another_teams_folder(tmp_path: Path) -> None:
    assert len(ATTACKS) >= 30
    paths = [*ATTACKS, "teams/sales/plan.txt"]
    rt, audit = runtime(tmp_path, model=_reader(paths))
    async with rt:
        await rt.files.put_as("ada", TARGET, SECRET.encode())
        await rt.files.put_as("ada", "teams/sales/plan.txt", b"sell more kettles")
        rec = await rt.run("seller", "read everything you can", timeout=30)
        journal = await rt.history.journal(rec.id)
    assert rec.status.value == "succeeded", rec.error
    assert "7781" not in rec.output
    assert "sell more kettles" in rec.output  # its own team's file it may read
    results = rec.output.split("\x1e")
    assert len(results) == len(paths)
    for path, res in zip(paths, results[:-1], strict=False):
        assert res.startswith(("ERROR: seller may not read", "ERROR: bad path")), (path, res)
    denied = audit.denied()
    assert [e[2]["path"] for e in denied] == ATTACKS  # every attempt reached the audit hook
    assert all(e[0] == "seller" and e[1] == "fs.read" for e in denied)
    assert "7781" not in json.dumps([e.payload for e in journal])


async def test_writes_outside_the_grant_change_nothing(tmp_path: Path) -> None:
    attempts = ["teams/support/x.txt", "teams/sales/../support/x.txt", "shared/x.txt",
                "agents/helper/x.txt", "/teams/sales/x.txt"]  # fmt: skip

    def respond(req: ModelRequest) -> ModelResponse:
        if not any(m.role == "tool" for m in req.messages):
            return ScriptedModel.calls(
                *[("write_file", {"path": p, "content": "pwned"}) for p in attempts],
                ("write_file", {"path": "teams/sales/ok.txt", "content": "fine"}),
            )
        return ScriptedModel.final("done")

    rt, audit = runtime(tmp_path, model=ScriptedModel(respond))
    async with rt:
        rec = await rt.run("seller", "write", timeout=30)
        assert rec.status.value == "succeeded", rec.error
        files = await rt.files.list_as("ada")
    assert [f.path for f in files] == ["teams/sales/ok.txt"]
    assert len(audit.denied()) == len(attempts)


async def test_listing_shows_only_readable_files(tmp_path: Path) -> None:
    def respond(req: ModelRequest) -> ModelResponse:
        if not any(m.role == "tool" for m in req.messages):
            return ScriptedModel.calls(("list_files", {"prefix": ""}),
                                       ("list_files", {"prefix": "teams/support"}))  # fmt: skip
        return ScriptedModel.final("|".join(m.content for m in req.messages if m.role == "tool"))

    rt, _ = runtime(tmp_path, model=ScriptedModel(respond))
    async with rt:
        for p in (TARGET, "teams/sales/a.txt", "shared/s.txt", "elsewhere/e.txt"):
            await rt.files.put_as("ada", p, b"x")
        rec = await rt.run("seller", "list", timeout=30)
    everything, support = rec.output.split("|")
    assert [f["path"] for f in json.loads(everything)] == ["shared/s.txt", "teams/sales/a.txt"]
    assert json.loads(support) == []


async def test_people_follow_their_role(tmp_path: Path) -> None:
    rt, _ = runtime(tmp_path)
    async with rt:
        f = rt.files
        await f.put_as("ada", TARGET, b"admin may write anywhere")
        await f.put_as("otto", "teams/support/ops.txt", b"operators too")
        await f.put_as("bea", "teams/sales/spec.md", b"a builder writes in her team")
        await f.put_as("bea", "shared/howto.md", b"and in shared/")
        with pytest.raises(AccessDenied, match=r"bea \(builder\) may not write"):
            await f.put_as("bea", "teams/support/x.md", b"not another team")
        with pytest.raises(AccessDenied, match=r"vic \(viewer\) may not write"):
            await f.put_as("vic", "shared/x.md", b"viewers only read")
        v, data = await f.read_as("vic", TARGET)
        assert data == b"admin may write anywhere" and v.author == "ada"
        with pytest.raises(NotFound, match="not a person"):
            await f.read_as("mallory", TARGET)
        with pytest.raises(PathError):
            await f.read_as("ada", "teams/sales/../support/secret.txt")
        assert [x.path for x in await f.list_as("vic", "teams")] == [
            "teams/sales/spec.md", "teams/support/ops.txt", TARGET]  # fmt: skip


async def test_file_tools_are_offered_only_with_a_grant(tmp_path: Path) -> None:
    from orgos import Agent

    model = ScriptedModel(["ok", "ok", "ok"])
    agents = [Agent(name="loner"), Agent(name="seller", team="sales"),
              Agent(name="reader", files={"read": ["shared/**"]})]  # fmt: skip
    rt, _ = runtime(tmp_path, model=model, agents=agents)
    async with rt:
        for name in ("loner", "seller", "reader"):
            assert (await rt.run(name, "hi", timeout=10)).status.value == "succeeded"
    offered = [sorted(t.name for t in r.tools) for r in model.requests]
    assert offered == [
        [],  # no files: grant on it or its team: the prompt stays as it was
        ["list_files", "read_file", "recall", "remember", "write_file"],
        ["list_files", "read_file"],
    ]
