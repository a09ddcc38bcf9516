"""Synthetic generators: checked against their definitions (centre separation, cluster sizes,
edge counts matching the binomial expectation, independence of pairs) and round-tripped through
the loaders."""

import numpy as np
import pytest

from explorer.data import gaussian_blobs, load_network, planted_partition, write_edge_list
from explorer.data.synthetic import blob_centres


def test_blobs_shape_labels_and_separation():
    d = gaussian_blobs(n=601, K=4, D=3, seed=3, spread=0.5, separation=6.0)
    assert d.X.shape == (601, 3) and d.X.flags.c_contiguous
    assert sorted(np.bincount(d.labels.astype(int))) == [150, 150, 150, 151]
    c = blob_centres(K=4, D=3, seed=3, separation=6.0)
    dist = np.linalg.norm(c[:, None] - c[None], axis=-1)
    assert dist[np.triu_indices(4, 1)].min() >= 6.0
    # Sample means within 5 standard errors (spread / sqrt(150) per coordinate) of the centres.
    for k in range(4):
        m = d.X[d.labels == str(k)].mean(axis=0)
        assert np.all(np.abs(m - c[k]) < 5 * 0.5 / np.sqrt(150))


def test_blobs_deterministic():
    a, b = gaussian_blobs(seed=7), gaussian_blobs(seed=7)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, gaussian_blobs(seed=8).X)


@pytest.mark.parametrize("directed", [False, True])
def test_planted_partition_edge_counts(directed):
    n, K, p_in, p_out = 1200, 4, 0.05, 0.004
    d = planted_partition(n, K, p_in, p_out, seed=1, directed=directed)
    s = n // K
    pairs_in = K * s * (s - 1) * (1 if directed else 0.5)
    pairs_out = (n * (n - 1) * (1 if directed else 0.5)) - pairs_in
    z = d.labels.astype(int)
    same = z[d.edges[:, 0]] == z[d.edges[:, 1]]
    # Binomial counts: within 5 standard deviations of the mean.
    for count, m, p in ((same.sum(), pairs_in, p_in), ((~same).sum(), pairs_out, p_out)):
        assert abs(count - m * p) < 5 * np.sqrt(m * p * (1 - p))
    # Simple graph: no self-loops, no duplicates, undirected stored u < v, symmetric CSR.
    assert np.all(d.edges[:, 0] != d.edges[:, 1])
    keys = d.edges[:, 0] * n + d.edges[:, 1]
    assert len(np.unique(keys)) == len(keys)
    if not directed:
        assert np.all(d.edges[:, 0] < d.edges[:, 1])
        assert (d.adjacency != d.adjacency.T).nnz == 0
    assert d.adjacency.nnz == (1 if directed else 2) * d.n_edges


def test_planted_partition_pairs_uniform():
    # Every within-block pair equally likely: across 200 seeds, the number of times each pair
    # of one 10-node block is an edge is Binomial(200, p_in); check the spread is binomial
    # (chi-square-like bound on the variance, loose enough to hold for any fixed seed set).
    n, K, p = 20, 2, 0.3
    hits = np.zeros((10, 10))
    for seed in range(200):
        d = planted_partition(n, K, p, 0.0, seed=seed)
        for u, v in d.edges:
            if u < 10 and v < 10:
                hits[u, v] += 1
    vals = hits[np.triu_indices(10, 1)]
    assert abs(vals.mean() - 200 * p) < 4 * np.sqrt(200 * p * (1 - p) / len(vals))
    assert 0.5 < vals.var() / (200 * p * (1 - p)) < 1.6


def test_dense_block_path():
    d = planted_partition(30, 3, 1.0, 0.0, seed=0)
    assert d.n_edges == 3 * 45  # p_in = 1: every within-block pair, nothing across


def test_write_edge_list_round_trip(tmp_path):
    d = planted_partition(200, 2, 0.1, 0.01, seed=5)
    p = write_edge_list(d, tmp_path / "pp.csv")
    back = load_network(p)
    # Nodes never appearing in an edge are absent from the edge list; compare by id.
    idx = {nid: k for k, nid in enumerate(back.node_ids)}
    got = {
        (min(idx[d.node_ids[u]], idx[d.node_ids[v]]), max(idx[d.node_ids[u]], idx[d.node_ids[v]]))
        for u, v in d.edges
    }
    assert got == {tuple(e) for e in back.edges}
    assert np.all(back.weights == 1.0)
