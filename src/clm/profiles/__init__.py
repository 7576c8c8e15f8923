"""The single customer view, batch (view.py) and live (live*.py: the state of `clm serve`)."""
