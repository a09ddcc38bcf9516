"""The window as a newcomer meets it (issue 13): ground truth from any column, no stray wheel
edits, no stale plots, readable axes, useful exports, guidance, and the data view's exploration
tools. Offscreen pytest-qt; real models on the bundled and shared data, tiny fakes for pacing."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from helpers import export_to, run_to_end  # noqa: E402
from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QImage, QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox  # noqa: E402

from explorer.gui.plots import ObjectiveAxis, offset_for, tick_texts  # noqa: E402
from explorer.models.base import HyperparametersBase, Model, param  # noqa: E402


# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PacedHyperparameters(HyperparametersBase):
    K: int = param(2, lo=1, hi=50, help="groups")
    step_ms: float = param(0.0, lo=0.0, hi=1000.0, help="sleep per step")
    peak: int = param(0, lo=0, hi=1000, help="objective rises until this iteration, then falls")


class PacedModel(Model):
    """Rows in groups i mod K; the objective rises to ``peak`` then falls; with a peak the model
    stops early after three falls and the runner keeps the best state."""

    id = "test-paced"
    name = "Test paced"
    objective_kind = "log-likelihood"
    Hyperparameters = PacedHyperparameters
    default_max_iter = 100_000
    default_tol = 0.0
    keep_best = True
    state_attributes = ("level",)

    def initialize(self, data, seed):
        self.n = data.n_items
        self.level = 0.0
        self.iteration = 0

    def step(self):
        if self.hp.step_ms:
            time.sleep(self.hp.step_ms / 1000.0)
        self.iteration += 1
        up = not self.hp.peak or self.iteration <= self.hp.peak
        self.level += 1.0 if up else -1.0
        return self.level

    def converged(self, trace, tol):
        return False

    def early_stop(self, trace, best_iteration):
        if self.hp.peak and len(trace) - best_iteration >= 3:
            return "stopped: held-out fell 3 checks"
        return None

    def labels(self):
        return np.arange(self.n) % self.hp.K

    def memberships(self):
        m = np.full((self.n, self.hp.K), 0.1 / max(self.hp.K - 1, 1))
        m[np.arange(self.n), self.labels()] = 0.9
        return m

    def parameters(self):
        return {"level": np.array(self.level)}


@pytest.fixture
def models(register_models):
    return register_models(PacedModel)


@pytest.fixture
def window(monkeypatch, make_window, models):
    # An unexpected error dialog fails the test instead of blocking it (monkeypatch first: the
    # patch stays until the window is closed).
    monkeypatch.setattr(QMessageBox, "exec", lambda box: pytest.fail(f"dialog: {box.text()}"))
    return make_window(models, (1280, 720))


def find(combo, data) -> int:
    return next(i for i in range(combo.count()) if combo.itemData(i) == data)


def combo_items(combo):
    return [combo.itemData(i) for i in range(combo.count())]


def write(path, text):
    path.write_text(text)
    return path


VOTES = "party,v1,v2,v3\n" + "".join(
    f"{p},{a},{b},{c}\n"
    for p, a, b, c in [
        ("republican", "n", "y", "n"),
        ("democrat", "y", "?", "y"),
        ("democrat", "y", "n", ""),
        ("republican", "n", "y", "NA"),
        ("democrat", "y", "n", "y"),
        ("republican", "n", "y", "n"),
        ("democrat", "y", "n", "y"),
        ("republican", "n", "n", "n"),
    ]
)


# ---- 1. text columns as ground truth ---------------------------------------------------------
def test_text_column_offered_first_as_ground_truth(window, sample_dir, dialogs):
    assert window.open_file(sample_dir / "iris.csv")
    assert window.data.labels is None
    items = combo_items(window.data_panel.label_combo)
    assert items[:2] == [None, "species"] and set(items[2:]) == set(window.data.columns)
    combo = window.data_panel.label_combo
    combo.setCurrentIndex(1)
    combo.activated.emit(1)
    assert window.data.label_name == "species" and window.data.X.shape == (150, 4)
    assert not dialogs


# ---- 2 and 9e. node-label file column, names in the hover ---------------------------------------
def test_node_label_file_column_is_chosen_and_names_shown(window, sample_dir):
    football = sample_dir / "football"
    assert window.open_file(football / "edges.csv")
    assert window.use_label_file(football / "nodes.csv")
    # 'name' has a value per node; 'conference' (text, 12 values) is preferred
    assert window.data.label_name == "conference"
    assert len(set(window.data.labels)) == 12
    combo = window.data_panel.label_combo
    assert combo.isVisibleTo(window) and combo_items(combo)[1:] == [
        "name",
        "conference_id",
        "conference",
    ]
    combo.setCurrentIndex(combo.findData("conference_id"))
    combo.activated.emit(combo.currentIndex())
    assert window.data.label_name == "conference_id"
    # hovering names a team, not a node number
    text = window.adjacency_panel.describe_position(0.5, 0.5)
    node = window.adjacency_panel.adj.nodes_of_pixel(0)[0]
    team = (football / "nodes.csv").read_text().splitlines()[1 + int(node)].split(",")[1]
    assert f"node {team}" in text


# ---- 3. the wheel ------------------------------------------------------------------------------
def _wheel(widget, steps=1):
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    ev = QWheelEvent(
        pos,
        widget.mapToGlobal(pos),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, ev)


def test_wheel_changes_only_a_focused_field(qtbot, window, sample_dir):
    assert window.open_file(sample_dir / "old_faithful.csv")
    assert window.select_model("gmm")
    form = window.model_panel.form
    k, init = form.editors["K"], form.editors["init"]
    before = form.values()
    window.log_view.setFocus()
    for w in (k, init, window.model_panel.max_iter, window.model_panel.seed):
        _wheel(w, 3)
        _wheel(w, -1)
    assert form.values() == before
    k.setFocus()
    qtbot.waitUntil(k.hasFocus)
    _wheel(k, 2)
    assert form.values()["K"] == before["K"] + 2


# ---- 4. nothing stale after new data or a new run -------------------------------------------
def test_new_data_and_new_run_reset_every_view(qtbot, window, sample_dir):
    assert window.open_file(sample_dir / "iris.csv", labels="species")
    window.select_model("gmm")
    window.model_panel.form.set_values({"K": 3})
    run_to_end(qtbot, window)
    assert "memberships" in window.simplex_panel.info.text()
    assert window.trace_panel.curve.getData()[0] is not None
    # a new run: the simplex and the confusion table forget the previous run at once
    window.select_model("test-paced")
    window.model_panel.form.set_values({"K": 3, "step_ms": 20})
    assert window.start_run()
    assert window.simplex_panel.info.text() == "" and window.simplex_panel.drawn_points == 0
    assert window.confusion_panel.counts is None
    assert window.trace_panel.trace_points == 0
    qtbot.waitUntil(lambda: window.trace_panel.trace_points > 0, timeout=10_000)
    window.cancel_run()
    qtbot.waitUntil(lambda: not window.is_running(), timeout=10_000)
    # new data (a network): no iris axes, no old trace, no old hover
    window.adjacency_panel.hover.setText("row: node 3")
    assert window.open_file(sample_dir / "karate" / "edges.csv")
    x, _y = window.trace_panel.curve.getData()
    assert x is None or len(x) == 0
    assert window.trace_panel.plot.vb.viewRange()[1] == [0, 1]
    assert "PC1" not in window.data_view.plot.getAxis("bottom").labelText
    assert window.adjacency_panel.hover.text().strip() == ""
    assert window.simplex_panel.info.text() == ""


# ---- 5. data options remembered per file ---------------------------------------------------
def test_reopening_a_file_keeps_its_data_options(window, sample_dir, dialogs):
    assert window.open_file(sample_dir / "iris.csv", labels="species", standardize=True)
    assert window.open_file(sample_dir / "old_faithful.csv")
    assert window.open_file(sample_dir / "iris.csv")
    assert window.data.label_name == "species" and window.data.standardized
    assert "species" not in window.data.columns
    # options that no longer fit the file are dropped, not an error
    window.settings.setValue(
        window._file_key(sample_dir / "old_faithful.csv"), '{"labels": "no_such_column"}'
    )
    assert window.open_file(sample_dir / "old_faithful.csv") and not dialogs
    assert window.data.labels is None


# ---- 6. objective axis -------------------------------------------------------------------------
def test_objective_ticks_differ_and_stay_short(window):
    trace = -2182830.0 - 3.0 * np.exp(-np.arange(40) / 5.0) + 0.0001 * np.arange(40)
    window.trace_panel.reset(None)
    window.trace_panel.kind = "log-likelihood"
    window.trace_panel.set_trace(trace)
    axis = window.trace_panel.axis
    assert isinstance(axis, ObjectiveAxis) and axis.offset == pytest.approx(-2182830.0)
    assert axis.labelText == "log-likelihood + 2,182,830"
    lo, hi = float(trace.min()), float(trace.max())
    for spacing, _off in axis.tickSpacing(lo, hi, 400):
        values = list(np.arange(np.ceil(lo / spacing), np.floor(hi / spacing) + 1) * spacing)
        texts = axis.tickStrings(values, 1.0, spacing)
        assert len(set(texts)) == len(texts) and max(map(len, texts)) <= 6, texts
    # no offset when the values spread widely; long values get few digits
    assert offset_for(np.array([-5e6, -2.1e6])) == 0.0
    assert tick_texts([1234567.0, 1234568.0], 1.0) == ["1234567", "1234568"]
    assert tick_texts([0.1, 0.2], 0.1) == ["0.1", "0.2"]


# ---- 7. natural sort -----------------------------------------------------------------------
def test_confusion_rows_in_natural_order(qtbot, window, tmp_path):
    rng = np.random.default_rng(0)
    rows = [f"{x:.4f},{y:.4f},{k}" for k in range(12) for x, y in rng.normal(k, 0.1, (5, 2))]
    p = write(tmp_path / "t.csv", "x,y,digit\n" + "\n".join(rows) + "\n")
    assert window.open_file(p, labels="digit")
    window.select_model("kmeans")
    window.model_panel.form.set_values({"K": 4})
    run_to_end(qtbot, window)
    table = window.confusion_panel.table
    heads = [table.verticalHeaderItem(i).text() for i in range(table.rowCount())]
    assert heads == [str(k) for k in range(12)]
    assert window.confusion_panel.counts.sum(axis=1).tolist() == [5] * 12


# ---- 8. scripted plots: only those that apply, sized to their content, titled --------------
def test_plots_written_only_when_they_apply_and_sized(qtbot, window, sample_dir, tmp_path):
    assert window.open_file(sample_dir / "iris.csv", labels="species")
    window.select_model("kmeans")
    window.model_panel.form.set_values({"K": 3})
    run_to_end(qtbot, window)
    assert window.plot_title() == "iris.csv  ·  K-means, K = 3" or "K = 3" in window.plot_title()
    written = window.save_screenshots(plots_dir=tmp_path / "plots")
    assert sorted(p.name for p in written) == ["data.png", "ground_truth.png", "objective.png"]
    sizes = {p.stem: (QImage(str(p)).width(), QImage(str(p)).height()) for p in written}
    w, h = sizes["objective"]
    assert w > h and abs(w / h - 1.5) < 0.05, sizes  # not 800 x 1301
    w, h = sizes["ground_truth"]
    assert w < 700 and h < 500, sizes  # the table, not a large empty frame
    # the title is shown for the export only
    assert (
        window.data_view.plot.titleLabel.text in ("", None)
        or not window.data_view.plot.titleLabel.isVisible()
    )


# ---- 9. smaller things -----------------------------------------------------------------------
def test_progress_bar_names_how_the_run_ended(window):
    """A run stopped by its own rule (a held-out score that fell, a degenerate state) is not
    called 'iteration limit reached' (it was, for an a-MMSB fit stopped at 7 of 200)."""
    from types import SimpleNamespace

    def ended(stop_reason, converged=False, cancelled=False, iterations=7):
        window.run_panel.show_finished(
            SimpleNamespace(
                iterations=iterations,
                max_iter=200,
                converged=converged,
                cancelled=cancelled,
                stop_reason=stop_reason,
            )
        )
        bar = window.run_panel.progress
        return bar.text(), bar.value() == bar.maximum()

    assert ended("stopped: held-out log-likelihood fell 3 checks, best at iteration 4") == (
        "stopped after 7 iterations (limit 200)",
        True,
    )
    assert ended("degenerate: K = 4 asked, 1 in use") == (
        "degenerate after 7 iterations (limit 200)",
        True,
    )
    assert ended("iteration limit", iterations=200)[0] == "iteration limit reached: 200 / 200"
    assert ended("converged", converged=True)[0] == "converged after 7 iterations (limit 200)"
    assert ended("cancelled", cancelled=True) == ("cancelled at iteration 7 / 200", False)


def test_density_in_view_status_units_idle_bar_and_objective_name(qtbot, window, sample_dir):
    assert "0 / 1" not in window.run_panel.progress.text()
    assert window.open_file(sample_dir / "coal_intervals.csv", columns=["interval_years"])
    assert "0 / 1" not in window.run_panel.progress.text()
    window.select_model("exponential-mixture")
    result = run_to_end(qtbot, window)
    dv = window.data_view
    top = float(np.nanmax(dv.density_total.getData()[1]))
    assert dv.plot.vb.viewRange()[1][1] >= top
    status = window.run_panel.status.text()
    assert not re.search(r"\d s\b", status) and "\u00a0s" in status
    # K-means: the objective is 'distortion' everywhere (no 'inertia')
    assert window.open_file(sample_dir / "iris.csv")
    window.select_model("kmeans")
    result = run_to_end(qtbot, window)
    assert "inertia" not in window.run_panel.metrics.text()
    assert "distortion" in window.run_panel.metrics.text() and result.trace


def test_ammsb_form_groups_advanced_hyperparameters(window, sample_dir):
    assert window.open_file(sample_dir / "karate" / "edges.csv")
    assert window.select_model("ammsb")
    form = window.model_panel.form
    assert form.layout_.rowCount() <= 8 and form.advanced_layout.rowCount() >= 8
    assert not form.advanced.isVisible() and form.advanced_button.isVisible()
    form.advanced_button.click()
    assert form.advanced.isVisible()
    assert set(form.values()) == {s.name for s in window.models["ammsb"].param_specs()}


# ---- 10. scale hint ------------------------------------------------------------------------------
def test_scale_hint_offers_standardise(window, tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3)) * [1000.0, 1.0, 0.01]
    p = write(
        tmp_path / "scales.csv",
        "a,b,c\n" + "\n".join(",".join(f"{v:.6g}" for v in r) for r in X) + "\n",
    )
    assert window.open_file(p)
    hint = window.data_panel.scale_hint
    assert hint.isVisibleTo(window) and "Standardise" in hint.text()
    hint.linkActivated.emit("standardize")
    assert window.data.standardized and not hint.isVisibleTo(window)


# ---- 11. yes/no columns and missing values ---------------------------------------------------
def test_missing_values_offered_to_drop(window, tmp_path, dialogs, monkeypatch):
    p = write(tmp_path / "votes.csv", VOTES)
    asked = []
    monkeypatch.setattr(window, "_ask_drop_missing", lambda e: asked.append(e.rows) or True)
    assert window.open_file(p, labels="party")
    assert asked == [3] and not dialogs
    assert window.data.n_items == 5 and window.data.columns == ["v1", "v2", "v3"]
    box = window.data_panel.drop_missing
    assert box.isChecked() and "3 dropped" in box.text()
    # unticking re-reads the file: refused again, the dropped data stays
    monkeypatch.setattr(window, "_ask_drop_missing", lambda e: False)
    box.click()
    assert dialogs and "--missing drop" in dialogs[-1][1]
    assert window.data.n_items == 5 and box.isChecked()


# ---- 12. Bernoulli mixture on continuous data --------------------------------------------------
def test_bernoulli_on_continuous_data_offers_binarise_in_the_form(window, sample_dir, dialogs):
    assert window.open_file(sample_dir / "iris.csv", labels="species")
    assert window.select_model("bernoulli-mixture")
    warn = window.model_panel.warning
    assert warn.isVisibleTo(window) and "0/1" in warn.text() and "--" not in warn.text()
    assert not window.start_run()
    assert "--" not in dialogs[-1][1] and "binarize" in dialogs[-1][1]
    warn.linkActivated.emit("on:binarize")
    assert window.model_panel.form.values()["binarize"] is True
    assert not warn.isVisibleTo(window)


# ---- 13. export folders ---------------------------------------------------------------------------
def test_export_creates_the_folder_and_starts_beside_the_data(
    qtbot, window, sample_dir, tmp_path, monkeypatch
):
    src = tmp_path / "data" / "iris.csv"
    src.parent.mkdir()
    src.write_text((sample_dir / "iris.csv").read_text())
    assert window.open_file(src)
    window.select_model("kmeans")
    run_to_end(qtbot, window)
    starts = []
    target = tmp_path / "new" / "deeper" / "results"

    def fake_save(parent, caption, start, *args, **kw):
        starts.append(start)
        return str(target), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", fake_save)
    paths = export_to(qtbot, window)
    assert paths and (target / "result.json").exists()
    assert starts[0].startswith(str(src.parent)) and "iris-kmeans" in starts[0]
    out = window.export_plot(fmt="png")
    assert out is not None and out.exists()
    assert starts[1].startswith(str(target.parent))


# ---- 14. quitting during a fit ----------------------------------------------------------------
def test_quit_during_a_fit_asks_first(qtbot, window, sample_dir, monkeypatch):
    assert window.open_file(sample_dir / "iris.csv")
    window.select_model("test-paced")
    window.model_panel.form.set_values({"step_ms": 20})
    assert window.start_run()
    answers = []
    monkeypatch.setattr(window, "confirm_quit", lambda: answers.append(1) or False)
    window.close()
    assert answers and window.isVisible() and window.is_running()
    monkeypatch.setattr(window, "confirm_quit", lambda: True)
    window.close()
    assert not window.isVisible() and not window.is_running()


# ---- the runner's stop reason -------------------------------------------------------------------
def test_stop_reason_and_best_iteration_shown(qtbot, window, sample_dir):
    assert window.open_file(sample_dir / "iris.csv")
    window.select_model("test-paced")
    window.model_panel.form.set_values({"peak": 5})
    result = run_to_end(qtbot, window)
    assert result.stop_reason.startswith("stopped") and result.best_iteration == 5
    status = window.run_panel.status.text()
    assert "stopped: held-out fell 3 checks" in status and "best at iteration 5" in status


# ---- 15. the data view: colour, axes, tooltips, selection -------------------------------------
def test_data_view_colour_axes_tooltip_and_selection(qtbot, window, sample_dir):
    assert window.open_file(sample_dir / "iris.csv", labels="species")
    dv = window.data_view
    # before a fit: coloured by the ground truth, three groups of 50
    assert [len(it.data) for it in dv.scatter_items[:3]] == [50, 50, 50]
    # a raw column as x
    dv.cx.setCurrentIndex(find(dv.cx, ("col", 2)))
    np.testing.assert_allclose(dv.coords[:, 0], window.data.X[dv.sample, 2])
    # colour by a column: quantile bins
    dv.color_by.setCurrentIndex(find(dv.color_by, ("col", 3)))
    sizes = [len(it.data) for it in dv.scatter_items if len(it.data)]
    assert sum(sizes) == 150 and len(sizes) >= 4
    # a fit: memberships in the tooltip
    window.select_model("gmm")
    window.model_panel.form.set_values({"K": 3})
    run_to_end(qtbot, window)
    dv.color_by.setCurrentIndex(0)
    x, y = dv.coords[7]
    text = dv.describe_point(x, y)
    assert text.startswith(f"row {window.data.ids[dv.sample[7]]}") and "species:" in text
    assert "cluster" in text and "memberships" in text
    # a box around the left half selects rows; the simplex and the table highlight them
    mid = np.median(dv.coords[:, 0])
    lo = dv.coords.min(0) - 1
    hi = dv.coords.max(0) + 1
    dv._region_selected(np.array([[lo[0], lo[1]], [mid, lo[1]], [mid, hi[1]], [lo[0], hi[1]]]))
    chosen = dv.sample[dv.coords[:, 0] < mid]
    np.testing.assert_array_equal(dv.selection, np.sort(chosen))
    assert window.simplex_panel.highlighted == len(chosen)
    assert window.confusion_panel.selected_counts.sum() == len(chosen)
    assert "selected" in dv.info.text()
    dv.clear_selection_button.click()
    assert dv.selection is None and window.confusion_panel.selected_counts is None
