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
from PySide6.QtCore import QPoint, QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QPaintEngine, QPainter, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
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

    def __init__(self, parent=None):
        super().__init__(parent)
        self.data = None
        self.fit_snapshot = None     # the last snapshot drawn (tests check plots hold a fit)

    def set_data(self, data) -> None:
        self.data = data
        self.fit_snapshot = None

    def show_snapshot(self, snapshot: dict, model_cls) -> None:
        self.fit_snapshot = snapshot

    def export_item(self):
        """The pyqtgraph item to export as PNG, or None to grab the widget itself."""
        return None

    def export_widget(self) -> QWidget:
        """The widget painted into an SVG: the plot's view (without the control bar)."""
        return getattr(self, "pw", None) or getattr(self, "glw", None) or self

    def export(self, path) -> Path:
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".png", ".svg"):
            raise ValueError("export a plot as .png or .svg")
        item = self.export_item()
        if suffix == ".png" and item is not None:
            exporter = pg.exporters.ImageExporter(item)
            # Twice the on-screen size for print; keeps the aspect ratio.
            exporter.parameters()["width"] = max(int(item.boundingRect().width()), 400) * 2
            exporter.export(str(path))
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
        self.plot = self.glw.addPlot(row=0, col=0,
                                     axisItems={"bottom": IterationAxis("bottom")})
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
        self.first = getattr(model_cls, "first_curve", None)
        self.glw.removeItem(self.plot)
        self.glw.addItem(self.plot, row=1 if self.first else 0, col=0)
        self.plot.setLabel("left", self.kind or "objective")
        self.plot.setTitle(None)
        self.curve.setData([], [])
        self.trace_points = 0
        # The extra plots belong to the previous run's model: another model may have none.
        for plot in self.metric_plots.values():
            self.glw.removeItem(plot)
        self.metric_plots.clear()
        self.metric_curves.clear()
        self.plot.enableAutoRange()
        self.fit_snapshot = None

    def set_data(self, data) -> None:
        super().set_data(data)
        self.reset(None)

    def show_progress(self, progress) -> None:
        x, y = views.downsample_trace(progress.trace)
        self.curve.setData(x, y)
        self.trace_points = len(progress.trace)
        self.plot.setLabel("left", progress.objective_kind)
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
class DataViewPanel(PlotPanel):
    """The table's points coloured by hard assignment with the centres marked; PCA when D > 2
    (choice of components), Gaussian ellipses (2 sigma) when the snapshot has covariances, and for
    one column a stacked histogram with the fitted density and its components."""

    title = "Data"

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        self.cx = QComboBox()
        self.cy = QComboBox()
        for c in (self.cx, self.cy):
            c.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.cx.setToolTip("component on the horizontal axis")
        self.cy.setToolTip("component on the vertical axis")
        self.all_points = QCheckBox("All points")
        self.all_points.setToolTip(f"draw every row instead of a random sample of "
                                   f"{DISPLAY_POINTS:,} (slower for large tables)")
        self.info = QLabel("")
        bar.addWidget(QLabel("x:"))
        bar.addWidget(self.cx)
        bar.addWidget(QLabel("y:"))
        bar.addWidget(self.cy)
        bar.addWidget(self.all_points)
        bar.addStretch(1)
        bar.addWidget(self.info)
        lay.addLayout(bar)
        self.pw = pg.PlotWidget()
        lay.addWidget(self.pw)
        self.plot = self.pw.getPlotItem()
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.scatter_items: list[PointCloudItem] = []
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
        self.cx.currentIndexChanged.connect(self._axes_changed)
        self.cy.currentIndexChanged.connect(self._axes_changed)
        self.all_points.toggled.connect(self._sample_changed)
        self.drawn_points = 0

    # -- data ---------------------------------------------------------------------------------
    def set_data(self, data) -> None:
        super().set_data(data)
        self._clear_items()
        for c in (self.cx, self.cy):
            c.blockSignals(True)
            c.clear()
        self.pca = None
        if data is None or data.kind != "table":
            self.message.setText("The data view shows tables; for networks see the Adjacency tab.")
            self.message.setPos(0.5, 0.5)
            self.plot.setRange(xRange=(0, 1), yRange=(0, 1))
            self.cx.setEnabled(False)
            self.cy.setEnabled(False)
            self.info.setText("")
            for c in (self.cx, self.cy):
                c.blockSignals(False)
            return
        self.message.setText("")
        X = data.X
        D = X.shape[1]
        if D > 2:
            self.pca = views.PCAProjection(X)
            for i, r in enumerate(self.pca.explained_ratio):
                for c in (self.cx, self.cy):
                    c.addItem(f"PC{i + 1} ({100 * r:.0f}%)", i)
            self.cx.setCurrentIndex(0)
            self.cy.setCurrentIndex(1)
        else:
            for i, name in enumerate(data.columns):
                for c in (self.cx, self.cy):
                    c.addItem(name, i)
            self.cx.setCurrentIndex(0)
            self.cy.setCurrentIndex(min(1, D - 1))
        self.cx.setEnabled(D > 2)
        self.cy.setEnabled(D > 2)
        for c in (self.cx, self.cy):
            c.blockSignals(False)
        if D == 1:
            x = X[:, 0]
            n_bins = int(np.clip(np.sqrt(len(x)), 10, 60))
            self.edges_1d = np.histogram_bin_edges(x, bins=n_bins)
        self._sample_changed(redraw=False)
        self._compute_coords()
        self.redraw()
        self.plot.enableAutoRange()
        self.plot.autoRange(padding=0.05)
        # the view stays put while a fit recolours the points
        self.plot.disableAutoRange()

    def _pair(self) -> tuple[int, int]:
        return (max(self.cx.currentData() or 0, 0), max(self.cy.currentData() or 0, 0))

    def _sample_changed(self, *_args, redraw: bool = True) -> None:
        if self.data is None or self.data.kind != "table":
            return
        n = self.data.n_items
        self.sample = (np.arange(n) if self.all_points.isChecked()
                       else views.display_sample(n, DISPLAY_POINTS))
        if redraw:
            self._compute_coords()
            self.redraw()

    def _compute_coords(self) -> None:
        X = self.data.X
        D = X.shape[1]
        if D == 1:
            self.coords = None
            self.plot.setLabel("bottom", self.data.columns[0])
            self.plot.setLabel("left", "density")
            return
        pair = self._pair()
        Xs = X[self.sample]
        if self.pca is not None:
            self.coords = self.pca.transform(Xs, pair)
            self.plot.setLabel("bottom", self.cx.currentText())
            self.plot.setLabel("left", self.cy.currentText())
        else:
            self.coords = Xs[:, list(pair)]
            self.plot.setLabel("bottom", self.data.columns[pair[0]])
            self.plot.setLabel("left", self.data.columns[pair[1]])

    def _axes_changed(self, *_args) -> None:
        if self.data is None or self.data.kind != "table" or self.data.X.shape[1] < 2:
            return
        self._compute_coords()
        self.redraw()
        self.plot.autoRange(padding=0.05)

    def _clear_items(self) -> None:
        for item in self.scatter_items:
            item.setData(None)
        for item in self.ellipse_items + self.hist_items + self.density_items:
            item.setData([], [])
        self.density_total.setData([], [])
        self.centers_item.setData([], [])
        self.drawn_points = 0

    def show_snapshot(self, snapshot: dict, model_cls) -> None:
        super().show_snapshot(snapshot, model_cls)
        if self.data is not None and self.data.kind == "table":
            self.redraw()

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

    def redraw(self) -> None:
        if self.data is None or self.data.kind != "table":
            return
        snap = self.fit_snapshot or {}
        labels = snap.get("labels")
        if self.data.X.shape[1] == 1:
            self._draw_1d(snap, labels)
            return
        xy = self.coords
        if labels is None:
            self._scatter_item(0).setData(xy, color=(*GREY, 160))
            used = 1
        else:
            # One item per cluster: recolouring is a regrouping of the sampled rows.
            lab = np.asarray(labels)[self.sample]
            used = int(lab.max()) + 1 if len(lab) else 0
            order = np.argsort(lab, kind="stable")
            bounds = np.searchsorted(lab[order], np.arange(used + 1))
            for k in range(used):
                rows = order[bounds[k]:bounds[k + 1]]
                self._scatter_item(k).setData(xy[rows], color=(*cluster_color(k), 170))
        for item in self.scatter_items[used:]:
            item.setData(None)
        self.drawn_points = len(xy)
        self._draw_centres_and_ellipses(snap)
        n = self.data.n_items
        self.info.setText(f"{len(xy):,} of {n:,} points" if len(xy) < n else f"{n:,} points")

    def _project_centres(self, centres: np.ndarray) -> np.ndarray:
        if self.pca is not None:
            return self.pca.transform(centres, self._pair())
        return centres[:, list(self._pair())]

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
                if self.pca is not None:
                    c22 = self.pca.transform_cov(covs, self._pair())
                else:
                    idx = list(self._pair())
                    c22 = covs[:, idx][:, :, idx]
                for k in range(len(c2)):
                    pts = views.ellipse_points(c2[k], c22[k], n_sigma=2.0)
                    item = self._curve(self.ellipse_items, k)
                    item.setPen(pg.mkPen(*cluster_color(k), width=2.5))
                    item.setData(pts[:, 0], pts[:, 1])
                    item.setZValue(10)
                n_ell = len(c2)
        for item in self.ellipse_items[n_ell:]:
            item.setData([], [])

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
        d1 = snap.get("density_1d")
        n_comp = 0
        if d1 is not None:
            gx = np.asarray(d1["x"], dtype=float)
            self.density_total.setData(gx, np.asarray(d1["total"], dtype=float))
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
        self.sample = None
        self.drawn_points = 0
        self._jitter = None
        self._K = None

    def set_data(self, data) -> None:
        super().set_data(data)
        n = data.n_items if data is not None else 0
        self.sample = views.display_sample(n, SIMPLEX_POINTS)
        self._jitter = np.random.default_rng(1).uniform(-0.12, 0.12, len(self.sample))
        self._show_message("Run a model to see memberships.")

    def _show_message(self, text: str) -> None:
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
        self.node_community = None          # (n,) community code of each node, for the hover
        self._order_labels = None
        self._order_memberships = None
        self.slider.valueChanged.connect(self._slider_moved)
        self.pw.scene().sigMouseMoved.connect(self._on_hover)

    def set_data(self, data) -> None:
        super().set_data(data)
        self.adj = None
        self.node_community = None
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
    """Fitted clusters against ground-truth labels (rows: labels, columns: clusters)."""

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

    def set_data(self, data) -> None:
        super().set_data(data)
        self.counts = None
        self.column_order = None
        self._known = self._codes = self._names = None
        if data is not None and data.labels is not None:
            truth = np.asarray(data.labels, dtype=object)
            self._known = np.array([t is not None and str(t) != "" for t in truth], dtype=bool)
            self._names, self._codes = np.unique(truth[self._known].astype(str),
                                                 return_inverse=True)
        self.table.clear()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        if data is None or data.labels is None:
            self.info.setText("No ground truth: choose a label column (tables) or a node-label "
                              "file (networks) in the data panel.")
        else:
            self.info.setText(f"Ground truth: {data.label_name or 'labels'}. Run a model to "
                              "compare its clusters with it.")

    def show_snapshot(self, snapshot: dict, model_cls) -> None:
        super().show_snapshot(snapshot, model_cls)
        data = self.data
        labels = snapshot.get("labels")
        if data is None or data.labels is None or labels is None:
            return
        from explorer import metrics

        # Integer codes computed once per data set keep this O(N) with no string work.
        pred_all = np.asarray(labels)[self._known]
        cols, pred = np.unique(pred_all, return_inverse=True)
        rows = self._names
        c = np.bincount(self._codes.ravel() * len(cols) + pred.ravel(),
                        minlength=len(rows) * len(cols)).reshape(len(rows), len(cols))
        self.counts = c
        # Shown with each cluster under the label most of its members have (largest first), so
        # a good fit reads as a diagonal.
        self.column_order = np.lexsort((-c.max(axis=0), c.argmax(axis=0)))
        c = c[:, self.column_order]
        cols = cols[self.column_order]
        self.table.setRowCount(len(rows))
        self.table.setColumnCount(len(cols))
        self.table.setHorizontalHeaderLabels([str(k) for k in cols])
        self.table.setVerticalHeaderLabels([str(r) for r in rows])
        row_tot = np.maximum(c.sum(axis=1, keepdims=True), 1)
        frac = c / row_tot
        for i in range(len(rows)):
            for j in range(len(cols)):
                item = QTableWidgetItem(str(int(c[i, j])))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                a = int(25 + 200 * frac[i, j]) if c[i, j] else 0
                item.setBackground(QBrush(QColor(31, 119, 180, a)))
                self.table.setItem(i, j, item)
        nmi = metrics.nmi(self._codes, pred)
        ari = metrics.ari(self._codes, pred)
        self.info.setText(f"Rows: {data.label_name or 'ground truth'}; columns: fitted clusters "
                          "(under the label most of their members have). "
                          f"NMI {nmi:.3f}, ARI {ari:.3f} over {len(pred):,} labelled items.")

    def sizeHint(self):  # noqa: N802
        return QSize(500, 300)
