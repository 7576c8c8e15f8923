"""The activity family in batch (SPEC §4), as Ibis expressions.

Every event of a profile belongs to the scope ``all`` and, when it has a
category, to that category's scope. Per profile and scope the decayed sums are

    S_h = Σ w_e · 2^(−(t − t_e)/h)      V_h = Σ v_e · 2^(−(t − t_e)/h)

evaluated at ``t = D + 1 day`` with ages measured in microseconds, so the batch
and the one-event-at-a-time update of :mod:`clm.profiles.activity_state` agree
to rounding. The scores on top of the sums come from :mod:`clm.scores.formulas`.
"""

from __future__ import annotations

from datetime import date

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from clm.config import ActivitySection
from clm.scores import formulas
from clm.scores.calibration import ActivityCalibration
from clm.scores.rfm import KEYS, PURCHASE, day_end

ALL = "all"
MICROS_PER_DAY = 86_400_000_000.0


def event_weight(events: ir.Table, weights: dict[str, float]) -> ir.FloatingValue:
    """``w_e``: the purchase weight for lines with a positive amount, else the type's weight."""
    positive_line = (events.type == PURCHASE) & (events.amount > 0)
    other = {t: w for t, w in weights.items() if t != PURCHASE and w != 0}
    by_type: ir.FloatingValue = (
        events.type.substitute(other, else_=0.0).cast("float64")
        if other
        else ibis.literal(0.0, type="float64")
    )
    purchase = ibis.literal(float(weights.get(PURCHASE, 1.0)), type="float64")
    return ibis.ifelse(
        events.type == PURCHASE, ibis.ifelse(positive_line, purchase, 0.0), by_type
    ).cast("float64")


def decayed_sums(events: ir.Table, as_of: date, settings: ActivitySection) -> ir.Table:
    """S and V for both half-lives, per profile and scope, as of D.

    One pass sums every (profile, category) group, events without a category
    included; the scope ``all`` is then the sum of a profile's groups, so the
    events are read once rather than once per scope.
    """
    t_end = ibis.timestamp(day_end(as_of))
    age_days = t_end.delta(events.ts, unit="microsecond").cast("float64") / MICROS_PER_DAY
    short = ibis.literal(2.0).pow(-age_days / settings.half_life_short)
    long = ibis.literal(2.0).pow(-age_days / settings.half_life_long)
    positive_line = (events.type == PURCHASE) & (events.amount > 0)
    rows = events.select(
        *KEYS,
        "category",
        w=event_weight(events, settings.weights),
        v=ibis.ifelse(positive_line, events.amount.cast("float64"), 0.0),
        k_s=short,
        k_l=long,
    )
    by_category = rows.group_by([*KEYS, "category"]).aggregate(
        s_short=lambda t: (t.w * t.k_s).sum(),
        s_long=lambda t: (t.w * t.k_l).sum(),
        v_short=lambda t: (t.v * t.k_s).sum(),
        v_long=lambda t: (t.v * t.k_l).sum(),
    )
    everything = (
        by_category.group_by(KEYS)
        .aggregate(
            s_short=lambda t: t.s_short.sum(),
            s_long=lambda t: t.s_long.sum(),
            v_short=lambda t: t.v_short.sum(),
            v_long=lambda t: t.v_long.sum(),
        )
        .mutate(scope=ibis.literal(ALL))
    )
    categories = by_category.filter(by_category.category.notnull()).select(
        *KEYS, "s_short", "s_long", "v_short", "v_long", scope=by_category.category
    )
    columns = [*KEYS, "scope", "s_short", "s_long", "v_short", "v_long"]
    return everything.select(*columns).union(categories.select(*columns))


def reference_rates(sums: ir.Table, settings: ActivitySection) -> ir.Table:
    """``r_ref`` per scope: the median short rate of profiles with ``S_hl ≥ 1``."""
    active = sums.filter(sums.s_long >= 1.0)
    return active.group_by("scope").aggregate(
        r_ref=lambda t: formulas.rate(t.s_short, settings.half_life_short).median(),
        n_active=lambda t: t.count(),
    )


def spend_totals(sums: ir.Table) -> ir.Table:
    """``Σ V_hl`` per scope over all profiles (for the shares ``π``)."""
    return sums.group_by("scope").aggregate(v_total=lambda t: t.v_long.sum())


def constants(cal: ActivityCalibration) -> pa.Table:
    """κ and π per scope, as a small table to join on the engine."""
    scopes = sorted(set(cal.r_ref) | set(cal.pi) | {ALL})
    return pa.table(
        {
            "c_scope": pa.array(scopes, pa.string()),
            "c_kappa": pa.array([cal.kappa(s) for s in scopes], pa.float64()),
            "c_pi": pa.array([cal.pi.get(s) if s != ALL else None for s in scopes], pa.float64()),
        }
    )


def scored(sums: ir.Table, cal: ActivityCalibration, constants: ir.Table) -> ir.Table:
    """Activity, trend, affinity and the rising flag on every (profile, scope) row;
    ``constants`` is :func:`constants` uploaded to the engine."""
    totals = sums.filter(sums.scope == ALL).select(
        a_pkey=sums.pkey, a_pkind=sums.pkind, v_all=sums.v_long
    )
    joined = sums.left_join(constants, sums.scope == constants.c_scope).left_join(
        totals, [sums.pkey == totals.a_pkey, sums.pkind == totals.a_pkind]
    )
    trend = formulas.trend(joined.s_short, joined.s_long, cal.half_life_short, cal.half_life_long)
    has_share = (joined.scope != ALL) & joined.c_pi.notnull() & (joined.c_pi > 0)
    affinity = formulas.affinity(joined.v_long, joined.v_all.coalesce(0.0), joined.c_pi, cal.m)
    return joined.select(
        *KEYS,
        "scope",
        "s_short",
        "s_long",
        "v_short",
        "v_long",
        activity=formulas.activity(joined.s_short, joined.c_kappa),
        trend=trend,
        affinity=ibis.ifelse(has_share, affinity, ibis.null("float64")),
        rising=formulas.rising(trend, joined.s_long, cal.rising_trend, cal.rising_min_long),
    )


def calibrate(sums: ir.Table, mean_order: float, settings: ActivitySection) -> ActivityCalibration:
    """Population constants from the engine's aggregates (SPEC §4); ``mean_order`` is
    the mean amount of positive orders up to D (``m`` is three times it)."""
    refs = reference_rates(sums, settings).to_pyarrow().to_pylist()
    totals = {
        r["scope"]: float(r["v_total"] or 0.0) for r in spend_totals(sums).to_pyarrow().to_pylist()
    }
    v_all = totals.get(ALL, 0.0)
    pi = {s: (v / v_all if v_all > 0 else 0.0) for s, v in totals.items() if s != ALL}
    n_all = next((int(r["n_active"]) for r in refs if r["scope"] == ALL), 0)
    return ActivityCalibration(
        half_life_short=settings.half_life_short,
        half_life_long=settings.half_life_long,
        weights=dict(settings.weights),
        rising_trend=settings.rising_trend,
        rising_min_long=settings.rising_min_long,
        r_ref={r["scope"]: float(r["r_ref"]) for r in refs},
        pi=pi,
        m=3.0 * mean_order,
        n_active=n_all,
    )
