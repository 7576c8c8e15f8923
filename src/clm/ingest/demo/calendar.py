"""The calendar: the horizon's day grid, seasonal demand and business growth as
cumulative intensities to sample times from, and local time of day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np
import numpy.typing as npt

from clm.ingest.demo.tables import (
    ACQUISITION_GROWTH,
    DIURNAL,
    HORIZON_DAYS,
    FloatArray,
    IntArray,
)


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
