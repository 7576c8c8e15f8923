"""`analyze` on files: DuckDB aggregates against pandas and scipy, errors that name the file
and the column, and the published Hillstrom e-mail experiment as a golden case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clm.errors import ClmError, ExperimentInputError
from clm.experiments import analyze

# Kevin Hillstrom's MineThatData E-Mail Analytics Challenge (2008): 64,000 customers, a third
# each to a Mens e-mail, a Womens e-mail and no e-mail; two weeks of visit and conversion.
# Arm sizes, visits and conversions, as (n, visits, conversions), are the published per-arm
# rates times the arm sizes (all whole numbers), from the public analysis
# github.com/aokassamali/Hillstrom-emails-experiment (reports/tables/outcome_means_ci.csv and
# srm.csv: control 21,306, visit 0.1061673, conversion 0.0057261; Mens 21,307, 0.1827568,
# 0.0125311; Womens 21,387, 0.1514004, 0.0088371). The raw data are not on this machine.
HILLSTROM = {
    "No E-Mail": (21306, 2262, 122),
    "Mens E-Mail": (21307, 3894, 267),
    "Womens E-Mail": (21387, 3238, 189),
}


def _hillstrom(path: Path) -> Path:
    frames = []
    for arm, (n, visits, conversions) in HILLSTROM.items():
        visit = np.zeros(n, dtype=int)
        visit[:visits] = 1
        conversion = np.zeros(n, dtype=int)
        conversion[:conversions] = 1  # converters visited (conversions < visits)
        frames.append(pd.DataFrame({"segment": arm, "visit": visit, "conversion": conversion}))
    file = path / "hillstrom.parquet"
    pd.concat(frames).to_parquet(file)
    return file


def _effect(report: dict, arm: str, metric: str) -> dict:
    return next(e for e in report["effects"] if e["arm"] == arm and e["metric"] == metric)


def test_hillstrom_golden(tmp_path: Path) -> None:
    report = analyze(_hillstrom(tmp_path), "segment", "No E-Mail", ["visit", "conversion"])
    assert report["metrics"] == {"visit": "conversion", "conversion": "conversion"}
    arms = {a["arm"]: a for a in report["arms"]}
    assert report["arms"][0]["arm"] == "No E-Mail"
    for arm, (n, visits, conversions) in HILLSTROM.items():
        assert arms[arm]["n"] == n
        assert arms[arm]["metrics"]["visit"]["sum"] == visits
        assert arms[arm]["metrics"]["conversion"]["mean"] == conversions / n
    # published per-arm rates (outcome_means_ci.csv), exact
    assert arms["Mens E-Mail"]["metrics"]["conversion"]["mean"] == pytest.approx(
        0.01253109306800582, rel=1e-15
    )
    assert arms["Womens E-Mail"]["metrics"]["visit"]["mean"] == pytest.approx(
        0.151400383410483, rel=1e-15
    )
    # published differences (uplift_ci.csv) and relative lifts (+118.8% Mens, +54.3% Womens
    # on conversion, as reported by public analyses of the challenge)
    mens = _effect(report, "Mens E-Mail", "conversion")
    womens = _effect(report, "Womens E-Mail", "conversion")
    assert mens["absolute"]["estimate"] == pytest.approx(0.006805006519615695, rel=1e-12)
    assert womens["absolute"]["estimate"] == pytest.approx(0.003111057511085258, rel=1e-12)
    assert _effect(report, "Mens E-Mail", "visit")["absolute"]["estimate"] == pytest.approx(
        0.07658956365153125, rel=1e-12
    )
    assert round(mens["relative"]["estimate"], 3) == 1.188
    assert round(womens["relative"]["estimate"], 3) == 0.543
    # SRM against a 1/3 split: χ² 0.2025313, p 0.903693 (srm.csv)
    assert report["srm"]["p_value"] == pytest.approx(0.903692957551268, rel=1e-9)
    assert report["srm"]["flag"] is False
    # standard error: the reference used n − 1 variances (se 0.00092087); SPEC §6's p(1 − p)
    # gives 0.00092085 — the same to 4 significant digits
    p1, p0 = 267 / 21307, 122 / 21306
    se = np.sqrt(p1 * (1 - p1) / 21307 + p0 * (1 - p0) / 21306)
    assert se == pytest.approx(0.0009208727857351216, rel=1e-4)
    # CI and p-value: scipy's Welch test from the same statistics
    ref = stats.ttest_ind_from_stats(
        p1, np.sqrt(p1 * (1 - p1)), 21307, p0, np.sqrt(p0 * (1 - p0)), 21306, equal_var=False
    )
    assert mens["absolute"]["p_value"] == pytest.approx(ref.pvalue, rel=1e-6)
    low, high = mens["absolute"]["ci"]
    assert (high - low) / 2 == pytest.approx(stats.norm.isf(0.025) * se, rel=1e-4)
    assert mens["chance_to_win"] == pytest.approx(stats.norm.cdf(0.006805006519615695 / se))


def test_file_aggregates_match_pandas_and_scipy(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 900
    frame = pd.DataFrame(
        {
            "arm": rng.choice(["A", "B", "control"], n),
            "revenue": rng.gamma(2.0, 10.0, n).round(2),
            "bought": (rng.random(n) < 0.2).astype(int),
        }
    )
    csv = tmp_path / "units.csv"
    frame.to_csv(csv, index=False)
    report = analyze(csv, "arm", "control", ["revenue", "bought"])
    assert report["metrics"] == {"revenue": "mean", "bought": "conversion"}
    assert [a["arm"] for a in report["arms"]] == ["control", "A", "B"]
    groups = frame.groupby("arm")
    for a in report["arms"]:
        g = groups.get_group(a["arm"])
        assert a["n"] == len(g)
        assert a["metrics"]["revenue"]["sum"] == pytest.approx(g.revenue.sum())
        assert a["metrics"]["revenue"]["mean"] == pytest.approx(g.revenue.mean())
    for arm in ("A", "B"):
        e = _effect(report, arm, "revenue")
        ref = stats.ttest_ind(
            groups.get_group(arm).revenue, groups.get_group("control").revenue, equal_var=False
        )
        ci = ref.confidence_interval()
        assert e["absolute"]["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
        assert e["absolute"]["ci"] == pytest.approx([ci.low, ci.high], rel=1e-9)
    parquet = tmp_path / "units.parquet"
    frame.to_parquet(parquet)
    again = analyze(parquet, "arm", "control", ["revenue", "bought"])
    assert again["arms"] == report["arms"]
    for e, f in zip(again["effects"], report["effects"], strict=True):
        assert e["absolute"]["ci"] == pytest.approx(f["absolute"]["ci"], rel=1e-12)


def test_cuped_and_sequential_blocks(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    n = 600
    pre = rng.gamma(2.0, 10.0, n)
    arm = rng.choice(["control", "treated"], n)
    post = pre * 0.9 + 3.0 * (arm == "treated") + rng.normal(0, 2, n)
    file = tmp_path / "units.csv"
    pd.DataFrame({"arm": arm, "pre": pre, "post": post}).to_csv(file, index=False)
    report = analyze(file, "arm", "control", ["post"], covariate="pre", sequential=True)
    cuped = report["cuped"]
    assert cuped["covariate"] == "pre"
    assert cuped["theta"]["post"] == pytest.approx(0.9, abs=0.05)
    plain, adjusted = report["effects"][0], cuped["effects"][0]
    width = plain["absolute"]["ci"][1] - plain["absolute"]["ci"][0]
    adjusted_width = adjusted["absolute"]["ci"][1] - adjusted["absolute"]["ci"][0]
    assert adjusted_width < width / 3
    assert adjusted["absolute"]["ci"][0] < 3.0 < adjusted["absolute"]["ci"][1]
    seq = report["sequential"]["effects"][0]
    assert seq["absolute"]["estimate"] == plain["absolute"]["estimate"]
    assert seq["absolute"]["ci"][0] < plain["absolute"]["ci"][0]
    assert "p_value" not in seq["absolute"]


def test_zero_variance_comes_back_with_a_reason(tmp_path: Path) -> None:
    file = tmp_path / "flat.csv"
    file.write_text("arm,bought\nc,0\nc,0\nt,0\nt,0\n")
    e = analyze(file, "arm", "c", ["bought"])["effects"][0]
    assert e["absolute"] == {
        "estimate": None,
        "ci": [None, None],
        "p_value": None,
        "reason": "zero variance in both arms",
    }
    assert e["chance_to_win"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("group", "c", ["bought"]), "no column 'group'"),
        (("arm", "c", ["spent"]), "no column 'spent'"),
        (("arm", "c", ["note"]), "column 'note' is VARCHAR, not numeric"),
        (("arm", "x", ["bought"]), "control 'x' is not a value of column 'arm'"),
        (("arm", "c", ["gap"]), "column 'gap' is empty in 1 rows"),
    ],
)
def test_errors_name_the_file_and_the_column(
    tmp_path: Path, args: tuple[str, str, list[str]], message: str
) -> None:
    file = tmp_path / "units.csv"
    file.write_text("arm,bought,note,gap\nc,0,a,1\nc,1,b,\nt,1,c,2\n")
    with pytest.raises(ExperimentInputError, match=message) as info:
        analyze(file, *args)
    assert str(file) in str(info.value)
    assert isinstance(info.value, ClmError)


def test_missing_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(ExperimentInputError, match="no such file"):
        analyze(tmp_path / "nope.csv", "arm", "c", ["bought"])
    other = tmp_path / "units.xlsx"
    other.write_text("x")
    with pytest.raises(ExperimentInputError, match=r"\.csv or \.parquet"):
        analyze(other, "arm", "c", ["bought"])
