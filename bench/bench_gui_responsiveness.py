"""The window's responsiveness during a long fit: the strict figure behind the test's claim.

The window (offscreen) runs soft k-means on 100,000 rows (K = 5; a numba step releasing the GIL,
2 ms of extra pace) for 3 s while a 5 ms QTimer records when the event loop serves it. The gaps
between ticks are how long the loop could not answer. Target on a quiet machine: the longest gap
under 100 ms. tests/test_gui_window.py keeps a load-tolerant version of this claim (95th
percentile against a baseline); this script reports the strict one, over several repeats, with
the machine's load average so that a figure measured on a busy machine is recognised as such.

    QT_QPA_PLATFORM=offscreen python bench/bench_gui_responsiveness.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import numpy as np  # noqa: E402
from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from explorer.data import gaussian_blobs  # noqa: E402
from explorer.gui.main_window import MainWindow  # noqa: E402
from explorer.models import _REGISTRY, registry  # noqa: E402

LIMIT_S = 0.100


def wait(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def one_run(app, window, seconds: float) -> dict:
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    window.heavy_updates = 0
    window.redraw_times.clear()
    timer.start()
    assert window.start_run()
    wait(int(seconds * 1000))
    done = []
    window.run_finished.connect(lambda *a: done.append(1))
    window.cancel_run()
    t0 = time.perf_counter()
    while not done and time.perf_counter() - t0 < 10:
        app.processEvents()
    timer.stop()
    gaps = np.diff(ticks)
    return {
        "max": gaps.max(),
        "p99": np.percentile(gaps, 99),
        "p95": np.percentile(gaps, 95),
        "median": np.median(gaps),
        "ticks": len(ticks),
        "redraws": window.heavy_updates,
        "redraw_max": max(window.redraw_times) if window.redraw_times else float("nan"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0)
    ns = ap.parse_args()

    from test_gui_window import FakeSoftKMeans, _soft_step

    app = QApplication.instance() or QApplication([])
    models = dict(registry(), **{FakeSoftKMeans.id: FakeSoftKMeans})
    _REGISTRY[FakeSoftKMeans.id] = FakeSoftKMeans
    tmp = tempfile.mkdtemp()
    settings = QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, models=models)
    window.resize(1300, 850)
    window.show()
    data = gaussian_blobs(100_000, K=5, D=2, seed=1)
    _soft_step(data.X[:10].copy(), data.X[:2].copy(), np.zeros((10, 2)))  # compile first
    window.set_data(data)
    assert window.select_model(FakeSoftKMeans.id)
    window.model_panel.form.set_values({"K": 5, "step_ms": 2})
    window.model_panel.set_run_settings({"max_iter": 100_000, "tol": 0.0})
    wait(300)

    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    runs = []
    for r in range(ns.repeats):
        res = one_run(app, window, ns.seconds)
        runs.append(res)
        print(
            f"run {r + 1}: longest gap {res['max'] * 1e3:6.1f} ms, p99 {res['p99'] * 1e3:5.1f}, "
            f"p95 {res['p95'] * 1e3:5.1f}, median {res['median'] * 1e3:4.1f} ms; "
            f"{res['ticks']} ticks; {res['redraws']} heavy redraws "
            f"(longest {res['redraw_max'] * 1e3:.1f} ms); load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
    longest = np.median([r["max"] for r in runs])
    print(
        f"median over {len(runs)} runs of the longest gap: {longest * 1e3:.1f} ms "
        f"(target < {LIMIT_S * 1e3:.0f} ms on a quiet machine)"
    )
    window.close()
    return 0 if longest < LIMIT_S else 1


if __name__ == "__main__":
    sys.exit(main())
