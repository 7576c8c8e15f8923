"""Measurement settings read from automation files, with clear errors naming file and key."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from clm.errors import ExperimentInputError
from clm.experiments.measurement import Measurement, load_measurements, measurement


def write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def test_settings_from_yaml_and_json_files(tmp_path: Path) -> None:
    folder = tmp_path / "automations"
    write(folder, "wb.yaml", "name: winback\nmeasurement:\n  margin: 0.35\n  holdout_share: 0.2\n")
    write(folder, "welcome.json", json.dumps({"holdout_share": 0.1}))
    write(folder, "notes.txt", "not an automation")
    assert load_measurements(folder, default_margin=0.6) == {
        "winback": Measurement(0.35, 0.2),  # keyed by the definition's name
        "welcome": Measurement(0.6, 0.1),  # else by the file name; margin from the default
    }
    assert load_measurements(tmp_path / "missing") == {}
    assert measurement({}) == Measurement(1.0, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: [unclosed\n", "cannot parse"),
        ("- a list\n", "holds a mapping"),
        ("measurement: 3\n", "measurement is not a mapping"),
        ("measurement:\n  margin: high\n", "measurement.margin is 'high', not a number"),
        ("measurement:\n  margin: 1.5\n", r"measurement.margin is 1.5, outside \(0, 1\]"),
        ("holdout_share: 1\n", r"holdout_share is 1, outside \(0, 1\)"),
        ("measurement:\n  holdout_share: 0\n", r"holdout_share is 0, outside"),
    ],
)
def test_bad_settings_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path, "broken.yaml", text)
    with pytest.raises(ExperimentInputError, match=message) as info:
        load_measurements(tmp_path)
    assert "broken.yaml" in str(info.value)


def test_an_edited_file_is_read_again(tmp_path: Path) -> None:
    """Parsed files are kept per modification time and size: an edit is seen at once."""
    folder = tmp_path / "automations"
    write(folder, "wb.yaml", "name: winback\nmeasurement:\n  margin: 0.35\n")
    assert load_measurements(folder)["winback"] == Measurement(0.35, None)
    assert load_measurements(folder)["winback"] == Measurement(0.35, None)  # from the cache
    write(folder, "wb.yaml", "name: winback\nmeasurement:\n  margin: 0.45\n")  # same size
    os.utime(folder / "wb.yaml", ns=(1, 1))  # a different modification time, whatever the clock
    assert load_measurements(folder)["winback"] == Measurement(0.45, None)
