"""Population scores: RFM, lifecycle segments, and their calibration (SPEC §2–3)."""
