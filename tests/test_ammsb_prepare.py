"""The a-MMSB's preparation at scale (issue 23): the held-out split, the training graph, the start's
closed forms and the canonical reordering, each against a plain reference that computes the same
thing the slow way (a one-at-a-time loop, scipy, numpy)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from explorer.data.synthetic import planted_partition
from explorer.data.types import NetworkData
from explorer.models import _ammsb_heldout as ho
from explorer.models import _ammsb_kernels as kr
from explorer.models._canonical import reorder_network


def _reference_nonlinks(rng, n, n_want, directed, links, test, drawn):
    """The one-at-a-time loop the block draws replace (the code before issue 23's change)."""
    non, tries = [], 0
    while len(non) < n_want and tries < 1000 * (n_want + 10):
        tries += 1
        a, b = int(rng.integers(n)), int(rng.integers(n))
        if a == b:
            continue
        k = int(ho.pair_keys(np.array([a]), np.array([b]), n, directed)[0])
        if k in test or k in drawn or k in links:
            continue
        non.append(k)
        drawn.add(k)
    return np.array(non, dtype=np.int64)


@pytest.mark.parametrize("directed", [False, True])
@pytest.mark.parametrize("n, n_edges, n_want", [(60, 400, 50), (12, 300, 40), (300, 2000, 700)])
def test_block_drawn_nonlinks_are_the_one_at_a_time_draws(directed, n, n_edges, n_want):
    """The same pairs in the same order, and the generator left in the same state, also when the
    network is so dense that the tries run out (n = 12, 300 links drawn) and across two calls
    (the held-out then the test set: the second avoids the first's pairs)."""
    gen = np.random.default_rng(n)
    e = gen.integers(n, size=(n_edges, 2))
    e = e[e[:, 0] != e[:, 1]]
    links = ho.sorted_unique(ho.pair_keys(e[:, 0], e[:, 1], n, directed))
    test = ho.sorted_unique(ho.pair_keys(np.array([0, 1]), np.array([5, 7]), n, directed))
    eu, ev = links // n, links % n
    draws = ho._PairDraws(
        links, eu, ev, np.ones(len(links), bool), test, n, directed, np.random.default_rng(3)
    )
    ref_rng, drawn = np.random.default_rng(3), set()
    for want in (n_want, n_want // 2):
        got = draws.nonlinks(want)
        ref = _reference_nonlinks(
            ref_rng, n, want, directed, set(links.tolist()), set(test.tolist()), drawn
        )
        np.testing.assert_array_equal(got, ref)
        assert draws.rng.bit_generator.state == ref_rng.bit_generator.state
        assert len(ref) < want if n == 12 else len(ref) == want


def test_held_out_links_keep_every_node_a_training_link():
    """_take_links (numba) takes the same links as the loop it replaced."""
    data = planted_partition(200, K=4, p_in=0.1, p_out=0.01, seed=2)
    keys = ho.sorted_unique(ho.pair_keys(data.edges[:, 0], data.edges[:, 1], 200, False))
    eu, ev = keys // 200, keys % 200
    deg = np.bincount(eu, minlength=200) + np.bincount(ev, minlength=200)
    order = np.random.default_rng(0).permutation(len(keys))
    ref, d = [], deg.copy()
    for idx in order:
        if len(ref) >= 150:
            break
        if d[eu[idx]] > 1 and d[ev[idx]] > 1:
            d[eu[idx]] -= 1
            d[ev[idx]] -= 1
            ref.append(idx)
    got = ho._take_links(order, eu, ev, deg, 150)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(deg, d)


def test_sorted_unique_is_numpy_unique():
    gen = np.random.default_rng(1)
    for keys in (
        gen.integers(50, size=300),
        np.sort(gen.integers(50, size=300)),
        np.zeros(0, np.int64),
        np.array([7]),
        np.array([3, 3, 3]),
    ):
        np.testing.assert_array_equal(ho.sorted_unique(keys), np.unique(keys))


@pytest.mark.parametrize("both", [False, True])
def test_csr_is_scipys(both):
    gen = np.random.default_rng(4)
    n = 40
    rows, cols = gen.integers(n, size=500), gen.integers(n, size=500)
    ptr, idx = ho._csr(rows, cols, n, both)
    r, c = (np.concatenate([rows, cols]), np.concatenate([cols, rows])) if both else (rows, cols)
    ref = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n, n))
    ref.sum_duplicates()
    ref.sort_indices()
    np.testing.assert_array_equal(ptr, ref.indptr)
    np.testing.assert_array_equal(idx, ref.indices)


@pytest.mark.parametrize("directed", [False, True])
def test_start_adjacency_is_the_symmetric_training_adjacency(directed):
    data = planted_partition(150, K=3, p_in=0.15, p_out=0.02, seed=5)
    split = ho.split_pairs(data.edges, 150, directed, None, 0.05)
    adj = ho.symmetric_adjacency(ho.training_pairs(split), 150)
    ref = sp.csr_matrix(
        (np.ones(len(split.train_u)), (split.train_u, split.train_v)), shape=(150, 150)
    )
    ref = (ref + ref.T).tocsr()
    ref.data[:] = 1.0
    assert (adj != ref).nnz == 0 and adj.indices.dtype == ref.indices.dtype


def test_beta_and_elbo_sums_are_numpys():
    gen = np.random.default_rng(6)
    pi = gen.dirichlet(np.ones(5), size=30)
    u, v = gen.integers(30, size=80), gen.integers(30, size=80)
    out = np.zeros(5)
    kr.pair_products(pi, u, v, out)
    np.testing.assert_allclose(out, np.einsum("ek,ek->k", pi[u], pi[v]), rtol=1e-13)
    mu, var, m = gen.normal(size=(30, 5)), gen.uniform(0.1, 2.0, size=(30, 5)), gen.normal(size=5)
    S = np.eye(5)
    sum_log_v = kr.centred_scatter(mu, var, m, S)
    np.testing.assert_allclose(S, np.eye(5) + (mu - m).T @ (mu - m), rtol=1e-13)
    assert sum_log_v == pytest.approx(np.log(var).sum(), rel=1e-13)


def test_reorder_keeps_repeated_edges_in_their_order():
    """Edges sorted by one key; the repeats of an edge (the loader keeps each with its own
    weight) stay in their order, as the stable lexsort kept them (an unstable sort of these 300
    edges does not)."""
    gen = np.random.default_rng(8)
    edges = np.concatenate([gen.integers(6, size=(300, 2)), [[4, 1], [1, 4]]])
    edges = edges[edges[:, 0] != edges[:, 1]]
    edges = np.column_stack([edges.min(1), edges.max(1)])
    weights = np.arange(len(edges), dtype=np.float64)
    adj = sp.csr_matrix(
        (
            np.ones(2 * len(edges)),
            (np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]]),
        ),
        shape=(6, 6),
    )
    data = NetworkData(
        node_ids=np.array(list("abcdef")),
        adjacency=adj,
        edges=edges,
        weights=weights,
        directed=False,
    )
    order = np.array([5, 3, 1, 0, 2, 4])
    out = reorder_network(data, order)
    inv = np.argsort(order)
    e = np.sort(inv[edges], axis=1)
    by = np.lexsort((e[:, 1], e[:, 0]))
    np.testing.assert_array_equal(out.edges, e[by])
    np.testing.assert_array_equal(out.weights, weights[by])
