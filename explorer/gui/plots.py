"""The live plots (pyqtgraph). Each panel keeps its plot items and only calls setData/setImage.

Panels share one small interface the window drives:

* ``set_data(data)``: new data loaded (draw it uncoloured, forget the previous fit);
* ``show_snapshot(snapshot, model_cls)``: draw a model snapshot (keys documented in
  ``explorer.models.base.Model.snapshot``); the window calls this at most about once a second
  during a fit, and once more with the final state;
* ``export(path)``: PNG or SVG by the file's suffix.

The view transforms (PCA, simplex, community order, adjacency binning) are in
:mod:`explorer.views`; nothing here does numerics beyond indexing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters  # noqa: F401  (registers pg.exporters)
from PySide6.QtCore import QPoint, QRectF, QSize, QSizeF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QCursor,
    QFont,
    QImage,
    QPaintEngine,
    QPainter,
    QPen,
    QPixmap,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from explorer import views

try:  # pyqtgraph's packing of QPainter.PixmapFragment arrays (what its ScatterPlotItem uses)
    from pyqtgraph.Qt import internals as pg_internals
except ImportError:  # pragma: no cover  (then dots are drawn by drawPoints, slower)
    pg_internals = None

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False, background="w",
                    foreground="k")

PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
GREY = (150, 150, 150)
DISPLAY_POINTS = 20_000      # random display sample for scatter plots ('all points' toggles it)
SIMPLEX_POINTS = 10_000      # memberships drawn in the simplex


def _natural_key(text) -> tuple:
    """Sort key putting "2" before "10"."""
    import re

    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t.lower())
                 for t in re.split(r"(\d+)", str(text)) if t)


def cluster_color(k: int) -> tuple[int, int, int]:
    if k < len(PALETTE):
        return PALETTE[k]
    c = pg.intColor(k, hues=17, values=2)
    return (c.red(), c.green(), c.blue())


class PointCloudItem(pg.GraphicsObject):
    """Many dots of one colour, drawn by one C++ call per paint.

    pyqtgraph's ScatterPlotItem builds a Python record per spot in ``setData`` (about a second
    for 100,000 points here), which blocks the window while a fit recolours the data; this item's
    ``setData`` is one array conversion. On screen (a raster paint engine) the paint is one
    ``QPainter.drawPixmapFragments`` call blitting a pre-rendered antialiased dot at every point
    (20,000 dots: about 2 ms, against about 25 ms for rasterising them with ``drawPoints``); image
    exports and SVG use ``drawPoints`` with a round cosmetic pen ``size`` pixels wide, so an SVG
    holds vector dots and a 2x PNG export has dots twice as wide.
    """

    def __init__(self, color=(0, 0, 0, 255), size: float = 5.0):
        super().__init__()
        self.data = np.zeros((0, 2))
        self._poly = QPolygonF()
        self._rect = QRectF()
        self._size = float(size)
        self._pen = QPen()
        self._sprite = None          # (pixmap, side in device pixels, device pixel ratio)
        self._fragments = (pg_internals.PrimitiveArray(QPainter.PixmapFragment, 10)
                           if pg_internals is not None else None)
        self.setColor(color)

    def setColor(self, color) -> None:  # noqa: N802  (pyqtgraph naming)
        self._pen = QPen(QColor(*color))
        self._pen.setWidthF(self._size)
        self._pen.setCosmetic(True)
        self._pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        self._sprite = None
        self.update()

    def _dot_sprite(self, dpr: float):
        if self._sprite is None or self._sprite[2] != dpr:
            d = self._size * dpr
            side = int(np.ceil(d)) + 2
            pm = QPixmap(side, side)
            pm.fill(Qt.GlobalColor.transparent)
            q = QPainter(pm)
            q.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            q.setPen(Qt.PenStyle.NoPen)
            q.setBrush(QBrush(self._pen.color()))
            q.drawEllipse(QRectF((side - d) / 2, (side - d) / 2, d, d))
            q.end()
            self._sprite = (pm, side, dpr)
        return self._sprite

    def setData(self, pos=None, color=None) -> None:  # noqa: N802
        pos = np.zeros((0, 2)) if pos is None or len(pos) == 0 else np.asarray(pos, float)
        self.prepareGeometryChange()
        self.data = pos
        if len(pos):
            self._poly = pg.functions.arrayToQPolygonF(np.ascontiguousarray(pos[:, 0]),
                                                       np.ascontiguousarray(pos[:, 1]))
            lo, hi = pos.min(0), pos.max(0)
            self._rect = QRectF(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1])
        else:
            self._poly = QPolygonF()
            self._rect = QRectF()
        if color is not None:
            self.setColor(color)
        self.informViewBoundsChanged()
        self.update()

    def getData(self):  # noqa: N802
        return self.data[:, 0], self.data[:, 1]

    def dataBounds(self, ax, frac=1.0, orthoRange=None):  # noqa: N802
        if not len(self.data):
            return None, None
        return float(self.data[:, ax].min()), float(self.data[:, ax].max())

    def pixelPadding(self):  # noqa: N802
        return self._size

    def boundingRect(self):  # noqa: N802
        # Pad by the dot size in data units so dots on the edge repaint fully.
        px = (self.pixelWidth() or 0.0) * self._size
        py = (self.pixelHeight() or 0.0) * self._size
        return self._rect.adjusted(-px, -py, px, py)

    def paint(self, p, option=None, widget=None):
        if not len(self.data):
            return
        if (self._fragments is not None and not self._exportOpts
                and p.paintEngine().type() == QPaintEngine.Type.Raster):
            dpr = widget.devicePixelRatioF() if widget is not None else 1.0
            pm, side, dpr = self._dot_sprite(dpr)
            tr = p.transform()
            x, y = self.data[:, 0], self.data[:, 1]
            self._fragments.resize(len(x))
            a = self._fragments.ndarray()
            a[:, 0] = tr.m11() * x + tr.m21() * y + tr.dx()     # fragment centres, device px
            a[:, 1] = tr.m12() * x + tr.m22() * y + tr.dy()
            np.clip(a[:, :2], -2.0**30, 2.0**30, out=a[:, :2])
            a[:, 2:6] = (0.0, 0.0, side, side)                   # source rect in the sprite
            a[:, 6:10] = (1.0 / dpr, 1.0 / dpr, 0.0, 1.0)        # scale x, y, rotation, opacity
            p.save()
            p.resetTransform()
            p.drawPixmapFragments(*self._fragments.drawargs(), pm)
            p.restore()
            return
        # Draw in device pixels: a round dot stays round whatever the view's (or an image
        # export's) scaling, and an export at twice the size draws dots twice as wide.
        scale = self._exportOpts.get("resolutionScale", 1.0) if self._exportOpts else 1.0
        device_points = p.transform().map(self._poly)
        p.save()
        p.resetTransform()
        pen = QPen(self._pen)
        pen.setWidthF(self._size * scale)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(pen)
        p.drawPoints(device_points)
        p.restore()


class IterationAxis(pg.AxisItem):
    """An axis of iteration numbers: whole-number ticks only (no 1.5, 2.5)."""

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802, N803  (pyqtgraph override)
        levels = [(sp, off) for sp, off in super().tickSpacing(minVal, maxVal, size)
                  if sp >= 1.0]
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


METRIC_LABELS = {"heldout_auc": "held-out AUC", "heldout_perplexity": "held-out perplexity",
                 "heldout_loglik": "held-out log-lik.", "elbo": "ELBO", "test_auc": "test AUC",
                 "test_perplexity": "test perplexity"}


def metric_label(name: str) -> str:
    """Axis label of a ``metrics_trace`` curve."""
    return METRIC_LABELS.get(name, name.replace("_", " "))


def _message_item(text: str = "") -> pg.TextItem:
    item = pg.TextItem(text, color=(90, 90, 90), anchor=(0.5, 0.5))
    item.setZValue(100)
    return item


class PlotPanel(QWidget):
    """Base: a titled panel with an export target."""

    title = ""
    EXPORT_SIZE = (900, 600)     # logical pixels of an exported plot (PNG at twice this)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.data = None
        self.fit_snapshot = None     # the last snapshot drawn (tests check plots hold a fit)

    def set_data(self, data) -> None:
        self.data = data
        self.fit_snapshot = None

    def show_snapshot(self, snapshot: dict, model_cls) -> None:
        self.fit_snapshot = snapshot

    def clear_fit(self) -> None:
        """A new run starts: forget the previous run's snapshot (redrawn uncoloured)."""
        self.set_data(self.data)

    def applies(self) -> bool:
        """Whether this plot shows anything for the current data and fit (scripted --plots
        writes only those)."""
        return self.data is not None

    def set_export_title(self, title: str | None) -> None:
        item = self.export_item()
        if isinstance(item, pg.PlotItem):
            self._swap_title(item, title)

    def _swap_title(self, plot: pg.PlotItem, title: str | None) -> None:
        """Show ``title`` on ``plot`` for an export; None puts the previous title back."""
        if title:
            self._saved_title = plot.titleLabel.text if plot.titleLabel.isVisible() else None
            plot.setTitle(title, size="11pt")
        else:
            plot.setTitle(getattr(self, "_saved_title", None))

    def export_item(self):
        """The pyqtgraph item to export as PNG, or None to grab the widget itself."""
        return None

    def export_widget(self) -> QWidget:
        """The widget painted into an SVG: the plot's view (without the control bar)."""
        return getattr(self, "pw", None) or getattr(self, "glw", None) or self

    def export(self, path, title: str | None = None) -> Path:
        """PNG or SVG of the plot with a title (data, model, K): a PNG is laid out at
        ``EXPORT_SIZE`` whatever the plot's shape on screen, and written at twice that."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".png", ".svg"):
            raise ValueError("export a plot as .png or .svg")
        if title:
            self.set_export_title(title)
        try:
            return self._export(path, suffix)
        finally:
            if title:
                self.set_export_title(None)

    def _export(self, path: Path, suffix: str) -> Path:
        item = self.export_item()
        if suffix == ".png" and item is not None:
            old = item.geometry()
            w, h = self.EXPORT_SIZE
            item.setGeometry(QRectF(old.topLeft(), QSizeF(w, h)))
            try:
                exporter = pg.exporters.ImageExporter(item)
                exporter.parameters()["width"] = 2 * w
                exporter.export(str(path))
            finally:
                item.setGeometry(old)
        elif suffix == ".png":
            if not self.grab().save(str(path)):
                raise OSError(f"could not write {path}")
        else:
            # pyqtgraph's SVGExporter cannot parse the path data Qt 6 writes, so the panel is
            # painted onto a QSvgGenerator instead (lines, text and the image stay vectors/images).
            from PySide6.QtSvg import QSvgGenerator

            target = self.export_widget()
            gen = QSvgGenerator()
            gen.setFileName(str(path))
            gen.setSize(target.size())
            gen.setViewBox(target.rect())
            gen.setTitle(self.title)
            painter = QPainter(gen)
            try:
                QWidget.render(target, painter, QPoint())
            finally:
                painter.end()
            if not path.exists():
                raise OSError(f"could not write {path}")
        return path


# ---------------------------------------------------------------------------------------------
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
        self.plot = self.glw.addPlot(row=0, col=0,
                                     axisItems={"bottom": IterationAxis("bottom"),
                                                "left": self.axis})
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

    def reset(self, model_cls=None) -> None:
        self.kind = model_cls.objective_kind if model_cls is not None else None
        # A model may name a metrics_trace curve to draw above its objective (ammsb: the ELBO).
        self.first = model_cls.first_curve if model_cls is not None else None
        self.glw.removeItem(self.plot)
        self.glw.addItem(self.plot, row=1 if self.first else 0, col=0)
        self.axis.offset = 0.0
        self.plot.setLabel("left", self.kind or "objective")
        self.plot.setTitle(None)
        self.curve.setData([], [])
        self.plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
        self.trace_points = 0
        # The extra plots belong to the previous run's model: another model may have none.
        for plot in self.metric_plots.values():
            self.glw.removeItem(plot)
        self.metric_plots.clear()
        self.metric_curves.clear()
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
                row = 0 if name == self.first else (
                    1 + bool(self.first) + sum(n != self.first for n in self.metric_curves))
                plot = self.glw.addPlot(row=row, col=0,
                                        axisItems={"bottom": IterationAxis("bottom")})
                plot.showGrid(x=True, y=True, alpha=0.3)
                plot.setLabel("left", metric_label(name))
                # AUC 0.86 stays 0.86 (not "860 (x0.001)")
                plot.getAxis("left").enableAutoSIPrefix(False)
                plot.setXLink(self.plot)
                plot.setMaximumHeight(220)
                color = cluster_color(len(self.metric_curves) + 1)
                curve = plot.plot([], [], symbol="o", symbolSize=4, pen=pg.mkPen(color, width=2),
                                  symbolBrush=color, symbolPen=None)
                self.metric_curves[name] = curve
                self.metric_plots[name] = plot
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


# ---------------------------------------------------------------------------------------------
class SelectViewBox(pg.ViewBox):
    """A ViewBox that, in a selection mode ("box" or "lasso"), turns a left drag into a region
    (a polygon in view coordinates) instead of panning."""

    sigRegion = Signal(object)         # (M, 2) polygon in view coordinates

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.select_mode = None
        self._path: list[tuple[float, float]] = []
        self.outline = pg.PlotCurveItem(pen=pg.mkPen((20, 20, 20), width=1.5,
                                                     style=Qt.PenStyle.DashLine))
        self.outline.setZValue(50)
        self.addItem(self.outline, ignoreBounds=True)

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802  (pyqtgraph override)
        if self.select_mode is None or ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        p = self.mapSceneToView(ev.scenePos())
        if ev.isStart():
            a = self.mapSceneToView(ev.buttonDownScenePos())
            self._path = [(a.x(), a.y())]
        if self.select_mode == "box":
            a = self._path[0]
            poly = [a, (p.x(), a[1]), (p.x(), p.y()), (a[0], p.y())]
        else:
            self._path.append((p.x(), p.y()))
            poly = self._path
        closed = np.array(poly + poly[:1], dtype=float)
        self.outline.setData(closed[:, 0], closed[:, 1])
        if ev.isFinish():
            self.outline.setData([], [])
            self.sigRegion.emit(np.array(poly, dtype=float))


def points_in_polygon(xy: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Boolean mask of the points inside a polygon (even-odd rule; vectorised over points)."""
    x, y = xy[:, 0], xy[:, 1]
    inside = np.zeros(len(xy), dtype=bool)
    n = len(poly)
    if n < 3:
        return inside
    for i in range(n):
        x1, y1 = poly[i]
        x2, y2 = poly[(i + 1) % n]
        if y1 == y2:
            continue
        crosses = (y1 > y) != (y2 > y)
        xint = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < xint)
    return inside


# A continuous column is coloured in this many quantile bins (light to dark).
COLUMN_BINS = 6
_RAMP = [(253, 231, 37), (122, 209, 81), (34, 168, 132), (42, 120, 142), (65, 68, 135),
         (68, 1, 84)]


class DataViewPanel(PlotPanel):
    """The table's points, coloured by the fitted cluster (or, before a fit, the ground truth; or
    any column: the ground truth, a feature in quantile bins), on principal components or raw
    columns; centres marked, Gaussian ellipses (2 sigma) when the snapshot has covariances, and for
    one column a stacked histogram with the fitted density. Hovering names the point under the
    cursor (row id, label, cluster, memberships); a box or lasso selection is highlighted here and
    announced (``selection_changed``) so the simplex and the confusion table show the same rows."""

    title = "Data"
    EXPORT_SIZE = (800, 650)
    selection_changed = Signal(object)   # sorted row indices, or None

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        self.cx = QComboBox()
        self.cy = QComboBox()
        self.color_by = QComboBox()
        self.select_mode = QComboBox()
        for c in (self.cx, self.cy, self.color_by):
            c.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.cx.setToolTip("horizontal axis: a principal component or a column")
        self.cy.setToolTip("vertical axis: a principal component or a column")
        self.color_by.setToolTip("colour the points by the fitted cluster, the ground truth, or "
                                 "a column (quantile bins); auto: the cluster after a fit, the "
                                 "ground truth before")
        for text, mode in (("pan", None), ("box", "box"), ("lasso", "lasso")):
            self.select_mode.addItem(text, mode)
        self.select_mode.setToolTip("what a drag does: pan the view, or select points in a box "
                                    "or a lasso; selected points are highlighted here, in the "
                                    "membership simplex and in the ground-truth table")
        self.clear_selection_button = QPushButton("Clear")
        self.clear_selection_button.setToolTip("clear the selection")
        self.clear_selection_button.setVisible(False)
        self.all_points = QCheckBox("All points")
        self.all_points.setToolTip(f"draw every row instead of a random sample of "
                                   f"{DISPLAY_POINTS:,} (slower for large tables)")
        self.info = QLabel("")
        for label, w in (("x:", self.cx), ("y:", self.cy), ("colour:", self.color_by),
                         ("drag:", self.select_mode)):
            bar.addWidget(QLabel(label))
            bar.addWidget(w)
        bar.addWidget(self.clear_selection_button)
        bar.addWidget(self.all_points)
        bar.addStretch(1)
        bar.addWidget(self.info)
        lay.addLayout(bar)
        self.vb = SelectViewBox()
        self.pw = pg.PlotWidget(viewBox=self.vb)
        lay.addWidget(self.pw)
        self.plot = self.pw.getPlotItem()
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.legend = pg.LegendItem(offset=(-10, 10), labelTextSize="9pt",
                                    brush=pg.mkBrush(255, 255, 255, 200))
        self.legend.setParentItem(self.plot.vb)
        self.scatter_items: list[PointCloudItem] = []
        self.halo = PointCloudItem(color=(255, 190, 0, 255), size=11)
        self.halo.setZValue(-5)
        self.plot.addItem(self.halo)
        self.centers_item = pg.ScatterPlotItem(symbol="x", size=16, pen=pg.mkPen("k", width=3),
                                               brush=pg.mkBrush(0, 0, 0))
        self.centers_item.setZValue(20)
        self.plot.addItem(self.centers_item)
        self.ellipse_items: list[pg.PlotDataItem] = []
        self.hist_items: list[pg.PlotDataItem] = []
        self.density_total = self.plot.plot([], [], pen=pg.mkPen("k", width=2.5))
        self.density_total.setZValue(15)
        self.density_items: list[pg.PlotDataItem] = []
        self.message = _message_item()
        self.plot.addItem(self.message, ignoreBounds=True)
        self.pca = None
        self.sample = None
        self.coords = None
        self.edges_1d = None
        self.selection = None          # sorted row indices selected, or None
        self.hover_text = ""
        self.cx.currentIndexChanged.connect(self._axes_changed)
        self.cy.currentIndexChanged.connect(self._axes_changed)
        self.color_by.currentIndexChanged.connect(lambda _i: self.redraw())
        self.select_mode.currentIndexChanged.connect(
            lambda _i: setattr(self.vb, "select_mode", self.select_mode.currentData()))
        self.clear_selection_button.clicked.connect(lambda: self.set_selection(None))
        self.vb.sigRegion.connect(self._region_selected)
        self.all_points.toggled.connect(self._sample_changed)
        self.pw.scene().sigMouseMoved.connect(self._on_hover)
        self.drawn_points = 0

    # -- data ---------------------------------------------------------------------------------
    def set_data(self, data) -> None:
        super().set_data(data)
        self._clear_items()
        self.selection = None
        self.halo.setData(None)
        self.clear_selection_button.setVisible(False)
        self.hover_text = ""
        self.legend.clear()
        self._legend_key = None
        for c in (self.cx, self.cy, self.color_by):
            c.blockSignals(True)
            c.clear()
        self.pca = None
        if data is None or data.kind != "table":
            self.message.setText("The data view shows tables; for networks see the Adjacency tab.")
            self.message.setPos(0.5, 0.5)
            self.plot.setLabel("bottom", "")
            self.plot.setLabel("left", "")
            self.plot.setRange(xRange=(0, 1), yRange=(0, 1))
            for c in (self.cx, self.cy, self.color_by, self.select_mode):
                c.setEnabled(False)
            self.info.setText("")
            for c in (self.cx, self.cy, self.color_by):
                c.blockSignals(False)
            return
        self.message.setText("")
        X = data.X
        D = X.shape[1]
        # Axes: principal components (more than two columns), then the raw columns.
        if D > 2:
            self.pca = views.PCAProjection(X)
            for i, r in enumerate(self.pca.explained_ratio):
                for c in (self.cx, self.cy):
                    c.addItem(f"PC{i + 1} ({100 * r:.0f}%)", ("pc", i))
        for j, name in enumerate(data.columns):
            for c in (self.cx, self.cy):
                c.addItem(name, ("col", j))
        self.cx.setCurrentIndex(0)
        self.cy.setCurrentIndex(min(1, self.cy.count() - 1))
        self.color_by.addItem("auto", ("auto", None))
        self.color_by.addItem("cluster", ("cluster", None))
        if data.labels is not None:
            self.color_by.addItem(f"{data.label_name or 'labels'} (truth)", ("truth", None))
        for j, name in enumerate(data.columns):
            self.color_by.addItem(name, ("col", j))
        for c in (self.cx, self.cy, self.color_by, self.select_mode):
            c.setEnabled(D > 1)
        self.color_by.setEnabled(True)
        for c in (self.cx, self.cy, self.color_by):
            c.blockSignals(False)
        if D == 1:
            x = X[:, 0]
            n_bins = int(np.clip(np.sqrt(len(x)), 10, 60))
            self.edges_1d = np.histogram_bin_edges(x, bins=n_bins)
        self._truth_codes = None
        if data.labels is not None:
            truth = np.asarray(data.labels, dtype=object)
            known = np.array([t is not None for t in truth])
            names = sorted({str(t) for t in truth[known]}, key=_natural_key)
            index = {n: k for k, n in enumerate(names)}
            codes = np.full(len(truth), -1, dtype=np.int64)
            codes[known] = [index[str(t)] for t in truth[known]]
            self._truth_codes, self._truth_names = codes, names
        self._sample_changed(redraw=False)
        self._compute_coords()
        self.redraw()
        self._fit_view()

    def _fit_view(self) -> None:
        self.plot.enableAutoRange()
        self.plot.autoRange(padding=0.05)
        # the view stays put while a fit recolours the points
        self.plot.disableAutoRange()

    def applies(self) -> bool:
        return self.data is not None and self.data.kind == "table"

    def _axis(self, combo) -> tuple[str, int]:
        return combo.currentData() or ("col", 0)

    def _pair(self) -> tuple[int, int]:
        """The principal components shown (when both axes are components)."""
        return (self._axis(self.cx)[1], self._axis(self.cy)[1])

    def _sample_changed(self, *_args, redraw: bool = True) -> None:
        if self.data is None or self.data.kind != "table":
            return
        n = self.data.n_items
        self.sample = (np.arange(n) if self.all_points.isChecked()
                       else views.display_sample(n, DISPLAY_POINTS))
        if redraw:
            self._compute_coords()
            self.redraw()

    def _project(self, X: np.ndarray, combo) -> np.ndarray:
        kind, i = self._axis(combo)
        if kind == "pc":
            return (X - self.pca.mean) @ self.pca.components[i]
        return X[:, i]

    def _compute_coords(self) -> None:
        X = self.data.X
        D = X.shape[1]
        if D == 1:
            self.coords = None
            self.plot.setLabel("bottom", self.data.columns[0])
            self.plot.setLabel("left", "density")
            return
        Xs = X[self.sample]
        self.coords = np.column_stack([self._project(Xs, self.cx), self._project(Xs, self.cy)])
        self.plot.setLabel("bottom", self.cx.currentText())
        self.plot.setLabel("left", self.cy.currentText())

    def _axes_changed(self, *_args) -> None:
        if self.data is None or self.data.kind != "table" or self.data.X.shape[1] < 2:
            return
        self._compute_coords()
        self.redraw()
        self._fit_view()

    def _clear_items(self) -> None:
        for item in self.scatter_items:
            item.setData(None)
        for item in self.ellipse_items + self.hist_items + self.density_items:
            item.setData([], [])
        self.density_total.setData([], [])
        self.centers_item.setData([], [])
        self.drawn_points = 0

    def clear_fit(self) -> None:
        """A new run: the points lose the previous run's colours (the view and the selection
        stay)."""
        self.fit_snapshot = None
        if self.data is not None and self.data.kind == "table":
            self.redraw()

    def show_snapshot(self, snapshot: dict, model_cls) -> None:
        super().show_snapshot(snapshot, model_cls)
        if self.data is not None and self.data.kind == "table":
            self.redraw()

    # -- colours ------------------------------------------------------------------------------
    def colouring(self) -> tuple[np.ndarray | None, list[str], list[tuple]]:
        """(group of each sampled row or None, group names, group colours) for the chosen
        colouring: clusters, ground truth, or a column's quantile bins."""
        mode, j = self.color_by.currentData() or ("auto", None)
        labels = (self.fit_snapshot or {}).get("labels")
        if mode == "auto":
            mode = "cluster" if labels is not None else "truth"
        if mode == "cluster" and labels is not None:
            lab = np.asarray(labels)[self.sample]
            K = int(lab.max()) + 1 if len(lab) else 0
            return lab, [f"cluster {k}" for k in range(K)], [cluster_color(k) for k in range(K)]
        if mode == "truth" and self._truth_codes is not None:
            codes = self._truth_codes[self.sample]
            names = list(self._truth_names)
            colors = [cluster_color(k) for k in range(len(names))]
            if (codes < 0).any():
                codes = np.where(codes < 0, len(names), codes)
                names.append("(no label)")
                colors.append(GREY)
            return codes, names, colors
        if mode == "col":
            x = self.data.X[self.sample, j]
            edges = np.unique(np.quantile(x, np.linspace(0, 1, COLUMN_BINS + 1)))
            if len(edges) < 2:
                return None, [], []
            codes = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
            n = len(edges) - 1
            ramp = [_RAMP[int(round(k * (len(_RAMP) - 1) / max(n - 1, 1)))] for k in range(n)]
            names = [f"{edges[k]:.4g} – {edges[k + 1]:.4g}" for k in range(n)]
            return codes, names, ramp
        return None, [], []

    # -- drawing ------------------------------------------------------------------------------
    def _scatter_item(self, i: int) -> PointCloudItem:
        while len(self.scatter_items) <= i:
            item = PointCloudItem(size=5)
            self.plot.addItem(item)
            self.scatter_items.append(item)
        return self.scatter_items[i]

    def _curve(self, items: list, i: int, **kw) -> pg.PlotDataItem:
        while len(items) <= i:
            item = pg.PlotDataItem([], [], **kw)
            self.plot.addItem(item)
            items.append(item)
        return items[i]

    def _set_legend(self, names: list[str], colors: list[tuple]) -> None:
        """Legend of the colour groups (rebuilt only when they change: it costs milliseconds)."""
        key = (tuple(names), tuple(colors))
        if key == getattr(self, "_legend_key", None):
            return
        self._legend_key = key
        self.legend.clear()
        if not names or len(names) > 12:
            return
        for name, color in zip(names, colors):
            sample = pg.ScatterPlotItem(symbol="o", size=9, pen=None, brush=pg.mkBrush(*color))
            self.legend.addItem(sample, name)

    def redraw(self) -> None:
        if self.data is None or self.data.kind != "table":
            return
        snap = self.fit_snapshot or {}
        if self.data.X.shape[1] == 1:
            self._draw_1d(snap, snap.get("labels"))
            return
        xy = self.coords
        codes, names, colors = self.colouring()
        if codes is None:
            self._scatter_item(0).setData(xy, color=(*GREY, 160))
            used = 1
        else:
            # One item per group: recolouring is a regrouping of the sampled rows.
            used = len(names)
            order = np.argsort(codes, kind="stable")
            bounds = np.searchsorted(codes[order], np.arange(used + 1))
            for k in range(used):
                rows = order[bounds[k]:bounds[k + 1]]
                self._scatter_item(k).setData(xy[rows], color=(*colors[k], 170))
        for item in self.scatter_items[used:]:
            item.setData(None)
        self._set_legend(names, colors)
        self.drawn_points = len(xy)
        self._draw_centres_and_ellipses(snap)
        self._draw_selection()
        n = self.data.n_items
        text = f"{len(xy):,} of {n:,} points" if len(xy) < n else f"{n:,} points"
        if self.selection is not None:
            text += f"; {len(self.selection):,} selected"
        self.info.setText(text)

    def _project_centres(self, centres: np.ndarray) -> np.ndarray:
        return np.column_stack([self._project(centres, self.cx), self._project(centres, self.cy)])

    def _view_matrix(self) -> np.ndarray:
        """(D, 2) linear map of the current axes (components or unit columns)."""
        D = self.data.X.shape[1]
        cols = []
        for combo in (self.cx, self.cy):
            kind, i = self._axis(combo)
            cols.append(self.pca.components[i] if kind == "pc" else np.eye(D)[i])
        return np.column_stack(cols)

    def _draw_centres_and_ellipses(self, snap: dict) -> None:
        centres = snap.get("centers")
        covs = snap.get("covariances")
        n_ell = 0
        if centres is None:
            self.centers_item.setData([], [])
        else:
            c2 = self._project_centres(np.asarray(centres, dtype=float))
            self.centers_item.setData(pos=c2)
            if covs is not None:
                covs = np.asarray(covs, dtype=float)
                if covs.ndim == 2:                   # diagonal covariances (K, D)
                    covs = np.einsum("kd,de->kde", covs, np.eye(covs.shape[1]))
                W = self._view_matrix()
                c22 = np.einsum("da,kde,eb->kab", W, covs, W)
                for k in range(len(c2)):
                    pts = views.ellipse_points(c2[k], c22[k], n_sigma=2.0)
                    item = self._curve(self.ellipse_items, k)
                    item.setPen(pg.mkPen(*cluster_color(k), width=2.5))
                    item.setData(pts[:, 0], pts[:, 1])
                    item.setZValue(10)
                n_ell = len(c2)
        for item in self.ellipse_items[n_ell:]:
            item.setData([], [])

    # -- selection and hover ------------------------------------------------------------------
    def _region_selected(self, poly: np.ndarray) -> None:
        if self.coords is None or not len(self.coords):
            return
        inside = points_in_polygon(self.coords, poly)
        self.set_selection(self.sample[inside])

    def set_selection(self, rows) -> None:
        """Select rows (indices into the table; None or empty clears) and announce it."""
        rows = None if rows is None or len(rows) == 0 else np.unique(np.asarray(rows))
        self.selection = rows
        self.clear_selection_button.setVisible(rows is not None)
        self._draw_selection()
        if self.data is not None and self.data.kind == "table" and self.coords is not None:
            n = self.data.n_items
            text = f"{len(self.coords):,} of {n:,} points" if len(self.coords) < n else \
                f"{n:,} points"
            self.info.setText(text + (f"; {len(rows):,} selected" if rows is not None else ""))
        self.selection_changed.emit(rows)

    def _draw_selection(self) -> None:
        if self.selection is None or self.coords is None:
            if len(self.halo.data):
                self.halo.setData(None)        # (an empty item is left alone: no re-layout)
            return
        shown = np.isin(self.sample, self.selection, assume_unique=True)
        self.halo.setData(self.coords[shown])

    def describe_point(self, x: float, y: float, radius_px: float = 6.0) -> str:
        """Text for the drawn point nearest to view coordinates (x, y) within ``radius_px``:
        row id, ground truth, cluster and memberships."""
        if self.coords is None or not len(self.coords):
            return ""
        px, py = self.vb.viewPixelSize()
        d2 = ((self.coords[:, 0] - x) / px) ** 2 + ((self.coords[:, 1] - y) / py) ** 2
        i = int(np.argmin(d2))
        if d2[i] > radius_px ** 2:
            return ""
        row = int(self.sample[i])
        d = self.data
        parts = [f"row {d.ids[row]}"]
        if d.labels is not None:
            parts.append(f"{d.label_name or 'label'}: {d.labels[row]}")
        snap = self.fit_snapshot or {}
        if snap.get("labels") is not None:
            parts.append(f"cluster {int(np.asarray(snap['labels'])[row])}")
        m = snap.get("memberships")
        if m is not None:
            mr = np.asarray(m)[row]
            top = np.argsort(mr)[::-1][:4]
            parts.append("memberships " + ", ".join(f"{k}: {mr[k]:.2f}" for k in top))
        mode, j = self.color_by.currentData() or ("auto", None)
        if mode == "col":
            parts.append(f"{d.columns[j]} = {d.X[row, j]:.6g}")
        return "\n".join(parts)

    def _on_hover(self, pos) -> None:
        if self.coords is None or self.data is None:
            return
        p = self.vb.mapSceneToView(pos)
        text = self.describe_point(p.x(), p.y())
        if text != self.hover_text:
            self.hover_text = text
            if text:
                QToolTip.showText(QCursor.pos(), text, self.pw)
            else:
                QToolTip.hideText()

    def _draw_1d(self, snap: dict, labels) -> None:
        x = self.data.X[:, 0]
        edges = self.edges_1d
        width = np.diff(edges)
        N = len(x)
        if labels is None:
            groups = [np.histogram(x, bins=edges)[0]]
        else:
            lab = np.asarray(labels)
            K = int(lab.max()) + 1 if len(lab) else 0
            groups = [np.histogram(x[lab == k], bins=edges)[0] for k in range(K)]
        dens = [g / (N * width) for g in groups]
        cum = np.cumsum(np.vstack(dens), axis=0)
        # Stacked: the top of each cluster's band drawn from the largest down, filled to zero.
        for i, k in enumerate(range(len(dens) - 1, -1, -1)):
            color = GREY if labels is None else cluster_color(k)
            item = self._curve(self.hist_items, i)
            item.setData(edges, cum[k], stepMode="center", fillLevel=0,
                         brush=pg.mkBrush(*color, 120), pen=pg.mkPen(*color, width=1))
        for item in self.hist_items[len(dens):]:
            item.setData([], [])
        top = float(cum[-1].max()) if len(cum) else 0.0
        d1 = snap.get("density_1d")
        n_comp = 0
        if d1 is not None:
            gx = np.asarray(d1["x"], dtype=float)
            total = np.asarray(d1["total"], dtype=float)
            self.density_total.setData(gx, total)
            finite = total[np.isfinite(total)]
            if len(finite):
                top = max(top, float(finite.max()))
            comps = np.asarray(d1.get("components", np.zeros((0, len(gx)))), dtype=float)
            for k, comp in enumerate(comps):
                item = self._curve(self.density_items, k)
                item.setPen(pg.mkPen(*cluster_color(k), width=2, style=Qt.PenStyle.DashLine))
                item.setData(gx, comp)
                item.setZValue(14)
            n_comp = len(comps)
        else:
            self.density_total.setData([], [])
        for item in self.density_items[n_comp:]:
            item.setData([], [])
        # The view stays put during a fit, but grows to keep the density's peak in sight.
        (_x0, _x1), (y0, y1) = self.plot.vb.viewRange()
        if top > 0 and top * 1.05 > y1:
            self.plot.setYRange(min(y0, 0.0), top * 1.08, padding=0)
        centres = snap.get("centers")
        if centres is not None:
            c = np.asarray(centres, dtype=float)[:, 0]
            self.centers_item.setData(c, np.zeros_like(c))
        else:
            self.centers_item.setData([], [])
        self.drawn_points = N
        self.info.setText(f"{N:,} values")

    def export_item(self):
        return self.plot


# ---------------------------------------------------------------------------------------------
class SimplexPanel(PlotPanel):
    """Each row's or node's membership vector in a simplex (segment K=2, triangle K=3, regular
    K-gon beyond, vertices labelled); colour = argmax, opacity = largest membership."""

    title = "Memberships"
    ALPHA_LEVELS = 8

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.info = QLabel("")
        lay.addWidget(self.info)
        self.pw = pg.PlotWidget()
        lay.addWidget(self.pw)
        self.plot = self.pw.getPlotItem()
        self.plot.hideAxis("bottom")
        self.plot.hideAxis("left")
        self.plot.setAspectLocked(True)
        self.outline = self.plot.plot([], [], pen=pg.mkPen((60, 60, 60), width=1.5))
        # One dot item per (cluster, opacity level): colour = argmax, opacity = largest membership.
        self.point_items: list[PointCloudItem] = []
        self.positions = np.zeros((0, 2))   # drawn positions, in display-sample order
        self.vertex_labels: list[pg.TextItem] = []
        self.message = _message_item()
        self.plot.addItem(self.message, ignoreBounds=True)
        self.halo = PointCloudItem(color=(255, 190, 0, 255), size=12)
        self.halo.setZValue(-5)
        self.plot.addItem(self.halo)
        self.sample = None
        self.drawn_points = 0
        self._jitter = None
        self._K = None
        self.memberships = None
        self.selection = None
        self.highlighted = 0

    def set_data(self, data) -> None:
        super().set_data(data)
        n = data.n_items if data is not None else 0
        self.sample = views.display_sample(n, SIMPLEX_POINTS)
        self._jitter = np.random.default_rng(1).uniform(-0.12, 0.12, len(self.sample))
        self.selection = None
        self._show_message("Run a model to see memberships.")
        self.info.setText("")

    def applies(self) -> bool:
        return self.memberships is not None

    def clear_fit(self) -> None:
        selection = self.selection
        self.set_data(self.data)
        self.selection = selection

    def set_selection(self, rows) -> None:
        """Highlight these rows (from the data view's selection; None clears)."""
        self.selection = rows
        self._draw_selection()

    def _draw_selection(self) -> None:
        M = self.memberships
        self.highlighted = 0
        if M is None or self.selection is None or M.shape[1] < 2:
            if len(self.halo.data):
                self.halo.setData(None)
            return
        rows = self.selection[:SIMPLEX_POINTS]
        P = views.simplex_project(M[rows])
        if M.shape[1] == 2:
            P = P.copy()
            P[:, 1] = np.random.default_rng(1).uniform(-0.12, 0.12, len(rows))
        self.halo.setData(P)
        self.highlighted = len(rows)

    def _show_message(self, text: str) -> None:
        self.memberships = None
        self.halo.setData(None)
        for item in self.point_items:
            item.setData(None)
        self.positions = np.zeros((0, 2))
        self.outline.setData([], [])
        for t in self.vertex_labels:
            t.setText("")
        self.message.setText(text)
        self.message.setPos(0, 0)
        self.plot.setRange(xRange=(-1, 1), yRange=(-1, 1))
        self.drawn_points = 0
        self._K = None

    def _point_item(self, i: int) -> PointCloudItem:
        while len(self.point_items) <= i:
            item = PointCloudItem(size=6)
            self.plot.addItem(item)
            self.point_items.append(item)
        return self.point_items[i]

    def show_snapshot(self, snapshot: dict, model_cls) -> None:
        super().show_snapshot(snapshot, model_cls)
        M = snapshot.get("memberships")
        name = model_cls.name if model_cls is not None else "This model"
        if M is None:
            self._show_message(f"{name} gives hard assignments only:\n"
                               "it has no memberships to place in a simplex.")
            self.info.setText("")
            return
        M = np.asarray(M, dtype=float)
        K = M.shape[1]
        if K < 2:
            self._show_message("One cluster: nothing to place.")
            return
        self.message.setText("")
        V = views.simplex_vertices(K)
        Ms = M[self.sample]
        P = views.simplex_project(Ms)
        if K == 2:
            P = P.copy()
            P[:, 1] = self._jitter
        arg = np.argmax(Ms, axis=1)
        top = Ms[np.arange(len(Ms)), arg]
        level = np.clip(((top - 1.0 / K) / (1.0 - 1.0 / K) * self.ALPHA_LEVELS).astype(int), 0,
                        self.ALPHA_LEVELS - 1)
        group = arg * self.ALPHA_LEVELS + level
        n_groups = K * self.ALPHA_LEVELS
        order = np.argsort(group, kind="stable")
        bounds = np.searchsorted(group[order], np.arange(n_groups + 1))
        alphas = np.linspace(40, 230, self.ALPHA_LEVELS).astype(int)
        for g in range(n_groups):
            rows = order[bounds[g]:bounds[g + 1]]
            color = (*cluster_color(g // self.ALPHA_LEVELS), int(alphas[g % self.ALPHA_LEVELS]))
            self._point_item(g).setData(P[rows] if len(rows) else None, color=color)
        for item in self.point_items[n_groups:]:
            item.setData(None)
        self.positions = P
        self.drawn_points = len(P)
        if self._K != K:
            closed = np.vstack([V, V[:1]]) if K > 2 else V
            self.outline.setData(closed[:, 0], closed[:, 1])
            while len(self.vertex_labels) < K:
                t = pg.TextItem("", color=(0, 0, 0), anchor=(0.5, 0.5))
                self.plot.addItem(t)
                self.vertex_labels.append(t)
            for k, t in enumerate(self.vertex_labels):
                if k < K:
                    t.setText(f"{k}")
                    t.setColor(cluster_color(k))
                    t.setPos(*(V[k] * (1.12 if K > 2 else 1.0) + (np.array([0, 0.2]) if K == 2
                                                                  else 0)))
                else:
                    t.setText("")
            self.plot.setRange(xRange=(-1.25, 1.25), yRange=(-1.25, 1.25) if K > 2 else (-0.5, 0.5))
            self._K = K
        n = len(M)
        extra = " (vertical spread is random jitter)" if K == 2 else ""
        self.info.setText(f"{len(P):,} of {n:,} memberships, K = {K}{extra}")
        self.memberships = M
        self._draw_selection()

    def export_item(self):
        return self.plot


# ---------------------------------------------------------------------------------------------
def _adjacency_lut() -> np.ndarray:
    lut = np.zeros((256, 4), dtype=np.uint8)
    lut[0] = (255, 255, 255, 255)
    t = np.linspace(0.0, 1.0, 255)[:, None]
    lo = np.array([170, 200, 235])
    hi = np.array([8, 29, 88])
    lut[1:, :3] = (lo + (hi - lo) * t).astype(np.uint8)
    lut[1:, 3] = 255
    return lut


class AdjacencyPanel(PlotPanel):
    """The adjacency matrix in community order (argmax community, then membership strength),
    binned from the edge list into at most 1000 x 1000 uint8 pixels, block boundaries drawn;
    hovering names the nodes under the cursor; a time slider for temporal networks."""

    title = "Adjacency"
    MAX_PIXELS = 1000

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("0 = all snapshots summed; t = one snapshot")
        self.slider_label = QLabel("")
        bar.addWidget(QLabel("time:"))
        bar.addWidget(self.slider, 1)
        bar.addWidget(self.slider_label)
        self.time_bar = QWidget()
        self.time_bar.setLayout(bar)
        lay.addWidget(self.time_bar)
        self.pw = pg.PlotWidget()
        lay.addWidget(self.pw)
        self.hover = QLabel(" ")
        self.hover.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.hover)
        self.plot = self.pw.getPlotItem()
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.plot.setLabel("bottom", "node (community order)")
        self.plot.setLabel("left", "node (community order)")
        self.image = pg.ImageItem()
        self.image.setLookupTable(_adjacency_lut())
        self.plot.addItem(self.image)
        self.bounds = self.plot.plot([], [], pen=pg.mkPen((214, 39, 40), width=1.2),
                                     connect="pairs")
        self.bounds.setZValue(10)
        # Community colour bands along the top and the left edge (one pixel per bin).
        self.band_top = pg.ImageItem()
        self.band_left = pg.ImageItem()
        for band in (self.band_top, self.band_left):
            self.plot.addItem(band)
        self.message = _message_item()
        self.plot.addItem(self.message, ignoreBounds=True)
        self.adj = None
        self.node_names = None              # (n,) a name per node (from the node-label file)
        self.node_community = None          # (n,) community code of each node, for the hover
        self._order_labels = None
        self._order_memberships = None
        self.slider.valueChanged.connect(self._slider_moved)
        self.pw.scene().sigMouseMoved.connect(self._on_hover)

    def set_node_names(self, names) -> None:
        """Names shown by the hover instead of node ids (None: ids)."""
        self.node_names = None if names is None else np.asarray(names, dtype=object)

    def applies(self) -> bool:
        return self.data is not None and self.data.kind in ("network", "temporal")

    def clear_fit(self) -> None:
        names = self.node_names
        self.set_data(self.data)
        self.node_names = names

    def set_data(self, data) -> None:
        super().set_data(data)
        self.adj = None
        self.node_community = None
        self.node_names = None
        self.hover.setText(" ")
        if data is None or data.kind not in ("network", "temporal"):
            self.time_bar.setVisible(False)
            self.image.clear()
            self.band_top.clear()
            self.band_left.clear()
            self.bounds.setData([], [])
            self.message.setText("The adjacency matrix is shown for networks.")
            self.message.setPos(0.5, 0.5)
            self.plot.setRange(xRange=(0, 1), yRange=(0, 1))
            return
        self.message.setText("")
        temporal = data.kind == "temporal"
        self.time_bar.setVisible(temporal)
        if temporal:
            self.slider.blockSignals(True)
            self.slider.setRange(0, data.T)
            self.slider.setValue(0)
            self.slider.blockSignals(False)
        # Before a fit: ground-truth order when known, else the file's order.
        self._order_memberships = None
        self._order_labels = (np.asarray(data.labels).astype(str) if data.labels is not None
                              else np.zeros(data.n_items, dtype=int))
        self._rebuild()
        n = data.n_items
        self.plot.setRange(xRange=(-0.03 * n, n), yRange=(-0.03 * n, n), padding=0.02)

    def _edges(self):
        d = self.data
        if d.kind == "network":
            return d.edges[:, 0], d.edges[:, 1], d.weights, not d.directed
        t = self.slider.value()
        if t == 0:
            return d.i, d.j, d.count, not d.directed
        sel = d.t == (t - 1)
        return d.i[sel], d.j[sel], d.count[sel], not d.directed

    def _rebuild(self) -> None:
        d = self.data
        n = d.n_items
        order, bounds = views.community_order(self._order_labels, self._order_memberships)
        u, v, w, sym = self._edges()
        self.adj = views.bin_adjacency(u, v, w, n, order, bounds, symmetric=sym,
                                       max_pixels=self.MAX_PIXELS)
        self.image.setImage(self.adj.image, levels=(0, 255), autoLevels=False)
        self.image.setRect(QRectF(0, 0, n, n))
        self._draw_bands(order)
        if len(bounds):
            b = bounds.astype(float)
            xs = np.column_stack([b, b, np.zeros_like(b), np.full_like(b, n)]).ravel()
            ys = np.column_stack([np.zeros_like(b), np.full_like(b, n), b, b]).ravel()
            self.bounds.setData(xs, ys)
        else:
            self.bounds.setData([], [])
        if d.kind == "temporal":
            t = self.slider.value()
            self.slider_label.setText("aggregate" if t == 0 else
                                      f"snapshot {t - 1} (t = {d.times[t - 1]:g})")

    def _draw_bands(self, order: np.ndarray) -> None:
        """Colour strips beside the matrix: the community of the first node in each bin."""
        if self._order_memberships is not None:
            comm = np.argmax(self._order_memberships, axis=1)
        else:
            comm = np.unique(self._order_labels, return_inverse=True)[1].ravel()
        self.node_community = comm
        n, B = self.adj.n_nodes, self.adj.bins
        first_rank = -(-np.arange(B) * n // B)            # AdjacencyImage.ranks_of_pixel
        codes = comm[order[np.minimum(first_rank, n - 1)]]
        palette = np.array([(*cluster_color(int(k)), 255) for k in range(int(codes.max()) + 1)],
                           dtype=np.uint8)
        rgba = palette[codes]
        w = 0.025 * n
        self.band_top.setImage(rgba[None, :, :], autoLevels=False)
        self.band_top.setRect(QRectF(0, -w - 0.005 * n, n, w))
        self.band_left.setImage(rgba[:, None, :], autoLevels=False)
        self.band_left.setRect(QRectF(-w - 0.005 * n, 0, w, n))

    def _slider_moved(self, _value: int) -> None:
        if self.data is not None and self.data.kind == "temporal":
            self._rebuild()

    def show_snapshot(self, snapshot: dict, model_cls) -> None:
        super().show_snapshot(snapshot, model_cls)
        if self.data is None or self.data.kind not in ("network", "temporal"):
            return
        labels = snapshot.get("labels")
        if labels is None:
            return
        self._order_labels = np.asarray(labels)
        m = snapshot.get("memberships")
        self._order_memberships = None if m is None else np.asarray(m)
        self._rebuild()

    def describe_position(self, x: float, y: float) -> str:
        """Text for the nodes under view coordinates (x, y): column node(s), row node(s)."""
        adj = self.adj
        n = adj.n_nodes
        if not (0 <= x < n and 0 <= y < n):
            return " "
        B = adj.bins
        px, py = int(x * B / n), int(y * B / n)
        ids = self.data.node_ids
        if self.node_names is not None:
            ids = [nm if nm is not None else i for nm, i in zip(self.node_names, ids)]

        comm = self.node_community
        truth = self.data.labels

        def where(node) -> str:
            if self.fit_snapshot is not None and comm is not None:
                return f" (community {comm[node]})"
            if truth is not None:
                return f" ({self.data.label_name or 'label'} {truth[node]})"
            return ""

        def names(p):
            nodes = adj.nodes_of_pixel(p)
            if len(nodes) == 1:
                return f"node {ids[nodes[0]]}{where(nodes[0])}"
            shown = ", ".join(str(ids[i]) for i in nodes[:3])
            return f"{len(nodes)} nodes ({shown}{', ...' if len(nodes) > 3 else ''})"

        value = int(adj.image[py, px])
        return f"row: {names(py)}   column: {names(px)}   {'edge' if value else 'no edge'}"

    def _on_hover(self, pos) -> None:
        if self.adj is None:
            return
        p = self.plot.vb.mapSceneToView(pos)
        self.hover.setText(self.describe_position(p.x(), p.y()))

    def export_item(self):
        return self.plot


# ---------------------------------------------------------------------------------------------
class ConfusionPanel(PlotPanel):
    """Fitted clusters against ground-truth labels (rows: labels in natural order, columns:
    clusters); rows selected in the data view are counted in brackets in each cell."""

    title = "Ground truth"

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        lay.addWidget(self.info)
        self.table = QTableWidget()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setMinimumSectionSize(36)
        lay.addWidget(self.table, 1)
        self.counts = None
        self.column_order = None
        self.selection = None
        self.selected_counts = None
        self._cols = None
        self._export_title = None

    def applies(self) -> bool:
        return self.counts is not None

    def clear_fit(self) -> None:
        """A new run: the table empties (the label codes of the data are kept)."""
        self.fit_snapshot = None
        self.counts = None
        self.column_order = None
        self.selected_counts = None
        self.table.clear()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        if self.data is not None and self.data.labels is not None:
            self.info.setText(f"Ground truth: {self.data.label_name or 'labels'}. Run a model "
                              "to compare its clusters with it.")

    def set_data(self, data) -> None:
        super().set_data(data)
        self.counts = None
        self.column_order = None
        self.selection = None
        self.selected_counts = None
        self._known = self._codes = self._names = None
        if data is not None and data.labels is not None:
            truth = np.asarray(data.labels, dtype=object)
            self._known = np.array([t is not None and str(t) != "" for t in truth], dtype=bool)
            names, codes = np.unique(truth[self._known].astype(str), return_inverse=True)
            # natural order: 2 before 10
            order = sorted(range(len(names)), key=lambda k: _natural_key(names[k]))
            rank = np.empty(len(names), dtype=np.int64)
            rank[order] = np.arange(len(names))
            self._names = names[order]
            self._codes = rank[codes.ravel()]
        self.table.clear()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        if data is None or data.labels is None:
            self.info.setText("No ground truth: choose a label column (tables) or a node-label "
                              "file (networks) in the data panel.")
        else:
            self.info.setText(f"Ground truth: {data.label_name or 'labels'}. Run a model to "
                              "compare its clusters with it.")

    def set_selection(self, rows) -> None:
        """Count the selected rows (data view selection) in each cell; None clears."""
        self.selection = rows
        if self.counts is not None:
            self._fill()

    def show_snapshot(self, snapshot: dict, model_cls) -> None:
        super().show_snapshot(snapshot, model_cls)
        data = self.data
        labels = snapshot.get("labels")
        if data is None or data.labels is None or labels is None:
            return
        from explorer import metrics

        # Integer codes computed once per data set keep this O(N) with no string work.
        self._pred_all = np.asarray(labels)
        pred_all = self._pred_all[self._known]
        cols, pred = np.unique(pred_all, return_inverse=True)
        rows = self._names
        c = np.bincount(self._codes.ravel() * len(cols) + pred.ravel(),
                        minlength=len(rows) * len(cols)).reshape(len(rows), len(cols))
        self.counts = c
        self._cols = cols
        # Shown with each cluster under the label most of its members have (largest first), so
        # a good fit reads as a diagonal.
        self.column_order = np.lexsort((-c.max(axis=0), c.argmax(axis=0)))
        self._fill()
        nmi = metrics.nmi(self._codes, pred)
        ari = metrics.ari(self._codes, pred)
        self.info.setText(f"Rows: {data.label_name or 'ground truth'}; columns: fitted clusters "
                          "(under the label most of their members have). "
                          f"NMI {nmi:.3f}, ARI {ari:.3f} over {len(pred):,} labelled items.")

    def _fill(self) -> None:
        c = self.counts[:, self.column_order]
        cols = self._cols[self.column_order]
        rows = self._names
        sel = None
        if self.selection is not None:
            rows_sel = np.asarray(self.selection)
            rows_sel = rows_sel[self._known[rows_sel]]
            # codes of the selected rows: truth code, and the column of their cluster
            truth_index = np.cumsum(self._known) - 1
            t = self._codes[truth_index[rows_sel]]
            col_of = {k: j for j, k in enumerate(cols)}
            p = np.array([col_of[k] for k in self._pred_all[rows_sel]], dtype=np.int64)
            sel = np.bincount(t * len(cols) + p, minlength=len(rows) * len(cols)).reshape(
                len(rows), len(cols)) if len(t) else np.zeros_like(c)
        self.selected_counts = sel
        self.table.setRowCount(len(rows))
        self.table.setColumnCount(len(cols))
        self.table.setHorizontalHeaderLabels([str(k) for k in cols])
        self.table.setVerticalHeaderLabels([str(r) for r in rows])
        row_tot = np.maximum(c.sum(axis=1, keepdims=True), 1)
        frac = c / row_tot
        bold = QFont(self.table.font())
        bold.setBold(True)
        for i in range(len(rows)):
            for j in range(len(cols)):
                text = str(int(c[i, j]))
                item = QTableWidgetItem(text)
                if sel is not None and sel[i, j]:
                    item.setText(f"{text} ({int(sel[i, j])})")
                    item.setFont(bold)
                    item.setForeground(QBrush(QColor(150, 90, 0)))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                a = int(25 + 200 * frac[i, j]) if c[i, j] else 0
                item.setBackground(QBrush(QColor(31, 119, 180, a)))
                self.table.setItem(i, j, item)

    def set_export_title(self, title: str | None) -> None:
        self._export_title = title

    def _paint_table(self, p: QPainter) -> QSize:
        """Draw the table (title, header, cells) with ``p``; returns the size used."""
        c = self.counts[:, self.column_order]
        cols = [str(k) for k in self._cols[self.column_order]]
        rows = [str(r) for r in self._names]
        font = QFont(self.font())
        font.setPointSizeF(10)
        p.setFont(font)
        fm = p.fontMetrics()
        pad = 8
        cell_w = max(fm.horizontalAdvance(str(int(c.max()))) + 2 * pad, 44,
                     *(fm.horizontalAdvance(k) + 2 * pad for k in cols))
        cell_h = fm.height() + pad
        head_w = max(fm.horizontalAdvance(r) for r in rows) + 2 * pad
        lines = [t for t in (self._export_title,
                             f"rows: {self.data.label_name or 'ground truth'}; columns: clusters",
                             self.info.text().split(". ")[-1]) if t]
        top = pad + len(lines) * (fm.height() + 2) + pad
        W = max(head_w + len(cols) * cell_w, *(fm.horizontalAdvance(t) for t in lines)) + 2 * pad
        H = top + (len(rows) + 1) * cell_h + pad
        p.fillRect(0, 0, W, H, QColor(255, 255, 255))
        p.setPen(QColor(0, 0, 0))
        for k, t in enumerate(lines):
            p.drawText(pad, pad + fm.ascent() + k * (fm.height() + 2), t)
        row_tot = np.maximum(c.sum(axis=1, keepdims=True), 1)
        for j, k in enumerate(cols):
            p.drawText(QRectF(head_w + j * cell_w, top, cell_w, cell_h),
                       Qt.AlignmentFlag.AlignCenter, k)
        for i, r in enumerate(rows):
            y = top + (i + 1) * cell_h
            p.drawText(QRectF(0, y, head_w - pad, cell_h),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, r)
            for j in range(len(cols)):
                rect = QRectF(head_w + j * cell_w, y, cell_w, cell_h)
                if c[i, j]:
                    a = int(25 + 200 * c[i, j] / row_tot[i, 0])
                    p.fillRect(rect, QColor(31, 119, 180, a))
                p.setPen(QColor(220, 220, 220))
                p.drawRect(rect)
                p.setPen(QColor(0, 0, 0))
                p.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(int(c[i, j])))
        return QSize(int(W), int(H))

    def _export(self, path: Path, suffix: str) -> Path:
        """The table drawn at the size of its content (PNG at twice the scale, or SVG)."""
        if self.counts is None:
            return super()._export(path, suffix)
        probe = QImage(1, 1, QImage.Format.Format_ARGB32)
        p = QPainter(probe)
        size = self._paint_table(p)
        p.end()
        if suffix == ".png":
            img = QImage(size * 2, QImage.Format.Format_ARGB32)
            img.fill(QColor(255, 255, 255))
            p = QPainter(img)
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            p.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
            p.scale(2, 2)
            self._paint_table(p)
            p.end()
            if not img.save(str(path)):
                raise OSError(f"could not write {path}")
            return path
        from PySide6.QtSvg import QSvgGenerator

        gen = QSvgGenerator()
        gen.setFileName(str(path))
        gen.setSize(size)
        gen.setViewBox(QRectF(0, 0, size.width(), size.height()))
        gen.setTitle(self.title)
        p = QPainter(gen)
        try:
            self._paint_table(p)
        finally:
            p.end()
        return path

    def sizeHint(self):  # noqa: N802
        return QSize(500, 300)
