"""One side of the lifetime value benchmark, run in a fresh process (and, for the peers, in
their own virtual environment: see ``peers_env.sh``), so that its time and memory are its own.

``python benchmarks/clv_sides.py fit SIDE INPUT OUT_DIR`` fits BG/NBD, then Gamma-Gamma, on the
customer summaries in ``INPUT`` (a Parquet file written by ``clv_vs_lifetimes.py``):

- ``clm``: ``summary.compress`` of the integer day counts + ``bgnbd.fit`` on the weighted
  patterns; Gamma-Gamma: the distinct (x, z̄) pairs of the repeat buyers (as
  ``clm.scores.clv`` finds them) + ``gamma_gamma.fit`` with their counts as weights;
- ``lifetimes``: ``BetaGeoFitter().fit(frequency, recency, T)`` one row per customer, the way
  its documentation fits; ``GammaGammaFitter().fit(frequency, monetary_value)`` on the repeat
  buyers;
- ``lifetimes-weighted``: lifetimes' own ``weights=`` option: the distinct (frequency, recency,
  T) patterns found with a pandas ``groupby`` (timed) and fitted with their counts; the same for
  Gamma-Gamma's (frequency, monetary_value);
- ``pymc``: pymc-marketing's ``BetaGeoModel`` with flat priors (``HalfFlat`` on r, α, a, b),
  ``fit(method="map")`` (``pymc.find_MAP``, L-BFGS-B, Jacobian off: the maximum likelihood
  estimate), one row per customer (the model has no weights); the same for ``GammaGammaModel``
  (whose default priors are already ``HalfFlat``).

``python benchmarks/clv_sides.py predict SIDE INPUT OUT_DIR --params PARAMS.json`` computes,
for every customer of ``INPUT`` at the given parameters (both models), P(alive), the expected
purchases over the horizon, the expected spend and the CLV (horizon, margin and annual discount
rate from ``PARAMS.json``; monthly steps as in ``clm.models.value``):

- ``clm``: ``summary.compress`` + ``value.outlook`` on the patterns + ``take`` back to the
  customers + ``value.expected_spend`` + ``value.clv``: what ``clm score`` does;
- ``lifetimes``: ``conditional_probability_alive``, ``conditional_expected_number_of_purchases_up_
  to_time`` at each monthly step end (30, 60, 90 days), ``conditional_expected_average_profit``,
  and the same discounted sum in numpy, per customer (lifetimes has no pattern compression for
  predictions).

Inputs are read before the clock starts. Each side writes ``OUT_DIR/report.json`` (phase
seconds, ``VmHWM`` at the end of the timed work, the fitted parameters; the driver evaluates
every side's log-likelihood with one function, since lifetimes' own figure is on its rescaled
time axis) and, for ``predict``, ``OUT_DIR/predictions.npz`` (untimed) for the agreement check.
Runs with numpy, pandas and pyarrow of any environment; the rest is imported by the side.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from rfm_sides import Report, peak_rss_bytes, reported

FIT_SIDES = ("clm", "lifetimes", "lifetimes-weighted", "pymc")
PREDICT_SIDES = ("clm", "lifetimes")
DAYS_PER_WEEK = 7.0
STEP_DAYS = 30.0  # clm.models.value.STEP_DAYS


def read_summaries(path: Path, limit: int = 0) -> dict[str, np.ndarray]:
    """The columns of an input file as numpy arrays (the first ``limit`` rows if > 0)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if limit:
        table = table.slice(0, limit)
    return {name: table.column(name).to_numpy() for name in table.column_names}


# -- fits -----------------------------------------------------------------------------------


def fit_clm(report: Report, data: dict[str, np.ndarray]) -> None:
    from clm.models import bgnbd, gamma_gamma, summary

    x, t_x, T = data["x"], data["t_x_days"], data["T_days"]
    patterns, _ = report.timed("compress", lambda: summary.compress(x, t_x, T, "week"))
    bg = report.timed("BG/NBD fit", lambda: bgnbd.fit(patterns))
    report.peak_rss_bytes = peak_rss_bytes()

    def spend() -> Any:
        keep = x > 0
        pairs = np.stack([x[keep].astype(np.float64), data["zbar"][keep]], axis=1)
        unique, counts = np.unique(pairs, axis=0, return_counts=True)
        return gamma_gamma.fit(unique[:, 0], unique[:, 1], counts.astype(np.float64)), len(unique)

    gg, gg_patterns = report.timed("Gamma-Gamma", spend)
    report.details = {
        "bgnbd": dict(bg.params),
        "bgnbd_ll": bg.log_likelihood,
        "bgnbd_iterations": bg.iterations,
        "bgnbd_converged": bg.converged,
        "patterns": len(patterns.x),
        "gamma_gamma": dict(gg.params),
        "gamma_gamma_ll": gg.log_likelihood,
        "gamma_gamma_patterns": gg_patterns,
    }


def fit_lifetimes(report: Report, data: dict[str, np.ndarray], weighted: bool) -> None:
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    frame = pd.DataFrame({k: data[k] for k in ("frequency", "recency", "T", "zbar")})

    def bg_fit() -> Any:
        if not weighted:
            return BetaGeoFitter().fit(frame["frequency"], frame["recency"], frame["T"]), len(frame)
        groups = frame.groupby(["frequency", "recency", "T"]).size().reset_index(name="n")
        fitted = BetaGeoFitter().fit(
            groups["frequency"], groups["recency"], groups["T"], weights=groups["n"]
        )
        return fitted, len(groups)

    bgf, rows = report.timed("BG/NBD fit", bg_fit)
    report.peak_rss_bytes = peak_rss_bytes()
    # the rows clm's gamma_gamma.fit keeps: lifetimes refuses a mean spend of 0
    repeat = frame[(frame["frequency"] > 0) & (frame["zbar"] > 0)]

    def gg_fit() -> Any:
        if not weighted:
            return GammaGammaFitter().fit(repeat["frequency"], repeat["zbar"]), len(repeat)
        groups = repeat.groupby(["frequency", "zbar"]).size().reset_index(name="n")
        return GammaGammaFitter().fit(
            groups["frequency"], groups["zbar"], weights=groups["n"]
        ), len(groups)

    ggf, gg_rows = report.timed("Gamma-Gamma", gg_fit)
    params = {k: float(v) for k, v in bgf.params_.items()}
    gg = {k: float(v) for k, v in ggf.params_.items()}
    report.details = {
        "bgnbd": params,
        "patterns": rows,
        "gamma_gamma": {"p": gg["p"], "q": gg["q"], "gamma": gg["v"]},
        "gamma_gamma_patterns": gg_rows,
    }


def fit_pymc(report: Report, data: dict[str, np.ndarray]) -> None:
    import pandas as pd
    from pymc_extras.prior import Prior
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    n = len(data["x"])
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "frequency": data["frequency"],
            "recency": data["recency"],
            "T": data["T"],
        }
    )
    flat = {name: Prior("HalfFlat") for name in ("r", "alpha", "a", "b")}

    def bg_fit() -> Any:
        model = BetaGeoModel(model_config=flat)
        model.fit(data=frame, method="map", progressbar=False)
        return model

    model = report.timed("BG/NBD fit", bg_fit)
    report.peak_rss_bytes = peak_rss_bytes()
    posterior = model.idata.posterior
    params = {k: float(posterior[k].values.reshape(-1)[0]) for k in ("r", "alpha", "a", "b")}
    keep = (data["x"] > 0) & (data["zbar"] > 0)  # the rows clm's gamma_gamma.fit keeps
    spend_frame = pd.DataFrame(
        {
            "customer_id": np.arange(int(keep.sum())),
            "frequency": data["frequency"][keep],
            "monetary_value": data["zbar"][keep],
        }
    )

    def gg_fit() -> Any:
        spend = GammaGammaModel()  # default priors: HalfFlat on p, q, v
        spend.fit(data=spend_frame, method="map", progressbar=False)
        return spend

    spend = report.timed("Gamma-Gamma", gg_fit)
    gg = {k: float(spend.idata.posterior[k].values.reshape(-1)[0]) for k in ("p", "q", "v")}
    report.details = {
        "bgnbd": params,
        "patterns": n,
        "gamma_gamma": {"p": gg["p"], "q": gg["q"], "gamma": gg["v"]},
        "gamma_gamma_patterns": len(spend_frame),
    }


# -- predictions ----------------------------------------------------------------------------


def step_ends(horizon_days: float) -> list[float]:
    """The ends of the 30-day steps up to the horizon (as ``clm.models.value``)."""
    ends = [float(e) for e in np.arange(STEP_DAYS, horizon_days, STEP_DAYS)]
    return [*ends, float(horizon_days)]


def predict_clm(
    report: Report, data: dict[str, np.ndarray], params: dict[str, Any]
) -> dict[str, np.ndarray]:
    from clm.models import summary, value
    from clm.models.fitting import Fit

    def fitted(model: str, values: dict[str, float]) -> Fit:
        stderr: dict[str, float | None] = dict.fromkeys(values)
        return Fit(model, dict(values), stderr, 0.0, 0, True, 0, 0.0)

    bg, gg = fitted("bgnbd", params["bgnbd"]), fitted("gamma_gamma", params["gamma_gamma"])
    cfg = value.ValueSettings(
        horizon_days=params["horizon_days"],
        margin=params["margin"],
        discount_rate=params["discount_rate"],
        unit="week",
    )
    x, t_x, T, zbar = data["x"], data["t_x_days"], data["T_days"], data["zbar"]
    patterns, inverse = report.timed("compress", lambda: summary.compress(x, t_x, T, "week"))
    per_pattern = report.timed("outlook", lambda: value.outlook(bg, patterns, cfg))
    outlook = report.timed("take", lambda: per_pattern.take(inverse))
    spend = report.timed("spend", lambda: value.expected_spend(gg, x.astype(np.float64), zbar))
    clv = report.timed("clv", lambda: value.clv(outlook, spend, cfg))
    report.peak_rss_bytes = peak_rss_bytes()
    report.details = {"patterns": len(patterns.x)}
    report.profiles = len(x)
    return {
        "p_alive": outlook.p_alive,
        "expected_purchases": outlook.expected_purchases,
        "expected_spend": spend,
        "clv": clv,
    }


def predict_lifetimes(
    report: Report, data: dict[str, np.ndarray], params: dict[str, Any]
) -> dict[str, np.ndarray]:
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    bgf = BetaGeoFitter()
    bgf.params_ = pd.Series(params["bgnbd"])
    ggf = GammaGammaFitter()
    g = params["gamma_gamma"]
    ggf.params_ = pd.Series({"p": g["p"], "q": g["q"], "v": g["gamma"]})
    freq, rec, T, zbar = data["frequency"], data["recency"], data["T"], data["zbar"]
    ends = step_ends(params["horizon_days"])
    alive = report.timed("P(alive)", lambda: bgf.conditional_probability_alive(freq, rec, T))
    cumulative = [np.zeros(len(freq))]
    for end in ends:
        cumulative.append(
            report.timed(
                f"E[Y({end:.0f} d)]",
                lambda end=end: bgf.conditional_expected_number_of_purchases_up_to_time(
                    end / DAYS_PER_WEEK, freq, rec, T
                ),
            )
        )
    spend = report.timed("spend", lambda: ggf.conditional_expected_average_profit(freq, zbar))

    def clv() -> np.ndarray:
        discounted = np.zeros(len(freq))
        for k, end in enumerate(ends):
            step = cumulative[k + 1] - cumulative[k]
            discounted += step / (1 + params["discount_rate"]) ** (end / 365.0)
        return params["margin"] * np.asarray(spend) * discounted

    value = report.timed("clv", clv)
    report.peak_rss_bytes = peak_rss_bytes()
    report.profiles = len(freq)
    return {
        "p_alive": np.asarray(alive, dtype=np.float64),
        "expected_purchases": np.asarray(cumulative[-1], dtype=np.float64),
        "expected_spend": np.asarray(spend, dtype=np.float64),
        "clv": np.asarray(value, dtype=np.float64),
    }


# -- command line ---------------------------------------------------------------------------


def run(args: argparse.Namespace, report: Report) -> None:
    data = read_summaries(args.input, args.limit)
    report.profiles = len(data["x"])
    if args.task == "fit":
        if args.side == "clm":
            fit_clm(report, data)
        elif args.side == "pymc":
            fit_pymc(report, data)
        else:
            fit_lifetimes(report, data, weighted=args.side == "lifetimes-weighted")
        return
    params = json.loads(args.params.read_text())
    predict = predict_clm if args.side == "clm" else predict_lifetimes
    out = predict(report, data, params)
    clock = time.perf_counter()
    np.savez(args.out / "predictions.npz", **out)
    report.details["save_seconds"] = time.perf_counter() - clock


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("task", choices=["fit", "predict"])
    parser.add_argument("side", choices=FIT_SIDES)
    parser.add_argument("input", type=Path, help="a Parquet file of customer summaries")
    parser.add_argument("out", type=Path, help="a folder for the report and the results")
    parser.add_argument("--params", type=Path, help="predict: the parameters (JSON)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N customers")
    args = parser.parse_args(argv)
    if args.task == "predict" and (args.side not in PREDICT_SIDES or args.params is None):
        parser.error(f"predict needs --params and a side of {PREDICT_SIDES}")
    args.out.mkdir(parents=True, exist_ok=True)
    report = Report(args.side)
    with reported(report, args.out):
        run(args, report)


if __name__ == "__main__":
    main()
