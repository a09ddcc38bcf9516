"""K-means: scikit-learn agreement from the same centres, monotone distortion, re-seeding, iris."""

import numpy as np
import pytest
from helpers import assert_centre_steps, table

from explorer import runner
from explorer.data import load_table
from explorer.models import get_model
from explorer.models.kmeans import _PARALLEL_MIN_ROWS, KMeans, kmeans_plusplus, lloyd


def blobs(seed, n=400, d=3, k=4, spread=1.0, sep=4.0):
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, sep, size=(k, d))
    return means[rng.integers(k, size=n)] + spread * rng.normal(size=(n, d))


def squared_distances(X, C):
    """(N, K) squared Euclidean distances of the rows to the centres."""
    return ((X[:, None, :] - C[None]) ** 2).sum(-1)


def distortion(X, labels, centers):
    """Independent numpy recomputation of sum_i ||x_i - mu_{z_i}||^2."""
    return float(((X - centers[labels]) ** 2).sum())


def run_to_convergence(model, max_iter=300):
    trace = []
    for _ in range(max_iter):
        trace.append(model.step())
        if model.converged(trace, 0.0):
            break
    return trace


def test_registered():
    assert get_model("kmeans") is KMeans
    assert KMeans.objective_kind == "distortion"


@pytest.mark.parametrize("seed,k", [(0, 3), (1, 5), (2, 8), (3, 4)])
def test_matches_sklearn_from_same_centres(seed, k):
    from sklearn.cluster import KMeans as SKKMeans

    X = blobs(seed, n=500, d=4, k=4, spread=1.5)
    c0 = kmeans_plusplus(X, k, np.random.default_rng(seed + 100))
    model = KMeans(K=k, n_init=1)
    model.initialize(table(X), 0, centers=c0)
    trace = run_to_convergence(model)
    # tol=0: scikit-learn stops only on strict convergence (no label change), like our rule.
    sk = SKKMeans(n_clusters=k, init=c0, n_init=1, algorithm="lloyd", tol=0.0, max_iter=300).fit(X)
    # Same sequence of Lloyd iterations: scikit-learn counts the first assignment (ours is done
    # in initialize) as an iteration.
    assert len(trace) == sk.n_iter_ - 1
    np.testing.assert_array_equal(model.labels(), sk.labels_)
    # Tolerances: scikit-learn centres the data and assigns with ||c||^2 - 2 x.c; we sum
    # (x - c)^2 in another order. Both are exact to rounding, so 1e-10 relative is ample.
    np.testing.assert_allclose(trace[-1], sk.inertia_, rtol=1e-10)
    np.testing.assert_allclose(
        model.parameters()["centers"], sk.cluster_centers_, rtol=0, atol=1e-10 * np.abs(X).max()
    )


def test_lloyd_helper_matches_sklearn():
    from sklearn.cluster import KMeans as SKKMeans

    X = blobs(7, n=600, d=2, k=5)
    c0 = kmeans_plusplus(X, 5, np.random.default_rng(3))
    c0_copy = c0.copy()
    labels, centers = lloyd(X, c0, max_iter=300, tol=0.0)
    sk = SKKMeans(n_clusters=5, init=c0, n_init=1, algorithm="lloyd", tol=0.0, max_iter=300).fit(X)
    np.testing.assert_array_equal(c0, c0_copy)  # input not modified
    assert labels.dtype == np.int64 and labels.shape == (600,)
    np.testing.assert_array_equal(labels, sk.labels_)
    np.testing.assert_allclose(centers, sk.cluster_centers_, atol=1e-10 * np.abs(X).max())
    # The returned labels are the nearest returned centres.
    d2 = ((X[:, None, :] - centers[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(labels, d2.argmin(1))


def random_dataset(rng):
    """A varied family: blobs, heavy tails, duplicated rows, a constant column, tiny N."""
    kind = rng.integers(4)
    n = int(rng.integers(8, 300))
    d = int(rng.integers(1, 6))
    if kind == 0:
        X = blobs(int(rng.integers(1 << 30)), n=n, d=d, k=int(rng.integers(1, 6)))
    elif kind == 1:
        X = rng.standard_t(1.5, size=(n, d))
    elif kind == 2:
        base = rng.normal(size=(max(2, n // 4), d))
        X = base[rng.integers(len(base), size=n)]  # many exact duplicates
    else:
        X = rng.normal(size=(n, d)) * rng.uniform(0.1, 100.0, size=d)
        X[:, 0] = 3.0
    return X


def test_distortion_monotone_and_exact_over_many_datasets():
    rng = np.random.default_rng(12345)
    for _ in range(60):
        X = random_dataset(rng)
        K = int(rng.integers(1, min(10, X.shape[0]) + 1))
        # After each step the value is the distortion of the state (recomputed from squared
        # distances), every label a nearest centre; non-increasing up to rounding.
        assert_centre_steps(KMeans(K=K), X, int(rng.integers(1000)), 40, squared_distances)


def test_fixed_point_repeats_exactly_and_converges_on_no_label_change():
    X = blobs(5, n=300, d=2, k=3)
    model = KMeans(K=3)
    model.initialize(table(X), 1)
    trace = run_to_convergence(model)
    assert model.converged(trace, 0.0) and model._n_changed == 0
    centers = model.parameters()["centers"]
    labels = model.labels().copy()
    again = model.step()
    # Same labels, same summation order: the centres and the distortion repeat bit for bit.
    assert again == trace[-1]
    np.testing.assert_array_equal(model.parameters()["centers"], centers)
    np.testing.assert_array_equal(model.labels(), labels)


def test_empty_cluster_reseeded_with_farthest_point():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (50, 2)), rng.normal(8, 1, (50, 2))])
    # Third centre far from every row: its cluster is empty after the first assignment.
    c0 = np.array([[0.0, 0.0], [8.0, 8.0], [1e3, 1e3]])
    model = KMeans(K=3)
    model.initialize(table(X), 0, centers=c0)
    assert np.bincount(model.labels(), minlength=3)[2] == 0
    d_before = distortion(X, model.labels(), c0)
    labels0 = model.labels().copy()
    far = int(np.argmax(((X - c0[labels0]) ** 2).sum(1)))  # independent choice of the row
    value = model.step()
    assert model._n_reseeded == 1
    # The re-seeded centre started at the farthest row; after the assignment it is a proper
    # cluster and no cluster is empty.
    assert model.labels()[far] == 2
    assert np.all(np.bincount(model.labels(), minlength=3) > 0)
    assert value < d_before
    trace = [value] + run_to_convergence(model)
    assert np.all(np.diff(trace) <= 1e-12 * np.abs(trace[:-1]))


def test_kmeans_plusplus_properties():
    X = np.concatenate([np.full((30, 2), v) for v in (0.0, 100.0, 200.0)])
    X = X + np.random.default_rng(0).normal(scale=0.1, size=X.shape)
    c = kmeans_plusplus(X, 3, np.random.default_rng(4))
    # Every centre is a data row; D^2 seeding on three far-apart tight blobs picks one per blob
    # (the chance of a second pick in an occupied blob is below 1e-6 here).
    assert all(any(np.array_equal(ci, x) for x in X) for ci in c)
    assert sorted(np.round(c[:, 0] / 100).astype(int)) == [0, 1, 2]
    np.testing.assert_array_equal(c, kmeans_plusplus(X, 3, np.random.default_rng(4)))
    # Fewer distinct rows than K: still K centres, no failure.
    same = np.ones((5, 2))
    assert kmeans_plusplus(same, 4, np.random.default_rng(0)).shape == (4, 2)


def test_parallel_path_agrees_with_numpy():
    X = blobs(9, n=_PARALLEL_MIN_ROWS + 1000, d=3, k=5)
    model = KMeans(K=5)
    model.initialize(table(X), 2)
    trace = [model.step() for _ in range(5)]
    p = model.parameters()
    if model._parallel:  # only where numba has more than one thread
        np.testing.assert_allclose(trace[-1], distortion(X, p["labels"], p["centers"]), rtol=1e-10)
        # Centres are the means of their rows up to one more update (exact Lloyd identity).
        means = np.array([X[p["labels"] == k].mean(0) for k in range(5)])
        model.step()
        np.testing.assert_allclose(model.parameters()["centers"], means, rtol=1e-10, atol=1e-12)
    assert np.all(np.diff(trace) <= 1e-12 * np.abs(trace[:-1]))


def test_n_init_keeps_best_restart():
    X = blobs(11, n=300, d=2, k=6, sep=3.0)
    res = runner.fit(KMeans, table(X), seed=0, n_init=5, K=6, tol=0.0)
    finals = [r["objective"] for r in res.restarts]
    assert len(finals) == 5
    assert res.final_objective == min(finals)
    assert res.converged


def test_parameters_and_snapshot():
    X = blobs(1, n=100, d=3)
    model = KMeans(K=4)
    model.initialize(table(X), 0)
    value = model.step()
    p = model.parameters()
    assert set(p) == {"centers", "labels", "inertia"}
    assert p["centers"].shape == (4, 3) and p["labels"].shape == (100,)
    assert p["inertia"].shape == () and float(p["inertia"]) == value
    snap = model.snapshot()
    assert snap["labels"] is not model.labels()
    np.testing.assert_array_equal(snap["centers"], p["centers"])


def test_bad_initial_centres():
    model = KMeans(K=3)
    with pytest.raises(ValueError, match="shape"):
        model.initialize(table(np.zeros((10, 2))), 0, centers=np.zeros((2, 2)))


def test_iris_nmi(sample_dir):
    data = load_table(sample_dir / "iris.csv", labels="species")
    res = runner.fit(KMeans, data, seed=0, K=3)
    # K-means on the raw iris measurements reaches NMI ~0.76 against the species.
    assert res.metrics["nmi"] >= 0.70
    assert res.converged


@pytest.mark.parametrize("d", [1, 2, 3, 4, 5, 7, 8, 9, 12, 13])
def test_blocked_assignment_every_width(d):
    # The assignment kernel takes coordinates one / four at a time on row blocks; every D mod 4
    # and a partial last block (N = 700) against an independent numpy argmin. A duplicated
    # centre makes exact ties: the lowest index must win (as numpy's argmin).
    rng = np.random.default_rng(d)
    X = rng.normal(size=(700, d))
    c0 = X[rng.choice(700, 6, replace=False)].copy()
    c0[4] = c0[1]
    model = KMeans(K=6)
    model.initialize(table(X), 0, centers=c0)
    d2 = ((X[:, None, :] - c0[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(model.labels(), d2.argmin(1))
    assert not np.any(model.labels() == 4)
    # Distortion: same squared distances summed in another order, 1e-12 relative.
    np.testing.assert_allclose(model._distortion, d2.min(1).sum(), rtol=1e-12)
    value = model.step()
    p = model.parameters()
    np.testing.assert_allclose(value, distortion(X, p["labels"], p["centers"]), rtol=1e-12)


def test_chunked_step_same_for_every_thread_count():
    # The chunked step (from _PARALLEL_MIN_ROWS rows) splits the rows by N, K and D only and
    # threads take chunks one at a time, so 1 and 2 threads give the same bits (the old split,
    # 4 chunks a thread, and the serial kernel on 1 thread, differed in the last bits).
    import numba

    X = blobs(5, n=_PARALLEL_MIN_ROWS + 3000, d=5, k=6, sep=1.5)
    c0 = X[:6].copy()
    out = []
    before = numba.get_num_threads()
    for threads in sorted({1, before}):
        numba.set_num_threads(threads)
        try:
            model = KMeans(K=6)
            model.initialize(table(X), 0, centers=c0)
            trace = [model.step() for _ in range(6)]
        finally:
            numba.set_num_threads(before)
        out.append((trace, model.parameters()["centers"]))
    for trace, centers in out[1:]:
        assert trace == out[0][0]
        np.testing.assert_array_equal(centers, out[0][1])


def test_lean_seeding_picks_the_dense_seeding_centres(monkeypatch):
    # The lean k-means++ (transposed data, O(N) scratch, blocked parallel passes) is the same
    # greedy algorithm as the dense one: from the same generator, the same centres.
    from explorer.models import _centre_kernels as ck

    X = blobs(12, n=20_000, d=5, k=8, sep=1.0)
    dense = kmeans_plusplus(X, 8, np.random.default_rng(5))
    monkeypatch.setattr(ck, "_LEAN_SEEDING_MIN_ROWS", 0)
    lean = kmeans_plusplus(X, 8, np.random.default_rng(5))
    np.testing.assert_array_equal(lean, dense)
    lean32 = kmeans_plusplus(X.astype(np.float32), 8, np.random.default_rng(5))
    np.testing.assert_allclose(lean32, dense, rtol=1e-6, atol=1e-6)


def _exact_assignment(X, C):
    """Nearest centre by the difference form in float64 (lowest index on ties) and its distance."""
    d2 = ((X.astype(np.float64)[:, None, :] - C[None]) ** 2).sum(-1)
    return d2.argmin(1), d2.min(1)


def _assign_ranked(ck, XT, C, labels, sums, counts, mind):
    """The ranked assignment pass whatever K (``assign`` takes it from DIRECT_MAX_K centres)."""
    ct, cn, shift, big, work, block64 = ck.assign_scratch(XT, C)
    lo, hi = np.int64(0), XT.shape[1]
    return ck._assign_rows_ranked(
        XT, C, ct, cn, shift, big, lo, hi, labels, sums, counts, mind, work, block64
    )


def _assign_public(ck, XT, C, labels, sums, counts, mind):
    return ck.assign(XT, C, labels, sums, counts, mind, np.empty(0), np.empty(0, dtype=np.int64))


@pytest.mark.parametrize("kernel", [_assign_public, _assign_ranked])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_assignment_is_exact_where_the_fast_pass_cannot_decide(dtype, kernel):
    # The assignment ranks centres by ||mu||^2 - 2 x.mu in the data's type and computes a row
    # again exactly when the two best are within the rounding bound. Far from the origin
    # (offset 1e4, spread 1) float32 cannot separate them at all, and rows at the midpoint of two
    # centres tie exactly (lowest index): every label must still be the exact nearest centre.
    from explorer.models import _centre_kernels as ck

    rng = np.random.default_rng(3)
    for offset in (0.0, 1e4):
        for D, K in ((1, 3), (3, 5), (4, 4), (6, 9), (16, 13), (5, 33), (16, 40)):
            C = offset + rng.normal(size=(K, D)).astype(dtype).astype(np.float64)
            X = offset + rng.normal(size=(600, D))
            X[:40] = (C[0] + C[K - 1]) / 2  # exact ties between centres 0 and K - 1
            X[40:60] = C[1 % K]  # rows on a centre
            X = X.astype(dtype)
            XT = np.ascontiguousarray(X.T)
            labels = np.full(600, -1, dtype=np.int64)
            sums, counts, mind = np.zeros((K, D)), np.zeros(K), np.zeros(600)
            total, changed = kernel(ck, XT, C, labels, sums, counts, mind)
            z, d = _exact_assignment(X, C)
            np.testing.assert_array_equal(labels, z)
            np.testing.assert_allclose(mind, d, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(total, d.sum(), rtol=1e-12)
            assert changed == 600
            np.testing.assert_array_equal(counts, np.bincount(z, minlength=K))
            np.testing.assert_allclose(
                sums, [X[z == k].astype(np.float64).sum(0) for k in range(K)], rtol=1e-12, atol=1e-9
            )


@pytest.mark.parametrize("K", [9, 40])
def test_float32_parallel_step_matches_exact_float64_assignment(K):
    # The chunked step in float32 (K = 40: the ranked pass in float32 lanes; K = 9: the direct
    # difference form) against an exact float64 assignment of the same float32 data, step after
    # step.
    X = blobs(4, n=_PARALLEL_MIN_ROWS + 777, d=7, k=K, sep=1.0).astype(np.float32)
    c0 = X[:K].astype(np.float64)
    model = KMeans(K=K)
    model.initialize(table(X), 0, centers=c0)
    assert model._parallel
    for _ in range(4):
        centres_before = model._centers.copy()
        value = model.step()
        z, d = _exact_assignment(X, model._centers)
        np.testing.assert_array_equal(model.labels(), z)
        np.testing.assert_allclose(value, d.sum(), rtol=1e-12)
        assert not np.array_equal(model._centers, centres_before)


def test_numba_row_hashes_equal_the_numpy_ones():
    # The canonical row order hashes rows in one numba pass (explorer/models/_row_hash.py); the
    # numpy formula in _canonical.row_hashes is the reference: the same uint64 values for every
    # dtype and layout, -0.0 hashed as +0.0, infinities and NaN as their bits.
    from explorer.models._canonical import row_hashes
    from explorer.models._row_hash import row_hashes as numba_row_hashes

    rng = np.random.default_rng(8)
    X = rng.normal(size=(70_001, 5))
    X[:3, 0] = -0.0
    X[3:6, 1] = 0.0
    X[6, 2], X[7, 3], X[8, 4] = np.inf, -np.inf, np.nan
    for A in (
        X,
        np.asfortranarray(X),
        X.astype(np.float32),
        X[:, :1],
        X[:0],
        X[:9, 2:4],
        np.round(X * 100).astype(np.int32),
    ):
        np.testing.assert_array_equal(numba_row_hashes(A), row_hashes(A))
    plus = X[:3].copy()
    plus[:, 0] = 0.0  # the rows with -0.0 in column 0, as +0.0
    np.testing.assert_array_equal(numba_row_hashes(X[:3]), numba_row_hashes(plus))
