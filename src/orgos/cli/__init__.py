"""The ``orgos`` command line (typer + rich). See docs/cli.md."""

from orgos.cli.app import app, main

__all__ = ["app", "main"]
