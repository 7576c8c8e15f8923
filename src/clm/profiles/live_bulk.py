"""Every stored event's facts, aggregated by the database in a few queries.

This is what :func:`clm.profiles.live.add_event` would build applying the events one
by one (tests compare the two), computed set-wise so that a server starts in seconds:
per id and scope the decayed sums anchored at the scope's latest event (the sums of
:mod:`clm.profiles.activity_state`, SPEC §4), per id its orders and line amounts per day
(:mod:`clm.profiles.ledger`), latest visit, signup events and counts by type; and the
Bloom filters of the stored event ids and order ids a bounded state checks against.
"""

from __future__ import annotations

from typing import Any

import duckdb

from clm.config import ActivitySection
from clm.profiles import activity_state, ledger
from clm.profiles.bloom import Bloom, hashes_of
from clm.profiles.idset import IdSet
from clm.profiles.ledger import Categories, Rules
from clm.profiles.live import ORDER_KEY_SQL, Facts

PURCHASE = "purchase"
_BATCH = 200_000

# Raw ids: an event belongs to its customer id, else to its visitor id (``anon``).
_EVENTS = """
SELECT coalesce(customer_id, anonymous_id) AS rid, customer_id IS NULL AS anon, type,
       epoch_us(ts) AS t, category, (amount * 10000)::BIGINT AS units, order_id, event_id
FROM events
"""
#: The server's filters grow by layers when full, so their false "maybe"s stay rare
#: however long the server runs (:mod:`clm.profiles.bloom`); a test may fix their size.
GROW = True


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _weight_sql(act: ActivitySection) -> str:
    """``w_e`` of SPEC §4 as SQL: purchase lines with a positive amount, else the type's."""
    others = " ".join(
        f"WHEN type = {_literal(t)} THEN {float(w)!r}"
        for t, w in act.weights.items()
        if t != PURCHASE
    )
    purchase = float(act.weights.get(PURCHASE, 1.0))
    return (
        f"CASE WHEN type = '{PURCHASE}' THEN CASE WHEN units > 0 THEN {purchase!r} ELSE 0.0 END "
        f"{others} ELSE 0.0 END"
    )


def activity_rows(con: duckdb.DuckDBPyConnection, act: ActivitySection) -> Any:
    """Per (id, scope): the anchor (latest event) and the four decayed sums there."""
    rate_s = activity_state.decay_rate(act.half_life_short)
    rate_l = activity_state.decay_rate(act.half_life_long)
    return con.sql(
        f"""
        WITH e AS ({_EVENTS}),
        w AS (SELECT rid, anon, category, t, {_weight_sql(act)} AS w,
                     CASE WHEN type = '{PURCHASE}' AND units > 0 THEN units / 10000.0
                          ELSE 0.0 END AS v FROM e),
        scoped AS (SELECT rid, anon, 'all' AS scope, t, w, v FROM w
                   UNION ALL
                   SELECT rid, anon, category, t, w, v FROM w WHERE category IS NOT NULL),
        anchored AS (SELECT *, max(t) OVER (PARTITION BY rid, anon, scope) AS t_ref FROM scoped)
        SELECT rid, anon, scope, max(t_ref) AS t_ref,
               sum(w * exp((t - t_ref) * {rate_s!r})) AS s_short,
               sum(w * exp((t - t_ref) * {rate_l!r})) AS s_long,
               sum(v * exp((t - t_ref) * {rate_s!r})) AS v_short,
               sum(v * exp((t - t_ref) * {rate_l!r})) AS v_long
        FROM anchored GROUP BY ALL
        """
    ).fetchall()


def facts(
    con: duckdb.DuckDBPyConnection,
    act: ActivitySection,
    categories: Categories,
    rules: Rules = ledger.UNBOUNDED,
) -> tuple[dict[str, Facts], dict[str, Facts], int | None]:
    """Customers' and visitors' facts from every stored event, and the latest event time."""
    customers: dict[str, Facts] = {}
    visitors: dict[str, Facts] = {}

    def of(rid: str, anon: bool) -> Facts:
        table = visitors if anon else customers
        found = table.get(rid)
        if found is None:
            found = table[rid] = Facts()
        return found

    for rid, anon, scope, t_ref, s_s, s_l, v_s, v_l in activity_rows(con, act):
        of(rid, anon).activity[scope] = activity_state.PACKED.pack(t_ref, s_s, s_l, v_s, v_l)
    _purchases(con, of, categories, rules)
    for rid, anon, kind, n, last in con.sql(
        f"WITH e AS ({_EVENTS}) SELECT rid, anon, type, count(*), max(t) FROM e GROUP BY ALL"
    ).fetchall():
        f = of(rid, anon)
        f.counts[kind] = int(n)
        if kind == "visit":
            f.last_visit = int(last)
        elif kind == "email_signup":
            f.signed_up = True
    latest = con.sql("SELECT max(epoch_us(ts)) FROM events").fetchall()[0][0]
    return customers, visitors, latest


_DAY = 86_400_000_000
# The day number of a time in µs, exactly (``%`` truncates toward zero in DuckDB).
_DAY_OF = f"((t - ((t % {_DAY}) + {_DAY}) % {_DAY}) // {_DAY})"


def _purchases(
    con: duckdb.DuckDBPyConnection, of: Any, categories: Categories, rules: Rules
) -> None:
    """Every id's ledger (:func:`clm.profiles.ledger.from_orders`) from its orders summed
    and its line amounts summed per day, both by the database."""
    purchases = f"""
        WITH e AS ({_EVENTS})
        SELECT rid, anon, {ORDER_KEY_SQL} AS okey, t,
               coalesce(units, 0) AS units, category
        FROM e WHERE type = '{PURCHASE}'
    """
    summed = con.sql(
        f"""
        WITH p AS ({purchases}),
        o AS (SELECT rid, anon, okey, min(t) AS first, sum(units) AS units, count(*) AS n,
                     list(DISTINCT category) FILTER (WHERE category IS NOT NULL) AS cats
              FROM p GROUP BY ALL)
        SELECT rid, anon, list(okey), list(first), list(units), list(n), list(cats)
        FROM o GROUP BY ALL
        """
    ).fetchall()
    days = {
        (rid, anon): dict(zip(d, u, strict=True))
        for rid, anon, d, u in con.sql(
            f"WITH p AS ({purchases}), g AS (SELECT rid, anon, {_DAY_OF} AS d, "
            "sum(units) AS u FROM p GROUP BY ALL) "
            "SELECT rid, anon, list(d), list(u) FROM g GROUP BY ALL"
        ).fetchall()
    }
    for rid, anon, keys, first, units, lines, cats in summed:
        masks = [_mask(categories, c) for c in cats]
        rows = list(zip(keys, first, (int(u) for u in units), lines, masks, strict=True))
        per_day = {int(d): int(u) for d, u in days[(rid, anon)].items()}
        of(rid, anon).purchases = ledger.from_orders(rows, per_day, rules)


def _mask(categories: Categories, names: list[str] | None) -> int:
    mask = 0
    for name in names or ():
        mask |= 1 << categories.code(name)
    return mask


def shared_order_keys(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Order ids with purchase lines under two ids (never folded: see
    :attr:`clm.profiles.live.LiveState.shared`)."""
    return {
        str(r[0])
        for r in con.sql(
            f"WITH e AS ({_EVENTS}) SELECT order_id FROM e WHERE type = '{PURCHASE}' "
            "AND order_id IS NOT NULL GROUP BY order_id HAVING count(DISTINCT (rid, anon)) > 1"
        ).fetchall()
    }


def order_keys(con: duckdb.DuckDBPyConnection, headroom: int) -> Bloom:
    """A Bloom filter of every stored order id, sized for ``headroom`` more (growing by
    layers beyond that, with :data:`GROW`)."""
    n = con.sql("SELECT count(DISTINCT order_id) FROM events").fetchall()[0][0]
    bloom = Bloom(int(n) + headroom, grow=GROW)
    reader = con.sql(
        f"SELECT DISTINCT order_id FROM events WHERE order_id IS NOT NULL AND type = '{PURCHASE}'"
    ).to_arrow_reader(_BATCH)
    for batch in reader:
        bloom.add_many(hashes_of(batch.column(0).to_pylist()))
    return bloom


def event_ids(con: duckdb.DuckDBPyConnection) -> IdSet:
    """Every stored event id (an unbounded live state's repeat check)."""
    ids = con.execute("SELECT event_id FROM events").fetchnumpy()["event_id"]
    return IdSet(ids.tolist())


def event_id_filter(con: duckdb.DuckDBPyConnection, headroom: int) -> Bloom:
    """A Bloom filter of every stored event id, sized for ``headroom`` more (growing by
    layers beyond that, with :data:`GROW`)."""
    n = con.sql("SELECT count(*) FROM events").fetchall()[0][0]
    bloom = Bloom(int(n) + headroom, grow=GROW)
    for batch in con.sql("SELECT event_id FROM events").to_arrow_reader(_BATCH):
        bloom.add_many(hashes_of(batch.column(0).to_pylist()))
    return bloom
