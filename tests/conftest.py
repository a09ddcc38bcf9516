"""Shared fixtures: where the bundled and shared data sets live.

Every data set the tests read is bundled in ``sample_data/`` (see its README for sources and
licences), except the SocioPatterns primary-school contacts, whose non-commercial licence keeps them
out of the repository. Tests that need them take the ``shared_datasets`` fixture, which looks for
the project's shared folder at ``$EXPLORER_SHARED`` if set, else at ``../shared`` beside the
checkout. Without it those tests are skipped with one line saying why, except under CI (``CI=true``),
where a missing shared folder is a failure so that CI keeps running them.
"""

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
ARTIFACTS = ROOT / "test_artifacts"


def shared_root() -> Path:
    """$EXPLORER_SHARED if set (useful from a git worktree), else ../shared beside the checkout."""
    env = os.environ.get("EXPLORER_SHARED", "").strip()
    return Path(env).expanduser() if env else ROOT.parent / "shared"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture
def sample_dir() -> Path:
    return SAMPLE


def find_shared_datasets() -> Path:
    """The shared data sets folder, else skip (fail under CI) with one line saying why."""
    path = shared_root() / "datasets"
    if not path.is_dir():
        how = "set EXPLORER_SHARED=/path/to/shared or place it at ../shared"
        if in_ci():
            pytest.fail(f"CI=true but the shared data sets are missing at {path} ({how})")
        pytest.skip(f"non-redistributable data not present at {path} ({how})")
    return path


@pytest.fixture
def shared_datasets() -> Path:
    """The shared data sets folder (non-redistributable data only; everything else is bundled)."""
    return find_shared_datasets()


@pytest.fixture
def register_models():
    """``register_models(ModelA, ...)`` registers test models for one test, so that the window,
    ``get_model`` and sessions find them by id; each is unregistered when the test ends, passed or
    failed. Tests never edit the registry's dict themselves. Returns the models a test window
    offers: every registered model by id, these added last."""
    from explorer.models import register, registry, unregister

    added: list[str] = []

    def add(*classes):
        models = registry()
        for cls in classes:
            register(cls)
            added.append(cls.id)
            models[cls.id] = cls
        return models

    yield add
    for model_id in added:
        unregister(model_id)


@pytest.fixture
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def dialogs(monkeypatch):
    """The window's message boxes (QMessageBox.exec) patched: record (title, text, details) and
    answer Ok instead of blocking."""
    from PySide6.QtWidgets import QMessageBox

    shown = []

    def fake_exec(box):
        shown.append((box.windowTitle(), box.text(), box.detailedText()))
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "exec", fake_exec)
    return shown


@pytest.fixture
def settings(tmp_path):
    """The window's settings in a private INI file: tests never touch the user's settings."""
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def make_window(qtbot, settings):
    """``make_window(models, size)``: a shown MainWindow offering ``models``, with the test's
    private settings, resized to ``size``; closed when the test ends, without the quit question
    (the test may end during a fit). A test whose window may show a message box takes the
    ``dialogs`` fixture (or patches QMessageBox.exec) so that it never waits for a click."""
    from explorer.gui.main_window import MainWindow

    windows = []

    def make(models, size):
        w = MainWindow(settings, models=models)
        qtbot.addWidget(w)
        w.resize(*size)
        w.show()
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.interactive = False
        w.close()
