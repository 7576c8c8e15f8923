"""Settings in clm.toml: defaults from SPEC, validation, dotted keys."""

from __future__ import annotations

import tomllib

import pytest

from clm import ConfigError, Workspace, WorkspaceExists, WorkspaceNotFound


def test_init_writes_defaults_and_folders(ws: Workspace) -> None:
    data = tomllib.loads((ws.root / "clm.toml").read_text())
    assert data["rfm"] == {
        "window_days": 365,
        "frequency": "fixed",
        "frequency_thresholds": [2, 3, 4, 6],
    }
    assert (ws.root / "clm.duckdb").exists()
    assert (ws.root / "definitions" / "automations").is_dir()


def test_set_get_and_persist(ws: Workspace) -> None:
    assert ws.config_set("rfm.window_days", "180") == 180
    assert ws.config_set("rfm.frequency", "quantile") == "quantile"
    assert ws.config_set("rfm.frequency_thresholds", "[1, 2, 5, 9]") == [1, 2, 5, 9]
    reopened = Workspace.open(ws.root / ".")
    try:
        assert reopened.config_get("rfm.window_days") == 180
    finally:
        reopened.close()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("rfm.window_days", "-3", "rfm.window_days"),
        ("rfm.frequency", "sometimes", "rfm.frequency"),
        ("rfm.frequency_thresholds", "[3, 2, 4, 6]", "strictly increasing"),
        ("rfm.nonsense", "1", "unknown setting 'rfm.nonsense'"),
    ],
)
def test_invalid_values_are_refused_and_not_written(
    ws: Workspace, key: str, value: str, message: str
) -> None:
    before = (ws.root / "clm.toml").read_text()
    with pytest.raises(ConfigError, match=message):
        ws.config_set(key, value)
    assert (ws.root / "clm.toml").read_text() == before


def test_open_and_init_errors(tmp_path: object, ws: Workspace) -> None:
    with pytest.raises(WorkspaceNotFound, match="clm init"):
        Workspace.open(ws.root.parent / "elsewhere")
    with pytest.raises(WorkspaceExists):
        Workspace.init(ws.root)


def test_activity_weights_take_new_event_types(ws: Workspace) -> None:
    assert ws.config_set("activity.weights.product_view", "0.2") == 0.2
    assert ws.config_get("activity.weights") == {"purchase": 1.0, "product_view": 0.2}
    with pytest.raises(ConfigError, match="weights must be >= 0"):
        ws.config_set("activity.weights.visit", "-1")
    assert ws.config_set("activity.half_life_short", "14") == 14.0
