#!/usr/bin/env bash
# Create or update the book's virtual environment in .venv (idempotent).
# Re-installs only when requirements.txt, constraints/ci.txt or pyproject.toml change.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.book-env-stamp
want=$(cat requirements.txt constraints/ci.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements.txt -c constraints/ci.txt
  echo "$want" > "$stamp"
fi
