#!/usr/bin/env bash
# The demo world on the embedded DuckDB: install, generate, import, score, summarize.
# Usage: scripts/demo.sh [DIR] [--customers N] [--seed S]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh spark
DIR="${1:-demo-world}"; shift || true
.venv/bin/clm demo "$DIR" "$@"
.venv/bin/clm status -w "$DIR"
