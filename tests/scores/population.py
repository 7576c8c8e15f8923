"""A small random population for engine and history tests (seeded, reproducible)."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

START = datetime(2023, 1, 1)


def purchases(seed: int, n_customers: int = 400, n_lines: int = 3000) -> pd.DataFrame:
    """Purchase lines over two years: multi-line orders, refunds, ties in amounts."""
    rng = np.random.default_rng(seed)
    customer = rng.integers(0, n_customers, n_lines)
    seconds = rng.integers(0, 730 * 86400, n_lines)
    amount = np.round(
        rng.choice([5.0, 10.0, 19.99, 25.5, 100.0], n_lines) * rng.integers(1, 4, n_lines), 2
    )
    refund = rng.random(n_lines) < 0.05
    amount[refund] = -amount[refund]
    order = rng.integers(0, n_lines // 2, n_lines)
    return pd.DataFrame(
        {
            "customer_id": [f"c{c:04d}" for c in customer],
            "ts": [START + timedelta(seconds=int(s)) for s in seconds],
            "amount": amount,
            # one order id per customer and order number: lines of an order share it
            "order_id": [
                f"o{c}-{o % 40}" if rng_o else None
                for c, o, rng_o in zip(customer, order, rng.random(n_lines) < 0.7, strict=True)
            ],
            "category": rng.choice(["fashion", "beauty", "home", "books"], n_lines),
        }
    )


def visits(seed: int, n: int = 600) -> pd.DataFrame:
    """Visits of known customers (some without purchases) and anonymous visitors."""
    rng = np.random.default_rng(seed + 1)
    known = rng.random(n) < 0.6
    return pd.DataFrame(
        {
            "customer_id": [
                f"c{c:04d}" if k else None
                for c, k in zip(rng.integers(0, 500, n), known, strict=True)
            ],
            "anonymous_id": [
                None if k else f"v{a:03d}"
                for a, k in zip(rng.integers(0, 150, n), known, strict=True)
            ],
            "ts": [START + timedelta(seconds=int(s)) for s in rng.integers(0, 730 * 86400, n)],
        }
    )


def customers(seed: int) -> pd.DataFrame:
    """Customer records, some with an email, some who never bought."""
    rng = np.random.default_rng(seed + 2)
    ids = [f"c{c:04d}" for c in range(0, 520, 3)]
    return pd.DataFrame(
        {
            "customer_id": ids,
            "email": [f"{i}@example.com" if rng.random() < 0.5 else None for i in ids],
        }
    )
