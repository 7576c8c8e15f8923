"""The seed customer: the same scripted profile, purchases and events in every
world, the fashion buyer whose beauty interest rises (the demo's story)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from clm.ingest.demo.calendar import Calendar
from clm.ingest.demo.tables import HORIZON_DAYS, MINUTE, FloatArray

SEED_CUSTOMER_ID = "C-SEED-0001"

# (days before the end of the as-of date, category, amount)
SEED_PURCHASES = (
    (700.2, "fashion", 59.90),
    (640.3, "beauty", 19.90),
    (560.2, "fashion", 84.50),
    (500.4, "grocery", 42.10),
    (420.2, "fashion", 39.99),
    (300.3, "fashion", 120.00),
    (250.2, "grocery", 37.60),
    (190.3, "fashion", 64.90),
    (80.2, "beauty", 34.50),
    (75.3, "fashion", 49.90),
    (52.2, "beauty", 27.80),
    (33.3, "beauty", 45.00),
    (19.2, "beauty", 38.90),
    (9.3, "beauty", 52.40),
    (3.2, "beauty", 29.90),
)
# days before the end: beauty views ever more often over the last three months
SEED_BEAUTY_VIEWS = np.round(1.2 + 88.0 * (1.0 - np.sqrt(np.arange(18) / 18.0)), 2)
SEED_FASHION_VIEWS = (705.1, 562.3, 421.1, 301.2, 191.1, 76.2)
SEED_ANONYMOUS_VISITS = (712.3, 706.1)
SEED_SIGNUP = 700.25


def seed_customer(cal: Calendar) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The seed customer's profile, purchases and events (the same in every world)."""
    at = cal.timestamps
    customer = pd.DataFrame(
        {
            "customer_id": [SEED_CUSTOMER_ID],
            "email": ["c-seed-0001@example.com"],
            "phone": ["+49 151 00000001"],
            "signup_at": at(np.array([HORIZON_DAYS - SEED_SIGNUP])),
            "timezone": ["Europe/Berlin"],
            "consent_email": pd.array([True], dtype="boolean"),
            "consent_sms": pd.array([False], dtype="boolean"),
            "consent_push": pd.array([True], dtype="boolean"),
            "anonymous_id": ["A-SEED-0001"],
            "age": [38],
            "gender": ["female"],
            "income": [65_000],
            "city": ["Berlin"],
            "card_usage": ["rare"],
        }
    )
    days = np.array([d for d, _, _ in SEED_PURCHASES])
    orders = [f"SEED-O-{k:02d}" for k in range(1, days.size + 1)]
    purchases = pd.DataFrame(
        {
            "event_id": [f"{o}-1" for o in orders],
            "customer_id": SEED_CUSTOMER_ID,
            "order_id": orders,
            "ts": at(HORIZON_DAYS - days),
            "category": [c for _, c, _ in SEED_PURCHASES],
            "amount": [a for _, _, a in SEED_PURCHASES],
        }
    )
    return customer, purchases, seed_events(cal, days)


def seed_events(cal: Calendar, purchase_days: FloatArray) -> pd.DataFrame:
    """Her visits before each purchase and view, the views, and two anonymous visits."""
    view_days = np.concatenate([SEED_BEAUTY_VIEWS, SEED_FASHION_VIEWS])
    view_categories = ["beauty"] * SEED_BEAUTY_VIEWS.size + ["fashion"] * len(SEED_FASHION_VIEWS)
    visit_days = np.concatenate([purchase_days, view_days]) + 5.0 * MINUTE
    anon_days = np.array(SEED_ANONYMOUS_VISITS)
    days = np.concatenate([visit_days, view_days, anon_days])
    n_visits, n_views, n_anon = visit_days.size, view_days.size, anon_days.size
    return pd.DataFrame(
        {
            "event_id": [f"SEED-E-{k:03d}" for k in range(1, days.size + 1)],
            "type": ["visit"] * n_visits + ["product_view"] * n_views + ["visit"] * n_anon,
            "customer_id": [SEED_CUSTOMER_ID] * (n_visits + n_views) + [None] * n_anon,
            "anonymous_id": [None] * (n_visits + n_views) + ["A-SEED-0001"] * n_anon,
            "ts": cal.timestamps(HORIZON_DAYS - days),
            "category": [None] * n_visits + view_categories + [None] * n_anon,
        }
    )
