"""Running a fit in the background: a worker QObject moved to a QThread.

The worker calls :func:`explorer.runner.fit` and talks to the window only through signals, each
stamped with its run's id so the window can drop a late snapshot from a cancelled run. Progress
(iteration, objective, trace) comes at most every ``snapshot_interval`` seconds (0.05 s: at most 20
per second); a snapshot (``Model.snapshot``: copies of labels, memberships...) only on request: the
job's control is ``RunControl(snapshots_on_request=True)``: when the window has drawn a snapshot
it calls :meth:`FitJob.request_snapshot` with its redraw interval, and the runner makes the next one
with its first progress after that interval. Snapshots are so made at the rate they are drawn, and
fresh when drawn. The first progress carries one, and so does the final one.

Cancel and pause go through :class:`explorer.runner.RunControl`, a thread-safe flag the fit loop
checks between iterations, never through queued signals: the worker's event loop is busy for the
whole fit, so a queued call would only be delivered after it ended.
"""

from __future__ import annotations

import traceback

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from explorer import runner


class FitWorker(QObject):
    """Runs one fit; lives in its own thread; never touches widgets."""

    progress = Signal(int, object)      # run id, runner.Progress (snapshot copies inside)
    finished = Signal(int, object)      # run id, runner.FitResult (cancelled ones included)
    failed = Signal(int, object, str)   # run id, the exception, formatted traceback

    def __init__(self, run_id: int, model, data, *, seed: int, max_iter: int | None,
                 tol: float | None, control: runner.RunControl,
                 snapshot_interval: float = 0.05):
        super().__init__()
        self.run_id = run_id
        self.model = model
        self.data = data
        self.seed = seed
        self.max_iter = max_iter
        self.tol = tol
        self.control = control
        self.snapshot_interval = snapshot_interval

    def _callback(self, progress: runner.Progress) -> None:
        self.progress.emit(self.run_id, progress)

    @Slot()
    def run(self) -> None:
        try:
            result = runner.fit(self.model, self.data, seed=self.seed, max_iter=self.max_iter,
                                tol=self.tol, callback=self._callback,
                                snapshot_interval=self.snapshot_interval, control=self.control)
        except Exception as exc:  # every failure becomes a dialog in the window, never a crash
            self.failed.emit(self.run_id, exc, traceback.format_exc())
        else:
            self.finished.emit(self.run_id, result)


class ThreadJob:
    """One run on its own QThread: its control flags, its worker and its thread. Owned by the
    window (GUI thread). Subclasses make the worker (an object with ``run`` and the ``finished``
    and ``failed`` signals) and hand it to :meth:`_start_worker`.

    The job keeps Python references to the thread and the worker until the thread has finished,
    so neither is destroyed while it runs. Snapshots are made on request (the module docstring).
    """

    distributed = False

    def __init__(self, run_id: int, model, thread_name: str):
        self.run_id = run_id
        self.control = runner.RunControl(snapshots_on_request=True)
        self.thread = QThread()
        self.thread.setObjectName(thread_name)
        self.model = model

    def _start_worker(self, worker) -> None:
        self.worker = worker
        worker.moveToThread(self.thread)
        self.thread.started.connect(worker.run)
        # Direct: quit from the worker thread itself, so it works even while the GUI thread is
        # blocked in stop() waiting for the thread.
        worker.finished.connect(self.thread.quit, Qt.ConnectionType.DirectConnection)
        worker.failed.connect(self.thread.quit, Qt.ConnectionType.DirectConnection)

    def start(self) -> None:
        self.thread.start()

    def is_running(self) -> bool:
        return self.thread.isRunning()

    def cancel(self) -> None:
        self.control.cancel()

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def request_snapshot(self, delay: float = 0.0) -> None:
        """The window has drawn the last snapshot: a progress ``delay`` seconds from now or later
        brings a new one."""
        self.control.request_snapshot(delay)

    @property
    def paused(self) -> bool:
        return self.control.paused

    def stop(self, timeout_ms: int | None = None) -> bool:
        """Cancel and wait for the thread to end (the loop stops within one iteration)."""
        self.control.cancel()
        self.thread.quit()
        if timeout_ms is None:
            return self.thread.wait()
        return self.thread.wait(timeout_ms)


class FitJob(ThreadJob):
    """A run in this process."""

    def __init__(self, run_id: int, model, data, *, seed: int, max_iter: int | None,
                 tol: float | None, snapshot_interval: float = 0.05):
        super().__init__(run_id, model, f"fit-{run_id}")
        self._start_worker(FitWorker(run_id, model, data, seed=seed, max_iter=max_iter, tol=tol,
                                     control=self.control, snapshot_interval=snapshot_interval))
