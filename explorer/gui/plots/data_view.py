"""The table's points coloured by cluster, on principal components or columns."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import (
    QCursor,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolTip,
)

from explorer import views
from explorer.gui.plots.base import (
    DISPLAY_POINTS,
    GREY,
    PlotPanel,
    PointCloudItem,
    _message_item,
    _natural_key,
    cluster_color,
)


class SelectViewBox(pg.ViewBox):
    """A ViewBox that, in a selection mode ("box" or "lasso"), turns a left drag into a region
    (a polygon in view coordinates) instead of panning."""

    sigRegion = Signal(object)  # (M, 2) polygon in view coordinates

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.select_mode = None
        self._path: list[tuple[float, float]] = []
        self.outline = pg.PlotCurveItem(
            pen=pg.mkPen((20, 20, 20), width=1.5, style=Qt.PenStyle.DashLine)
        )
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
_RAMP = [(253, 231, 37), (122, 209, 81), (34, 168, 132), (42, 120, 142), (65, 68, 135), (68, 1, 84)]


class DataViewPanel(PlotPanel):
    """The table's points, coloured by the fitted cluster (or, before a fit, the ground truth; or
    any column: the ground truth, a feature in quantile bins), on principal components or raw
    columns; centres marked, Gaussian ellipses (2 sigma) when the snapshot has covariances, and for
    one column a stacked histogram with the fitted density. Hovering names the point under the
    cursor (row id, label, cluster, memberships); a box or lasso selection is highlighted here and
    announced (``selection_changed``) so the simplex and the confusion table show the same rows."""

    title = "Data"
    EXPORT_SIZE = (800, 650)
    selection_changed = Signal(object)  # sorted row indices, or None

    def __init__(self, parent=None):
        super().__init__(parent)
        bar = QHBoxLayout()
        self.cx = QComboBox()
        self.cy = QComboBox()
        self.color_by = QComboBox()
        self.select_mode = QComboBox()
        for c in (self.cx, self.cy, self.color_by):
            c.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.cx.setToolTip("horizontal axis: a principal component or a column")
        self.cy.setToolTip("vertical axis: a principal component or a column")
        self.color_by.setToolTip(
            "colour the points by the fitted cluster, the ground truth, or "
            "a column (quantile bins); auto: the cluster after a fit, the "
            "ground truth before"
        )
        for text, mode in (("pan", None), ("box", "box"), ("lasso", "lasso")):
            self.select_mode.addItem(text, mode)
        self.select_mode.setToolTip(
            "what a drag does: pan the view, or select points in a box "
            "or a lasso; selected points are highlighted here, in the "
            "membership simplex and in the ground-truth table"
        )
        self.clear_selection_button = QPushButton("Clear")
        self.clear_selection_button.setToolTip("clear the selection")
        self.clear_selection_button.setVisible(False)
        self.all_points = QCheckBox("All points")
        self.all_points.setToolTip(
            f"draw every row instead of a random sample of "
            f"{DISPLAY_POINTS:,} (slower for large tables)"
        )
        # What is drawn ("150 points", "sample of 20,000 rows (Dask)"), shown as a caption in the
        # plot's lower-left corner (in the toolbar it squeezed the trace beside the tabs).
        self.info = QLabel("")
        for label, w in (
            ("x:", self.cx),
            ("y:", self.cy),
            ("colour:", self.color_by),
            ("drag:", self.select_mode),
        ):
            bar.addWidget(QLabel(label))
            bar.addWidget(w)
        bar.addWidget(self.clear_selection_button)
        bar.addWidget(self.all_points)
        bar.addStretch(1)
        self.vb = SelectViewBox()
        self._plot_column(bar, viewBox=self.vb)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        # The legend sits in the plot's layout right of the data (column 3, beyond the right
        # axis), never over the points, as it did floating in the view's corner.
        self.legend = pg.LegendItem(labelTextSize="9pt")
        self.legend.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Maximum)
        self.plot.layout.addItem(self.legend, 2, 3)
        self.plot.layout.setAlignment(self.legend, Qt.AlignmentFlag.AlignTop)
        self.scatter_items: list[PointCloudItem] = []
        self.halo = PointCloudItem(color=(255, 190, 0, 255), size=11)
        self.halo.setZValue(-5)
        self.plot.addItem(self.halo)
        self.centers_item = pg.ScatterPlotItem(
            symbol="x", size=16, pen=pg.mkPen("k", width=3), brush=pg.mkBrush(0, 0, 0)
        )
        self.centers_item.setZValue(20)
        self.plot.addItem(self.centers_item)
        self.ellipse_items: list[pg.PlotDataItem] = []
        self.hist_items: list[pg.PlotDataItem] = []
        self.density_total = self.plot.plot([], [], pen=pg.mkPen("k", width=2.5))
        self.density_total.setZValue(15)
        self.density_items: list[pg.PlotDataItem] = []
        self.message = _message_item()
        self.plot.addItem(self.message, ignoreBounds=True)
        self.caption = pg.LabelItem("", size="9pt", color=(70, 70, 70))
        self.caption.setParentItem(self.plot.vb)
        self.caption.anchor(itemPos=(0, 1), parentPos=(0, 1), offset=(4, -2))
        self.pca = None
        self.sample = None  # the rows drawn (indices into the table)
        self.positions = None  # their positions in the snapshot's per-row arrays
        self.fit_rows = None  # a snapshot of a sample (Dask run): its rows, else None
        self.coords = None
        self.edges_1d = None
        self.selection = None  # sorted row indices selected, or None
        self.hover_text = ""
        self.cx.currentIndexChanged.connect(self._axes_changed)
        self.cy.currentIndexChanged.connect(self._axes_changed)
        self.color_by.currentIndexChanged.connect(lambda _i: self.redraw())
        self.select_mode.currentIndexChanged.connect(
            lambda _i: setattr(self.vb, "select_mode", self.select_mode.currentData())
        )
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
        self.fit_rows = None
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
            self.show_axes(False)  # (after setLabel, which shows its axis)
            self.plot.setRange(xRange=(0, 1), yRange=(0, 1))
            for c in (self.cx, self.cy, self.color_by, self.select_mode):
                c.setEnabled(False)
            self._set_info("")
            for c in (self.cx, self.cy, self.color_by):
                c.blockSignals(False)
            return
        self.message.setText("")
        self.show_axes(True)
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
        rows = self.fit_rows
        n = self.data.n_items if rows is None else len(rows)
        pos = (
            np.arange(n) if self.all_points.isChecked() else views.display_sample(n, DISPLAY_POINTS)
        )
        # A snapshot of a sample (a Dask run: labels of ``sample_rows`` only) is drawn on those
        # rows; otherwise the snapshot has a value per row and positions are rows.
        self.sample = pos if rows is None else rows[pos]
        self.positions = pos
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
        if (
            self.fit_rows is not None
            and self.fit_snapshot is not None
            and self.fit_snapshot.get("sample_X") is not None
        ):
            Xs = np.asarray(self.fit_snapshot["sample_X"])[self.positions]  # what was fitted
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
            self._use_rows(None)
            self.redraw()

    def show_snapshot(self, snapshot: dict, model_cls) -> None:
        super().show_snapshot(snapshot, model_cls)
        if self.data is not None and self.data.kind == "table":
            self._use_rows(snapshot.get("sample_rows"))
            self.redraw()

    def _use_rows(self, rows) -> None:
        """Draw the rows of a sample snapshot (None: the table's own display sample)."""
        rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        same = (rows is None and self.fit_rows is None) or (
            rows is not None
            and self.fit_rows is not None
            and len(rows) == len(self.fit_rows)
            and (not len(rows) or (rows[0] == self.fit_rows[0] and rows[-1] == self.fit_rows[-1]))
        )
        if same and self.sample is not None:
            return
        self.fit_rows = rows
        self._sample_changed(redraw=False)
        self._compute_coords()

    # -- colours ------------------------------------------------------------------------------
    def colouring(self) -> tuple[np.ndarray | None, list[str], list[tuple]]:
        """(group of each sampled row or None, group names, group colours) for the chosen
        colouring: clusters, ground truth, or a column's quantile bins."""
        mode, j = self.color_by.currentData() or ("auto", None)
        labels = (self.fit_snapshot or {}).get("labels")
        if mode == "auto":
            mode = "cluster" if labels is not None else "truth"
        if mode == "cluster" and labels is not None:
            lab = np.asarray(labels)[self.positions]
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
        return self.nth_item(self.scatter_items, i, lambda: PointCloudItem(size=5))

    def _curve(self, items: list, i: int, **kw) -> pg.PlotDataItem:
        return self.nth_item(items, i, lambda: pg.PlotDataItem([], [], **kw))

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
                rows = order[bounds[k] : bounds[k + 1]]
                self._scatter_item(k).setData(xy[rows], color=(*colors[k], 170))
        for item in self.scatter_items[used:]:
            item.setData(None)
        self._set_legend(names, colors)
        self.drawn_points = len(xy)
        self._draw_centres_and_ellipses(snap)
        self._draw_selection()
        text = self._count_text()
        if self.selection is not None:
            text += f"; {len(self.selection):,} selected"
        self._set_info(text)

    def _set_info(self, text: str) -> None:
        if text != self.info.text():  # (re-laying out the caption costs a redraw time)
            self.info.setText(text)
            self.caption.setText(text)

    def _count_text(self) -> str:
        n_drawn = 0 if self.coords is None else len(self.coords)
        if self.fit_rows is not None:
            n = len(self.fit_rows)
            return (
                f"sample of {n:,} rows (Dask)"
                if n_drawn >= n
                else f"{n_drawn:,} of a sample of {n:,} rows (Dask)"
            )
        n = self.data.n_items
        return f"{n_drawn:,} of {n:,} points" if n_drawn < n else f"{n:,} points"

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
                if covs.ndim == 2:  # diagonal covariances (K, D)
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
            text = self._count_text()
            self._set_info(text + (f"; {len(rows):,} selected" if rows is not None else ""))
        self.selection_changed.emit(rows)

    def _draw_selection(self) -> None:
        if self.selection is None or self.coords is None:
            if len(self.halo.data):
                self.halo.setData(None)  # (an empty item is left alone: no re-layout)
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
        if d2[i] > radius_px**2:
            return ""
        row = int(self.sample[i])
        d = self.data
        parts = [f"row {d.ids[row]}"]
        if d.labels is not None:
            parts.append(f"{d.label_name or 'label'}: {d.labels[row]}")
        snap = self.fit_snapshot or {}
        at = int(self.positions[i])  # the row's place in the snapshot's arrays
        if snap.get("labels") is not None:
            parts.append(f"cluster {int(np.asarray(snap['labels'])[at])}")
        m = snap.get("memberships")
        if m is not None:
            mr = np.asarray(m)[at]
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
        x = self.data.X[:, 0] if self.fit_rows is None else self.data.X[self.fit_rows, 0]
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
            item.setData(
                edges,
                cum[k],
                stepMode="center",
                fillLevel=0,
                brush=pg.mkBrush(*color, 120),
                pen=pg.mkPen(*color, width=1),
            )
        for item in self.hist_items[len(dens) :]:
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
        self._set_info(f"{N:,} values" if self.fit_rows is None else f"sample of {N:,} rows (Dask)")

    def export_item(self):
        return self.plot
