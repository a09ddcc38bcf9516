"""The window's one way of running work in the background: a generator driven on a QThread.

Every job of the window (a fit here or on Dask, a refit of a saved run, an export, a K sweep) is a
generator function: it yields partial results (a fit's :class:`explorer.runner.Progress`, a sweep's
finished fits, a line for the log) and returns its result. A :class:`Job` runs one such generator
in a :class:`GeneratorWorker` moved to its own QThread, as superqt's ``GeneratorWorker`` does; the
worker talks to the window only through three signals, each stamped with the job's id so that a
late signal of a cancelled job can be dropped:

* ``yielded(job_id, item)``: a partial result;
* ``returned(job_id, value)``: the generator's return value (a FitResult, the paths written...);
* ``errored(job_id, exception, traceback_text)``: it raised (every failure is reported, never a
  crash of the window).

Cancel and pause go through the job's ``control`` (an :class:`explorer.runner.RunControl`, or any
object with ``cancel()``, such as a sweep's ``SweepCancel``), a thread-safe flag the generator
checks between its steps, never through queued signals: the worker's event loop is busy for the
whole job, so a queued call would only be delivered after it ended.

A fit's snapshots (``Model.snapshot``: copies of labels, memberships...) are made on request: the
control is ``RunControl(snapshots_on_request=True)``; when the window has drawn one it calls
:meth:`Job.request_snapshot` with its redraw interval, and the runner makes the next one with its
first progress after that interval. The first progress carries one, and so does the final one.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Generator

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from explorer import runner


class GeneratorWorker(QObject):
    """Drives one generator to its end in the thread it lives in; never touches widgets."""

    yielded = Signal(int, object)  # job id, a partial result
    returned = Signal(int, object)  # job id, the generator's return value
    errored = Signal(int, object, str)  # job id, the exception, formatted traceback

    def __init__(self, job_id: int, steps: Callable[[], Generator]):
        super().__init__()
        self.job_id = job_id
        self.steps = steps

    @Slot()
    def run(self) -> None:
        try:
            generator = self.steps()
            while True:
                try:
                    item = next(generator)
                except StopIteration as stop:
                    value = stop.value
                    break
                self.yielded.emit(self.job_id, item)
        except Exception as exc:  # every failure becomes a message in the window, never a crash
            self.errored.emit(self.job_id, exc, traceback.format_exc())
        else:
            self.returned.emit(self.job_id, value)


class Job:
    """One generator on its own QThread: its control, its worker and its thread. Owned by the
    GUI thread. ``kind`` says what it is ("fit", "dask-fit", "refit", "export", "sweep");
    ``model`` is the model a fit job fits (for titles), else None.

    The job keeps Python references to the thread and the worker until the thread has finished,
    so neither is destroyed while it runs."""

    def __init__(
        self, job_id: int, kind: str, steps: Callable[[], Generator], *, control=None, model=None
    ):
        self.run_id = job_id
        self.kind = kind
        self.model = model
        self.control = control if control is not None else runner.RunControl()
        self.thread = QThread()
        self.thread.setObjectName(f"{kind}-{job_id}")
        self.worker = GeneratorWorker(job_id, steps)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        # Direct: quit from the worker thread itself, so it works even while the GUI thread is
        # blocked in stop() waiting for the thread.
        direct = Qt.ConnectionType.DirectConnection
        self.worker.returned.connect(self.thread.quit, direct)
        self.worker.errored.connect(self.thread.quit, direct)

    @property
    def distributed(self) -> bool:
        return self.kind == "dask-fit"

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

    @property
    def paused(self) -> bool:
        return bool(getattr(self.control, "paused", False))

    def request_snapshot(self, delay: float = 0.0) -> None:
        """The window has drawn the last snapshot: a progress ``delay`` seconds from now or later
        brings a new one."""
        request = getattr(self.control, "request_snapshot", None)
        if request is not None:
            request(delay)

    def stop(self, timeout_ms: int | None = None) -> bool:
        """Cancel and wait for the thread to end (a fit stops within one iteration)."""
        self.cancel()
        self.thread.quit()
        if timeout_ms is None:
            return self.thread.wait()
        return self.thread.wait(timeout_ms)


def fit_job(
    job_id: int,
    model,
    data,
    *,
    seed: int,
    max_iter: int | None,
    tol: float | None,
    snapshot_interval: float = 0.05,
    kind: str = "fit",
) -> Job:
    """A fit in this process: :func:`explorer.runner.fit_steps` on a job."""
    control = runner.RunControl(snapshots_on_request=True)

    def steps():
        return runner.fit_steps(
            model,
            data,
            seed=seed,
            max_iter=max_iter,
            tol=tol,
            snapshot_interval=snapshot_interval,
            control=control,
        )

    return Job(job_id, kind, steps, control=control, model=model)
