"""The adjacency matrix reordered by community."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSlider,
    QWidget,
)

from explorer import views
from explorer.gui.plots.base import PlotPanel, _message_item, cluster_color, reset_slider


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
        bar = QHBoxLayout()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("0 = all snapshots summed; t = one snapshot")
        self.slider_label = QLabel("")
        bar.addWidget(QLabel("time:"))
        bar.addWidget(self.slider, 1)
        bar.addWidget(self.slider_label)
        self.time_bar = QWidget()
        self.time_bar.setLayout(bar)
        lay = self._plot_column(self.time_bar)
        self.hover = QLabel(" ")
        self.hover.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.hover)
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.plot.setLabel("bottom", "node (community order)")
        self.plot.setLabel("left", "node (community order)")
        self.image = pg.ImageItem()
        self.image.setLookupTable(_adjacency_lut())
        self.plot.addItem(self.image)
        self.bounds = self.plot.plot(
            [], [], pen=pg.mkPen((214, 39, 40), width=1.2), connect="pairs"
        )
        self.bounds.setZValue(10)
        # The selected node's row and column (a node clicked in the Network view).
        self.selection_lines = self.plot.plot(
            [], [], pen=pg.mkPen((255, 170, 0), width=2), connect="pairs"
        )
        self.selection_lines.setZValue(12)
        self.selected_node = -1
        self._rank = None
        # Community colour bands along the top and the left edge (one pixel per bin).
        self.band_top = pg.ImageItem()
        self.band_left = pg.ImageItem()
        for band in (self.band_top, self.band_left):
            self.plot.addItem(band)
        self.message = _message_item()
        self.plot.addItem(self.message, ignoreBounds=True)
        self.adj = None
        self.node_names = None  # (n,) a name per node (from the node-label file)
        self.node_community = None  # (n,) community code of each node, for the hover
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
        self.selected_node = -1
        self._rank = None
        self.selection_lines.setData([], [])
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
            self.show_axes(False)  # the note alone, not empty axes behind it
            return
        self.show_axes(True)
        self.message.setText("")
        temporal = data.kind == "temporal"
        self.time_bar.setVisible(temporal)
        if temporal:
            reset_slider(self.slider, data.T)
        # Before a fit: ground-truth order when known, else the file's order.
        self._order_memberships = None
        self._order_labels = (
            np.asarray(data.labels).astype(str)
            if data.labels is not None
            else np.zeros(data.n_items, dtype=int)
        )
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
        self._rank = np.empty(n, dtype=np.int64)
        self._rank[order] = np.arange(n)
        self._draw_selected_node()
        u, v, w, sym = self._edges()
        self.adj = views.bin_adjacency(
            u, v, w, n, order, bounds, symmetric=sym, max_pixels=self.MAX_PIXELS
        )
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
            self.slider_label.setText(
                "aggregate" if t == 0 else f"snapshot {t - 1} (t = {d.times[t - 1]:g})"
            )

    def select_node(self, node: int) -> None:
        """Mark node ``node``'s row and column (-1 clears)."""
        self.selected_node = int(node)
        self._draw_selected_node()

    def _draw_selected_node(self) -> None:
        node = self.selected_node
        if node < 0 or self._rank is None or self.data is None or node >= len(self._rank):
            self.selection_lines.setData([], [])
            return
        n = float(self.data.n_items)
        r = self._rank[node] + 0.5
        self.selection_lines.setData([r, r, 0.0, n], [0.0, n, r, r])

    def _draw_bands(self, order: np.ndarray) -> None:
        """Colour strips beside the matrix: the community of the first node in each bin."""
        if self._order_memberships is not None:
            comm = np.argmax(self._order_memberships, axis=1)
        else:
            comm = np.unique(self._order_labels, return_inverse=True)[1].ravel()
        self.node_community = comm
        n, B = self.adj.n_nodes, self.adj.bins
        first_rank = -(-np.arange(B) * n // B)  # AdjacencyImage.ranks_of_pixel
        codes = comm[order[np.minimum(first_rank, n - 1)]]
        palette = np.array(
            [(*cluster_color(int(k)), 255) for k in range(int(codes.max()) + 1)], dtype=np.uint8
        )
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
        if self.data is not None and self.data.kind in ("network", "temporal"):
            self.show_snapshot_communities(snapshot)

    def show_communities(self, labels, memberships) -> None:
        self._order_labels, self._order_memberships = labels, memberships
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
