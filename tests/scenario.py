"""A person at the window, for tests: every step is something a user can do with the mouse and the
keyboard (click a list item, type into a field, press a button, choose a menu item), and after
every step the window is checked for what must never happen while someone works in it.

The few documented methods that stand for a file dialog (``open_file``, ``save_session``,
``open_session``, ``export_results``) are the only calls into the window that are not a widget's;
everything else goes through the widgets and actions a user sees. ``Watch`` collects what must not
happen: an exception reaching the event loop (a slot or virtual method that raised), an ``error:``
or ``warning:`` line in the window's log, a message box, a file dialog opened by a test, and a Qt
warning (``QGridLayoutEngine::addItem: ... already taken``). ``User.check`` raises on any of them
naming the steps taken so far, so a failure reads as a bug report.

``tests/test_gui_scenarios.py`` uses it; imported as ``from scenario import User`` (pytest puts
tests/ on the path).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from PySide6.QtCore import QPoint, Qt, QtMsgType
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QCheckBox,
    QComboBox,
    QLineEdit,
    QMenu,
    QToolBar,
    QToolButton,
)

RUN_TIMEOUT_MS = 120_000  # a first run compiles the model's kernels (numba) on a busy machine
SWEEP_TIMEOUT_MS = 240_000  # worker processes load the kernels again

# Qt messages of the offscreen platform itself, not of the window.
BENIGN_QT = (
    re.compile(r"propagateSizeHints"),
    re.compile(r"^This plugin does not support"),
    re.compile(r"QFont::setPointSize"),
)


class ScenarioFailure(AssertionError):
    pass


def _plain(text: str) -> str:
    """A menu or action text as read: no mnemonic ampersand, no trailing dots."""
    return text.replace("&", "").rstrip(".…").strip()


class Watch:
    """What must not happen while a user works: collected from the test's start."""

    def __init__(self, qtlog, dialogs: list):
        self.qtlog = qtlog
        self.dialogs = dialogs  # the conftest ``dialogs`` fixture's list
        self.exceptions: list[str] = []
        self.file_dialogs: list[str] = []
        self._previous_hook = None
        self._seen_dialogs = 0
        self._seen_qt = 0
        self._seen_exceptions = 0
        self.expected_dialogs = 0

    # An excepthook that records and passes on (pytest-qt's own hook, installed for the test's
    # call phase, also fails the test at its end; ours names the step).
    def install(self) -> None:
        if self._previous_hook is not None:
            return
        previous = sys.excepthook

        def hook(etype, value, tb):
            import traceback

            self.exceptions.append("".join(traceback.format_exception(etype, value, tb)))
            previous(etype, value, tb)

        self._previous_hook = previous
        sys.excepthook = hook

    def uninstall(self) -> None:
        if self._previous_hook is not None:
            sys.excepthook = self._previous_hook
            self._previous_hook = None

    def qt_warnings(self) -> list[str]:
        out = []
        for rec in self.qtlog.records:
            if rec.type in (
                QtMsgType.QtWarningMsg,
                QtMsgType.QtCriticalMsg,
                QtMsgType.QtFatalMsg,
            ) and not any(p.search(rec.message) for p in BENIGN_QT):
                out.append(rec.message)
        return out

    def new_problems(self) -> list[str]:
        """Problems since the last call (the log is read by ``User``)."""
        problems = []
        exc = self.exceptions[self._seen_exceptions :]
        self._seen_exceptions = len(self.exceptions)
        problems += [f"exception in the event loop:\n{e}" for e in exc]
        qt = self.qt_warnings()
        problems += [f"Qt warning: {m}" for m in qt[self._seen_qt :]]
        self._seen_qt = len(qt)
        shown = self.dialogs[self._seen_dialogs :]
        self._seen_dialogs = len(self.dialogs)
        unexpected = shown[self.expected_dialogs :]
        self.expected_dialogs = max(0, self.expected_dialogs - len(shown))
        problems += [
            f"message box {title!r}: {text} {details or ''}".strip()
            for title, text, details in unexpected
        ]
        problems += [f"a file dialog opened: {d}" for d in self.file_dialogs]
        self.file_dialogs.clear()
        return problems


class User:
    """One person at one window. Each method is one user action, checked afterwards."""

    def __init__(self, window, qtbot, watch: Watch, name: str = "user"):
        self.w = window
        self.qtbot = qtbot
        self.watch = watch
        self.name = name
        self.steps: list[str] = []
        self.finished: list = []
        self.failed: list[str] = []
        self._log_lines_seen = 0
        self.expected_log: list[re.Pattern] = []
        window.run_finished.connect(self.finished.append)
        window.run_failed.connect(self.failed.append)

    # ---- checking ----------------------------------------------------------------------------
    def log_lines(self) -> list[str]:
        return self.w.log_view.toPlainText().splitlines()

    def check(self, step: str) -> None:
        self.steps.append(step)
        self.watch.install()
        QApplication.processEvents()
        problems = self.watch.new_problems()
        lines = self.log_lines()
        for line in lines[self._log_lines_seen :]:
            text = line.split("  ", 1)[-1]
            if re.search(r"\b(error|warning):", text) and not any(
                p.search(text) for p in self.expected_log
            ):
                problems.append(f"log: {text}")
        self._log_lines_seen = len(lines)
        if problems:
            raise ScenarioFailure(
                f"{self.name}: after the steps\n  "
                + "\n  ".join(self.steps)
                + "\n"
                + "\n".join(problems)
            )

    def expect_dialog(self, n: int = 1) -> None:
        """The next step shows ``n`` message boxes on purpose (read them from ``dialogs``)."""
        self.watch.expected_dialogs += n

    # ---- finding what a user sees --------------------------------------------------------------
    def action_button(self, action) -> QToolButton:
        """The toolbar button of ``action``."""
        for tb in self.w.findChildren(QToolBar):
            b = tb.widgetForAction(action)
            if b is not None and b.isVisible():
                return b
        raise ScenarioFailure(f"no toolbar button for {action.text()!r}")

    def menu_action(self, *path: str):
        """The action at a menu path such as ("File", "Open recent", "/x/iris.csv")."""
        actions = self.w.menuBar().actions()
        for i, name in enumerate(path):
            found = next((a for a in actions if _plain(a.text()) == _plain(name)), None)
            if found is None:
                raise ScenarioFailure(
                    f"no menu item {' > '.join(path[: i + 1])!r} (there are "
                    f"{[_plain(a.text()) for a in actions]})"
                )
            if i == len(path) - 1:
                return found
            menu = found.menu()
            if not isinstance(menu, QMenu):
                raise ScenarioFailure(f"{' > '.join(path[: i + 1])!r} is not a menu")
            menu.aboutToShow.emit()  # menus filled on show fill now
            actions = menu.actions()
        raise AssertionError("empty menu path")

    def choose_menu(self, *path: str) -> None:
        a = self.menu_action(*path)
        assert a.isEnabled(), f"menu item {' > '.join(path)} is disabled"
        a.trigger()
        self.check("menu " + " > ".join(path))

    # ---- low-level input ---------------------------------------------------------------------
    def click(self, widget, pos: QPoint | None = None, modifier=Qt.KeyboardModifier.NoModifier):
        assert widget.isEnabled(), (
            f"{widget!r} ({getattr(widget, 'text', lambda: '')()}) is disabled"
        )
        if pos is None:
            pos = widget.rect().center()
        self.qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, modifier, pos)

    def type_into(self, editor, text: str) -> None:
        """Select what the field holds, type ``text``, press Enter (a spin box or line edit); a
        combo box is chosen by typing its item's text; a check box is clicked to ``text``."""
        if isinstance(editor, QCheckBox):
            if editor.isChecked() != (str(text).lower() in ("1", "true", "yes", "on")):
                self.click(editor)
            return
        if isinstance(editor, QComboBox):
            items = [editor.itemText(j) for j in range(editor.count())]
            i = next((j for j, t in enumerate(items) if t == str(text)), None)
            if i is None:  # an item with a note: "species (text)"
                i = next((j for j, t in enumerate(items) if t.startswith(f"{text} ")), -1)
            assert i >= 0, f"{text!r} is not among {items}"
            # Click the combo, then the item in the list that drops down (a release sooner than a
            # double-click interval after the popup opened is ignored by Qt, as for a person).
            self.click(editor)
            view = editor.view()
            self.qtbot.waitUntil(view.isVisible, timeout=2000)
            wait(self.qtbot, QApplication.doubleClickInterval() + 100)
            index = editor.model().index(i, editor.modelColumn())
            view.scrollTo(index)
            self.click(view.viewport(), view.visualRect(index).center())
            self.qtbot.waitUntil(lambda: not view.isVisible(), timeout=2000)
            assert editor.currentIndex() == i, f"clicking {text!r} chose {editor.currentText()!r}"
            return
        assert isinstance(editor, (QAbstractSpinBox, QLineEdit)), editor
        editor.setFocus()
        self.qtbot.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
        self.qtbot.keyClick(editor, Qt.Key.Key_Delete)
        self.qtbot.keyClicks(editor, str(text))
        self.qtbot.keyClick(editor, Qt.Key.Key_Return)

    # ---- data ------------------------------------------------------------------------------------
    def open(self, path, expect_ok: bool = True) -> bool:
        """File > Open... and choose ``path`` (``open_file`` stands for the file dialog)."""
        ok = self.w.open_file(path)
        self.check(f"open {Path(path).name}")
        if expect_ok:
            assert ok, f"opening {path} failed"
            assert self.w.data is not None
        return ok

    def open_recent(self, path) -> None:
        self.choose_menu("File", "Open recent", str(path))

    def choose_ground_truth(self, column: str) -> None:
        combo = self.w.data_panel.label_combo
        assert combo.isVisible(), "no ground-truth choice for this data"
        self.type_into(combo, column)
        self.check(f"ground truth {column}")

    # ---- model and form ------------------------------------------------------------------------
    def model_item(self, model_id: str):
        lst = self.w.model_panel.list
        for i in range(lst.count()):
            if lst.item(i).data(Qt.ItemDataRole.UserRole) == model_id:
                return lst.item(i)
        raise ScenarioFailure(f"model {model_id} is not in the model list")

    def choose_model(self, model_id: str, expect_enabled: bool = True) -> None:
        """Click the model in the model list."""
        lst = self.w.model_panel.list
        item = self.model_item(model_id)
        lst.scrollToItem(item)
        self.click(lst.viewport(), lst.visualItemRect(item).center())
        self.check(f"choose model {model_id}")
        enabled = bool(item.flags() & Qt.ItemFlag.ItemIsEnabled)
        assert enabled == expect_enabled, f"{model_id} enabled: {enabled}"
        if expect_enabled:
            assert lst.currentItem() is item, (
                f"clicking {model_id} chose {lst.currentItem() and lst.currentItem().text()}"
            )
            assert self.w.model_panel.form.model_cls.id == model_id

    def editor(self, name: str):
        form = self.w.model_panel.form
        editor = form.editors.get(name)
        assert editor is not None, f"no field {name!r} in the form ({list(form.editors)})"
        if (
            not editor.isVisible()
            and form.advanced_button.isVisible()
            and not form.advanced_button.isChecked()
        ):
            self.click(form.advanced_button)  # open "Advanced (n)"
        return editor

    def set_value(self, name: str, value) -> None:
        """Type ``value`` into the hyperparameter field ``name``."""
        editor = self.editor(name)
        self.type_into(editor, value)
        self.check(f"set {name} = {value}")
        got = self.w.model_panel.form.values()[name]
        assert str(got) == str(value) or _same_number(got, value), (
            f"typed {value!r} into {name}, the field holds {got!r}"
        )

    def set_run_setting(self, name: str, value) -> None:
        """Type into the run settings (seed, max iterations, tolerance)."""
        widget = {
            "seed": self.w.model_panel.seed,
            "max_iter": self.w.model_panel.max_iter,
            "tol": self.w.model_panel.tol,
        }[name]
        self.type_into(widget, value)
        self.check(f"set {name} = {value}")
        assert _same_number(widget.value(), value), f"{name} holds {widget.value()}"

    # ---- running -------------------------------------------------------------------------------
    def press(self, action, step: str) -> None:
        self.click(self.action_button(action))
        self.check(step)

    def start(self) -> None:
        """Press Run; the window must be running (or already done) afterwards."""
        mark = self._mark()
        self.press(self.w.run_action, "press Run")
        self._wait_started(mark, "Run was pressed and nothing runs")

    def _mark(self):
        return len(self.finished), len(self.failed), len(self.log_lines())

    def _wait_started(self, mark, complaint: str) -> None:
        """A run started since ``mark``: it runs, or it has already ended (a quick fit's end may
        reach the event loop before this looks), or the log says it started ("run N: ...")."""
        n_done, n_failed, n_lines = mark

        def started():
            return (
                self.w.is_running()
                or not self.w.run_action.isEnabled()
                or len(self.finished) > n_done
                or len(self.failed) > n_failed
                or any(re.search(r"\brun \d+: ", line) for line in self.log_lines()[n_lines:])
            )

        try:
            self.qtbot.waitUntil(started, timeout=5000)
        except Exception:
            raise ScenarioFailure(
                f"{self.name}: {complaint}, after\n  " + "\n  ".join(self.steps)
            ) from None

    def wait_finished(self, n_before: int | None = None, timeout_ms: int = RUN_TIMEOUT_MS):
        """Wait for the run to end (run_finished); the FitResult."""
        n = len(self.finished) - 1 if n_before is None else n_before
        failed = len(self.failed)
        errors = len(self.watch.exceptions) + len(self.watch.dialogs)
        self.qtbot.waitUntil(
            lambda: (
                len(self.finished) > n
                or len(self.failed) > failed
                or len(self.watch.exceptions) + len(self.watch.dialogs) > errors
            ),
            timeout=timeout_ms,
        )
        self.check("wait for the run to end")
        assert len(self.failed) == failed, f"the run failed: {self.failed[failed:]}"
        assert len(self.finished) > n
        assert not self.w.is_running()
        return self.finished[-1]

    def run(self, timeout_ms: int = RUN_TIMEOUT_MS):
        """Press Run and wait for it to end; the FitResult (checked to be this window's)."""
        n = len(self.finished)
        self.start()
        result = self.wait_finished(n, timeout_ms)
        assert self.w.run_action.isEnabled(), "Run is disabled after a finished run"
        assert result.trace, "a run without an iteration"
        # The objective plot shows the finished run's trace.
        x, y = self.w.trace_panel.curve.getData()
        assert y is not None and len(y) == len(result.trace), (
            f"objective plot has {0 if y is None else len(y)} points, the run {len(result.trace)}"
        )
        return result

    def pause(self) -> None:
        assert self.w.pause_action.text().replace("&", "") == "Pause"
        self.press(self.w.pause_action, "press Pause")
        assert self.w.pause_action.text().replace("&", "") == "Resume"

    def resume(self) -> None:
        self.press(self.w.pause_action, "press Resume")
        assert self.w.pause_action.text().replace("&", "") == "Pause"

    def cancel(self):
        n = len(self.finished)
        self.press(self.w.cancel_action, "press Cancel")
        result = self.wait_finished(n)
        assert result.cancelled, f"cancelled, but the run says: {result.stop_reason}"
        return result

    def restart_with_new_values(self):
        bar = self.w.run_panel.restart_bar
        assert bar.isVisible(), "a value changed during the fit and no restart offer shows"
        self.click(self.w.run_panel.restart_button)
        self.check("press Restart with new values")

    # ---- tabs ------------------------------------------------------------------------------------
    def show_tab(self, panel) -> None:
        tabs = self.w.tabs
        i = tabs.indexOf(panel)
        assert i >= 0, f"{panel!r} is not a tab"
        bar = tabs.tabBar()
        self.click(bar, bar.tabRect(i).center())
        self.check(f"show the {tabs.tabText(i)} tab")
        assert tabs.currentIndex() == i

    # ---- Sweep K -----------------------------------------------------------------------------------
    def sweep(self, k_range: str, seeds: int = 1, jobs: int = 1):
        """Run > Sweep K..., type the K range, seeds and jobs, press Sweep, wait for the end."""
        self.choose_menu("Run", "Sweep K")
        sp = self.w.sweep_panel
        assert self.w.tabs.currentWidget() is sp
        self.type_into(sp.k_range, k_range)
        self.type_into(sp.seeds, seeds)
        self.type_into(sp.jobs, jobs)
        with self.qtbot.waitSignal(sp.finished, timeout=SWEEP_TIMEOUT_MS) as blocker:
            self.click(sp.start_button)
            self.check("press Sweep")
        self.check("sweep finished")
        return blocker.args[0]

    def click_sweep_dot(self, K: int, seed: int):
        """Click the dot of (K, seed) in the Sweep K plot with the mouse; the fit it opens runs to
        the end; its FitResult."""
        sp = self.w.sweep_panel
        assert self.w.tabs.currentWidget() is sp
        view = sp.pw
        # The plot as on screen: a paint brings the view's range up to date with the last points
        # (pyqtgraph auto-ranges when it paints), so the dot is where a person sees it.
        view.viewport().repaint()
        point = next((p for p in sp.dots.points() if tuple(p.data()) == (K, seed)), None)
        assert point is not None, f"no dot for K = {K}, seed {seed}"
        pos = view.mapFromScene(sp.dots.mapToScene(point.pos()))
        assert view.viewport().rect().contains(pos), f"the dot K = {K} is outside the plot"
        mark = self._mark()
        self.click(view.viewport(), pos)
        self.check(f"click the sweep dot K = {K}, seed {seed}")
        self._wait_started(mark, "the dot click started no fit")
        return self.wait_finished(mark[0])

    # ---- Runs tab ------------------------------------------------------------------------------------
    def run_rows(self) -> dict[int, int]:
        """Run id -> row of the Runs table as shown."""
        t = self.w.runs_panel.table
        m = t.model()
        col = next(
            c for c in range(m.columnCount()) if m.headerData(c, Qt.Orientation.Horizontal) == "run"
        )
        return {int(m.index(r, col).data()): r for r in range(m.rowCount())}

    def select_runs(self, *run_ids: int) -> None:
        """Click the first run's row, Ctrl+click the others."""
        t = self.w.runs_panel.table
        rows = self.run_rows()
        for n, rid in enumerate(run_ids):
            assert rid in rows, f"run {rid} is not in the Runs table ({sorted(rows)})"
            idx = t.model().index(rows[rid], 0)
            t.scrollTo(idx)
            mod = Qt.KeyboardModifier.NoModifier if n == 0 else Qt.KeyboardModifier.ControlModifier
            self.click(t.viewport(), t.visualRect(idx).center(), mod)
        self.check("select runs " + ", ".join(map(str, run_ids)))
        assert sorted(self.w.runs_panel.selected_ids()) == sorted(run_ids)

    def open_selected_run(self) -> None:
        # A run of this window is shown at once; one of a saved session is fitted again first,
        # on the window's job: either way run_shown says when it is in the views.
        with self.qtbot.waitSignal(self.w.run_shown, timeout=RUN_TIMEOUT_MS):
            self.click(self.w.runs_panel.open_button)
        self.check("press Open in views")

    # ---- files written ---------------------------------------------------------------------------------
    def save_session(self, path):
        written = self.w.save_session(path)  # stands for File > Save session... and its dialog
        self.check(f"save session {Path(path).name}")
        assert written is not None and Path(written).exists()
        return Path(written)

    def open_session(self, path) -> None:
        # The session's data files lie outside its folder (sample_data/): the window asks, and
        # the person answers "Read them" (confirm_paths stands for that question).
        asked = []
        self.w.confirm_paths = lambda paths: asked.append(paths) or True
        # Its current run is fitted again on the window's job, then shown (run_shown).
        with self.qtbot.waitSignal(self.w.run_shown, timeout=RUN_TIMEOUT_MS):
            ok = self.w.open_session(path)
        assert asked, "the window read data files outside the session without asking"
        self.check(f"open session {Path(path).name}")
        assert ok

    def export(self, out_dir):
        # export_results stands for File > Export results... and its dialog; the files are
        # written on the window's job, and `exported` carries their paths.
        with self.qtbot.waitSignal(self.w.exported, timeout=RUN_TIMEOUT_MS) as blocker:
            assert self.w.export_results(out_dir) is not None
        self.check(f"export to {Path(out_dir).name}")
        paths = blocker.args[0]
        assert paths, "export wrote nothing"
        return paths

    def export_plot(self, path):
        """File > Export plot > Current tab as PNG... (``export_plot`` stands for its dialog)."""
        out = self.w.export_plot(path)
        self.check(f"export the current tab to {Path(path).name}")
        assert out is not None and Path(out).exists()
        return Path(out)

    def close(self) -> None:
        """The window's close button (Ctrl+Q / File > Quit go the same way)."""
        self.w.close()
        self.check("close the window")
        assert not self.w.isVisible()


def _same_number(a, b) -> bool:
    try:
        return abs(float(a) - float(b)) <= 1e-12 * max(abs(float(b)), 1.0)
    except (TypeError, ValueError):
        return False


def wait(qtbot, ms: int) -> None:
    """Let the event loop run ``ms`` milliseconds (a person reading the screen)."""
    end = time.monotonic() + ms / 1000
    while time.monotonic() < end:
        qtbot.wait(min(50, ms))
