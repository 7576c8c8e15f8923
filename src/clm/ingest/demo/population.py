"""The population: profile kinds, acquisition, purchase rates, lapsing and
reactivation, incomes, time zones and drifting category preferences."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from clm.ingest.demo.calendar import Calendar, time_of_day
from clm.ingest.demo.tables import (
    AFFINITIES,
    ANONYMOUS,
    CATEGORIES,
    CATEGORY_TABLE,
    CUSTOMER,
    HORIZON_DAYS,
    TREND,
    VISITOR,
    ZONES,
    BoolArray,
    FloatArray,
    IntArray,
)


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
