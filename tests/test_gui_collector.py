"""Cyclic garbage collection stays in the GUI thread while a window is open
(explorer/gui/collector.py): a collection in a fit thread that frees a Qt object can deadlock
with the GUI thread, as it once hung the whole test suite."""

import gc
import threading

import pytest

pytest.importorskip("pytestqt")

from explorer.gui import collector  # noqa: E402
from explorer.gui.main_window import MainWindow  # noqa: E402


def make_cycles(n):
    for _ in range(n):
        a = []
        a.append(a)  # garbage only the cyclic collector can free


def test_only_the_gui_thread_collects_while_a_window_is_open(qtbot, settings):
    was_enabled = gc.isenabled()
    window = MainWindow(settings, interactive=False)
    qtbot.addWidget(window)
    collecting_threads = []

    def record(phase, info):
        if phase == "start":
            collecting_threads.append(threading.current_thread())

    gc.callbacks.append(record)
    try:
        worker = threading.Thread(target=make_cycles, args=(50_000,))
        worker.start()
        worker.join()
        # 50,000 cycles would have set off dozens of collections in the worker thread
        assert collecting_threads == []
        qtbot.waitUntil(lambda: len(collecting_threads) > 0, timeout=5_000)
        assert set(collecting_threads) == {threading.main_thread()}
        assert gc.get_count()[0] <= gc.get_threshold()[0]
    finally:
        gc.callbacks.remove(record)
    window.close()
    assert collector.holders() == 0
    assert gc.isenabled() == was_enabled


def test_claims_nest_and_release_once(qapp):
    was_enabled = gc.isenabled()
    first, second = collector.hold(), collector.hold()
    assert collector.holders() == 2 and not gc.isenabled()
    assert gc.get_freeze_count() > 0  # the heap of the first claim is left out of passes
    first.release()
    first.release()  # a second release of the same claim does nothing
    assert collector.holders() == 1 and not gc.isenabled()
    second.release()
    assert collector.holders() == 0 and gc.isenabled() == was_enabled
    assert gc.get_freeze_count() == 0
