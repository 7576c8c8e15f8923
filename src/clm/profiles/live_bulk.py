"""Every stored event's facts, aggregated by the database in a few queries.

This is what :func:`clm.profiles.live.add_event` would build applying the events one
by one (tests compare the two), computed set-wise so that a server starts in seconds:
per id and scope the decayed sums anchored at the scope's latest event (the sums of
:mod:`clm.profiles.activity_state`, SPEC §4), per id its orders and line amounts per day
(:mod:`clm.profiles.ledger`; a bounded state's older orders folded by the database too,
so that Python reads a few rows per id however many orders it has), latest visit, signup
events and counts by type; and the Bloom filters of the stored event ids and order ids a
bounded state checks against.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from clm.config import ActivitySection
from clm.profiles import activity_state, ledger
from clm.profiles.bloom import Bloom, hashes_of
from clm.profiles.idset import IdSet
from clm.profiles.ledger import Categories, Ledger, Rules
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


def _day_of(column: str) -> str:
    """The day number of a time in µs, exactly (``%`` truncates toward zero in DuckDB)."""
    return f"(({column} - (({column} % {_DAY}) + {_DAY}) % {_DAY}) // {_DAY})"


_DAY_OF = _day_of("t")


def _purchases(
    con: duckdb.DuckDBPyConnection, of: Any, categories: Categories, rules: Rules
) -> None:
    """Every id's ledger, as :func:`clm.profiles.ledger.from_orders` builds it from the
    id's orders summed and its line amounts per day, with the folding done by the
    database: per id the ``rules.limit`` newest orders (by first line, then key) and the
    pinned ones come back one by one, the others as the folded aggregates, so that the
    rows read grow with the ids, not with their orders."""
    limit = "NULL" if rules.limit is None else str(int(rules.limit))
    floor = "NULL" if rules.floor is None else str(int(rules.floor))
    pinned = pa.table({"okey": pa.array(sorted(rules.pinned), pa.string())})
    con.register("_clm_pinned", pinned)
    try:
        summed = con.sql(_folded_sql(limit, floor)).fetchall()
        days = {
            (rid, anon): dict(zip(d, u, strict=True))
            for rid, anon, d, u in con.sql(
                f"WITH p AS ({_PURCHASES}), g AS (SELECT rid, anon, {_DAY_OF} AS d, "
                f"sum(units) AS u FROM p GROUP BY ALL) "
                f"SELECT rid, anon, list(d), list(u) FROM g "
                f"WHERE {floor} IS NULL OR d >= {floor} GROUP BY ALL"
            ).fetchall()
        }
    finally:
        con.unregister("_clm_pinned")
    for rid, anon, keys, first, units, lines, cats, folded, fd_d, fd_n in summed:
        out = Ledger()
        out.keys = list(keys)
        for t, u, n in zip(first, units, lines, strict=True):
            out.nums.extend((int(t), int(u), int(n)))
        out.masks = [_mask(categories, c) for c in cats]
        out.days = {int(d): int(u) for d, u in days.get((rid, anon), {}).items()}
        count, last, newest, folded_lines = folded
        out.folded, out.folded_last, out.folded_newest = int(count), last, newest
        out.folded_lines = int(folded_lines)
        out.folded_days = {int(d): int(n) for d, n in zip(fd_d, fd_n, strict=True)}
        of(rid, anon).purchases = out


_PURCHASES = f"""
    WITH e AS ({_EVENTS})
    SELECT rid, anon, {ORDER_KEY_SQL} AS okey, t, coalesce(units, 0) AS units, category
    FROM e WHERE type = '{PURCHASE}'
"""


def _folded_sql(limit: str, floor: str) -> str:
    """Per id: the kept orders' keys, first times, amounts, lines and categories (newest
    first), the folded ones' positive count, newest positive first time, newest first
    time and lines, and their positive count per first day from ``floor`` on."""
    return f"""
        WITH p AS ({_PURCHASES}),
        o AS (SELECT rid, anon, okey, min(t) AS first, sum(units) AS units, count(*) AS n
              FROM p GROUP BY ALL),
        r AS (SELECT o.*, pin.okey IS NOT NULL AS pinned FROM o
              LEFT JOIN _clm_pinned pin ON o.okey = pin.okey),
        k AS (SELECT *, pinned OR {limit} IS NULL OR row_number() OVER (
                  PARTITION BY rid, anon, pinned ORDER BY first DESC, okey) <= {limit} AS kept
              FROM r),
        c AS (SELECT rid, anon, okey,
                     list(DISTINCT p.category) FILTER (WHERE p.category IS NOT NULL) AS cats
              FROM k JOIN p USING (rid, anon, okey) WHERE k.kept GROUP BY ALL),
        fd AS (SELECT rid, anon, list(d) AS fd_d, list(n) AS fd_n FROM (
                  SELECT rid, anon, {_day_of("first")} AS d, count(*) AS n FROM k
                  WHERE NOT kept AND units > 0 GROUP BY ALL)
               WHERE {floor} IS NULL OR d >= {floor} GROUP BY ALL),
        f AS (SELECT k.rid, k.anon,
                     list(k.okey ORDER BY k.first DESC, k.okey) FILTER (WHERE kept) AS keys,
                     list(k.first ORDER BY k.first DESC, k.okey) FILTER (WHERE kept) AS firsts,
                     list(k.units ORDER BY k.first DESC, k.okey) FILTER (WHERE kept) AS units,
                     list(k.n ORDER BY k.first DESC, k.okey) FILTER (WHERE kept) AS lines,
                     list(c.cats ORDER BY k.first DESC, k.okey) FILTER (WHERE kept) AS cats,
                     (count(*) FILTER (WHERE NOT kept AND k.units > 0),
                      max(k.first) FILTER (WHERE NOT kept AND k.units > 0),
                      max(k.first) FILTER (WHERE NOT kept),
                      coalesce(sum(k.n) FILTER (WHERE NOT kept), 0)) AS folded
              FROM k LEFT JOIN c USING (rid, anon, okey) GROUP BY k.rid, k.anon)
        SELECT f.rid, f.anon, coalesce(keys, []), coalesce(firsts, []),
               coalesce(units, []), coalesce(lines, []), coalesce(cats, []), folded,
               coalesce(fd_d, []), coalesce(fd_n, [])
        FROM f LEFT JOIN fd USING (rid, anon)
    """


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
    layers beyond that, with :data:`GROW`). An order's lines add its id again (no
    ``DISTINCT``: the hash aggregate cost more than the repeated keys), and the filter is
    sized for the lines, at least as many as the orders."""
    where = f"WHERE order_id IS NOT NULL AND type = '{PURCHASE}'"
    n = con.sql(f"SELECT count(*) FROM events {where}").fetchall()[0][0]
    return _filled(con, f"SELECT order_id FROM events {where}", int(n) + headroom)


def event_ids(con: duckdb.DuckDBPyConnection) -> IdSet:
    """Every stored event id (an unbounded live state's repeat check)."""
    ids = con.execute("SELECT event_id FROM events").fetchnumpy()["event_id"]
    return IdSet(ids.tolist())


def event_id_filter(con: duckdb.DuckDBPyConnection, headroom: int) -> Bloom:
    """A Bloom filter of every stored event id, sized for ``headroom`` more (growing by
    layers beyond that, with :data:`GROW`)."""
    n = con.sql("SELECT count(*) FROM events").fetchall()[0][0]
    return _filled(con, "SELECT event_id FROM events", int(n) + headroom)


def _filled(con: duckdb.DuckDBPyConnection, sql: str, capacity: int) -> Bloom:
    """A filter for ``capacity`` keys holding the keys of a one-column query."""
    bloom = Bloom(capacity, grow=GROW)
    for batch in con.sql(sql).to_arrow_reader(_BATCH):
        bloom.add_many(hashes_of(batch.column(0).to_pylist()))
    return bloom
