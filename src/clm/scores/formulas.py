"""The activity family's formulas (SPEC §4), written once for two executions.

Each function uses only arithmetic and comparison operators, so it works on
Python floats (the real-time path, one profile at a time) and on Ibis numeric
expressions (the batch, every profile at once) alike. The two paths cannot
drift apart because they are the same code.
"""

from __future__ import annotations

import math
from typing import Any

LN2 = math.log(2.0)
EPSILON = 1.0 / 365.0  # per day: keeps the trend defined for inactive profiles

# A float (one profile, real time) or an Ibis numeric expression (all profiles, batch).
N = Any


def rate(s: N, half_life: float) -> N:
    """``r_h = S_h · ln2 / h``: weighted events per day."""
    return s * (LN2 / half_life)


def kappa(r_ref: float, half_life_short: float) -> float:
    """``κ = r_ref · h_s / ln2``: the short sum of a profile as active as the reference."""
    return r_ref * half_life_short / LN2


def activity(s_short: N, kappa_: float) -> N:
    """``A = 100 · S_hs / (S_hs + κ)``; 50 = as active as the typical active customer."""
    return 100.0 * s_short / (s_short + kappa_)


def trend(s_short: N, s_long: N, half_life_short: float, half_life_long: float) -> N:
    """``T = 100 · (r_hs + ε) / (r_hs + r_hl + 2ε)``; 50 = steady, above 50 = rising."""
    r_s = rate(s_short, half_life_short)
    r_l = rate(s_long, half_life_long)
    return 100.0 * (r_s + EPSILON) / (r_s + r_l + 2.0 * EPSILON)


def rising(trend_: Any, s_long: Any, min_trend: float, min_long: float) -> Any:
    """Rising interest: ``T ≥ min_trend ∧ S_hl ≥ min_long`` (defaults 60 and 3)."""
    return (trend_ >= min_trend) & (s_long >= min_long)


def affinity(v_category: N, v_all: N, share: float, m: float) -> N:
    """``I_c = 100 · ((V_c + m·π_c) / (V_all + m)) / π_c`` with V over the long half-life;
    100 = the average customer's share of wallet in the category."""
    return 100.0 * ((v_category + m * share) / (v_all + m)) / share
