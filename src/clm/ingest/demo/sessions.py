"""Sessions: visits and product views around orders, browsing while active and
after lapsing, anonymous visits before identifying, and email signups."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from clm.ingest.demo.calendar import Calendar, time_of_day
from clm.ingest.demo.population import Population, categories
from clm.ingest.demo.purchases import Lines, poisson_times
from clm.ingest.demo.tables import (
    ANONYMOUS,
    CUSTOMER,
    EMAIL_SIGNUP,
    HORIZON_DAYS,
    MINUTE,
    PRODUCT_VIEW,
    VISIT,
    VISITOR,
    BoolArray,
    FloatArray,
    IntArray,
)


@dataclass(frozen=True)
class Events:
    """Non-purchase events: profile, under the anonymous id or not, type, time, category
    (-1 for none)."""

    who: IntArray
    anonymous: BoolArray
    type: npt.NDArray[np.int8]
    t: FloatArray
    category: npt.NDArray[np.int8]

    @staticmethod
    def concat(parts: list[Events]) -> Events:
        return Events(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ("who", "anonymous", "type", "t", "category")
            )
        )


def sessions(
    who: IntArray,
    t: FloatArray,
    anonymous: BoolArray,
    pop: Population,
    rng: np.random.Generator,
    views: float = 1.0,
) -> Events:
    """A visit at each time and Poisson(``views``) product views in the next 20 minutes."""
    n_views = rng.poisson(views, who.size)
    idx = np.repeat(np.arange(who.size), n_views)
    view_t = t[idx] + rng.uniform(0.0, 20.0, idx.size) * MINUTE
    idx, view_t = idx[view_t < HORIZON_DAYS], view_t[view_t < HORIZON_DAYS]
    view_who = who[idx]
    return Events(
        np.concatenate([who, view_who]),
        np.concatenate([anonymous, anonymous[idx]]),
        np.repeat(np.array([VISIT, PRODUCT_VIEW], dtype=np.int8), [who.size, idx.size]),
        np.concatenate([t, view_t]),
        np.concatenate([np.full(who.size, -1, np.int8), categories(pop, view_who, view_t, rng)]),
    )


def purchase_sessions(
    orders: tuple[IntArray, FloatArray], lines: Lines, rng: np.random.Generator
) -> Events:
    """A visit 2-40 minutes before each order; a view of 60% of its lines in between."""
    who, t = orders
    gap = rng.uniform(2.0, 40.0, who.size) * MINUTE
    viewed = np.flatnonzero(rng.random(lines.t.size) < 0.6)
    view_t = lines.t[viewed] - gap[lines.order[viewed]] * rng.random(viewed.size)
    n, m = who.size, viewed.size
    return Events(
        np.concatenate([who, lines.who[viewed]]),
        np.zeros(n + m, dtype=bool),
        np.repeat(np.array([VISIT, PRODUCT_VIEW], dtype=np.int8), [n, m]),
        np.maximum(np.concatenate([t - gap, view_t]), 0.0),
        np.concatenate([np.full(n, -1, np.int8), lines.category[viewed]]),
    )


def browsing(pop: Population, rng: np.random.Generator, cal: Calendar) -> Events:
    """Sessions without a purchase: customers while active (1 + 0.5 x their order
    rate a year) and after lapsing (0.3 a year); known visitors after signing up
    (1.5 a year)."""
    cust = np.flatnonzero(pop.kind == CUSTOMER)
    again = cust[~np.isnan(pop.back[cust])]
    visitors = np.flatnonzero(pop.kind == VISITOR)
    horizon = np.full(cust.size, float(HORIZON_DAYS))
    spans = [
        (cust, pop.start[cust], pop.end[cust], 1.0 + 0.5 * pop.rate[cust]),
        (again, pop.back[again], pop.back_end[again], 1.0 + 0.35 * pop.rate[again]),
        (cust, pop.end[cust], horizon, np.full(cust.size, 0.3)),
        (
            visitors,
            pop.start[visitors],
            np.full(visitors.size, float(HORIZON_DAYS)),
            np.full(visitors.size, 1.5),
        ),
    ]
    drawn = [poisson_times(w, a, b, r, rng, cal) for w, a, b, r in spans]
    who = np.concatenate([d[0] for d in drawn])
    t = np.maximum(
        time_of_day(np.concatenate([d[1] for d in drawn]), pop.offsets[who], rng), pop.start[who]
    )
    return sessions(who, t, np.zeros(who.size, dtype=bool), pop, rng)


def before_identifying(pop: Population, rng: np.random.Generator) -> Events:
    """Anonymous sessions of linked profiles in the 30 days before their first contact."""
    linked = np.flatnonzero(pop.linked)
    idx = np.repeat(linked, 1 + rng.poisson(1.5, linked.size))
    t = time_of_day(pop.start[idx] - rng.uniform(0.0, 30.0, idx.size), pop.offsets[idx], rng)
    t = np.minimum(t, pop.start[idx] - 30.0 * MINUTE)
    keep = t >= 0.0
    return sessions(idx[keep], t[keep], np.ones(int(keep.sum()), dtype=bool), pop, rng)


def anonymous_visits(pop: Population, rng: np.random.Generator) -> Events:
    """Anonymous visitors: a first session, then Poisson(1) more within 45 days."""
    visitors = np.flatnonzero(pop.kind == ANONYMOUS)
    more = np.repeat(visitors, rng.poisson(1.0, visitors.size))
    later = pop.start[more] + rng.uniform(0.0, 45.0, more.size)
    keep = later < HORIZON_DAYS
    more = more[keep]
    later = np.maximum(time_of_day(later[keep], pop.offsets[more], rng), pop.start[more])
    who = np.concatenate([visitors, more])
    t = np.concatenate([pop.start[visitors], later])
    return sessions(who, t, np.ones(who.size, dtype=bool), pop, rng, views=1.5)


def signups(pop: Population) -> Events:
    """An ``email_signup`` event when a known visitor leaves an email."""
    visitors = np.flatnonzero(pop.kind == VISITOR)
    n = visitors.size
    return Events(
        visitors,
        np.zeros(n, dtype=bool),
        np.full(n, EMAIL_SIGNUP, np.int8),
        pop.start[visitors],
        np.full(n, -1, np.int8),
    )
