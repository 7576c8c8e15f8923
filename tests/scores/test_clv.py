"""Lifetime value end to end: CDNOW through the generic import, `clm clv`, `clm score`."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from clm import ConfigError, Workspace
from clm.cli.app import app
from clm.models import bgnbd, gamma_gamma
from tests.conftest import data_path
from tests.models.cdnow import prepare

runner = CliRunner()
SAMPLE_COLUMNS = "master_id,sample_id,date,cds,dollars"
PUBLISHED = {
    "bgnbd": {"r": 0.2425945, "alpha": 4.4136019, "a": 0.7929199, "b": 2.4258881},
    "pareto_nbd": {"r": 0.55315, "alpha": 10.57633, "s": 0.60625, "beta": 11.67150},
}
PUBLISHED_LL = {"bgnbd": -9582.429, "pareto_nbd": -9594.976, "gamma_gamma": -4055.918}


def clm(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def validate(ws: Path, start: str, end: str, *more: str) -> str:
    """`clm clv validate` on a workspace, its output."""
    return clm(
        "clv", "validate", "-w", str(ws), "--calibration-end", start, "--holdout-end", end, *more
    )


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A workspace holding the CDNOW sample, imported as a user would (aligned text)."""
    ws = tmp_path / "ws"
    clm("init", str(ws))
    clm(
        "import",
        "transactions",
        str(data_path("cdnow", "CDNOW_sample.txt")),
        "-w",
        str(ws),
        "--delimiter",
        "whitespace",
        "--no-header",
        "--columns",
        SAMPLE_COLUMNS,
        "--customer",
        "sample_id",
        "--time",
        "date",
        "--time-format",
        "%Y%m%d",
        "--amount",
        "dollars",
    )
    return ws


def test_clv_fit_reproduces_the_papers(sample: Path) -> None:
    out = json.loads(
        clm(
            "clv",
            "fit",
            "-w",
            str(sample),
            "--calibration-end",
            "1997-09-30",
            "--model",
            "both",
            "--json",
        )
    )
    assert (out["n_customers"], out["n_repeat_buyers"], out["time_unit"]) == (2357, 946, "week")
    for model, params in PUBLISHED.items():
        for name, value in params.items():
            assert out[model][name] == pytest.approx(value, rel=1e-3), (model, name)
            assert out[model]["stderr"][name] > 0
    for model, ll in PUBLISHED_LL.items():
        assert out[model]["log_likelihood"] == pytest.approx(ll, abs=1e-3)
    gg = out["gamma_gamma"]
    assert (gg["p"], gg["q"], gg["gamma"]) == pytest.approx((6.25, 3.74, 15.44), abs=0.005)
    with Workspace.open(sample) as ws:
        stored = ws.con.execute("SELECT calibration_end, time_unit FROM clv_fits").fetchall()
    assert [(str(d), u) for d, u in stored] == [("1997-09-30", "week")]


def test_clv_validate_tracks_the_holdout(sample: Path, tmp_path: Path) -> None:
    chart = tmp_path / "tracking.html"
    out = json.loads(validate(sample, "1997-09-30", "1998-06-30", "--plot", str(chart), "--json"))
    [model] = out["models"]
    assert model["model"] == "bgnbd"
    assert model["holdout_length"] == pytest.approx(39.0)
    # FHL (2005): 1,882 repeat transactions in the 39-week holdout, 1,653 predicted.
    assert model["total"]["actual"] == 1882
    assert model["total"]["predicted"] == pytest.approx(1653, abs=1.0)
    groups = model["by_frequency"]
    assert sum(g["customers"] for g in groups) == 2357
    assert [g["x"] for g in groups] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    periods = model["periods"]
    assert len(periods) == 78  # 1997-01-01 to 1998-06-30 in weeks
    assert periods[-1]["cumulative_actual"] == 2457 + 1882
    # The cumulative prediction is the sum over cohorts of E[X(t)]: increasing, and close
    # to the actual curve by the end of the calibration period (the paper's Figure 2).
    predicted = [p["cumulative_predicted"] for p in periods]
    assert all(b > a for a, b in itertools.pairwise(predicted))
    at_calibration_end = next(p for p in periods if p["period_end"] >= "1997-09-30")
    assert at_calibration_end["cumulative_predicted"] == pytest.approx(
        at_calibration_end["cumulative_actual"], rel=0.05
    )
    assert "plotly" in chart.read_text()


def test_score_adds_lifetime_value_to_every_buyer(sample: Path, tmp_path: Path) -> None:
    clm("score", "-w", str(sample), "--as-of", "1997-09-30")
    with Workspace.open(sample) as ws:
        values = ws.clv().set_index("customer_id")
        fit = ws.calibration().clv
        scores = ws.scores()
        [run] = ws.status()["scoring_runs"]
    assert run["valued"] == 2357
    assert run["total_clv"] == pytest.approx(values["clv"].sum())
    assert run["mean_p_alive"] == pytest.approx(values["p_alive"].mean())
    assert fit is not None and fit["settings"]["horizon_days"] == 90
    assert len(values) == 2357
    # Recompute from the independent pandas preparation and the stored parameters.
    data = prepare()
    params = tuple(fit["bgnbd"][n] for n in bgnbd.PARAMS)
    spend_params = tuple(fit["gamma_gamma"][n] for n in gamma_gamma.PARAMS)
    alive = bgnbd.p_alive(params, data.x, data.t_x_days / 7, data.t_days / 7)
    purchases = bgnbd.conditional_expected_purchases(
        params, 90 / 7, data.x, data.t_x_days / 7, data.t_days / 7
    )
    spend = gamma_gamma.conditional_expected_spend(spend_params, data.x, data.zbar)
    mine = values.loc[data.ids]
    np.testing.assert_array_equal(mine["x"], data.x)
    np.testing.assert_allclose(mine["p_alive"], alive, rtol=1e-12)
    np.testing.assert_allclose(mine["churn_risk"], 1 - alive, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(mine["expected_purchases"], purchases, rtol=1e-12)
    np.testing.assert_allclose(mine["expected_spend"], spend, rtol=1e-9)
    # 10% a year, discounted per 30-day step: a little below the undiscounted value.
    undiscounted = spend * purchases
    assert np.all(mine["clv"].to_numpy() <= undiscounted + 1e-12)
    assert np.all(mine["clv"].to_numpy() >= undiscounted / 1.1 ** (90 / 365) - 1e-12)
    # The same values in the score table, the export and the customer view.
    assert scores["p_alive"].notna().sum() == 2357
    target = tmp_path / "scores.csv"
    clm("export", "scores", str(target), "-w", str(sample))
    exported = pd.read_csv(target, dtype={"customer_id": str}).set_index("customer_id")
    assert exported.loc["0001", "clv"] == pytest.approx(values.loc["0001", "clv"])
    view = json.loads(clm("customer", "0001", "-w", str(sample), "--json"))
    assert view["lifetime_value"]["p_alive"] == pytest.approx(values.loc["0001", "p_alive"])
    assert "CLV" in clm("customer", "0001", "-w", str(sample))


def test_too_little_data_scores_without_lifetime_value(ws: Workspace) -> None:
    """No one bought twice: neither model can be fitted, scoring goes on and says why."""
    lines = pd.DataFrame(
        {
            "customer": ["a", "b", "c"],
            "time": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-02-01"]),
            "amount": [10.0, 5.0, 7.0],
        }
    )
    ws.import_transactions(lines, customer="customer", time="time", amount="amount")
    run = ws.score("2024-03-01")
    assert run.n_profiles == 3
    assert run.calibration.clv is not None
    skipped = run.calibration.clv["skipped"]
    assert "no customer bought twice" in skipped["bgnbd"]
    assert "no repeat buyers" in skipped["gamma_gamma"]
    assert ws.clv().empty
    assert ws.scores()["p_alive"].isna().all()


def test_clv_can_be_switched_off(ws: Workspace) -> None:
    ws.config_set("clv.enabled", "false")
    ws.import_transactions(
        pd.DataFrame(
            {"c": ["a", "a"], "t": pd.to_datetime(["2024-01-01", "2024-01-05"]), "v": [1.0, 2.0]}
        ),
        customer="c",
        time="t",
        amount="v",
    )
    assert ws.score("2024-02-01").calibration.clv is None


@pytest.mark.slow
def test_master_file_matches_lifetimes(tmp_path: Path) -> None:
    """The full master file (a header line) through the generic import; `lifetimes`
    0.11 measured r 0.2516, α 4.789, a 0.7234, b 2.161, log-likelihood −95,368.4."""
    ws = Workspace.init(tmp_path / "ws")
    try:
        ws.import_transactions(
            data_path("cdnow", "CDNOW_master.txt"),
            delimiter="whitespace",
            customer="customer_id",
            time="date",
            time_format="%Y%m%d",
            amount="dollar_value",
        )
        fit = ws.clv_fit("1997-09-30").purchases["bgnbd"]
    finally:
        ws.close()
    assert fit.n_customers == 23_570
    got = (fit.params["r"], fit.params["alpha"], fit.params["a"], fit.params["b"])
    assert got == pytest.approx((0.2516, 4.789, 0.7234, 2.161), abs=6e-4)
    assert fit.log_likelihood == pytest.approx(-95_368.4, abs=0.05)


def test_validate_warns_and_explains(sample: Path) -> None:
    """A holdout past the data gets a warning; a model that cannot be fitted says why."""
    out = json.loads(validate(sample, "1997-09-30", "1999-12-31", "--json"))
    assert any("the data end on 1998-06-30" in w for w in out["warnings"])
    assert "no customer bought twice" in validate(sample, "1997-01-01", "1998-06-30")


def test_model_names_agree_across_faces(sample: Path) -> None:
    clm("config", "set", "clv.model", "pareto", "-w", str(sample))
    with Workspace.open(sample) as ws:
        assert ws.settings.clv.model == "pareto_nbd"
        # The fit follows the setting unless told otherwise; "pareto" is short for it.
        assert set(ws.clv_fit("1997-09-30").purchases) == {"pareto_nbd"}
        assert set(ws.clv_fit("1997-09-30", model="bgnbd").purchases) == {"bgnbd"}
        with pytest.raises(ConfigError, match="unknown CLV model 'paretto'"):
            ws.clv_fit("1997-09-30", model="paretto")
