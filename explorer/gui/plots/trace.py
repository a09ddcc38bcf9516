"""The objective trace (and held-out metrics of network models) against iteration."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QVBoxLayout,
)

from explorer import views
from explorer.gui.plots.base import PALETTE, PlotPanel, cluster_color


class IterationAxis(pg.AxisItem):
    """An axis of iteration numbers: whole-number ticks only (no 1.5, 2.5)."""

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802, N803  (pyqtgraph override)
        levels = [(sp, off) for sp, off in super().tickSpacing(minVal, maxVal, size) if sp >= 1.0]
        return levels or [(1.0, 0.0)]


def tick_texts(values, spacing: float, offset: float = 0.0) -> list[str]:
    """Short tick texts of ``values - offset``, with just the digits the spacing needs."""
    x = [v - offset for v in values]
    if not x:
        return []
    big = max(abs(v) for v in x) or 1.0
    spacing = abs(spacing) or big
    places = max(0, int(np.ceil(-np.log10(spacing) - 1e-9)))
    if big >= 1e6 or places > 5:
        sig = max(1, int(np.floor(np.log10(big)) - np.floor(np.log10(spacing))) + 1)
        return [f"{v:.{sig}g}" for v in x]
    return [f"{v:.{places}f}" for v in x]


class ObjectiveAxis(pg.AxisItem):
    """The objective's axis: short ticks that differ. When the trace's values share many leading
    digits (a log-likelihood near -2,182,830 moving by a few units) the ticks show the value minus
    a round offset and the label names it ("log-likelihood + 2,182,830")."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.offset = 0.0
        self.enableAutoSIPrefix(False)

    def tickStrings(self, values, scale, spacing):  # noqa: N802  (pyqtgraph override)
        return tick_texts([v * scale for v in values], spacing * scale, self.offset)


def offset_for(values: np.ndarray) -> float:
    """A round offset for values whose spread is tiny next to their size (else 0)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return 0.0
    lo, hi = float(v.min()), float(v.max())
    big = max(abs(lo), abs(hi))
    span = hi - lo
    if big == 0 or (span > 0 and big / span < 1e3) or (span == 0 and big < 1e4):
        return 0.0
    q = 10.0 ** np.floor(np.log10(span if span > 0 else big * 1e-6))
    return float(np.round(v[-1] / q) * q)


def offset_label(kind: str, offset: float) -> str:
    if offset == 0:
        return kind
    mag = abs(offset)
    text = f"{mag:,.0f}" if mag < 1e15 and mag == int(mag) else f"{mag:.10g}"
    return f"{kind} {'+' if offset < 0 else '−'} {text}"


METRIC_LABELS = {
    "heldout_auc": "held-out AUC",
    "heldout_perplexity": "held-out perplexity",
    "heldout_loglik": "held-out log-lik.",
    "elbo": "ELBO",
    "test_auc": "test AUC",
    "test_perplexity": "test perplexity",
}


def metric_label(name: str) -> str:
    """Axis label of a ``metrics_trace`` curve."""
    return METRIC_LABELS.get(name, name.replace("_", " "))


class TracePanel(PlotPanel):
    """Objective against iteration, its kind on the axis; extra live curves (held-out AUC,
    perplexity) from the snapshot's ``metrics_trace`` in a second plot below."""

    title = "Objective"

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.glw = pg.GraphicsLayoutWidget()
        lay.addWidget(self.glw)
        self.axis = ObjectiveAxis("left")
        self.plot = self.glw.addPlot(
            row=0, col=0, axisItems={"bottom": IterationAxis("bottom"), "left": self.axis}
        )
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.setLabel("bottom", "iteration")
        self.plot.setLabel("left", "objective")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.curve = self.plot.plot([], [], pen=pg.mkPen(PALETTE[0], width=2))
        self.metric_curves: dict[str, pg.PlotDataItem] = {}
        self.metric_plots: dict[str, pg.PlotItem] = {}
        self.trace_points = 0
        self.kind = None
        self.first = None
        self._cols = 1

    # ---- layout: one column, or two when the panel is wide and short (under the tabs) -------
    def _plots_in_order(self) -> list:
        first = [self.metric_plots[self.first]] if self.first in self.metric_plots else []
        others = [p for name, p in sorted(self.metric_plots.items()) if name != self.first]
        return first + [self.plot] + others

    def _columns_wanted(self, n_plots: int) -> int:
        # Four plots stacked in a short, wide panel (the objective under the tabs of a 1024 x 700
        # window) were 60 px each with their labels on top of each other: two columns then.
        return 2 if n_plots > 2 and self.width() > 1.5 * self.height() else 1

    def _relayout(self) -> None:
        plots = self._plots_in_order()
        self._cols = self._columns_wanted(len(plots))
        for plot in plots:
            if plot in self.glw.ci.items:
                self.glw.removeItem(plot)
        for k, plot in enumerate(plots):
            self.glw.addItem(plot, row=k // self._cols, col=k % self._cols)

    def resizeEvent(self, event):  # noqa: N802  (Qt override)
        super().resizeEvent(event)
        if self._columns_wanted(len(self.metric_plots) + 1) != self._cols:
            self._relayout()

    def reset(self, model_cls=None) -> None:
        self.kind = model_cls.objective_kind if model_cls is not None else None
        # A model may name a metrics_trace curve to draw above its objective (ammsb: the ELBO).
        self.first = model_cls.first_curve if model_cls is not None else None
        # The extra plots belong to the previous run's model: another model may have none. They
        # go first: the objective's new cell may be the one a metric plot holds (an a-MMSB fit's
        # ELBO sits in row 0 above the objective; the next reset puts the objective there).
        for plot in self.metric_plots.values():
            self.glw.removeItem(plot)
        self.metric_plots.clear()
        self.metric_curves.clear()
        self._relayout()
        self.axis.offset = 0.0
        self.plot.setLabel("left", self.kind or "objective")
        self.plot.setTitle(None)
        self.curve.setData([], [])
        self.plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
        self.trace_points = 0
        self.plot.enableAutoRange()
        self.fit_snapshot = None

    def clear_fit(self) -> None:
        self.reset(None)

    def set_export_title(self, title: str | None) -> None:
        self._swap_title(self.plot, title)

    def set_data(self, data) -> None:
        super().set_data(data)
        self.reset(None)

    def set_trace(self, trace, kind: str | None = None) -> None:
        """Draw a trace; the axis gets an offset when the values share many leading digits."""
        x, y = views.downsample_trace(trace)
        self.kind = kind or self.kind
        offset = offset_for(y)
        if offset != self.axis.offset:
            self.axis.offset = offset
            self.axis.picture = None
            self.axis.update()
        label = offset_label(self.kind or "objective", offset)
        if label != self.axis.labelText:
            self.plot.setLabel("left", label)
        self.curve.setData(x, y)
        self.trace_points = len(trace)

    def applies(self) -> bool:
        return self.trace_points > 0

    def show_progress(self, progress) -> None:
        self.set_trace(progress.trace, progress.objective_kind)
        title = f"{progress.objective_kind}: {progress.objective:.8g}"
        if progress.n_init > 1 and not progress.done:
            title = f"restart {progress.restart + 1}/{progress.n_init}  ·  " + title
        self.plot.setTitle(title, size="10pt")
        self._fit_x()

    def show_snapshot(self, snapshot: dict, model_cls) -> None:
        super().show_snapshot(snapshot, model_cls)
        mt = snapshot.get("metrics_trace") or {}
        # One small plot per metric (their scales differ: AUC in [0, 1], perplexity, ELBO),
        # x-linked to the objective.
        for name, points in sorted(mt.items()):
            curve = self.metric_curves.get(name)
            if curve is None:
                plot = pg.PlotItem(axisItems={"bottom": IterationAxis("bottom")})
                plot.showGrid(x=True, y=True, alpha=0.3)
                plot.setLabel("left", metric_label(name))
                # AUC 0.86 stays 0.86 (not "860 (x0.001)")
                plot.getAxis("left").enableAutoSIPrefix(False)
                plot.setXLink(self.plot)
                plot.setMaximumHeight(220)
                color = cluster_color(len(self.metric_curves) + 1)
                curve = plot.plot(
                    [],
                    [],
                    symbol="o",
                    symbolSize=4,
                    pen=pg.mkPen(color, width=2),
                    symbolBrush=color,
                    symbolPen=None,
                )
                self.metric_curves[name] = curve
                self.metric_plots[name] = plot
                self._relayout()
            arr = np.asarray(points, dtype=float).reshape(-1, 2)
            curve.setData(arr[:, 0], arr[:, 1])
        self._fit_x()

    def _fit_x(self) -> None:
        """With extra curves (x-linked to the objective), span the iterations of all of them:
        a metric measured before the first iteration (x = 0) is not cut off."""
        if not self.metric_curves:
            return
        lo, hi = np.inf, -np.inf
        for c in [self.curve, *self.metric_curves.values()]:
            x = c.getData()[0]
            if x is not None and len(x):
                lo, hi = min(lo, float(x[0])), max(hi, float(x[-1]))
        if np.isfinite(lo):
            self.plot.setXRange(lo, max(hi, lo + 1), padding=0.03)

    def export_item(self):
        return self.glw.ci
