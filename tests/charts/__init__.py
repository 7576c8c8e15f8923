"""Tests of clm.charts (Plotly figures written as self-contained HTML)."""
