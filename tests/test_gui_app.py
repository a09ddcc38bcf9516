"""`explorer gui ...` end to end (subprocess), the PySide6 pin, and screenshots of real fits."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, QT_QPA_PLATFORM="offscreen")


def explorer(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "explorer.cli", *map(str, args)],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_scripted_run_writes_window_and_plot_pngs(tmp_path, sample_dir):
    from PySide6.QtGui import QImage

    shot = tmp_path / "window.png"
    plots = tmp_path / "plots"
    r = explorer(
        "gui",
        sample_dir / "iris.csv",
        "--model",
        "kmeans",
        "--K",
        "3",
        "--labels",
        "species",
        "--run",
        "--screenshot",
        shot,
        "--plots",
        plots,
    )
    assert r.returncode == 0, r.stderr
    img = QImage(str(shot))
    assert (img.width(), img.height()) == (1400, 900)
    names = sorted(p.name for p in plots.iterdir())
    # only the plots that apply: no adjacency for a table, no simplex for K-means
    assert names == ["data.png", "ground_truth.png", "objective.png"]
    # the data plot is not blank: many distinct colours (three clusters + centres)
    data = QImage(str(plots / "data.png"))
    ptr = data.constBits()
    arr = np.frombuffer(ptr, dtype=np.uint8, count=data.sizeInBytes())
    assert len(np.unique(arr.reshape(-1, 4)[::7], axis=0)) > 20


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--model", "kmeans", "--K", "0"], "K"),  # below its range
        (["--model", "no-such-model"], "unknown model"),
        (["--model", "kmeans", "--K", "500"], "larger than the number of rows"),
    ],
)
def test_scripted_run_bad_input_exits_2(tmp_path, sample_dir, args, needle):
    r = explorer("gui", sample_dir / "iris.csv", *args, "--run", "--screenshot", tmp_path / "x.png")
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.png").exists()


def test_scripted_run_bad_file_exits_2(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,oops\n")
    r = explorer(
        "gui", bad, "--model", "kmeans", "--K", "2", "--run", "--screenshot", tmp_path / "x.png"
    )
    assert r.returncode == 2 and "bad.csv" in r.stderr and "line 3" in r.stderr


def test_pyside6_pin_many_setdata_calls_exit_cleanly(tmp_path):
    # PySide6 6.12.0 passes such a test but aborts at interpreter exit (exit code 134,
    # "Fatal Python error: bool_dealloc"); the pin (<6.12) keeps the exit code 0.
    test = tmp_path / "test_many_setdata.py"
    test.write_text(
        textwrap.dedent("""
        import numpy as np
        import pyqtgraph as pg

        def test_many(qtbot):
            w = pg.PlotWidget()
            qtbot.addWidget(w)
            curve = w.plot()
            x = np.arange(100.0)
            for i in range(3000):
                curve.setData(x, np.sin(x + i))
            assert len(curve.getData()[0]) == 100
    """)
    )
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "1 passed" in r.stdout


def test_screenshots_of_real_fits(qtbot, tmp_path, sample_dir, artifacts_dir):
    """PNGs of the window and of every plot after real fits, into test_artifacts/screenshots/
    (people open them to see what the window looks like)."""
    from PySide6.QtCore import QSettings

    from explorer.gui.main_window import MainWindow

    out = artifacts_dir / "screenshots"
    out.mkdir(exist_ok=True)
    cases = [
        ("old_faithful_gmm", sample_dir / "old_faithful.csv", {}, "gmm", {"K": 2}),
        ("iris_fuzzy", sample_dir / "iris.csv", {"labels": "species"}, "fuzzy-cmeans", {"K": 3}),
        (
            "karate_ammsb",
            sample_dir / "karate" / "edges.csv",
            {"labels": str(sample_dir / "karate" / "nodes.csv") + ":club"},
            "ammsb",
            {"K": 2},
        ),
        (
            "football_ammsb",
            sample_dir / "football" / "edges.csv",
            {"labels": str(sample_dir / "football" / "nodes.csv") + ":conference"},
            "ammsb",
            {"K": 12},
        ),
    ]
    for name, path, options, model_id, hp in cases:
        settings = QSettings(str(tmp_path / f"{name}.ini"), QSettings.Format.IniFormat)
        w = MainWindow(settings)
        qtbot.addWidget(w)
        w.resize(1400, 900)
        w.show()
        assert w.open_file(path, **options)
        assert w.select_model(model_id)
        w.model_panel.form.set_values(hp)
        with qtbot.waitSignal(w.run_finished, timeout=60_000) as blocker:
            assert w.start_run()
        assert blocker.args[0].iterations > 0
        qtbot.wait(50)
        written = w.save_screenshots(out / f"{name}_window.png", out / name)
        assert len(written) == 1 + sum(p.applies() for p in w.plots)
        for p in written:
            assert p.stat().st_size > 5_000, p
        w.close()
