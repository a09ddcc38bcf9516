"""The Dask path: every table model on a 2-worker LocalCluster equals the in-memory fit.

One LocalCluster (2 single-threaded worker processes, one numba thread each) serves the module.
Each model is fitted in memory and distributed from the same start (same seed; the distributed
initialisation runs the model's own ``initialize`` on all rows when the table is small) and the
objective trace, the parameters and every row's label must agree to 1e-10 relative, for one
partition, three equal ones and unequal ones. Also: exact re-seeding of an empty cluster, gmm's
exact second covariance pass, cancel, the CLI with --dask and --out, and a worker killed mid-fit.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
from helpers import checkout_env, run_cli, run_python

from explorer import runner
from explorer.models import get_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_core_imports_without_dask():
    code = (
        "import sys, explorer.cli, explorer.models, explorer.runner, explorer.export; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'"
        ") or m.startswith('explorer.distributed')]; print(bad); "
        "sys.exit(1 if bad else 0)"
    )
    out = run_python("-c", code, env=checkout_env())
    assert out.returncode == 0, out.stdout + out.stderr


pytest.importorskip("distributed", reason="the dask extra is not installed (pip install .[dask])")
pytest.importorskip("pyarrow", reason="the dask extra is not installed (pip install .[dask])")

from helpers import table  # noqa: E402

from explorer.distributed import (  # noqa: E402
    connect,
    distributed_model,
    export,
    from_array,
    load,
)

N = 1800


@pytest.fixture(scope="module")
def cluster():
    cl = connect("local", n_workers=2, dashboard_address=None)
    yield cl
    cl.close()


def blobs(seed=0, n=N, D=3):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0] * D, [4.0] * D, [0.0, 6.0] + [2.0] * (D - 2)])
    z = rng.integers(3, size=n)
    return centres[z] + rng.normal(size=(n, D))


def blobs_truth(seed=0, n=N):
    """The cluster of each row of ``blobs(seed, n)`` (the same draws)."""
    return np.random.default_rng(seed).integers(3, size=n)


def all_labels(model):
    out = model.map(
        lambda part, hp, st, f: f(part, hp, st)[0],
        model.hp,
        model.state(),
        type(model.plan).part_output,
    )
    return np.concatenate(out)


def assert_same(ref, res, rtol=1e-10):
    assert res.iterations == ref.iterations
    assert res.stop_reason == ref.stop_reason
    np.testing.assert_allclose(res.trace, ref.trace, rtol=rtol, atol=0)
    p_ref = ref.model.parameters()
    p_res = res.model.parameters()
    assert p_res, "no parameters"
    for name, value in p_res.items():
        scale = np.max(np.abs(p_ref[name])) if np.size(p_ref[name]) else 1.0
        np.testing.assert_allclose(value, p_ref[name], rtol=rtol, atol=rtol * scale, err_msg=name)
    np.testing.assert_array_equal(all_labels(res.model), np.asarray(ref.model.labels()))


X3 = blobs()
CASES = {
    "kmeans": (X3, {"K": 4, "n_init": 1}),
    "kmedians": (X3, {"K": 3, "n_init": 1}),
    "fuzzy-cmeans": (X3, {"K": 3}),
    "gmm": (X3, {"K": 3}),
    "bernoulli-mixture": ((X3 > 2.0).astype(float), {"K": 2, "n_init": 1}),
    "exponential-mixture": (np.abs(X3) + 0.05, {"K": 2, "n_init": 1}),
    "bayes-gmm": (X3, {"K": 3}),
}
LAYOUTS = {
    "1 partition": [N],
    "3 partitions": [600, 600, 600],
    "unequal partitions": [137, 1400, 263],
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("model_id", list(CASES))
def test_same_result_as_in_memory(cluster, model_id, layout):
    X, hp = CASES[model_id]
    ref = runner.fit(get_model(model_id), table(X), seed=3, **hp)
    data = from_array(cluster.client, X, LAYOUTS[layout])
    try:
        res = runner.fit(distributed_model(model_id), data, seed=3, **hp)
        assert ref.iterations >= 2
        assert_same(ref, res)
    finally:
        data.release()


@pytest.mark.parametrize("model_id", ["kmeans", "gmm"])
def test_snapshot_samples_every_partition_evenly(cluster, model_id):
    # Rows sorted by cluster (as iris is by species): a sample of the first rows would hold one
    # cluster. The sample is every s-th row of the whole table, labelled as the full fit does.
    X = X3[np.argsort(blobs_truth())]
    ref = runner.fit(get_model(model_id), table(X), seed=1, K=3)
    data = from_array(cluster.client, X, [137, 1400, 263])
    model_cls = distributed_model(model_id)
    model_cls.snapshot_rows = 100  # on the class: runner.fit makes the instance
    try:
        res = runner.fit(model_cls, data, seed=1, K=3)
        snap = res.model.snapshot()
    finally:
        del model_cls.snapshot_rows
        data.release()
    rows = snap["sample_rows"]
    np.testing.assert_array_equal(rows, np.arange(0, N, 18))  # 100 rows, stride 18
    np.testing.assert_array_equal(snap["sample_X"], X[rows])
    np.testing.assert_array_equal(snap["labels"], np.asarray(ref.model.labels())[rows])
    assert len(np.unique(snap["labels"])) == 3
    if model_id == "gmm":
        np.testing.assert_allclose(
            snap["memberships"], ref.model.memberships()[rows], rtol=1e-10, atol=1e-12
        )


def test_hardened_fuzzy_cmeans_is_kmeans_distributed(cluster):
    ref = runner.fit(get_model("fuzzy-cmeans"), table(X3), seed=2, K=3, harden=True)
    data = from_array(cluster.client, X3, [700, 1100])
    res = runner.fit(distributed_model("fuzzy-cmeans"), data, seed=2, K=3, harden=True)
    assert_same(ref, res)
    data.release()


@pytest.mark.parametrize("model_id", ["kmeans", "kmedians"])
def test_empty_cluster_reseeded_exactly(cluster, model_id):
    # A centre far from every row gets no rows: both paths move the row farthest from its
    # centre into it (the distributed path finds it across partitions) and agree after.
    X = X3
    centers = np.array([[0.0, 0.0, 0.0], [4.0, 4.0, 4.0], [0.0, 6.0, 2.0], [500.0, 500.0, 500.0]])
    ref_m = get_model(model_id)(K=4, n_init=1)
    ref_m.initialize(table(X), 0, centers=centers)
    ref_m.step()
    assert ref_m._n_reseeded == 1
    data = from_array(cluster.client, X, [500, 800, 500])
    m = distributed_model(model_id)(K=4, n_init=1)
    m.initialize(data, 0, centers=centers)
    m.step()
    assert m.n_reseeded == 1
    np.testing.assert_allclose(m.centers, ref_m._centers, rtol=1e-12)
    np.testing.assert_array_equal(all_labels(m), ref_m.labels())
    for _ in range(5):
        ref_m.step()
        m.step()
    np.testing.assert_allclose(m.centers, ref_m._centers, rtol=1e-12)
    assert m.dist == pytest.approx(ref_m._distortion, rel=1e-12)
    data.release()


def test_kmedians_medians_exact_with_ties_and_even_counts(cluster):
    # Rounded values: many ties and both parities of cluster sizes; medians are order statistics
    # (or midpoints of two), so they must be equal exactly, not approximately.
    rng = np.random.default_rng(5)
    X = np.round(np.concatenate([rng.normal(0, 3, (1001, 2)), rng.normal(20, 3, (998, 2))]), 1)
    ref = runner.fit(get_model("kmedians"), table(X), seed=1, K=2, n_init=1)
    data = from_array(cluster.client, X, [333, 999, 667])
    res = runner.fit(distributed_model("kmedians"), data, seed=1, K=2, n_init=1)
    np.testing.assert_array_equal(res.model.centers, ref.model._centers)
    np.testing.assert_array_equal(all_labels(res.model), ref.model.labels())
    data.release()


def test_gmm_exact_second_pass(cluster):
    # Means started 1e4 away (as in test_gmm): the first M-step flags the covariances for the
    # exact second pass, which the distributed path runs on the partitions too.
    X = blobs(9, n=600)
    w0 = np.array([0.4, 0.6])
    mu0 = np.array([X[0] + 1e4, X[1] - 1e4])
    P0 = np.array([np.eye(3) * 1e-8, np.eye(3) * 1e-8])
    ref = get_model("gmm")(K=2)
    ref.initialize(table(X), 0, weights=w0, means=mu0, precisions=P0)
    data = from_array(cluster.client, X, [200, 400])
    m = distributed_model("gmm")(K=2)
    m.initialize(data, 0, weights=w0, means=mu0, precisions=P0)
    redone = []
    for _ in range(3):
        assert m.step() == pytest.approx(ref.step(), rel=1e-10)
        redone.append(m.n_redo)
    assert redone[0] == 2  # both covariances recomputed by the partitions' exact pass
    np.testing.assert_allclose(m.st["covariances"], ref.covariances, rtol=1e-10)
    np.testing.assert_allclose(m.st["means"], ref.means, rtol=1e-10)
    data.release()


def test_bernoulli_refuses_non_binary(cluster):
    from explorer.data.types import DataError

    data = from_array(cluster.client, X3, [900, 900])
    with pytest.raises(DataError, match="0/1"):
        runner.fit(distributed_model("bernoulli-mixture"), data, seed=0, K=2)
    data.release()


def test_fit_is_the_runner_fit_of_the_loaded_file(cluster, tmp_path):
    """explorer.distributed.fit, the Python front door: load, fit and export in one call, the run
    options and the hyperparameters' values handed to the runner."""
    from explorer.distributed import fit

    path = tmp_path / "x.csv"
    np.savetxt(path, blobs(), delimiter=",", header="a,b,c", comments="")
    ref = runner.fit(distributed_model("gmm"), load(cluster.client, str(path)), seed=3, K=3)
    seen, said = [], []
    res = fit(
        "gmm",
        str(path),
        cluster=cluster,
        out=tmp_path / "out",
        log=said.append,
        seed=3,
        K=3,
        callback=seen.append,
    )
    assert res.trace == ref.trace and res.model.hp.K == 3 and res.seed == 3
    assert seen[-1].done and said[0].startswith("Dask dashboard: ")
    assert (tmp_path / "out" / "result.json").is_file()


def test_cancel_leaves_no_task_running(cluster):
    data = from_array(cluster.client, X3, [900, 900])
    control = runner.RunControl()
    model_cls = distributed_model("gmm")
    model_cls.snapshot_rows = 500  # a sample of every 4th row, never all 1800

    def cb(p):
        if p.iteration == 2:
            control.cancel()
        snap = p.snapshot
        assert snap is not None and len(snap["labels"]) == 450
        assert snap["centers"].shape == (3, 3)

    try:
        watched = dict(callback=cb, snapshot_interval=0.0, control=control)
        res = runner.fit(model_cls, data, seed=0, K=3, tol=0.0, max_iter=50, **watched)
    finally:
        del model_cls.snapshot_rows
    assert res.cancelled and res.iterations == 2
    assert not any(cluster.client.processing().values())
    data.release()


def write_parquet(X, folder, files=2, row_group=400):
    import pyarrow as pa
    import pyarrow.parquet as pq

    os.makedirs(folder, exist_ok=True)
    bounds = np.linspace(0, len(X), files + 1).astype(int)
    for i in range(files):
        part = X[bounds[i] : bounds[i + 1]]
        pq.write_table(
            pa.table({f"c{j}": part[:, j] for j in range(X.shape[1])}),
            os.path.join(folder, f"f{i}.parquet"),
            row_group_size=row_group,
        )


def test_cli_dask_out(cluster, tmp_path, capsys):
    import pyarrow.parquet as pq

    from explorer.cli import main

    write_parquet(X3, tmp_path / "data")
    rc = main(
        [
            "fit",
            "gmm",
            str(tmp_path / "data"),
            "--dask",
            cluster.client.scheduler.address,
            "--K",
            "3",
            "--seed",
            "3",
            "--partition-rows",
            "500",
            "--quiet",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "dashboard" in out.err
    ref = runner.fit(get_model("gmm"), table(X3), seed=3, K=3)
    import json

    d = json.loads((tmp_path / "out" / "result.json").read_text())
    assert d["iterations"] == ref.iterations
    assert d["objective"]["final"] == pytest.approx(ref.final_objective, rel=1e-10)
    with np.load(tmp_path / "out" / "parameters.npz") as npz:
        np.testing.assert_allclose(npz["means"], ref.model.means, rtol=1e-10)
        assert "responsibilities" not in npz
    tab = pq.read_table(tmp_path / "out" / "assignments").to_pandas().sort_values("row")
    assert len(list((tmp_path / "out" / "assignments").glob("*.parquet"))) == 4
    np.testing.assert_array_equal(tab["row"], np.arange(N))
    np.testing.assert_array_equal(tab["label"], ref.model.labels())
    np.testing.assert_allclose(tab[["p0", "p1", "p2"]].to_numpy(), ref.model.resp, atol=1e-10)


def test_csv_glob_source(cluster, tmp_path):
    import pandas as pd

    for i in range(3):
        pd.DataFrame(X3[i * 600 : (i + 1) * 600], columns=["a", "b", "c"]).to_csv(
            tmp_path / f"x{i}.csv", index_label="id"
        )
    data = load(cluster.client, str(tmp_path / "x*.csv"), partition_rows=250)
    assert data.shape == (N, 3) and data.columns == ["a", "b", "c"] and len(data.parts) == 9
    ref = runner.fit(get_model("kmeans"), table(X3), seed=0, K=3, n_init=1)
    res = runner.fit(distributed_model("kmeans"), data, seed=0, K=3, n_init=1)
    assert_same(ref, res)
    data.release()


@pytest.mark.parametrize("model_id", ["kmeans", "gmm"])
def test_worker_killed_mid_fit(cluster, tmp_path, model_id):
    # A worker process is killed (SIGKILL) after iteration 2: its partitions are read again from
    # their files on the other (or restarted) worker, the kmeans label cache is rebuilt from the
    # centres, and the fit ends with the in-memory result.
    X = blobs(4)
    write_parquet(X, tmp_path / "data", files=3, row_group=300)
    client = cluster.client
    data = load(client, str(tmp_path / "data"))
    assert len(data.parts) == 6
    killed = []

    def cb(p):
        if p.iteration == 2 and not killed:
            pids = client.run(os.getpid)
            addr, pid = sorted(pids.items())[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    hp = {"K": 3, "n_init": 1} if model_id == "kmeans" else {"K": 3}
    # a start that needs iterations after the kill (kmeans from seed 1 converges at iteration 2
    # since the k-means++ rows are drawn in the canonical row order; seed 2 takes 4)
    seed = 2 if model_id == "kmeans" else 1
    res = runner.fit(
        distributed_model(model_id),
        data,
        seed=seed,
        callback=cb,
        snapshot_interval=0.0,
        snapshots=False,
        tol=0.0,
        max_iter=8,
        **hp,
    )
    assert res.iterations > 2  # the fit went on after the kill
    assert len(killed) == 1  # killed once, at iteration 2 ...
    assert killed[0] not in client.run(os.getpid).values()  # ... and that worker is gone
    ref = runner.fit(get_model(model_id), table(X), seed=seed, tol=0.0, max_iter=8, **hp)
    assert_same(ref, res)
    data.release()
    client.wait_for_workers(2, timeout=60)


def test_export_writes_assignments(cluster, tmp_path):
    data = from_array(cluster.client, X3, [1000, 800])
    res = runner.fit(distributed_model("kmedians"), data, seed=0, K=3, n_init=1)
    paths = export(res, tmp_path / "o")
    import pyarrow.parquet as pq

    tab = pq.read_table(paths["assignments"]).to_pandas().sort_values("row")
    assert list(tab.columns) == ["row", "label"]
    np.testing.assert_array_equal(tab["label"], all_labels(res.model))
    data.release()


@pytest.mark.parametrize(
    "address, timeout",
    [
        ("tcp://127.0.0.1:1", "1"),  # nothing listens: refused until the timeout
        ("tcp://no-such-host.invalid:8786", "1"),  # unknown host
        ("not an address", None),  # was a ValueError traceback
    ],
)
def test_cli_bad_scheduler_address_is_one_line(tmp_path, address, timeout):
    """Before: 32 s and a 55-line traceback (exit 1), or a ValueError traceback. Now one line,
    exit 2, after --dask-timeout seconds (default 5)."""
    csv_path = tmp_path / "x.csv"
    csv_path.write_text("a,b\n1,2\n3,4\n5,6\n")
    args = ["fit", "kmeans", csv_path, "--K", "2", "--dask", address]
    if timeout:
        args += ["--dask-timeout", timeout]
    r = run_cli(*args, env=checkout_env(), timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and address in r.stderr, r.stderr
    assert r.stderr.startswith("explorer: error: --dask ")


def test_cli_nan_partition_is_one_line_without_a_worker_traceback(tmp_path):
    """The right one-line error came with the worker's "Compute Failed" traceback on stderr."""
    csv_path = tmp_path / "nan.csv"
    csv_path.write_text("a,b\n1,2\n3,nan\n5,6\n")
    r = run_cli("fit", "kmeans", csv_path, "--K", "2", "--dask", "local", env=checkout_env())
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("Dask: local cluster") and len(lines) == 2, r.stderr
    assert lines[1] == (
        f"explorer: error: {csv_path}, column 'b': row 2 of this file has nan "
        "(empty cells, NaN and inf are not allowed)"
    )
