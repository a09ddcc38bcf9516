"""The side panels: data (file, kind, size, preview, ground truth), model (registry list and the
generated hyperparameter form) and run (progress, status, final metrics)."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from PySide6.QtCore import QAbstractTableModel, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from explorer.gui.widgets import ParamForm, ScientificSpinBox, guard_wheel

PREVIEW_ROWS = 100
KIND_NAMES = {"table": "table", "network": "network", "temporal": "temporal network"}
SCALE_HINT_RATIO = 100.0  # column variances differing more than this: offer Standardise
NBSP = "\u00a0"


def variance_ratio(X: np.ndarray, max_rows: int = 50_000) -> float:
    """Largest over smallest non-zero column variance (on an even subsample of tall tables)."""
    if X.shape[1] < 2:
        return 1.0
    step = max(1, X.shape[0] // max_rows)
    var = X[::step].var(axis=0)
    var = var[var > 0]
    return float(var.max() / var.min()) if len(var) > 1 else 1.0


class PreviewModel(QAbstractTableModel):
    """A read-only table of strings (the first rows of the data)."""

    def __init__(self, header: list[str] | None = None, rows: list[list[str]] | None = None):
        super().__init__()
        self.header = header or []
        self.rows = rows or []

    def set(self, header: list[str], rows: list[list[str]]) -> None:
        self.beginResetModel()
        self.header, self.rows = header, rows
        self.endResetModel()

    def rowCount(self, parent=None):  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def columnCount(self, parent=None):  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(self.header)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and index.isValid():
            return self.rows[index.row()][index.column()]
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.header[section] if section < len(self.header) else None
        return str(section + 1)


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:.6g}"
    return str(v)


def preview_rows(data, n: int = PREVIEW_ROWS) -> tuple[list[str], list[list[str]]]:
    """Header and first rows of a table, an edge list or a temporal edge list, ids as given."""
    if data.kind == "table":
        header = list(data.columns)
        m = min(n, data.n_items)
        rows = [[_fmt(v) for v in data.X[r]] for r in range(m)]
        if data.labels is not None:
            header.append(f"{data.label_name or 'label'} (truth)")
            for r in range(m):
                rows[r].append(str(data.labels[r]))
        return header, rows
    ids = data.node_ids
    if data.kind == "network":
        m = min(n, len(data.edges))
        return (
            ["source", "target", "weight"],
            [
                [str(ids[data.edges[e, 0]]), str(ids[data.edges[e, 1]]), _fmt(data.weights[e])]
                for e in range(m)
            ],
        )
    m = min(n, len(data.count))
    return (
        ["t", "time", "i", "j", "count"],
        [
            [
                str(data.t[e]),
                _fmt(data.times[data.t[e]]),
                str(ids[data.i[e]]),
                str(ids[data.j[e]]),
                _fmt(data.count[e]),
            ]
            for e in range(m)
        ],
    )


class DataPanel(QGroupBox):
    """File name, kind, size, preview, the ground-truth choice and the load options.

    Every load option is applied by reloading the file with the changed option (the window's
    ``_reload``); a reload the loader refuses leaves the previous data, and the window puts these
    widgets back with :meth:`set_data`.
    """

    label_column_chosen = Signal(object)  # a column name, or None for no ground truth
    label_file_requested = Signal()
    reload_requested = Signal(dict)  # load options to change, e.g. {"directed": True}
    test_pairs_requested = Signal()  # choose a test-pairs file (networks)
    columns_requested = Signal()  # open the feature-column picker (tables)
    columns_chosen = Signal(object)  # the feature columns to fit (a list), or None for all

    def __init__(self, parent=None):
        super().__init__("Data", parent)
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.file_label = QLabel("(none: File > Open, or drop a file here)")
        self.file_label.setWordWrap(True)
        self.kind_combo = QComboBox()
        for kind, name in KIND_NAMES.items():
            self.kind_combo.addItem(name, kind)
        self.kind_combo.setToolTip(
            "read the file as a table, an edge list (network) or a "
            "'t i j [count]' list (temporal network), when the guess from "
            "its extension and first line is wrong"
        )
        self.size_label = QLabel("")
        self.size_label.setWordWrap(True)
        self.columns_button = QPushButton("Columns...")
        self.columns_button.setToolTip("choose which numeric columns are fitted as features")
        self.columns_button.clicked.connect(self.columns_requested)
        size_row = QHBoxLayout()
        size_row.setContentsMargins(0, 0, 0, 0)
        size_row.addWidget(self.size_label, 1)
        size_row.addWidget(self.columns_button, 0, Qt.AlignmentFlag.AlignTop)
        size_w = QWidget()
        size_w.setLayout(size_row)
        form.addRow("File:", self.file_label)
        form.addRow("Open as:", self.kind_combo)
        form.addRow("Size:", size_w)
        # A numeric column that looks like a label or a calendar is fitted as a feature unless the
        # user says otherwise: said here, with the one click that fixes it.
        self.column_hint = QLabel("")
        self.column_hint.setWordWrap(True)
        self.column_hint.setStyleSheet("color: #8a5a00;")
        self.column_hint.setVisible(False)
        self.column_hint.linkActivated.connect(self._column_hint_link)
        form.addRow(self.column_hint)
        self.label_combo = QComboBox()
        self.label_combo.setToolTip(
            "the column holding ground-truth labels (excluded from the "
            "features); used for NMI/ARI and the confusion table"
        )
        self.label_file = QPushButton("Node labels...")
        self.label_file.setToolTip("a node,label file with the ground-truth community of nodes")
        truth = QHBoxLayout()
        truth.setContentsMargins(0, 0, 0, 0)
        truth.addWidget(self.label_combo, 1)
        truth.addWidget(self.label_file)
        truth_w = QWidget()
        truth_w.setLayout(truth)
        form.addRow("Ground truth:", truth_w)
        # Load options (shown for the kinds they apply to).
        self.drop_missing = QCheckBox("Drop rows with missing values")
        self.drop_missing.setToolTip(
            "rows with an empty, '?' or 'NA' feature cell are left out "
            "(otherwise the file is refused, naming the first one)"
        )
        self.standardize = QCheckBox("Standardise columns")
        self.standardize.setToolTip(
            "scale each feature column to zero mean and unit variance "
            "(centres and covariances are then in standard units)"
        )
        self.directed = QCheckBox("Directed")
        self.directed.setToolTip(
            "treat edges as directed (i -> j); by default an edge list is "
            "undirected and a pair listed both ways is merged"
        )
        self.bin_width = QLineEdit()
        self.bin_width.setPlaceholderText("1 per t")
        self.bin_width.setToolTip(
            "width of a snapshot in the unit of t (seconds for dates); "
            "empty: one snapshot per integer t. Press Enter to apply."
        )
        self.bin_width_label = QLabel("bin width:")
        self.test_pairs = QPushButton("Test pairs...")
        self.test_pairs.setToolTip(
            "a file of 'u v y' rows (y = 1 link, 0 no link) scored at "
            "the end of a fit (test AUC and perplexity)"
        )
        self.test_pairs_clear = QToolButton()
        self.test_pairs_clear.setText("x")
        self.test_pairs_clear.setToolTip("stop using the test-pairs file")
        opts = QHBoxLayout()
        opts.setContentsMargins(0, 0, 0, 0)
        for w in (
            self.standardize,
            self.directed,
            self.bin_width_label,
            self.bin_width,
            self.test_pairs,
            self.test_pairs_clear,
        ):
            opts.addWidget(w)
        opts.addStretch(1)
        self.options_row = QWidget()
        self.options_row.setLayout(opts)
        form.addRow("Options:", self.options_row)
        form.addRow("", self.drop_missing)
        self.scale_hint = QLabel("")
        self.scale_hint.setWordWrap(True)
        self.scale_hint.setStyleSheet("color: #8a5a00;")
        self.scale_hint.setVisible(False)
        self.scale_hint.linkActivated.connect(
            lambda _link: self.reload_requested.emit({"standardize": True})
        )
        self.scale_ratio = 1.0
        form.addRow(self.scale_hint)
        lay.addLayout(form)
        self.preview_model = PreviewModel()
        self.preview = QTableView()
        self.preview.setModel(self.preview_model)
        self.preview.setMinimumHeight(90)
        self.preview.setMaximumHeight(130)
        self.preview.verticalHeader().setDefaultSectionSize(20)
        lay.addWidget(self.preview, 1)
        self.label_combo.activated.connect(self._label_activated)
        self.label_file.clicked.connect(self.label_file_requested)
        self.kind_combo.activated.connect(self._kind_activated)
        self.standardize.clicked.connect(
            lambda on: self.reload_requested.emit({"standardize": bool(on)})
        )
        self.directed.clicked.connect(lambda on: self.reload_requested.emit({"directed": bool(on)}))
        self.drop_missing.clicked.connect(
            lambda on: self.reload_requested.emit({"missing": "drop" if on else None})
        )
        guard_wheel(self.kind_combo, self.label_combo)
        self.bin_width.editingFinished.connect(self._bin_width_edited)
        self.test_pairs.clicked.connect(self.test_pairs_requested)
        self.test_pairs_clear.clicked.connect(
            lambda: self.reload_requested.emit({"test_pairs": None})
        )
        self._bin_width_text = ""
        self.label_combo.setVisible(False)
        self.label_file.setVisible(False)
        self.drop_missing.setVisible(False)
        self.kind_combo.setEnabled(False)
        self.options_row.setEnabled(False)

    def _column_hint_link(self, link: str) -> None:
        action, _, column = link.partition(":")
        if action == "label":
            self.label_column_chosen.emit(column)
        elif action == "drop":
            self.columns_chosen.emit([c for c in self._features if c != column])

    def show_column_hint(
        self, features: list[str], label_like: list[str], index_like: list[str]
    ) -> None:
        """Say which fitted columns look like a label or a calendar, with the fixing link."""
        self._features = list(features)
        parts = [
            f"'{html.escape(c)}' looks like a label (whole numbers, few values), yet it is "
            f"fitted as a feature. <a href='label:{html.escape(c)}'>Use it as ground "
            "truth</a>"
            for c in label_like
        ]
        parts += [
            f"'{html.escape(c)}' looks like a date or a calendar year, yet it is fitted as a "
            f"feature. <a href='drop:{html.escape(c)}'>Leave it out</a>"
            for c in index_like
        ]
        self.column_hint.setText("<br>".join(parts))
        self.column_hint.setVisible(bool(parts))

    def _label_activated(self, index: int) -> None:
        self.label_column_chosen.emit(self.label_combo.itemData(index))

    def _kind_activated(self, index: int) -> None:
        self.reload_requested.emit({"kind": self.kind_combo.itemData(index)})

    def _bin_width_edited(self) -> None:
        text = self.bin_width.text().strip()
        if text == self._bin_width_text:
            return  # editingFinished also fires on focus loss without a change
        self._bin_width_text = text
        if not text:
            self.reload_requested.emit({"bin_width": None})
            return
        try:
            value = float(text)
        except ValueError:
            value = text  # the loader says what is wrong with it
        self.reload_requested.emit({"bin_width": value})

    def set_data(
        self, data, options: dict | None = None, label_columns: list[str] | None = None
    ) -> None:
        """Show ``data`` loaded with ``options`` (the loader options it was read with);
        ``label_columns``: the columns of a network's node-label file to choose from."""
        options = options or {}
        self._show_file(data)
        self._show_label_choice(data, label_columns)
        self._show_table_options(data, options)
        self._show_network_options(data, options)

    def _show_file(self, data) -> None:
        """The file's name, kind, size, ground truth and preview; the Columns button."""
        self.file_label.setText(Path(data.path).name if data.path else "(generated)")
        self.file_label.setToolTip(str(data.path or ""))
        self.kind_combo.setCurrentIndex(max(self.kind_combo.findData(data.kind), 0))
        self.kind_combo.setEnabled(bool(data.path))
        size = data.describe()
        if data.labels is not None:
            n_classes = len({str(v) for v in data.labels if v is not None and str(v) != ""})
            size += f"; ground truth: {data.label_name or 'labels'} ({n_classes} classes)"
        self.size_label.setText(size)
        self.preview_model.set(*preview_rows(data))
        self.preview.resizeColumnsToContents()
        table = data.kind == "table"
        self.columns_button.setVisible(table and bool(data.path))
        if table:
            self.columns_button.setText(f"Columns ({len(data.columns)})...")
        else:
            self.show_column_hint([], [], [])
        self.options_row.setEnabled(bool(data.path))

    def _show_label_choice(self, data, label_columns: list[str] | None) -> None:
        """Ground truth: a table's column list (text columns first, the usual labels), or a
        network's node-label file and its columns."""
        table = data.kind == "table"
        self.label_combo.setVisible(table)
        self.label_file.setVisible(not table)
        self.label_combo.clear()
        self.label_combo.addItem("(none)", None)
        if table:
            text = list(getattr(data, "text_columns", []) or [])
            names = text + [c for c in data.columns if c not in text]
            if data.label_name and data.label_name not in names:
                names.append(data.label_name)
            for c in names:
                self.label_combo.addItem(f"{c} (text)" if c in text else c, c)
            i = self.label_combo.findData(data.label_name) if data.label_name else 0
            self.label_combo.setCurrentIndex(max(i, 0))
            return
        self.label_file.setText(
            "Node labels..."
            if data.labels is None
            else "Other file..."
            if label_columns
            else f"Node labels: {data.label_name}"
        )
        for c in label_columns or []:
            self.label_combo.addItem(c, c)
        i = self.label_combo.findData(data.label_name) if data.label_name else -1
        self.label_combo.setCurrentIndex(max(i, 0))
        self.label_combo.setVisible(bool(label_columns))

    def _show_table_options(self, data, options: dict) -> None:
        """Standardise, drop rows with missing values, and the scale hint."""
        table = data.kind == "table"
        self.standardize.setVisible(table)
        self.standardize.setChecked(bool(getattr(data, "standardized", False)))
        self.drop_missing.setVisible(table)
        self.drop_missing.setChecked(options.get("missing") == "drop")
        dropped = next((n for n in getattr(data, "notes", []) if n.startswith("dropped ")), "")
        self.drop_missing.setText(
            "Drop rows with missing values"
            + (f" ({dropped.split()[1]} dropped)" if dropped else "")
        )
        ratio = variance_ratio(data.X) if table else 1.0
        self.scale_ratio = ratio
        show_hint = table and not getattr(data, "standardized", False) and ratio > SCALE_HINT_RATIO
        self.scale_hint.setVisible(show_hint)
        if show_hint:
            self.scale_hint.setText(
                f"Column variances differ {ratio:,.0f}-fold: the widest "
                "columns dominate distances and PCA. "
                "<a href='standardize'>Standardise</a>"
            )

    def _show_network_options(self, data, options: dict) -> None:
        """Directed, a temporal network's bin width, a network's test pairs."""
        table = data.kind == "table"
        self.directed.setVisible(not table)
        self.directed.setChecked(bool(getattr(data, "directed", False)))
        temporal = data.kind == "temporal"
        self.bin_width_label.setVisible(temporal)
        self.bin_width.setVisible(temporal)
        bw = options.get("bin_width")
        self._bin_width_text = "" if bw is None else f"{bw:g}" if isinstance(bw, float) else str(bw)
        self.bin_width.setText(self._bin_width_text)
        network = data.kind == "network"
        pairs = options.get("test_pairs")
        n_pairs = len(data.test_pairs) if getattr(data, "test_pairs", None) is not None else 0
        self.test_pairs.setVisible(network)
        self.test_pairs.setText(
            f"Test pairs: {Path(str(pairs)).name} ({n_pairs:,})" if pairs else "Test pairs..."
        )
        self.test_pairs_clear.setVisible(network and bool(pairs))


class ModelPanel(QGroupBox):
    """The registry's models (those that cannot take the data disabled, with the reason), the
    generated hyperparameter form, and the run settings (seed, max iterations, tolerance)."""

    model_changed = Signal(object)  # the model class
    values_changed = Signal()  # a hyperparameter or run setting was edited

    def __init__(self, models: dict, parent=None):
        super().__init__("Model", parent)
        self.models = models
        lay = QVBoxLayout(self)
        self.list = QListWidget()
        for model_id, cls in models.items():
            item = QListWidgetItem(f"{cls.name}  ({model_id})")
            item.setData(Qt.ItemDataRole.UserRole, model_id)
            item.setToolTip(cls.description)
            self.list.addItem(item)
        # Every model in view: at 1280 x 720 the side panel squeezed the list to one and a half
        # rows; the side panel scrolls instead (its scroll area), the preview table gives way.
        rows = self.list.sizeHintForRow(0) * self.list.count() + 2 * self.list.frameWidth()
        self.list.setMinimumHeight(min(rows, 200))
        self.list.setMaximumHeight(max(140, min(rows, 200)))
        lay.addWidget(self.list)
        self.description = QLabel("")
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: #555;")
        lay.addWidget(self.description)
        self.warning = QLabel("")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #b00020;")
        self.warning.setVisible(False)
        lay.addWidget(self.warning)
        self.form = ParamForm()
        lay.addWidget(self.form)
        note_row = QHBoxLayout()
        self.values_note = QLabel("")
        self.values_note.setWordWrap(True)
        self.values_note.setStyleSheet("color: #555;")
        self.restore_button = QPushButton("Restore defaults")
        self.restore_button.setToolTip(
            "Every hyperparameter and run setting of this model back "
            "to its declared default (seed 0)"
        )
        self.restore_button.clicked.connect(lambda: self.restore_defaults())
        note_row.addWidget(self.values_note, 1)
        note_row.addWidget(self.restore_button)
        lay.addLayout(note_row)
        run = QFormLayout()
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("random seed (restart r uses seed + r)")
        self.max_iter = QSpinBox()
        self.max_iter.setRange(1, 10_000_000)
        self.max_iter.setToolTip("maximum number of iterations")
        self.tol = ScientificSpinBox()
        self.tol.setRange(0.0, 1.0)
        self.tol.setToolTip("converged when the relative change of the objective is below this")
        run.addRow("seed", self.seed)
        run.addRow("max iterations", self.max_iter)
        run.addRow("tolerance", self.tol)
        lay.addLayout(run)
        guard_wheel(self.seed, self.max_iter, self.tol)
        self.kind = None
        self.list.currentItemChanged.connect(self._current_changed)
        self.form.changed.connect(self.values_changed)
        for w in (self.seed, self.max_iter, self.tol):
            w.valueChanged.connect(self.values_changed)

    def current_model(self):
        item = self.list.currentItem()
        if item is None:
            return None
        return self.models.get(item.data(Qt.ItemDataRole.UserRole))

    def can_take(self, cls, kind) -> bool:
        return kind is None or kind in cls.data_kinds

    def set_kind(self, kind: str | None) -> None:
        """Enable the models that take ``kind``; the others say why they are disabled."""
        self.kind = kind
        for i in range(self.list.count()):
            item = self.list.item(i)
            cls = self.models[item.data(Qt.ItemDataRole.UserRole)]
            flags = item.flags()
            if self.can_take(cls, kind):
                item.setFlags(flags | Qt.ItemFlag.ItemIsEnabled)
                item.setToolTip(cls.description)
            else:
                item.setFlags(flags & ~Qt.ItemFlag.ItemIsEnabled)
                takes = " or ".join(KIND_NAMES.get(k, k) for k in cls.data_kinds)
                item.setToolTip(
                    f"{cls.name} takes {takes} data; the loaded data is a "
                    f"{KIND_NAMES.get(kind, kind)}."
                )
        cur = self.current_model()
        if cur is None or not self.can_take(cur, kind):
            for i in range(self.list.count()):
                if self.list.item(i).flags() & Qt.ItemFlag.ItemIsEnabled:
                    self.list.setCurrentRow(i)
                    break

    def select_model(self, model_id: str) -> bool:
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == model_id:
                if not item.flags() & Qt.ItemFlag.ItemIsEnabled:
                    return False
                self.list.setCurrentRow(i)
                return True
        return False

    def _current_changed(self, current, _previous) -> None:
        cls = self.current_model()
        self.form.set_model(cls)
        self._order_tabs()
        if cls is not None:
            self.description.setText(cls.description)
            for w, v in ((self.max_iter, cls.default_max_iter), (self.tol, cls.default_tol)):
                w.blockSignals(True)
                w.setValue(v)
                w.blockSignals(False)
        self.model_changed.emit(cls)

    def tab_chain(self) -> list:
        """The panel's fields in the order they are laid out: the list, the form, Restore
        defaults, the run settings."""
        return [
            self.list,
            *self.form.editors.values(),
            self.form.advanced_button,
            self.restore_button,
            self.seed,
            self.max_iter,
            self.tol,
        ]

    def _order_tabs(self) -> None:
        # A new model's form editors are made last, so Qt put them at the end of the window's
        # tab chain (Tab jumped from the model list to the plot controls and back): re-chain.
        chain = self.tab_chain()
        for a, b in zip(chain, chain[1:]):
            QWidget.setTabOrder(a, b)

    def run_settings(self) -> dict:
        return {
            "seed": self.seed.value(),
            "max_iter": self.max_iter.value(),
            "tol": self.tol.value(),
        }

    def restore_defaults(self, emit: bool = True) -> None:
        """The chosen model's declared defaults in the form, seed 0 and its default iteration
        limit and tolerance in the run settings."""
        cls = self.current_model()
        if cls is None:
            return
        widgets = (self.form, self.seed, self.max_iter, self.tol)
        for w in widgets:
            w.blockSignals(True)
        try:
            self.form.set_values({s.name: s.default for s in cls.param_specs()})
            self.set_run_settings(
                {"seed": 0, "max_iter": cls.default_max_iter, "tol": cls.default_tol}
            )
        finally:
            for w in widgets:
                w.blockSignals(False)
        self.show_values_note("")
        if emit:
            self.values_changed.emit()

    def show_values_note(self, text: str) -> None:
        self.values_note.setText(text)
        self.values_note.setVisible(bool(text))

    def set_run_settings(self, values: dict) -> None:
        for name, w, conv in (
            ("seed", self.seed, int),
            ("max_iter", self.max_iter, int),
            ("tol", self.tol, float),
        ):
            if values.get(name) is not None:
                try:
                    w.setValue(conv(values[name]))
                except (TypeError, ValueError):
                    pass


class RunOnRow(QWidget):
    """Where a fit runs: this machine, a local Dask cluster (worker processes on this machine) or
    a Dask scheduler's address. The Dask choices are disabled, with a tooltip saying why, when the
    dask extra is missing or the model or data cannot run on a cluster (``set_allowed``)."""

    HERE, LOCAL, SCHEDULER = "here", "local", "scheduler"
    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        import os

        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.combo = QComboBox()
        self.combo.addItem("this machine", self.HERE)
        self.combo.addItem("local cluster", self.LOCAL)
        self.combo.addItem("Dask scheduler:", self.SCHEDULER)
        self.combo.setToolTip(
            "fit here, on a Dask cluster of worker processes started on this "
            "machine, or on a running Dask scheduler (the table models)"
        )
        self.workers = QSpinBox()
        self.workers.setRange(1, 256)
        self.workers.setValue(os.cpu_count() or 1)
        self.workers.setSuffix(" workers")
        self.workers.setToolTip("worker processes of the local cluster (one thread each)")
        self.address = QLineEdit()
        self.address.setPlaceholderText("tcp://host:8786")
        self.address.setToolTip(
            "the scheduler's address (the workers must read the data file at the same path)"
        )
        lay.addWidget(self.combo)
        lay.addWidget(self.workers)
        lay.addWidget(self.address, 1)
        self.reason: str | None = None
        self.combo.currentIndexChanged.connect(self._mode_changed)
        self.workers.valueChanged.connect(self.changed)
        self.address.editingFinished.connect(self.changed)
        self._mode_changed()

    def _mode_changed(self, *_args) -> None:
        mode = self.mode()
        self.workers.setVisible(mode == self.LOCAL)
        self.address.setVisible(mode == self.SCHEDULER)
        self.changed.emit()

    def mode(self) -> str:
        return self.combo.currentData() or self.HERE

    def target(self) -> dict:
        return {
            "mode": self.mode(),
            "workers": self.workers.value(),
            "address": self.address.text().strip(),
        }

    def set_target(self, values: dict) -> None:
        """Restore a saved choice (a Dask choice that is disabled now falls back to here)."""
        if values.get("workers"):
            try:
                self.workers.setValue(int(values["workers"]))
            except (TypeError, ValueError):
                pass
        if values.get("address") is not None:
            self.address.setText(str(values["address"]))
        i = self.combo.findData(values.get("mode"))
        if i >= 0 and self._enabled(i):
            self.combo.setCurrentIndex(i)

    def _enabled(self, i: int) -> bool:
        item = self.combo.model().item(i)
        return bool(item.flags() & Qt.ItemFlag.ItemIsEnabled)

    def set_allowed(self, reason: str | None) -> None:
        """Enable the Dask choices, or disable them with ``reason`` as their tooltip (the choice
        falls back to this machine)."""
        self.reason = reason
        for i in (1, 2):
            item = self.combo.model().item(i)
            flags = item.flags()
            if reason is None:
                item.setFlags(flags | Qt.ItemFlag.ItemIsEnabled)
                item.setToolTip("")
            else:
                item.setFlags(flags & ~Qt.ItemFlag.ItemIsEnabled)
                item.setToolTip(reason)
        if reason is not None and self.mode() != self.HERE:
            self.combo.setCurrentIndex(0)
        self.combo.setToolTip(
            reason
            if reason
            else "fit here, on a Dask cluster of worker processes started on this "
            "machine, or on a running Dask scheduler (the table models)"
        )


class RunPanel(QGroupBox):
    """Run / pause / cancel, progress and status, the restart offer, and the final metrics."""

    restart_requested = Signal()

    def __init__(self, run_action, pause_action, cancel_action, parent=None):
        super().__init__("Run", parent)
        lay = QVBoxLayout(self)
        buttons = QHBoxLayout()
        for action in (run_action, pause_action, cancel_action):
            b = QToolButton()
            b.setDefaultAction(action)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            buttons.addWidget(b)
        buttons.addSpacing(8)
        # Where the fit runs: here, a local Dask cluster or a scheduler (next to Run, where a
        # person looks when starting a fit).
        self.run_on = RunOnRow()
        guard_wheel(self.run_on.combo, self.run_on.workers)
        buttons.addWidget(QLabel("on"))
        buttons.addWidget(self.run_on, 1)
        lay.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setFormat("not running")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        lay.addWidget(self.progress)
        self.status = QLabel("idle")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        self.restart_bar = QWidget()
        rb = QHBoxLayout(self.restart_bar)
        rb.setContentsMargins(0, 0, 0, 0)
        self.restart_label = QLabel("Settings changed during the fit.")
        self.restart_button = QPushButton("Restart with new values")
        rb.addWidget(self.restart_label, 1)
        rb.addWidget(self.restart_button)
        self.restart_bar.setVisible(False)
        self.restart_button.clicked.connect(self.restart_requested)
        lay.addWidget(self.restart_bar)
        self.metrics = QLabel("")
        self.metrics.setWordWrap(True)
        self.metrics.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.metrics)

    def reset(self, max_iter: int | None = None) -> None:
        """A new run (an empty bar counting iterations), or with no ``max_iter`` idle (new data:
        an empty bar saying so)."""
        self.progress.setFormat("not running" if max_iter is None else "iteration %v / %m")
        self.progress.setRange(0, max(int(max_iter or 1), 1))
        self.progress.setValue(0)

    def show_finished(self, result) -> None:
        """The bar at the end of a fit: full when it converged (however early), otherwise where
        the fit stopped; its text says which."""
        n = int(result.iterations)
        if result.converged and not result.cancelled:
            self.progress.setRange(0, max(n, 1))
            self.progress.setValue(max(n, 1))
            self.progress.setFormat(f"converged after {n} iterations (limit {result.max_iter})")
        elif result.cancelled:
            self.progress.setRange(0, max(int(result.max_iter), 1))
            self.progress.setValue(min(n, result.max_iter))
            self.progress.setFormat("cancelled at iteration %v / %m")
        elif result.stop_reason == "iteration limit":
            self.progress.setRange(0, max(int(result.max_iter), 1))
            self.progress.setValue(min(n, result.max_iter))
            self.progress.setFormat("iteration limit reached: %v / %m")
        else:  # ended by the model's own rule (stopped early, degenerate, non-finite): full bar
            self.progress.setRange(0, max(n, 1))
            self.progress.setValue(max(n, 1))
            reason = result.stop_reason.split(",")[0].split(":")[0]
            self.progress.setFormat(f"{reason} after {n} iterations (limit {result.max_iter})")

    def show_progress(self, p, paused: bool = False) -> None:
        self.progress.setFormat("iteration %v / %m")
        self.progress.setRange(0, p.max_iter)
        self.progress.setValue(min(p.iteration, p.max_iter))
        restart = f"restart {p.restart + 1}/{p.n_init} · " if p.n_init > 1 else ""
        state = "paused · " if paused else ""
        # Non-breaking spaces keep a figure with its unit ("1.2 s" never wraps a lone "s").
        self.status.setText(
            f"{state}{restart}iteration {p.iteration}/{p.max_iter} · "
            f"{p.objective_kind}{NBSP}{p.objective:.8g} · "
            f"{p.iterations_per_s:.1f}{NBSP}it/s · {p.elapsed_s:.1f}{NBSP}s"
        )
