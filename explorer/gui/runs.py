"""The Runs view: every run of the session in a sortable table, and run-vs-run comparison.

The rows are the session's :class:`~explorer.session.RunRecord` objects (Qt-free; the window adds
one per finished fit). Selecting runs overlays their objective traces (against iteration or wall
time); selecting exactly two shows their agreement (ARI, NMI and the contingency table with
clusters matched by the Hungarian assignment, from :mod:`explorer.compare`), so a user sees which
clusters split or merged. Open, Export and Delete act on the selected run.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from explorer import compare
from explorer.gui.plots import cluster_color
from explorer.models import get_model

SORT_ROLE = Qt.UserRole + 1
CRITERIA = (
    ("bic", "BIC"),
    ("aic", "AIC"),
    ("elbo", "ELBO"),
    ("heldout_loglik", "held-out LL"),
    ("heldout_auc", "held-out AUC"),
)


def _non_default(model_id: str, hp: dict) -> str:
    """The hyperparameters that differ from the model's defaults, as ``name=value``."""
    try:
        specs = {s.name: s.default for s in get_model(model_id).param_specs()}
    except KeyError:
        specs = {}
    return ", ".join(f"{k}={v}" for k, v in hp.items() if specs.get(k, object()) != v)


def data_name(dataset) -> str:
    """A data set as the Runs table names it: the file's name, plus its loader options."""
    name = Path(dataset.path).name
    opts = [
        k if v is True else f"{k}={v}" for k, v in dataset.options.items() if v not in (None, False)
    ]
    return name + (f" ({', '.join(opts)})" if opts else "")


def _k_of(model_id: str, hp: dict):
    for name in ("K", "K_aff"):
        if name in hp:
            return hp[name]
    return None


class RunsModel(QAbstractTableModel):
    """Columns: run, data, model, settings, K, seed, objective, criteria, NMI, ARI, iterations,
    time, stop reason. DisplayRole is text, SORT_ROLE the raw value (numbers sort as numbers)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.runs = []
        self.datasets = []
        self.columns = [
            ("id", "run"),
            ("data", "data"),
            ("model", "model"),
            ("settings", "settings"),
            ("K", "K"),
            ("seed", "seed"),
            ("objective", "objective"),
            *CRITERIA,
            ("nmi", "NMI"),
            ("ari", "ARI"),
            ("iterations", "iterations"),
            ("seconds", "time (s)"),
            ("stop", "stopped"),
        ]

    def set_runs(self, runs, datasets=()) -> None:
        self.beginResetModel()
        self.runs = list(runs)
        self.datasets = list(datasets)
        self.endResetModel()

    def rowCount(self, parent=None):  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(self.runs)

    def columnCount(self, parent=None):  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(self.columns)

    def headerData(self, section, orientation, role=Qt.DisplayRole):  # noqa: N802
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return self.columns[section][1]
        return None

    def value(self, run, key):
        res = run.result
        if key == "id":
            return run.id
        if key == "model":
            return run.model
        if key == "data":
            return data_name(self.datasets[run.dataset]) if run.dataset < len(self.datasets) else ""
        if key == "settings":
            return _non_default(run.model, run.hyperparameters)
        if key == "K":
            return _k_of(run.model, run.hyperparameters)
        if key == "seed":
            return run.seed
        if key == "objective":
            return res.get("objective", {}).get("final")
        if key == "iterations":
            return res.get("iterations")
        if key == "seconds":
            return (res.get("timing") or {}).get("total_s")
        if key == "stop":
            return res.get("stop_reason") or ("converged" if res.get("converged") else "")
        return (res.get("metrics") or {}).get(key)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        run = self.runs[index.row()]
        key = self.columns[index.column()][0]
        v = self.value(run, key)
        if role == SORT_ROLE:
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                return -math.inf
            return v
        if role == Qt.DisplayRole:
            if v is None:
                return ""
            if isinstance(v, float):
                return f"{v:.6g}"
            return str(v)
        if role == Qt.TextAlignmentRole and key not in ("data", "model", "settings", "stop"):
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == Qt.ToolTipRole and key in ("settings", "stop"):
            return str(v or "")
        if role == Qt.ToolTipRole and key == "data" and run.dataset < len(self.datasets):
            ds = self.datasets[run.dataset]
            return (
                f"{ds.path} ({ds.kind}{', ' if ds.options else ''}"
                + ", ".join(f"{k}={v}" for k, v in ds.options.items())
                + ")"
            )
        return None


class RunsPanel(QWidget):
    """The Runs tab. ``set_session(session)`` then ``refresh()`` after each added run."""

    title = "Runs"
    open_requested = Signal(int)  # run id
    export_requested = Signal(int)
    deleted = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.session = None
        self.model = RunsModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.verticalHeader().setVisible(False)
        self.table.doubleClicked.connect(lambda _i: self._emit(self.open_requested))
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)

        self.open_button = QPushButton("Open in views")
        self.export_button = QPushButton("Export…")
        self.delete_button = QPushButton("Delete")
        self.open_button.clicked.connect(lambda: self._emit(self.open_requested))
        self.export_button.clicked.connect(lambda: self._emit(self.export_requested))
        self.delete_button.clicked.connect(self.delete_selected)
        self.x_axis = QComboBox()
        self.x_axis.addItems(["iteration", "wall time (s)"])
        self.x_axis.currentIndexChanged.connect(self._draw_traces)
        buttons = QHBoxLayout()
        for w in (self.open_button, self.export_button, self.delete_button):
            buttons.addWidget(w)
        buttons.addStretch(1)
        buttons.addWidget(QLabel("traces against"))
        buttons.addWidget(self.x_axis)

        self.plot = pg.PlotWidget()
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.addLegend(offset=(-10, 10))
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.agreement_label = QLabel("Select two runs to compare their clusters.")
        self.agreement_label.setWordWrap(True)
        self.agreement_table = QTableWidget()
        self.agreement_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        lower = QSplitter(Qt.Horizontal)
        lower.addWidget(self.plot)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.agreement_label)
        rl.addWidget(self.agreement_table, 1)
        lower.addWidget(right)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.table, 1)
        tl.addLayout(buttons)
        split = QSplitter(Qt.Vertical)
        split.addWidget(top)
        split.addWidget(lower)
        split.setStretchFactor(0, 1)  # the table gets as much room as the comparison
        split.setStretchFactor(1, 1)
        split.setSizes([300, 300])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        self.agreement = None
        self._update_buttons()

    # ---- contents ----------------------------------------------------------------------------
    def set_session(self, session) -> None:
        self.session = session
        self.refresh()

    def refresh(self) -> None:
        if self.session is None:
            self.model.set_runs([])
        else:
            self.model.set_runs(self.session.runs, self.session.datasets)
        self._selection_changed()

    def selected_ids(self) -> list[int]:
        rows = sorted(
            {self.proxy.mapToSource(i).row() for i in self.table.selectionModel().selectedRows()}
        )
        return [self.model.runs[r].id for r in rows]

    def select_runs(self, run_ids) -> None:
        sel = self.table.selectionModel()
        sel.clearSelection()
        for row, run in enumerate(self.model.runs):
            if run.id in run_ids:
                idx = self.proxy.mapFromSource(self.model.index(row, 0))
                sel.select(idx, QItemSelectionModel.Select | QItemSelectionModel.Rows)

    def delete_selected(self) -> None:
        for rid in self.selected_ids():
            self.session.remove_run(rid)
            self.deleted.emit(rid)
        self.refresh()

    def _emit(self, signal) -> None:
        ids = self.selected_ids()
        if len(ids) == 1:
            signal.emit(ids[0])

    def _update_buttons(self) -> None:
        one = len(self.selected_ids()) == 1
        self.open_button.setEnabled(one)
        self.export_button.setEnabled(one)
        self.delete_button.setEnabled(bool(self.selected_ids()))

    def _selection_changed(self, *_args) -> None:
        self._update_buttons()
        self._draw_traces()
        self._draw_agreement()

    def _runs(self):
        ids = self.selected_ids()
        return [r for r in self.model.runs if r.id in ids]

    def _draw_traces(self, *_args) -> None:
        self.plot.clear()
        runs = self._runs()
        # One axis holds one kind of objective: a distortion (80) beside a log-likelihood (-1130)
        # would read as one quantity. The first selected run's kind is drawn; the others say so.
        kind_of = {r.id: r.result.get("objective", {}).get("kind") for r in runs}
        kind = kind_of[runs[0].id] if runs else None
        left_out = [r.id for r in runs if kind_of[r.id] != kind]
        runs = [r for r in runs if kind_of[r.id] == kind]
        self.plot.setLabel("left", kind or "objective")
        self.plot.setTitle(
            None
            if not left_out
            else f"not drawn (another objective): run{'s' if len(left_out) > 1 else ''}"
            f" {', '.join(map(str, left_out))}",
            size="9pt",
        )
        wall = self.x_axis.currentIndex() == 1
        self.plot.setLabel("bottom", "wall time (s)" if wall else "iteration")
        for n, run in enumerate(runs):
            trace = run.result.get("objective", {}).get("trace") or []
            y = np.array([np.nan if v is None else v for v in trace], dtype=float)
            if wall and len(run.iteration_times) == len(y):
                x = np.cumsum(run.iteration_times)
            else:
                x = np.arange(1, len(y) + 1, dtype=float)
            color = cluster_color(n)
            self.plot.plot(
                x,
                y,
                pen=pg.mkPen(color, width=2),
                name=f"run {run.id}: {run.model} {_non_default(run.model, run.hyperparameters)}",
            )

    def _draw_agreement(self) -> None:
        runs = self._runs()
        self.agreement = None
        self.agreement_table.clear()
        self.agreement_table.setRowCount(0)
        self.agreement_table.setColumnCount(0)
        if len(runs) != 2:
            self.agreement_label.setText("Select two runs to compare their clusters.")
            return
        a, b = runs
        la, lb = a.arrays.get("labels"), b.arrays.get("labels")
        if la is None or lb is None or len(la) != len(lb):
            self.agreement_label.setText(
                f"Runs {a.id} and {b.id} label different items: no comparison."
            )
            return
        ag = compare.agreement(la, lb)
        self.agreement = ag
        lines = [
            f"run {a.id} (rows) vs run {b.id} (columns): ARI {ag.ari:.3f}, "
            f"NMI {ag.nmi:.3f}; {ag.matched} of {len(la)} items on the matched diagonal"
        ]
        lines += ag.splits[:6]
        self.agreement_label.setText("\n".join(lines))
        t = self.agreement_table
        t.setRowCount(len(ag.rows))
        t.setColumnCount(len(ag.columns))
        t.setVerticalHeaderLabels([f"a:{x}" for x in ag.rows])
        t.setHorizontalHeaderLabels([f"b:{x}" for x in ag.columns])
        for i in range(len(ag.rows)):
            for j in range(len(ag.columns)):
                item = QTableWidgetItem(str(int(ag.table[i, j])))
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if i == j:
                    item.setBackground(pg.mkColor(220, 235, 250))
                t.setItem(i, j, item)
        t.resizeColumnsToContents()
