"""Tests of clm.experiments (SPEC §6)."""
