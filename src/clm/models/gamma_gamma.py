"""The Gamma-Gamma model of spend per transaction (Fader & Hardie 2013).

Fader, P. S. & Hardie, B. G. S. (2013). "The Gamma-Gamma Model of Monetary Value"
(http://brucehardie.com/notes/025/), after Colombo & Jiang (1999). A customer's
transaction values are Gamma(p, ν) around their mean p/ν, and ν ~ Gamma(q, γ)
across customers. The model is fitted on repeat buyers (x ≥ 1) and their mean
repeat transaction value z̄; it assumes spend is independent of the purchase
process. Equation numbers are the note's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from clm.errors import ScoringError
from clm.models.fitting import Fit, maximize

NAME = "gamma_gamma"
PARAMS = ("p", "q", "gamma")
START = (1.0, 1.0, 1.0)
FloatArray = NDArray[np.float64]


class Params(NamedTuple):
    """p (shape of a customer's spend), q and γ (heterogeneity of its scale)."""

    p: Any
    q: Any
    gamma: Any


def log_likelihood(p: Sequence[Any], x: ArrayLike, z: ArrayLike) -> FloatArray:
    """ln f(z̄ | p, q, γ; x), the density of a repeat buyer's mean spend, eq. (5)."""
    pp, q, g = p
    x, z = np.asarray(x, dtype=np.float64), np.asarray(z, dtype=np.float64)
    px = pp * x
    return np.asarray(
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(g)
        + (px - 1) * np.log(z)
        + px * np.log(x)
        - (px + q) * np.log(g + x * z)
    )


def gradient(p: Sequence[float], x: FloatArray, z: FloatArray, w: FloatArray) -> FloatArray:
    """∂/∂(p, q, γ) of the weighted total log-likelihood."""
    pp, q, g = p
    dg = special.digamma
    px = pp * x
    d_p = x * (dg(px + q) - dg(px) + np.log(z) + np.log(x) - np.log(g + x * z))
    d_q = dg(px + q) - dg(q) + np.log(g) - np.log(g + x * z)
    d_g = q / g - (px + q) / (g + x * z)
    return np.array([np.dot(w, d) for d in (d_p, d_q, d_g)])


def fit(
    x: ArrayLike, z: ArrayLike, weight: ArrayLike | None = None, start: Sequence[float] = START
) -> Fit:
    """Maximum likelihood estimates of (p, q, γ) on repeat buyers (``x ≥ 1``, ``z̄ > 0``);
    other rows are left out, as the model requires."""
    xs, zs = np.asarray(x, dtype=np.float64), np.asarray(z, dtype=np.float64)
    ws = np.ones_like(xs) if weight is None else np.asarray(weight, dtype=np.float64)
    keep = (xs >= 1) & (zs > 0) & np.isfinite(zs)
    xs, zs, ws = xs[keep], zs[keep], ws[keep]
    if xs.size == 0:
        raise ScoringError("gamma_gamma: no repeat buyers with a positive mean spend to fit")
    return maximize(
        NAME,
        PARAMS,
        lambda p: log_likelihood(p, xs, zs),
        ws,
        start,
        gradient=lambda p: gradient(p, xs, zs, ws),
    )


def conditional_expected_spend(p: Sequence[float], x: ArrayLike, z: ArrayLike) -> FloatArray:
    """E[M | p, q, γ, z̄, x], eq. (6): a weighted mean of the population mean and the
    customer's own z̄; with x = 0 (no repeat purchase) it is the population mean."""
    pp, q, g = p
    x = np.asarray(x, dtype=np.float64)
    z = np.where(x > 0, np.asarray(z, dtype=np.float64), 0.0)
    return np.asarray(pp * (g + x * z) / (pp * x + q - 1))


def population_mean_spend(p: Sequence[float]) -> float:
    """E[M] = pγ / (q − 1) (finite only for q > 1)."""
    pp, q, g = p
    return float(pp * g / (q - 1)) if q > 1 else float("inf")
