"""``python -m orgos.cli``: the same as ``orgos`` (background workers use it)."""

from orgos.cli.app import main

main()
