#!/usr/bin/env bash
# Creates bench/.peer-venv (a virtual env separate from the main Python) and installs
# bench/peers/requirements.txt into it. Idempotent: when the venv's stamp file holds
# the hash of the current requirements and interpreter, it exits at once.
#
# Usage: bash bench/peers/setup_venv.sh        (PYTHON=/path/to/python3 to choose one)
# Prints the venv's python path as its last line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench="$(dirname "$here")"
venv="${PEER_VENV:-$bench/.peer-venv}"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

want="$( { cat "$req"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
    && "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    echo "peer venv up to date: $venv" >&2
    echo "$venv/bin/python"
    exit 0
fi

if ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    echo "creating peer venv: $venv" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
fi

echo "installing $req into $venv" >&2
rm -f "$stamp"
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$req" >&2
"$venv/bin/python" -c 'import langgraph.graph, langgraph.checkpoint.sqlite.aio, dbos' >&2
echo "$want" > "$stamp"
echo "$venv/bin/python"
