"""The Sweep K view: a live plot of each model-selection criterion against K.

The sweep itself is :mod:`explorer.sweep` (Qt-free, worker processes); here a QThread iterates it
and hands each finished fit to the window as a signal, so the event loop only ever draws points.
Points appear as fits finish: one small dot per (K, seed), the mean over seeds with an error bar
(one standard deviation), and the chosen K marked by a vertical line once every fit is in. Clicking
a dot asks the window to open that fit (same K and seed, so the same result) in the other views.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot
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

CRITERION_LABELS = {"bic": "BIC (lower is better)", "aic": "AIC (lower is better)",
                    "elbo": "ELBO (higher is better)",
                    "components_used": "components with weight > 1 %",
                    "heldout_loglik": "held-out log-likelihood (higher is better)",
                    "silhouette": "silhouette (higher is better)",
                    "distortion": "distortion (look for the elbow)",
                    "stability_ari": "stability: mean ARI between seeds"}


class SweepWorker(QObject):
    row = Signal(object)           # SweepRow
    done = Signal(object)          # summary dict
    failed = Signal(str)

    def __init__(self, spec, jobs, cancel):
        super().__init__()
        self.spec, self.jobs, self.cancel = spec, jobs, cancel

    @Slot()
    def run(self) -> None:
        rows = []
        try:
            for r in sweep_mod.iter_sweep(self.spec, jobs=self.jobs, cancel=self.cancel):
                rows.append(r)
                self.row.emit(r)
            self.done.emit(sweep_mod.summarize(self.spec.model_id, rows))
        except Exception as e:  # the window shows it; the sweep never takes the window down
            self.failed.emit(f"{type(e).__name__}: {e}")


class SweepPanel(QWidget):
    """Controls (K range, seeds, jobs, start/cancel), the criterion plot and a status line."""

    title = "Sweep K"
    start_requested = Signal(list, int, int)     # Ks, seeds, jobs
    fit_requested = Signal(int, int)             # K, seed
    finished = Signal(object)                    # summary

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
        self.pw = pg.PlotWidget()
        self.pw.showGrid(x=True, y=True, alpha=0.3)
        self.pw.setLabel("bottom", "K")
        self.pw.getAxis("left").enableAutoSIPrefix(False)
        self.pw.getAxis("bottom").enableAutoSIPrefix(False)
        self.dots = pg.ScatterPlotItem(size=7, pen=None, brush=pg.mkBrush(120, 120, 120, 160))
        self.dots.sigClicked.connect(self._dot_clicked)
        self.mean_curve = pg.PlotDataItem(pen=pg.mkPen(cluster_color(0), width=2), symbol="o",
                                          symbolBrush=cluster_color(0), symbolPen=None)
        self.error_bars = pg.ErrorBarItem(pen=pg.mkPen(cluster_color(0), width=1), beam=0.15)
        self.chosen_line = pg.InfiniteLine(angle=90, pen=pg.mkPen((200, 40, 40), width=2,
                                                                  style=Qt.DashLine))
        self.chosen_line.setVisible(False)
        for item in (self.error_bars, self.mean_curve, self.dots, self.chosen_line):
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
        self._thread = None
        self._worker = None
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
        return self._thread is not None and self._thread.isRunning()

    def start(self, spec, jobs: int) -> None:
        """Run ``spec`` (a SweepSpec) in the background; the plot fills as fits finish."""
        if self.is_running():
            self.cancel(wait=True)
        self.rows, self.summary, self.model_id = [], None, spec.model_id
        self.total = len(spec.tasks())
        crit = sweep_mod._CHOOSER[sweep_mod.criterion_family(spec.model_id)][0]
        self.criterion.blockSignals(True)
        self.criterion.clear()
        for name in [crit] + [n for n in CRITERION_LABELS if n != crit]:
            self.criterion.addItem(CRITERION_LABELS.get(name, name), name)
        self.criterion.blockSignals(False)
        self.chosen_line.setVisible(False)
        self.redraw()
        self._cancel = sweep_mod.SweepCancel()
        self._worker = SweepWorker(spec, jobs, self._cancel)
        self._thread = QThread(self)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.row.connect(self._on_row)
        self._worker.done.connect(self._on_done)
        self._worker.failed.connect(self._on_failed)
        self._worker.done.connect(self._thread.quit)
        self._worker.failed.connect(self._thread.quit)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(f"sweeping {spec.model_id}: {self.total} fits on {jobs} process(es)…")
        self._gc_hold = collector.hold()     # see explorer/gui/collector.py
        self._thread.start()

    def cancel(self, wait: bool = False) -> None:
        if self._cancel is not None:
            self._cancel.cancel()
        if wait and self._thread is not None:
            self._thread.wait()

    def _on_row(self, row) -> None:
        self.rows.append(row)
        what = row.error or row.stop_reason
        self.status.setText(f"{len(self.rows)}/{self.total} fits done (last: K = {row.K}, "
                            f"seed {row.seed}: {what})")
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
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
        if self._gc_hold is not None:
            self._gc_hold.release()
            self._gc_hold = None

    def shutdown(self) -> None:
        """Cancel a running sweep and wait for its workers (the window calls this on close)."""
        self.cancel(wait=True)
        self._join()

    def _on_done(self, summary) -> None:
        self._join()
        self._redraw_due = False
        self.summary = summary
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        cancelled = self._cancel is not None and self._cancel.cancelled
        if summary["chosen_K"] is not None:
            text = f"chosen K = {summary['chosen_K']}: {summary['reason']}"
            if summary.get("elbow_K") is not None:
                text += f"; elbow of the distortion at K = {summary['elbow_K']}"
        else:
            text = summary["reason"]
        if cancelled:
            text = f"cancelled after {len(self.rows)} of {self.total} fits; " + text
        self.status.setText(text + ". Click a dot to open that fit.")
        self.redraw()
        self.finished.emit(summary)

    def _on_failed(self, message: str) -> None:
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
        good = [r for r in self.rows if r.error is None]
        if name is None or name == "stability_ari":
            pts = []
        else:
            pts = [(r.K, r.criteria.get(name, math.nan), r.seed) for r in good]
            pts = [p for p in pts if np.isfinite(p[1])]
        self.dots.setData([{"pos": (k, v), "data": (k, s)} for k, v, s in pts])
        by_k: dict[int, list[float]] = {}
        for k, v, _ in pts:
            by_k.setdefault(k, []).append(v)
        if name == "stability_ari" and self.summary is not None:
            by_k = {e["K"]: [e["stability_ari"]] for e in self.summary["per_K"]
                    if np.isfinite(e["stability_ari"])}
        ks = np.array(sorted(by_k), dtype=float)
        means = np.array([np.mean(by_k[k]) for k in sorted(by_k)])
        stds = np.array([np.std(by_k[k]) for k in sorted(by_k)])
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
