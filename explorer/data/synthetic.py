"""Synthetic data with known ground truth, for tests and demos.

- ``gaussian_blobs(n, K, D, seed=, spread=, separation=)``: K isotropic Gaussian clusters of
  standard deviation ``spread`` whose centres are at least ``separation`` apart (drawn one by one,
  uniformly in a box, rejecting any closer than ``separation`` to those already placed; the box
  grows if it gets crowded). Cluster sizes differ by at most one; the rows are shuffled.
- ``planted_partition(n, K, p_in, p_out, seed=, directed=)``: each node is in block ``i * K // n``;
  each pair inside a block is an edge with probability ``p_in``, across blocks ``p_out``.
  Sampled in O(E): the number of edges of each block pair is binomial, and that many distinct
  pairs are then drawn uniformly (so every pair is an edge independently, exactly as in G(n, p)).
- ``write_edge_list(data, path)``: ``source,target,weight`` CSV with the node ids, readable by
  ``load_network``.
- ``sample_network(u, w, mu, T, v=, directed=, rng=)``: a temporal contact network (t, i, j, count)
  drawn from the dynamic exposure model (``explorer.models.dynamic_exposure``) with affinities u
  (and v when directed), affinity matrix w and exposures mu, over T snapshots.
- ``planted_exposures(n, k_aff, k_exp, directed=, rng=)``: the planted (u, v, mu) for
  ``sample_network``: node i in affinity group i mod k_aff, with u rows 0.92 in its group and 0.04
  elsewhere (v, when directed: 0.92 in group i + 1 mod k_aff; else None), and in an exposure group
  drawn as a random permutation mod k_exp (independent of the affinity group), with mu rows 0.9 /
  0.03.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from explorer.data.network import build_adjacency
from explorer.data.table import row_ids
from explorer.data.types import NetworkData, TableData


def _centres(rng: np.random.Generator, K: int, D: int, separation: float) -> np.ndarray:
    side = max(separation, 1e-12) * 2.0 * max(K, 2) ** (1.0 / D)
    placed: list[np.ndarray] = []
    while len(placed) < K:
        for _ in range(1000):
            c = rng.uniform(-side / 2, side / 2, size=D)
            if all(np.linalg.norm(c - p) >= separation for p in placed):
                placed.append(c)
                break
        else:
            side *= 1.5
    return np.array(placed).reshape(K, D)


def gaussian_blobs(
    n: int = 500,
    K: int = 3,
    D: int = 2,
    *,
    seed: int = 0,
    spread: float = 1.0,
    separation: float = 5.0,
) -> TableData:
    """``n`` points in ``K`` Gaussian clusters in ``D`` dimensions; ``labels`` are "0".."K-1".

    The centres are kept in ``notes`` only as text; :func:`blob_centres` recomputes them.
    """
    if n < 1 or K < 1 or D < 1:
        raise ValueError("n, K and D must be positive")
    rng = np.random.default_rng(seed)
    centres = _centres(rng, K, D, separation)
    z = rng.permutation(np.arange(n) % K)
    X = centres[z] + spread * rng.standard_normal((n, D))
    return TableData(
        X=np.ascontiguousarray(X),
        columns=[f"c{d}" for d in range(D)],
        ids=row_ids(n),
        labels=z.astype(str).astype(object),
        label_name="cluster",
        path=None,
        sha256=None,
        notes=[
            f"synthetic: {K} Gaussian blobs, spread {spread}, separation {separation}, seed {seed}"
        ],
    )


def blob_centres(K: int = 3, D: int = 2, *, seed: int = 0, separation: float = 5.0) -> np.ndarray:
    """The centres ``gaussian_blobs`` uses for these arguments (same random stream)."""
    return _centres(np.random.default_rng(seed), K, D, separation)


def _distinct_pairs(rng, m: int, n_pairs: int, draw) -> np.ndarray:
    """``m`` distinct pair keys, uniformly among the ``n_pairs`` possible; ``draw(size)`` returns
    uniform keys (with repetition). Expected cost O(m) while m <= n_pairs / 2."""
    if m == 0:
        return np.empty(0, dtype=np.int64)
    if 2 * m > n_pairs:
        return None  # caller enumerates
    found = np.empty(0, dtype=np.int64)
    while len(found) < m:
        need = m - len(found)
        found = np.union1d(found, draw(int(need * 1.2) + 16))
    # A uniformly random m-subset of the distinct keys found is uniform among m-subsets.
    return rng.choice(found, size=m, replace=False)


def _block_edges(rng, lo_a, size_a, lo_b, size_b, p, same: bool, directed: bool):
    if same:
        n_pairs = size_a * (size_a - 1) if directed else size_a * (size_a - 1) // 2
    else:
        n_pairs = size_a * size_b
    if n_pairs == 0 or p <= 0:
        return np.empty((0, 2), dtype=np.int64)
    m = int(rng.binomial(n_pairs, min(p, 1.0)))

    def draw(size):
        u = rng.integers(0, size_a, size=size)
        v = rng.integers(0, size_b, size=size)
        if same:
            ok = u != v
            u, v = u[ok], v[ok]
            if not directed:
                u, v = np.minimum(u, v), np.maximum(u, v)
        return u * size_b + v

    keys = _distinct_pairs(rng, m, n_pairs, draw)
    if keys is None:  # dense block: enumerate all pairs and pick m
        u, v = np.divmod(np.arange(size_a * size_b, dtype=np.int64), size_b)
        if same:
            ok = (u != v) if directed else (u < v)
            u, v = u[ok], v[ok]
        keys = rng.choice(u * size_b + v, size=m, replace=False)
    u, v = np.divmod(np.asarray(keys, dtype=np.int64), size_b)
    return np.column_stack([u + lo_a, v + lo_b])


def planted_partition(
    n: int = 1000,
    K: int = 5,
    p_in: float = 0.1,
    p_out: float = 0.005,
    *,
    seed: int = 0,
    directed: bool = False,
) -> NetworkData:
    """A planted-partition (stochastic block model) network; ``labels`` are the blocks."""
    if n < 1 or not 1 <= K <= n:
        raise ValueError("need n >= 1 and 1 <= K <= n")
    if not (0 <= p_in <= 1 and 0 <= p_out <= 1):
        raise ValueError("p_in and p_out must be probabilities")
    rng = np.random.default_rng(seed)
    block = (np.arange(n) * K) // n
    starts = np.searchsorted(block, np.arange(K))
    sizes = np.bincount(block, minlength=K)
    parts = []
    for a in range(K):
        for b in range(K):
            if not directed and b < a:
                continue
            p = p_in if a == b else p_out
            parts.append(
                _block_edges(rng, starts[a], sizes[a], starts[b], sizes[b], p, a == b, directed)
            )
    edges = np.concatenate(parts) if parts else np.empty((0, 2), dtype=np.int64)
    edges = edges[np.lexsort((edges[:, 1], edges[:, 0]))].astype(np.int64)
    weights = np.ones(len(edges))
    return NetworkData(
        node_ids=row_ids(n),
        adjacency=build_adjacency(edges, weights, n, directed),
        edges=edges,
        weights=weights,
        directed=bool(directed),
        labels=block.astype(str).astype(object),
        label_name="block",
        notes=[
            f"synthetic: planted partition n={n}, K={K}, p_in={p_in}, p_out={p_out}, seed {seed}"
        ],
    )


def write_edge_list(data: NetworkData, path) -> Path:
    """Write ``source,target,weight`` rows with the node ids (one row per stored edge)."""
    path = Path(path)
    ids = np.asarray(data.node_ids, dtype=str)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write("source,target,weight\n")
        for (u, v), w in zip(data.edges, data.weights):
            f.write(f"{ids[u]},{ids[v]},{float(w)!r}\n")
    return path


def planted_exposures(n, k_aff, k_exp, *, directed=False, rng=None):
    """The planted (u, v, mu) of the dynamic exposure model for ``sample_network`` (see the
    module's docstring); v is None for an undirected network. Draws one permutation from rng."""
    rng = np.random.default_rng(rng)
    g = np.arange(n) % k_aff
    u = np.full((n, k_aff), 0.04)
    u[np.arange(n), g] = 0.92
    v = None
    if directed:
        v = np.full((n, k_aff), 0.04)
        v[np.arange(n), (g + 1) % k_aff] = 0.92
    h = rng.permutation(n) % k_exp
    mu = np.full((n, k_exp), 0.03)
    mu[np.arange(n), h] = 0.9
    return u, v, mu


def sample_network(u, w, mu, T, *, v=None, directed=False, rng=None):
    """Draw (t, i, j, count) arrays from the model (rows sorted by t, i, j).

    Per pair the number of non-zero snapshots is Binomial(T, mu_ij (1 - e^-L_ij)); those snapshots
    are distinct uniform draws and their counts are Poisson draws conditioned on not all zero, so
    the cost is O(pairs + non-zeros) rather than O(T N^2).
    """
    rng = np.random.default_rng(rng)
    u = np.asarray(u, float)
    v = u if v is None else np.asarray(v, float)
    n = u.shape[0]
    a, b = np.triu_indices(n, 1)
    uw = u @ np.asarray(w, float)
    lab = np.einsum("pk,pk->p", uw[a], v[b])
    lba = np.einsum("pk,pk->p", uw[b], v[a]) if directed else np.zeros_like(lab)
    m = np.einsum("pk,pk->p", mu[a], mu[b])
    p_nz = m * -np.expm1(-(lab + lba))
    k = rng.binomial(T, np.clip(p_nz, 0.0, 1.0))
    sel = np.flatnonzero(k)
    pa, pb, kk = a[sel], b[sel], k[sel]
    pair = np.repeat(np.arange(len(sel)), kk)
    tt = rng.integers(T, size=len(pair))
    while True:  # redraw repeated snapshots of a pair until all are distinct
        key = pair * T + tt
        order = np.argsort(key, kind="stable")
        dup = np.zeros(len(key), bool)
        dup[order[1:]] = key[order[1:]] == key[order[:-1]]
        if not dup.any():
            break
        tt[dup] = rng.integers(T, size=int(dup.sum()))
    la, lb = lab[sel][pair], lba[sel][pair]
    c1 = np.zeros(len(pair))
    c2 = np.zeros(len(pair))
    todo = np.arange(len(pair))
    while len(todo):
        x1 = rng.poisson(la[todo])
        x2 = rng.poisson(lb[todo]) if directed else np.zeros(len(todo))
        ok = (x1 + x2) > 0
        c1[todo[ok]] = x1[ok]
        c2[todo[ok]] = x2[ok]
        todo = todo[~ok]
    ti, ii, jj = tt, pa[pair], pb[pair]
    if directed:
        t_all = np.concatenate([ti, ti])
        i_all = np.concatenate([ii, jj])
        j_all = np.concatenate([jj, ii])
        c_all = np.concatenate([c1, c2])
        nz = c_all > 0
        t_all, i_all, j_all, c_all = t_all[nz], i_all[nz], j_all[nz], c_all[nz]
    else:
        t_all, i_all, j_all, c_all = ti, ii, jj, c1
    order = np.lexsort((j_all, i_all, t_all))
    return (
        t_all[order].astype(np.int64),
        i_all[order].astype(np.int64),
        j_all[order].astype(np.int64),
        c_all[order].astype(np.float64),
    )
