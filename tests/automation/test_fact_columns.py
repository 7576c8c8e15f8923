"""Facts as SQL columns (:mod:`clm.automation.fact_columns`) against the facts dicts.

Every field the columns read, for every known customer of a small demo world at times
before, between and after its scoring runs, must be the value (and the Python type: the
conditions compare text) that :meth:`clm.automation.facts.FactsCache.many` gives.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pyarrow as pa
import pytest

from clm import Workspace
from clm.automation import fact_columns
from clm.automation.conditions import ACTIVITY_FIELDS, CLV_FIELDS, SCORE_FIELDS
from clm.automation.facts import FactsCache, run_at
from tests.automation.test_bulk_paths import _known, _world


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def test_supported_fields() -> None:
    assert fact_columns.supported("attributes.card_usage")
    assert fact_columns.supported("affinity.beauty")
    assert fact_columns.supported("days_in_segment")
    assert not fact_columns.supported("top_category")  # picked in Python: the dicts read it
    assert fact_columns.fields_of(
        {"segment": "x", "any": [{"consent.sms": True}, {"not": {"segment": "y"}}]}
    ) == ["segment", "consent.sms"]


@pytest.mark.slow  # builds a small demo world: about 10 s
def test_columns_are_the_facts_dicts(ws: Workspace) -> None:
    runs = _world(ws)
    customers = [*_known(ws.con), "nobody"]
    scopes = [
        str(r[0])
        for r in ws.con.execute("SELECT DISTINCT scope FROM activity ORDER BY 1").fetchall()
    ]
    fields = [
        "customer_id",
        *fact_columns.PROFILE_FIELDS,
        "attributes.card_usage",
        "attributes.tier",
        "attributes.missing",
        "consent.email",
        "consent.sms",
        "consent.push",
        *SCORE_FIELDS,
        *CLV_FIELDS,
        *ACTIVITY_FIELDS,
        *(f"{f}.{s}" for f in ACTIVITY_FIELDS for s in scopes if s != "all"),
        "next_best_category",
        "days_since_signup",
        "days_in_segment",
    ]
    assert all(fact_columns.supported(f) for f in fields)
    times = [datetime(2026, 9, 1), datetime(2026, 10, 18, 3, 7), datetime(2026, 10, 26, 23, 59)]
    for t in times:
        run = run_at(runs, t)
        rows = pa.table(
            {
                "idx": pa.array(range(len(customers)), pa.int64()),
                "customer_id": customers,
                "ts": pa.array([t] * len(customers), pa.timestamp("us")),
                "run_id": pa.array([run[0] if run else None] * len(customers), pa.int64()),
            }
        )
        ws.con.register("rows_", rows)
        got = ws.con.execute(fact_columns.columns_sql(fields, "rows_") + " ORDER BY idx").fetchall()
        ws.con.unregister("rows_")
        facts = FactsCache(ws.con).many(customers, t)
        for cid, row in zip(customers, got, strict=True):
            for field, raw in zip(fields, row[1:], strict=True):
                want = facts[cid].get(field)
                assert _same(fact_columns.value(field, raw), want), (t, cid, field, raw, want)
