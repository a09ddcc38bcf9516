"""The Dask path reports a degenerate state as the in-memory fit does (issue 22, item 7 on Dask).

Before, only the exponential mixture's plan had a degeneracy check: kmeans, kmedians and fuzzy
c-means with K = 3 on identical rows, gmm on a point mass or with a constant column, a Bernoulli
mixture on all-zero data and bayes-gmm on identical rows all came back "converged" (or "iteration
limit"), and ``explorer fit ... --dask`` exited 0 even where the plan did answer. Now every model
the Dask path fits asks the in-memory model's own ``degeneracy()`` about its state: the stop
reason is the in-memory one word for word (the advice included: how many distinct rows, which
column is constant, found on the cluster), and the CLI exits 3.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("distributed", reason="the dask extra is not installed (pip install .[dask])")
pytest.importorskip("pyarrow", reason="the dask extra is not installed (pip install .[dask])")

from helpers import table  # noqa: E402

from explorer import runner  # noqa: E402
from explorer.distributed import connect, distributed_model, from_array  # noqa: E402
from explorer.models import get_model  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    cl = connect("local", n_workers=2, dashboard_address=None)
    yield cl
    cl.close()


_rng = np.random.default_rng(0)
SAME = np.tile([[1.0, 2.0]], (60, 1))  # one distinct row
TWO = np.repeat([[0.0, 0.0], [5.0, 1.0]], 30, axis=0)  # two, one in each half of the rows
CONSTANT = np.c_[_rng.normal(size=240), np.full(240, 3.0)]  # column c1 constant
SMALL = _rng.uniform(0.0, 0.4, size=(90, 4))  # all 0 once binarised at 0.5

CASES = {
    "kmeans identical rows": ("kmeans", SAME, {"K": 3, "n_init": 1}),
    "kmedians identical rows": ("kmedians", SAME, {"K": 3, "n_init": 1}),
    "fuzzy-cmeans identical rows": ("fuzzy-cmeans", SAME, {"K": 3}),
    "hardened fuzzy-cmeans identical rows": ("fuzzy-cmeans", SAME, {"K": 3, "harden": True}),
    "kmeans two distinct rows": ("kmeans", TWO, {"K": 3, "n_init": 1}),
    "gmm identical rows": ("gmm", SAME, {"K": 3}),
    "gmm two distinct rows": ("gmm", TWO, {"K": 3}),
    "gmm constant column": ("gmm", CONSTANT, {"K": 2}),
    "bernoulli all zero": ("bernoulli-mixture", np.zeros((60, 4)), {"K": 3, "n_init": 1}),
    "bernoulli binarised to zero": (
        "bernoulli-mixture",
        SMALL,
        {"K": 2, "n_init": 1, "binarize": True, "threshold": 0.5},
    ),
    "exponential identical rows": ("exponential-mixture", SAME, {"K": 3, "n_init": 1}),
    "bayes-gmm identical rows": ("bayes-gmm", SAME, {"K": 3}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_degenerate_state_reported_as_in_memory(cluster, case):
    model_id, X, hp = CASES[case]
    ref = runner.fit(get_model(model_id), table(X), seed=0, **hp)
    assert ref.stop_reason.startswith("degenerate: "), ref.stop_reason
    n = len(X)
    data = from_array(cluster.client, X, [n // 3, n // 3, n - 2 * (n // 3)])
    try:
        res = runner.fit(distributed_model(model_id), data, seed=0, **hp)
    finally:
        data.release()
    assert not res.converged
    assert res.stop_reason == ref.stop_reason
    assert f"degenerate state: {ref.stop_reason.removeprefix('degenerate: ')}" in res.notes


def test_sound_fit_is_not_degenerate(cluster):
    """The check answers None on a good fit (and reads no rows for advice)."""
    X = np.r_[_rng.normal(size=(100, 2)), _rng.normal(size=(100, 2)) + 6.0]
    data = from_array(cluster.client, X, [70, 130])
    try:
        res = runner.fit(distributed_model("gmm"), data, seed=0, K=2)
        assert res.model.degeneracy() is None
        assert res.stop_reason == "converged"
    finally:
        data.release()


@pytest.mark.parametrize(
    "model_id, extra, advice",
    [
        ("kmeans", [], "the data have only 1 distinct row: use K <= 1"),
        ("gmm", [], "drop the constant columns 'a', 'b'"),
        ("exponential-mixture", ["--n-init", "1"], "the data have only 1 distinct row: use K <= 1"),
    ],
)
def test_cli_dask_exits_3_on_a_degenerate_fit(cluster, tmp_path, capsys, model_id, extra, advice):
    """`explorer fit MODEL identical.csv --K 3 --dask ADDRESS` exited 0, "converged" (the
    exponential mixture's plan did see the problem, and the CLI exited 0 all the same)."""
    from explorer.cli import main

    path = tmp_path / "same.csv"
    path.write_text("a,b\n" + "1,2\n" * 40)
    out = tmp_path / "out"
    dask = ["--dask", cluster.client.scheduler.address, "--partition-rows", "15"]
    rc = main(["fit", model_id, str(path), "--K", "3", "--quiet", *dask, "--out", str(out), *extra])
    got = capsys.readouterr()
    assert rc == 3, got.err
    assert "explorer: error: the fit gave no usable state (degenerate)" in got.err
    import json

    doc = json.loads((out / "result.json").read_text())
    assert doc["stop_reason"].startswith("degenerate: ") and not doc["converged"]
    assert doc["stop_reason"].endswith(advice)
