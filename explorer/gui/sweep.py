"""The Sweep K view: a live plot of each model-selection criterion against K.

The sweep itself is :mod:`explorer.sweep` (Qt-free, worker processes); here the window's one job
type (:class:`explorer.gui.worker.Job`) iterates it in a thread and hands each finished fit over as
a signal, so the event loop only ever draws points.
Points appear as fits finish: one small dot per (K, seed), the mean over seeds with an error bar
(one standard deviation), and the chosen K marked by a vertical line once every fit is in. The means
are those of :func:`explorer.sweep.summarize` (the summary's own once the sweep is done): over the
usable fits only; a degenerate fit is drawn as a red cross, left out of the mean. Clicking
a dot asks the window to open that fit (same K and seed, so the same result) in the other views.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from explorer import sweep as sweep_mod
from explorer.gui import collector
from explorer.gui.plots import cluster_color
from explorer.gui.plots.trace import IterationAxis
from explorer.gui.worker import Job

CRITERION_LABELS = {
    "bic": "BIC (lower is better)",
    "aic": "AIC (lower is better)",
    "elbo": "ELBO (higher is better)",
    "components_used": "components with weight > 1 %",
    "heldout_loglik": "held-out log-likelihood (higher is better)",
    "silhouette": "silhouette (higher is better)",
    "distortion": "distortion (look for the elbow)",
    "stability_ari": "stability: mean ARI between seeds",
}


def sweep_steps(spec, jobs: int, cancel):
    """A K sweep as a generator for the window's :class:`~explorer.gui.worker.Job`: yields each
    finished fit (a SweepRow) and returns the summary (the chosen K)."""
    rows = []
    for row in sweep_mod.iter_sweep(spec, jobs=jobs, cancel=cancel):
        rows.append(row)
        yield row
    return sweep_mod.summarize(spec.model_id, rows)


class SweepPanel(QWidget):
    """Controls (K range, seeds, jobs, start/cancel), the criterion plot and a status line."""

    title = "Sweep K"
    start_requested = Signal(list, int, int)  # Ks, seeds, jobs
    fit_requested = Signal(int, int)  # K, seed
    finished = Signal(object)  # summary

    def __init__(self, parent=None):
        super().__init__(parent)
        self.k_range = QLineEdit("2:8")
        self.k_range.setToolTip("LO:HI (inclusive), LO:HI:STEP or a list such as 2,3,5")
        self.seeds = QSpinBox()
        self.seeds.setRange(1, 20)
        self.seeds.setValue(3)
        self.jobs = QSpinBox()
        import os

        self.jobs.setRange(1, max(1, os.cpu_count() or 1) * 2)
        self.jobs.setValue(os.cpu_count() or 1)
        self.start_button = QPushButton("Sweep")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.criterion = QComboBox()
        self.start_button.clicked.connect(self._start_clicked)
        self.cancel_button.clicked.connect(self.cancel)
        self.criterion.currentIndexChanged.connect(self.redraw)
        bar = QHBoxLayout()
        for label, w in (("K", self.k_range), ("seeds", self.seeds), ("jobs", self.jobs)):
            bar.addWidget(QLabel(label))
            bar.addWidget(w)
        bar.addWidget(self.start_button)
        bar.addWidget(self.cancel_button)
        bar.addStretch(1)
        bar.addWidget(QLabel("criterion"))
        bar.addWidget(self.criterion)
        self.status = QLabel("Fits every K with several seeds in parallel processes.")
        self.status.setWordWrap(True)
        self.pw = pg.PlotWidget(axisItems={"bottom": IterationAxis("bottom")})  # whole K only
        self.pw.showGrid(x=True, y=True, alpha=0.3)
        self.pw.setLabel("bottom", "K")
        self.pw.getAxis("left").enableAutoSIPrefix(False)
        self.pw.getAxis("bottom").enableAutoSIPrefix(False)
        self.dots = pg.ScatterPlotItem(size=7, pen=None, brush=pg.mkBrush(120, 120, 120, 160))
        self.dots.sigClicked.connect(self._dot_clicked)
        # degenerate fits (sweep.fit_status): shown, clickable, never in the mean
        self.left_out_dots = pg.ScatterPlotItem(
            size=9, symbol="x", pen=None, brush=pg.mkBrush(200, 40, 40, 200)
        )
        self.left_out_dots.sigClicked.connect(self._dot_clicked)
        self.mean_curve = pg.PlotDataItem(
            pen=pg.mkPen(cluster_color(0), width=2),
            symbol="o",
            symbolBrush=cluster_color(0),
            symbolPen=None,
        )
        self.error_bars = pg.ErrorBarItem(pen=pg.mkPen(cluster_color(0), width=1), beam=0.15)
        self.chosen_line = pg.InfiniteLine(
            angle=90, pen=pg.mkPen((200, 40, 40), width=2, style=Qt.DashLine)
        )
        self.chosen_line.setVisible(False)
        for item in (
            self.error_bars,
            self.mean_curve,
            self.dots,
            self.left_out_dots,
            self.chosen_line,
        ):
            self.pw.addItem(item)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.status)
        lay.addWidget(self.pw, 1)
        self.rows: list = []
        self.summary = None
        self.model_id = None
        self.total = 0
        self._job = None
        self._gc_hold = None
        self._cancel = None
        self._redraw_due = False

    # ---- running -----------------------------------------------------------------------------
    def _start_clicked(self) -> None:
        try:
            Ks = sweep_mod.parse_k_range(self.k_range.text())
        except ValueError as e:
            self.status.setText(str(e))
            return
        self.start_requested.emit(Ks, self.seeds.value(), self.jobs.value())

    def is_running(self) -> bool:
        return self._job is not None and self._job.is_running()

    def start(self, spec, jobs: int) -> None:
        """Run ``spec`` (a SweepSpec) in the background; the plot fills as fits finish."""
        if self.is_running():
            self.cancel(wait=True)
        self.rows, self.summary, self.model_id = [], None, spec.model_id
        self.total = len(spec.tasks())
        # Only the criteria this model's fits report are offered (no BIC for K-means): the one
        # that chooses K now, the others as the first fits bring them.
        crit = sweep_mod._CHOOSER[sweep_mod.criterion_family(spec.model_id)][0]
        self.criterion.blockSignals(True)
        self.criterion.clear()
        self._add_criteria([crit])
        self.criterion.blockSignals(False)
        self.chosen_line.setVisible(False)
        self.redraw()
        self._cancel = sweep_mod.SweepCancel()
        self._job = Job(
            0, "sweep", lambda: sweep_steps(spec, jobs, self._cancel), control=self._cancel
        )
        self._job.worker.yielded.connect(self._on_row)
        self._job.worker.returned.connect(self._on_done)
        self._job.worker.errored.connect(self._on_failed)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(
            f"sweeping {spec.model_id}: 0/{self.total} fits done on {jobs} process(es)…"
        )
        self._gc_hold = collector.hold()  # see explorer/gui/collector.py
        self._job.start()

    def cancel(self, wait: bool = False) -> None:
        if self._cancel is not None:
            self._cancel.cancel()
        if wait and self._job is not None:
            self._job.thread.wait()

    def _add_criteria(self, names) -> None:
        known = {self.criterion.itemData(i) for i in range(self.criterion.count())}
        for name in names:
            if name not in known and not name.endswith("_se"):
                self.criterion.addItem(CRITERION_LABELS.get(name, name), name)
                known.add(name)

    def _on_row(self, _job_id: int, row) -> None:
        self.rows.append(row)
        self._add_criteria([n for n, v in row.criteria.items() if math.isfinite(v)])
        if len(self.rows) == 2:  # seeds to compare: the stability of the partitions
            self._add_criteria(["stability_ari"])
        what = row.error or row.stop_reason
        if sweep_mod.fit_status(row) != "used":
            what += " (left out of the means)"
        self.status.setText(
            f"{len(self.rows)}/{self.total} fits done (last: K = {row.K}, seed {row.seed}: {what})"
        )
        # Rows often arrive in bursts (quick fits): one redraw per burst, not per row, keeps the
        # event loop free (8 rows at once cost 100 ms drawn one by one).
        if not self._redraw_due:
            self._redraw_due = True
            QTimer.singleShot(50, self._redraw_now)

    def _redraw_now(self) -> None:
        self._redraw_due = False
        self.redraw()

    def _join(self) -> None:
        """The worker has returned (it emits done/failed last): let its thread end before the
        window goes on, so no QThread is ever destroyed while running."""
        if self._job is not None:
            self._job.thread.quit()
            self._job.thread.wait()
        if self._gc_hold is not None:
            self._gc_hold.release()
            self._gc_hold = None

    def shutdown(self) -> None:
        """Cancel a running sweep and wait for its workers (the window calls this on close)."""
        self.cancel(wait=True)
        self._join()

    def _on_done(self, _job_id: int, summary) -> None:
        self._join()
        self._redraw_due = False
        self.summary = summary
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        cancelled = self._cancel is not None and self._cancel.cancelled
        summary = dict(summary, cancelled=cancelled)
        if cancelled:
            # A partial sweep chooses nothing: its K would be the best of the fits that finished.
            summary["chosen_K"] = None
            text = f"cancelled after {len(self.rows)} of {self.total} fits"
        elif summary["chosen_K"] is not None:
            text = f"chosen K = {summary['chosen_K']}: {summary['reason']}"
            if summary.get("elbow_K") is not None:
                text += f"; elbow of the distortion at K = {summary['elbow_K']}"
        else:
            text = summary["reason"]
        self.status.setText(text + ". Click a dot to open that fit.")
        self.redraw()
        self.finished.emit(summary)

    def _on_failed(self, _job_id: int, exc, _traceback: str) -> None:
        message = f"{type(exc).__name__}: {exc}"
        self._join()
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.status.setText(f"sweep failed: {message}")

    # ---- drawing -----------------------------------------------------------------------------
    def current_criterion(self) -> str | None:
        return self.criterion.currentData()

    def redraw(self, *_args) -> None:
        name = self.current_criterion()
        self.pw.setLabel("left", CRITERION_LABELS.get(name, name or ""))
        status = [sweep_mod.fit_status(r) for r in self.rows]

        def points(which: str):
            if name is None or name == "stability_ari":
                return []
            pts = [
                (r.K, r.criteria.get(name, math.nan), r.seed)
                for r, st in zip(self.rows, status)
                if st == which
            ]
            return [p for p in pts if np.isfinite(p[1])]

        pts = points("used")
        self.dots.setData([{"pos": (k, v), "data": (k, s)} for k, v, s in pts])
        self.left_out_dots.setData(
            [{"pos": (k, v), "data": (k, s)} for k, v, s in points("degenerate")]
        )
        # While fits come in, the mean over the usable ones so far; once done, the summary's.
        per_k = None if self.summary is None else self.summary["per_K"]
        if per_k is not None and name is not None:
            std_name = None if name == "stability_ari" else f"{name}_std"
            stats = {
                e["K"]: (e.get(name, math.nan), e.get(std_name, 0.0) if std_name else 0.0)
                for e in per_k
                if np.isfinite(e.get(name, math.nan))
            }
        else:
            by_k: dict[int, list[float]] = {}
            for k, v, _ in pts:
                by_k.setdefault(k, []).append(v)
            stats = {k: (float(np.mean(v)), float(np.std(v))) for k, v in by_k.items()}
        ks = np.array(sorted(stats), dtype=float)
        means = np.array([stats[k][0] for k in sorted(stats)])
        stds = np.array([stats[k][1] for k in sorted(stats)])
        self.mean_curve.setData(ks, means)
        if len(ks):
            self.error_bars.setData(x=ks, y=means, height=2 * stds)
        else:
            self.error_bars.setData(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0))
        chosen = self.summary["chosen_K"] if self.summary else None
        self.chosen_line.setVisible(chosen is not None)
        if chosen is not None:
            self.chosen_line.setValue(chosen)

    def _dot_clicked(self, _item, points, *_args) -> None:
        if len(points):
            K, seed = points[0].data()
            self.fit_requested.emit(int(K), int(seed))

    def export_item(self):
        return self.pw.getPlotItem()
