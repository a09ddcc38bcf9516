"""The window's responsiveness while it writes an export: the figure behind issue 21's target.

The window (offscreen) fits the a-MMSB to the 20,000-node planted network (shared/benchmarks,
a few iterations: the fit is not what is measured), then exports it twice while a 5 ms QTimer
records when the event loop serves it:

* as the window does: Export results on the window's job (explorer.gui.worker), the GUI thread
  free;
* as it did before issue 21, for comparison: the same export_result call on the GUI thread.

The longest gap between ticks is how long the window could not answer a click. Target: under
100 ms on a quiet machine for the first. The machine's load average is printed with the figures.

    QT_QPA_PLATFORM=offscreen python bench/bench_export_responsiveness.py [--max-iter 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from explorer.export import export_result  # noqa: E402
from explorer.gui.main_window import MainWindow  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NETWORK = "benchmarks/networks/oppm_n20000_k50.tsv"


def shared() -> Path:
    env = os.environ.get("EXPLORER_SHARED", "").strip()
    return Path(env) if env else ROOT.parent / "shared"


def gaps_while(app, work) -> tuple[np.ndarray, float]:
    """Event-loop gaps (s) while ``work(done)`` runs; it calls ``done()`` when finished."""
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    finished = []
    timer.start()
    t0 = time.perf_counter()
    ticks.append(t0)
    work(lambda *_a: finished.append(time.perf_counter()))
    while not finished:
        app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 50)
    elapsed = finished[0] - t0
    loop = QEventLoop()
    QTimer.singleShot(50, loop.quit)
    loop.exec()
    timer.stop()
    ticks.append(time.perf_counter())
    return np.diff(ticks), elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-iter", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    path = shared() / NETWORK
    if not path.is_file():
        print(f"the planted network is not at {path} (set EXPLORER_SHARED)", file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication(sys.argv[:1])
    tmp = Path(tempfile.mkdtemp(prefix="bench-export-"))
    window = MainWindow(
        QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat), interactive=False
    )
    window.resize(1400, 900)
    window.show()
    assert window.open_file(path, kind="network")
    assert window.select_model("ammsb")
    window.model_panel.set_run_settings({"max_iter": args.max_iter})
    loop = QEventLoop()
    window.run_finished.connect(lambda *_a: loop.quit())
    t0 = time.perf_counter()
    assert window.start_run()
    loop.exec()
    print(
        f"fit: {window.result.iterations} iterations in {time.perf_counter() - t0:.1f} s "
        f"({window.data.describe()})"
    )
    rows = []
    for r in range(args.repeats):
        out = tmp / f"job-{r}"

        def on_job(done, out=out):
            window.exported.connect(done)
            window.export_results(out)

        gaps, took = gaps_while(app, on_job)
        window.exported.disconnect()
        rows.append(("window's job", gaps, took))
        out = tmp / f"gui-{r}"

        def on_gui_thread(done, out=out):
            export_result(window.result, out)
            done()

        gaps, took = gaps_while(app, on_gui_thread)
        rows.append(("GUI thread (before)", gaps, took))
    print("load average: " + " ".join(f"{v:.1f}" for v in os.getloadavg()))
    print(f"{'export on':22s} {'written in':>10s} {'longest gap':>12s} {'p99 gap':>9s}")
    for name, gaps, took in rows:
        print(
            f"{name:22s} {took * 1e3:8.0f} ms {gaps.max() * 1e3:9.0f} ms "
            f"{np.percentile(gaps, 99) * 1e3:6.0f} ms"
        )
    window.interactive = False
    window.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
