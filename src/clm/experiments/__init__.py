"""Experiments (SPEC §6): statistics over sufficient statistics, the analysis of a file,
campaign worth and the automation reports."""

from clm.experiments.analysis import analyze
from clm.experiments.statistics import (
    Absolute,
    Comparison,
    CovariateStats,
    Relative,
    SampleRatio,
    SampleStats,
    Undefined,
)
from clm.experiments.worth import Increment, Outcomes, Worth

__all__ = [
    "Absolute",
    "Comparison",
    "CovariateStats",
    "Increment",
    "Outcomes",
    "Relative",
    "SampleRatio",
    "SampleStats",
    "Undefined",
    "Worth",
    "analyze",
]
