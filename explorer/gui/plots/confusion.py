"""Fitted clusters against the ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QImage,
    QPainter,
)
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from explorer import views
from explorer.gui.plots.base import PlotPanel, _natural_key


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
            self.info.setText(
                f"Ground truth: {self.data.label_name or 'labels'}. Run a model "
                "to compare its clusters with it."
            )

    def set_data(self, data) -> None:
        super().set_data(data)
        self.counts = None
        self.column_order = None
        self.selection = None
        self.selected_counts = None
        self._known = self._codes = self._names = self._truth_all = None
        self._rows = None
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
            self._truth_all = np.full(len(truth), -1, dtype=np.int64)  # code per row, -1: none
            self._truth_all[self._known] = self._codes
        self.table.clear()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        if data is None or data.labels is None:
            self.info.setText(
                "No ground truth: choose a label column (tables) or a node-label "
                "file (networks) in the data panel."
            )
        else:
            self.info.setText(
                f"Ground truth: {data.label_name or 'labels'}. Run a model to "
                "compare its clusters with it."
            )

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
        rows_of = snapshot.get("sample_rows")  # a snapshot of a sample (Dask run)
        self._rows = None if rows_of is None else np.asarray(rows_of, dtype=np.int64)
        self._truth_fit = self._truth_all if self._rows is None else self._truth_all[self._rows]
        known = self._truth_fit >= 0
        truth = self._truth_fit[known]
        pred = self._pred_all[known]
        counts, present, cols = views.confusion_table(truth, pred)
        rows = self._names
        c = np.zeros((len(rows), len(cols)), dtype=np.int64)  # every label a row, even if absent
        c[present] = counts
        self.counts = c
        self._cols = cols
        # Shown with each cluster under the label most of its members have (largest first), so
        # a good fit reads as a diagonal.
        self.column_order = np.lexsort((-c.max(axis=0), c.argmax(axis=0)))
        self._fill()
        pred_codes = np.searchsorted(cols, pred)  # 0..n_clusters-1, as the metrics expect
        nmi = metrics.nmi(truth, pred_codes)
        ari = metrics.ari(truth, pred_codes)
        of = " of a sample (Dask run)" if self._rows is not None else ""
        self.info.setText(
            f"Rows: {data.label_name or 'ground truth'}; columns: fitted clusters "
            "(under the label most of their members have). "
            f"NMI {nmi:.3f}, ARI {ari:.3f} over {len(pred):,} labelled items{of}."
        )

    def _fill(self) -> None:
        c = self.counts[:, self.column_order]
        cols = self._cols[self.column_order]
        rows = self._names
        sel = None
        if self.selection is not None:
            # the selected rows' places in the snapshot (rows themselves, or in a sample)
            at = (
                np.asarray(self.selection)
                if self._rows is None
                else np.flatnonzero(np.isin(self._rows, self.selection))
            )
            at = at[self._truth_fit[at] >= 0]
            # codes of the selected rows: truth code, and the column of their cluster
            t = self._truth_fit[at]
            col_of = {k: j for j, k in enumerate(cols)}
            p = np.array([col_of[k] for k in self._pred_all[at]], dtype=np.int64)
            sel = (
                np.bincount(t * len(cols) + p, minlength=len(rows) * len(cols)).reshape(
                    len(rows), len(cols)
                )
                if len(t)
                else np.zeros_like(c)
            )
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
        cell_w = max(
            fm.horizontalAdvance(str(int(c.max()))) + 2 * pad,
            44,
            *(fm.horizontalAdvance(k) + 2 * pad for k in cols),
        )
        cell_h = fm.height() + pad
        head_w = max(fm.horizontalAdvance(r) for r in rows) + 2 * pad
        lines = [
            t
            for t in (
                self._export_title,
                f"rows: {self.data.label_name or 'ground truth'}; columns: clusters",
                self.info.text().split(". ")[-1],
            )
            if t
        ]
        top = pad + len(lines) * (fm.height() + 2) + pad
        W = max(head_w + len(cols) * cell_w, *(fm.horizontalAdvance(t) for t in lines)) + 2 * pad
        H = top + (len(rows) + 1) * cell_h + pad
        p.fillRect(0, 0, W, H, QColor(255, 255, 255))
        p.setPen(QColor(0, 0, 0))
        for k, t in enumerate(lines):
            p.drawText(pad, pad + fm.ascent() + k * (fm.height() + 2), t)
        row_tot = np.maximum(c.sum(axis=1, keepdims=True), 1)
        for j, k in enumerate(cols):
            p.drawText(
                QRectF(head_w + j * cell_w, top, cell_w, cell_h), Qt.AlignmentFlag.AlignCenter, k
            )
        for i, r in enumerate(rows):
            y = top + (i + 1) * cell_h
            p.drawText(
                QRectF(0, y, head_w - pad, cell_h),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                r,
            )
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
