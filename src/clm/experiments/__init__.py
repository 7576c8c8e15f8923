"""Experiments (SPEC §6): statistics over sufficient statistics and the analysis of a file."""

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

__all__ = [
    "Absolute",
    "Comparison",
    "CovariateStats",
    "Relative",
    "SampleRatio",
    "SampleStats",
    "Undefined",
    "analyze",
]
