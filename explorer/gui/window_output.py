"""The window's output actions: export a result set (on the window's job, never on the GUI thread),
export a plot, save screenshots, save and open sessions, and the background tasks they run on.

A part of :class:`explorer.gui.main_window.MainWindow` (a mixin; see
:mod:`explorer.gui.window_data`).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from explorer.gui.cluster import distributed_export_steps, is_distributed
from explorer.gui.worker import Job
from explorer.session import SessionError
from explorer.workspace import Workspace


class OutputActions:
    """Files the window writes and reads back (see the module doc)."""

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
            job.thread.wait()  # the worker has returned: its thread is ending
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

    # ---- sessions ---------------------------------------------------------------------------
    def save_session(self, path=None):
        from explorer.session import SUFFIX

        if path is None:
            start = str(Path(self.export_start_dir()) / ("session" + SUFFIX))
            path, _ = QFileDialog.getSaveFileName(
                self, "Save session", start, f"Explorer sessions (*{SUFFIX})"
            )
            if not path:
                return None
        try:
            written = self.session.save(path)
        except (OSError, SessionError) as e:
            self.show_error("Cannot save the session", str(e))
            return None
        self.log(f"session saved: {written} ({len(self.session.runs)} runs)")
        return written

    def confirm_paths(self, paths) -> bool:
        """Asked when a session names data files outside its own folder: read them? (A scripted
        window, with nobody to ask, does not.)"""
        if not self.interactive:
            self.log(
                "session: data files outside its folder are not read without a yes: "
                + ", ".join(map(str, paths))
            )
            return False
        shown = "\n".join(str(p) for p in paths[:10]) + ("\n..." if len(paths) > 10 else "")
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Read data files outside the session?",
            f"This session reads {len(paths)} data file(s) outside its own folder:"
            f"\n\n{shown}\n\nRead them? (A session from someone else could name "
            "any file on this machine.)",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        read = box.addButton("Read them", QMessageBox.ButtonRole.AcceptRole)
        box.exec()
        return box.clickedButton() is read

    def open_session(self, path=None) -> bool:
        """Open a saved session: its runs in the Runs tab, its last run's data, options, model and
        hyperparameters in the window and (fitted again, deterministically) in the plots. A data
        file that changed since the session was saved is reported and not used."""
        from explorer.session import SUFFIX

        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                self, "Open session", self.export_start_dir(), f"Explorer sessions (*{SUFFIX})"
            )
            if not path:
                return False
        self._stop_current(wait=True)
        try:
            problems = self.ws.open_session(path, confirm=self.confirm_paths)
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
            self.show_error(
                "Data not used",
                "\n".join(problems)
                + "\n\nThe runs are listed; runs on these files cannot be shown.",
            )
        current = session.current_run
        if current is not None and not any(
            session.datasets[session.run(current).dataset].path in p for p in problems
        ):
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
                self,
                "Export results into folder (created if needed)",
                str(Path(self.export_start_dir()) / name),
                "Folders (*)",
                options=QFileDialog.Option.DontConfirmOverwrite,
            )
            if not out_dir:
                return None
        if is_distributed(result):
            # result.json and parameters.npz from here, assignments/ written by the workers
            # (explorer.distributed.export): needs the run's table still on the cluster.
            data = result.data
            if (
                not data.parts
                or not self.cluster_holder._alive()
                or self.cluster_holder.table is not data
            ):
                self.show_error(
                    "Export failed",
                    "This Dask run's table is no longer on the "
                    "cluster (another file was read, or the cluster was closed): run "
                    "it again to export it.",
                )
                return None
            steps = partial(distributed_export_steps, result, out_dir)
        else:
            # The Network tab's layout goes into the GraphML when it is this fit's network's.
            xy = self.network_panel.xy if result.data is self.network_panel.data else None
            steps = partial(Workspace.export_steps, result, out_dir, xy)
        self.log(f"exporting to {out_dir}...")
        return self.start_task("export", steps, partial(self._exported, out_dir), "Export failed")

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
            path, _ = QFileDialog.getSaveFileName(
                self,
                f"Export plot as {fmt.upper()}",
                str(Path(self.export_start_dir()) / name),
                f"{fmt.upper()} files (*.{fmt})",
            )
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
                    continue  # no adjacency for a table, no simplex without memberships
                p = d / f"{panel.title.lower().replace(' ', '_')}.png"
                panel.export(p, title=self.plot_title())
                written.append(p)
        return written
