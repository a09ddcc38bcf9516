"""The newcomer's defects of issue 21, each as a user meets it: values that carried across files,
Restore defaults, Runs tab numbering / data column / mixed objectives, Sweep K criteria and its
cancelled state, the Pause button's icon."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from helpers import run_to_end  # noqa: E402
from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QStyle  # noqa: E402

from explorer.models import registry  # noqa: E402


@pytest.fixture
def window(make_window, dialogs):  # (dialogs: no message box waits for a click)
    return make_window(registry(), (1300, 850))


def test_values_are_remembered_per_file_and_restored_to_defaults(qtbot, window, sample_dir):
    assert window.open_file(sample_dir / "old_faithful.csv")
    assert window.select_model("gmm")
    window.model_panel.form.set_values({"reg_covar": 0.5, "K": 2})
    window.model_panel.set_run_settings({"seed": 7, "max_iter": 20})
    run_to_end(qtbot, window)
    # Another table: gmm at its defaults (reg_covar was 0.5 on the other file), seed 0, no note.
    assert window.open_file(sample_dir / "iris.csv")
    assert window.select_model("gmm")
    defaults = {s.name: s.default for s in window.models["gmm"].param_specs()}
    assert window.model_panel.form.values()["reg_covar"] == defaults["reg_covar"]
    assert window.model_panel.run_settings()["seed"] == 0
    assert not window.model_panel.values_note.isVisibleTo(window)
    # Back to the first file: its values, said in the panel; Restore defaults resets them all.
    assert window.open_file(sample_dir / "old_faithful.csv")
    assert window.select_model("gmm")
    assert window.model_panel.form.values()["reg_covar"] == 0.5
    assert window.model_panel.run_settings()["seed"] == 7
    assert "last run of gmm on this file" in window.model_panel.values_note.text()
    assert window.model_panel.values_note.isVisibleTo(window)
    window.model_panel.restore_button.click()
    assert window.model_panel.form.values() == defaults
    assert window.model_panel.run_settings()["seed"] == 0
    assert not window.model_panel.values_note.isVisibleTo(window)


def test_sweep_dot_seed_does_not_follow_to_another_model(qtbot, window, sample_dir):
    assert window.open_file(sample_dir / "iris.csv")
    assert window.select_model("kmeans")
    window.fit_from_sweep(3, 7)  # what a click on a sweep dot does
    qtbot.waitSignal(window.run_finished, timeout=60_000).wait()
    assert window.select_model("gmm")
    assert window.model_panel.run_settings()["seed"] == 0


def test_runs_tab_numbers_like_the_log_names_the_data_and_keeps_kinds_apart(
    qtbot, window, sample_dir
):
    assert window.open_file(sample_dir / "iris.csv")
    assert window.select_model("kmeans")
    window.model_panel.set_run_settings({"max_iter": 100_000, "tol": 0.0})
    assert window.start_run()
    window.model_panel.form.set_values({"K": 4})  # a value changed mid-run ...
    with qtbot.waitSignal(window.run_finished, timeout=60_000):
        window.run_panel.restart_button.click()  # ... "Restart with new values"
    window.model_panel.set_run_settings({"max_iter": 50, "tol": 1e-6})
    assert window.open_file(sample_dir / "old_faithful.csv")
    assert window.select_model("gmm")
    window.model_panel.set_run_settings({"max_iter": 50})
    run_to_end(qtbot, window)
    ids = [r.id for r in window.session.runs]
    log = window.log_view.toPlainText()
    for rid, model in zip(ids, ("kmeans", "gmm")):
        assert f"run {rid}: {model} (" in log  # the log's number is the table's
    panel = window.runs_panel
    col = [c for c, _ in panel.model.columns].index("data")
    names = [panel.model.data(panel.model.index(r, col)) for r in range(2)]
    assert names[0].startswith("iris.csv") and names[1].startswith("old_faithful.csv")
    panel.select_runs(ids)
    items = [i for i in panel.plot.getPlotItem().listDataItems()]
    assert len(items) == 1  # a distortion and a log-likelihood
    assert "not drawn (another objective)" in panel.plot.getPlotItem().titleLabel.text


def test_sweep_k_offers_what_applies_counts_and_says_cancelled(qtbot, window, sample_dir):
    assert window.open_file(sample_dir / "iris.csv")
    assert window.select_model("kmeans")
    panel = window.sweep_panel
    window.tabs.setCurrentWidget(panel)
    panel.k_range.setText("2:4")
    panel.seeds.setValue(2)
    panel.jobs.setValue(1)
    with qtbot.waitSignal(panel.finished, timeout=300_000):
        panel.start_button.click()
        assert "0/6 fits done" in panel.status.text()
    offered = {panel.criterion.itemData(i) for i in range(panel.criterion.count())}
    assert "silhouette" in offered and "distortion" in offered
    assert not offered & {"bic", "aic", "elbo"}
    # A sweep cancelled early chooses nothing and the log says it was cancelled.
    panel.k_range.setText("2:9")
    panel.seeds.setValue(3)
    with qtbot.waitSignal(panel.finished, timeout=300_000) as blocker:
        panel.start_button.click()
        QTimer.singleShot(0, panel.cancel)
    assert blocker.args[0]["cancelled"] and blocker.args[0]["chosen_K"] is None
    assert panel.status.text().startswith("cancelled after")
    assert not panel.chosen_line.isVisible()
    assert "sweep: cancelled after" in window.log_view.toPlainText()


def test_pause_button_shows_resume_icon_when_paused(qtbot, window, sample_dir):
    assert window.open_file(sample_dir / "iris.csv")
    assert window.select_model("kmeans")
    window.model_panel.set_run_settings({"max_iter": 1_000_000, "tol": 0.0})
    assert window.start_run()
    window.pause_action.trigger()
    play = window.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay)
    assert window.pause_action.text() == "Resume"
    assert window.pause_action.icon().cacheKey() != 0
    assert window.pause_action.icon().pixmap(16).toImage() == play.pixmap(16).toImage()
    with qtbot.waitSignal(window.run_finished, timeout=60_000):
        window.cancel_action.trigger()


def test_a_label_column_is_flagged_and_one_click_makes_it_ground_truth(qtbot, window, sample_dir):
    assert window.open_file(sample_dir / "digits_binary.csv")
    assert window.data.X.shape == (1797, 65)  # the digit is fitted ... unless said
    hint = window.data_panel.column_hint
    assert hint.isVisibleTo(window) and "'digit' looks like a label" in hint.text()
    hint.linkActivated.emit("label:digit")  # the "Use it as ground truth" link
    assert window.data.X.shape == (1797, 64) and window.data.label_name == "digit"
    assert not hint.isVisibleTo(window)
    assert window.select_model("bernoulli-mixture")
    assert not window.model_panel.warning.isVisibleTo(window)  # 0/1 features only now


def test_a_calendar_column_is_flagged_and_left_out(qtbot, window, sample_dir):
    assert window.open_file(sample_dir / "coal_intervals.csv")
    hint = window.data_panel.column_hint
    assert "'end_date' looks like a date or a calendar year" in hint.text()
    hint.linkActivated.emit("drop:end_date")
    assert window.data.columns == ["interval_years"]
    # Remembered with the file, and the picker still offers the left-out column.
    assert window.open_file(sample_dir / "iris.csv")
    assert window.open_file(sample_dir / "coal_intervals.csv")
    assert window.data.columns == ["interval_years"]
    assert window.file_columns() == ["end_date", "interval_years"]


def test_column_picker_chooses_the_fitted_columns(qtbot, window, sample_dir, monkeypatch):
    from explorer.gui.columns import ColumnPicker

    assert window.open_file(sample_dir / "iris.csv", labels="species")
    assert window.data_panel.columns_button.text() == "Columns (4)..."

    def pick(dialog):  # the user unticks sepal_width and presses OK
        dialog.set_checked("sepal_width", False)
        return True

    monkeypatch.setattr(ColumnPicker, "exec", pick)
    window.data_panel.columns_button.click()
    assert window.data.columns == ["sepal_length", "petal_length", "petal_width"]
    assert window.data.label_name == "species"
    assert window.data_panel.columns_button.text() == "Columns (3)..."

    def everything(dialog):
        dialog.set_all(Qt.CheckState.Checked)
        return True

    monkeypatch.setattr(ColumnPicker, "exec", everything)
    window.data_panel.columns_button.click()
    assert len(window.data.columns) == 4 and "columns" not in window.ws.data_options()


def test_help_starts_a_newcomer(qtbot, window):
    """Help > Quick start walks through open, choose, Run, the curves and export; Help > Models
    links each model to its page."""
    dialog = window.show_quick_start(modal=False)
    qtbot.addWidget(dialog)
    text = dialog.text.toPlainText()
    for step in ("Open a file", "Choose a model", "Run", "Read the curves", "Export results"):
        assert step in text
    dialog.close()
    dialog = window.show_models_help(modal=False)
    qtbot.addWidget(dialog)
    for model_id in window.models:
        assert model_id in dialog.text.toPlainText()
    assert window.quick_start_action in window.menuBar().actions()[-1].menu().actions()


def test_adjacency_tab_of_a_table_shows_its_note_without_empty_axes(qtbot, window, sample_dir):
    assert window.open_file(sample_dir / "iris.csv")
    panel = window.adjacency_panel
    assert "shown for networks" in panel.message.textItem.toPlainText()
    assert not panel.plot.getAxis("left").isVisible()
    assert not panel.plot.getAxis("bottom").isVisible()
    assert window.open_file(sample_dir / "karate" / "edges.csv")
    assert panel.plot.getAxis("left").isVisible() and panel.message.textItem.toPlainText() == ""


def test_tab_goes_from_the_model_list_through_the_form_to_the_run_settings(
    qtbot, window, sample_dir
):
    assert window.open_file(sample_dir / "iris.csv")
    assert window.select_model("gmm")
    assert window.select_model("kmeans")  # a form made after the window's widgets
    panel = window.model_panel
    expected = [w for w in panel.tab_chain() if w.isVisibleTo(window)]
    seen, w = [], panel.list
    while len(seen) < len(expected):
        if w.isVisibleTo(window) and w in expected:
            seen.append(w)
        w = w.nextInFocusChain()
        assert w is not panel.list, "the chain came back to the list early"
    assert seen == expected


def test_data_tab_of_a_network_shows_its_note_without_empty_axes(qtbot, window, sample_dir):
    assert window.open_file(sample_dir / "karate" / "edges.csv")
    assert window.select_model("ammsb")
    panel = window.data_view
    assert "shows tables" in panel.message.textItem.toPlainText()
    assert not panel.plot.getAxis("left").isVisible()
    assert window.open_file(sample_dir / "iris.csv")
    assert panel.plot.getAxis("left").isVisible()
