"""An independent pandas/numpy oracle for SPEC §4, the activity family.

Written from ``SPEC.md`` alone (not from ``clm.scores`` or ``clm.profiles``), so that comparing
the two can catch mistakes on either side. Everything is vectorized: no Python loop runs per
event or per profile.

What SPEC §4 defines, per profile and scope (``all`` and each category), evaluated at
``t = D + 1 day`` (midnight UTC) over the events with ``ts < t`` (SPEC §1, "as of D"):

- decayed sums ``S_h = Σ w_e · 2^(−(t − t_e)/h)`` and ``V_h`` (the same with ``w_e`` = the
  amount of a purchase line with amount > 0), for ``h = h_s`` and ``h = h_l``;
- rates ``r_h = S_h · ln2 / h``; activity ``A = 100 · S_hs / (S_hs + κ)`` with
  ``κ = r_ref · h_s / ln2`` and ``r_ref`` the median of ``r_hs`` over the profiles with
  ``S_hl ≥ 1`` in the scope; trend ``T = 100 · (r_hs + ε) / (r_hs + r_hl + 2ε)``, ε = 1/365;
  rising interest ``T ≥ 60 ∧ S_hl ≥ 3`` (both settings);
- affinity ``I_c = 100 · ((V_c + m·π_c) / (V_all + m)) / π_c`` with ``h = h_l``,
  ``π_c = Σ V_c / Σ V_all`` and ``m`` = 3 × the mean positive-order amount up to D;
- category relations ``n_a``, ``n_ab``, ``lift(a, b) = N · n_ab / (n_a · n_b)`` and the Pearson
  correlation of ``log1p(V_hl)`` between categories over all buyers;
- next best categories ``score(c) = Σ_a A_a · max(lift(a, c) − 1, 0)`` over the categories c
  where the profile has ``S_hl < 1``; the top 3 with score > 0, ties by name.

Conventions where SPEC leaves room (the same as clm's, as agreed for the project):

- a profile has a row for a scope when it has at least one event in that scope as of D (any
  type, even of weight 0); every event is in ``all`` and, with a category, in that category;
- a profile is its ``customer_id``; an event with only an ``anonymous_id`` belongs to the
  customer that id is linked to by an event carrying both ids (SPEC §1) as of D, else to the
  anonymous visitor (a link made after D does not exist yet as of D; clm disagrees, see
  ``tests/scores/test_activity_vs_oracle.py``);
- an event at exactly ``t = D + 1 day`` is not as of D (SPEC §1), although ``t_e ≤ t`` in §4;
- ages are exact to the microsecond: days = microseconds / 86 400 000 000;
- amounts are rounded to 4 decimals (the stored DECIMAL(18,4));
- ``r_ref`` is the ordinary median (mean of the two middle values for an even count); a scope
  without active profiles has no ``r_ref`` and uses the κ of ``all`` (1 when ``all`` has none
  either), as the stored calibration documents;
- orders per SPEC §1: lines grouped by ``(customer, order_id)``, a line without ``order_id`` is
  an order by itself, positive when its summed amount is > 0; ``m`` = 0 without positive orders;
- ``π_c = Σ V_hl,c / Σ V_hl,all`` over all profiles (0 for every c when Σ V_hl,all = 0);
  affinity is null for ``all`` and where ``π_c = 0``;
- ``N`` = profiles with ``S_hl ≥ 1`` in ``all``; lift is null where ``n_a`` or ``n_b`` is 0;
  buyers = profiles with ≥ 1 positive order; a buyer without V in a category counts 0 there;
  the correlation is null where a variance is 0;
- next best: ``a`` runs over every category where the profile has a row (``a = c`` included,
  as the formula is written), ``c`` over every category where ``S_hl < 1`` or without a row;
  a null lift contributes 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

#: ε of the trend, SPEC §4: 1/365 weighted events per day.
EPSILON = 1.0 / 365.0
#: Microseconds per day: ages are exact to the microsecond.
MICROS_PER_DAY = 86_400_000_000
#: The scope of all events.
ALL = "all"
#: Prefixes of the profile key: customers and anonymous visitors never collide.
CUSTOMER, VISITOR = "c:", "a:"


@dataclass(frozen=True)
class ActivitySettings:
    """The settings of the activity family (SPEC §4 defaults).

    Attributes
    ----------
    half_life_short, half_life_long : float
        ``h_s`` and ``h_l`` in days.
    weights : Mapping[str, float]
        ``w_e`` per event type; a purchase line weighs ``weights["purchase"]`` when its amount is
        > 0 and 0 otherwise; types not listed weigh 0.
    rising_trend, rising_min_long : float
        Rising interest ⇔ ``T ≥ rising_trend ∧ S_hl ≥ rising_min_long``.
    next_best : int
        How many next best categories a profile gets.
    """

    half_life_short: float = 30.0
    half_life_long: float = 180.0
    weights: Mapping[str, float] = field(default_factory=lambda: {"purchase": 1.0})
    rising_trend: float = 60.0
    rising_min_long: float = 3.0
    next_best: int = 3


@dataclass(frozen=True)
class ActivityOracle:
    """The oracle's results for one as-of date.

    Attributes
    ----------
    activity : pandas.DataFrame
        One row per (profile, scope), indexed by ``(profile, scope)`` (sorted), where
        ``profile`` is ``"c:" + customer_id`` or ``"a:" + anonymous_id``; columns
        ``customer_id``, ``anonymous_id`` (the one that is not the key is null), ``s_short``,
        ``s_long``, ``v_short``, ``v_long``, ``r_short``, ``r_long``, ``activity``, ``trend``,
        ``affinity`` (NaN for ``all`` and where π = 0), ``rising``.
    r_ref : dict of str to float
        ``r_ref`` per scope that has at least one profile with ``S_hl ≥ 1``.
    kappa : dict of str to float
        κ used for each scope with rows (after the fallback to ``all``).
    pi : dict of str to float
        ``π_c`` per category.
    m : float
        The affinity prior strength.
    n_active : int
        ``N``, the profiles with ``S_hl ≥ 1`` in ``all``.
    relations : pandas.DataFrame
        Columns ``a``, ``b``, ``n_a``, ``n_b``, ``n_ab``, ``lift``, ``correlation``, one row per
        ordered pair of categories (diagonal included), sorted by ``(a, b)``.
    next_best : dict of str to list of (str, float)
        Per profile key with at least one row: its next best ``(category, score)``, best first.
    """

    activity: pd.DataFrame
    r_ref: dict[str, float]
    kappa: dict[str, float]
    pi: dict[str, float]
    m: float
    n_active: int
    relations: pd.DataFrame
    next_best: dict[str, list[tuple[str, float]]]


# -- inputs ----------------------------------------------------------------------------------


def evaluation_time(as_of: date | str) -> datetime:
    """``t = D + 1 day`` at midnight UTC (naive), SPEC §1 and §4."""
    day = date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    return datetime(day.year, day.month, day.day) + timedelta(days=1)


def _utc_micros(ts: pd.Series) -> pd.Series:
    """Times as naive UTC ``datetime64[us]`` (SPEC §1: a time without a zone is UTC)."""
    ts = pd.to_datetime(ts)
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts.astype("datetime64[us]")


def _text(values: pd.Series) -> pd.Series:
    """Ids and categories as Python strings (object), nulls as ``None``."""
    present = values.notna().to_numpy()
    out = np.full(len(values), None, dtype=object)
    out[present] = values[present].astype(str).to_numpy(dtype=object)
    return pd.Series(out, index=values.index, dtype=object)


def normalize_events(events: pd.DataFrame) -> pd.DataFrame:
    """The events in one normalized frame.

    Parameters
    ----------
    events : pandas.DataFrame
        Columns ``type`` and ``ts`` and at least one of ``customer_id`` / ``anonymous_id``;
        optional ``category``, ``amount``, ``order_id``. Purchase lines have type
        ``"purchase"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``customer_id``, ``anonymous_id``, ``type``, ``ts`` (``datetime64[us]``),
        ``category``, ``amount`` (float, rounded to 4 decimals, NaN when absent), ``order_id``;
        ids and categories as strings or ``None``.
    """
    n = len(events)
    out = pd.DataFrame(index=pd.RangeIndex(n))
    for col in ("customer_id", "anonymous_id", "category", "order_id"):
        source = events[col] if col in events.columns else pd.Series([None] * n)
        out[col] = _text(source.reset_index(drop=True)).to_numpy()
    out["type"] = events["type"].astype(str).to_numpy()
    out["ts"] = _utc_micros(events["ts"].reset_index(drop=True)).to_numpy()
    amount = events["amount"].to_numpy(dtype="float64") if "amount" in events.columns else np.nan
    out["amount"] = np.round(np.asarray(amount, dtype="float64") * 10_000) / 10_000
    return out


def profile_keys(events: pd.DataFrame) -> pd.Series:
    """The profile of each event (SPEC §1 identity).

    An event with a ``customer_id`` belongs to that customer. An event with only an
    ``anonymous_id`` belongs to the customer that id is linked to by an event that carries both
    ids (among ``events``; each anonymous id must link to at most one customer), else to the
    anonymous visitor.

    Parameters
    ----------
    events : pandas.DataFrame
        Normalized events (:func:`normalize_events`).

    Returns
    -------
    pandas.Series
        ``"c:<customer_id>"`` or ``"a:<anonymous_id>"``, aligned with ``events``.
    """
    both = events.loc[events["customer_id"].notna() & events["anonymous_id"].notna()]
    links = both.drop_duplicates(["anonymous_id", "customer_id"])
    if links["anonymous_id"].duplicated().any():
        raise ValueError("the oracle supports one customer per anonymous id")
    linked = events["anonymous_id"].map(
        dict(zip(links["anonymous_id"], links["customer_id"], strict=True))
    )
    customer = events["customer_id"].where(events["customer_id"].notna(), linked)
    key = (CUSTOMER + customer.astype(str)).where(customer.notna(), None)
    return key.where(key.notna(), VISITOR + events["anonymous_id"].astype(str))


def positive_order_amounts(events: pd.DataFrame, profile: pd.Series) -> pd.DataFrame:
    """Orders (SPEC §1) of the purchase lines and which are positive.

    Lines with the same ``(profile, order_id)`` form one order; a line without ``order_id`` is
    an order by itself; an order's amount is the sum of its lines (exact, in 1/10,000).

    Parameters
    ----------
    events : pandas.DataFrame
        Normalized events as of D.
    profile : pandas.Series
        The profile key of each event.

    Returns
    -------
    pandas.DataFrame
        One row per order: ``profile`` and ``amount`` (float).
    """
    lines = events["type"].eq("purchase").to_numpy()
    units = np.round(events["amount"].to_numpy()[lines] * 10_000).astype("int64")
    order = events["order_id"].to_numpy()[lines]
    alone = pd.isna(order)
    # a line without order id is an order by itself: give it a key no order id can have
    order = np.where(alone, "\0" + pd.Series(np.arange(len(order))).astype(str), order)
    frame = pd.DataFrame({"profile": profile.to_numpy()[lines], "order": order, "units": units})
    orders = frame.groupby(["profile", "order"], sort=False)["units"].sum().reset_index()
    return pd.DataFrame(
        {"profile": orders["profile"], "amount": orders["units"].to_numpy() / 10_000}
    )


# -- decayed sums ----------------------------------------------------------------------------


def decay(age_days: np.ndarray, half_life: float) -> np.ndarray:
    """``2^(−age / h)``, SPEC §4."""
    return np.exp2(-age_days / half_life)


def decayed_sums(
    events: pd.DataFrame, profile: pd.Series, t: datetime, settings: ActivitySettings
) -> pd.DataFrame:
    """``S_h`` and ``V_h`` for ``h_s`` and ``h_l`` per (profile, scope), SPEC §4.

    Parameters
    ----------
    events : pandas.DataFrame
        Normalized events with ``ts < t``.
    profile : pandas.Series
        The profile key of each event.
    t : datetime.datetime
        The evaluation time (naive UTC).
    settings : ActivitySettings
        Half-lives and weights.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``(profile, scope)``, sorted; columns ``s_short``, ``s_long``, ``v_short``,
        ``v_long``. Every (profile, scope) with at least one event has a row.
    """
    ts = events["ts"].to_numpy().astype("datetime64[us]")
    micros = (np.datetime64(t, "us") - ts).astype("int64")
    age = micros / MICROS_PER_DAY
    amount = events["amount"].to_numpy()
    purchase = events["type"].eq("purchase").to_numpy()
    positive = purchase & (np.nan_to_num(amount, nan=0.0) > 0)
    type_weight = events["type"].map(dict(settings.weights)).fillna(0.0).to_numpy(dtype="float64")
    weight = np.where(purchase, np.where(positive, type_weight, 0.0), type_weight)
    value = np.where(positive, amount, 0.0)
    d_s = decay(age, settings.half_life_short)
    d_l = decay(age, settings.half_life_long)
    terms = pd.DataFrame(
        {
            "profile": profile.to_numpy(),
            "s_short": weight * d_s,
            "s_long": weight * d_l,
            "v_short": value * d_s,
            "v_long": value * d_l,
        }
    )
    in_all = terms.assign(scope=ALL)
    has_category = events["category"].notna().to_numpy()
    in_category = terms.loc[has_category].assign(scope=events["category"].to_numpy()[has_category])
    return pd.concat([in_all, in_category]).groupby(["profile", "scope"]).sum().sort_index()


# -- population constants and indices -------------------------------------------------------


def reference_rates(sums: pd.DataFrame, settings: ActivitySettings) -> dict[str, float]:
    """``r_ref`` per scope: the median ``r_hs`` over profiles with ``S_hl ≥ 1`` (SPEC §4).

    Scopes without such a profile have no entry.
    """
    active = sums.loc[sums["s_long"] >= 1.0]
    r_short = active["s_short"] * np.log(2.0) / settings.half_life_short
    medians = r_short.groupby(level="scope").median()
    return {str(scope): float(value) for scope, value in medians.items()}


def kappas(
    scopes: list[str], r_ref: Mapping[str, float], settings: ActivitySettings
) -> dict[str, float]:
    """``κ = r_ref · h_s / ln2`` per scope; a scope without ``r_ref`` uses ``all``'s κ, else 1."""

    def one(r: float) -> float:
        return float(r * settings.half_life_short / np.log(2.0))

    fallback = one(r_ref[ALL]) if r_ref.get(ALL, 0.0) > 0 else 1.0
    return {s: one(r_ref[s]) if r_ref.get(s, 0.0) > 0 else fallback for s in scopes}


def prior_strength(events: pd.DataFrame, profile: pd.Series) -> float:
    """``m`` = 3 × the mean amount of the positive orders as of D (SPEC §4); 0 without any."""
    amounts = positive_order_amounts(events, profile)["amount"]
    positive = amounts[amounts > 0]
    return 3.0 * float(positive.mean()) if len(positive) else 0.0


def spend_shares(sums: pd.DataFrame, categories: list[str]) -> dict[str, float]:
    """``π_c = Σ V_hl,c / Σ V_hl,all`` over all profiles (SPEC §4)."""
    totals = sums["v_long"].groupby(level="scope").sum()
    total_all = float(totals.get(ALL, 0.0))
    if total_all <= 0:
        return dict.fromkeys(categories, 0.0)
    return {c: float(totals.get(c, 0.0)) / total_all for c in categories}


def indices(
    sums: pd.DataFrame,
    kappa: Mapping[str, float],
    pi: Mapping[str, float],
    m: float,
    settings: ActivitySettings,
) -> pd.DataFrame:
    """Rates, activity A, trend T, affinity I and rising interest per row (SPEC §4).

    Parameters
    ----------
    sums : pandas.DataFrame
        :func:`decayed_sums`.
    kappa, pi : Mapping[str, float]
        κ per scope and π per category.
    m : float
        The prior strength.
    settings : ActivitySettings
        Half-lives and the rising thresholds.

    Returns
    -------
    pandas.DataFrame
        ``sums`` with ``r_short``, ``r_long``, ``activity``, ``trend``, ``affinity``, ``rising``.
    """
    out = sums.copy()
    scope = out.index.get_level_values("scope").to_numpy()
    ln2 = np.log(2.0)
    out["r_short"] = out["s_short"] * ln2 / settings.half_life_short
    out["r_long"] = out["s_long"] * ln2 / settings.half_life_long
    k = np.array([kappa[s] for s in scope], dtype="float64")
    s_short = out["s_short"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["activity"] = np.where(s_short > 0, 100.0 * s_short / (s_short + k), 0.0)
    out["trend"] = (
        100.0 * (out["r_short"] + EPSILON) / (out["r_short"] + out["r_long"] + 2.0 * EPSILON)
    )
    in_all = out.loc[scope == ALL, "v_long"].droplevel("scope")
    v_all = in_all.reindex(out.index.get_level_values("profile")).fillna(0.0).to_numpy()
    p = np.array([pi.get(s, 0.0) if s != ALL else 0.0 for s in scope], dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        affinity = 100.0 * ((out["v_long"].to_numpy() + m * p) / (v_all + m)) / p
    out["affinity"] = np.where(p > 0, affinity, np.nan)
    out["rising"] = (out["trend"] >= settings.rising_trend) & (
        out["s_long"] >= settings.rising_min_long
    )
    return out


# -- relations and next best ------------------------------------------------------------------


def relations(
    sums: pd.DataFrame, categories: list[str], buyers: pd.Index
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Counts, lift and correlation for every ordered pair of categories (SPEC §4).

    Parameters
    ----------
    sums : pandas.DataFrame
        :func:`decayed_sums`.
    categories : list of str
        The categories (sorted).
    buyers : pandas.Index
        Profile keys with at least one positive order.

    Returns
    -------
    relations : pandas.DataFrame
        Columns ``a``, ``b``, ``n_a``, ``n_b``, ``n_ab``, ``lift``, ``correlation``.
    lift : pandas.DataFrame
        The lift matrix (rows a, columns b), NaN where null.
    """
    active = (sums["s_long"] >= 1.0).unstack("scope", fill_value=False)
    active = active.reindex(columns=[ALL, *categories], fill_value=False).astype("int64")
    n_all = int(active[ALL].sum())
    mat = active[categories].to_numpy()
    n_ab = mat.T @ mat
    n = np.diag(n_ab)
    denominator = np.outer(n, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        lift = np.where(denominator > 0, (n_all * n_ab) / denominator, np.nan)

    v_long = sums["v_long"].unstack("scope", fill_value=0.0)
    v_long = v_long.reindex(index=buyers, columns=categories, fill_value=0.0).fillna(0.0)
    x = np.log1p(v_long.to_numpy())
    centered = x - x.mean(axis=0) if len(x) else x
    cov = centered.T @ centered
    var = np.diag(cov).copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.sqrt(np.outer(var, var))
    corr = np.where(np.outer(var, var) > 0, corr, np.nan)

    k = len(categories)
    frame = pd.DataFrame(
        {
            "a": np.repeat(categories, k),
            "b": np.tile(categories, k),
            "n_a": np.repeat(n, k),
            "n_b": np.tile(n, k),
            "n_ab": n_ab.reshape(-1),
            "lift": lift.reshape(-1),
            "correlation": corr.reshape(-1),
        }
    )
    return frame, pd.DataFrame(lift, index=categories, columns=categories)


def next_best(
    scored: pd.DataFrame, lift: pd.DataFrame, categories: list[str], top: int
) -> dict[str, list[tuple[str, float]]]:
    """Next best categories per profile (SPEC §4).

    ``score(c) = Σ_a A_a · max(lift(a, c) − 1, 0)``, with ``a`` over the categories where the
    profile has a row and ``c`` over those where it has ``S_hl < 1`` (or no row); the top
    ``top`` with score > 0, ties by category name.

    Parameters
    ----------
    scored : pandas.DataFrame
        :func:`indices`.
    lift : pandas.DataFrame
        The lift matrix of :func:`relations`.
    categories : list of str
        The categories (sorted).
    top : int
        How many to keep.

    Returns
    -------
    dict of str to list of (str, float)
        Every profile with a row gets an entry (possibly empty).
    """
    profiles = scored.index.get_level_values("profile").unique()
    in_category = scored.loc[scored.index.get_level_values("scope") != ALL]
    a = in_category["activity"].unstack("scope", fill_value=0.0)
    a = a.reindex(index=profiles, columns=categories, fill_value=0.0).fillna(0.0)
    s_long = in_category["s_long"].unstack("scope", fill_value=0.0)
    s_long = s_long.reindex(index=profiles, columns=categories, fill_value=0.0).fillna(0.0)
    gain = np.maximum(np.nan_to_num(lift.to_numpy(), nan=1.0) - 1.0, 0.0)
    score = a.to_numpy() @ gain
    candidate = (s_long.to_numpy() < 1.0) & (score > 0)
    rows, cols = np.nonzero(candidate)
    long = pd.DataFrame(
        {
            "profile": profiles.to_numpy()[rows],
            "category": np.asarray(categories, dtype=object)[cols],
            "score": score[rows, cols],
        }
    )
    long = long.sort_values(["profile", "score", "category"], ascending=[True, False, True])
    long = long.groupby("profile", sort=False).head(top)
    result: dict[str, list[tuple[str, float]]] = {str(p): [] for p in profiles}
    for p, c, s in long.itertuples(index=False):
        result[p].append((c, float(s)))
    return result


# -- all together ----------------------------------------------------------------------------


def activity_oracle(
    events: pd.DataFrame, as_of: date | str, settings: ActivitySettings | None = None
) -> ActivityOracle:
    """The activity family of every profile as of D (SPEC §4).

    Parameters
    ----------
    events : pandas.DataFrame
        Every event (any time; those with ``ts ≥ D + 1 day`` are ignored), see
        :func:`normalize_events`. Links from anonymous ids to customers are taken from the
        events as of D.
    as_of : datetime.date or str
        The date D.
    settings : ActivitySettings, optional
        Defaults per SPEC §4.

    Returns
    -------
    ActivityOracle
    """
    settings = settings or ActivitySettings()
    t = evaluation_time(as_of)
    normalized = normalize_events(events)
    normalized = normalized.loc[normalized["ts"] < np.datetime64(t, "us")].reset_index(drop=True)
    profile = profile_keys(normalized)

    sums = decayed_sums(normalized, profile, t, settings)
    scopes = sorted(sums.index.get_level_values("scope").unique())
    categories = [s for s in scopes if s != ALL]
    r_ref = reference_rates(sums, settings)
    kappa = kappas(scopes, r_ref, settings)
    pi = spend_shares(sums, categories)
    m = prior_strength(normalized, profile)
    scored = indices(sums, kappa, pi, m, settings)

    orders = positive_order_amounts(normalized, profile)
    buyers = pd.Index(sorted(orders.loc[orders["amount"] > 0, "profile"].unique()))
    relation_frame, lift = relations(sums, categories, buyers)
    best = next_best(scored, lift, categories, settings.next_best)

    keys = scored.index.get_level_values("profile").to_series()
    is_customer = keys.str.startswith(CUSTOMER).to_numpy()
    bare = keys.str.slice(2).to_numpy(dtype=object)
    scored.insert(0, "customer_id", np.where(is_customer, bare, None))
    scored.insert(1, "anonymous_id", np.where(is_customer, None, bare))
    in_all = sums.index.get_level_values("scope") == ALL
    n_active = int((sums.loc[in_all, "s_long"] >= 1.0).sum())
    return ActivityOracle(
        activity=scored,
        r_ref=r_ref,
        kappa=kappa,
        pi=pi,
        m=m,
        n_active=n_active,
        relations=relation_frame,
        next_best=best,
    )
