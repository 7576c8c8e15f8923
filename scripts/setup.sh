#!/usr/bin/env bash
# Install what clm needs on a fresh machine: a Java runtime for Spark (apt-get),
# a virtual environment in .venv, and clm with its extras. Safe to run again.
# Usage: scripts/setup.sh [EXTRAS]   (default extras: spark)
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-spark}"

need_apt=()
if [[ "$EXTRAS" == *spark* ]] && ! command -v java >/dev/null 2>&1; then
    need_apt+=(openjdk-17-jre-headless)
fi
if [[ "$EXTRAS" == *test* ]] && ! command -v chromium >/dev/null 2>&1; then
    need_apt+=(chromium)  # the dashboard tests drive Debian's chromium through Playwright
fi
if (( ${#need_apt[@]} )); then
    echo "clm setup: installing system packages: ${need_apt[*]}"
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
    echo "clm setup: creating .venv with $($PY --version)"
    "$PY" -m venv .venv
fi
stamp=".venv/.clm-installed-$EXTRAS-$(sha1sum pyproject.toml | cut -c1-12)"
if [[ ! -f "$stamp" ]]; then
    echo "clm setup: installing clm[$EXTRAS] into .venv"
    .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
    .venv/bin/python -m pip install -q -e ".[$EXTRAS]" 2>&1 | grep -v "^WARNING: Location" || true
    .venv/bin/python -c "import clm" # fail here, loudly, if the install did not work
    rm -f .venv/.clm-installed-* && touch "$stamp"
fi
