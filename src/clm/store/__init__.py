"""The store: one workspace = one embedded DuckDB file, plus the engines that read it."""
