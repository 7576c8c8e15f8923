#!/usr/bin/env bash
# The peers of the lifetime value benchmark (clv_vs_lifetimes.py), each in its own virtual
# environment next to this script (git-ignored), so that neither touches clm's .venv:
#
#   benchmarks/.venv-lifetimes  lifetimes 0.11.3 (2020) with the numpy / pandas / scipy of its
#                               time: it predates numpy 2 and pandas 2;
#   benchmarks/.venv-pymc       pymc-marketing (BetaGeoModel, MAP fit), which needs numpy >= 2,
#                               so it cannot share the lifetimes environment.
#
# Usage: bash benchmarks/peers_env.sh [lifetimes|pymc]...   (no argument: both)
# Re-running it re-installs the pinned versions into the existing environments.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3.11}"

# Python 3.11 wheels exist for all of these; pyarrow reads the benchmark's Parquet inputs.
LIFETIMES_PINS=(
    "lifetimes==0.11.3"
    "numpy==1.24.4"
    "pandas==1.5.3"
    "scipy==1.10.1"
    "autograd==1.6.2"
    "dill==0.3.7"
    "pyarrow==14.0.2"
)
PYMC_PINS=(
    "pymc-marketing==0.19.2"
    "pyarrow"
)

make_env() {
    local dir="$1"
    shift
    if [ ! -x "$dir/bin/python" ]; then
        "$PYTHON" -m venv "$dir"
    fi
    "$dir/bin/python" -m pip install --quiet --upgrade pip
    "$dir/bin/python" -m pip install --quiet "$@"
    echo "$dir:"
    "$dir/bin/python" -m pip freeze | grep -iE '^(lifetimes|pymc|pymc-marketing|pytensor|numpy|pandas|scipy|autograd|pyarrow)=='
}

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(lifetimes pymc)
for target in "${targets[@]}"; do
    case "$target" in
        lifetimes) make_env "$HERE/.venv-lifetimes" "${LIFETIMES_PINS[@]}" ;;
        pymc) make_env "$HERE/.venv-pymc" "${PYMC_PINS[@]}" ;;
        *) echo "unknown environment: $target (lifetimes or pymc)" >&2; exit 2 ;;
    esac
done
