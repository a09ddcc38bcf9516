"""Each row's or node's membership vector placed in a simplex."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel

from explorer import views
from explorer.gui.plots.base import (
    SIMPLEX_POINTS,
    PlotPanel,
    PointCloudItem,
    _message_item,
    cluster_color,
)


class SimplexPanel(PlotPanel):
    """Each row's or node's membership vector in a simplex (segment K=2, triangle K=3, regular
    K-gon beyond, vertices labelled); colour = argmax, opacity = largest membership."""

    title = "Memberships"
    ALPHA_LEVELS = 8

    def __init__(self, parent=None):
        super().__init__(parent)
        self.info = QLabel("")
        self._plot_column(self.info)
        self.plot.hideAxis("bottom")
        self.plot.hideAxis("left")
        self.plot.setAspectLocked(True)
        self.outline = self.plot.plot([], [], pen=pg.mkPen((60, 60, 60), width=1.5))
        # One dot item per (cluster, opacity level): colour = argmax, opacity = largest membership.
        self.point_items: list[PointCloudItem] = []
        self.positions = np.zeros((0, 2))  # drawn positions, in display-sample order
        self.vertex_labels: list[pg.TextItem] = []
        self.message = _message_item()
        self.plot.addItem(self.message, ignoreBounds=True)
        self.halo = PointCloudItem(color=(255, 190, 0, 255), size=12)
        self.halo.setZValue(-5)
        self.plot.addItem(self.halo)
        self.sample = None
        self.fit_rows = None
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
        self._sample_n = n
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
        rows = self.selection
        if self.fit_rows is not None:  # a sample snapshot: the selected rows it holds
            rows = np.flatnonzero(np.isin(self.fit_rows, rows))
        rows = rows[:SIMPLEX_POINTS]
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
        return self.nth_item(self.point_items, i, lambda: PointCloudItem(size=6))

    def show_snapshot(self, snapshot: dict, model_cls) -> None:
        super().show_snapshot(snapshot, model_cls)
        M = snapshot.get("memberships")
        name = model_cls.name if model_cls is not None else "This model"
        if M is None:
            self._show_message(
                f"{name} gives hard assignments only:\nit has no memberships to place in a simplex."
            )
            self.info.setText("")
            return
        M = np.asarray(M, dtype=float)
        K = M.shape[1]
        if K < 2:
            self._show_message("One cluster: nothing to place.")
            return
        self.message.setText("")
        V = views.simplex_vertices(K)
        rows = snapshot.get("sample_rows")
        self.fit_rows = None if rows is None else np.asarray(rows)
        if self._sample_n != len(M):
            # memberships of a sample (a Dask run), not one per row: sample those
            self._sample_n = len(M)
            self.sample = views.display_sample(len(M), SIMPLEX_POINTS)
            self._jitter = np.random.default_rng(1).uniform(-0.12, 0.12, len(self.sample))
        Ms = M[self.sample]
        P = views.simplex_project(Ms)
        if K == 2:
            P = P.copy()
            P[:, 1] = self._jitter
        arg = np.argmax(Ms, axis=1)
        top = Ms[np.arange(len(Ms)), arg]
        level = np.clip(
            ((top - 1.0 / K) / (1.0 - 1.0 / K) * self.ALPHA_LEVELS).astype(int),
            0,
            self.ALPHA_LEVELS - 1,
        )
        group = arg * self.ALPHA_LEVELS + level
        n_groups = K * self.ALPHA_LEVELS
        order = np.argsort(group, kind="stable")
        bounds = np.searchsorted(group[order], np.arange(n_groups + 1))
        alphas = np.linspace(40, 230, self.ALPHA_LEVELS).astype(int)
        for g in range(n_groups):
            rows = order[bounds[g] : bounds[g + 1]]
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
                    t.setPos(
                        *(V[k] * (1.12 if K > 2 else 1.0) + (np.array([0, 0.2]) if K == 2 else 0))
                    )
                else:
                    t.setText("")
            self.plot.setRange(xRange=(-1.25, 1.25), yRange=(-1.25, 1.25) if K > 2 else (-0.5, 0.5))
            self._K = K
        n = len(M)
        extra = " (vertical spread is random jitter)" if K == 2 else ""
        sample = " (of a sample of rows: Dask)" if self.fit_rows is not None else ""
        self.info.setText(f"{len(P):,} of {n:,} memberships{sample}, K = {K}{extra}")
        self.memberships = M
        self._draw_selection()

    def export_item(self):
        return self.plot
