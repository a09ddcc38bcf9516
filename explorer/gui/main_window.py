"""The main window: the view of :class:`explorer.workspace.Workspace` (the data, the session and its
runs, the result shown, all Qt-free). Here: menus and toolbar, the data / model / run panels, the
plot tabs, the log, the layout by window size, messages and closing. The actions are grouped by
what they act on, each in its own module: data (:mod:`explorer.gui.window_data`), runs
(:mod:`explorer.gui.window_runs`), files written and read back (:mod:`explorer.gui.window_output`).

Every fit, refit, export and sweep runs on the window's one job type (:mod:`explorer.gui.worker`).
Snapshots arrive at most ~20 per second; the objective trace and the status line follow every one,
while the heavier plots (scatter, simplex, adjacency, confusion) are redrawn at most once a second
during a fit, and once more with the final state.
"""

from __future__ import annotations

import sys
import time
import traceback

import numpy as np
from PySide6.QtCore import QEvent, QObject, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QDockWidget,
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

from explorer._version import __version__
from explorer.gui import collector
from explorer.gui import help as help_pages
from explorer.gui.cluster import (
    ClusterHolder,
    dask_status,
)
from explorer.gui.controller import HEAVY_INTERVAL_S, RunController  # noqa: F401
from explorer.gui.panels import DataPanel, ModelPanel, RunPanel
from explorer.gui.plots import (
    AdjacencyPanel,
    ConfusionPanel,
    DataViewPanel,
    NetworkPanel,
    SimplexPanel,
    TracePanel,
)
from explorer.gui.runs import RunsPanel
from explorer.gui.settings import FILE_OPTIONS, MAX_RECENT, WindowSettings  # noqa: F401
from explorer.gui.sweep import SweepPanel
from explorer.gui.window_data import DataActions
from explorer.gui.window_output import OutputActions
from explorer.gui.window_runs import RunActions
from explorer.gui.worker import Job
from explorer.workspace import (
    Workspace,
)

ORGANIZATION = "LatentExplorer"
APPLICATION = "explorer"


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
            obj, (QLineEdit, QAbstractSpinBox)
        ):
            if QKeySequence(event.keyCombination()).toString() in self.keys:
                return True  # not the field's: the window's action gets the key
        return False


class MainWindow(DataActions, RunActions, OutputActions, QMainWindow):
    """The explorer window. ``interactive=False`` (scripted use) reports errors on stderr
    instead of dialogs."""

    run_finished = Signal(object)  # FitResult
    run_failed = Signal(str)  # message
    run_shown = Signal(int)  # a run of the Runs tab is in the plots (open_run)
    exported = Signal(object)  # the paths an export wrote

    def __init__(
        self,
        settings: QSettings | None = None,
        *,
        interactive: bool = True,
        models: dict | None = None,
    ):
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
        self.prefs = WindowSettings(self.settings)  # the same settings, read by meaning
        self.interactive = interactive
        # Everything the window knows that is not a widget (explorer.workspace, Qt-free): the
        # data and its options, the session and its runs, the result shown.
        self.ws = Workspace()
        # Background work that is not the current fit (exports): job id -> Job (gui/worker.py).
        self.tasks: dict[int, Job] = {}
        self._task_ids = 0
        self._task_handlers: dict[int, tuple] = {}
        self._export_after_refit = False
        self._refit_run_id = None  # the saved run a refit job is fitting again to show
        self.layout_job = None  # the network's layout on the window's job
        # The run lifecycle (the job, run ids, the redraw throttle): explorer.gui.controller.
        self.controller = RunController(self, self)
        self.run_model_cls = None
        self._closing = False
        self._stale: dict = {}  # panel -> snapshot it has not drawn yet
        self.label_columns: dict[str, np.ndarray] = {}  # a network's node-label file columns
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
            (self.export_action, self.run_action, self.sweep_action, self.pause_action), self
        )
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
    def heavy_updates(self, value: int) -> None:  # benches reset the counters
        self.controller.heavy_updates = value

    @property
    def redraw_times(self) -> list[float]:
        return self.controller.redraw_times

    @redraw_times.setter
    def redraw_times(self, value: list[float]) -> None:
        self.controller.redraw_times = value

    # ---- layout by size ---------------------------------------------------------------------
    NARROW_PX = 1280  # below this width the objective goes under the tabs
    LOW_PX = 820  # below this height the data preview gives way to the model list

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
        self.open_action = self._action(
            "&Open...",
            lambda: self.open_dialog(),
            QKeySequence.StandardKey.Open,
            SP.SP_DialogOpenButton,
            "Open a table (CSV/TSV), an edge list, GML/GraphML or a temporal edge list",
        )
        self.run_action = self._action(
            "&Run",
            lambda: self.start_run(),
            "Ctrl+R",
            SP.SP_MediaPlay,
            "Fit the chosen model (Ctrl+R)",
        )
        self.pause_action = self._action(
            "&Pause", self.toggle_pause, "Ctrl+P", SP.SP_MediaPause, "Pause or resume the fit"
        )
        self.cancel_action = self._action(
            "&Cancel",
            self.cancel_run,
            "Esc",
            SP.SP_MediaStop,
            "Stop the fit, keeping its last good state (Esc)",
        )
        self.export_action = self._action(
            "&Export results...",
            lambda: self.export_results(),
            "Ctrl+E",
            SP.SP_DialogSaveButton,
            "Write result.json, parameters.npz, assignments.csv (and GraphML for networks)",
        )
        self.export_png_action = self._action(
            "Current tab as &PNG...", lambda: self.export_plot(fmt="png")
        )
        self.export_svg_action = self._action(
            "Current tab as &SVG...", lambda: self.export_plot(fmt="svg")
        )
        self.save_session_action = self._action(
            "&Save session...",
            lambda: self.save_session(),
            "Ctrl+Shift+S",
            None,
            "Save the data, its options and every run of this session (.explorer.json)",
        )
        self.open_session_action = self._action(
            "Open sessio&n...",
            lambda: self.open_session(),
            "Ctrl+Shift+O",
            None,
            "Open a saved session: its data, options and runs",
        )
        self.sweep_action = self._action(
            "S&weep K...",
            self.show_sweep,
            "Ctrl+K",
            None,
            "Fit every K with several seeds in parallel and choose K (the Sweep K tab)",
        )
        self.copy_command_action = self._action(
            "Copy as &command",
            lambda: self.copy_run_code("command"),
            None,
            None,
            "Copy the `explorer fit ...` line that repeats this run on the command line",
        )
        self.copy_python_action = self._action(
            "Copy as P&ython",
            lambda: self.copy_run_code("python"),
            None,
            None,
            "Copy the explorer.load / explorer.fit lines that repeat this run in Python",
        )
        self.copy_estimator_action = self._action(
            "Copy as scikit-learn &estimator",
            lambda: self.copy_run_code("estimator"),
            None,
            None,
            "Copy the explorer.sklearn estimator that repeats this run (table models)",
        )
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.quick_start_action = self._action(
            "&Quick start", lambda: self.show_quick_start(), QKeySequence.StandardKey.HelpContents
        )
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
        dock = self._add_dock(
            "Data and model", "side_dock", scroll, Qt.DockWidgetArea.LeftDockWidgetArea
        )
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        bottom = _splitter((self.run_panel, self.log_view), stretch=(0, 1), sizes=[520, 880])
        log_dock = self._add_dock(
            "Run and log", "log_dock", bottom, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.resizeDocks([log_dock], [170], Qt.Orientation.Vertical)
        self.resizeDocks([dock], [400], Qt.Orientation.Horizontal)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.trace_panel = TracePanel()
        self.data_view = DataViewPanel()
        self.simplex_panel = SimplexPanel()
        self.adjacency_panel = AdjacencyPanel()
        self.network_panel = NetworkPanel()
        self.confusion_panel = ConfusionPanel()
        self.plots = [
            self.trace_panel,
            self.data_view,
            self.simplex_panel,
            self.adjacency_panel,
            self.network_panel,
            self.confusion_panel,
        ]
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
        self.network_panel.node_selected.connect(self.adjacency_panel.select_node)
        self.network_panel.node_selected.connect(self._network_node_selected)
        self.adjacency_panel.slider.valueChanged.connect(self._snapshot_slider_moved)
        tb = self.addToolBar("Main")
        tb.setObjectName("main_toolbar")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for a in (
            self.open_action,
            self.run_action,
            self.pause_action,
            self.cancel_action,
            self.export_action,
        ):
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

    def _add_dock(
        self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea
    ) -> QDockWidget:
        """A dock holding ``widget`` at ``area``: movable and floatable, not closable; ``name``
        keys it in the saved window state."""
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
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
                a.triggered.connect(
                    lambda _c=False, p=panel, f=fmt: self.export_plot(fmt=f, panel=p)
                )
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
        r.addAction(self.copy_estimator_action)
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
        box = QMessageBox(
            QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, self
        )
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
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Something went wrong",
            f"{message}\n\nThe window goes on; the details say where it happened "
            "(please report them).",
            QMessageBox.StandardButton.Ok,
            self,
        )
        box.setDetailedText(details)
        box.setModal(False)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()

    # ---- help (explorer/gui/help.py) -----------------------------------------------------
    def models_help_html(self) -> str:
        return help_pages.models_html(self.models)

    def show_models_help(self, modal: bool = True):
        return help_pages.show_text(self, "Models", html_text=self.models_help_html(), modal=modal)

    def show_quick_start(self, modal: bool = True):
        return help_pages.show_text(
            self, "Quick start", markdown=help_pages.quick_start_markdown(), modal=modal
        )

    def show_about(self) -> None:
        QMessageBox.about(
            self,
            "About the explorer",
            f"<b>Latent-model explorer</b> {__version__}<br>Fit clustering, "
            "mixture and network community models and watch them converge.<br>"
            "PySide6 + pyqtgraph; models in numba. BSD-3-Clause.",
        )

    # ---- closing ----------------------------------------------------------------------------
    def confirm_quit(self) -> bool:
        """Asked when the window is closed (Ctrl+Q, the close button) during a fit. Without a
        screen (the offscreen platform: tests, scripted runs) nobody could answer: quit."""

        if QGuiApplication.platformName() == "offscreen":
            return True
        answer = QMessageBox.question(
            self,
            "Quit during a fit?",
            "A fit is running. Quit anyway? (The fit is stopped and not saved.)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
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
        self.controller.shutdown()  # every job stopped and its thread ended
        self.stop_layout()  # and the layout's
        for job in list(self.tasks.values()):
            job.stop()  # an export is written whole (or not at all)
        self.tasks.clear()
        self.sweep_panel.shutdown()  # no sweep worker outlives the window
        self.cluster_holder.close()  # nor a Dask worker the window started
        QApplication.instance().removeEventFilter(self._shortcut_keeper)
        self._gc_hold.release()  # no thread of this window runs any more
        super().closeEvent(event)
