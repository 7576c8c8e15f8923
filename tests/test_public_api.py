"""The public surface is what __all__ says, and everything in it exists."""

from __future__ import annotations

import pkgutil

import clm


def test_all_names_exist_and_are_exactly_the_public_api() -> None:
    assert sorted(clm.__all__) == sorted(
        [
            "AutomationError",
            "ClmError",
            "ClvFit",
            "DefinitionError",
            "ConfigError",
            "ImportFailed",
            "ImportSummary",
            "NotFound",
            "ScoringError",
            "ScoringRun",
            "Workspace",
            "WorkspaceError",
            "WorkspaceExists",
            "WorkspaceNotFound",
            "__version__",
        ]
    )
    for name in clm.__all__:
        assert hasattr(clm, name), name
    public = {n for n in dir(clm) if not n.startswith("_")}
    # subpackages and modules are importable but not part of the curated surface
    own = {m.name for m in pkgutil.iter_modules(clm.__path__)}
    assert public - set(clm.__all__) <= own
