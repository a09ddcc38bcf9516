"""What every panel shares: the palette, the dot item drawn by pixmap stamping, the message item
and :class:`PlotPanel` (the interface the window drives, and export to PNG/SVG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters  # noqa: F401  (registers pg.exporters)
from PySide6.QtCore import QPoint, QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QPaintEngine,
    QPainter,
    QPen,
    QPixmap,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QLayout,
    QVBoxLayout,
    QWidget,
)

from explorer.layout import TAB10

try:  # pyqtgraph's packing of QPainter.PixmapFragment arrays (what its ScatterPlotItem uses)
    from pyqtgraph.Qt import internals as pg_internals
except ImportError:  # pragma: no cover  (then dots are drawn by drawPoints, slower)
    pg_internals = None

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False, background="w", foreground="k")

# The community colours (matplotlib's tab10 first): the same in the window and in the files the
# network layout writes (GraphML colours).
PALETTE = TAB10
GREY = (150, 150, 150)
DISPLAY_POINTS = 20_000  # random display sample for scatter plots ('all points' toggles it)
SIMPLEX_POINTS = 10_000  # memberships drawn in the simplex


def _natural_key(text) -> tuple:
    """Sort key putting "2" before "10"."""
    import re

    return tuple(
        (0, int(t), "") if t.isdigit() else (1, 0, t.lower())
        for t in re.split(r"(\d+)", str(text))
        if t
    )


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
        self._sprite = None  # (pixmap, side in device pixels, device pixel ratio)
        self._fragments = (
            pg_internals.PrimitiveArray(QPainter.PixmapFragment, 10)
            if pg_internals is not None
            else None
        )
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
            self._poly = pg.functions.arrayToQPolygonF(
                np.ascontiguousarray(pos[:, 0]), np.ascontiguousarray(pos[:, 1])
            )
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
        if (
            self._fragments is not None
            and not self._exportOpts
            and p.paintEngine().type() == QPaintEngine.Type.Raster
        ):
            dpr = widget.devicePixelRatioF() if widget is not None else 1.0
            pm, side, dpr = self._dot_sprite(dpr)
            tr = p.transform()
            x, y = self.data[:, 0], self.data[:, 1]
            self._fragments.resize(len(x))
            a = self._fragments.ndarray()
            a[:, 0] = tr.m11() * x + tr.m21() * y + tr.dx()  # fragment centres, device px
            a[:, 1] = tr.m12() * x + tr.m22() * y + tr.dy()
            np.clip(a[:, :2], -(2.0**30), 2.0**30, out=a[:, :2])
            a[:, 2:6] = (0.0, 0.0, side, side)  # source rect in the sprite
            a[:, 6:10] = (1.0 / dpr, 1.0 / dpr, 0.0, 1.0)  # scale x, y, rotation, opacity
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


def _message_item(text: str = "") -> pg.TextItem:
    item = pg.TextItem(text, color=(90, 90, 90), anchor=(0.5, 0.5))
    item.setZValue(100)
    return item


def reset_slider(slider, maximum: int) -> None:
    """Range 0..``maximum`` and value 0, without emitting valueChanged (a new data set, not a
    user's move)."""
    slider.blockSignals(True)
    slider.setRange(0, maximum)
    slider.setValue(0)
    slider.blockSignals(False)


class PlotPanel(QWidget):
    """Base: a titled panel with an export target."""

    title = ""
    EXPORT_SIZE = (900, 600)  # logical pixels of an exported plot (PNG at twice this)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.data = None
        self.fit_snapshot = None  # the last snapshot drawn (tests check plots hold a fit)

    def _plot_column(self, *above, **plot_options) -> QVBoxLayout:
        """Lay the panel out as one column, edge to edge: ``above`` (widgets or layouts), then
        ``self.pw``, a pyqtgraph PlotWidget (``plot_options`` passed on) whose PlotItem is
        ``self.plot``. Returns the column, for anything below the plot."""
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for item in above:
            if isinstance(item, QLayout):
                lay.addLayout(item)
            else:
                lay.addWidget(item)
        self.pw = pg.PlotWidget(**plot_options)
        lay.addWidget(self.pw)
        self.plot = self.pw.getPlotItem()
        return lay

    def set_data(self, data) -> None:
        self.data = data
        self.fit_snapshot = None

    def show_axes(self, on: bool) -> None:
        """Axes (and their grid) on or off: a panel that does not apply to the data shows its
        note alone, not empty axes behind it."""
        for side in ("left", "bottom"):
            self.plot.showAxis(side, on)

    def show_snapshot(self, snapshot: dict, model_cls) -> None:
        self.fit_snapshot = snapshot

    def show_snapshot_communities(self, snapshot: dict) -> None:
        """(The network panels) colour or order by a fit's communities: calls
        ``show_communities(labels, memberships or None)``, as arrays, once the snapshot has
        labels."""
        labels = snapshot.get("labels")
        if labels is not None:
            m = snapshot.get("memberships")
            self.show_communities(np.asarray(labels), None if m is None else np.asarray(m))

    def nth_item(self, items: list, i: int, make):
        """``items[i]``, first adding items made by ``make()`` to ``self.plot`` until there is
        one: a panel's layers (one per colour group, curve, ...) are made when first needed and
        reused after."""
        while len(items) <= i:
            items.append(make())
            self.plot.addItem(items[-1])
        return items[i]

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
