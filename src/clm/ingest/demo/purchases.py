"""Purchases: seasonal Poisson order times while active, orders split into lines
with complements and lognormal amounts, and refunds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from clm.ingest.demo.calendar import Calendar, time_of_day
from clm.ingest.demo.population import Population, categories
from clm.ingest.demo.tables import (
    CATEGORIES,
    CATEGORY_TABLE,
    COMPLEMENT,
    CUSTOMER,
    HORIZON_DAYS,
    FloatArray,
    IntArray,
)


def poisson_times(
    who: IntArray,
    a: FloatArray,
    b: FloatArray,
    per_year: FloatArray,
    rng: np.random.Generator,
    cal: Calendar,
) -> tuple[IntArray, FloatArray]:
    """Event times of seasonal Poisson processes, one per span ``[a, b)``."""
    b = np.maximum(a, b)
    counts = rng.poisson(per_year / 365.0 * cal.mass(a, b))
    idx = np.repeat(np.arange(who.size), counts)
    return who[idx], cal.sample(a[idx], b[idx], rng)


def order_times(
    pop: Population, rng: np.random.Generator, cal: Calendar
) -> tuple[IntArray, FloatArray]:
    """Orders ``(profile, time)`` sorted by time: the first order at acquisition,
    one at each reactivation, and Poisson orders while active."""
    cust = np.flatnonzero(pop.kind == CUSTOMER)
    again = cust[~np.isnan(pop.back[cust])]
    w1, t1 = poisson_times(cust, pop.start[cust], pop.end[cust], pop.rate[cust], rng, cal)
    w2, t2 = poisson_times(
        again, pop.back[again], pop.back_end[again], 0.7 * pop.rate[again], rng, cal
    )
    drawn_who = np.concatenate([w1, w2])
    drawn = time_of_day(np.concatenate([t1, t2]), pop.offsets[drawn_who], rng)
    who = np.concatenate([cust, again, drawn_who])
    t = np.concatenate([pop.start[cust], pop.back[again], np.maximum(drawn, pop.start[drawn_who])])
    order = np.argsort(t, kind="stable")
    return who[order], t[order]


@dataclass(frozen=True)
class Lines:
    """Purchase lines: order number, line number, profile, time, category, amount."""

    order: IntArray
    line: IntArray
    who: IntArray
    t: FloatArray
    category: npt.NDArray[np.int8]
    amount: FloatArray


def order_lines(who: IntArray, t: FloatArray, pop: Population, rng: np.random.Generator) -> Lines:
    """Split orders into 1-4 lines; a later line is the first line's complement with
    probability 0.35; amounts are lognormal per category times the spend level."""
    n_lines = rng.choice(4, size=who.size, p=[0.55, 0.25, 0.13, 0.07]) + 1
    order = np.repeat(np.arange(who.size), n_lines)
    first = np.cumsum(n_lines) - n_lines
    line = np.arange(order.size) - first[order] + 1
    line_who, line_t = who[order], t[order]
    category = categories(pop, line_who, line_t, rng)
    complement = np.array([CATEGORIES.index(COMPLEMENT.get(c, c)) for c in CATEGORIES])
    paired = complement[category[first]][order]
    use = (line > 1) & (paired != category[first][order]) & (rng.random(order.size) < 0.35)
    category = np.where(use, paired, category).astype(np.int8)
    median = np.log(np.array([CATEGORY_TABLE[c][1] for c in CATEGORIES]))[category]
    sigma = np.array([CATEGORY_TABLE[c][2] for c in CATEGORIES])[category]
    amount = np.exp(median + sigma * rng.standard_normal(order.size)) * pop.spend[line_who]
    return Lines(order, line, line_who, line_t, category, np.maximum(np.round(amount, 2), 0.5))


def refunds(lines: Lines, rng: np.random.Generator) -> Lines:
    """About 3% of lines come back 2-30 days later (those due after the end do not)."""
    picked = np.flatnonzero(rng.random(lines.t.size) < 0.03)
    t = lines.t[picked] + rng.uniform(2.0, 30.0, picked.size)
    keep = picked[t < HORIZON_DAYS]
    t = t[t < HORIZON_DAYS]
    return Lines(
        np.arange(keep.size),
        np.ones(keep.size, dtype=np.int64),
        lines.who[keep],
        t,
        lines.category[keep],
        -lines.amount[keep],
    )
