"""Progress of long work (loading, a big fit's first pass, the export), reported from plain Python.

Qt-free, as napari's ``utils/progress.py``: the code doing the work opens a :class:`Task` and calls
``update(n)``; whoever wants to show progress listens. The CLI shows a tqdm-style bar on stderr
(:class:`TerminalBar`, only when stderr is a terminal); the window connects a listener that emits a
Qt signal (it is called on the working thread) and drives its progress bar from the events.

::

    with Task("reading table.parquet", total=n_rows, unit="rows") as task:
        for batch in batches:
            ...
            task.update(len(batch))

    with listening(TerminalBar()):          # or listening(my_callback)
        load(...)

A listener receives :class:`ProgressEvent` s: one when a task starts, then at most every
``min_interval`` seconds (0.1 s by default) while it runs, and one when it finishes (``finished``
true, also on an exception). ``total`` None means the amount of work is unknown (the bar then
shows the elapsed time only). ``eta_s`` (time left) is estimated from the rate so far once a task
has run a little (5 % of its total or 0.5 s). Tasks may nest (``depth``); events of every thread go
to the same listeners, so a listener must be thread-safe (emitting a Qt signal is).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    """Where a task is: ``done`` of ``total`` units after ``elapsed_s`` seconds."""

    task: str
    done: float
    total: float | None
    unit: str
    elapsed_s: float
    eta_s: float | None  # estimated seconds left, None when it cannot be told yet
    finished: bool = False
    depth: int = 0  # 0 for an outer task, 1 for a task inside it, ...

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


Listener = Callable[[ProgressEvent], None]
_listeners: list[Listener] = []
_lock = threading.Lock()
_depth = threading.local()


def add_listener(listener: Listener) -> None:
    with _lock:
        _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[Listener]:
    """Send every task's events to ``listener`` inside the ``with`` block."""
    add_listener(listener)
    try:
        yield listener
    finally:
        remove_listener(listener)


class Task:
    """One piece of long work; a context manager. ``callback`` (optional) gets this task's events
    besides the registered listeners."""

    def __init__(
        self,
        name: str,
        total: float | None = None,
        unit: str = "",
        callback: Listener | None = None,
        min_interval: float = 0.1,
    ):
        self.name = name
        self.total = total
        self.unit = unit
        self.done = 0.0
        self.callback = callback
        self.min_interval = min_interval
        self._t0 = 0.0
        self._last = -float("inf")
        self.depth = 0

    def __enter__(self) -> Task:
        self.depth = getattr(_depth, "n", 0)
        _depth.n = self.depth + 1
        self._t0 = time.perf_counter()
        self._emit(force=True)
        return self

    def __exit__(self, exc_type, *exc) -> None:
        _depth.n = self.depth
        if exc_type is None and self.total:
            self.done = max(self.done, self.total)  # ended normally: all of it is done
        self._emit(force=True, finished=True)

    def update(self, n: float = 1) -> None:
        self.done += n
        self._emit()

    def set(self, done: float) -> None:
        self.done = done
        self._emit()

    def _emit(self, force: bool = False, finished: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last < self.min_interval:
            return
        with _lock:
            targets = list(_listeners)
        if self.callback is not None:
            targets.append(self.callback)
        if not targets:
            return
        self._last = now
        elapsed = now - self._t0
        eta = None
        if self.total and self.done > 0 and (self.done >= 0.05 * self.total or elapsed >= 0.5):
            eta = max(0.0, elapsed * (self.total - self.done) / self.done)
        if finished:
            eta = 0.0
        event = ProgressEvent(
            self.name, self.done, self.total, self.unit, elapsed, eta, finished, self.depth
        )
        for t in targets:
            t(event)


def _clock(s: float | None) -> str:
    if s is None:
        return "?"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def _amount(x: float) -> str:
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.1f}{suffix}"
    return f"{x:.0f}"


def format_bar(event: ProgressEvent, width: int = 24) -> str:
    """``task:  45%|#########           | 4.5M/10.0M rows [00:03<00:04]`` (tqdm's layout)."""
    frac = event.fraction
    if frac is None:
        done = f"{_amount(event.done)} {event.unit} " if event.done else ""
        state = "done " if event.finished else ""
        return f"{event.task}: {done}{state}[{_clock(event.elapsed_s)}]"
    full = int(frac * width)
    bar = "#" * full + " " * (width - full)
    return (
        f"{event.task}: {100 * frac:3.0f}%|{bar}| {_amount(event.done)}/"
        f"{_amount(event.total)} {event.unit} [{_clock(event.elapsed_s)}<"
        f"{_clock(event.eta_s)}]"
    )


class TerminalBar:
    """A listener drawing one bar line on a terminal (``\\r`` redraws; a finished task's line
    stays). It draws nothing unless ``stream`` is a terminal, and only outer tasks."""

    def __init__(self, stream=None, force: bool = False, enabled: bool = True):
        self.stream = stream or sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = enabled and (force or bool(isatty and isatty()))
        self._lock = threading.Lock()
        self._width = 0

    def __call__(self, event: ProgressEvent) -> None:
        if not self.enabled or event.depth > 0:
            return
        line = format_bar(event)
        with self._lock:
            pad = " " * max(0, self._width - len(line))
            self.stream.write("\r" + line + pad + ("\n" if event.finished else ""))
            self.stream.flush()
            self._width = 0 if event.finished else len(line)
