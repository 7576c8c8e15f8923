"""The BG/NBD model of repeat buying (Fader, Hardie & Lee 2005).

Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting Your Customers" the
Easy Way: An Alternative to the Pareto/NBD Model. *Marketing Science* 24(2),
275–284. While active, a customer buys at Poisson rate λ ~ Gamma(r, α); after
each purchase they drop out with probability p ~ Beta(a, b). Equation numbers
below are the paper's; P(X(t) = x) is from Fader, Hardie & Lee (2007), "Computing
P(alive) and P(X(t) = x) for the BG/NBD model" (note 008, http://brucehardie.com).

Every function broadcasts: parameters may be arrays (leading dimensions), the
customer data sit on the last axis. The likelihood is evaluated in log space, so
customers with hundreds of purchases neither overflow nor lose the second term.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from clm.models.fitting import Fit, maximize
from clm.models.summary import Summary

NAME = "bgnbd"
PARAMS = ("r", "alpha", "a", "b")
START = (1.0, 1.0, 1.0, 1.0)
FloatArray = NDArray[np.float64]


class Params(NamedTuple):
    """r, α (purchase rate heterogeneity) and a, b (dropout heterogeneity)."""

    r: Any
    alpha: Any
    a: Any
    b: Any


def _terms(p: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> tuple[FloatArray, ...]:
    """``ln A₁`` (the customer is still active at T) and ``ln A₂`` (dropped out after the
    last purchase; −∞ when x = 0) of eq. (6), and their shared part."""
    r, alpha, a, b = p
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    shared = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    beta_ab = special.betaln(a, b)
    log_a1 = special.betaln(a, b + x) - beta_ab - (r + x) * np.log(alpha + T)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_a2 = special.betaln(a + 1, b + x - 1) - beta_ab - (r + x) * np.log(alpha + t_x)
    log_a2 = np.where(x > 0, log_a2, -np.inf)
    return shared, log_a1, log_a2


def log_likelihood(p: Sequence[Any], x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """ln L(r, α, a, b | x, t_x, T) of one customer, eq. (6)."""
    shared, log_a1, log_a2 = _terms(Params(*p), x, t_x, T)
    return np.asarray(shared + np.logaddexp(log_a1, log_a2), dtype=np.float64)


def gradient(p: Sequence[float], s: Summary) -> FloatArray:
    """∂/∂(r, α, a, b) of the weighted total log-likelihood (differentiating eq. 6)."""
    r, alpha, a, b = p
    x, t_x, T, w = s.x, s.t_x, s.T, s.weight
    _, log_a1, log_a2 = _terms(Params(r, alpha, a, b), x, t_x, T)
    w1 = np.exp(log_a1 - np.logaddexp(log_a1, log_a2))  # share of the first term
    w2 = 1.0 - w1
    dg = special.digamma
    d_r = dg(r + x) - dg(r) + np.log(alpha) - w1 * np.log(alpha + T) - w2 * np.log(alpha + t_x)
    d_alpha = r / alpha - (r + x) * (w1 / (alpha + T) + w2 / (alpha + t_x))
    common = dg(a + b) - dg(a + b + x)
    d_a = common + w2 * (dg(a + 1) - dg(a))
    with np.errstate(invalid="ignore"):
        d_b2 = np.where(x > 0, dg(b + x - 1), 0.0)
    d_b = common - dg(b) + w1 * dg(b + x) + w2 * d_b2
    return np.array([np.dot(w, d) for d in (d_r, d_alpha, d_a, d_b)])


def fit(s: Summary, start: Sequence[float] = START) -> Fit:
    """Maximum likelihood estimates of (r, α, a, b) on weighted patterns; where the
    maximum lies on the ridge a, b → ∞, the homogeneous-dropout limit instead."""
    fitted = maximize(
        NAME,
        PARAMS,
        lambda p: log_likelihood(p, s.x, s.t_x, s.T),
        s.weight,
        start,
        gradient=lambda p: gradient(p, s),
        upper=RIDGE,
    )
    if max(fitted.params["a"], fitted.params["b"]) > RIDGE / 2:
        return fit_homogeneous_dropout(s, fitted)
    return fitted


RIDGE = 1e6  # a or b at this bound: the likelihood is climbing the a, b → ∞ ridge
LIMIT_SCALE = 1e8  # a + b that stands for the limit in predictions


def limit_log_likelihood(
    p: Sequence[Any], x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> FloatArray:
    """ln L(r, α, q | x, t_x, T) of eq. (6) in the limit a, b → ∞ with a/(a + b) = p,
    where B(a, b + x)/B(a, b) → (1 − p)^x and B(a + 1, b + x − 1)/B(a, b) → p(1 − p)^(x−1);
    the third parameter is the odds q = p/(1 − p)."""
    r, alpha, q = p
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    log_stay, log_drop = -np.log1p(q), np.log(q) - np.log1p(q)
    shared = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    log_a1 = x * log_stay - (r + x) * np.log(alpha + T)
    log_a2 = np.where(x > 0, log_drop + (x - 1) * log_stay - (r + x) * np.log(alpha + t_x), -np.inf)
    return np.asarray(shared + np.logaddexp(log_a1, log_a2), dtype=np.float64)


def fit_homogeneous_dropout(s: Summary, ridge: Fit) -> Fit:
    """The BG/NBD limit a, b → ∞ with a/(a + b) = p: every customer drops out with the
    same probability p after each purchase (Beta(a, b) degenerates to a point mass).

    When the data show no heterogeneity in dropout, the likelihood keeps rising along
    that ridge and the four-parameter fit has no interior maximum. The limit is fitted
    exactly as (r, α, p) by :func:`limit_log_likelihood`; for predictions a and b are
    reported as p and 1 − p times ``LIMIT_SCALE`` (the formulas then agree with the
    limit's to about 1e-6 relative), marked in ``extra`` and without standard errors (p has one).
    """
    a, b = ridge.params["a"], ridge.params["b"]
    start = (ridge.params["r"], ridge.params["alpha"], a / b)
    limit = maximize(
        NAME,
        ("r", "alpha", "odds"),
        lambda p: limit_log_likelihood(p, s.x, s.t_x, s.T),
        s.weight,
        start,
    )
    odds = limit.params["odds"]
    share = odds / (1 + odds)
    odds_se = limit.stderr["odds"]
    k = LIMIT_SCALE
    return Fit(
        model=NAME,
        params={
            "r": limit.params["r"],
            "alpha": limit.params["alpha"],
            "a": share * k,
            "b": (1 - share) * k,
        },
        stderr={"r": limit.stderr["r"], "alpha": limit.stderr["alpha"], "a": None, "b": None},
        log_likelihood=limit.log_likelihood,
        n_customers=limit.n_customers,
        converged=limit.converged,
        iterations=ridge.iterations + limit.iterations,
        seconds=ridge.seconds + limit.seconds,
        extra={
            "dropout": "homogeneous",
            "p": share,
            # the delta method: dp/dq = 1 / (1 + q)^2
            "p_stderr": None if odds_se is None else odds_se / (1 + odds) ** 2,
        },
    )


def expected_purchases(p: Sequence[float], t: ArrayLike) -> FloatArray:
    """E[X(t)], the expected number of purchases of a new customer in (0, t], eq. (9)."""
    r, alpha, a, b = p
    t = np.asarray(t, dtype=np.float64)
    hyp = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
    return np.asarray((a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp))


def p_alive(p: Sequence[float], x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """P(still active at T | x, t_x, T) (Fader, Hardie & Lee 2007, eq. 2)."""
    r, alpha, a, b = p
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_odds = (
            np.log(a) - np.log(b + x - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        )
    return np.asarray(np.where(x > 0, special.expit(-log_odds), 1.0))


def conditional_expected_purchases(
    p: Sequence[float], t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> FloatArray:
    """E[Y(t) | x, t_x, T], purchases in (T, T + t] of a customer with that history, eq. (10)."""
    r, alpha, a, b = p
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    t = np.asarray(t, dtype=np.float64)
    z = t / (alpha + T + t)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    ratio = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
    head = (a + b + x - 1) / (a - 1) * (1 - ratio * hyp)
    return np.asarray(head * p_alive(p, x, t_x, T))


def pmf(p: Sequence[float], t: float, n: ArrayLike) -> FloatArray:
    """P(X(t) = n) for a new customer (Fader, Hardie & Lee 2007, eq. 8)."""
    from scipy import stats  # ~1 s to import: only the holdout checks need it

    r, alpha, a, b = p
    n = np.asarray(n, dtype=np.float64)
    q = alpha / (alpha + t)
    beta_ab = special.betaln(a, b)
    first = np.exp(special.betaln(a, b + n) - beta_ab + stats.nbinom.logpmf(n, r, q))
    with np.errstate(invalid="ignore"):
        second = np.exp(special.betaln(a + 1, b + n - 1) - beta_ab) * stats.nbinom.sf(n - 1, r, q)
    return np.asarray(first + np.where(n > 0, second, 0.0))
