"""The demo world: a synthetic shop population to try clm on (``clm demo``).

:func:`generate` simulates the two years before an as-of date for a population
of profiles; :func:`build` imports it into a workspace through the public API
and scores it. The simulation is vectorized (no loop over purchases or
profiles), deterministic for a seed, and every id in it is a deterministic
string, so building the same world twice imports nothing new.

What it models
--------------
- **Profiles** of three kinds: anonymous visitors (visits and product views
  under an ``anonymous_id`` only), known visitors (left an email, never bought)
  and customers (bought at least once).
- **Acquisition**: first contacts spread over the two years by a growing
  business (the acquisition rate quadruples) with a seasonal calendar: a
  Black-Friday-to-Christmas peak, a summer bump, a January dip, busier weekends.
- **Purchases**: while active, a customer orders as a Poisson process whose
  rate is a latent activity level drawn from a Gamma distribution (the
  heterogeneity of Pareto/NBD, Schmittlein, Morrison & Colombo 1987), modulated
  by the calendar. About a fifth of customers buy once and never again.
- **Lapsing and reactivation**: an exponential lifetime (a constant churn
  hazard) ends the active period; some lapsed customers come back after a
  dormancy for a second, shorter active period. A cohort of formerly heavy
  buyers stopped between three and twelve months ago: the customers the
  "Cannot-lose" and "At Risk" segments are about.
- **Categories**: each profile has Dirichlet preferences over the categories;
  latent traits make pairs bought together (fashion and beauty, home and
  garden, toys and books); preferences drift from an early to a late vector
  over the two years (beauty and travel grow, electronics and books shrink).
- **Orders** of 1-4 lines; a later line is often the complement of the first
  (a lipstick with the dress). Line amounts are lognormal per category, scaled
  by a personal spend level that rises with income. About 3% of lines are
  refunded later, as a negative line in an order of its own.
- **Sessions**: a visit (and product views) before each order, browsing
  sessions while active and, rarely, after lapsing; the anonymous visits of
  customers and known visitors before they identified themselves are linked by
  the customer import. Local time of day follows a diurnal curve in the
  profile's time zone (standard offsets; daylight saving time is ignored).
- **The seed customer** (:data:`SEED_CUSTOMER_ID`): a 38-year-old woman with an
  income of 65,000 who rarely uses her credit card; a fashion buyer for two
  years whose beauty purchases and views accelerate over the last three months.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from clm.progress import NoProgress, Progress

if TYPE_CHECKING:
    from clm.workspace import Workspace

__all__ = ["DEFAULT_AS_OF", "SEED_CUSTOMER_ID", "DemoWorld", "build", "generate"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

HORIZON_DAYS = 730
ACQUISITION_GROWTH = 4.0  # acquisitions a day at the end of the horizon / at its start
SEED_CUSTOMER_ID = "C-SEED-0001"
DEFAULT_AS_OF = date(2026, 10, 31)

# category: (popularity, median line amount, log-sd of the line amount)
CATEGORY_TABLE: dict[str, tuple[float, float, float]] = {
    "fashion": (1.0, 45.0, 0.6),
    "beauty": (0.8, 25.0, 0.5),
    "electronics": (0.6, 160.0, 0.9),
    "home": (0.8, 55.0, 0.8),
    "grocery": (1.2, 35.0, 0.4),
    "sports": (0.6, 50.0, 0.7),
    "books": (0.6, 16.0, 0.4),
    "toys": (0.5, 28.0, 0.6),
    "garden": (0.4, 40.0, 0.8),
    "travel": (0.25, 380.0, 0.6),
    "pets": (0.5, 30.0, 0.5),
}
CATEGORIES = tuple(CATEGORY_TABLE)
TREND = {"beauty": 1.5, "travel": 1.5, "electronics": 0.7, "books": 0.8}
COMPLEMENT = {
    "fashion": "beauty",
    "beauty": "fashion",
    "home": "garden",
    "garden": "home",
    "toys": "books",
    "books": "toys",
}

# time zone, standard UTC offset in hours, city, share of profiles
ZONES: tuple[tuple[str, int, str, float], ...] = (
    ("Europe/Berlin", 1, "Berlin", 0.22),
    ("Europe/Berlin", 1, "Munich", 0.08),
    ("Europe/London", 0, "London", 0.18),
    ("Europe/Paris", 1, "Paris", 0.12),
    ("America/New_York", -5, "New York", 0.15),
    ("America/Los_Angeles", -8, "Los Angeles", 0.12),
    ("Asia/Tokyo", 9, "Tokyo", 0.06),
    ("Australia/Sydney", 10, "Sydney", 0.07),
)
# relative activity by local hour: night and morning (0-11), afternoon and evening (12-23)
DIURNAL = np.array(
    [
        (1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.0, 2.0, 3.0, 4.0, 4.5, 5.0),
        (5.5, 5.0, 4.5, 4.5, 5.0, 5.5, 6.5, 7.5, 8.0, 7.0, 5.0, 2.5),
    ]
).ravel()

ANONYMOUS, VISITOR, CUSTOMER = 0, 1, 2
VISIT, PRODUCT_VIEW, EMAIL_SIGNUP = 0, 1, 2
EVENT_TYPES = ("visit", "product_view", "email_signup")
MINUTE = 1.0 / 1440.0


@dataclass(frozen=True)
class Affinity:
    """A latent trait that makes a group of categories bought together: holders
    weigh the group ``boost`` times more in their Dirichlet preferences, the
    others ``damp`` times."""

    categories: tuple[str, ...]
    prevalence: float
    boost: float
    damp: float


AFFINITIES = (
    Affinity(("fashion", "beauty"), 0.30, 10.0, 0.1),
    Affinity(("home", "garden"), 0.30, 2.0, 0.8),
    Affinity(("toys", "books"), 0.25, 2.0, 0.8),
)


@dataclass(frozen=True)
class DemoWorld:
    """A generated population: the frames to import, the as-of date to score at,
    and the id of the seed customer whose story the demo tells."""

    customers: pd.DataFrame
    transactions: pd.DataFrame
    events: pd.DataFrame
    as_of: date
    seed_customer_id: str


# -- the calendar ------------------------------------------------------------------------


@dataclass(frozen=True)
class Calendar:
    """The horizon's day grid; times are days since its start (float).

    ``season`` and ``growth`` are cumulative intensities at the day boundaries:
    seasonality alone (mean 1 per day) for purchases and visits, and seasonality
    times business growth for acquisitions. Sampling inverts them, so times
    follow the intensity exactly (a non-homogeneous Poisson process).
    """

    start: np.datetime64
    season: FloatArray
    growth: FloatArray

    @classmethod
    def ending(cls, as_of: date) -> Calendar:
        end = datetime.combine(as_of + timedelta(days=1), time())
        start = np.datetime64(end - timedelta(days=HORIZON_DAYS), "s")
        days = start.astype("datetime64[D]") + np.arange(HORIZON_DAYS)
        intensity = seasonality(days)
        grown = intensity * ACQUISITION_GROWTH ** (np.arange(HORIZON_DAYS) / HORIZON_DAYS)
        return cls(start, _cumulative(intensity), _cumulative(grown))

    def mass(self, a: FloatArray, b: FloatArray) -> FloatArray:
        """Seasonal intensity integrated over ``[a, b)``, in mean days."""
        grid = np.arange(HORIZON_DAYS + 1, dtype=np.float64)
        return np.interp(b, grid, self.season) - np.interp(a, grid, self.season)

    def sample(
        self, a: FloatArray, b: FloatArray, rng: np.random.Generator, growth: bool = False
    ) -> FloatArray:
        """One time in each ``[a, b)`` with density proportional to the intensity."""
        cum = self.growth if growth else self.season
        grid = np.arange(HORIZON_DAYS + 1, dtype=np.float64)
        u = rng.uniform(np.interp(a, grid, cum), np.interp(b, grid, cum))
        return np.interp(u, cum, grid)

    def timestamps(self, t: FloatArray) -> npt.NDArray[np.datetime64]:
        """UTC timestamps of times in days, to the second (and before the horizon's end)."""
        seconds = np.minimum(np.floor(t * 86400.0 + 1e-6), HORIZON_DAYS * 86400 - 1)
        return self.start + seconds.astype(np.int64).astype("timedelta64[s]")


def seasonality(days: npt.NDArray[np.datetime64]) -> FloatArray:
    """Relative daily demand: Black Friday to Christmas peak, summer bump,
    January dip, busier weekends; normalized to mean 1."""
    doy = (days - days.astype("datetime64[Y]")).astype(np.int64).astype(np.float64)
    weekday = (days.astype(np.int64) + 3) % 7  # 0 = Monday
    level = (
        1.0
        + 0.9 * np.exp(-0.5 * ((doy - 345.0) / 14.0) ** 2)
        + 0.7 * np.exp(-0.5 * ((doy - 330.0) / 2.5) ** 2)
        + 0.2 * np.exp(-0.5 * ((doy - 190.0) / 20.0) ** 2)
        - 0.25 * np.exp(-0.5 * ((doy - 20.0) / 10.0) ** 2)
    ) * np.where(weekday >= 5, 1.15, 1.0)
    normalized: FloatArray = level / level.mean()
    return normalized


def _cumulative(per_day: FloatArray) -> FloatArray:
    return np.concatenate([[0.0], np.cumsum(per_day)])


def time_of_day(t: FloatArray, offset_hours: IntArray, rng: np.random.Generator) -> FloatArray:
    """Move each time to a local hour drawn from :data:`DIURNAL`, in UTC (a day
    earlier or later where that would leave the horizon)."""
    hour = rng.choice(24, size=t.size, p=DIURNAL / DIURNAL.sum())
    local = (hour + rng.random(t.size)) / 24.0
    moved = np.floor(t) + local - offset_hours / 24.0
    moved = np.where(moved >= HORIZON_DAYS, moved - 1.0, moved)
    return np.where(moved < 0.0, moved + 1.0, moved)


# -- the population ----------------------------------------------------------------------


@dataclass(frozen=True)
class Population:
    """Latent traits per profile (index = profile number).

    ``start`` is the first contact: first visit, email signup or first order.
    Customers are active on ``[start, end)`` ordering ``rate`` times a year, and
    again on ``[back, back_end)`` if they reactivate (``back`` is NaN otherwise).
    ``prefs`` holds cumulative category probabilities, early and late.
    """

    kind: npt.NDArray[np.int8]
    start: FloatArray
    rate: FloatArray
    end: FloatArray
    back: FloatArray
    back_end: FloatArray
    linked: BoolArray
    prefs: npt.NDArray[np.float32]
    spend: FloatArray
    zone: IntArray
    income: FloatArray

    @property
    def offsets(self) -> IntArray:
        """Each profile's UTC offset in hours."""
        return _offsets(self.zone)


def _offsets(zone: IntArray) -> IntArray:
    offsets: IntArray = np.array([z[1] for z in ZONES], dtype=np.int64)[zone]
    return offsets


def population(n: int, rng: np.random.Generator, cal: Calendar) -> Population:
    """Draw the profiles: 15% anonymous visitors, 10% known visitors, the rest customers."""
    n_anonymous, n_visitors = int(0.15 * n), int(0.10 * n)
    kinds = np.repeat(
        [ANONYMOUS, VISITOR, CUSTOMER], [n_anonymous, n_visitors, n - n_anonymous - n_visitors]
    )
    kind = rng.permutation(kinds).astype(np.int8)
    zone = rng.choice(len(ZONES), size=n, p=[z[3] for z in ZONES]).astype(np.int64)
    offsets = _offsets(zone)
    first = cal.sample(np.zeros(n), np.full(n, HORIZON_DAYS - 1.0), rng, growth=True)
    start, rate, end, back, back_end = activity(kind, first, rng, cal)
    start = time_of_day(start, offsets, rng)
    back = np.where(np.isnan(back), back, time_of_day(np.nan_to_num(back), offsets, rng))
    income = np.round(rng.lognormal(np.log(48_000.0), 0.45, n), -2)
    spend = rng.lognormal(0.0, 0.3, n) * (income / 48_000.0) ** 0.3
    linked = (kind != ANONYMOUS) & (rng.random(n) < np.where(kind == VISITOR, 0.6, 0.4))
    return Population(
        kind, start, rate, end, back, back_end, linked, preferences(n, rng), spend, zone, income
    )


def activity(
    kind: npt.NDArray[np.int8], start: FloatArray, rng: np.random.Generator, cal: Calendar
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """First contact, purchase rate (orders a year at average demand), end of the
    active period, and the reactivation period ``[back, back_end)`` (NaN if none).

    Customers: 22% buy once; 6% are formerly heavy buyers (15-40 orders a year),
    acquired in the first 280 days, who stopped 100-350 days before the end; the
    rest order at a Gamma rate (shape 1.2, mean 5) for an exponential lifetime
    (mean 1,000 days), and 30% of those who lapse more than two months before
    the end come back after a dormancy (1 + 5 months on average) for a period of
    5 months on average at 70% of their rate. Everyone else has rate 0.
    """
    n = kind.size
    group = rng.choice(3, size=n, p=[0.22, 0.06, 0.72])
    is_customer = kind == CUSTOMER
    heavy = is_customer & (group == 1)
    regular = is_customer & (group == 2)
    early = cal.sample(np.zeros(n), np.full(n, 280.0), rng, growth=True)
    start = np.where(heavy, early, start)
    rate = np.where(regular, rng.gamma(1.2, 5.0 / 1.2, n), 0.0)
    rate = np.where(heavy, rng.uniform(15.0, 40.0, n), rate)
    end = np.where(regular, start + rng.exponential(1000.0, n), start)
    end = np.minimum(
        np.where(heavy, HORIZON_DAYS - rng.uniform(100.0, 350.0, n), end), HORIZON_DAYS
    )
    back = end + 30.0 + rng.exponential(150.0, n)
    back_end = np.minimum(back + rng.exponential(150.0, n), HORIZON_DAYS)
    comes_back = regular & (end < HORIZON_DAYS - 60.0) & (rng.random(n) < 0.30)
    comes_back &= back < HORIZON_DAYS - 1.0
    return (
        start,
        rate,
        end,
        np.where(comes_back, back, np.nan),
        np.where(comes_back, back_end, np.nan),
    )


def preferences(n: int, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """Cumulative category probabilities ``(n, 2, K)``: early and late.

    Weights start from each category's popularity, affinity traits boost or damp
    their groups, and a low concentration (0.8) makes preferences sparse. The
    late vector keeps half of the early one and redraws the rest with the trend.
    """
    popularity = np.array([CATEGORY_TABLE[c][0] for c in CATEGORIES])
    alpha = np.tile(0.8 * popularity, (n, 1))
    for affinity in AFFINITIES:
        holds = rng.random(n) < affinity.prevalence
        columns = [CATEGORIES.index(c) for c in affinity.categories]
        alpha[:, columns] *= np.where(holds, affinity.boost, affinity.damp)[:, None]
    trend = np.array([TREND.get(c, 1.0) for c in CATEGORIES])
    early = _dirichlet(alpha, rng)
    late = 0.5 * early + 0.5 * _dirichlet(alpha * trend, rng)
    cdf = np.cumsum(np.stack([early, late], axis=1), axis=2)
    cdf[:, :, -1] = 1.0
    return cdf.astype(np.float32)


def _dirichlet(alpha: FloatArray, rng: np.random.Generator) -> FloatArray:
    draws = rng.gamma(alpha) + 1e-9
    normalized: FloatArray = draws / draws.sum(axis=1, keepdims=True)
    return normalized


def categories(
    pop: Population, who: IntArray, t: FloatArray, rng: np.random.Generator
) -> npt.NDArray[np.int8]:
    """A category per event from the profile's preferences at its time: the late
    vector with probability ``t / horizon`` (a linear drift), else the early one."""
    late = (rng.random(t.size) < t / HORIZON_DAYS).astype(np.int64)
    u = rng.random(t.size).astype(np.float32)
    out = np.empty(t.size, dtype=np.int8)
    chunk = 1 << 20
    for lo in range(0, t.size, chunk):
        rows = pop.prefs[who[lo : lo + chunk], late[lo : lo + chunk]]
        picked = (rows < u[lo : lo + chunk, None]).sum(axis=1)
        out[lo : lo + chunk] = np.minimum(picked, len(CATEGORIES) - 1)
    return out


# -- purchases ---------------------------------------------------------------------------


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


# -- sessions ----------------------------------------------------------------------------


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


# -- frames ------------------------------------------------------------------------------


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


# -- the seed customer -------------------------------------------------------------------

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


# -- the world ---------------------------------------------------------------------------


def generate(n_profiles: int = 50_000, seed: int = 7, as_of: date = DEFAULT_AS_OF) -> DemoWorld:
    """Simulate the two years before ``as_of`` for ``n_profiles`` profiles (plus the
    seed customer). Pure and deterministic for a seed; see the module docstring."""
    if n_profiles < 1:
        raise ValueError(f"a demo world needs at least one profile, not {n_profiles}")
    rng = np.random.default_rng(seed)
    cal = Calendar.ending(as_of)
    pop = population(n_profiles, rng, cal)
    orders = order_times(pop, rng, cal)
    lines = order_lines(*orders, pop, rng)
    events = events_frame(
        Events.concat(
            [
                purchase_sessions(orders, lines, rng),
                browsing(pop, rng, cal),
                before_identifying(pop, rng),
                anonymous_visits(pop, rng),
                signups(pop),
            ]
        ),
        cal,
    )
    transactions = transactions_frame(lines, refunds(lines, rng), cal)
    seed_profile, seed_purchases, seed_other = seed_customer(cal)
    return DemoWorld(
        customers=_stack(seed_profile, customers_frame(pop, rng, cal)),
        transactions=_stack(seed_purchases, transactions),
        events=_stack(seed_other, events),
        as_of=as_of,
        seed_customer_id=SEED_CUSTOMER_ID,
    )


def _stack(first: pd.DataFrame, rest: pd.DataFrame) -> pd.DataFrame:
    """The seed customer's rows, then the population's, with the population's types."""
    return pd.concat([first.astype(rest.dtypes.to_dict()), rest], ignore_index=True)


def build(
    ws: Workspace,
    n_profiles: int = 50_000,
    seed: int = 7,
    progress: Progress | None = None,
    *,
    as_of: date = DEFAULT_AS_OF,
) -> DemoWorld:
    """Generate a world, import its customers, transactions and events into ``ws``,
    and score it as of the world's as-of date. Building the same world again
    imports nothing new (every id is deterministic)."""
    report = progress or NoProgress()
    report.phase(f"generating {n_profiles:,} demo profiles")
    world = generate(n_profiles, seed, as_of)
    report.advance(1.0)
    ws.import_customers(
        world.customers,
        customer="customer_id",
        email="email",
        phone="phone",
        signup="signup_at",
        timezone_column="timezone",
        anonymous="anonymous_id",
        consent={"email": "consent_email", "sms": "consent_sms", "push": "consent_push"},
        progress=progress,
    )
    ws.import_transactions(
        world.transactions,
        customer="customer_id",
        time="ts",
        amount="amount",
        category="category",
        order="order_id",
        event_id="event_id",
        progress=progress,
    )
    ws.import_events(
        world.events,
        type_column="type",
        customer="customer_id",
        anonymous="anonymous_id",
        time="ts",
        category="category",
        event_id="event_id",
        progress=progress,
    )
    ws.score(as_of=world.as_of, progress=progress)
    return world
