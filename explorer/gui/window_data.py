"""The window's data actions: open a file (dialog, drop, recent), read it again with changed load
options, choose the ground truth and the feature columns, and the model panel's values for it.

A part of :class:`explorer.gui.main_window.MainWindow` (a mixin: the window is the view of
:class:`explorer.workspace.Workspace`, and its actions are grouped by what they act on: data
here, runs in :mod:`explorer.gui.window_runs`, files written in :mod:`explorer.gui.window_output`).
"""

from __future__ import annotations

import html
import traceback
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from explorer.data.labels import label_file_columns, node_names
from explorer.data.table import MissingValuesError
from explorer.data.types import DataError
from explorer.gui.cluster import unsupported_reason
from explorer.gui.window_runs import form_wording


class DataActions:
    """Opening and reading data, and the model panel's values for it (see the module doc)."""

    # ---- data -------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        start = str(Path(self.data_path).parent) if self.data_path else ""
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open data",
            start,
            "Data files (*.csv *.tsv *.txt *.dat *.edges *.gml *.graphml *.parquet *.pq "
            "*.feather *.arrow *.npy);;All files (*)",
        )
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
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Missing values",
            f"{rows} missing values (empty, '?' or 'NA' cells).\n\nFirst: {error.message}",
            QMessageBox.StandardButton.Cancel,
            self,
        )
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
            self.show_error(
                "Cannot open file", f"{path}: {type(e).__name__}: {e}", traceback.format_exc()
            )
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
            _cols, self.label_columns, _pref = label_file_columns(
                self.load_options["labels"], data.node_ids
            )
            names = node_names(self.label_columns)
        self.data_panel.set_data(data, self.load_options, list(self.label_columns))
        if data.kind == "table":
            if self.data_path and not self.load_options.get("columns"):
                self.prefs.set_file_columns(self.data_path, data.columns)
            self.data_panel.show_column_hint(
                data.columns, data.label_candidates, data.calendar_columns
            )
        if self.data_path:
            self.prefs.remember_file_options(self.data_path, self.load_options)
        # The model the user chose stays when it takes the new data; else the one last run on
        # this kind of data (a table after a network: the table model used last).
        previous = self.model_panel.current_model()
        keep = previous is not None and data.kind in previous.data_kinds
        self.model_panel.set_kind(data.kind)
        last = self.prefs.last_model(data.kind)
        if keep:
            self.model_panel.select_model(previous.id)
        elif last and last in self.models:
            self.model_panel.select_model(last)
        if self.model_panel.current_model() is previous and self.data_path != previous_path:
            self._model_changed(previous)  # another file: its own values for this model
        for p in self.plots:
            p.set_data(data)
        self.start_layout(data)
        self.adjacency_panel.set_node_names(names)
        self.tabs.setCurrentWidget(self.data_view if data.kind == "table" else self.network_panel)
        self.trace_panel.reset(self.model_panel.current_model())
        if self.data_path:
            self._add_recent(self.data_path)
        self.log(f"loaded {self.data_path}: {data.describe()}")
        for note in getattr(data, "notes", []):
            self.log(f"note: {note}")
        self.setWindowTitle(
            f"Latent-model explorer: {Path(self.data_path).name}"
            if self.data_path
            else "Latent-model explorer"
        )
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
        path, _ = QFileDialog.getOpenFileName(
            self, "Node labels (node,label)", start, "CSV files (*.csv *.tsv *.txt);;All files (*)"
        )
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

        dialog = ColumnPicker(
            self.file_columns(),
            self.data.columns,
            self.data.label_candidates + self.data.calendar_columns,
            self,
        )
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
        path, _ = QFileDialog.getOpenFileName(
            self, "Test pairs (u v y)", start, "CSV files (*.csv *.tsv *.txt);;All files (*)"
        )
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
            f"Values from your last run of {cls.id} on this file." if saved or saved_run else ""
        )
        if self.job is None or not self.job.is_running():
            self.trace_panel.reset(cls)
        self._values_changed()

    def _save_model_settings(self) -> None:
        cls = self.model_panel.current_model()
        if self.data is None or cls is None or not self.data_path:
            return
        self.prefs.save_model(
            self.data.kind,
            self.data_path,
            cls.id,
            self.model_panel.form.values(),
            self.model_panel.run_settings(),
        )
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
        self.run_panel.run_on.set_allowed(
            self.dask_missing
            or unsupported_reason(cls, self.data, self.data_path, self.load_options)
        )

    def _warning_link(self, link: str) -> None:
        if link.startswith("on:"):
            self.model_panel.form.set_values({link[3:]: True})

    # ---- the network's layout (explorer.layout on the window's job) -------------------------
    def start_layout(self, data) -> None:
        """Lay a network out in the background as soon as it is loaded (cached per file: the same
        file opens with the same picture); the Network tab draws it as it forms."""
        from explorer.gui.plots.network import layout_job
        from explorer.layout import LayoutSettings

        self.stop_layout()
        if data is None or data.kind not in ("network", "temporal"):
            return
        self._task_ids += 1
        job = layout_job(self._task_ids, data, LayoutSettings(seed=0))
        q = Qt.ConnectionType.QueuedConnection
        job.worker.yielded.connect(self._layout_progress, q)
        job.worker.returned.connect(self._layout_finished, q)
        job.worker.errored.connect(self._layout_failed, q)
        self.layout_job = job
        job.start()

    def stop_layout(self) -> None:
        """Stop the layout (within one iteration) and wait for its thread."""
        job, self.layout_job = getattr(self, "layout_job", None), None
        if job is not None:
            job.stop()

    def _is_layout(self, job_id: int) -> bool:
        return self.layout_job is not None and self.layout_job.run_id == job_id

    def _layout_progress(self, job_id: int, progress) -> None:
        if self._is_layout(job_id) and not self._closing:
            self.network_panel.on_layout_progress(progress)

    def _layout_finished(self, job_id: int, xy) -> None:
        if self._is_layout(job_id) and not self._closing:
            self.layout_job.thread.wait()
            self.layout_job = None
            self.network_panel.on_layout_finished(xy)

    def _layout_failed(self, job_id: int, exc, _tb: str) -> None:
        from explorer.layout import LayoutCancelled

        if self._is_layout(job_id) and not isinstance(exc, LayoutCancelled):
            self.log(f"layout failed: {type(exc).__name__}: {exc}")

    def _network_node_selected(self, node: int) -> None:
        """A node clicked in the Network tab: its row and column in the adjacency (the panel's
        own signal) and its memberships in the simplex."""
        self.simplex_panel.set_selection(None if node < 0 else np.array([node]))

    def _snapshot_slider_moved(self, value: int) -> None:
        """The adjacency's time slider (0: all snapshots) moves the Network tab's links too."""
        self.network_panel.set_snapshot_index(None if value == 0 else value - 1)
