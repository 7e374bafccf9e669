"""Shared pytest fixtures.

The CMU mocap clips and CC0 assets are read from the ``shared/`` folder that sits beside
the repository (``../shared``), or from ``$EGOGEN_SHARED``; they are never copied in.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared data folder (mocap, CC0 assets, fixtures); skips if it is absent."""
    path = Path(os.environ.get("EGOGEN_SHARED", REPO.parent / "shared"))
    if not path.is_dir():
        pytest.skip(f"shared data folder not found at {path} (set EGOGEN_SHARED)")
    return path
