"""Maximum likelihood for the CLV models: one optimizer, one way to get standard errors.

A model gives a log-likelihood per pattern that broadcasts over parameter arrays
(every parameter may carry leading dimensions; the data sit on the last axis).
The fit maximizes the weighted sum over log-parameters, so positivity needs no
bounds: L-BFGS-B with the model's analytic gradient where it has one, else with
central differences (plain BFGS overshot into overflow from a poor start on
Gamma-Gamma); if that fails, Nelder-Mead followed by an L-BFGS-B polish.

Standard errors come from the inverse of the observed information, the Hessian
of the negative log-likelihood in log-parameters (central differences of the
analytic gradient, or :func:`scipy.differentiate.hessian` of the likelihood),
mapped to the natural parameters by the delta method (``se(θ) = θ · se(log θ)``;
at the optimum the Hessian in ``log θ`` is ``D H D`` with ``D = diag(θ)``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import optimize
from scipy.differentiate import hessian
from threadpoolctl import threadpool_limits

from clm.errors import ScoringError

FloatArray = NDArray[np.float64]
# Per-pattern log-likelihood for parameters given in natural units (each may be an array
# with leading dimensions; the result broadcasts them against the data on the last axis).
PatternLogLik = Callable[[Sequence[Any]], FloatArray]
# Gradient of the weighted total with respect to the natural parameters (one value each).
Gradient = Callable[[Sequence[float]], FloatArray]


@dataclass(frozen=True)
class Fit:
    """A fitted model: parameters by the paper's names, their standard errors, the fit."""

    model: str
    params: dict[str, float]
    stderr: dict[str, float | None]
    log_likelihood: float
    n_customers: int
    converged: bool
    iterations: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def values(self) -> tuple[float, ...]:
        """The parameters in the model's order."""
        return tuple(self.params.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: the parameters at the top level, as the CLI prints them."""
        return {
            **self.params,
            "log_likelihood": self.log_likelihood,
            "stderr": self.stderr,
            "n_customers": self.n_customers,
            "converged": self.converged,
            "iterations": self.iterations,
            "seconds": self.seconds,
            **self.extra,
        }

    @classmethod
    def from_dict(cls, model: str, names: Sequence[str], data: dict[str, Any]) -> Fit:
        known = {*names, "log_likelihood", "stderr", "n_customers", "converged"}
        known |= {"iterations", "seconds"}
        return cls(
            model=model,
            params={n: float(data[n]) for n in names},
            stderr={n: data["stderr"].get(n) for n in names},
            log_likelihood=float(data["log_likelihood"]),
            n_customers=int(data["n_customers"]),
            converged=bool(data["converged"]),
            iterations=int(data["iterations"]),
            seconds=float(data["seconds"]),
            extra={k: v for k, v in data.items() if k not in known},
        )


def maximize(
    model: str,
    names: Sequence[str],
    loglik: PatternLogLik,
    weights: FloatArray,
    start: Sequence[float],
    gradient: Gradient | None = None,
    upper: float | Sequence[float] | None = None,
) -> Fit:
    """Maximize ``Σ w · loglik(θ)`` over ``θ > 0`` from ``start`` (at most ``upper``, one
    bound for all or one per parameter, if given); raise if it cannot."""
    clock, cpu = time.perf_counter(), time.thread_time()
    if weights.size == 0 or float(weights.sum()) == 0.0:
        raise ScoringError(f"{model}: no customers to fit")

    def negative(log_theta: FloatArray) -> float:
        if time.thread_time() - cpu > BUDGET_SECONDS:
            raise _OutOfTime
        with np.errstate(all="ignore"):
            total = float(np.dot(weights, loglik(tuple(np.exp(log_theta)))))
        return -total if np.isfinite(total) else np.inf

    x0 = np.log(np.asarray(start, dtype=np.float64))
    highs = np.broadcast_to(
        LOG_BOUNDS[1] if upper is None else np.log(np.asarray(upper, dtype=np.float64)), x0.shape
    )
    bounds = [(LOG_BOUNDS[0], float(h)) for h in highs]
    x0 = np.clip(x0, LOG_BOUNDS[0], highs)
    jac = None if gradient is None else _log_jacobian(gradient)
    # A 4-parameter problem gains nothing from BLAS threads, and their start-up cost per
    # L-BFGS-B step (milliseconds on a busy machine) was most of the fit's time.
    try:
        with threadpool_limits(limits=1, user_api="blas"), np.errstate(all="ignore"):
            return _optimize(model, names, loglik, weights, negative, x0, bounds, jac, clock, cpu)
    except _OutOfTime:
        raise ScoringError(
            f"{model}: no maximum within {BUDGET_SECONDS:.0f} s of CPU time; the likelihood of "
            "these data may have none inside the parameter space (try another model)"
        ) from None


class _OutOfTime(Exception):
    """The fit used up its time budget."""


# Where a likelihood has no interior maximum its evaluations can also slow down by orders
# of magnitude (Pareto/NBD's ₂F₁ with s → ∞ takes seconds per call): a fit gives up then.
# The budget is the fitting thread's CPU time, not the wall clock, so that whether a fit
# succeeds does not depend on how busy the machine is (with a wall-clock budget, fits that
# finish in seconds on a quiet machine were seen to fail at a load average of 14).
BUDGET_SECONDS = 30.0


def _optimize(
    model: str,
    names: Sequence[str],
    loglik: PatternLogLik,
    weights: FloatArray,
    negative: Callable[[FloatArray], float],
    x0: FloatArray,
    bounds: list[tuple[float, float]],
    jac: Callable[[FloatArray], FloatArray] | None,
    clock: float,
    cpu: float,
) -> Fit:
    """L-BFGS-B, else Nelder-Mead and a polish; the best result with standard errors."""
    results = [
        optimize.minimize(
            negative, x0, jac=jac or "3-point", method="L-BFGS-B", bounds=bounds, options=_LBFGS
        )
    ]
    if not (results[-1].success or _stationary(negative, jac, results[-1])):
        # Where the gradient path failed: the simplex, then a polish.
        coarse = optimize.minimize(
            negative, x0, method="Nelder-Mead", bounds=bounds, options=_SIMPLEX
        )
        polish = optimize.minimize(
            negative,
            coarse.x,
            jac=jac or "3-point",
            method="L-BFGS-B",
            bounds=bounds,
            options=_LBFGS,
        )
        results += [coarse, polish]
    result = min(results, key=lambda res: float(res.fun))
    if not np.isfinite(result.fun):
        raise ScoringError(f"{model}: the likelihood is not finite anywhere the optimizer looked")
    if jac is not None:
        result.x, result.fun = _newton_polish(negative, jac, result.x, float(result.fun), bounds)
    theta = np.exp(result.x)
    at_bound = any(min(x - lo, hi - x) < 1e-6 for x, (lo, hi) in zip(result.x, bounds, strict=True))
    # At a bound there is no interior maximum, so no information matrix to invert.
    stderr = (
        [None] * len(names)
        if at_bound
        else standard_errors(loglik, weights, result.x, jac, deadline=cpu + BUDGET_SECONDS)
    )
    return Fit(
        model=model,
        params={n: float(v) for n, v in zip(names, theta, strict=True)},
        stderr={n: s for n, s in zip(names, stderr, strict=True)},
        log_likelihood=-float(result.fun),
        n_customers=round(float(weights.sum())),
        converged=bool(result.success)
        or _stationary(negative, jac, result)
        or _small_gradient(negative, result.x),
        iterations=sum(int(res.nit) for res in results),
        seconds=time.perf_counter() - clock,
    )


# Parameters live in [e^-25, e^25] (1.4e-11 to 7.2e10): where the data do not identify a
# model, its likelihood keeps rising towards infinity along a ridge (e.g. BG/NBD's a, b
# with a fixed ratio), and the bound ends that walk quickly instead of after thousands of
# iterations; callers then see a maximum at the boundary.
LOG_BOUNDS = (-25.0, 25.0)
_LBFGS = {"ftol": 1e-15, "gtol": 1e-9, "maxiter": 2_000}
_SIMPLEX = {"xatol": 1e-10, "fatol": 1e-12, "maxiter": 5_000, "maxfev": 10_000}


def _newton_polish(
    f: Callable[[FloatArray], float],
    jac: Callable[[FloatArray], FloatArray],
    x: FloatArray,
    fx: float,
    bounds: list[tuple[float, float]],
) -> tuple[FloatArray, float]:
    """A few Newton steps with the analytic gradient: L-BFGS-B stops about 1e-8 from the
    optimum; Newton's quadratic convergence takes the parameters to the last digits, so
    a fit does not depend on how customers are ordered or grouped into patterns."""
    grad = jac(x)
    for _ in range(3):
        try:
            step = np.linalg.solve(_jacobian_of(jac, x), grad)
        except np.linalg.LinAlgError:
            break
        candidate = np.clip(x - step, [b[0] for b in bounds], [b[1] for b in bounds])
        # Near the optimum the function's rounding hides progress; the gradient shows it.
        value, new_grad = f(candidate), jac(candidate)
        if not (np.linalg.norm(new_grad) < np.linalg.norm(grad) and value <= fx + 1e-9 * abs(fx)):
            break
        x, fx, grad = candidate, value, new_grad
    return x, fx


def _log_jacobian(gradient: Gradient) -> Callable[[FloatArray], FloatArray]:
    """The gradient of the negative total in log-parameters (chain rule: ∂/∂ln θ = θ ∂/∂θ)."""

    def jac(log_theta: FloatArray) -> FloatArray:
        with np.errstate(all="ignore"):
            theta = np.exp(log_theta)
            return np.asarray(-gradient(tuple(theta)) * theta, dtype=np.float64)

    return jac


def _stationary(
    f: Callable[[FloatArray], float],
    jac: Callable[[FloatArray], FloatArray] | None,
    result: optimize.OptimizeResult,
) -> bool:
    """Whether L-BFGS-B stopped at the maximum although it reports failure.

    On large data the total log-likelihood has millions in its integer part, so near the
    optimum a line search cannot see progress below its rounding and L-BFGS-B ends with
    ``ABNORMAL_TERMINATION_IN_LNSRCH``. Where the likelihood is locally quadratic
    (a positive definite Hessian) and the Newton decrement ``gᵀH⁻¹g/2`` (the expected
    gain of going to the maximum; Boyd & Vandenberghe 2004, §9.5.1) is below 1e-9 of
    the total, that is the optimum, not a failure: restarting with the simplex there cost
    hundreds of likelihood evaluations (past the fit's budget at 80,000 repeat buyers).
    The Newton polish that follows takes such a point to the last digits.
    """
    if jac is None or not np.isfinite(result.fun):  # a finite-difference gradient is too coarse
        return False
    g = jac(result.x)
    h = _jacobian_of(jac, result.x)
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(h))):
        return False
    try:
        np.linalg.cholesky(h)
        decrement = float(g @ np.linalg.solve(h, g)) / 2
    except np.linalg.LinAlgError:
        return False
    return decrement <= 1e-9 * max(1.0, abs(float(result.fun)))


def _small_gradient(f: Callable[[FloatArray], float], x: FloatArray) -> bool:
    """Whether ``x`` is a stationary point within numerical precision (BFGS may stop on a
    precision loss right at the optimum; that is a converged fit)."""
    g = optimize.approx_fprime(x, f, 1e-7)
    return bool(np.all(np.abs(g) < 1e-3 * max(1.0, abs(f(x)) * 1e-6)))


def standard_errors(
    loglik: PatternLogLik,
    weights: FloatArray,
    log_theta: FloatArray,
    jac: Callable[[FloatArray], FloatArray] | None = None,
    deadline: float = float("inf"),
) -> list[float | None]:
    """Standard errors of the natural parameters from the observed information matrix
    (``None`` each when the Hessian is not positive definite, e.g. at a boundary). With
    an analytic gradient the Hessian is its finite-difference Jacobian (2k gradients);
    without, :func:`scipy.differentiate.hessian` of the likelihood."""
    try:
        if jac is None:
            h = _hessian(loglik, weights, log_theta, deadline)
        else:
            h = _jacobian_of(jac, log_theta)
    except _OutOfTime:
        return [None] * len(log_theta)
    try:
        cov = np.linalg.inv(h)
    except np.linalg.LinAlgError:
        return [None] * len(log_theta)
    var = np.diag(cov)
    if not np.all(np.isfinite(var)) or np.any(var <= 0):
        return [None] * len(log_theta)
    return [float(v) for v in np.exp(log_theta) * np.sqrt(var)]


def _jacobian_of(jac: Callable[[FloatArray], FloatArray], x: FloatArray) -> FloatArray:
    """The symmetric Hessian from central differences of the gradient."""
    step = 1e-5
    columns = [(jac(x + step * e) - jac(x - step * e)) / (2 * step) for e in np.eye(len(x))]
    h = np.stack(columns, axis=1)
    return np.asarray((h + h.T) / 2, dtype=np.float64)


def _hessian(
    loglik: PatternLogLik, weights: FloatArray, log_theta: FloatArray, deadline: float
) -> FloatArray:
    """The Hessian of the negative total in log-parameters, numerically (until ``deadline``,
    a :func:`time.thread_time` value)."""

    def total(xi: FloatArray) -> FloatArray:
        if time.thread_time() > deadline:
            raise _OutOfTime
        with np.errstate(all="ignore"):
            theta = [np.exp(xi[k])[..., None] for k in range(xi.shape[0])]
            return np.asarray(-(loglik(theta) * weights).sum(axis=-1), dtype=np.float64)

    res = hessian(total, log_theta, initial_step=0.05, tolerances={"rtol": 1e-6})
    return np.asarray(res.ddf, dtype=np.float64)
