"""The demo shop's tables and the constants every part of the simulation shares:
the horizon, the categories (popularity, prices, trends, complements, affinities),
the time zones, the diurnal curve and the codes of profile kinds and event types."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

HORIZON_DAYS = 730
ACQUISITION_GROWTH = 4.0  # acquisitions a day at the end of the horizon / at its start

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
