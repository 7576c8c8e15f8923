"""The CDNOW sample prepared as in the papers, with pandas (independent of clm's engine)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tests.conftest import data_path

CALIBRATION_END = pd.Timestamp("1997-09-30")
HOLDOUT_END = pd.Timestamp("1998-06-30")


@dataclass(frozen=True)
class Prepared:
    """Per customer: x, t_x and T in days, z̄, and the holdout purchase days."""

    ids: np.ndarray
    x: np.ndarray
    t_x_days: np.ndarray
    t_days: np.ndarray
    zbar: np.ndarray
    holdout: np.ndarray


def prepare(file: str = "CDNOW_sample.txt", id_column: int = 1) -> Prepared:
    """Same-day purchases merged (dollars summed), the first day dropped (FHL 2005, §4)."""
    raw = pd.read_csv(data_path("cdnow", file), sep=r"\s+", header=None, dtype=str)
    if not raw.iloc[0, 2].isdigit():  # the master file has a header line
        raw = raw.iloc[1:]
    dollars = raw.iloc[:, -1].astype(float)
    lines = pd.DataFrame(
        {
            "id": raw.iloc[:, id_column],
            "day": pd.to_datetime(raw.iloc[:, -3], format="%Y%m%d"),
            "usd": dollars,
        }
    )
    days = lines.groupby(["id", "day"], as_index=False)["usd"].sum().sort_values(["id", "day"])
    cal = days[days["day"] <= CALIBRATION_END]
    per = cal.groupby("id").agg(
        first=("day", "min"),
        last=("day", "max"),
        n=("day", "size"),
        total=("usd", "sum"),
        first_usd=("usd", "first"),
    )
    x = (per["n"] - 1).to_numpy()
    later = days[(days["day"] > CALIBRATION_END) & (days["day"] <= HOLDOUT_END)]
    holdout = later.groupby("id").size().reindex(per.index, fill_value=0).to_numpy()
    zbar = np.where(x > 0, (per["total"] - per["first_usd"]) / np.maximum(x, 1), 0.0)
    return Prepared(
        ids=per.index.to_numpy(),
        x=x,
        t_x_days=(per["last"] - per["first"]).dt.days.to_numpy(),
        t_days=(CALIBRATION_END - per["first"]).dt.days.to_numpy(),
        zbar=zbar,
        holdout=holdout,
    )
