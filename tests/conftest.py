"""Shared fixtures: a fresh workspace per test, the real data sets, a Spark session."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from clm import Workspace

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    """A new, empty workspace in the test's temporary folder."""
    workspace = Workspace.init(tmp_path / "ws")
    yield workspace
    workspace.close()


def data_path(*parts: str) -> Path:
    """A file of ``../shared/data``; the test skips (with the reason) where it is absent."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data set not available: {path}")
    return path


def java_available() -> bool:
    return shutil.which("java") is not None or bool(os.environ.get("JAVA_HOME"))


@pytest.fixture(scope="session")
def spark_session() -> Iterator[object]:
    """One local Spark session for the whole run (starting one takes seconds)."""
    pytest.importorskip("pyspark", reason="PySpark is not installed (extra 'spark')")
    if not java_available():
        pytest.fail("PySpark needs a Java runtime; install one (the test script does)")
    from clm.store.engines import spark_session as make

    session = make("local[2]")
    yield session
    session.stop()
