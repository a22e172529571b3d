"""What every command shares: exit codes, error reporting, the project, the
runtime, the console and the secret filter.

Nothing heavy is imported at module level: ``orgos --help`` must stay fast.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from orgos import aio
from orgos.cli.safe import inert
from orgos.errors import OrgosError
from orgos.redact import redact_env

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from orgos.llm.base import Model
    from orgos.runtime import Runtime

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1  # the run failed or was cancelled
EXIT_ERROR = 2  # bad input, bad project, unknown run or agent
EXIT_DECISION = 3  # the run is parked until a person decides
EXIT_TIMEOUT = 124  # --timeout ran out; the run goes on when a worker resumes it
EXIT_INTERRUPTED = 130  # Ctrl-C; the run goes on when a worker resumes it

#: A Python file defining ``model`` (or ``models``, a dict): the models every
#: command uses instead of the project's. A hook for tests and demos.
MODEL_SCRIPT_ENV = "ORGOS_MODEL_SCRIPT"


class CliError(OrgosError):
    """Bad input from the command line: reported in one line, exit code 2."""


@dataclass
class State:
    """Global options, shared by the commands through typer's context."""

    project: Path | None = None

    def root(self) -> Path:
        """The project folder: --project / ORGOS_PROJECT, else the nearest
        folder at or above the working directory holding orgos.yaml."""
        from orgos.config.project import find_project

        if self.project is None:
            return find_project(Path.cwd())
        if not self.project.is_dir():
            raise CliError(f"{self.project}: no such project folder")
        return self.project.resolve()


# --- secrets ------------------------------------------------------------------------
# --- output -------------------------------------------------------------------------
def console(*, stderr: bool = False) -> Console:
    """A console; when output is not a terminal, lines are not wrapped at 80.
    Markup and emoji codes are off: a string printed is shown as it is (a
    model's ``[green]✔ approved[/]`` stays brackets); styles come from Text."""
    from rich.console import Console

    opts: dict[str, Any] = {"stderr": stderr, "highlight": False, "markup": False, "emoji": False}
    c = Console(**opts)
    if not c.is_terminal and "COLUMNS" not in os.environ:
        c = Console(**opts, width=160)
    return c


def error_line(message: str) -> Text:
    """``error: message`` in red, the message inert and its secrets redacted."""
    from rich.text import Text

    return Text("error:", style="bold red").append(" " + inert(redact_env(message)))


class _InertLogHandler(logging.Handler):
    """The runtime's warnings on stderr, inert and redacted: a log message
    may quote a model, a tool's error or a path."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = inert(redact_env(record.getMessage()))  # one line
            if record.exc_info:  # a traceback's lines, indented under it
                formatted = (self.formatter or logging.Formatter()).formatException(record.exc_info)
                trace = inert(redact_env(formatted), lines=True)
                text += "".join("\n  " + line for line in trace.splitlines())
        except Exception:
            self.handleError(record)
            return
        sys.stderr.write(text + "\n")


def log_to_stderr() -> None:
    """Warnings and errors of the runtime go to stderr through the inert
    handler, unless logging is configured already."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(_InertLogHandler(logging.WARNING))


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Report an error in red, without a traceback, and exit."""
    console(stderr=True).print(error_line(message))
    raise typer.Exit(code)


def short(value: Any, limit: int | None = 160) -> str:
    """A value on one line: strings as they are, the rest as compact JSON;
    cut at ``limit`` characters (None: never); secrets redacted; inert for
    the terminal (orgos.cli.safe)."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
        except (TypeError, ValueError):
            text = repr(value)
    text = inert(redact_env(" ".join(text.split())))
    if limit is not None and len(text) > limit:
        text = text[: max(1, limit - 1)] + "…"
    return text


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {sec:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} m"


def fmt_tokens(n: int) -> str:
    return f"{n:,}"


# --- errors and the event loop ----------------------------------------------------------
@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn the errors a user can fix into one red line and exit code 2."""
    try:
        yield
    except OrgosError as exc:  # CliError and ModelError among them
        fail(str(exc) or type(exc).__name__)


def run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a command's coroutine with error reporting."""
    with reported_errors():
        try:
            return aio.run(make())
        except KeyboardInterrupt:  # a second Ctrl-C, while shutting down
            from rich.text import Text

            console(stderr=True).print(Text("interrupted", style="yellow"))
            raise typer.Exit(EXIT_INTERRUPTED) from None


@contextmanager
def interrupt_event() -> Iterator[asyncio.Event]:
    """An event set by the first Ctrl-C or SIGTERM (a second Ctrl-C
    interrupts for real), so a command can stop following a run and shut
    down cleanly: a stop, not a crash (see ``Kernel.stop``)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)

    def on_signal(sig: signal.Signals) -> None:
        loop.remove_signal_handler(sig)
        stop.set()

    installed = []
    for sig in signals:
        try:
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
        except (RuntimeError, NotImplementedError, ValueError):  # not the main thread
            break
    try:
        yield stop
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


# --- the runtime --------------------------------------------------------------------------
def injected_models(env: Mapping[str, str] | None = None) -> dict[str, Model] | None:
    """The models of the file named by ORGOS_MODEL_SCRIPT, if it is set."""
    import runpy

    from orgos.errors import ConfigError

    env = os.environ if env is None else env
    path = env.get(MODEL_SCRIPT_ENV)
    if not path:
        return None
    if not Path(path).is_file():
        raise ConfigError(f"{MODEL_SCRIPT_ENV}={path}: no such file")
    try:
        ns = runpy.run_path(path)
    except Exception as exc:
        raise ConfigError(f"{path}: running it failed: {type(exc).__name__}: {exc}") from None
    if isinstance(ns.get("models"), Mapping):
        return dict(ns["models"])
    if ns.get("model") is not None:
        return {"default": ns["model"]}
    raise ConfigError(f"{path}: defines neither `model` nor `models`")


def open_runtime(state: State, *, models_needed: bool = True, **overrides: Any) -> Runtime:
    """The project's runtime. Without ``models_needed`` (commands that only
    read the store), no model is built."""
    from orgos.runtime import Runtime

    root = state.root()
    models = injected_models() if models_needed else {}
    return Runtime.from_project(root, models=models, **overrides)


def parse_json_option(text: str | None, name: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{name} is not valid JSON: {exc.msg} (column {exc.colno})") from None
