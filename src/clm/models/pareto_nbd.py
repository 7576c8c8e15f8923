"""The Pareto/NBD model of repeat buying (Schmittlein, Morrison & Colombo 1987).

Schmittlein, D. C., Morrison, D. G. & Colombo, R. (1987). Counting Your Customers:
Who Are They and What Will They Do Next? *Management Science* 33(1), 1–24. While
active, a customer buys at Poisson rate λ ~ Gamma(r, α) and stays active for an
exponential lifetime with rate μ ~ Gamma(s, β). The likelihood and P(alive) are
as derived in Fader & Hardie (2005), "A Note on Deriving the Pareto/NBD Model and
Related Expressions" (note 009, http://brucehardie.com), eqs. (22)–(24); the
conditional expectation is Schmittlein et al. (1987), eq. (22).

Everything is in log space: the Gauss hypergeometric terms of A₀ are combined as
``ln F₁ − k ln(m + t_x) + log1p(−exp(…))``, so large x neither overflows nor
cancels. The model has no closed-form gradient worth its complexity (it would
need derivatives of ₂F₁ in its parameters): the fit uses central differences
on the weighted patterns, which are few.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from clm.models.fitting import Fit, maximize
from clm.models.summary import Summary

NAME = "pareto_nbd"
PARAMS = ("r", "alpha", "s", "beta")
START = (1.0, 1.0, 1.0, 1.0)
FloatArray = NDArray[np.float64]


class Params(NamedTuple):
    """r, α (purchase rate heterogeneity) and s, β (dropout rate heterogeneity)."""

    r: Any
    alpha: Any
    s: Any
    beta: Any


def _log_a0(p: Params, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
    """ln A₀ of eq. (22): the hypergeometric terms for α ≥ β, or with the roles of
    α and β swapped (and the second argument r + x) for α < β."""
    r, alpha, s, beta = p
    k = r + s + x
    high = np.maximum(alpha, beta)
    b_arg = np.where(alpha >= beta, s + 1, r + x)
    diff = np.abs(alpha - beta)
    log_f1 = np.log(special.hyp2f1(k, b_arg, k + 1, diff / (high + t_x))) - k * np.log(high + t_x)
    log_f2 = np.log(special.hyp2f1(k, b_arg, k + 1, diff / (high + T))) - k * np.log(high + T)
    return np.asarray(log_f1 + np.log1p(-np.exp(log_f2 - log_f1)))


def log_likelihood(p: Sequence[Any], x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """ln L(r, α, s, β | x, t_x, T) of one customer, eq. (22)."""
    params = Params(*p)
    r, alpha, s, beta = params
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    shared = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    with np.errstate(divide="ignore"):
        log_alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        log_gone = np.log(s) - np.log(r + s + x) + _log_a0(params, x, t_x, T)
    return np.asarray(shared + np.logaddexp(log_alive, log_gone))


# The shapes r and s at most 1e3, the scales α and β at most 1e6: with s, β → ∞ (every
# customer's lifetime of the same rate) the ₂F₁ terms slow down by orders of magnitude
# (seconds per evaluation at s ~ 5e3); a fit that reaches a bound reports a maximum at the
# boundary instead of walking towards infinity.
UPPER = (1e3, 1e6, 1e3, 1e6)


def fit(s: Summary, start: Sequence[float] = START) -> Fit:
    """Maximum likelihood estimates of (r, α, s, β) on weighted patterns."""
    return maximize(
        NAME, PARAMS, lambda p: log_likelihood(p, s.x, s.t_x, s.T), s.weight, start, upper=UPPER
    )


def p_alive(p: Sequence[float], x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """P(still active at T | x, t_x, T), eq. (24)."""
    params = Params(*p)
    r, alpha, s, beta = params
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    with np.errstate(divide="ignore"):
        log_odds = (
            np.log(s)
            - np.log(r + s + x)
            + (r + x) * np.log(alpha + T)
            + s * np.log(beta + T)
            + _log_a0(params, x, t_x, T)
        )
    return np.asarray(special.expit(-log_odds))


def expected_purchases(p: Sequence[float], t: ArrayLike) -> FloatArray:
    """E[X(t)] = rβ / (α(s − 1)) · [1 − (β/(β + t))^(s−1)] (Schmittlein et al. 1987, eq. 17)."""
    r, alpha, s, beta = p
    t = np.asarray(t, dtype=np.float64)
    return np.asarray(r * beta / alpha * _decay_integral(s, beta, t))


def conditional_expected_purchases(
    p: Sequence[float], t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> FloatArray:
    """E[Y(t) | x, t_x, T] = (r + x)(β + T) / ((α + T)(s − 1)) · [1 − ((β + T)/(β + T + t))^(s−1)]
    · P(alive), Schmittlein et al. (1987), eq. (22)."""
    r, alpha, s, beta = p
    x, T = np.asarray(x, dtype=np.float64), np.asarray(T, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    rate = (r + x) * (beta + T) / (alpha + T)
    return np.asarray(rate * _decay_integral(s, beta + T, t) * p_alive(p, x, t_x, T))


def _decay_integral(s: float, b: Any, t: FloatArray) -> FloatArray:
    """[1 − (b/(b + t))^(s−1)] / (s − 1), with its limit ln((b + t)/b) at s = 1."""
    log_ratio = np.log(b + t) - np.log(b)
    if abs(s - 1.0) < 1e-12:
        return np.asarray(log_ratio)
    return np.asarray(-np.expm1(-(s - 1) * log_ratio) / (s - 1))
