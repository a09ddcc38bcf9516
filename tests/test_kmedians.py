"""K-medians: agreement with a brute-force numpy implementation, monotone L1 objective, re-seeding."""

import numpy as np
from helpers import assert_centre_steps, table

from explorer import runner
from explorer.data import load_table
from explorer.models import get_model
from explorer.models.kmedians import KMedians


def l1(X, C):
    return np.abs(X[:, None, :] - C[None]).sum(-1)


def brute_force(X, c0, iters):
    """Reference K-medians in plain numpy: np.median per cluster, argmin of L1 distances."""
    c = c0.copy()
    labels = l1(X, c).argmin(1)
    trace = []
    for _ in range(iters):
        for k in range(len(c)):
            if np.any(labels == k):
                c[k] = np.median(X[labels == k], axis=0)
        dist = l1(X, c)
        labels = dist.argmin(1)
        trace.append(dist.min(1).sum())
    return labels, c, trace


def test_registered():
    assert get_model("kmedians") is KMedians
    assert KMedians.objective_kind == "distortion"


def test_matches_brute_force_numpy():
    rng = np.random.default_rng(2024)
    compared = 0
    for case in range(12):
        n = int(rng.integers(10, 80))
        d = int(rng.integers(1, 5))
        K = int(rng.integers(1, 6))
        # Heavy tails and a grid of repeated values (even counts, ties in the medians).
        X = rng.standard_t(2, size=(n, d)) if case % 2 else rng.integers(0, 4, (n, d)) * 1.0
        model = KMedians(K=K)
        model.initialize(table(X), case)
        c0 = model.parameters()["centers"].copy()
        trace = [model.step() for _ in range(12)]
        labels, centers, ref = brute_force(X, c0, 12)
        if np.bincount(labels, minlength=K).min() == 0:
            continue  # the reference does not re-seed; compare only where no cluster empties
        # np.median takes the midpoint of the two middle values, as we do: equality is exact.
        np.testing.assert_array_equal(model.labels(), labels)
        np.testing.assert_array_equal(model.parameters()["centers"], centers)
        # Sums of the same L1 terms in another order: rounding only.
        np.testing.assert_allclose(trace, ref, rtol=1e-12)
        compared += 1
    assert compared >= 8


def test_objective_is_l1_and_monotone_over_many_datasets():
    rng = np.random.default_rng(7)
    for _ in range(40):
        n = int(rng.integers(5, 200))
        d = int(rng.integers(1, 6))
        X = rng.standard_t(1.5, size=(n, d)) * rng.uniform(0.1, 10, size=d)
        if rng.random() < 0.3:
            X = np.round(X)  # many duplicated values
        K = int(rng.integers(1, min(8, n) + 1))
        # After each step the value is the sum of L1 distances of the state, every label a
        # nearest centre; non-increasing up to rounding (moving a median inside a flat stretch
        # changes nothing but the last bits).
        assert_centre_steps(KMedians(K=K), X, int(rng.integers(1000)), 25, l1)


def test_empty_cluster_reseeded():
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(0, 1, (40, 3)), rng.normal(10, 1, (40, 3))])
    c0 = np.array([[0.0] * 3, [10.0] * 3, [-500.0] * 3])
    model = KMedians(K=3)
    model.initialize(table(X), 0, centers=c0)
    assert np.bincount(model.labels(), minlength=3)[2] == 0
    before = np.abs(X - c0[model.labels()]).sum()
    far = int(np.argmax(np.abs(X - c0[model.labels()]).sum(1)))
    value = model.step()
    assert model._n_reseeded == 1
    assert model.labels()[far] == 2
    assert np.all(np.bincount(model.labels(), minlength=3) > 0)
    assert value < before


def test_robust_to_an_outlier_and_converges():
    # Two tight groups plus one huge outlier: medians stay in the groups.
    X = np.array([[0.0], [0.1], [0.2], [10.0], [10.1], [10.2], [1e6]])
    model = KMedians(K=2)
    model.initialize(table(X), 0, centers=np.array([[0.0], [10.0]]))
    res_trace = [model.step() for _ in range(3)]
    assert model.converged(res_trace, 0.0)
    # Medians: 0.1 of the first three rows; midpoint of 10.1 and 10.2 for the other four.
    np.testing.assert_array_equal(
        np.sort(model.parameters()["centers"][:, 0]), [0.1, 0.5 * (10.1 + 10.2)]
    )


def test_iris_through_runner(sample_dir):
    data = load_table(sample_dir / "iris.csv", labels="species")
    res = runner.fit(KMedians, data, seed=0, K=3)
    assert res.converged
    # K-medians on iris separates the species about as well as K-means (NMI ~0.7-0.75).
    assert res.metrics["nmi"] >= 0.65
    p = res.model.parameters()
    assert set(p) == {"centers", "labels"} and p["centers"].shape == (3, 4)
