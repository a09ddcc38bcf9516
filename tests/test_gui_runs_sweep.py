"""The Runs view (table, trace overlay, agreement of two runs) and the live Sweep K view."""

import time

import numpy as np
import pytest
from helpers import sweep_spec
from PySide6.QtCore import Qt, QTimer

import explorer
from explorer import metrics, runner, session, sweep
from explorer.gui import collector
from explorer.gui.runs import RunsPanel
from explorer.gui.sweep import SweepPanel
from explorer.models import get_model


@pytest.fixture
def iris_session(sample_dir):
    iris = explorer.load(sample_dir / "iris.csv", labels="species")
    s = session.Session()
    for mid, K, seed in (("kmeans", 2, 0), ("kmeans", 3, 0), ("gmm", 3, 1)):
        s.add_run(runner.fit(get_model(mid)(K=K), iris, seed=seed), options={"labels": "species"})
    return s


def test_runs_table_sorts_numbers_and_compares_two_runs(qtbot, iris_session):
    panel = RunsPanel()
    qtbot.addWidget(panel)
    panel.set_session(iris_session)
    assert panel.proxy.rowCount() == 3
    col = [c[0] for c in panel.model.columns].index("nmi")
    panel.table.sortByColumn(col, Qt.DescendingOrder)  # descending NMI: numbers, not text
    shown = [float(panel.proxy.index(r, col).data()) for r in range(3)]
    assert shown == sorted(shown, reverse=True)
    settings_col = [c[0] for c in panel.model.columns].index("settings")
    assert any("K=2" in panel.proxy.index(r, settings_col).data() for r in range(3))

    panel.select_runs([2, 3])  # kmeans K=3 vs gmm K=3
    assert panel.selected_ids() == [2, 3]
    # A distortion and a log-likelihood are not overlaid on one axis: the first selected run's
    # kind is drawn, the other named in the title.
    assert len(panel.plot.getPlotItem().listDataItems()) == 1
    assert "not drawn (another objective): run 3" in panel.plot.getPlotItem().titleLabel.text
    a, b = iris_session.run(2).arrays["labels"], iris_session.run(3).arrays["labels"]
    ag = panel.agreement
    assert ag.ari == pytest.approx(metrics.ari(a, b)) and ag.nmi == pytest.approx(metrics.nmi(a, b))
    assert ag.table.sum() == 150 and np.trace(ag.table) == ag.matched
    # Hungarian matching: the diagonal holds at least as much as any other pairing's.
    assert ag.matched >= max(ag.table.max(axis=1).sum() - 50, 0)
    assert panel.agreement_table.rowCount() == 3
    assert "ARI" in panel.agreement_label.text()

    panel.x_axis.setCurrentIndex(1)  # wall-time axis: cumulative iteration times
    x = panel.plot.getPlotItem().listDataItems()[0].getData()[0]
    assert np.all(np.diff(x) >= 0) and x[-1] == pytest.approx(
        np.sum(iris_session.run(2).iteration_times)
    )

    opened = []
    panel.open_requested.connect(opened.append)
    panel.select_runs([1])
    panel.open_button.click()
    assert opened == [1]
    panel.delete_button.click()
    assert [r.id for r in iris_session.runs] == [2, 3] and panel.proxy.rowCount() == 2


def test_a_split_cluster_is_named():
    from explorer.compare import agreement

    a = np.repeat([0, 1], 50)
    b = np.concatenate([np.zeros(50, int), np.ones(25, int), np.full(25, 2)])
    ag = agreement(a, b)
    assert ag.matched == 75 and any("split" in s for s in ag.splits)


def four_blobs(path):
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=float)
    X = np.vstack([c + rng.normal(size=(100, 2)) for c in centres])
    path.write_text("x,y\n" + "".join(f"{a:.6f},{b:.6f}\n" for a, b in X))
    return path


def test_sweep_view_fills_live_marks_the_chosen_k_and_opens_a_fit(qtbot, tmp_path):
    panel = SweepPanel()
    qtbot.addWidget(panel, before_close_func=lambda w: w.shutdown())
    spec = sweep_spec("gmm", four_blobs(tmp_path / "b.csv"), "table", range(2, 7), seeds=(0, 1))
    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    t0 = time.perf_counter()
    with qtbot.waitSignal(panel.finished, timeout=300_000) as blocker:
        panel.start(spec, jobs=2)
    timer.stop()
    elapsed = time.perf_counter() - t0
    summary = blocker.args[0]
    assert summary["chosen_K"] == 4
    assert len(panel.rows) == 10 and len(panel.dots.data) == 10
    assert panel.chosen_line.isVisible() and panel.chosen_line.value() == 4
    assert "chosen K = 4" in panel.status.text()
    # The event loop only draws points: it kept serving the 10 ms timer while two processes fit
    # (a count, at least ten ticks a second, whatever the load; the timed figure is
    # bench/bench_sweep_responsiveness.py's).
    assert len(gaps) >= 10 * elapsed - 1

    asked = []
    panel.fit_requested.connect(lambda K, s: asked.append((K, s)))
    point = next(p for p in panel.dots.points() if p.data()[0] == 3)
    panel._dot_clicked(panel.dots, [point])
    assert asked == [(3, point.data()[1])]

    panel.criterion.setCurrentIndex(panel.criterion.findData("stability_ari"))
    assert len(panel.mean_curve.getData()[0]) == 5


def test_sweep_view_cancel(qtbot, tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "big.csv"
    np.savetxt(path, rng.normal(size=(20000, 4)), delimiter=",", header="a,b,c,d", comments="")
    panel = SweepPanel()
    qtbot.addWidget(panel, before_close_func=lambda w: w.shutdown())
    spec = sweep_spec("gmm", path, "table", (3, 4, 5, 6), tol=0.0, max_iter=10**6)
    with qtbot.waitSignal(panel.finished, timeout=120_000):
        panel.start(spec, jobs=2)
        QTimer.singleShot(5000, panel.cancel)
    assert "cancelled" in panel.status.text()
    import multiprocessing as mp

    qtbot.waitUntil(lambda: not panel.is_running(), timeout=10_000)
    assert panel.start_button.isEnabled()
    assert mp.active_children() == []
    assert collector.holders() == 0  # the sweep thread gave back its claim


def test_sweep_view_leaves_degenerate_fits_out_of_the_mean(qtbot):
    """The panel's mean per K was its own, over every fit without an error: a degenerate gmm fit
    (BIC -1e6, an unbounded likelihood) pulled K = 3's mean to about -500,000 on screen. Now
    the means are the summary's (usable fits only), before and after the sweep ends, and a
    degenerate fit is a red cross off the mean."""

    def row(K, seed, bic, stop="converged"):
        return sweep.SweepRow(
            K=K,
            seed=seed,
            iterations=5,
            converged=stop == "converged",
            stop_reason=stop,
            objective=-bic / 2,
            criteria={"bic": bic},
            labels=np.repeat(np.arange(K), 4).astype(np.int32),
        )

    rows = [
        row(2, 0, 100.0),
        row(2, 1, 102.0),
        row(3, 0, 150.0),
        row(3, 1, -1e6, "degenerate: component 2 sits on a single point"),
        row(4, 0, -2e6, "degenerate: components 1 and 2 coincide"),
    ]
    panel = SweepPanel()
    qtbot.addWidget(panel)
    panel.total = len(rows)
    panel._add_criteria(["bic"])
    for r in rows:
        panel._on_row(0, r)
    assert "(left out of the means)" in panel.status.text()
    panel.redraw()
    ks, means = panel.mean_curve.getData()
    assert list(ks) == [2.0, 3.0] and list(means) == [101.0, 150.0]
    assert len(panel.dots.data) == 3 and len(panel.left_out_dots.data) == 2
    summary = sweep.summarize("gmm", rows)
    panel._on_done(0, summary)
    ks, means = panel.mean_curve.getData()
    per_k = {e["K"]: e["bic"] for e in summary["per_K"] if np.isfinite(e["bic"])}
    assert dict(zip(ks, means)) == per_k == {2: 101.0, 3: 150.0}
    assert panel.chosen_line.isVisible() and panel.chosen_line.value() == 2
    assert "left out: 2 degenerate fits" in panel.status.text()


# ---- the same views inside the window -------------------------------------------------------
@pytest.fixture
def window(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from explorer.gui.main_window import MainWindow

    w = MainWindow(
        QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat), interactive=False
    )
    qtbot.addWidget(w)
    w.resize(1280, 720)
    w.show()
    yield w


def run_to_end(qtbot, window):
    with qtbot.waitSignal(window.run_finished, timeout=60_000) as blocker:
        assert window.start_run()
    return blocker.args[0]


def test_window_keeps_every_run_saves_and_reopens_the_session(qtbot, window, sample_dir, tmp_path):
    assert window.open_file(sample_dir / "iris.csv", labels="species")
    assert window.select_model("kmeans")
    results = []
    for K in (2, 3):
        window.model_panel.form.set_values({"K": K})
        results.append(run_to_end(qtbot, window))
    assert [r.id for r in window.session.runs] == [1, 2]
    assert window.runs_panel.proxy.rowCount() == 2
    # Open run 1 in the views: the plots show K = 2 again, without a refit.
    window.open_run(1)
    assert window.result is results[0]
    assert len(set(window.data_view.fit_snapshot["labels"])) == 2
    path = window.save_session(tmp_path / "two-runs")
    assert path.exists()

    from PySide6.QtCore import QSettings

    from explorer.gui.main_window import MainWindow

    other = MainWindow(
        QSettings(str(tmp_path / "s2.ini"), QSettings.Format.IniFormat), interactive=False
    )
    qtbot.addWidget(other)
    other.confirm_paths = lambda paths: True  # "Read them": iris.csv is outside tmp_path
    with qtbot.waitSignal(other.run_shown, timeout=60_000):
        assert other.open_session(path)
    assert other.runs_panel.proxy.rowCount() == 2
    assert other.data is not None and other.data.label_name == "species"
    # The current run (2, K = 3) is restored in the views with the saved objective.
    assert other.result.final_objective == pytest.approx(results[1].final_objective, rel=1e-12)
    assert other.model_panel.form.values()["K"] == 3
    np.testing.assert_array_equal(other.result.model.labels(), results[1].model.labels())


def test_window_sweep_then_open_a_fit(qtbot, window, tmp_path):
    path = four_blobs(tmp_path / "blobs.csv")
    assert window.open_file(path)
    assert window.select_model("gmm")
    window.show_sweep()
    assert window.tabs.currentWidget() is window.sweep_panel
    with qtbot.waitSignal(window.sweep_panel.finished, timeout=300_000) as blocker:
        assert window.start_sweep([2, 3, 4, 5], 2, 2)
    assert blocker.args[0]["chosen_K"] == 4
    # Clicking a dot fits that K and seed in the window: same objective as in the sweep.
    row = next(r for r in window.sweep_panel.rows if r.K == 4 and r.seed == 1)
    with qtbot.waitSignal(window.run_finished, timeout=60_000) as done:
        window.fit_from_sweep(4, 1)
    # The same fit (to the last bits a different BLAS thread count in this test process may
    # change; the sweep tests check bit-for-bit agreement with a fresh `explorer fit`).
    assert done.args[0].final_objective == pytest.approx(row.objective, rel=1e-12)
    assert window.session.runs[-1].hyperparameters["K"] == 4
