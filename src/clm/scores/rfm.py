"""RFM inputs and scores as Ibis expressions (SPEC §1–2).

Every function here builds an expression and runs nothing, so the same code
runs on DuckDB and on Spark. Profiles are keyed by ``(pkey, pkind)``: the
customer id (``pkind = "c"``), or, for a visitor no identify call or import has
linked to a customer yet, the anonymous id (``pkind = "a"``). Both key columns
are never null, so joins on them are safe on every engine.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import ibis
import ibis.expr.types as ir

from clm.scores.calibration import RfmCalibration
from clm.store.engines import Sources

PURCHASE = "purchase"
VISIT = "visit"
EMAIL_SIGNUP = "email_signup"
KEYS = ("pkey", "pkind")


def day_end(as_of: date) -> datetime:
    """The first instant after the as-of date: "as of D" means ``ts < D + 1 day``."""
    return datetime.combine(as_of + timedelta(days=1), time())


def resolved_events(src: Sources, as_of: date) -> ir.Table:
    """Events as of D with anonymous ids resolved to customers where linked as of D
    (a link made by a later event does not count yet; one without a time always does)."""
    ev = src.events.filter(src.events.ts < ibis.timestamp(day_end(as_of)))
    ids = src.identities
    known = ids.filter(ids.linked_at.isnull() | (ids.linked_at < ibis.timestamp(day_end(as_of))))
    links = known.select(link_anonymous_id=known.anonymous_id, link_customer_id=known.customer_id)
    joined = ev.left_join(links, ev.anonymous_id == links.link_anonymous_id)
    customer = joined.customer_id.coalesce(joined.link_customer_id)
    return joined.select(
        "event_id",
        "type",
        "ts",
        "category",
        "amount",
        "order_id",
        pkey=customer.coalesce(joined.anonymous_id),
        pkind=ibis.ifelse(customer.isnull(), "a", "c"),
    ).filter(lambda t: t.pkey.notnull())


def orders(events: ir.Table) -> ir.Table:
    """Purchase lines grouped into orders: earliest line's time, summed amount."""
    lines = events.filter(events.type == PURCHASE)
    # A line without an order id is an order by itself: (NULL, its event id) keys it.
    single = ibis.ifelse(lines.order_id.isnull(), lines.event_id, ibis.null("string"))
    return (
        lines.mutate(single_line=single)
        .group_by([*KEYS, "order_id", "single_line"])
        .aggregate(order_ts=lambda t: t.ts.min(), order_amount=lambda t: t.amount.sum())
    )


def profile_inputs(src: Sources, ev: ir.Table, as_of: date, window_days: int) -> ir.Table:
    """One row per profile as of D: recency_days, frequency, monetary,
    n_orders_life, has_email, visited (SPEC §2–3 inputs); ``ev`` are the
    resolved events as of D (:func:`resolved_events`)."""
    start = ibis.timestamp(day_end(as_of) - timedelta(days=window_days))
    d = ibis.date(as_of)

    o = orders(ev)
    positive = o.filter(o.order_amount > 0)
    order_stats = positive.group_by(KEYS).aggregate(
        last_order_date=lambda t: t.order_ts.max().date(),
        frequency=lambda t: (t.order_ts >= start).sum(),
        n_orders_life=lambda t: t.count(),
        order_value_life=lambda t: t.order_amount.sum(),
    )
    event_stats = ev.group_by(KEYS).aggregate(
        monetary=lambda t: t.amount.sum(where=(t.type == PURCHASE) & (t.ts >= start)),
        visits=lambda t: ((t.type == VISIT) & (t.ts >= start)).sum(),
        signups=lambda t: (t.type == EMAIL_SIGNUP).sum(),
    )
    emails = known_emails(src, as_of)
    joined = _combine([event_stats, order_stats, emails])
    return joined.select(
        *KEYS,
        recency_days=d.delta(joined.last_order_date, unit="day").cast("int32"),
        frequency=joined.frequency.coalesce(0).cast("int64"),
        monetary=joined.monetary.cast("float64").coalesce(0.0),
        n_orders_life=joined.n_orders_life.coalesce(0).cast("int64"),
        order_value_life=joined.order_value_life.cast("float64").coalesce(0.0),
        has_email=joined.has_profile_email.coalesce(False) | (joined.signups.coalesce(0) > 0),
        visited=joined.visits.coalesce(0) > 0,
    )


def _combine(parts: list[ir.Table]) -> ir.Table:
    """Full outer join of per-profile tables on the profile key, as a union of the parts
    (each padded with the others' columns) and one aggregation: each key appears at
    most once per part, so ``max`` picks its value. One hash aggregation replaces a
    chain of joins, on every engine."""
    schemas = {
        name: dtype for part in parts for name, dtype in part.schema().items() if name not in KEYS
    }
    padded = [
        part.select(
            pkey=part.pkey.cast("string"),
            pkind=part.pkind.cast("string"),
            **{
                name: (part[name] if name in part.columns else ibis.null(dtype)).cast(dtype)
                for name, dtype in schemas.items()
            },
        )
        for part in parts
    ]
    stacked = padded[0]
    for part in padded[1:]:
        stacked = stacked.union(part)
    return stacked.group_by(KEYS).aggregate(
        **{name: (lambda c: lambda t: t[c].max())(name) for name in schemas}
    )


def known_emails(src: Sources, as_of: date) -> ir.Table:
    """Customers from the profiles table (signed up by D) and whether an email is known."""
    p = src.profiles
    signed_up = p.signup_at.isnull() | (p.signup_at < ibis.timestamp(day_end(as_of)))
    return (
        p.filter(signed_up)
        .group_by(pkey=p.customer_id)
        .aggregate(has_profile_email=lambda t: t.email.notnull().any())
        .mutate(pkind=ibis.literal("c"))
    )


def buyers(inputs: ir.Table) -> ir.Table:
    """Profiles with at least one positive order in their history."""
    return inputs.filter(inputs.n_orders_life >= 1)


def value_counts(inputs: ir.Table, column: str) -> ir.Table:
    """Distinct values of ``column`` over buyers with their counts (for cut points)."""
    b = buyers(inputs)
    return b.group_by(value=b[column]).aggregate(n=lambda t: t.count())


def _score(value: ir.NumericValue, cuts: tuple[float, ...], strict: bool = True) -> ir.IntegerValue:
    """``1 + #{k : value > cut_k}`` (``>=`` when ``strict`` is false)."""
    score: ir.IntegerValue = ibis.literal(1, type="int8")
    for cut in cuts:
        hit = value > cut if strict else value >= cut
        score = score + hit.cast("int8")
    return score.cast("int8")


def score(inputs: ir.Table, cal: RfmCalibration) -> ir.Table:
    """Add ``r_score``, ``f_score``, ``m_score`` (null for non-buyers)."""
    is_buyer = inputs.n_orders_life >= 1
    r = _score(-inputs.recency_days.cast("float64"), cal.r_cuts)
    f = _score(inputs.frequency.cast("float64"), cal.f_cuts, strict=cal.f_mode != "fixed")
    m = _score(inputs.monetary, cal.m_cuts)
    null = ibis.null("int8")
    return inputs.mutate(
        r_score=ibis.ifelse(is_buyer, r, null),
        f_score=ibis.ifelse(is_buyer, f, null),
        m_score=ibis.ifelse(is_buyer, m, null),
    )
