"""The network itself: nodes at their force-directed layout, coloured by community.

The layout is computed off the GUI thread (:mod:`explorer.layout`, a generator the window's one job
type drives: :func:`layout_job`); the panel only draws what :meth:`NetworkPanel.set_layout` hands
it. Nodes are one ``ScatterPlotItem`` and links one ``PlotDataItem`` with ``connect="pairs"``, both
built once and updated with ``setData``/``setBrush``.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QWidget,
)

from explorer.gui.plots.base import GREY, PlotPanel, _message_item, cluster_color, reset_slider
from explorer.gui.worker import Job
from explorer.runner import RunControl

LINK_PEN = (120, 120, 120, 60)  # links: light grey, translucent (many overlap)
HIGHLIGHT_PEN = (20, 20, 20, 230)  # the selected node's links


def layout_job(job_id: int, data, settings=None, *, use_cache: bool = True) -> Job:
    """The layout of ``data`` on the window's one job type (:class:`explorer.gui.worker.Job`):
    :func:`explorer.layout.layout_steps` yields its progress (``job.worker.yielded``) and returns
    the coordinates (``returned``); ``job.cancel()`` stops it between iterations, which ends the
    generator with :class:`explorer.layout.LayoutCancelled` (``errored``). Connect the signals
    to bound methods of objects in the GUI thread (a lambda would run in the job's thread)."""
    from explorer import layout

    control = RunControl()

    def steps():
        return layout.layout_steps(
            data, settings, cancel=lambda: control.cancelled, use_cache=use_cache
        )

    return Job(job_id, "layout", steps, control=control)


class NetworkPanel(PlotPanel):
    """Nodes and links at a force-directed layout: colour = community (argmax membership, or
    the ground truth with the toggle), size = degree, a ring in the second community's colour
    on mixed nodes (top membership below ``MIXED_THRESHOLD``); hover names a node, its degree
    and top three memberships; a click selects it (``node_selected``) and highlights its links.
    Temporal networks: a time slider (0 = all snapshots) draws one snapshot's links on the same
    layout. Above ``MAX_NODES`` nodes a uniform sample of them (with the links among them) is
    drawn, with a note saying so; the "one node per community" toggle draws the communities
    instead (aggregated view, also with a note)."""

    title = "Network"
    node_selected = Signal(int)  # node index, -1 when the selection is cleared
    MAX_NODES = 20_000  # drawn interactively; above, a uniform sample
    # Links drawn at most (a uniform sample above, with a note): Qt's raster engine strokes
    # about 1,000 links per millisecond here, so this keeps a repaint near 50 ms.
    MAX_LINKS = 50_000
    MIXED_THRESHOLD = 0.6  # top membership below this: a mixed node
    HOVER_PIXELS = 8  # how near the cursor a node is found
    LIVE_LAYOUT_NODES = 5_000  # draw the layout as it forms up to this many nodes
    # While the view pans or zooms, more links than this are hidden and drawn again once it has
    # been still for LINKS_BACK_MS (as sigma.js's hideEdgesOnMove): stroking 50,000 links takes
    # 35-80 ms a frame here, the nodes alone 10-20 ms.
    HIDE_LINKS_ON_MOVE = 10_000
    LINKS_BACK_MS = 200

    def __init__(self, parent=None):
        super().__init__(parent)
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 0, 4, 0)
        self.truth_box = QCheckBox("colour by ground truth")
        self.truth_box.setToolTip("Colour nodes by the ground-truth column instead of the fit")
        self.truth_box.toggled.connect(lambda _on: self._recolour())
        bar.addWidget(self.truth_box)
        self.aggregate_box = QCheckBox("one node per community")
        self.aggregate_box.setToolTip(
            "Draw each community as one node (at its members' mean position, sized by its "
            "members) and the links between communities; for networks too large to draw"
        )
        self.aggregate_box.toggled.connect(lambda _on: self._redraw())
        bar.addWidget(self.aggregate_box)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("0 = all snapshots summed; t = one snapshot's links")
        self.slider_label = QLabel("")
        self.time_label = QLabel("time:")
        for w in (self.time_label, self.slider):
            bar.addWidget(w, 1 if w is self.slider else 0)
        bar.addWidget(self.slider_label)
        bar.addStretch(0)
        self.bar = QWidget()
        self.bar.setLayout(bar)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        lay = self._plot_column(self.bar, self.note)
        self.hover = QLabel(" ")
        self.hover.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.hover)
        self.plot.setAspectLocked(True)
        self.plot.hideAxis("bottom")
        self.plot.hideAxis("left")
        self.links = pg.PlotDataItem([], [], connect="pairs", pen=pg.mkPen(LINK_PEN, width=1))
        self.links.setZValue(0)
        self.highlight = pg.PlotDataItem(
            [], [], connect="pairs", pen=pg.mkPen(HIGHLIGHT_PEN, width=2)
        )
        self.highlight.setZValue(5)
        self.nodes = pg.ScatterPlotItem(pxMode=True, hoverable=False)
        self.nodes.setZValue(10)
        self.halo = pg.ScatterPlotItem(
            pxMode=True, symbol="o", brush=None, pen=pg.mkPen((0, 0, 0), width=2.5)
        )
        self.halo.setZValue(20)
        for item in (self.links, self.highlight, self.nodes, self.halo):
            self.plot.addItem(item)
        self.message = _message_item()
        self.plot.addItem(self.message, ignoreBounds=True)
        self._brushes = {}  # rgb -> QBrush, shared by every node of a colour
        self._pens = {}
        self._no_pen = pg.mkPen(255, 255, 255, 200, width=0.6)
        self.xy = None  # (n, 2) layout of every node
        self.aggregate_centres = np.zeros((0, 2))  # aggregated view: community centres,
        self.aggregate_members = np.zeros(0)  # their member counts
        self.aggregate_shown = np.zeros(0, dtype=np.int64)  # and the communities drawn
        self.shown = np.zeros(0, dtype=np.int64)  # node indices drawn
        self.degree = np.zeros(0)
        self.memberships = None  # (n, K) from the last snapshot
        self.labels = None  # (n,) hard labels from the last snapshot
        self.node_colour = None  # (n, 3) uint8 colour of each node as drawn
        self.mixed = np.zeros(0, dtype=bool)  # (n,) drawn with a ring
        self.selected = -1
        self.snapshot_index = None  # temporal: None = aggregate, else a snapshot
        self._pairs = np.zeros((0, 2), dtype=np.int64)  # links drawn (node indices)
        self._all_pairs = np.zeros((0, 2), dtype=np.int64)
        self._drawn_key = None  # what the node item shows (skip equal redraws)
        self.slider.valueChanged.connect(self._slider_moved)
        self._links_back = QTimer(self)
        self._links_back.setSingleShot(True)
        self._links_back.setInterval(self.LINKS_BACK_MS)
        self._links_back.timeout.connect(lambda: self.links.setVisible(True))
        self.plot.vb.sigRangeChanged.connect(self._view_moved)
        self.pw.scene().sigMouseMoved.connect(self._on_hover)
        self.pw.scene().sigMouseClicked.connect(self._on_click)
        self.set_data(None)

    # ---- the panel interface ----

    def applies(self) -> bool:
        return self.data is not None and self.data.kind in ("network", "temporal")

    def set_data(self, data) -> None:
        super().set_data(data)
        self.xy = None
        self.memberships = None
        self.labels = None
        self.selected = -1
        self.snapshot_index = None
        self.hover.setText(" ")
        self.note.setText("")
        self._clear_items()
        network = data is not None and data.kind in ("network", "temporal")
        temporal = network and data.kind == "temporal"
        for w in (self.time_label, self.slider, self.slider_label):
            w.setVisible(temporal)
        self.truth_box.setEnabled(network and data.labels is not None)
        if not network:
            self.bar.setVisible(False)
            self._show_message("The network view is shown for networks.")
            return
        self.bar.setVisible(True)
        if temporal:
            reset_slider(self.slider, data.T)
            self.slider_label.setText("aggregate")
        n = data.n_nodes
        self._all_pairs = self._aggregate_pairs()
        deg = np.bincount(self._all_pairs.ravel(), minlength=n).astype(float)
        self.degree = deg
        if n > self.MAX_NODES:
            rng = np.random.default_rng(0)
            self.shown = np.sort(rng.choice(n, self.MAX_NODES, replace=False))
        else:
            self.shown = np.arange(n)
        self._show_message("Computing the layout...")

    def clear_fit(self) -> None:
        xy, selected = self.xy, self.selected
        self.memberships = None
        self.labels = None
        self.fit_snapshot = None
        if xy is not None:
            self._recolour()
        self.selected = selected

    def show_snapshot(self, snapshot: dict, model_cls) -> None:
        super().show_snapshot(snapshot, model_cls)
        if self.applies():
            self.show_snapshot_communities(snapshot)

    def show_communities(self, labels, memberships) -> None:
        self.labels, self.memberships = labels, memberships
        self._recolour()

    def export_item(self):
        return self.plot

    def _export(self, path, suffix: str):
        # On screen the nodes are stamped from a pixmap atlas; an SVG gets one vector symbol
        # per node instead (pyqtgraph draws symbols one by one when its cache is off).
        self._links_back.stop()  # links hidden by a pan just before: in the file too
        self.links.setVisible(True)
        vector = suffix == ".svg"
        if vector:
            self.nodes.opts["useCache"] = False
        try:
            return super()._export(path, suffix)
        finally:
            if vector:
                self.nodes.opts["useCache"] = True

    # ---- the layout ----

    def set_layout(self, xy, fit: bool = False) -> None:
        """Draw the nodes at these (n, 2) coordinates (the final layout, or an intermediate one
        while it forms); the view fits them the first time, and with ``fit``."""
        if self.data is None or not self.applies():
            return
        xy = np.asarray(xy, dtype=np.float64)
        if xy.shape != (self.data.n_nodes, 2):
            raise ValueError(f"a layout of shape {xy.shape} for {self.data.n_nodes} nodes")
        first = self.xy is None
        self.xy = xy
        self.message.setText("")
        self._draw_links()
        self._recolour()
        self._draw_selection()
        if first or fit:
            self.plot.autoRange(padding=0.03)

    def on_layout_progress(self, progress) -> None:
        """Slot for :class:`explorer.layout.LayoutProgress` from the layout's worker: the
        progress text until the first coordinates, and the coordinates as they form on
        networks up to ``LIVE_LAYOUT_NODES`` nodes (redrawing a bigger one every 0.25 s would
        hold the window up) or from the cache. A progress of other data (a stale job) is
        ignored."""
        pos = progress.positions
        if self.data is None or not self.applies():
            return
        n = self.data.n_nodes
        if pos is not None and pos.shape != (n, 2):
            return
        self.set_layout_progress(progress.fraction)
        if pos is not None and (progress.from_cache or n <= self.LIVE_LAYOUT_NODES):
            self.set_layout(pos)

    def on_layout_finished(self, xy) -> None:
        """Slot for the finished layout (the generator's return value); coordinates of other
        data (a stale job) are ignored."""
        if (
            self.data is not None
            and self.applies()
            and xy is not None
            and np.shape(xy) == (self.data.n_nodes, 2)
        ):
            # The view was fitted to the first positions, an early and smaller picture (karate
            # showed a few nodes zoomed in): fit it to the final one.
            self.set_layout(xy, fit=True)

    def set_layout_progress(self, fraction: float | None, text: str = "") -> None:
        """Say how far the layout is (before the first coordinates arrive)."""
        if self.xy is None and self.applies():
            pct = "" if fraction is None else f" {100 * fraction:.0f}%"
            self._show_message(text or f"Computing the layout...{pct}")

    # ---- temporal ----

    def set_snapshot_index(self, t: int | None) -> None:
        """Draw snapshot ``t``'s links (None: every snapshot summed) on the same layout."""
        if self.data is None or self.data.kind != "temporal":
            return
        if t is not None and not 0 <= t < self.data.T:
            raise ValueError(f"snapshot {t} is outside 0..{self.data.T - 1}")
        self.snapshot_index = t
        self.slider.blockSignals(True)
        self.slider.setValue(0 if t is None else t + 1)
        self.slider.blockSignals(False)
        d = self.data
        self.slider_label.setText(
            "aggregate" if t is None else f"snapshot {t} (t = {d.times[t]:g})"
        )
        if self.xy is not None:
            self._draw_links()
            if self.aggregated:
                self._draw_aggregate()
            self._draw_selection()

    def _slider_moved(self, value: int) -> None:
        self.set_snapshot_index(None if value == 0 else value - 1)

    # ---- selection ----

    def select_node(self, node: int) -> None:
        """Select a node (-1 clears): halo, its links highlighted, ``node_selected`` emitted."""
        node = int(node)
        if self.data is None or not (-1 <= node < self.data.n_nodes):
            raise ValueError(f"no node {node}")
        self.selected = node
        self._draw_selection()
        self.node_selected.emit(node)

    def node_at(self, x: float, y: float, radius: float | None = None) -> int:
        """The drawn node nearest view coordinates (x, y) within ``radius`` (view units; by
        default ``HOVER_PIXELS`` screen pixels), else -1."""
        if self.xy is None or not len(self.shown) or self.aggregated:
            return -1
        if radius is None:
            px = self.plot.vb.viewPixelSize()
            radius = self.HOVER_PIXELS * max(px[0], px[1])
        p = self.xy[self.shown]
        d2 = (p[:, 0] - x) ** 2 + (p[:, 1] - y) ** 2
        k = int(np.argmin(d2))
        return int(self.shown[k]) if d2[k] <= radius * radius else -1

    def describe_node(self, node: int) -> str:
        d = self.data
        text = f"node {d.node_ids[node]}   degree {int(self.degree[node])}"
        if self.memberships is not None:
            m = self.memberships[node]
            top = np.argsort(-m, kind="stable")[:3]
            text += "   memberships: " + ", ".join(f"{k}: {m[k]:.2f}" for k in top)
        elif self.labels is not None:
            text += f"   community {self.labels[node]}"
        if d.labels is not None and d.labels[node] is not None:
            text += f"   {d.label_name or 'label'}: {d.labels[node]}"
        return text

    def _on_hover(self, pos) -> None:
        if self.xy is None:
            return
        p = self.plot.vb.mapSceneToView(pos)
        if self.aggregated:
            text = self._describe_community_at(p.x(), p.y())
            self.hover.setText(text)
            self.pw.setToolTip(text.strip())
            return
        node = self.node_at(p.x(), p.y())
        text = self.describe_node(node) if node >= 0 else " "
        self.hover.setText(text)
        self.pw.setToolTip(text if node >= 0 else "")

    def _describe_community_at(self, x: float, y: float) -> str:
        shown = self.aggregate_shown
        if not len(shown):
            return " "
        c = self.aggregate_centres[shown]
        d2 = (c[:, 0] - x) ** 2 + (c[:, 1] - y) ** 2
        k = int(np.argmin(d2))
        px = self.plot.vb.viewPixelSize()
        if d2[k] > (30 * max(px[0], px[1])) ** 2:
            return " "
        return f"community {shown[k]}: {int(self.aggregate_members[shown[k]]):,} nodes"

    def _view_moved(self, *_args) -> None:
        if len(self._pairs) > self.HIDE_LINKS_ON_MOVE:
            self.links.setVisible(False)
            self._links_back.start()

    def _on_click(self, event) -> None:
        if self.xy is None or event.button() != Qt.MouseButton.LeftButton:
            return
        p = self.plot.vb.mapSceneToView(event.scenePos())
        self.select_node(self.node_at(p.x(), p.y()))

    # ---- drawing ----

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setPos(0.5, 0.5)
        if self.xy is None:
            self.plot.setRange(xRange=(0, 1), yRange=(0, 1))

    def _clear_items(self) -> None:
        self._drawn_key = None
        self.nodes.setData([], [])
        self.links.setData([], [])
        self.highlight.setData([], [])
        self.halo.setData([], [])

    def _aggregate_pairs(self) -> np.ndarray:
        d = self.data
        if d.kind == "network":
            return np.asarray(d.edges, dtype=np.int64)
        key = np.unique(d.i.astype(np.int64) * d.n_nodes + d.j)
        return np.column_stack([key // d.n_nodes, key % d.n_nodes])

    def _current_pairs(self) -> np.ndarray:
        d = self.data
        if d.kind == "temporal" and self.snapshot_index is not None:
            sel = d.t == self.snapshot_index
            return np.column_stack([d.i[sel], d.j[sel]]).astype(np.int64)
        return self._all_pairs

    def _redraw(self) -> None:
        if self.xy is not None:
            self._draw_links()
            self._recolour()

    @property
    def aggregated(self) -> bool:
        """Whether the aggregated community view is drawn (the toggle, once there are
        communities to aggregate)."""
        return (
            self.aggregate_box.isChecked()
            and self.data is not None
            and (self.labels is not None or self.data.labels is not None)
        )

    def _draw_aggregate(self) -> None:
        """One node per community at its members' mean position, sized by its members; links
        between communities, weighted by the links between their members (those with at least
        1 % of the strongest pair's count drawn; at most 2,000)."""
        codes, _ = self._community_codes()
        known = codes >= 0
        K = int(codes.max()) + 1 if known.any() else 0
        counts = np.bincount(codes[known], minlength=K).astype(float)
        safe = np.maximum(counts, 1.0)
        centres = np.column_stack(
            [
                np.bincount(codes[known], weights=self.xy[known, 0], minlength=K) / safe,
                np.bincount(codes[known], weights=self.xy[known, 1], minlength=K) / safe,
            ]
        )
        present = np.flatnonzero(counts > 0)
        pairs = self._current_pairs()
        a, b = codes[pairs[:, 0]], codes[pairs[:, 1]]
        ok = (a >= 0) & (b >= 0) & (a != b)
        key = np.minimum(a[ok], b[ok]) * max(K, 1) + np.maximum(a[ok], b[ok])
        weight = np.bincount(key, minlength=K * K) if len(key) else np.zeros(K * K)
        strong = (
            np.flatnonzero(weight >= 0.01 * weight.max())
            if weight.any()
            else np.zeros(0, dtype=np.int64)
        )
        strong = strong[np.argsort(-weight[strong], kind="stable")[:2000]]
        seg = centres[np.column_stack([strong // max(K, 1), strong % max(K, 1)]).ravel()]
        if len(seg):
            self.links.setData(seg[:, 0], seg[:, 1], connect="pairs")
        else:
            self.links.setData([], [])
        self._pairs = np.zeros((0, 2), dtype=np.int64)
        top = max(float(counts.max()), 1.0) if K else 1.0
        palette = [cluster_color(int(k)) for k in present]
        self.nodes.setData(
            centres[present, 0],
            centres[present, 1],
            size=np.round(8 + 40 * np.sqrt(counts[present] / top)),
            brush=[self._brush(c) for c in palette],
            pen=self._no_pen,
            symbol="o",
        )
        self._drawn_key = None
        self.aggregate_centres = centres
        self.aggregate_members = counts
        self.aggregate_shown = present
        between = int(weight.sum())
        self.note.setText(
            f"Aggregated view: one node per community ({len(present)}), sized by its members; "
            f"the {len(strong):,} strongest of the community pairs linked by the {between:,} "
            "links between communities are drawn."
        )
        self.note.setVisible(True)
        self.highlight.setData([], [])
        self.halo.setData([], [])

    def _draw_links(self) -> None:
        if self.aggregated:
            return  # drawn with the nodes by _draw_aggregate
        n = self.data.n_nodes
        pairs = self._current_pairs()
        notes = []
        if len(self.shown) < n:
            inside = np.zeros(n, dtype=bool)
            inside[self.shown] = True
            pairs = pairs[inside[pairs[:, 0]] & inside[pairs[:, 1]]]
            notes.append(
                f"Showing a uniform sample of {len(self.shown):,} of {n:,} nodes and "
                f"the {len(pairs):,} links among them (the full network is too large "
                "to draw interactively; the layout and the export cover every node)."
            )
        if len(pairs) > self.MAX_LINKS:
            rng = np.random.default_rng(1)
            total = len(pairs)
            pairs = pairs[np.sort(rng.choice(total, self.MAX_LINKS, replace=False))]
            notes.append(f"Links: a uniform sample of {self.MAX_LINKS:,} of {total:,}.")
        self.note.setText(" ".join(notes))
        self.note.setVisible(bool(notes))
        self._pairs = pairs
        if not len(pairs):
            self.links.setData([], [])
            return
        seg = self.xy[pairs.ravel()]
        self.links.setData(seg[:, 0], seg[:, 1], connect="pairs")

    def _truth_codes(self) -> np.ndarray:
        """Ground-truth label codes in sorted label order; -1 (grey) where unknown."""
        lab = np.array(["" if v is None else str(v) for v in self.data.labels], dtype=str)
        known = lab != ""
        codes = np.full(len(lab), -1, dtype=np.int64)
        codes[known] = np.unique(lab[known], return_inverse=True)[1].ravel()
        return codes

    def _community_codes(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Each node's colour code (-1: grey) and, when mixed, its second community (else -1;
        None when there are no memberships). Ground truth with the toggle or before a fit."""
        d = self.data
        n = d.n_nodes
        if d.labels is not None and (self.truth_box.isChecked() or self.labels is None):
            return self._truth_codes(), None
        if self.memberships is not None:
            m = self.memberships
            order = np.argsort(-m, axis=1, kind="stable")
            top = order[:, 0]
            second = np.full(n, -1, dtype=np.int64)
            if m.shape[1] > 1:
                mixed = m[np.arange(n), top] < self.MIXED_THRESHOLD
                second[mixed] = order[mixed, 1]
            return top.astype(np.int64), second
        if self.labels is not None:
            return np.unique(self.labels, return_inverse=True)[1].ravel().astype(np.int64), None
        return np.full(n, -1, dtype=np.int64), None

    def _brush(self, rgb):
        b = self._brushes.get(rgb)
        if b is None:
            b = self._brushes[rgb] = pg.mkBrush(*rgb)
        return b

    def _ring(self, rgb):
        p = self._pens.get(rgb)
        if p is None:
            p = self._pens[rgb] = pg.mkPen(*rgb, width=3.0)
        return p

    def _recolour(self) -> None:
        if self.xy is None:
            return
        if self.aggregated:
            self._draw_aggregate()
            return
        codes, second = self._community_codes()
        key = (self.xy, len(self.shown), codes, second)
        if self._drawn_key is not None and self._same_drawing(key):
            return  # a snapshot that changes no colour and no ring redraws nothing
        self._drawn_key = key
        top = int(codes.max()) if len(codes) else -1
        top2 = int(second.max()) if second is not None and len(second) else -1
        palette = np.array(
            [cluster_color(k) for k in range(max(top, top2) + 1)] + [GREY], dtype=np.uint8
        )  # index -1 is grey
        self.node_colour = palette[codes]
        self.mixed = np.zeros(self.data.n_nodes, bool) if second is None else second >= 0
        s = self.shown
        deg = self.degree
        dmax = max(float(deg.max()), 1.0) if len(deg) else 1.0
        small = len(s) > 5_000
        # Whole-pixel sizes: pyqtgraph renders one symbol per (size, pen, brush) into its atlas,
        # so continuous sizes would render thousands (about 0.9 s at 20,000 nodes).
        sizes = np.round(
            (3.0 if small else 5.0) + (9.0 if small else 13.0) * np.sqrt(deg[s] / dmax)
        )
        # One shared QBrush / QPen per colour, picked by numpy indexing (index -1: grey).
        brush_lut = np.empty(len(palette), dtype=object)
        brush_lut[:] = [self._brush(tuple(int(v) for v in c)) for c in palette]
        brushes = brush_lut[codes[s]]
        if second is None:
            pens = self._no_pen
        else:
            ring_lut = np.empty(len(palette), dtype=object)
            ring_lut[:] = [self._ring(tuple(int(v) for v in c)) for c in palette]
            pens = ring_lut[second[s]]
            mixed = self.mixed[s]
            pens[~mixed] = self._no_pen
            sizes = np.where(mixed, sizes + 4.0, sizes)
        p = self.xy[s]
        self.nodes.setData(p[:, 0], p[:, 1], size=sizes, brush=brushes, pen=pens, symbol="o")
        self._draw_selection()

    def _same_drawing(self, key) -> bool:
        xy, shown, codes, second = key
        old_xy, old_shown, old_codes, old_second = self._drawn_key
        return (
            xy is old_xy
            and shown == old_shown
            and np.array_equal(codes, old_codes)
            and (second is None) == (old_second is None)
            and (second is None or np.array_equal(second, old_second))
        )

    def _draw_selection(self) -> None:
        node = self.selected
        if self.xy is None or node < 0 or self.aggregated:
            self.highlight.setData([], [])
            self.halo.setData([], [])
            return
        pairs = self._pairs
        mine = pairs[(pairs[:, 0] == node) | (pairs[:, 1] == node)] if len(pairs) else pairs
        if len(mine):
            seg = self.xy[mine.ravel()]
            self.highlight.setData(seg[:, 0], seg[:, 1], connect="pairs")
        else:
            self.highlight.setData([], [])
        self.halo.setData([self.xy[node, 0]], [self.xy[node, 1]], size=22)

    @property
    def highlighted_links(self) -> int:
        """How many links the selection highlights (tests)."""
        x, _ = self.highlight.getData()
        return 0 if x is None else len(x) // 2
