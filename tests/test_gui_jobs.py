"""The window's one background-work path and its safety nets: exports and refits of saved runs run
on the worker (never on the GUI thread), an exception that reaches the event loop is shown and the
window stays usable, Ctrl+E works from a hyperparameter field, and an a-MMSB fit leaves the window
able to run again."""

from __future__ import annotations

import sys
import threading

import pytest

pytest.importorskip("pytestqt")

from helpers import export_to, run_to_end  # noqa: E402
from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtGui import QGuiApplication  # noqa: E402
from PySide6.QtWidgets import QLineEdit  # noqa: E402

from explorer import export as export_mod  # noqa: E402
from explorer.models import registry  # noqa: E402
from explorer.workspace import Workspace  # noqa: E402


@pytest.fixture
def window(make_window, dialogs):
    # (dialogs: a message box is recorded instead of waiting for a click, so a failure fails the
    # test instead of blocking it)
    return make_window(registry(), (1300, 850))


def _iris_kmeans(qtbot, window, sample_dir):
    assert window.open_file(sample_dir / "iris.csv", labels="species")
    assert window.select_model("kmeans")
    window.model_panel.form.set_values({"K": 3})
    return run_to_end(qtbot, window)


def test_export_is_written_off_the_gui_thread(qtbot, window, sample_dir, tmp_path, monkeypatch):
    _iris_kmeans(qtbot, window, sample_dir)
    threads = []
    real = export_mod.export_result

    def recording(result, out_dir, **options):
        threads.append(threading.current_thread())
        return real(result, out_dir, **options)

    monkeypatch.setattr(export_mod, "export_result", recording)
    paths = export_to(qtbot, window, tmp_path / "out")
    assert paths["result"].is_file()
    assert len(threads) == 1 and threads[0] is not threading.main_thread()


def test_saved_run_is_fitted_again_off_the_gui_thread(
    qtbot, window, make_window, sample_dir, tmp_path, monkeypatch
):
    result = _iris_kmeans(qtbot, window, sample_dir)
    path = window.save_session(tmp_path / "one-run")
    threads = []
    real = Workspace.refit_steps

    def recording(self, run_id, control=None):
        threads.append(threading.current_thread())
        return (yield from real(self, run_id, control))

    monkeypatch.setattr(Workspace, "refit_steps", recording)
    other = make_window(registry(), (1300, 850))
    other.confirm_paths = lambda paths: True  # "Read them": iris.csv is outside tmp_path
    with qtbot.waitSignal(other.run_shown, timeout=60_000):
        assert other.open_session(path)
    assert len(threads) == 1 and threads[0] is not threading.main_thread()
    assert other.result.final_objective == pytest.approx(result.final_objective, rel=1e-12)
    # Export of that run from the Runs tab: no second refit (the result is kept).
    with qtbot.waitSignal(other.exported, timeout=60_000):
        other.export_results(tmp_path / "again")
    assert len(threads) == 1


@pytest.mark.qt_no_exception_capture
def test_exception_in_a_slot_is_shown_and_the_window_goes_on(
    qtbot, window, sample_dir, monkeypatch, capsys
):
    from explorer.gui.app import install_excepthook

    monkeypatch.setattr(sys, "excepthook", lambda *a: None)
    install_excepthook(window)
    window.interactive = False

    def broken_slot():
        raise RuntimeError("a bug in a slot")

    QTimer.singleShot(0, broken_slot)
    qtbot.waitUntil(lambda: "a bug in a slot" in window.log_view.toPlainText(), timeout=5_000)
    assert "error: unexpected RuntimeError: a bug in a slot" in window.log_view.toPlainText()
    assert "a bug in a slot" in capsys.readouterr().err
    result = _iris_kmeans(qtbot, window, sample_dir)  # still usable
    assert result.trace


def test_ctrl_e_exports_from_a_hyperparameter_field(qtbot, window, sample_dir, monkeypatch):
    _iris_kmeans(qtbot, window, sample_dir)
    calls = []
    monkeypatch.setattr(window, "export_results", lambda *a, **k: calls.append(a))
    # The action's slot is a lambda calling window.export_results: the patched one is called.
    window.activateWindow()
    qtbot.waitUntil(lambda: QGuiApplication.focusWindow() is not None, timeout=5_000)
    field = next(w for w in window.model_panel.findChildren(QLineEdit) if w.isVisible())
    field.setFocus()
    qtbot.waitUntil(field.hasFocus, timeout=5_000)
    qtbot.keyClick(field, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert len(calls) == 1


def test_copy_as_command_puts_the_line_on_the_clipboard(qtbot, window, sample_dir):
    _iris_kmeans(qtbot, window, sample_dir)
    window.model_panel.form.set_values({"K": 5})  # K = 3 is the default: no flag
    window.copy_command_action.trigger()
    text = QGuiApplication.clipboard().text()
    assert text.startswith("explorer fit kmeans ") and "--K 5" in text
    assert "--labels species" in text and text == window.run_code("command")
    window.copy_python_action.trigger()
    assert "explorer.fit('kmeans', data" in QGuiApplication.clipboard().text()
    window.copy_estimator_action.trigger()
    assert "KMeans(n_clusters=5, random_state=0" in QGuiApplication.clipboard().text()


@pytest.mark.parametrize("network", ["karate", "football"])
def test_ammsb_fit_then_every_next_action(qtbot, window, sample_dir, network):
    """After an a-MMSB fit: Run again, switch model, open another file; each leaves a window that
    fits (the trace panel's reset raised KeyError: 0 here)."""
    assert window.open_file(sample_dir / network / "edges.csv")
    assert window.select_model("ammsb")
    window.model_panel.set_run_settings({"max_iter": 30})
    assert run_to_end(qtbot, window, timeout=120_000).trace
    assert run_to_end(qtbot, window, timeout=120_000).trace
    assert window.select_model("ammsb")
    assert run_to_end(qtbot, window, timeout=120_000).trace
    assert window.open_file(sample_dir / "iris.csv")
    assert window.select_model("gmm")
    assert run_to_end(qtbot, window, timeout=120_000).trace
    assert "error" not in window.log_view.toPlainText().lower()


def test_a_session_reads_no_file_outside_its_folder_without_a_yes(
    qtbot, window, make_window, dialogs, sample_dir, tmp_path
):
    _iris_kmeans(qtbot, window, sample_dir)
    path = window.save_session(tmp_path / "one-run")
    other = make_window(registry(), (1300, 850))
    asked = []
    other.confirm_paths = lambda paths: asked.append(paths) or False  # "Cancel"
    other.open_session(path)
    assert [p.name for p in asked[0]] == ["iris.csv"]
    assert other.data is None and other.result is None and other.job is None
    assert "outside the session's folder; not read until confirmed" in other.log_view.toPlainText()
    assert dialogs and dialogs[-1][0] == "Data not used"
