"""An automation's measurement settings: gross margin and holdout share (SPEC §6).

They live in the automation's definition file (``definitions/automations/NAME.yaml``, or
``.yml``/``.json``): ``measurement.margin`` (a share of revenue, default the workspace's
``clv.margin``) and the holdout share as ``measurement.holdout_share`` or a top-level
``holdout_share``. Message and incentive costs are already in the measurement units.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from clm.errors import ExperimentInputError


@dataclass(frozen=True)
class Measurement:
    """An automation's measurement settings: gross margin and configured holdout share."""

    margin: float = 1.0
    holdout_share: float | None = None


def measurement(definition: Mapping[str, Any], default_margin: float = 1.0) -> Measurement:
    """The measurement settings of a parsed automation definition.

    Reads ``measurement.margin`` (else ``default_margin``) and the holdout share from
    ``measurement.holdout_share`` or a top-level ``holdout_share`` (else unknown: no SRM test).
    """
    block = definition.get("measurement") or {}
    if not isinstance(block, Mapping):
        raise ValueError("measurement is not a mapping")
    margin = _share(block.get("margin", default_margin), "measurement.margin", closed=True)
    holdout = block.get("holdout_share", definition.get("holdout_share"))
    return Measurement(margin, None if holdout is None else _share(holdout, "holdout_share"))


def _share(value: Any, key: str, closed: bool = False) -> float:
    """A number in (0, 1), or (0, 1] when ``closed``; else a ValueError naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} is {value!r}, not a number")
    if not (0 < value < 1 or (closed and value == 1)):
        bounds = "(0, 1]" if closed else "(0, 1)"
        raise ValueError(f"{key} is {value}, outside {bounds}")
    return float(value)


def load_measurements(folder: Path, default_margin: float = 1.0) -> dict[str, Measurement]:
    """Measurement settings of every automation file (``.yaml``, ``.yml``, ``.json``) in
    ``folder``, keyed by the definition's ``name`` (else the file name without suffix)."""
    found: dict[str, Measurement] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in {".yaml", ".yml", ".json"}:
            continue
        doc = _read_definition(path)
        try:
            found[str(doc.get("name", path.stem))] = measurement(doc, default_margin)
        except (TypeError, ValueError, AttributeError) as exc:
            raise ExperimentInputError(
                f"{path}: measurement settings are invalid ({exc})"
            ) from None
    return found


# libyaml's loader when PyYAML was built with it (about 10x faster than the pure-Python one)
LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PARSED: dict[tuple[str, int, int], dict[str, Any]] = {}  # (path, mtime_ns, size) -> document
_LOCK = threading.Lock()  # the dashboard reads from several threads


def _read_definition(path: Path) -> dict[str, Any]:
    """The parsed file, kept while its modification time and size stay the same (the
    dashboard reads the measurements at every report)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    with _LOCK:
        doc = _PARSED.get(key)
    if doc is None:
        doc = _parse(path)
        with _LOCK:
            for old in [k for k in _PARSED if k[0] == key[0]]:
                del _PARSED[old]
            _PARSED[key] = doc
    return copy.deepcopy(doc)


def _parse(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    try:
        doc = json.loads(text) if path.suffix.lower() == ".json" else yaml.load(text, LOADER)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ExperimentInputError(f"{path}: cannot parse the automation file ({exc})") from None
    if not isinstance(doc, dict):
        raise ExperimentInputError(f"{path}: an automation file holds a mapping")
    return doc
