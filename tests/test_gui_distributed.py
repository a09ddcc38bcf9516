"""The window's "Run on: local cluster" (pytest-qt, offscreen; skipped without the dask extra).

One window serves the module: its own "local cluster" choice starts a LocalCluster of 2 worker
processes (1 thread each) on the first run, the later tests reuse it, and the last test closes the
window and checks that no worker process is left. A fit through the window must equal the
in-memory fit from the same seed (objective to 1e-10 relative, every exported label); cancel stops
after the current iteration with no task left running on the cluster.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from helpers import export_to  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from explorer import runner  # noqa: E402
from explorer.gui import cluster as gui_cluster  # noqa: E402
from explorer.gui.main_window import MainWindow  # noqa: E402
from explorer.models import get_model  # noqa: E402

HAVE_DASK = gui_cluster.dask_status() is None
needs_dask = pytest.mark.skipif(
    not HAVE_DASK, reason="the dask extra is not installed (pip install .[dask])"
)
RUN_TIMEOUT_MS = 240_000  # a LocalCluster start and the workers' first imports, on 2 busy cores


def blobs_csv(path, n=600, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 4.0, 0.0], [0.0, 6.0, 3.0]])
    z = rng.integers(3, size=n)
    X = centres[z] + rng.normal(size=(n, 3))
    with open(path, "w") as fh:
        fh.write("a,b,c,truth\n")
        for row, k in zip(X, z):
            fh.write(",".join(f"{v:.17g}" for v in row) + f",g{k}\n")
    return path


def new_window(tmp_path) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    return MainWindow(settings, interactive=False)


def children() -> set[int]:
    """This process's child processes, less Python's multiprocessing resource tracker (one per
    process that ever spawned a child: it exits with this process, not with a cluster)."""
    import psutil

    out = set()
    for c in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" in " ".join(c.cmdline()):
                continue
            if c.status() != psutil.STATUS_ZOMBIE:
                out.add(c.pid)
        except psutil.NoSuchProcess:
            pass
    return out


# ---- without a cluster ------------------------------------------------------------------------
def test_choice_disabled_without_dask(qtbot, tmp_path):
    w = new_window(tmp_path)
    qtbot.addWidget(w)
    w.dask_missing = "Dask is not installed: " + gui_cluster.INSTALL_HINT
    w.open_file(blobs_csv(tmp_path / "t.csv"), labels="truth")
    w.select_model("gmm")
    combo = w.run_panel.run_on.combo
    assert w.run_panel.run_on.mode() == "here"
    for i in (1, 2):
        item = combo.model().item(i)
        assert not item.isEnabled()
        assert "pip install .[dask]" in item.toolTip()
    w.close()


@needs_dask
def test_choice_disabled_for_network_models_and_enabled_for_tables(qtbot, tmp_path, sample_dir):
    w = new_window(tmp_path)
    qtbot.addWidget(w)
    w.open_file(blobs_csv(tmp_path / "t.csv"), labels="truth")
    w.select_model("kmeans")
    item = w.run_panel.run_on.combo.model().item(1)
    assert item.isEnabled()
    w.run_panel.run_on.set_target({"mode": "local", "workers": 2})
    w.open_file(sample_dir / "karate" / "edges.csv", kind="network")
    assert w.data.kind == "network"
    assert not item.isEnabled()
    assert "table" in item.toolTip()
    assert w.run_panel.run_on.mode() == "here"  # fell back
    w.close()


@needs_dask
def test_window_models_are_the_distributed_ones():
    from explorer.distributed import DISTRIBUTED_MODELS

    assert tuple(gui_cluster.DISTRIBUTED_MODELS) == tuple(DISTRIBUTED_MODELS)


@needs_dask
def test_run_on_a_scheduler_address_leaves_that_cluster_running(qtbot, tmp_path):
    from distributed import LocalCluster

    outside = LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    )
    try:
        w = new_window(tmp_path)
        qtbot.addWidget(w)
        w.open_file(blobs_csv(tmp_path / "t.csv", n=300, seed=4), labels="truth")
        w.run_panel.run_on.set_target({"mode": "scheduler", "address": outside.scheduler_address})
        assert w.run_panel.run_on.mode() == "scheduler"
        res = run_and_wait(qtbot, w, "kmeans", {"K": 3, "n_init": 1}, seed=5)
        ref = runner.fit(get_model("kmeans"), w.data, seed=5, K=3, n_init=1)
        assert gui_cluster.is_distributed(res)
        assert res.final_objective == pytest.approx(ref.final_objective, rel=1e-10, abs=0)
        assert (
            f"connecting to the Dask scheduler at {outside.scheduler_address}"
            in w.log_view.toPlainText()
        )
        w.close()
        assert w.cluster_holder.cluster is None
        assert outside.status.name == "running"  # not ours to close
    finally:
        outside.close()


# ---- on a local cluster started by the window -----------------------------------------------
@pytest.fixture(scope="module")
def dask_window(qapp, tmp_path_factory):
    if not HAVE_DASK:
        pytest.skip("the dask extra is not installed (pip install .[dask])")
    tmp = tmp_path_factory.mktemp("dask_window")
    before = children()
    w = MainWindow(
        QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat), interactive=False
    )
    w.open_file(blobs_csv(tmp / "blobs.csv"), labels="truth")
    w.run_panel.run_on.set_target({"mode": "local", "workers": 2})
    assert w.run_panel.run_on.mode() == "local"
    w.test_tmp = tmp
    w.children_before = before
    yield w
    w.close()


def run_and_wait(qtbot, w, model_id, hp, **run_settings):
    assert w.select_model(model_id)
    w.model_panel.form.set_values(hp)
    w.model_panel.set_run_settings(run_settings)
    with qtbot.waitSignal(w.run_finished, timeout=RUN_TIMEOUT_MS) as blocker:
        assert w.start_run()
    return blocker.args[0]


@needs_dask
def test_fit_through_window_equals_in_memory(qtbot, dask_window):
    w = dask_window
    res = run_and_wait(qtbot, w, "gmm", {"K": 3}, seed=2, max_iter=300, tol=1e-8)
    assert gui_cluster.is_distributed(res)
    assert w.cluster_holder.key == ("local", 2)
    assert len(w.cluster_holder.cluster.client.scheduler_info()["workers"]) == 2
    assert res.data.lengths == [300, 300]  # one partition per worker
    ref = runner.fit(get_model("gmm"), w.data, seed=2, max_iter=300, tol=1e-8, K=3)
    assert res.iterations == ref.iterations >= 2
    assert res.final_objective == pytest.approx(ref.final_objective, rel=1e-10, abs=0)
    np.testing.assert_allclose(res.trace, ref.trace, rtol=1e-10, atol=0)
    log = w.log_view.toPlainText()
    assert "dashboard: " in log
    # the data view draws the snapshot's sample and says so
    w.tabs.setCurrentWidget(w.data_view)
    w.flush_plots()
    assert "sample of 600 rows" in w.data_view.info.text()  # every row (at most 20,000)
    np.testing.assert_array_equal(w.data_view.fit_snapshot["sample_rows"], np.arange(600))
    np.testing.assert_array_equal(
        w.data_view.fit_snapshot["labels"],
        np.asarray(ref.model.labels())[w.data_view.fit_snapshot["sample_rows"]],
    )
    assert "NMI" in w.confusion_panel.info.text() or w.confusion_panel.fit_snapshot is None
    # export: result.json and parameters here, every row's label written by the workers
    import pyarrow.parquet as pq

    out = export_to(qtbot, w, w.test_tmp / "export")
    assert out is not None and (w.test_tmp / "export" / "result.json").is_file()
    table = pq.read_table(w.test_tmp / "export" / "assignments").to_pandas().sort_values("row")
    np.testing.assert_array_equal(table["row"].to_numpy(), np.arange(600))
    np.testing.assert_array_equal(table["label"].to_numpy(), np.asarray(ref.model.labels()))


@needs_dask
def test_cancel_stops_after_the_iteration_and_leaves_no_task(qtbot, dask_window):
    w = dask_window
    assert w.select_model("gmm")
    # K = 12 on three blobs: EM reaches an exact fixed point only after about 1,300 iterations
    # (K = 3 got there in 11, before a cancel sent at iteration 3 arrived on a loaded machine)
    w.model_panel.form.set_values({"K": 12})
    w.model_panel.set_run_settings({"seed": 0, "max_iter": 1_000_000, "tol": 0.0})
    assert w.start_run()
    qtbot.waitUntil(lambda: w.run_panel.progress.value() >= 3, timeout=RUN_TIMEOUT_MS)
    with qtbot.waitSignal(w.run_finished, timeout=60_000) as blocker:
        w.cancel_run()
    res = blocker.args[0]
    assert res.cancelled and res.stop_reason == "cancelled"
    assert 3 <= res.iterations < 1_000_000
    assert w.cluster_holder.processing() == 0
    assert not w.is_running()
    assert "cancelled" in w.run_panel.status.text()
    # the cancelled run's last state is exportable too
    assert export_to(qtbot, w, w.test_tmp / "cancelled")["result"].is_file()


@needs_dask
def test_closing_the_window_closes_its_cluster(qtbot, dask_window):
    w = dask_window
    if w.cluster_holder.cluster is None:  # run alone: start the cluster first
        run_and_wait(qtbot, w, "kmeans", {"K": 3}, seed=0)
    pids = w.cluster_holder.worker_pids()
    assert len(pids) == 2 and all(p in children() for p in pids)
    w.close()
    assert w.cluster_holder.cluster is None
    import psutil

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (children() - w.children_before):
        time.sleep(0.2)
    assert not (children() - w.children_before), "processes left after closing the window"
    assert not any(
        psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids
    )
    assert os.getpid() not in pids
