"""The window's run actions: start, pause, cancel and restart a fit on the window's job, show its
progress and final state (the controller's handler), number and record runs, Copy as command,
and the K sweep.

A part of :class:`explorer.gui.main_window.MainWindow` (a mixin; see
:mod:`explorer.gui.window_data`). Every fit runs on an :class:`explorer.gui.worker.Job`; nothing
here fits on the GUI thread.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QStyle

from explorer import report
from explorer.data import LOAD_OPTIONS as DATA_OPTIONS
from explorer.data.types import DataError
from explorer.gui.cluster import cluster_key, dask_fit_job, is_distributed, unsupported_reason
from explorer.gui.worker import Job, fit_job
from explorer.models.base import HyperparameterError
from explorer.runner import RunControl
from explorer.warmup import kernels_cached
from explorer.workspace import command_line, estimator_code, python_code

COMPILE_HINT_MS = 1000  # no first iteration after this long: show a busy bar
COMPILING_TEXT = "compiling kernels (first run only)..."
DASK_STARTING_TEXT = "connecting to Dask and reading the data into the workers..."


def form_wording(message: str) -> str:
    """A model's error message as the window says it: no command-line flags."""
    message = re.sub(r" \(--[\w-]+ on the command line\)", "", message)
    message = re.sub(r",? --[\w-]+\)", ")", message)
    return re.sub(r" \(--[\w-]+\)", "", message)


class RunActions:
    """Fits on the window's job and what they show (see the module doc)."""

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
            reason = self.dask_missing or unsupported_reason(
                cls, self.data, self.data_path, self.load_options
            )
            if reason is None and target["mode"] == "scheduler" and not target["address"]:
                reason = "type the scheduler's address (tcp://host:8786) after 'Dask scheduler:'"
            if reason is not None:
                self.show_error("Cannot run on Dask", reason)
                return False
        run_id = self.controller.next_run_id()  # the current run is cancelled
        if target["mode"] == "here":
            job = fit_job(
                run_id, model, self.data, seed=rs["seed"], max_iter=rs["max_iter"], tol=rs["tol"]
            )
        else:
            job = dask_fit_job(
                run_id,
                self.cluster_holder,
                cluster_key(target["mode"], target["address"], target["workers"]),
                model,
                str(self.data_path),
                list(self.data.columns),
                seed=rs["seed"],
                max_iter=rs["max_iter"],
                tol=rs["tol"],
                n_rows=self.data.n_items,
            )
        self._refit_run_id = None
        self._prepare_plots_for_run(cls, rs["max_iter"])
        # No first iteration after a second and numba's cache lacks the model's kernels: say
        # so, with a busy bar (compilation happens once; `explorer warmup` does it at set-up).
        self._kernels_cached = kernels_cached(cls)
        QTimer.singleShot(COMPILE_HINT_MS, lambda rid=self.run_id: self._first_iteration_late(rid))
        self._save_model_settings()
        hp_text = ", ".join(f"{k}={v}" for k, v in hp.as_dict().items())
        where = {
            "here": "",
            "local": f", on a local Dask cluster ({target['workers']} workers)",
            "scheduler": f", on the Dask scheduler {target['address']}",
        }[target["mode"]]
        self.log(
            f"run {run_id}: {cls.id} ({hp_text}), seed {rs['seed']}, "
            f"max {rs['max_iter']} iterations, tol {rs['tol']:g}{where}"
        )
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

    def run_code(self, form: str = "command") -> str | None:
        """What repeats a run with the form's model, values and run settings on the open file
        (explorer.workspace): the ``explorer fit`` line (``"command"``), the explorer.load /
        explorer.fit lines (``"python"``) or the scikit-learn estimator (``"estimator"``)."""
        cls = self.model_panel.current_model()
        if self.data is None or cls is None or not self.data_path:
            return None
        make = {"command": command_line, "python": python_code, "estimator": estimator_code}[form]
        return make(
            cls,
            self.data_path,
            self.data.kind,
            self.ws.data_options(),
            self.model_panel.form.hyperparameters().as_dict(),
            self.model_panel.run_settings(),
        )

    def copy_run_code(self, form: str = "command") -> str | None:
        try:
            text = self.run_code(form)
        except HyperparameterError as e:
            self.show_error("Nothing to copy", form_wording(str(e)))
            return None
        except ImportError as e:  # the estimator form without scikit-learn
            self.show_error("Nothing to copy", f"the estimator form needs scikit-learn ({e})")
            return None
        if text is None:
            self.show_error(
                "Nothing to copy",
                "Open a data file and choose a model first"
                + (" (the estimator form is for table models)." if form == "estimator" else "."),
            )
            return None
        QGuiApplication.clipboard().setText(text)
        self.log("copied to the clipboard:\n" + text.rstrip())
        return text

    def _first_iteration_late(self, run_id: int) -> None:
        job = self.job
        if (
            self._closing
            or job is None
            or job.run_id != run_id
            or not job.is_running()
            or self.run_panel.status.text() != "starting..."
        ):
            return
        self.run_panel.progress.setRange(0, 0)  # busy (indeterminate) until iteration 1
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
        controller at most about once a second during a fit. A saved run being fitted again
        (open_run) is on data the plots do not show yet (they get it, and its final state, when
        it is done): its snapshots are not drawn (they indexed 150-row iris into another table)."""
        if self._closing or self._refit_run_id is not None:
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
        if self._refit_run_id is not None:  # a saved run fitted again to be shown
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
        obj = f"{cls.objective_kind}{nb}{result.final_objective:.8g}" if result.trace else ""
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
        # Recorded before the log line, so that the line says when the Runs tab has no row for
        # it (a run cancelled before its first iteration has nothing to keep).
        recorded = not is_distributed(result) and self._record_run(result, run_id)
        unkept = (
            ""
            if recorded or is_distributed(result)
            else (
                " (not in the Runs tab: "
                + ("no iteration finished" if not result.trace else "the data is not from a file")
                + ")"
            )
        )
        self.log(
            f"run {run_id}: {state}"
            + ("; " + metrics_text.replace("\n", "; ") if metrics_text else "")
            + unkept
        )
        self.run_panel.restart_bar.setVisible(False)
        self._update_actions()
        if is_distributed(result):
            # Its labels live on the workers (a snapshot holds a sample): not a Runs-tab run.
            self.log(
                f"run {run_id}: a Dask run: Export results writes assignments/ from the "
                "workers (it is not added to the Runs tab)"
            )
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
        if self.run_panel.progress.maximum() == 0:  # still the busy bar: failed before iteration 1
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
        self.pause_action.setIcon(
            self.style().standardIcon(
                QStyle.StandardPixmap.SP_MediaPlay
                if paused
                else QStyle.StandardPixmap.SP_MediaPause
            )
        )
        self.cancel_action.setEnabled(running)
        self.export_action.setEnabled(self.result is not None)

    # ---- runs of the session -------------------------------------------------------------
    def _record_run(self, result, run_id: int) -> bool:
        """Add a finished run (with at least one iteration) to the session and the Runs tab,
        under the number the log gave it; whether it was added."""
        if self.ws.record_run(result, run_id) is None:
            return False
        self.runs_panel.refresh()
        return True

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
            self.show_error(
                "Cannot open the run", f"run {run_id}: no model {record.model!r} is installed"
            )
            return False
        job_id = self.controller.next_run_id()
        control = RunControl(snapshots_on_request=True)
        job = Job(
            job_id, "refit", lambda: self.ws.refit_steps(run_id, control=control), control=control
        )
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
            model_id=cls.id,
            data_path=str(self.data_path),
            data_kind=self.data.kind,
            data_options={
                k: v for k, v in self.load_options.items() if k in DATA_OPTIONS[self.data.kind]
            },
            Ks=tuple(Ks),
            seeds=tuple(rs["seed"] + i for i in range(seeds)),
            hyperparameters=hp,
            max_iter=rs["max_iter"],
            tol=rs["tol"],
        )
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
