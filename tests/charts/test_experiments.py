"""Experiment charts: the traces carry the report's numbers, the HTML works offline."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from clm.charts import experiments as charts
from clm.errors import ClmError


def test_forest_plot_carries_estimates_and_intervals(analyzed: dict[str, Any]) -> None:
    figure = charts.effects_figure(analyzed)
    traces = {t.name: t for t in figure.data}
    assert set(traces) == {"converted", "revenue"}
    for metric, trace in traces.items():
        effects = [e for e in analyzed["effects"] if e["metric"] == metric]
        assert list(trace.y) == [e["arm"] for e in effects] == ["email", "sms"]
        for i, e in enumerate(effects):
            lo, hi = e["absolute"]["ci"]
            assert trace.x[i] == e["absolute"]["estimate"]
            assert trace.x[i] - trace.error_x.arrayminus[i] == pytest.approx(lo)
            assert trace.x[i] + trace.error_x.array[i] == pytest.approx(hi)


def test_cumulative_band_follows_the_daily_series(automation: dict[str, Any]) -> None:
    figure = charts.cumulative_figure(automation)
    traces = {t.name: t for t in figure.data}
    daily = automation["daily"]
    line = traces["revenue cumulative"]
    assert list(line.x) == [d["day"] for d in daily]
    assert list(line.y) == [d["effects"]["revenue"]["estimate"] for d in daily]
    assert list(traces["revenue 95% CI"].y) == [d["effects"]["revenue"]["ci"][0] for d in daily]
    assert traces["revenue 95% CI"].fill == "tonexty"
    assert list(traces["revenue upper"].y) == [d["effects"]["revenue"]["ci"][1] for d in daily]
    profit = [d["worth"]["profit"]["estimate"] for d in daily]
    assert list(traces["profit cumulative"].y) == profit


def test_automation_chart_has_variants_and_series(automation: dict[str, Any]) -> None:
    figure = charts.automation_figure(automation)
    forest = next(t for t in figure.data if t.name == "revenue")
    assert list(forest.y) == ["treatment A", "treatment B", "treatment (all)"]
    names = {t.name for t in figure.data}
    assert {"converted cumulative", "revenue cumulative", "profit cumulative"} <= names


def html_of(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_html_is_self_contained(automation: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "automation.html"
    charts.write_automation_chart(automation, path)
    html = html_of(path)
    assert not re.search(r"<script[^>]*\bsrc=", html), "plotly.js must be inline, not a CDN"
    assert "Plotly.newPlot" in html
    assert len(html) > 1_000_000  # plotly.js itself is embedded (about 3.5 MB)
    for name in ("revenue cumulative", "profit 95% CI", "treatment A"):
        assert name in html
    with pytest.raises(ClmError, match=r"\.html or \.png"):
        charts.write_effects_chart(automation, tmp_path / "chart.pdf")


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_chart_draws_offline_in_chromium(analyzed: dict[str, Any], tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    path = tmp_path / "effects.html"
    charts.write_effects_chart(analyzed, path)
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"))
        page = browser.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri())
        page.wait_for_selector(".scatterlayer .point")
        points = page.locator(".scatterlayer .point").count()
        browser.close()
    assert points == 4  # two variants on two metrics
    assert all(url.startswith("file://") for url in requests), requests
