"""The vault: secrets encrypted at rest, passed to a tool only when it runs,
and found nowhere afterwards: not in prompts, the journal, the audit log, the
store's files, logs, traces (events) or error messages."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from gov_helpers import plan, runtime

from orgos import tool
from orgos.tools.base import Tool

SECRET = "sk_live_7Hq2ZKpWv9fXr3Lm"


def tools(seen: list[str]) -> list[Tool]:
    @tool(secrets={"api_key": "payments_key"})
    def charge(order_id: str, api_key: str, idempotency_key: str) -> dict[str, Any]:
        """Charge through the payment provider."""
        seen.append(api_key)
        logging.getLogger("orgos.tools.charge").info("charging %s", order_id)
        return {"order_id": order_id, "debug": f"used key {api_key}"}  # a careless tool

    @tool(secrets={"api_key": "payments_key"}, idempotent=True)
    def balance(account: str, api_key: str) -> str:
        """Read a balance."""
        raise PermissionError(f"provider refused key {api_key} for {account}")

    return [charge, balance]


def files_in(folder: Path) -> dict[str, str]:
    return {f.name: f.read_bytes().decode("latin-1") for f in folder.iterdir() if f.is_file()}


@pytest.mark.sqlite_file
async def test_no_secret_leaks_anywhere(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    model = plan(("charge", {"order_id": "A-1"}), ("balance", {"account": "main"}),
                 final=lambda r: " | ".join(r))  # the model repeats what it read  # fmt: skip
    rt = runtime(tmp_path, {}, model, tools(seen))
    events: list[str] = []
    async with rt:
        assert rt.governance is not None
        await rt.governance.vault.set("payments_key", SECRET, "olga")
        queue = rt.kernel.events.subscribe(None)
        run = await rt.run("clerk", "charge order A-1", timeout=10)
        while not queue.empty():
            events.append(repr(queue.get_nowait()))
        journal = await rt.history.journal(run.id)
    assert seen == [SECRET]  # the tool got it, at execution
    assert run.status.value == "succeeded"
    assert "used key ***" in str(run.output) and "refused key ***" in str(run.output)
    places = {
        "prompts": repr([r.messages for r in model.requests])
        + repr([r.tools for r in model.requests]),
        "journal": repr(journal),
        "output and error": f"{run.output} {run.error}",
        "logs": "\n".join(r.getMessage() for r in caplog.records),
        "traces (events)": "\n".join(events),
    }
    places.update(files_in(tmp_path))  # the store, its WAL, anything else written
    hits = [name for name, text in places.items() if SECRET in text]
    assert hits == []
    assert "journal" in places and "o.db" in places  # the scan saw the files


async def test_a_missing_secret_is_a_clear_error_without_values(tmp_path: Path) -> None:
    model = plan(("balance", {"account": "main"}), final=lambda r: r[0])
    async with runtime(tmp_path, {}, model, tools([])) as rt:
        run = await rt.run("clerk", "balance", timeout=10)
    assert run.output == "ERROR: balance: no secret named 'payments_key' in the vault"


def test_secret_parameters_are_hidden_from_the_model() -> None:
    charge = tools([])[0]
    assert "api_key" not in charge.parameters["properties"]
    assert "idempotency_key" not in charge.parameters["properties"]


def test_secrets_set_reads_stdin_and_stores_ciphertext(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from orgos.cli import app

    proj = tmp_path / "p"
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(proj)]).exit_code == 0
    out = runner.invoke(
        app, ["-p", str(proj), "secrets", "set", "payments_key"], input=SECRET + "\n"
    )
    assert out.exit_code == 0, out.output
    listed = runner.invoke(app, ["-p", str(proj), "secrets", "list"])
    assert listed.output.split() == ["payments_key"]
    data = b"".join(
        p.read_bytes() for p in (proj / ".orgos").iterdir() if p.is_file() and p.name != "vault.key"
    )
    assert SECRET.encode() not in data
    assert (proj / ".orgos" / "vault.key").stat().st_mode & 0o777 == 0o600


# --- keys, encodings and logs ---------------------------------------------------------------
#: A value whose URL and URL-safe base64 forms differ from the plain ones.
ODD = "pk/9+Zq?x=1&y~é"


def _forms(value: str) -> dict[str, str]:
    import base64
    import re
    import urllib.parse

    raw = value.encode()
    return {
        "base64": base64.b64encode(raw).decode(),
        "base64 unpadded": base64.b64encode(raw).decode().rstrip("="),
        "urlsafe base64": base64.urlsafe_b64encode(raw).decode(),
        "urlsafe unpadded": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "url": urllib.parse.quote(value, safe=""),
        "url plus": urllib.parse.quote_plus(value),
        "url, lower-case escapes": re.sub(
            "%[0-9A-F]{2}", lambda m: m.group().lower(), urllib.parse.quote(value, safe="")
        ),
    }


def leaky_tools() -> list[Tool]:
    @tool(secrets={"api_key": "payments_key"}, idempotent=True)
    def echo(api_key: str) -> dict[str, Any]:
        """A careless tool: its secret as a key, and encoded every common way."""
        log = logging.getLogger("orgos.tools.echo")
        log.info("calling with key %s", api_key)
        try:
            raise RuntimeError(f"provider said no to {api_key}")
        except RuntimeError:
            log.exception("call failed")
        return {api_key: "a secret as a key", **_forms(api_key)}

    @tool(idempotent=True)
    def settings() -> dict[str, Any]:
        """A tool with no secret of its own that hands back another one's value."""
        return {"dsn": f"postgres://app:{ODD}@db", **_forms(ODD)}

    return [echo, settings]


async def test_secrets_as_keys_or_encoded_reach_no_journal_prompt_file_or_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    model = plan(("echo", {}), ("settings", {}), final="done")
    async with runtime(tmp_path, {}, model, leaky_tools()) as rt:
        assert rt.governance is not None
        await rt.governance.set_secret("payments_key", SECRET, "olga")
        await rt.governance.set_secret("database_password", ODD, "olga")
        assert logging.getLogRecordFactory() is logging.LogRecord  # nothing process-wide
        run = await rt.run("clerk", "echo", timeout=10)
        journal = await rt.history.journal(run.id)
    assert run.status.value == "succeeded"
    leaks = {SECRET, ODD} | set(_forms(SECRET).values()) | set(_forms(ODD).values())
    places = {
        "prompts": repr([r.messages for r in model.requests]),
        "journal": repr(journal),
        "logs": "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records),
    }
    places.update(files_in(tmp_path))
    assert [(name, v) for name, text in places.items() for v in leaks if v in text] == []
    results = [e.payload for e in journal if e.kind == "tool" and e.phase == "result"]
    assert results[0]["ok"]["***"] == "a secret as a key" and results[0]["ok"]["hex"] == "***"
    assert "calling with key ***" in places["logs"] and "provider said no to ***" in places["logs"]
    assert not [h for h in logging.getLogger("orgos").handlers if type(h).__name__ == "LogScrub"]


async def test_a_vault_value_set_elsewhere_is_scrubbed_once_a_tool_gets_it(
    tmp_path: Path,
) -> None:
    """Another process stored the secret after this runtime started: the
    first tool that gets it teaches the scrubber."""
    model = plan(("echo", {}), final="done")
    async with runtime(tmp_path, {}, model, leaky_tools()) as rt:
        assert rt.governance is not None
        await rt.governance.vault.set("payments_key", SECRET, "olga")  # not through set_secret
        run = await rt.run("clerk", "echo", timeout=10)
        journal = await rt.history.journal(run.id)
    assert SECRET not in repr(journal)
    assert not any(v in repr(journal) for v in _forms(SECRET).values())
