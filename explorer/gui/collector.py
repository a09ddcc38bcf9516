"""Python's cyclic garbage collection, run only in the GUI thread while background threads run.

Why: the automatic collector runs in whichever thread happens to allocate when a generation's
count passes its threshold. When that is a fit thread (numba compiling, the runner copying a
snapshot) and the garbage holds a Qt object (a widget of a closed window, a plot item in a
reference cycle), the object's C++ destructor runs in that thread: it takes one of Qt's
signal-slot locks, then waits for the GIL to ask PySide for a Python override. The GUI thread,
holding the GIL while PySide deletes another widget, waits for that same lock: both wait forever.
This hung the test suite (and so CI) in a window test whose fit thread was compiling a kernel; a
user's window could hang the same way.

What: while anything holds this module (:func:`hold`: every open window, every running sweep
thread), the automatic collector is off and a timer in the GUI thread collects instead,
generation by generation, by the collector's own thresholds (``gc.get_threshold()``), so garbage
is collected about as often as before, but always in the GUI thread. The objects alive when the
first claim is made (the imported modules of numba, SciPy, pyqtgraph...: most of the heap) are
frozen (``gc.freeze``) for the held time, so a full pass scans only what was made since: a full
pass over the whole heap is a pause of 100-500 ms of the event loop on a loaded 2-core machine.
When the last holder releases, they are unfrozen, one full collection runs here and the
automatic collector is restored as it was.
pyqtgraph answers the same hazard the same way (``pyqtgraph.util.garbage_collector``).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QTimer

# How often the GUI thread looks at the collector's counts. Between two looks the young
# generation grows unchecked, and its pass is one pause of the event loop: a drawing window
# allocates thousands of objects in 100 ms, whose pass then took up to 100 ms under load; looking
# every 20 ms keeps each pass short (a look costs microseconds).
CHECK_INTERVAL_MS = 20

_holders = 0
_timer: QTimer | None = None
_was_enabled = True


def _collect_due() -> None:
    """Collect the generations whose counts passed their thresholds (gc's own rule)."""
    counts = gc.get_count()
    thresholds = gc.get_threshold()
    due = -1
    for generation in range(3):
        if thresholds[generation] and counts[generation] > thresholds[generation]:
            due = generation
        else:
            break
    if due >= 0:
        gc.collect(due)


class Hold:
    """One holder's claim; :meth:`release` ends it (once; later calls do nothing)."""

    def __init__(self):
        global _holders, _timer, _was_enabled
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
            gc.freeze()
            if _timer is None:
                _timer = QTimer()
                _timer.setInterval(CHECK_INTERVAL_MS)
                _timer.timeout.connect(_collect_due)
            _timer.start()
        _holders += 1
        self.held = True

    def release(self) -> None:
        global _holders
        if not self.held:
            return
        self.held = False
        _holders -= 1
        if _holders == 0:
            _timer.stop()
            gc.unfreeze()
            gc.collect()  # what the held time left, here in the GUI thread
            if _was_enabled:
                gc.enable()


def hold() -> Hold:
    """Keep collection in the GUI thread until the returned claim is released. Call from the GUI
    thread."""
    return Hold()


def holders() -> int:
    """How many claims are held now (for tests and diagnostics)."""
    return _holders
