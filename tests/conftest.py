"""Shared fixtures: where the bundled and shared data sets live."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
# ../shared sits beside the checkout (CI lays a copy there too).
SHARED = ROOT.parent / "shared"
ARTIFACTS = ROOT / "test_artifacts"


@pytest.fixture
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture
def shared_datasets() -> Path:
    path = SHARED / "datasets"
    if not path.is_dir():
        pytest.fail(f"shared data sets not found at {path}")
    return path


@pytest.fixture
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
