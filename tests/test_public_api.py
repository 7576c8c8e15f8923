"""The public surface is what __all__ says, and everything in it exists."""

from __future__ import annotations

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
    # subpackages are importable but not part of the curated surface
    assert public - set(clm.__all__) <= {
        "errors",
        "workspace",
        "config",
        "ingest",
        "scores",
        "store",
        "profiles",
        "progress",
        "cli",
        "models",
        "charts",
        "experiments",
        "automation",
    }
