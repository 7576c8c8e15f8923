"""Automation reports: funnel, effects, campaign worth, SRM and the daily series (SPEC §6).

Built on the measurement units of :func:`clm.automation.measure.units_query` (one row per
enrolment; see ``notes/contracts.md``): every function takes the units' SQL and parameters, so
the same code reports on the workspace's automations and on any query with those columns.
DuckDB aggregates the sums per automation, arm, variant and enrolment day in one query; the
addable statistics are then summed in Python and handed to :mod:`clm.experiments.statistics`
and :mod:`clm.experiments.worth`.

Arms: ``control`` (the automation's holdout), ``treatment`` (one row per variant) and
``global_control`` (customers no automation touches). Effects and worth compare treatment with
the automation's own control; the programme's worth compares the global control group's
customers with every customer treated by any automation.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

import duckdb

from clm.experiments import statistics as st
from clm.experiments import worth as wt
from clm.experiments.analysis import effect_dict
from clm.experiments.measurement import Measurement

CONTROL, TREATMENT, GLOBAL_CONTROL = "control", "treatment", "global_control"
METRICS = {"converted": "conversion", "revenue": "mean"}
QUANTITY = {"converted": "conversions", "revenue": "revenue"}


@dataclass(frozen=True)
class Funnel:
    """Addable counts of enrolments at each step of the funnel."""

    enrolled: int = 0
    sent: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    converted: int = 0

    def __add__(self, other: Funnel) -> Funnel:
        return Funnel(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


@dataclass(frozen=True)
class Cell:
    """The statistics of one automation, arm, variant and enrolment day."""

    automation: str
    arm: str
    variant: str | None
    day: date
    funnel: Funnel = field(default_factory=Funnel)
    outcomes: wt.Outcomes = field(default_factory=wt.Outcomes)


def _margins_sql(margins: Mapping[str, float]) -> tuple[str, list[Any]]:
    if not margins:
        return "SELECT NULL::VARCHAR AS automation, NULL::DOUBLE AS margin WHERE false", []
    values = ", ".join("(?, ?::DOUBLE)" for _ in margins)
    params: list[Any] = [x for item in margins.items() for x in item]
    return f"SELECT * FROM (VALUES {values}) AS m(automation, margin)", params


def _profit_units(
    units_sql: str, params: Sequence[Any], margins: Mapping[str, float], default_margin: float
) -> tuple[str, list[Any]]:
    """The units with a per-unit ``profit = revenue × margin − incentive − message cost``."""
    msql, mparams = _margins_sql(margins)
    sql = f"""
        WITH units AS ({units_sql}), margins AS ({msql})
        SELECT u.*,
               coalesce(u.revenue, 0) AS rev,
               coalesce(u.cost, 0) + coalesce(u.incentive_cost, 0) AS spent,
               coalesce(u.revenue, 0) * coalesce(m.margin, ?::DOUBLE)
                 - coalesce(u.incentive_cost, 0) - coalesce(u.cost, 0) AS profit,
               coalesce(u.converted, false) AS conv
        FROM units u LEFT JOIN margins m ON m.automation = u.automation
    """
    return sql, [*params, *mparams, default_margin]


def cells(
    con: duckdb.DuckDBPyConnection,
    units_sql: str,
    params: Sequence[Any],
    margins: Mapping[str, float],
    default_margin: float = 1.0,
) -> list[Cell]:
    """Funnel and outcome statistics per automation, arm, variant and enrolment day."""
    sql, args = _profit_units(units_sql, params, margins, default_margin)
    rows = con.execute(
        f"""
        WITH p AS ({sql})
        SELECT automation, arm, variant, CAST(enrolled_at AS DATE) AS day,
               count(*), count(*) FILTER (WHERE sent), count(*) FILTER (WHERE delivered),
               count(*) FILTER (WHERE opened), count(*) FILTER (WHERE clicked),
               count(*) FILTER (WHERE conv),
               sum(rev), sum(rev * rev), sum(profit), sum(profit * profit), sum(spent)
        FROM p GROUP BY ALL ORDER BY ALL
        """,
        args,
    ).fetchall()
    return [_cell(r) for r in rows]


def _cell(r: tuple[Any, ...]) -> Cell:
    n, converted = int(r[4]), int(r[9])
    return Cell(
        str(r[0]),
        str(r[1]),
        None if r[2] is None else str(r[2]),
        r[3],
        Funnel(n, int(r[5]), int(r[6]), int(r[7]), int(r[8]), converted),
        wt.Outcomes(
            st.SampleStats(n, float(converted), float(converted)),
            st.SampleStats(n, float(r[10]), float(r[11])),
            st.SampleStats(n, float(r[12]), float(r[13])),
            float(r[14]),
        ),
    )


def _total(group: Sequence[Cell]) -> tuple[Funnel, wt.Outcomes]:
    return sum((c.funnel for c in group), Funnel()), sum((c.outcomes for c in group), wt.Outcomes())


def _arm_block(arm: str, variant: str | None, group: Sequence[Cell]) -> dict[str, Any]:
    funnel, out = _total(group)
    block: dict[str, Any] = {"arm": arm, "variant": variant, "n": funnel.enrolled}
    block.update({f.name: getattr(funnel, f.name) for f in fields(funnel)})
    block.update({"revenue": out.revenue.sum, "cost": out.cost, "profit": out.profit.sum})
    block["metrics"] = {
        m: {"mean": out.of(q).mean, "sum": out.of(q).sum}
        for m, q in {**QUANTITY, "profit": "profit"}.items()
    }
    return block


def increment_dict(value: wt.Increment | st.Undefined) -> dict[str, Any]:
    """One increment in JSON shape; an undefined one has nulls and a reason."""
    if isinstance(value, st.Undefined):
        return {"estimate": None, "ci": [None, None], "p_value": None, "reason": value.reason}
    rel = value.relative
    return {
        "estimate": value.estimate,
        "ci": list(value.ci),
        "p_value": value.p_value,
        "per_unit": {"estimate": value.per_unit.estimate, "ci": list(value.per_unit.ci)},
        "relative": (
            {"estimate": None, "ci": [None, None], "reason": rel.reason}
            if isinstance(rel, st.Undefined)
            else {"estimate": rel.estimate, "ci": list(rel.ci)}
        ),
    }


def worth_dict(w: wt.Worth) -> dict[str, Any]:
    """A campaign's worth in JSON shape."""
    return {
        "treated": w.treated,
        "control": w.control,
        "population": w.population,
        "cost": w.cost,
        **{q: increment_dict(w.of(q)) for q in wt.QUANTITIES},
    }


def _effects(variants: Mapping[str | None, wt.Outcomes], control: wt.Outcomes) -> list[Any]:
    out = []
    for variant, stats in variants.items():
        for metric, quantity in QUANTITY.items():
            conversion = METRICS[metric] == "conversion"
            comparison = st.compare(
                st.moments(stats.of(quantity), conversion),
                st.moments(control.of(quantity), conversion),
            )
            out.append({**effect_dict(TREATMENT, metric, comparison), "variant": variant})
    return out


def _srm(control: int, treated: int, holdout: float | None) -> dict[str, Any]:
    if holdout is None:
        return {"p_value": None, "flag": None, "reason": "no holdout share is configured"}
    srm = st.sample_ratio([control, treated], [holdout, 1.0 - holdout])
    return {
        "p_value": srm.p_value,
        "flag": srm.flag,
        "statistic": srm.statistic,
        "expected": {CONTROL: holdout, TREATMENT: 1.0 - holdout},
    }


def _daily(group: Sequence[Cell]) -> list[dict[str, Any]]:
    """Effects and worth over the enrolments up to each enrolment day.

    The latest enrolments may still be inside their goal window: their outcomes are partial in
    both arms alike, so the comparison stays fair while the totals still grow.
    """
    days = sorted({c.day for c in group})
    by_day = [
        (
            d,
            _total([c for c in group if c.day == d and c.arm == TREATMENT])[1],
            _total([c for c in group if c.day == d and c.arm == CONTROL])[1],
        )
        for d in days
    ]
    series = []
    for point in wt.cumulative(by_day):
        w = point.worth
        effects = {}
        for metric, quantity in QUANTITY.items():
            inc = w.of(quantity)
            effects[metric] = (
                {"estimate": None, "ci": [None, None], "reason": inc.reason}
                if isinstance(inc, st.Undefined)
                else {"estimate": inc.per_unit.estimate, "ci": list(inc.per_unit.ci)}
            )
        series.append(
            {
                "day": point.day.isoformat(),
                "treated": w.treated,
                "control": w.control,
                "effects": effects,
                "worth": {q: _short(w.of(q)) for q in wt.QUANTITIES},
            }
        )
    return series


def _short(value: wt.Increment | st.Undefined) -> dict[str, Any]:
    if isinstance(value, st.Undefined):
        return {"estimate": None, "ci": [None, None], "reason": value.reason}
    return {"estimate": value.estimate, "ci": list(value.ci)}


def automation_block(name: str, group: Sequence[Cell], measurement: Measurement) -> dict[str, Any]:
    """The report of one automation from its cells."""
    keys = sorted({(c.arm, c.variant) for c in group}, key=_arm_order)
    arms = [_arm_block(a, v, [c for c in group if (c.arm, c.variant) == (a, v)]) for a, v in keys]
    control = _total([c for c in group if c.arm == CONTROL])[1]
    treated = _total([c for c in group if c.arm == TREATMENT])[1]
    variants = {
        v: _total([c for c in group if c.arm == TREATMENT and c.variant == v])[1]
        for a, v in keys
        if a == TREATMENT
    }
    effects = _effects(variants, control)
    if len(variants) > 1:
        effects += _effects({None: treated}, control)
    return {
        "automation": name,
        "margin": measurement.margin,
        "holdout_share": measurement.holdout_share,
        "metrics": dict(METRICS),
        "arms": arms,
        "effects": effects,
        "worth": worth_dict(wt.worth(treated, control)),
        "caution": wt.caution(treated, control),
        "worth_by_variant": [
            {"variant": v, **worth_dict(wt.worth(s, control))} for v, s in variants.items()
        ],
        "srm": _srm(control.n, treated.n, measurement.holdout_share),
        "daily": _daily(group),
    }


def _arm_order(key: tuple[str, str | None]) -> tuple[int, str, str]:
    order = {CONTROL: 0, TREATMENT: 1, GLOBAL_CONTROL: 2}
    return order.get(key[0], 3), key[0], key[1] or ""


def automation_report(
    con: duckdb.DuckDBPyConnection,
    units_sql: str,
    params: Sequence[Any],
    name: str,
    measurement: Measurement,
) -> dict[str, Any]:
    """The report of automation ``name`` over the units that ``units_sql`` returns."""
    group = [
        c
        for c in cells(con, units_sql, params, {name: measurement.margin}, measurement.margin)
        if c.automation == name
    ]
    return automation_block(name, group, measurement)


def programme_outcomes(
    con: duckdb.DuckDBPyConnection,
    units_sql: str,
    params: Sequence[Any],
    margins: Mapping[str, float],
    default_margin: float = 1.0,
) -> dict[str, wt.Outcomes]:
    """Per customer outcomes of the global control group and of every treated customer.

    A customer counts once: in ``global_control`` if any of their enrolments is, else in
    ``treated`` if any is treated (customers only ever held out by an automation are left
    out). Their conversion is any conversion; revenue, profit and costs are summed over their
    enrolments, measured the same way in both groups.
    """
    sql, args = _profit_units(units_sql, params, margins, default_margin)
    rows = con.execute(
        f"""
        WITH p AS ({sql}),
        c AS (
            SELECT customer_id,
                   CASE WHEN bool_or(arm = '{GLOBAL_CONTROL}') THEN '{GLOBAL_CONTROL}'
                        WHEN bool_or(arm = '{TREATMENT}') THEN 'treated' END AS grp,
                   max(CAST(conv AS INTEGER)) AS conv, sum(rev) AS rev,
                   sum(profit) AS profit, sum(spent) AS spent
            FROM p GROUP BY customer_id
        )
        SELECT grp, count(*), sum(conv), sum(rev), sum(rev * rev),
               sum(profit), sum(profit * profit), sum(spent)
        FROM c WHERE grp IS NOT NULL GROUP BY grp
        """,
        args,
    ).fetchall()
    out = {}
    for r in rows:
        n, conv = int(r[1]), float(r[2])
        out[str(r[0])] = wt.Outcomes(
            st.SampleStats(n, conv, conv),
            st.SampleStats(n, float(r[3]), float(r[4])),
            st.SampleStats(n, float(r[5]), float(r[6])),
            float(r[7]),
        )
    return out


def automations_report(
    con: duckdb.DuckDBPyConnection,
    units_sql: str,
    params: Sequence[Any],
    measurements: Mapping[str, Measurement],
    default: Measurement = Measurement(),
) -> dict[str, Any]:
    """Every automation ranked by incremental profit, and the programme's worth.

    The ranking puts automations whose profit increment is undefined last (with the reason).
    The programme's worth compares the global control group with all treated customers.
    """
    every = all_reports(con, units_sql, params, measurements, default)
    return {"automations": every["automations"], "programme": every["programme"]}


def all_reports(
    con: duckdb.DuckDBPyConnection,
    units_sql: str,
    params: Sequence[Any],
    measurements: Mapping[str, Measurement],
    default: Measurement = Measurement(),
) -> dict[str, Any]:
    """:func:`automations_report` and, under ``reports``, every automation's
    :func:`automation_report` by name, from one aggregation of the units (the per-automation
    margins are the same, so each block equals the report of that automation alone).

    The units are read once (one row per enrolment: small next to the events they are
    measured from) and both aggregations run over that copy.
    """
    units = con.sql(units_sql, params=list(params)).to_arrow_table()
    view = f"_clm_units_{uuid.uuid4().hex}"
    con.register(view, units)
    try:
        return _all_reports(con, f"SELECT * FROM {view}", measurements, default)
    finally:
        con.unregister(view)


def _all_reports(
    con: duckdb.DuckDBPyConnection,
    units_sql: str,
    measurements: Mapping[str, Measurement],
    default: Measurement,
) -> dict[str, Any]:
    params: list[Any] = []
    margins = {k: m.margin for k, m in measurements.items()}
    every = cells(con, units_sql, params, margins, default.margin)
    rows = []
    reports = {}
    for name in sorted({c.automation for c in every}):
        group = [c for c in every if c.automation == name]
        block = automation_block(name, group, measurements.get(name, default))
        reports[name] = block
        funnel = _total(group)[0]
        rows.append(
            {
                "automation": name,
                "enrolled": funnel.enrolled,
                "margin": block["margin"],
                "worth": block["worth"],
                "srm": block["srm"],
                "caution": block["caution"],
            }
        )
    rows.sort(key=_rank_key)
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    groups = programme_outcomes(con, units_sql, params, margins, default.margin)
    treated, held = groups.get("treated", wt.Outcomes()), groups.get(GLOBAL_CONTROL, wt.Outcomes())
    return {
        "automations": rows,
        "programme": {
            "treated_customers": treated.n,
            "global_control_customers": held.n,
            "worth": worth_dict(wt.worth(treated, held)),
            "caution": wt.caution(treated, held),
        },
        "reports": reports,
    }


def _rank_key(row: dict[str, Any]) -> tuple[int, float, str]:
    profit = row["worth"]["profit"]["estimate"]
    return (1, 0.0, row["automation"]) if profit is None else (0, -profit, row["automation"])
