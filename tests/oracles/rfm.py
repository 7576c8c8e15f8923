"""An independent pandas oracle for SPEC §1–3: orders, RFM inputs, scores and lifecycle segments.

Written from ``SPEC.md`` alone (not from ``clm.scores``), so that comparing the two can catch
mistakes on either side. It is also the "straightforward pandas implementation" peer of the
scoring benchmark, so everything is vectorized: no Python loop runs per customer or per line.

Conventions taken from the data model (SPEC §1):

- an order is ``(customer_id, order_id)``; a line without ``order_id`` is an order by itself;
  an order's time is its earliest line's time and its amount the sum of its lines;
- only events with ``ts < D + 1 day`` exist as of D (lines after D are ignored, also when they
  belong to an order that started before);
- amounts are held as exact integers of 1/10,000 (the stored precision, DECIMAL(18,4)), so sums
  and comparisons with cut points carry no floating-point error;
- times without a zone are UTC; zone-aware times are converted to UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Literal

import numpy as np
import pandas as pd

#: The quantiles of the R/M (and quantile-F) cut points, SPEC §2, as exact fractions.
QUANTILES: tuple[Fraction, ...] = tuple(Fraction(k, 5) for k in range(1, 5))
#: Default fixed F thresholds, SPEC §2.
F_THRESHOLDS: tuple[int, int, int, int] = (2, 3, 4, 6)
#: Amount precision: 4 decimals, held as integers of 1/SCALE.
SCALE = 10_000

#: SPEC §3: segment -> phase (``None`` for Prospect, which is outside the 11 segments).
PHASES: dict[str, str | None] = {
    "Loyal Visitors": "Acquisition",
    "Engaged Visitors": "Acquisition",
    "Prospect": None,
    "First-time Customers": "Retention",
    "Champions": "Veneration",
    "Loyal Customers": "Veneration",
    "Potential Loyalists": "Increased Value",
    "Recent Customers": "Retention",
    "Promising Customers": "Increased Value",
    "Cannot-lose Customers": "Reactivation",
    "At Risk Customers": "Reactivation",
    "Falling Asleep Customers": "Reactivation",
}


@dataclass(frozen=True)
class OracleResult:
    """The oracle's scores and calibration.

    Attributes
    ----------
    scores : pandas.DataFrame
        One row per profile, indexed by ``customer_id`` (sorted), with columns
        ``recency_days``, ``frequency``, ``monetary``, ``n_orders_life``, ``r_score``,
        ``f_score``, ``m_score``, ``segment``, ``phase``, ``has_email``, ``visited``.
    r_cuts, f_cuts, m_cuts : tuple of float
        The cut points ``c1..c4`` (SPEC §2); ``r_cuts`` are cut points of ``-recency_days``.
        With fixed F, ``f_cuts`` are the thresholds. Empty when there are no buyers.
    """

    scores: pd.DataFrame
    r_cuts: tuple[float, ...]
    f_cuts: tuple[float, ...]
    m_cuts: tuple[float, ...]


def percentile_disc(values: np.ndarray, p: Fraction) -> np.generic:
    """PERCENTILE_DISC(p): the smallest observed value whose cumulative share is ≥ p (SPEC §2).

    With ``n`` sorted values ``v_1 ≤ … ≤ v_n`` the cumulative share of ``v_i`` is ``i / n``
    (ties share the last position of their run), so the answer is ``v_i`` with
    ``i = ceil(p · n)`` (at least 1). The ceiling is taken in exact rational arithmetic, so
    ``p · n`` landing on an integer (``0.6 · 5 = 3``) never rounds up by a float error.

    Parameters
    ----------
    values : numpy.ndarray
        The observed values (not necessarily sorted); must not be empty.
    p : fractions.Fraction
        The quantile, ``0 < p ≤ 1``.

    Returns
    -------
    numpy.generic
        One of ``values``.
    """
    n = len(values)
    if n == 0:
        raise ValueError("PERCENTILE_DISC of no values")
    index = max(1, -((-p.numerator * n) // p.denominator))  # ceil(p * n), exact
    value: np.generic = np.sort(values, kind="stable")[index - 1]
    return value


def cut_points(values: np.ndarray) -> np.ndarray:
    """``c1..c4`` = PERCENTILE_DISC(0.2, 0.4, 0.6, 0.8) of ``values`` (SPEC §2)."""
    cuts: np.ndarray = np.array([percentile_disc(values, p) for p in QUANTILES])
    return cuts


def score_by_cuts(values: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Score ``1 + #{k : value > c_k}`` (SPEC §2), vectorized."""
    scores: np.ndarray = 1 + (values[:, None] > cuts[None, :]).sum(axis=1)
    return scores


def _utc_naive(ts: pd.Series) -> pd.Series:
    """Times as naive UTC ``datetime64[ns]`` (SPEC §1: times without a zone are UTC)."""
    ts = pd.to_datetime(ts)
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts.astype("datetime64[ns]")


def _amount_units(amount: pd.Series) -> np.ndarray:
    """Amounts rounded to 4 decimals, as exact ``int64`` multiples of 1/10,000."""
    units: np.ndarray = np.round(amount.to_numpy(dtype="float64") * SCALE).astype("int64")
    return units


def _orders(lines: pd.DataFrame) -> pd.DataFrame:
    """Group purchase lines into orders (SPEC §1).

    Returns one row per order with ``customer_id``, ``ts`` (earliest line) and ``units``
    (the sum of the line amounts, in 1/10,000).
    """
    if "order_id" in lines.columns and lines["order_id"].notna().any():
        code = lines.groupby(["customer_id", "order_id"], sort=False, dropna=True).ngroup()
        code = code.fillna(-1).to_numpy(dtype="int64").copy()  # null order_id -> NaN
    else:
        code = np.full(len(lines), -1, dtype="int64")
    alone = code < 0  # a line without order_id is an order by itself
    code[alone] = code.max(initial=-1) + 1 + np.arange(int(alone.sum()))
    return (
        lines.assign(order=code)
        .groupby("order", sort=False)
        .agg(customer_id=("customer_id", "first"), ts=("ts", "min"), units=("units", "sum"))
    )


def rfm_oracle(
    purchases: pd.DataFrame,
    as_of: date | str,
    *,
    window_days: int = 365,
    visits: pd.DataFrame | None = None,
    emails: Iterable[str] = (),
    customers: Iterable[str] = (),
    frequency: Literal["fixed", "quantile"] = "fixed",
    f_thresholds: Sequence[int] = F_THRESHOLDS,
) -> OracleResult:
    """RFM inputs, scores, segments and phases of every profile as of D (SPEC §1–3).

    Parameters
    ----------
    purchases : pandas.DataFrame
        Purchase lines: ``customer_id`` (str), ``ts`` (datetime; naive means UTC), ``amount``
        (float; negative = refund) and optionally ``order_id`` (null = an order by itself).
    as_of : datetime.date or str
        The date D; events with ``ts < D + 1 day`` are used (SPEC §1).
    window_days : int, default 365
        The window W: ``D + 1 day − W ≤ time < D + 1 day`` (SPEC §2).
    visits : pandas.DataFrame, optional
        ``visit`` events: ``customer_id`` and ``ts``. ``visited`` ⇔ one of them is in W (§3).
    emails : iterable of str
        The customers with a known email (``has_email``, SPEC §3).
    customers : iterable of str
        More imported customer records (e.g. customers without email).
    frequency : {"fixed", "quantile"}, default "fixed"
        How F is scored (SPEC §2, setting ``rfm.frequency``).
    f_thresholds : sequence of 4 int, default (2, 3, 4, 6)
        The fixed F thresholds: ``F = 1 + #{t : frequency ≥ t}``.

    Returns
    -------
    OracleResult
        The per-profile table and the cut points. The population is the profiles that exist as
        of D: every customer with a purchase line or visit before ``D + 1 day``, and every
        customer in ``emails`` and ``customers`` (records without a time). SPEC §1 does not
        say this in so many words; it is our reading of "as of D" (a customer first seen after
        D does not exist yet), and it only decides who is listed: cut points run over buyers.
        Buyers are the profiles with ``n_orders_life ≥ 1``; the others have null
        ``recency_days`` and scores, ``frequency`` 0 and ``monetary`` = the sum of their
        (refund) lines in W.
    """
    day = pd.Timestamp(as_of).normalize()
    end = day + pd.Timedelta(days=1)
    start = end - pd.Timedelta(days=window_days)

    lines = pd.DataFrame(
        {
            "customer_id": purchases["customer_id"].astype(str).to_numpy(),
            "ts": _utc_naive(purchases["ts"]).to_numpy(),
            "units": _amount_units(purchases["amount"]),
        }
    )
    if "order_id" in purchases.columns:
        lines["order_id"] = purchases["order_id"].to_numpy()
    visit_ids = pd.Series([], dtype=str)
    visit_ts = pd.Series([], dtype="datetime64[ns]")
    if visits is not None and len(visits):
        visit_ids = visits["customer_id"].astype(str).reset_index(drop=True)
        visit_ts = _utc_naive(visits["ts"]).reset_index(drop=True)
    email_ids = pd.Index(pd.unique(pd.Series(list(emails), dtype=str)))

    # §1: as of D only events with ts < D + 1 day exist; so does a profile only if one of its
    # events does, or if it was imported as a customer record (which has no time).
    lines = lines[lines["ts"] < end]
    visit_ids = visit_ids[(visit_ts < end).to_numpy()]
    visit_ts = visit_ts[(visit_ts < end).to_numpy()]
    population = (
        pd.Index(lines["customer_id"])
        .append([pd.Index(visit_ids), email_ids, pd.Index(list(customers), dtype=str)])
        .unique()
        .sort_values()
    )
    population.name = "customer_id"

    orders = _orders(lines)
    positive = orders[orders["units"] > 0]
    in_window_order = positive["ts"] >= start  # ts < end holds already
    in_window_line = lines["ts"] >= start

    by_customer = positive.groupby("customer_id")
    n_orders_life = by_customer.size().reindex(population, fill_value=0)
    last_order = by_customer["ts"].max().reindex(population)
    freq = positive[in_window_order].groupby("customer_id").size()
    freq = freq.reindex(population, fill_value=0)
    units = lines[in_window_line].groupby("customer_id")["units"].sum()
    units = units.reindex(population, fill_value=0)
    recency = (day - last_order.dt.normalize()).dt.days.astype("Int64")

    visited = pd.Series(False, index=population)
    if len(visit_ids):
        seen = visit_ids[((visit_ts >= start) & (visit_ts < end)).to_numpy()]
        visited = pd.Series(population.isin(seen.unique()), index=population)
    has_email = pd.Series(population.isin(email_ids), index=population)

    # §2: scores over buyers.
    buyer = (n_orders_life >= 1).to_numpy()
    r_score = pd.Series(pd.NA, index=population, dtype="Int64")
    f_score = r_score.copy()
    m_score = r_score.copy()
    r_cuts: tuple[float, ...] = ()
    f_cuts: tuple[float, ...] = ()
    m_cuts: tuple[float, ...] = ()
    if buyer.any():
        neg_recency = -recency[buyer].to_numpy(dtype="int64")
        b_units = units[buyer].to_numpy(dtype="int64")
        b_freq = freq[buyer].to_numpy(dtype="int64")
        rc, mc = cut_points(neg_recency), cut_points(b_units)
        r_score[buyer] = score_by_cuts(neg_recency, rc)
        m_score[buyer] = score_by_cuts(b_units, mc)
        if frequency == "quantile":
            fc = cut_points(b_freq)
            f_score[buyer] = score_by_cuts(b_freq, fc)
        else:
            fc = np.asarray(f_thresholds, dtype="int64")
            f_score[buyer] = 1 + (b_freq[:, None] >= fc[None, :]).sum(axis=1)
        r_cuts = tuple(float(c) for c in rc)
        f_cuts = tuple(float(c) for c in fc)
        m_cuts = tuple(float(c) / SCALE for c in mc)

    segment = lifecycle_segments(
        r_score, f_score, m_score, n_orders_life, has_email=has_email, visited=visited
    )
    scores = pd.DataFrame(
        {
            "recency_days": recency,
            "frequency": freq.astype("int64"),
            "monetary": units.to_numpy(dtype="float64") / SCALE,
            "n_orders_life": n_orders_life.astype("int64"),
            "r_score": r_score,
            "f_score": f_score,
            "m_score": m_score,
            "segment": segment,
            "phase": segment.map(PHASES).astype(object),
            "has_email": has_email,
            "visited": visited,
        },
        index=population,
    )
    scores["phase"] = scores["phase"].where(scores["phase"].notna(), None)
    return OracleResult(scores=scores, r_cuts=r_cuts, f_cuts=f_cuts, m_cuts=m_cuts)


def lifecycle_segments(
    r: pd.Series,
    f: pd.Series,
    m: pd.Series,
    n_orders_life: pd.Series,
    *,
    has_email: pd.Series,
    visited: pd.Series,
) -> pd.Series:
    """The lifecycle segment of each profile: the first matching row of the SPEC §3 table.

    Parameters
    ----------
    r, f, m : pandas.Series
        Scores 1–5 (nullable; null for non-buyers, which the first three rows catch).
    n_orders_life : pandas.Series
        Positive orders over the whole history.
    has_email, visited : pandas.Series of bool
        An email is known; at least one ``visit`` event in W.

    Returns
    -------
    pandas.Series
        Segment names (``"Prospect"`` for non-buyers without email or visit).
    """
    rv = r.fillna(0).to_numpy(dtype="int64")
    fv = f.fillna(0).to_numpy(dtype="int64")
    mv = m.fillna(0).to_numpy(dtype="int64")
    n = n_orders_life.to_numpy(dtype="int64")
    fantastic = (fv >= 3) & (mv >= 3) & (fv + mv >= 7)
    rows = [
        ("Loyal Visitors", (n == 0) & has_email.to_numpy(dtype=bool)),
        ("Engaged Visitors", (n == 0) & visited.to_numpy(dtype=bool)),
        ("Prospect", n == 0),
        ("First-time Customers", (n == 1) & (rv >= 3)),
        ("Champions", (rv >= 4) & (fv >= 4) & (mv >= 4)),
        ("Loyal Customers", (rv >= 3) & (fv >= 4)),
        ("Potential Loyalists", (rv >= 3) & (fv >= 2) & (mv >= 3)),
        ("Recent Customers", rv >= 4),
        ("Promising Customers", rv == 3),
        ("Cannot-lose Customers", (rv == 1) & fantastic),
        ("At Risk Customers", (rv == 2) & fantastic),
    ]
    names = np.select([c for _, c in rows], [s for s, _ in rows], "Falling Asleep Customers")
    return pd.Series(names, index=r.index, name="segment")
