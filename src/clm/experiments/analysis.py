"""Analyze an experiment run anywhere: one row per unit in a CSV or Parquet file.

DuckDB reads the file and aggregates the sufficient statistics per arm in one query; the
functions of :mod:`clm.experiments.statistics` turn them into effects against control. A metric
column whose values are all 0 or 1 is a conversion, anything else a mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from clm.errors import ExperimentInputError
from clm.experiments import statistics as st

NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
    "BOOLEAN",
)


@dataclass(frozen=True)
class ArmData:
    """One arm's size and, per metric, its sufficient statistics (with the covariate if any)."""

    arm: str
    n: int
    metrics: dict[str, st.CovariateStats]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _source(path: Path) -> str:
    if not path.exists():
        raise ExperimentInputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return f"read_parquet({_literal(str(path))})"
    if suffix in (".csv", ".txt", ".gz"):
        return f"read_csv({_literal(str(path))})"
    raise ExperimentInputError(f"{path}: expected a .csv or .parquet file")


def _columns(con: duckdb.DuckDBPyConnection, source: str, path: Path) -> dict[str, str]:
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    except duckdb.Error as exc:
        raise ExperimentInputError(f"{path}: cannot read the file ({exc})") from None
    return {str(r[0]): str(r[1]) for r in rows}


def _check_columns(columns: dict[str, str], path: Path, arm: str, numeric: Sequence[str]) -> None:
    for name in [arm, *numeric]:
        if name not in columns:
            known = ", ".join(columns)
            raise ExperimentInputError(f"{path}: no column {name!r} (columns: {known})")
    for name in numeric:
        if columns[name] not in NUMERIC and not columns[name].startswith("DECIMAL"):
            raise ExperimentInputError(f"{path}: column {name!r} is {columns[name]}, not numeric")


def _aggregate_sql(source: str, arm: str, metrics: Sequence[str], covariate: str | None) -> str:
    a = _ident(arm)
    parts = [f"CAST({a} AS VARCHAR) AS arm", "count(*) AS n"]
    x = f"CAST({_ident(covariate)} AS DOUBLE)" if covariate else "0.0"
    for m in metrics:
        y = f"CAST({_ident(m)} AS DOUBLE)"
        parts += [
            f"sum({y})",
            f"sum({y} * {y})",
            f"sum({x})",
            f"sum({x} * {x})",
            f"sum({x} * {y})",
        ]
    return f"SELECT {', '.join(parts)} FROM {source} GROUP BY 1 ORDER BY 1"


def _check_values(
    con: duckdb.DuckDBPyConnection,
    source: str,
    path: Path,
    arm: str,
    numeric: Sequence[str],
) -> dict[str, bool]:
    """Reject missing values; say which metric columns hold only 0 and 1."""
    parts = [f"count(*) FILTER (WHERE {_ident(arm)} IS NULL)"]
    for name in numeric:
        c = _ident(name)
        parts.append(f"count(*) FILTER (WHERE {c} IS NULL)")
        parts.append(f"bool_and(CAST({c} AS DOUBLE) IN (0, 1))")
    row = con.execute(f"SELECT {', '.join(parts)} FROM {source}").fetchall()[0]
    if row[0]:
        raise ExperimentInputError(f"{path}: column {arm!r} is empty in {row[0]} rows")
    binary: dict[str, bool] = {}
    for i, name in enumerate(numeric):
        missing, zero_one = row[1 + 2 * i], row[2 + 2 * i]
        if missing:
            raise ExperimentInputError(f"{path}: column {name!r} is empty in {missing} rows")
        binary[name] = bool(zero_one)
    return binary


def read_arms(
    path: Path, arm: str, metrics: Sequence[str], covariate: str | None = None
) -> tuple[list[ArmData], dict[str, bool]]:
    """Per-arm sufficient statistics of ``metrics`` (and ``covariate``) from one file.

    Returns the arms in the order of their names and, per metric, whether it is a 0/1
    conversion. Raises :class:`ExperimentInputError` naming the file and column for a missing
    column, a non-numeric metric or an empty cell.
    """
    numeric = [*metrics, *([covariate] if covariate else [])]
    source = _source(path)
    with duckdb.connect() as con:
        _check_columns(_columns(con, source, path), path, arm, numeric)
        binary = _check_values(con, source, path, arm, numeric)
        rows = con.execute(_aggregate_sql(source, arm, metrics, covariate)).fetchall()
    arms = []
    for row in rows:
        stats = {
            m: st.CovariateStats(int(row[1]), *(float(v) for v in row[2 + 5 * i : 7 + 5 * i]))
            for i, m in enumerate(metrics)
        }
        arms.append(ArmData(str(row[0]), int(row[1]), stats))
    return arms, {m: binary[m] for m in metrics}


def analyze(
    path: Path,
    arm: str,
    control: str,
    metrics: Sequence[str],
    covariate: str | None = None,
    sequential: bool = False,
    shares: Sequence[float] | None = None,
) -> dict[str, Any]:
    """The whole report of an experiment file as a JSON-friendly dict.

    ``arms`` (control first), ``effects`` of every other arm on every metric, ``srm``, and the
    ``cuped`` and ``sequential`` blocks when asked. ``shares`` are the expected arm shares in
    the report's arm order (equal by default).
    """
    if not metrics:
        raise ExperimentInputError("name at least one metric column")
    arms, binary = read_arms(path, arm, metrics, covariate)
    names = [a.arm for a in arms]
    if control not in names:
        raise ExperimentInputError(
            f"{path}: control {control!r} is not a value of column {arm!r} "
            f"(values: {', '.join(names)})"
        )
    arms = sorted(arms, key=lambda a: a.arm != control)
    if shares is not None and len(shares) != len(arms):
        raise ExperimentInputError(f"{len(shares)} shares given for {len(arms)} arms")
    srm = st.sample_ratio([a.n for a in arms], shares)
    report: dict[str, Any] = {
        "file": str(path),
        "arm_column": arm,
        "control": control,
        "metrics": {m: "conversion" if binary[m] else "mean" for m in metrics},
        "arms": [_arm_block(a, metrics) for a in arms],
        "effects": _effects(arms, metrics, binary),
        "srm": {"p_value": srm.p_value, "flag": srm.flag, "statistic": srm.statistic},
    }
    if covariate:
        report["cuped"] = _cuped(arms, metrics, covariate)
    if sequential:
        report["sequential"] = _sequential(arms, metrics, binary)
    return report


def _arm_block(a: ArmData, metrics: Sequence[str]) -> dict[str, Any]:
    return {
        "arm": a.arm,
        "n": a.n,
        "metrics": {m: {"mean": a.metrics[m].y.mean, "sum": a.metrics[m].sum_y} for m in metrics},
    }


def _comparisons(
    arms: Sequence[ArmData], metrics: Sequence[str], binary: dict[str, bool]
) -> list[tuple[str, str, st.Comparison, int]]:
    control, variants = arms[0], arms[1:]
    out = []
    for v in variants:
        for m in metrics:
            t = st.moments(v.metrics[m].y, binary[m])
            c = st.moments(control.metrics[m].y, binary[m])
            out.append((v.arm, m, st.compare(t, c), v.n + control.n))
    return out


def _effects(
    arms: Sequence[ArmData], metrics: Sequence[str], binary: dict[str, bool]
) -> list[dict[str, Any]]:
    return [effect_dict(a, m, c) for a, m, c, _ in _comparisons(arms, metrics, binary)]


def _sequential(
    arms: Sequence[ArmData], metrics: Sequence[str], binary: dict[str, bool]
) -> dict[str, Any]:
    effects = []
    for a, m, c, n in _comparisons(arms, metrics, binary):
        block = effect_dict(a, m, st.sequential(c, n))
        block["absolute"].pop("p_value")
        effects.append(block)
    return {
        "method": "asymptotic confidence sequence (normal mixture)",
        "alpha": st.ALPHA,
        "tuning_n": st.SEQUENTIAL_TUNING_N,
        "effects": effects,
    }


def _cuped(arms: Sequence[ArmData], metrics: Sequence[str], covariate: str) -> dict[str, Any]:
    thetas: dict[str, float | None] = {}
    effects = []
    reasons: dict[str, str] = {}
    for m in metrics:
        per_arm = [a.metrics[m] for a in arms]
        theta = st.cuped_theta(per_arm)
        if isinstance(theta, st.Undefined):
            thetas[m] = None
            reasons[m] = theta.reason
            continue
        thetas[m] = theta
        total = sum(per_arm, st.CovariateStats())
        grand = total.sum_x / total.n
        control = st.cuped_moments(per_arm[0], theta, grand)
        for a, s in zip(arms[1:], per_arm[1:], strict=True):
            comparison = st.compare(st.cuped_moments(s, theta, grand), control)
            effects.append(effect_dict(a.arm, m, comparison))
    block: dict[str, Any] = {"covariate": covariate, "theta": thetas, "effects": effects}
    if reasons:
        block["skipped"] = reasons
    return block


def effect_dict(arm: str, metric: str, c: st.Comparison) -> dict[str, Any]:
    """One comparison in the report's JSON shape; an undefined part has nulls and a reason."""
    a, r, w = c.absolute, c.relative, c.chance_to_win
    absolute: dict[str, Any]
    if isinstance(a, st.Undefined):
        absolute = {"estimate": None, "ci": [None, None], "p_value": None, "reason": a.reason}
    else:
        absolute = {"estimate": a.estimate, "ci": list(a.ci), "p_value": a.p_value}
    rel: dict[str, Any]
    if isinstance(r, st.Undefined):
        rel = {"estimate": None, "ci": [None, None], "reason": r.reason}
    else:
        rel = {"estimate": r.estimate, "ci": list(r.ci)}
    return {
        "arm": arm,
        "metric": metric,
        "absolute": absolute,
        "relative": rel,
        "chance_to_win": None if isinstance(w, st.Undefined) else w,
    }
