#!/usr/bin/env bash
# The whole test suite, on DuckDB and on Spark (local mode), plus the linter.
# Installs what it needs first. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh "spark,test,png"
export SPARK_LOCAL_IP=127.0.0.1
.venv/bin/ruff check src tests benchmarks
.venv/bin/mypy src
set +e
.venv/bin/python -m pytest -p no:cacheprovider "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then
    echo "test.sh: pytest collected no tests; that is a failure, not a pass" >&2
    exit 1
fi
exit $rc
