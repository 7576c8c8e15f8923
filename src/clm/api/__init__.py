"""The HTTP API of ``clm serve``: the event API (Segment's tracking spec), live profiles
and segments, and admin calls, as thin FastAPI layers over :class:`clm.Workspace`."""
