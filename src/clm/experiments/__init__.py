"""Experiments (SPEC §6): statistics over frozen, addable sufficient statistics."""

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
]
