"""Frames: the simulated profiles, lines and events as the customers,
transactions and events tables to import, with deterministic string ids."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from clm.ingest.demo.calendar import Calendar
from clm.ingest.demo.population import Population
from clm.ingest.demo.purchases import Lines
from clm.ingest.demo.sessions import Events
from clm.ingest.demo.tables import (
    ANONYMOUS,
    CATEGORIES,
    EVENT_TYPES,
    VISITOR,
    ZONES,
    BoolArray,
    IntArray,
)


def ids(prefix: str, numbers: IntArray, width: int = 8, null: BoolArray | None = None) -> pa.Array:
    """Deterministic string ids: ``prefix`` and the zero-padded number (null where ``null``)."""
    digits = pa.array(numbers, pa.int64(), mask=null).cast(pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(digits, width=width, padding="0"), "")


def labels(names: tuple[str, ...], codes: npt.NDArray[np.int8]) -> pa.DictionaryArray:
    """Category or type names for codes (-1 is null), dictionary-encoded (a pandas
    categorical: a byte per row)."""
    return pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), pa.array(names))


def customers_frame(pop: Population, rng: np.random.Generator, cal: Calendar) -> pd.DataFrame:
    """One row per known profile (customers and known visitors): traits, consent,
    the anonymous id it links, and free attributes."""
    idx = np.flatnonzero(pop.kind != ANONYMOUS)
    n = idx.size
    has_email = (pop.kind[idx] == VISITOR) | (rng.random(n) < 0.92)
    has_phone = rng.random(n) < 0.55
    domains = pc.take(
        pa.array(["example.com", "example.org", "example.net"]), pa.array(rng.integers(0, 3, n))
    )
    customer_id = ids("C", idx)
    email = pc.binary_join_element_wise(ids("c", idx, null=~has_email), domains, "@")
    phone = ids("+49 151 ", rng.integers(0, 10**8, n), null=~has_phone)
    zone = pop.zone[idx]
    frame = pd.DataFrame(
        {
            "customer_id": customer_id,
            "email": email,
            "phone": phone,
            "signup_at": cal.timestamps(pop.start[idx]),
            "timezone": [ZONES[z][0] for z in zone],
            "consent_email": _consent(has_email, rng.random(n) < 0.8),
            "consent_sms": _consent(has_phone, rng.random(n) < 0.35),
            "consent_push": _consent(rng.random(n) < 0.5, rng.random(n) < 0.5),
            "anonymous_id": ids("A", idx, null=~pop.linked[idx]),
        }
    )
    for name, values in attributes(pop, idx, rng).items():
        frame[name] = values
    return frame


def _consent(asked: BoolArray, granted: BoolArray) -> pd.arrays.BooleanArray:
    """Consent where it was asked (null otherwise: not contactable)."""
    return pd.arrays.BooleanArray(granted.copy(), ~asked)


def attributes(pop: Population, idx: IntArray, rng: np.random.Generator) -> dict[str, object]:
    """Free attributes: age, gender, income, city and how often the card is used."""
    n = idx.size
    return {
        "age": np.clip(np.round(rng.normal(41.0, 13.0, n)), 18, 85).astype(np.int64),
        "gender": rng.choice(["female", "male", "diverse"], n, p=[0.51, 0.47, 0.02]),
        "income": pop.income[idx].astype(np.int64),
        "city": [ZONES[z][2] for z in pop.zone[idx]],
        "card_usage": rng.choice(
            ["never", "rare", "regular", "frequent"], n, p=[0.15, 0.30, 0.35, 0.20]
        ),
    }


def transactions_frame(lines: Lines, returned: Lines, cal: Calendar) -> pd.DataFrame:
    """Purchase lines and refunds, by time: ``O…`` orders, ``R…`` refund orders."""
    order_id = pa.concat_arrays([ids("O", lines.order, 9), ids("R", returned.order, 9)])
    line = pa.array(np.concatenate([lines.line, returned.line])).cast(pa.string())
    t = np.concatenate([lines.t, returned.t])
    sort = pa.array(np.argsort(t, kind="stable"))
    table = pa.table(
        {
            "event_id": pc.binary_join_element_wise(order_id, line, "-"),
            "customer_id": ids("C", np.concatenate([lines.who, returned.who])),
            "order_id": order_id,
            "ts": pa.array(cal.timestamps(t)),
            "category": labels(CATEGORIES, np.concatenate([lines.category, returned.category])),
            "amount": np.concatenate([lines.amount, returned.amount]),
        }
    ).take(sort)
    return table.to_pandas()


def events_frame(events: Events, cal: Calendar) -> pd.DataFrame:
    """Events by time with ids ``E…``; anonymous ones carry only the anonymous id."""
    sort = np.argsort(events.t, kind="stable")
    who, anonymous = events.who[sort], events.anonymous[sort]
    table = pa.table(
        {
            "event_id": ids("E", np.arange(sort.size), 10),
            "type": labels(EVENT_TYPES, events.type[sort]),
            "customer_id": ids("C", who, null=anonymous),
            "anonymous_id": ids("A", who, null=~anonymous),
            "ts": pa.array(cal.timestamps(events.t[sort])),
            "category": labels(CATEGORIES, events.category[sort]),
        }
    )
    return table.to_pandas()
