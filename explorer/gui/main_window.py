"""The main window: menus and toolbar, the data / model / run panels, the plot tabs, the log.

The fit runs in a :class:`~explorer.gui.worker.FitJob` (worker QObject in a QThread). Snapshots
arrive at most ~20 per second; the objective trace and the status line follow every one, while the
heavier plots (scatter, simplex, adjacency, confusion) are redrawn at most once a second during a
fit, and once more with the final state.
"""

from __future__ import annotations

import html
import re
import sys
import time
import traceback
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QDockWidget,
    QFileDialog,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QScrollArea,
    QSplitter,
    QStyle,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from explorer import report
from explorer._version import __version__
from explorer.data import LOAD_OPTIONS as DATA_OPTIONS
from explorer.data.table import MissingValuesError
from explorer.data.types import DataError
from explorer.gui import collector
from explorer.gui import help as help_pages
from explorer.gui.cluster import (
    ClusterHolder,
    cluster_key,
    dask_fit_job,
    dask_status,
    distributed_export_steps,
    is_distributed,
    unsupported_reason,
)
from explorer.gui.controller import HEAVY_INTERVAL_S, RunController  # noqa: F401
from explorer.gui.panels import DataPanel, ModelPanel, RunPanel
from explorer.gui.plots import (
    AdjacencyPanel,
    ConfusionPanel,
    DataViewPanel,
    SimplexPanel,
    TracePanel,
)
from explorer.gui.runs import RunsPanel
from explorer.gui.settings import FILE_OPTIONS, MAX_RECENT, WindowSettings  # noqa: F401
from explorer.gui.sweep import SweepPanel
from explorer.gui.worker import Job, fit_job
from explorer.models.base import HyperparameterError
from explorer.runner import RunControl
from explorer.session import SessionError
from explorer.warmup import kernels_cached
from explorer.workspace import (
    Workspace,
    command_line,
    index_like_columns,
    label_like_columns,
    python_code,
)

ORGANIZATION = "LatentExplorer"
APPLICATION = "explorer"
COMPILE_HINT_MS = 1000          # no first iteration after this long: show a busy bar
COMPILING_TEXT = "compiling kernels (first run only)..."
DASK_STARTING_TEXT = "connecting to Dask and reading the data into the workers..."


def label_file_columns(spec, node_ids) -> tuple[list[str], dict[str, np.ndarray], str | None]:
    """The label columns of a node-label file with a header row: ``(columns, values, preferred)``.

    ``values[c]`` is aligned with ``node_ids`` (None where a node has no row). The preferred column
    has fewer distinct values than labelled nodes (a community, not a name), text columns first.
    A file without a header (or a GML attribute) gives ``([], {}, None)``.
    """
    from explorer.data.labels import COMMENT, split_spec
    from explorer.data.table import read_source, records, sniff_separator

    path, _col = split_spec(spec)
    if not Path(path).is_file():
        return [], {}, None
    try:
        src = read_source(path)
        rows = records(src, sniff_separator(src.head_lines(comment=COMMENT)), COMMENT)
        first = next(rows, None)
        index = {str(nid): k for k, nid in enumerate(node_ids)}
        if first is None or first[1][0].strip() in index:
            return [], {}, None            # no header: the loader takes the second field
        header = [h.strip() for h in first[1]]
        cols = {c: np.full(len(node_ids), None, dtype=object) for c in header[1:]}
        for _line, fields in rows:
            k = index.get(fields[0].strip())
            if k is None:
                continue
            for c, v in zip(header[1:], fields[1:]):
                cols[c][k] = v.strip() or None
    except (DataError, OSError, UnicodeDecodeError):
        return [], {}, None
    if not cols:
        return [], {}, None

    def is_text(c):
        vals = [v for v in cols[c] if v is not None]
        return any(not _is_number(v) for v in vals)

    n_known = {c: sum(v is not None for v in cols[c]) for c in cols}
    distinct = {c: len({v for v in cols[c] if v is not None}) for c in cols}
    few = [c for c in cols if 1 < distinct[c] < n_known[c]]
    few.sort(key=lambda c: not is_text(c))
    preferred = few[0] if few else next(iter(cols))
    return list(cols), cols, preferred


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def node_names(columns: dict[str, np.ndarray]) -> np.ndarray | None:
    """A name per node from a label file's columns: a column called name/label/title, else the
    first text column whose values are all distinct."""
    for c, v in columns.items():
        if c.lower() in ("name", "label", "title", "names"):
            return v
    for v in columns.values():
        vals = [x for x in v if x is not None]
        if vals and len(set(vals)) == len(vals) and any(not _is_number(x) for x in vals):
            return v
    return None


def form_wording(message: str) -> str:
    """A model's error message as the window says it: no command-line flags."""
    message = re.sub(r" \(--[\w-]+ on the command line\)", "", message)
    message = re.sub(r",? --[\w-]+\)", ")", message)
    return re.sub(r" \(--[\w-]+\)", "", message)


def _splitter(widgets, stretch, sizes) -> QSplitter:
    """A horizontal splitter of ``widgets`` with these stretch factors and initial sizes."""
    splitter = QSplitter(Qt.Orientation.Horizontal)
    for widget in widgets:
        splitter.addWidget(widget)
    for i, factor in enumerate(stretch):
        splitter.setStretchFactor(i, factor)
    splitter.setSizes(sizes)
    return splitter


class ShortcutKeeper(QObject):
    """Keeps the window's shortcuts working while a text field has the focus: a QLineEdit takes
    Ctrl+E (end of line) and other keys for itself, so Export did nothing from a hyperparameter
    field. Installed on the application; only these key sequences are taken from the fields."""

    def __init__(self, actions, parent=None):
        super().__init__(parent)
        self.keys = {a.shortcut().toString() for a in actions if not a.shortcut().isEmpty()}

    def eventFilter(self, obj, event):  # noqa: N802  (Qt override)
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(
                obj, (QLineEdit, QAbstractSpinBox)):
            if QKeySequence(event.keyCombination()).toString() in self.keys:
                return True     # not the field's: the window's action gets the key
        return False


class MainWindow(QMainWindow):
    """The explorer window. ``interactive=False`` (scripted use) reports errors on stderr
    instead of dialogs."""

    run_finished = Signal(object)      # FitResult
    run_failed = Signal(str)           # message
    run_shown = Signal(int)            # a run of the Runs tab is in the plots (open_run)
    exported = Signal(object)          # the paths an export wrote

    def __init__(self, settings: QSettings | None = None, *, interactive: bool = True,
                 models: dict | None = None):
        super().__init__()
        # The fit thread and Qt's GIL releases around every C++ call contend for the GIL; a
        # 1 ms switch interval (default 5 ms) hands it back to the GUI thread sooner.
        sys.setswitchinterval(0.001)
        # Cyclic garbage is collected in this thread only while the window is open (a collection
        # in a fit thread can deadlock with Qt: explorer/gui/collector.py).
        self._gc_hold = collector.hold()
        if models is None:
            from explorer.models import registry
            models = registry()
        self.models = models
        self.settings = settings if settings is not None else QSettings(ORGANIZATION, APPLICATION)
        self.prefs = WindowSettings(self.settings)     # the same settings, read by meaning
        self.interactive = interactive
        # Everything the window knows that is not a widget (explorer.workspace, Qt-free): the
        # data and its options, the session and its runs, the result shown.
        self.ws = Workspace()
        # Background work that is not the current fit (exports): job id -> Job (gui/worker.py).
        self.tasks: dict[int, Job] = {}
        self._task_ids = 0
        self._task_handlers: dict[int, tuple] = {}
        self._export_after_refit = False
        self._refit_run_id = None       # the saved run a refit job is fitting again to show
        # The run lifecycle (the job, run ids, the redraw throttle): explorer.gui.controller.
        self.controller = RunController(self, self)
        self.run_model_cls = None
        self._closing = False
        self._stale: dict = {}          # panel -> snapshot it has not drawn yet
        self.label_columns: dict[str, np.ndarray] = {}   # a network's node-label file columns
        # The Dask connection of "Run on: local cluster / Dask scheduler" (explorer.gui.cluster):
        # started by the first such run, closed with the window.
        self.cluster_holder = ClusterHolder()
        self.dask_missing = dask_status()
        self.setWindowTitle("Latent-model explorer")
        self.setAcceptDrops(True)
        self._build_actions()
        self._build_ui()
        self._build_menus()
        self._shortcut_keeper = ShortcutKeeper(
            (self.export_action, self.run_action, self.sweep_action, self.pause_action), self)
        QApplication.instance().installEventFilter(self._shortcut_keeper)
        if not self.prefs.restore_window(self):
            self.resize(1400, 900)
        self._check_model()
        self.run_panel.run_on.set_target(self.prefs.run_on())
        self._update_actions()

    # The window's state is the workspace's (explorer.workspace); these read it by its old names.
    data = property(lambda self: self.ws.data)
    data_path = property(lambda self: self.ws.data_path)
    load_options = property(lambda self: self.ws.load_options)
    session = property(lambda self: self.ws.session)
    run_results = property(lambda self: self.ws.run_results)

    @property
    def result(self):
        return self.ws.result

    @result.setter
    def result(self, value) -> None:
        self.ws.result = value

    # The current job and the redraw counters live in the controller (read by tests and benches).
    @property
    def job(self):
        return self.controller.job

    @property
    def jobs(self) -> dict:
        return self.controller.jobs

    @property
    def run_id(self) -> int:
        return self.controller.run_id

    @property
    def heavy_updates(self) -> int:
        return self.controller.heavy_updates

    @heavy_updates.setter
    def heavy_updates(self, value: int) -> None:     # benches reset the counters
        self.controller.heavy_updates = value

    @property
    def redraw_times(self) -> list[float]:
        return self.controller.redraw_times

    @redraw_times.setter
    def redraw_times(self, value: list[float]) -> None:
        self.controller.redraw_times = value

    # ---- layout by size ---------------------------------------------------------------------
    NARROW_PX = 1280        # below this width the objective goes under the tabs
    LOW_PX = 820            # below this height the data preview gives way to the model list

    def resizeEvent(self, event):  # noqa: N802  (Qt override)
        super().resizeEvent(event)
        self.fit_layout_to_size()

    def fit_layout_to_size(self) -> None:
        """A usable layout from 1024 x 700 up: beside the tabs the objective plot ran off the
        right edge of a narrow window, so it goes below them; in a low window the side panel
        showed 3.5 model rows, so the preview table (the Data tab shows the points) is hidden."""
        narrow = self.width() < self.NARROW_PX
        orientation = Qt.Orientation.Vertical if narrow else Qt.Orientation.Horizontal
        if self.central.orientation() != orientation:
            self.central.setOrientation(orientation)
            total = self.central.height() if narrow else self.central.width()
            self.central.setSizes([total * 3 // 5, total * 2 // 5])
        self.data_panel.preview.setVisible(self.height() >= self.LOW_PX)

    # ---- construction -----------------------------------------------------------------------
    def _action(self, text, slot, shortcut=None, icon=None, tip=None) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        if icon is not None:
            a.setIcon(self.style().standardIcon(icon))
        if tip:
            a.setStatusTip(tip)
            a.setToolTip(tip)
        a.triggered.connect(slot)
        return a

    def _build_actions(self) -> None:
        SP = QStyle.StandardPixmap
        self.open_action = self._action("&Open...", lambda: self.open_dialog(),
                                        QKeySequence.StandardKey.Open, SP.SP_DialogOpenButton,
                                        "Open a table (CSV/TSV), an edge list, GML/GraphML or a "
                                        "temporal edge list")
        self.run_action = self._action("&Run", lambda: self.start_run(), "Ctrl+R",
                                       SP.SP_MediaPlay, "Fit the chosen model (Ctrl+R)")
        self.pause_action = self._action("&Pause", self.toggle_pause, "Ctrl+P",
                                         SP.SP_MediaPause, "Pause or resume the fit")
        self.cancel_action = self._action("&Cancel", self.cancel_run, "Esc", SP.SP_MediaStop,
                                          "Stop the fit, keeping its last good state (Esc)")
        self.export_action = self._action("&Export results...", lambda: self.export_results(),
                                          "Ctrl+E", SP.SP_DialogSaveButton,
                                          "Write result.json, parameters.npz, assignments.csv "
                                          "(and GraphML for networks)")
        self.export_png_action = self._action("Current tab as &PNG...",
                                              lambda: self.export_plot(fmt="png"))
        self.export_svg_action = self._action("Current tab as &SVG...",
                                              lambda: self.export_plot(fmt="svg"))
        self.save_session_action = self._action(
            "&Save session...", lambda: self.save_session(), "Ctrl+Shift+S", None,
            "Save the data, its options and every run of this session (.explorer.json)")
        self.open_session_action = self._action(
            "Open sessio&n...", lambda: self.open_session(), "Ctrl+Shift+O", None,
            "Open a saved session: its data, options and runs")
        self.sweep_action = self._action(
            "S&weep K...", self.show_sweep, "Ctrl+K", None,
            "Fit every K with several seeds in parallel and choose K (the Sweep K tab)")
        self.copy_command_action = self._action(
            "Copy as &command", lambda: self.copy_run_code(python=False), None, None,
            "Copy the `explorer fit ...` line that repeats this run on the command line")
        self.copy_python_action = self._action(
            "Copy as P&ython", lambda: self.copy_run_code(python=True), None, None,
            "Copy the explorer.load / explorer.fit lines that repeat this run in Python")
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.quick_start_action = self._action("&Quick start", lambda: self.show_quick_start(),
                                               QKeySequence.StandardKey.HelpContents)
        self.models_help_action = self._action("&Models", lambda: self.show_models_help())
        self.about_action = self._action("&About", self.show_about)

    def _build_ui(self) -> None:
        self.data_panel = DataPanel()
        self.model_panel = ModelPanel(self.models)
        self.run_panel = RunPanel(self.run_action, self.pause_action, self.cancel_action)
        side = QWidget()
        lay = QVBoxLayout(side)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.data_panel, 1)
        lay.addWidget(self.model_panel, 0)
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(380)
        dock = self._add_dock("Data and model", "side_dock", scroll,
                              Qt.DockWidgetArea.LeftDockWidgetArea)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        bottom = _splitter((self.run_panel, self.log_view), stretch=(0, 1), sizes=[520, 880])
        log_dock = self._add_dock("Run and log", "log_dock", bottom,
                                  Qt.DockWidgetArea.BottomDockWidgetArea)
        self.resizeDocks([log_dock], [170], Qt.Orientation.Vertical)
        self.resizeDocks([dock], [400], Qt.Orientation.Horizontal)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.trace_panel = TracePanel()
        self.data_view = DataViewPanel()
        self.simplex_panel = SimplexPanel()
        self.adjacency_panel = AdjacencyPanel()
        self.confusion_panel = ConfusionPanel()
        self.plots = [self.trace_panel, self.data_view, self.simplex_panel,
                      self.adjacency_panel, self.confusion_panel]
        # Every run of the session (Runs) and the K sweep are tabs beside the plots.
        self.runs_panel = RunsPanel()
        self.runs_panel.set_session(self.session)
        self.sweep_panel = SweepPanel()
        # The objective trace stays in view beside the tabs of the other plots.
        self.tabs = QTabWidget()
        for p in self.plots[1:]:
            self.tabs.addTab(p, p.title)
        self.tabs.addTab(self.sweep_panel, self.sweep_panel.title)
        self.tabs.addTab(self.runs_panel, self.runs_panel.title)
        self.runs_panel.open_requested.connect(self.open_run)
        self.runs_panel.export_requested.connect(self.export_run)
        self.runs_panel.deleted.connect(self._run_deleted)
        self.sweep_panel.start_requested.connect(self.start_sweep)
        self.sweep_panel.fit_requested.connect(self.fit_from_sweep)
        self.sweep_panel.finished.connect(self._sweep_finished)
        self.central = _splitter((self.tabs, self.trace_panel), stretch=(3, 2), sizes=[600, 400])
        self.setCentralWidget(self.central)
        self.tabs.currentChanged.connect(lambda _i: self._refresh_panel(self.tabs.currentWidget()))
        self.data_view.selection_changed.connect(self.simplex_panel.set_selection)
        self.data_view.selection_changed.connect(self.confusion_panel.set_selection)
        tb = self.addToolBar("Main")
        tb.setObjectName("main_toolbar")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for a in (self.open_action, self.run_action, self.pause_action, self.cancel_action,
                  self.export_action):
            tb.addAction(a)
        self.data_panel.label_column_chosen.connect(self._label_column_chosen)
        self.data_panel.label_file_requested.connect(self._label_file_requested)
        self.data_panel.reload_requested.connect(self._load_options_changed)
        self.data_panel.test_pairs_requested.connect(self._test_pairs_requested)
        self.data_panel.columns_requested.connect(self._columns_requested)
        self.data_panel.columns_chosen.connect(self.choose_columns)
        self.model_panel.model_changed.connect(self._model_changed)
        self.model_panel.values_changed.connect(self._values_changed)
        self.model_panel.warning.linkActivated.connect(self._warning_link)
        self.run_panel.restart_requested.connect(lambda: self.start_run())
        self.statusBar().showMessage("Open a data file to begin (Ctrl+O), or drop one here.")

    def _add_dock(self, title: str, name: str, widget: QWidget,
                  area: Qt.DockWidgetArea) -> QDockWidget:
        """A dock holding ``widget`` at ``area``: movable and floatable, not closable; ``name``
        keys it in the saved window state."""
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addAction(self.open_action)
        self.recent_menu = m.addMenu("Open &recent")
        self._refresh_recent_menu()
        m.addSeparator()
        m.addAction(self.open_session_action)
        m.addAction(self.save_session_action)
        m.addSeparator()
        m.addAction(self.export_action)
        pm = m.addMenu("Export &plot")
        pm.addAction(self.export_png_action)
        pm.addAction(self.export_svg_action)
        pm.addSeparator()
        for panel in self.plots:
            sub = pm.addMenu(panel.title)
            for fmt in ("png", "svg"):
                a = sub.addAction(f"{fmt.upper()}...")
                a.triggered.connect(lambda _c=False, p=panel, f=fmt: self.export_plot(fmt=f,
                                                                                      panel=p))
        m.addSeparator()
        m.addAction(self.quit_action)
        r = mb.addMenu("&Run")
        for a in (self.run_action, self.pause_action, self.cancel_action):
            r.addAction(a)
        r.addSeparator()
        r.addAction(self.sweep_action)
        r.addSeparator()
        r.addAction(self.copy_command_action)
        r.addAction(self.copy_python_action)
        h = mb.addMenu("&Help")
        h.addAction(self.quick_start_action)
        h.addAction(self.models_help_action)
        h.addAction(self.about_action)

    # ---- messages ---------------------------------------------------------------------------
    def log(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        for line in str(text).splitlines() or [""]:
            self.log_view.appendPlainText(f"{stamp}  {line}")

    def show_error(self, title: str, message: str, details: str | None = None) -> None:
        self.log(f"error: {message}")
        if not self.interactive:
            print(f"explorer: error: {message}", file=sys.stderr)
            return
        box = QMessageBox(QMessageBox.Icon.Critical, title, message,
                          QMessageBox.StandardButton.Ok, self)
        if details:
            box.setDetailedText(details)
        box.exec()

    def report_exception(self, exc_type, exc, tb) -> None:
        """An exception that reached the event loop (a bug in a slot): said in the log and in a
        message that does not block, with its traceback under "details"; the run controls are
        put back so the window stays usable (explorer.gui.app installs this as the excepthook)."""
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        message = f"{exc_type.__name__}: {exc}"
        self.log(f"error: unexpected {message}")
        if self.job is not None and not self.job.is_running():
            self.controller.job = None
        if not self.is_running():
            self.run_panel.progress.setRange(0, 1)
        self._update_actions()
        if not self.interactive:
            print(f"explorer: error: {message}", file=sys.stderr)
            return
        box = QMessageBox(QMessageBox.Icon.Warning, "Something went wrong",
                          f"{message}\n\nThe window goes on; the details say where it happened "
                          "(please report them).", QMessageBox.StandardButton.Ok, self)
        box.setDetailedText(details)
        box.setModal(False)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()

    # ---- data -------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        start = str(Path(self.data_path).parent) if self.data_path else ""
        path, _ = QFileDialog.getOpenFileName(
            self, "Open data", start,
            "Data files (*.csv *.tsv *.txt *.dat *.edges *.gml *.graphml *.parquet *.pq "
            "*.feather *.arrow *.npy);;All files (*)")
        if path:
            self.open_file(path)

    def _file_key(self, path) -> str:
        return self.prefs.file_key(path)

    def remembered_options(self, path) -> dict:
        """The data options last used with this file (QSettings), or {}."""
        return self.prefs.file_options(path)

    def _ask_drop_missing(self, error: MissingValuesError) -> bool:
        """Offer to drop the rows with missing values (the loader's count in the question)."""
        if not self.interactive:
            return False
        rows = "1 row has" if error.rows == 1 else f"{error.rows:,} rows have"
        box = QMessageBox(QMessageBox.Icon.Question, "Missing values",
                          f"{rows} missing values (empty, '?' or 'NA' cells).\n\n"
                          f"First: {error.message}", QMessageBox.StandardButton.Cancel, self)
        drop = box.addButton(f"Drop {error.rows:,} rows", QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(drop)
        box.exec()
        return box.clickedButton() is drop

    def open_file(self, path, kind: str | None = None, **options) -> bool:
        """Load a file; on a bad file show the loader's message and keep the previous data.

        Opened without options, a file gets the data options it was last used with (ground truth,
        standardise, ...); if they no longer fit it, it opens with none."""
        path = str(path)
        if kind is None and not options:
            remembered = self.remembered_options(path)
            if remembered:
                kind = remembered.pop("kind", None)
                if self._open_file(path, kind, remembered, quiet=True):
                    return True
                kind = None
        return self._open_file(path, kind, options)

    def _open_file(self, path: str, kind, options: dict, quiet: bool = False) -> bool:
        try:
            options = {k: v for k, v in options.items() if v is not None}
            try:
                data = self.ws.load(path, kind=kind, **options)
            except MissingValuesError as e:
                if quiet or not self._ask_drop_missing(e):
                    raise
                options["missing"] = "drop"
                data = self.ws.load(path, kind=kind, **options)
        except DataError as e:
            if quiet:
                return False
            self.show_error("Cannot open file", e.message)
            return False
        except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
            if quiet:
                return False
            self.show_error("Cannot open file", f"{path}: {e.strerror or e}")
            return False
        except Exception as e:  # a loader bug: say so, keep the window usable
            if quiet:
                return False
            self.show_error("Cannot open file", f"{path}: {type(e).__name__}: {e}",
                            traceback.format_exc())
            return False
        self.set_data(data, path=path, options=dict(options, kind=kind))
        return True

    def set_data(self, data, *, path=None, options: dict | None = None) -> None:
        """Show already-loaded data (the previous fit, if any, is stopped and forgotten)."""
        self._stop_current()
        previous_path = self.data_path
        self.ws.set_data(data, path, options)
        self._stale.clear()
        self.run_panel.metrics.setText("")
        self.run_panel.status.setText("idle")
        self.run_panel.reset()
        self.run_panel.restart_bar.setVisible(False)
        self.label_columns = {}
        names = None
        if data.kind != "table" and self.load_options.get("labels"):
            _cols, self.label_columns, _pref = label_file_columns(self.load_options["labels"],
                                                                  data.node_ids)
            names = node_names(self.label_columns)
        self.data_panel.set_data(data, self.load_options, list(self.label_columns))
        if data.kind == "table":
            if self.data_path and not self.load_options.get("columns"):
                self.prefs.set_file_columns(self.data_path, data.columns)
            self.data_panel.show_column_hint(data.columns, label_like_columns(data),
                                             index_like_columns(data))
        if self.data_path:
            self.prefs.remember_file_options(self.data_path, self.load_options)
        previous = self.model_panel.current_model()
        self.model_panel.set_kind(data.kind)
        last = self.prefs.last_model(data.kind)
        if last and last in self.models and self.model_panel.select_model(last):
            pass
        elif previous is not None and data.kind in previous.data_kinds:
            self.model_panel.select_model(previous.id)
        if self.model_panel.current_model() is previous and self.data_path != previous_path:
            self._model_changed(previous)     # another file: its own values for this model
        for p in self.plots:
            p.set_data(data)
        self.adjacency_panel.set_node_names(names)
        self.tabs.setCurrentWidget(self.data_view if data.kind == "table"
                                   else self.adjacency_panel)
        self.trace_panel.reset(self.model_panel.current_model())
        if self.data_path:
            self._add_recent(self.data_path)
        self.log(f"loaded {self.data_path}: {data.describe()}")
        for note in getattr(data, "notes", []):
            self.log(f"note: {note}")
        self.setWindowTitle(f"Latent-model explorer: {Path(self.data_path).name}"
                            if self.data_path else "Latent-model explorer")
        self.statusBar().showMessage(data.describe())
        self._check_model()
        self._update_actions()

    def _reload(self, **changes) -> bool:
        """Read the file again with some load options changed (``kind`` included); options that
        do not apply to the kind read are dropped (a table's label column is not a node-label
        file). On failure the previous data stays and the data panel is put back."""
        if not self.data_path:
            return False
        kind, options = self.ws.reload_options(**changes)
        ok = self.open_file(self.data_path, kind=kind, **options)
        if not ok and self.data is not None:
            self.data_panel.set_data(self.data, self.load_options)
        return ok

    def _load_options_changed(self, changes: dict) -> None:
        if self.data is None:
            return
        self._reload(**changes)

    def _label_column_chosen(self, column) -> None:
        if self.data is None or column == getattr(self.data, "label_name", None):
            return
        if self.data.kind != "table" and column is not None:
            from explorer.data.labels import split_spec

            column = f"{split_spec(self.load_options.get('labels'))[0]}:{column}"
        chosen = self.load_options.get("columns")
        if self.data.kind == "table" and column and chosen:
            # A ground-truth column is never a feature: out of the chosen columns too.
            chosen = chosen.split(",") if isinstance(chosen, str) else list(chosen)
            self._reload(labels=column, columns=[c for c in chosen if c.strip() != column] or None)
            return
        self._reload(labels=column)

    def _label_file_requested(self) -> None:
        start = str(Path(self.data_path).parent) if self.data_path else ""
        path, _ = QFileDialog.getOpenFileName(self, "Node labels (node,label)", start,
                                              "CSV files (*.csv *.tsv *.txt);;All files (*)")
        if path:
            self.use_label_file(path)

    def use_label_file(self, path) -> bool:
        """Ground truth from a node-label file: with a header, the column with fewer distinct
        values than nodes (a community, not a name) is taken; the data panel offers the others."""
        _cols, _values, preferred = label_file_columns(path, self.data.node_ids)
        return self._reload(labels=f"{path}:{preferred}" if preferred else str(path))

    def file_columns(self) -> list[str]:
        """Every numeric column of the open table's file: those fitted, and those left out with
        the Columns choice (remembered from the file's load without one)."""
        known = self.prefs.file_columns(self.data_path) if self.data_path else []
        return known + [c for c in self.data.columns if c not in known]

    def _columns_requested(self) -> None:
        from explorer.gui.columns import ColumnPicker

        dialog = ColumnPicker(self.file_columns(), self.data.columns,
                              label_like_columns(self.data) + index_like_columns(self.data), self)
        if dialog.exec():
            self.choose_columns(dialog.chosen())

    def choose_columns(self, columns) -> bool:
        """Fit these columns as features (all of the file's when ``columns`` is None or all)."""
        if self.data is None or self.data.kind != "table":
            return False
        if columns is not None and set(columns) >= set(self.file_columns()):
            columns = None
        ok = self._reload(columns=list(columns) if columns else None)
        if ok:
            self.log(f"features: {', '.join(self.data.columns)}")
        return ok

    def _test_pairs_requested(self) -> None:
        start = str(Path(self.data_path).parent) if self.data_path else ""
        path, _ = QFileDialog.getOpenFileName(self, "Test pairs (u v y)", start,
                                              "CSV files (*.csv *.tsv *.txt);;All files (*)")
        if path:
            self._reload(test_pairs=path)

    def _add_recent(self, path: str) -> None:
        self.prefs.add_recent(path)
        self._refresh_recent_menu()

    def recent_files(self) -> list[str]:
        return self.prefs.recent_files()

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_files()
        for p in recent:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _checked=False, p=p: self.open_file(p))
        self.recent_menu.setEnabled(bool(recent))

    # drag and drop
    def dragEnterEvent(self, event):  # noqa: N802
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event):  # noqa: N802
        for u in event.mimeData().urls():
            if u.isLocalFile():
                event.acceptProposedAction()
                self.open_file(u.toLocalFile())
                return

    # ---- model and settings -----------------------------------------------------------------
    def select_model(self, model_id: str) -> bool:
        return self.model_panel.select_model(model_id)

    def _model_changed(self, cls) -> None:
        """A model is chosen: its form at the values last used with it on this file (said in the
        panel, with Restore defaults), else at its defaults, seed 0 included."""
        if self.data is None or cls is None:
            return
        self.model_panel.restore_defaults(emit=False)
        saved = self.prefs.model_values(self.data_path, cls.id) if self.data_path else {}
        saved_run = self.prefs.run_values(self.data_path, cls.id) if self.data_path else {}
        if saved:
            self.model_panel.form.set_values(saved)
        if saved_run:
            self.model_panel.set_run_settings(saved_run)
        self.model_panel.show_values_note(
            f"Values from your last run of {cls.id} on this file." if saved or saved_run
            else "")
        if self.job is None or not self.job.is_running():
            self.trace_panel.reset(cls)
        self._values_changed()

    def _save_model_settings(self) -> None:
        cls = self.model_panel.current_model()
        if self.data is None or cls is None or not self.data_path:
            return
        self.prefs.save_model(self.data.kind, self.data_path, cls.id,
                              self.model_panel.form.values(), self.model_panel.run_settings())
        self.prefs.set_run_on(self.run_panel.run_on.target())

    def _values_changed(self) -> None:
        running = self.job is not None and self.job.is_running()
        self.run_panel.restart_bar.setVisible(running)
        self._check_model()

    def _check_model(self) -> None:
        """Say in the model panel why the chosen model cannot take this table as it is (e.g. the
        Bernoulli mixture on continuous data), with a link to the form option that fixes it."""
        w = self.model_panel.warning
        cls = self.model_panel.current_model()
        text = ""
        if self.data is not None and cls is not None and self.data.kind == "table":
            try:
                cls(self.model_panel.form.hyperparameters()).check_data(self.data)
            except DataError as e:
                text = html.escape(form_wording(e.problem))
                for name, spec in self.model_panel.form.specs.items():
                    if spec.type is bool and f"turn on {name}" in e.problem:
                        text += f" <a href='on:{name}'>Turn on {html.escape(spec.label)}</a>"
            except Exception:  # a bad value: the run says what is wrong with it
                text = ""
        w.setText(text)
        w.setVisible(bool(text))
        self.run_panel.run_on.set_allowed(self.dask_missing or unsupported_reason(
            cls, self.data, self.data_path, self.load_options))

    def _warning_link(self, link: str) -> None:
        if link.startswith("on:"):
            self.model_panel.form.set_values({link[3:]: True})

    # ---- running ----------------------------------------------------------------------------
    def start_run(self) -> bool:
        """Validate the form and start a fit in the background (a running fit is cancelled)."""
        if self.data is None:
            self.show_error("Cannot run", "Open a data file first.")
            return False
        cls = self.model_panel.current_model()
        if cls is None:
            self.show_error("Cannot run", "Choose a model that takes this kind of data.")
            return False
        try:
            hp = self.model_panel.form.hyperparameters()
            model = cls(hp)
            model.check_data(self.data)
        except (HyperparameterError, DataError) as e:
            self.show_error("Cannot run", form_wording(getattr(e, "message", None) or str(e)))
            return False
        rs = self.model_panel.run_settings()
        target = self.run_panel.run_on.target()
        if target["mode"] != "here":
            reason = self.dask_missing or unsupported_reason(cls, self.data, self.data_path,
                                                             self.load_options)
            if reason is None and target["mode"] == "scheduler" and not target["address"]:
                reason = "type the scheduler's address (tcp://host:8786) after 'Dask scheduler:'"
            if reason is not None:
                self.show_error("Cannot run on Dask", reason)
                return False
        run_id = self.controller.next_run_id()       # the current run is cancelled
        if target["mode"] == "here":
            job = fit_job(run_id, model, self.data, seed=rs["seed"],
                          max_iter=rs["max_iter"], tol=rs["tol"])
        else:
            job = dask_fit_job(run_id, self.cluster_holder,
                               cluster_key(target["mode"], target["address"], target["workers"]),
                               model, str(self.data_path), list(self.data.columns),
                               seed=rs["seed"], max_iter=rs["max_iter"], tol=rs["tol"],
                               n_rows=self.data.n_items)
        self._refit_run_id = None
        self._prepare_plots_for_run(cls, rs["max_iter"])
        # No first iteration after a second and numba's cache lacks the model's kernels: say
        # so, with a busy bar (compilation happens once; `explorer warmup` does it at set-up).
        self._kernels_cached = kernels_cached(cls)
        QTimer.singleShot(COMPILE_HINT_MS, lambda rid=self.run_id: self._first_iteration_late(rid))
        self._save_model_settings()
        hp_text = ", ".join(f"{k}={v}" for k, v in hp.as_dict().items())
        where = {"here": "", "local": f", on a local Dask cluster ({target['workers']} workers)",
                 "scheduler": f", on the Dask scheduler {target['address']}"}[target["mode"]]
        self.log(f"run {run_id}: {cls.id} ({hp_text}), seed {rs['seed']}, "
                 f"max {rs['max_iter']} iterations, tol {rs['tol']:g}{where}")
        self.controller.start(job)
        self._update_actions()
        return True

    def _prepare_plots_for_run(self, cls, max_iter: int) -> None:
        """Nothing of the previous run stays on screen; the trace takes ``cls``'s objective."""
        self.run_model_cls = cls
        self.result = None
        self._stale.clear()
        for p in self.plots:
            p.clear_fit()
        self.trace_panel.reset(cls)
        self.run_panel.restart_bar.setVisible(False)
        self.run_panel.metrics.setText("")
        self.run_panel.reset(max_iter)
        self.run_panel.status.setText("starting...")

    def run_code(self, python: bool = False) -> str | None:
        """The ``explorer fit`` line (or the Python lines) that repeats a run with the form's
        model, values and run settings on the open file (explorer.workspace)."""
        cls = self.model_panel.current_model()
        if self.data is None or cls is None or not self.data_path:
            return None
        make = python_code if python else command_line
        return make(cls, self.data_path, self.data.kind, self.ws.data_options(),
                    self.model_panel.form.hyperparameters().as_dict(),
                    self.model_panel.run_settings())

    def copy_run_code(self, python: bool = False) -> str | None:
        try:
            text = self.run_code(python)
        except HyperparameterError as e:
            self.show_error("Nothing to copy", form_wording(str(e)))
            return None
        if text is None:
            self.show_error("Nothing to copy", "Open a data file and choose a model first.")
            return None
        QGuiApplication.clipboard().setText(text)
        self.log("copied to the clipboard:\n" + text.rstrip())
        return text

    def _first_iteration_late(self, run_id: int) -> None:
        job = self.job
        if (self._closing or job is None or job.run_id != run_id or not job.is_running()
                or self.run_panel.status.text() != "starting..."):
            return
        self.run_panel.progress.setRange(0, 0)       # busy (indeterminate) until iteration 1
        if job.distributed:
            self.run_panel.status.setText(DASK_STARTING_TEXT)
        elif not self._kernels_cached:
            self.run_panel.status.setText(COMPILING_TEXT)

    def on_message(self, run_id: int, text: str) -> None:
        """A line from a Dask run (the dashboard link, the table's partitions)."""
        if not self._closing:
            self.log(f"run {run_id}: {text}")

    def is_running(self) -> bool:
        return self.controller.is_running()

    def toggle_pause(self) -> None:
        if self.job is None:
            return
        if self.job.paused:
            self.job.resume()
            self.log(f"run {self.job.run_id}: resumed")
        else:
            self.job.pause()
            self.log(f"run {self.job.run_id}: paused")
            self.run_panel.status.setText("paused · " + self.run_panel.status.text())
        self._update_actions()

    def cancel_run(self) -> None:
        if self.job is not None and self.job.is_running():
            self.job.cancel()
            self.run_panel.status.setText("cancelling...")
            self.log(f"run {self.job.run_id}: cancel requested")

    def _stop_current(self, wait: bool = True) -> None:
        """Cancel the current job (if any); its late signals are dropped by run id."""
        self.controller.stop_current(wait=wait)
        self._update_actions()

    # ---- the controller's handler (explorer.gui.controller) -------------------------------
    def on_partial_result(self, p) -> None:
        """An iteration of the current run: status line, progress bar, trace (cheap)."""
        self.run_panel.show_progress(p, paused=self.job.paused)
        self.trace_panel.show_progress(p)

    def draw_snapshot(self, snap) -> None:
        """Draw a snapshot in the trace's extra curves and the visible tab only; hidden tabs are
        marked and drawn when they are shown (keeps each redraw well under 100 ms). Called by the
        controller at most about once a second during a fit."""
        if self._closing:
            return
        self._stale = {p: snap for p in self.plots}
        self._refresh_panel(self.trace_panel)
        self._refresh_panel(self.tabs.currentWidget())

    def _show_snapshot_now(self, snap) -> None:
        self.controller.pending_snapshot = snap
        self.controller.apply_snapshot()

    def _refresh_panel(self, panel) -> None:
        snap = self._stale.pop(panel, None)
        if snap is not None:
            panel.show_snapshot(snap, self.run_model_cls)

    def flush_plots(self) -> None:
        """Draw every panel that has not seen the latest snapshot yet."""
        if self.controller.pending_snapshot is not None:
            self.controller.apply_snapshot()
        for panel in list(self._stale):
            self._refresh_panel(panel)

    def on_done(self, result) -> None:
        """The current run ended (converged, limit, cancelled): status, metrics, log, the final
        state in every plot (the hidden ones one per event-loop turn), then ``run_finished``."""
        if self._refit_run_id is not None:      # a saved run fitted again to be shown
            run_id, self._refit_run_id = self._refit_run_id, None
            self.ws.run_results[run_id] = result
            self._show_run(run_id, result)
            if self._export_after_refit:
                self.export_results()
            return
        run_id = self.controller.run_id
        self.result = result
        try:
            snap = result.model.snapshot() if result.trace else None
        except Exception:  # a model cancelled before its first iteration may have no state
            snap = None
        cls = self.run_model_cls
        state = self.stop_text(result)
        nb = "\u00a0"
        obj = (f"{cls.objective_kind}{nb}{result.final_objective:.8g}" if result.trace else "")
        self.run_panel.status.setText(f"{state} · {obj} · {result.total_s:.2f}{nb}s")
        self.run_panel.show_finished(result)
        if result.trace:
            self.trace_panel.set_trace(result.trace)
        metrics_text = self._metrics_text(result)
        self.run_panel.metrics.setText(metrics_text)
        for line in result.log:
            self.log(line)
        for note in list(result.model.notes) + list(result.notes):
            self.log(f"note ({cls.id}): {note}")
        self.log(f"run {run_id}: {state}" + ("; " + metrics_text.replace("\n", "; ")
                                             if metrics_text else ""))
        self.run_panel.restart_bar.setVisible(False)
        self._update_actions()
        if is_distributed(result):
            # Its labels live on the workers (a snapshot holds a sample): not a Runs-tab run.
            self.log(f"run {run_id}: a Dask run: Export results writes assignments/ from the "
                     "workers (it is not added to the Runs tab)")
        else:
            self._record_run(result, run_id)
        if snap is not None:
            self._show_snapshot_now(snap)
        # The hidden panels get the final state one per event-loop turn, then run_finished.
        queue = [p for p in self.plots if p in self._stale]

        def next_panel():
            if self._closing or self.result is not result:
                return
            if queue:
                self._refresh_panel(queue.pop(0))
                QTimer.singleShot(0, next_panel)
            else:
                self.run_finished.emit(result)

        next_panel()

    @staticmethod
    def stop_text(result) -> str:
        """Why the fit stopped (explorer.report.stop_text)."""
        return report.stop_text(result)

    @staticmethod
    def _metrics_text(result) -> str:
        """The final metrics, one group a line (explorer.report.metrics_text)."""
        return report.metrics_text(result)

    def on_exception(self, exc, tb: str) -> None:
        """The current run raised: a dialog (or stderr when scripted), the window stays usable."""
        if self.run_panel.progress.maximum() == 0:   # still the busy bar: failed before iteration 1
            self.run_panel.progress.setRange(0, 1)
        self._refit_run_id = None
        message = exc.message if isinstance(exc, DataError) else f"{type(exc).__name__}: {exc}"
        self.run_panel.status.setText("failed: " + message)
        self._update_actions()
        self.run_failed.emit(message)
        self.show_error("The fit failed", message, tb)

    def _update_actions(self) -> None:
        running = self.is_running()
        self.run_action.setEnabled(self.data is not None and not running)
        self.pause_action.setEnabled(running)
        paused = running and self.job.paused
        self.pause_action.setText("Resume" if paused else "Pause")
        self.pause_action.setIcon(self.style().standardIcon(
            QStyle.StandardPixmap.SP_MediaPlay if paused else QStyle.StandardPixmap.SP_MediaPause))
        self.cancel_action.setEnabled(running)
        self.export_action.setEnabled(self.result is not None)

    # ---- runs of the session -------------------------------------------------------------
    def _record_run(self, result, run_id: int) -> None:
        """Add a finished run (with at least one iteration) to the session and the Runs tab,
        under the number the log gave it."""
        if self.ws.record_run(result, run_id) is not None:
            self.runs_panel.refresh()

    def _run_deleted(self, run_id: int) -> None:
        self.ws.forget_run(run_id)

    def open_run(self, run_id: int, then_export: bool = False) -> bool:
        """Show a run of the session in the plots (its data is loaded first when it differs).
        A run from a saved session is fitted again from its settings first, in the background
        (deterministic: ``explorer replay`` checks the same); ``run_shown`` says when it is
        shown, and ``then_export`` asks for the export dialog then."""
        result = self.ws.run_results.get(run_id)
        if result is not None:
            self._show_run(run_id, result)
            if then_export:
                self.export_results()
            return True
        record = self.session.run(run_id)
        cls = self.models.get(record.model)
        if cls is None:
            self.show_error("Cannot open the run", f"run {run_id}: no model {record.model!r} "
                            "is installed")
            return False
        job_id = self.controller.next_run_id()
        control = RunControl(snapshots_on_request=True)
        job = Job(job_id, "refit", lambda: self.ws.refit_steps(run_id, control=control),
                  control=control)
        self._refit_run_id, self._export_after_refit = run_id, then_export
        self._prepare_plots_for_run(cls, record.max_iter)
        self.log(f"run {run_id}: fitting again from its saved settings to show it")
        self.controller.start(job)
        self._update_actions()
        return True

    def _show_run(self, run_id: int, result) -> None:
        if result.data is not self.data:
            ds = self.ws.dataset_of(run_id)
            self.set_data(result.data, path=ds.path, options=ds.options)
        cls = type(result.model)
        self.select_model(cls.id)
        self.model_panel.form.set_values(result.model.hp.as_dict())
        self.run_model_cls = cls
        self.result = result
        self.trace_panel.reset(cls)
        self.trace_panel.set_trace(result.trace)
        self.run_panel.show_finished(result)
        self.run_panel.status.setText(f"run {run_id}: {self.stop_text(result)}")
        self.run_panel.metrics.setText(self._metrics_text(result))
        self._show_snapshot_now(result.model.snapshot())
        self._update_actions()
        self.log(f"run {run_id} shown in the plots")
        self.run_shown.emit(run_id)

    def export_run(self, run_id: int) -> None:
        """Export a run of the Runs tab (shown first: a saved session's run is fitted again)."""
        self.open_run(run_id, then_export=True)

    # ---- background tasks (exports) ---------------------------------------------------------
    def start_task(self, kind: str, steps, done, error_title: str) -> Job:
        """Run ``steps`` (a generator function) on the window's job type, beside the current fit;
        ``done(value)`` gets its return value in this thread, an exception is shown under
        ``error_title``."""
        self._task_ids += 1
        job = Job(self._task_ids, kind, steps)
        self.tasks[job.run_id] = job
        self._task_handlers[job.run_id] = (done, error_title)
        q = Qt.ConnectionType.QueuedConnection
        job.worker.returned.connect(self._task_returned, q)
        job.worker.errored.connect(self._task_errored, q)
        job.start()
        return job

    def _retire_task(self, job_id: int):
        job = self.tasks.pop(job_id, None)
        if job is not None:
            job.thread.wait()        # the worker has returned: its thread is ending
        return self._task_handlers.pop(job_id, (None, ""))

    def _task_returned(self, job_id: int, value) -> None:
        done, _title = self._retire_task(job_id)
        if done is not None and not self._closing:
            done(value)

    def _task_errored(self, job_id: int, exc, tb: str) -> None:
        _done, title = self._retire_task(job_id)
        if self._closing:
            return
        if isinstance(exc, OSError):
            message = f"{getattr(exc, 'filename', None) or ''}: {exc.strerror or exc}".lstrip(": ")
        else:
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        self.show_error(title, message, tb)

    # ---- K sweep ----------------------------------------------------------------------------
    def show_sweep(self) -> None:
        self.tabs.setCurrentWidget(self.sweep_panel)

    def start_sweep(self, Ks: list, seeds: int, jobs: int) -> bool:
        """Sweep K for the chosen model on the loaded file, the form's other hyperparameters and
        the run settings held fixed (explorer.sweep: worker processes)."""
        from explorer import sweep as sweep_mod

        cls = self.model_panel.current_model()
        if self.data is None or self.data_path is None or cls is None:
            self.show_error("Cannot sweep", "Open a data file and choose a model first.")
            return False
        try:
            k_name = sweep_mod.sweep_parameter(cls)
            hp = self.model_panel.form.hyperparameters().as_dict()
            hp.pop(k_name, None)
            for K in Ks:
                cls(**{**hp, k_name: K}).check_data(self.data)
        except (HyperparameterError, DataError) as e:
            self.show_error("Cannot sweep", form_wording(getattr(e, "message", None) or str(e)))
            return False
        rs = self.model_panel.run_settings()
        spec = sweep_mod.SweepSpec(
            model_id=cls.id, data_path=str(self.data_path), data_kind=self.data.kind,
            data_options={k: v for k, v in self.load_options.items()
                          if k in DATA_OPTIONS[self.data.kind]}, Ks=tuple(Ks),
            seeds=tuple(rs["seed"] + i for i in range(seeds)), hyperparameters=hp,
            max_iter=rs["max_iter"], tol=rs["tol"])
        self.sweep_panel.start(spec, jobs)
        self.log(f"sweep: {cls.id}, {k_name} in {Ks}, {seeds} seed(s), {jobs} process(es)")
        return True

    def _sweep_finished(self, summary: dict) -> None:
        if summary.get("cancelled"):
            self.log(f"sweep: {self.sweep_panel.status.text().split('.')[0]}")
        else:
            self.log(f"sweep: chosen K = {summary['chosen_K']} ({summary['reason']})")

    def fit_from_sweep(self, K: int, seed: int) -> None:
        """Open one fit of the sweep: the same K and seed give the same result, now in the views
        (and in the Runs tab)."""
        from explorer import sweep as sweep_mod

        cls = self.model_panel.current_model()
        if cls is None:
            return
        self.model_panel.form.set_values({sweep_mod.sweep_parameter(cls): K})
        self.model_panel.set_run_settings({"seed": seed})
        self.start_run()

    # ---- sessions ---------------------------------------------------------------------------
    def save_session(self, path=None):
        from explorer.session import SUFFIX

        if path is None:
            start = str(Path(self.export_start_dir()) / ("session" + SUFFIX))
            path, _ = QFileDialog.getSaveFileName(self, "Save session", start,
                                                  f"Explorer sessions (*{SUFFIX})")
            if not path:
                return None
        try:
            written = self.session.save(path)
        except (OSError, SessionError) as e:
            self.show_error("Cannot save the session", str(e))
            return None
        self.log(f"session saved: {written} ({len(self.session.runs)} runs)")
        return written

    def open_session(self, path=None) -> bool:
        """Open a saved session: its runs in the Runs tab, its last run's data, options, model and
        hyperparameters in the window and (fitted again, deterministically) in the plots. A data
        file that changed since the session was saved is reported and not used."""
        from explorer.session import SUFFIX

        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Open session", self.export_start_dir(),
                                                  f"Explorer sessions (*{SUFFIX})")
            if not path:
                return False
        self._stop_current(wait=True)
        try:
            problems = self.ws.open_session(path)
        except SessionError as e:
            self.show_error("Cannot open the session", str(e))
            return False
        session = self.session
        self.controller.run_id = max(self.controller.run_id, self.ws.last_run_id())
        self.runs_panel.set_session(session)
        for problem in problems:
            self.log(f"session: {problem}")
        self.log(f"session opened: {path} ({len(session.runs)} runs)")
        if problems:
            self.show_error("Data changed", "\n".join(problems)
                            + "\n\nThe runs are listed; runs on these files cannot be shown.")
        current = session.current_run
        if current is not None and not any(
                session.datasets[session.run(current).dataset].path in p for p in problems):
            self.open_run(current)
            self.runs_panel.select_runs([current])
        return True

    def export_results(self, out_dir=None) -> Job | None:
        """Write the same files as ``explorer fit --out`` (one code path: explorer.export) in the
        background; ``exported`` (the paths) is emitted when they are written. Returns the job."""
        result = self.result
        if result is None:
            self.show_error("Nothing to export", "Run a model first.")
            return None
        if out_dir is None:
            # A save dialog, so a folder that does not exist yet can be named (it is created).
            cls = type(result.model)
            K = getattr(result.model.hp, "K", None)
            stem = Path(self.data_path).stem if self.data_path else "results"
            name = f"{stem}-{cls.id}" + (f"-K{K}" if K else "")
            out_dir, _ = QFileDialog.getSaveFileName(
                self, "Export results into folder (created if needed)",
                str(Path(self.export_start_dir()) / name), "Folders (*)",
                options=QFileDialog.Option.DontConfirmOverwrite)
            if not out_dir:
                return None
        if is_distributed(result):
            # result.json and parameters.npz from here, assignments/ written by the workers
            # (explorer.distributed.export): needs the run's table still on the cluster.
            data = result.data
            if not data.parts or not self.cluster_holder._alive() or \
                    self.cluster_holder.table is not data:
                self.show_error("Export failed", "This Dask run's table is no longer on the "
                                "cluster (another file was read, or the cluster was closed): run "
                                "it again to export it.")
                return None
            steps = partial(distributed_export_steps, result, out_dir)
        else:
            steps = partial(Workspace.export_steps, result, out_dir)
        self.log(f"exporting to {out_dir}...")
        return self.start_task("export", steps, partial(self._exported, out_dir),
                               "Export failed")

    def _exported(self, out_dir, paths: dict) -> None:
        self.prefs.set_export_dir(out_dir)
        self.log("exported " + ", ".join(str(p) for p in paths.values()))
        self.exported.emit(paths)

    def export_start_dir(self) -> str:
        """Where export dialogs open: the last export folder, else beside the data file."""
        last = self.prefs.export_dir()
        if last:
            return last
        if self.data_path:
            return str(Path(self.data_path).resolve().parent)
        return str(Path.home())

    def plot_title(self) -> str:
        """Title of an exported plot: data, model, K."""
        parts = [Path(self.data_path).name if self.data_path else "data"]
        cls = self.run_model_cls if self.result is not None or self.is_running() else None
        if cls is not None:
            model = self.result.model if self.result is not None else self.job.model
            K = getattr(model.hp, "K", None)
            parts.append(cls.name + (f", K = {K}" if K else ""))
        return "  ·  ".join(parts)

    def current_plot(self):
        return self.tabs.currentWidget()

    def export_plot(self, path=None, fmt: str = "png", panel=None):
        panel = panel or self.current_plot()
        self._refresh_panel(panel)
        if path is None:
            stem = Path(self.data_path).stem + "_" if self.data_path else ""
            name = f"{stem}{panel.title.lower().replace(' ', '_')}.{fmt}"
            path, _ = QFileDialog.getSaveFileName(self, f"Export plot as {fmt.upper()}",
                                                  str(Path(self.export_start_dir()) / name),
                                                  f"{fmt.upper()} files (*.{fmt})")
            if not path:
                return None
            if not path.lower().endswith(f".{fmt}"):
                path += f".{fmt}"
        try:
            out = panel.export(path, title=self.plot_title())
        except (OSError, ValueError) as e:
            self.show_error("Export failed", f"{path}: {e}")
            return None
        self.prefs.set_export_dir(out)
        self.log(f"exported plot {panel.title} to {out}")
        return out

    def save_screenshots(self, window_png=None, plots_dir=None) -> list[Path]:
        """A PNG of the whole window and, with ``plots_dir``, one PNG per plot."""
        written = []
        self.flush_plots()
        if window_png:
            p = Path(window_png)
            p.parent.mkdir(parents=True, exist_ok=True)
            if not self.grab().save(str(p)):
                raise OSError(f"could not write {p}")
            written.append(p)
        if plots_dir:
            d = Path(plots_dir)
            d.mkdir(parents=True, exist_ok=True)
            for panel in self.plots:
                if not panel.applies():
                    continue          # no adjacency for a table, no simplex without memberships
                p = d / f"{panel.title.lower().replace(' ', '_')}.png"
                panel.export(p, title=self.plot_title())
                written.append(p)
        return written

    # ---- help (explorer/gui/help.py) -----------------------------------------------------
    def models_help_html(self) -> str:
        return help_pages.models_html(self.models)

    def show_models_help(self, modal: bool = True):
        return help_pages.show_text(self, "Models", html_text=self.models_help_html(),
                                    modal=modal)

    def show_quick_start(self, modal: bool = True):
        return help_pages.show_text(self, "Quick start",
                                    markdown=help_pages.quick_start_markdown(), modal=modal)

    def show_about(self) -> None:
        QMessageBox.about(self, "About the explorer",
                          f"<b>Latent-model explorer</b> {__version__}<br>Fit clustering, "
                          "mixture and network community models and watch them converge.<br>"
                          "PySide6 + pyqtgraph; models in numba. BSD-3-Clause.")

    # ---- closing ----------------------------------------------------------------------------
    def confirm_quit(self) -> bool:
        """Asked when the window is closed (Ctrl+Q, the close button) during a fit. Without a
        screen (the offscreen platform: tests, scripted runs) nobody could answer: quit."""

        if QGuiApplication.platformName() == "offscreen":
            return True
        answer = QMessageBox.question(
            self, "Quit during a fit?",
            "A fit is running. Quit anyway? (The fit is stopped and not saved.)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event):  # noqa: N802
        """Stop every running fit (cancel + wait) so no QThread is destroyed while running;
        an interactive window asks first when a fit is running."""
        if self.interactive and self.is_running() and not self.confirm_quit():
            event.ignore()
            return
        self._closing = True
        try:
            self._save_model_settings()
            self.prefs.save_window(self)
        except Exception:  # settings must never keep the window from closing
            pass
        self.controller.shutdown()           # every job stopped and its thread ended
        for job in list(self.tasks.values()):
            job.stop()                       # an export is written whole (or not at all)
        self.tasks.clear()
        self.sweep_panel.shutdown()          # no sweep worker outlives the window
        self.cluster_holder.close()          # nor a Dask worker the window started
        QApplication.instance().removeEventFilter(self._shortcut_keeper)
        self._gc_hold.release()              # no thread of this window runs any more
        super().closeEvent(event)
