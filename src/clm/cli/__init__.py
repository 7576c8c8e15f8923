"""The `clm` command line."""

from clm.cli.app import app, main

__all__ = ["app", "main"]
