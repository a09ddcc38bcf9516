"""The run lifecycle of the window: one job at a time, run ids, and the redraw throttle.

Modelled on Orange's ``ConcurrentMixin`` (``Orange/widgets/utils/concurrent.py``): the controller
owns the current fit job (an :class:`explorer.gui.worker.Job`: a fit here, on Dask, or the refit
of a saved run); a new run cancels the old one; every signal carries its run's id, and a late one
from a cancelled run is dropped here, so the window only ever hears about the current run, through
these methods of its handler:

* ``on_partial_result(progress)``: an iteration report (cheap: the status line, the trace);
* ``on_message(run_id, text)``: a line for the log (a Dask run connecting, reading its table);
* ``on_done(result)``: the FitResult (cancelled fits included: their last state is kept);
* ``on_exception(exc, traceback_text)``: the fit raised.

Snapshots are throttled here too: the latest one is offered with :meth:`offer_snapshot` and the
handler's ``draw_snapshot(snapshot)`` is called at most every ``interval_s`` seconds (the heavy
plots), with a timer for the last one of a burst. ``heavy_updates`` and ``redraw_times`` count and
time those draws (the responsiveness tests read them).
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer, Slot

HEAVY_INTERVAL_S = 1.0  # the scatter/simplex/adjacency redraw at most this often


class RunController(QObject):
    """The current job of a window and its throttled snapshots (see the module docstring)."""

    def __init__(self, handler, parent=None, interval_s: float = HEAVY_INTERVAL_S):
        super().__init__(parent)
        self.handler = handler
        self.interval_s = interval_s
        self.job = None
        self.jobs: dict = {}  # run id -> job whose thread may still be running
        self.run_id = 0
        self.closing = False
        self.pending_snapshot = None
        self.heavy_updates = 0
        self.redraw_times: list[float] = []
        self._last_heavy = 0.0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.apply_snapshot)

    # ---- jobs -----------------------------------------------------------------------------
    def next_run_id(self) -> int:
        """Cancel the current run (without waiting) and number the next one."""
        self.stop_current(wait=False)
        self.run_id += 1
        return self.run_id

    def start(self, job) -> None:
        """Start ``job`` (numbered by :meth:`next_run_id`) as the current run."""
        q = Qt.ConnectionType.QueuedConnection
        job.worker.yielded.connect(self._on_yielded, q)
        job.worker.returned.connect(self._on_finished, q)
        job.worker.errored.connect(self._on_failed, q)
        self.jobs[job.run_id] = job
        self.job = job
        self.reset_throttle()
        job.start()

    def is_running(self) -> bool:
        return self.job is not None and self.job.is_running()

    def is_current(self, run_id: int) -> bool:
        return not self.closing and self.job is not None and run_id == self.job.run_id

    def stop_current(self, wait: bool = True) -> None:
        """Cancel the current job (if any); its late signals are dropped by run id."""
        job = self.job
        self.job = None
        if job is not None:
            job.cancel()
            if wait:
                job.stop()
                self.jobs.pop(job.run_id, None)

    def shutdown(self) -> None:
        """Stop every job and wait for its thread (the window is closing)."""
        self.closing = True
        self._timer.stop()
        for job in list(self.jobs.values()):
            job.stop()
        self.jobs.clear()
        self.job = None

    def _retire(self, run_id: int):
        job = self.jobs.pop(run_id, None)
        if job is not None:
            job.thread.wait()  # the thread is ending: worker.run has returned
        return job

    @Slot(int, object)
    def _on_yielded(self, run_id: int, item) -> None:
        if isinstance(item, str):
            if not self.closing:
                self.handler.on_message(run_id, item)
            return
        if not self.is_current(run_id):
            return  # a late report of a cancelled run
        self.handler.on_partial_result(item)
        if item.snapshot is not None:
            self.offer_snapshot(item.snapshot)

    @Slot(int, object)
    def _on_finished(self, run_id: int, result) -> None:
        self._retire(run_id)
        if not self.is_current(run_id):
            return
        self.job = None
        self.reset_throttle()
        self.handler.on_done(result)

    @Slot(int, object, str)
    def _on_failed(self, run_id: int, exc, tb: str) -> None:
        self._retire(run_id)
        if not self.is_current(run_id):
            return
        self.job = None
        self.reset_throttle()
        self.handler.on_exception(exc, tb)

    # ---- the redraw throttle --------------------------------------------------------------
    def reset_throttle(self) -> None:
        self._timer.stop()
        self.pending_snapshot = None
        self._last_heavy = 0.0

    def offer_snapshot(self, snapshot) -> None:
        """Draw ``snapshot`` now if the last draw is ``interval_s`` old, else when it is (only
        the latest snapshot offered by then is drawn)."""
        self.pending_snapshot = snapshot
        due = self.interval_s - (time.monotonic() - self._last_heavy)
        if due <= 0:
            self.apply_snapshot()
        elif not self._timer.isActive():
            self._timer.start(int(due * 1000) + 1)

    def apply_snapshot(self) -> None:
        """Hand the pending snapshot to the handler's ``draw_snapshot`` (timed and counted)."""
        snap = self.pending_snapshot
        self.pending_snapshot = None
        if snap is None or self.closing:
            return
        t0 = time.perf_counter()
        self.handler.draw_snapshot(snap)
        self.redraw_times.append(time.perf_counter() - t0)
        self.heavy_updates += 1
        self._last_heavy = time.monotonic()
        if self.job is not None:  # drawn: the run makes the next when it can be drawn
            self.job.request_snapshot(self.interval_s)
