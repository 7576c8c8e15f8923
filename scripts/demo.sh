#!/usr/bin/env bash
# The demo world on the embedded DuckDB: install, then import, score, automate, measure, serve.
# Usage: scripts/demo.sh [DIR] [--customers N] [--seed S]
#   CLM_DEMO_SERVE=0 scripts/demo.sh   builds and measures the world, then stops (no server)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh spark
DIR="${1:-demo-world}"; shift || true
.venv/bin/clm demo "$DIR" "$@"
.venv/bin/clm status -w "$DIR"
# A dashboard user for this demo; its password is shown once (only its hash is kept).
if ! .venv/bin/clm users list -w "$DIR" --json | grep -q '"demo"'; then
    PASSWORD="$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(12))')"
    printf '%s\n' "$PASSWORD" | .venv/bin/clm users create demo --password-stdin -w "$DIR"
    echo "Dashboard sign-in: user demo, password $PASSWORD"
fi
if [[ "${CLM_DEMO_SERVE:-1}" != "0" ]]; then
    echo "Serving the demo: open http://127.0.0.1:8000/ (Ctrl-C stops)"
    exec .venv/bin/clm serve -w "$DIR"
fi
