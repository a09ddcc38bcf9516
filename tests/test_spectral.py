"""explorer.spectral: planted partitions, scikit-learn's SpectralClustering as the independent
check, the low-rank embedding against a dense eigendecomposition."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from explorer import metrics, spectral


def sbm(sizes, p_in, p_out, seed, weights=False):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(len(sizes)), sizes)
    P = np.where(g[:, None] == g[None, :], p_in, p_out)
    A = np.triu(rng.random(P.shape) < P, 1).astype(float)
    if weights:
        A *= rng.poisson(3.0, A.shape) + 1
    A = A + A.T
    return A, g


@pytest.mark.parametrize("n_per, sparse", [(40, False), (40, True), (250, True)])
def test_planted_partition_is_recovered(n_per, sparse):
    # 4 groups, dense path (160 nodes) and eigsh path (1,000 nodes > DENSE_MAX_NODES)
    A, g = sbm([n_per] * 4, 0.3, 0.02, seed=1, weights=True)
    lab = spectral.spectral_clustering(sp.csr_matrix(A) if sparse else A, 4, seed=0)
    assert metrics.nmi(g, lab) > 0.99


def test_agrees_with_scikit_learn():
    SpectralClustering = pytest.importorskip("sklearn.cluster").SpectralClustering
    A, g = sbm([50, 60, 70], 0.15, 0.05, seed=3)  # noisy: neither is perfect
    ours = spectral.spectral_clustering(A, 3, seed=0)
    theirs = SpectralClustering(
        3, affinity="precomputed", random_state=0, assign_labels="kmeans"
    ).fit_predict(A)
    print(
        f"NMI ours {metrics.nmi(g, ours):.3f}, sklearn {metrics.nmi(g, theirs):.3f}, "
        f"ours vs sklearn {metrics.nmi(ours, theirs):.3f}"
    )
    assert metrics.nmi(ours, theirs) > 0.9
    assert metrics.nmi(g, ours) > metrics.nmi(g, theirs) - 0.05


def test_lowrank_embedding_equals_dense():
    rng = np.random.default_rng(5)
    n, r, K = 80, 6, 3
    L = rng.random((n, r))
    R = rng.random((n, r))
    L[:40, :3] *= 8.0  # some structure so the leading eigenvalues are separated
    R[:40, :3] *= 8.0
    X = spectral.lowrank_spectral_embedding(L, R, K)
    M = 0.5 * (L @ R.T + R @ L.T)
    d = M.sum(1)
    Nm = M / np.sqrt(np.outer(d, d))
    vals, vecs = np.linalg.eigh(Nm)
    ref = vecs[:, np.argsort(vals)[::-1][:K]]
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    # equal up to an orthogonal rotation of the K-dimensional space: same Gram matrix of rows
    np.testing.assert_allclose(X @ X.T, ref @ ref.T, atol=1e-8)


def test_isolated_nodes_and_bad_input():
    A, g = sbm([30, 30], 0.4, 0.01, seed=2)
    A = np.pad(A, ((0, 2), (0, 2)))  # two isolated nodes
    lab = spectral.spectral_clustering(A, 2, seed=0)
    assert lab.shape == (62,) and metrics.nmi(g, lab[:60]) > 0.95
    with pytest.raises(ValueError, match="non-negative"):
        spectral.spectral_clustering(-A, 2)
    with pytest.raises(ValueError, match="K"):
        spectral.spectral_embedding(A, 0)
