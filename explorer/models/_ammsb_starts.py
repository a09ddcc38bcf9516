"""Hard partitions that seed the a-MMSB's memberships: Louvain and spectral (findk is in _findk.py).

* ``louvain(adj, rng, K)``: Blondel et al.'s Louvain method (modularity, resolution 1): local
  moving of single nodes in random order (the xorshift generator of _ammsb_kernels, so seeded and
  reproducible) until no move raises modularity, then the communities become nodes of a weighted
  graph and the moving repeats, until a level moves nothing. Written in numba rather than calling
  networkx ``louvain_communities`` (the same method, same result quality: NMI within 0.01 on the
  tests' LFR graphs) because networkx is an order of magnitude slower on the benchmark networks
  (bench/README.md). The partition is then brought to K communities (``to_k``). Above
  QUEUED_MOVE_MIN_ENTRIES adjacency entries the local moving uses a queue (Traag et al.'s fast
  local moving): a node is looked at again only when a neighbour moved, where full passes
  re-scan every link until a pass moves nothing (on the 1,000,000-node benchmark network that
  took 848 s; the queue and a numba aggregation take about 20 s of CPU; the same modularity and
  NMI within noise on the planted networks: docs/performance.md). Below it the full passes stay,
  with the same results as before.
* ``spectral(adj, K, seed)``: the K leading eigenvectors of the normalised adjacency
  D^-1/2 A D^-1/2 (scipy ``eigsh``; dense ``eigh`` for small graphs), rows scaled to unit length,
  then k-means (k-means++ seeding, scipy ``kmeans2``), the best of KMEANS_RESTARTS runs by
  inertia (one run is often a poor local optimum that merges some communities and cuts others in
  halves; the measured NMI: bench/README.md).
* ``to_k(adj, labels, K, rng)``: while there are more than K communities, the smallest merges
  into the community it has the most links to (the next smallest when it has none); while there
  are fewer, the community whose split in two costs the least modularity (or gains the most) is
  split. Each community's split is Louvain on its own links (its two largest parts, the others
  merged into them by the same rule; a random halving when Louvain keeps it whole). Louvain's
  resolution limit merges pairs of small communities with a few links between them: splitting
  such a pair costs little modularity, splitting a true community in halves costs much (on LFR
  n = 1,000, mixing 0.3, the old rule "split the largest" cut true communities in halves and
  left the merged pairs, which SVI never separates: two communities emptied out).
"""

from __future__ import annotations

import math
import warnings

import numba
import numpy as np
import scipy.sparse as sp

from explorer.models._ammsb_kernels import shuffle

KMEANS_RESTARTS = 10  # spectral: k-means++ runs, the one with the smallest inertia kept
QUEUED_MOVE_MIN_ENTRIES = 1_000_000  # Louvain: queued local moving above this many adjacency
# entries (twice the links), full passes up to it


@numba.njit(cache=True, nogil=True, inline="always")
def _best_community(i, indptr, indices, w, k, m2, comm, tot, nbw, nbc):
    """The neighbouring community of node i (its own included; i taken out of it, ``tot``
    updated) with the largest modularity gain w_ic - k_i tot_c / 2m, ties keeping the earlier
    candidate (its own community first). The caller adds k_i to the returned community's tot."""
    ci = comm[i]
    nn = 0
    for j in range(indptr[i], indptr[i + 1]):
        b = indices[j]
        if b == i:
            continue
        c = comm[b]
        if nbw[c] == 0.0:
            nbc[nn] = c
            nn += 1
        nbw[c] += w[j]
    tot[ci] -= k[i]
    best = ci
    best_gain = nbw[ci] - k[i] * tot[ci] / m2
    for t in range(nn):
        c = nbc[t]
        gain = nbw[c] - k[i] * tot[c] / m2
        if gain > best_gain + 1e-12 * (1.0 + abs(best_gain)):
            best_gain = gain
            best = c
    for t in range(nn):
        nbw[nbc[t]] = 0.0
    return best


@numba.njit(cache=True, nogil=True)
def _move(indptr, indices, w, k, m2, comm, tot, order, rng, nbw, nbc, max_passes):
    """Local moving in full passes: each node (random order) joins the neighbouring community
    with the largest modularity gain w_ic - k_i tot_c / 2m (its own community included, ties keep
    it), pass after pass until one moves nothing. Returns the number of moves made."""
    N = k.shape[0]
    total = 0
    for _ in range(max_passes):
        shuffle(order, rng)
        moves = 0
        for o in range(N):
            i = order[o]
            best = _best_community(i, indptr, indices, w, k, m2, comm, tot, nbw, nbc)
            tot[best] += k[i]
            if best != comm[i]:
                comm[i] = best
                moves += 1
        total += moves
        if moves == 0:
            break
    return total


@numba.njit(cache=True, nogil=True)
def _move_queued(indptr, indices, w, k, m2, comm, tot, order, rng, nbw, nbc, queue, queued):
    """Local moving with a queue (Traag et al.'s fast local moving, as in the Leiden method):
    every node enters the queue once, in random order; a node that moves puts back those of its
    neighbours that are outside its new community and not queued already. Ends when the queue
    is empty. The same moves as ``_move`` (each one raises modularity), but a node is looked at
    again only when a neighbour has moved: the long tail of full passes that move a few nodes
    each (269 passes at level 0 on a planted network of 300,000 nodes and 3 M links, each over
    all the links) costs the moved nodes' links instead. Returns (moves, nodes looked at)."""
    N = k.shape[0]
    shuffle(order, rng)
    for o in range(N):
        queue[o] = order[o]
        queued[order[o]] = True
    head = 0
    size = N
    moves = 0
    looked = 0
    while size > 0:
        i = queue[head]
        head = head + 1 if head + 1 < N else 0
        size -= 1
        looked += 1
        queued[i] = False
        best = _best_community(i, indptr, indices, w, k, m2, comm, tot, nbw, nbc)
        tot[best] += k[i]
        if best != comm[i]:
            comm[i] = best
            moves += 1
            for j in range(indptr[i], indptr[i + 1]):
                b = indices[j]
                if not queued[b] and comm[b] != best:
                    t = head + size
                    queue[t if t < N else t - N] = b
                    queued[b] = True
                    size += 1
    return moves, looked


@numba.njit(cache=True, nogil=True)
def _aggregate(indptr, indices, w, comm, C):
    """The community graph: entry (c, d) = the sum of the weights between the members of c and
    those of d (P^T A P for the membership matrix P), as CSR with sorted columns."""
    N = comm.shape[0]
    start = np.zeros(C + 1, np.int64)
    for i in range(N):
        start[comm[i] + 1] += 1
    for c in range(C):
        start[c + 1] += start[c]
    members = np.empty(N, np.int64)
    fill = start[:-1].copy()
    for i in range(N):
        members[fill[comm[i]]] = i
        fill[comm[i]] += 1
    nnz = indptr[N]
    out_ptr = np.zeros(C + 1, np.int64)
    out_ind = np.empty(nnz, indices.dtype)
    out_w = np.empty(nnz, np.float64)
    nbw = np.zeros(C)
    nbc = np.empty(C, np.int64)
    seen = np.zeros(C, np.bool_)
    pos = 0
    for c in range(C):
        nn = 0
        for m in range(start[c], start[c + 1]):
            i = members[m]
            for j in range(indptr[i], indptr[i + 1]):
                d = comm[indices[j]]
                if not seen[d]:
                    seen[d] = True
                    nbc[nn] = d
                    nn += 1
                nbw[d] += w[j]
        cols = np.sort(nbc[:nn])
        for t in range(nn):
            d = cols[t]
            out_ind[pos] = d
            out_w[pos] = nbw[d]
            pos += 1
            nbw[d] = 0.0
            seen[d] = False
        out_ptr[c + 1] = pos
    return out_ptr, out_ind[:pos].copy(), out_w[:pos].copy()


@numba.njit(cache=True, nogil=True)
def _row_sums(indptr, w):
    n = indptr.shape[0] - 1
    k = np.zeros(n)
    for i in range(n):
        for j in range(indptr[i], indptr[i + 1]):
            k[i] += w[j]
    return k


def _relabel(labels):
    _, inv = np.unique(labels, return_inverse=True)
    return inv.astype(np.int64)


def louvain_labels(
    adj: sp.csr_matrix, rng, max_levels: int = 30, queued: bool | None = None
) -> np.ndarray:
    """Louvain communities of the symmetric weighted adjacency ``adj`` as labels 0..C-1.

    ``queued``: local moving with a queue (``_move_queued``) rather than in full passes
    (``_move``); None (the default): queued when the adjacency has more than
    QUEUED_MOVE_MIN_ENTRIES stored entries, so small networks keep the full passes' results."""
    N = adj.shape[0]
    A = sp.csr_matrix(adj, dtype=np.float64)
    A.sum_duplicates()
    labels = np.arange(N, dtype=np.int64)
    m2 = float(A.sum())
    if m2 <= 0:
        return labels
    if queued is None:
        queued = A.nnz > QUEUED_MOVE_MIN_ENTRIES
    indptr, indices, data = A.indptr.astype(np.int64), A.indices, A.data
    del A
    for _ in range(max_levels):
        n = len(indptr) - 1
        k = _row_sums(indptr, data)
        comm = np.arange(n, dtype=np.int32)
        tot = k.copy()
        order = np.arange(n, dtype=np.int32)
        # both local moves take the level's graph and state, then their own scratch
        level = (indptr, indices, data, k, m2, comm, tot, order, rng, np.zeros(n))
        if queued:
            scratch = (np.zeros(n, np.int32), np.zeros(n, np.int32), np.zeros(n, np.bool_))
            moved, _ = _move_queued(*level, *scratch)
        else:
            moved = _move(*level, np.zeros(n, np.int32), 1000)
        comm = _relabel(comm)
        labels = comm[labels]
        if moved == 0 or comm.max() + 1 == n:
            break
        indptr, indices, data = _aggregate(indptr, indices, data, comm, int(comm.max()) + 1)
    return _relabel(labels)


def _merge_smallest(A: sp.csr_matrix, labels: np.ndarray, K: int) -> np.ndarray:
    """Merge communities (smallest first, into the one it shares most links with) down to K."""
    C = int(labels.max()) + 1
    if C <= K:
        return labels
    P = sp.csr_matrix(
        (np.ones(len(labels)), (np.arange(len(labels)), labels)), shape=(len(labels), C)
    )
    B = (P.T @ A @ P).tolil()
    links = [dict(zip(B.rows[c], B.data[c])) for c in range(C)]
    size = np.bincount(labels, minlength=C).astype(np.int64)
    parent = np.arange(C)
    alive = set(range(C))
    import heapq

    heap = [(int(size[c]), c) for c in range(C)]
    heapq.heapify(heap)
    while len(alive) > K:
        s_size, s = heapq.heappop(heap)
        if s not in alive or s_size != size[s]:
            continue
        nb = {d: wt for d, wt in links[s].items() if d != s and d in alive}
        if nb:
            d = max(nb, key=lambda c: (nb[c], -size[c], -c))
        else:  # no links out: the next smallest community
            while True:
                d_size, d = heap[0]
                if d in alive and d_size == size[d] and d != s:
                    break
                heapq.heappop(heap)
        alive.discard(s)
        parent[s] = d
        size[d] += size[s]
        for c, wt in links[s].items():
            if c == s:
                links[d][d] = links[d].get(d, 0.0) + wt
                continue
            links[d][c] = links[d].get(c, 0.0) + wt
            links[c][d] = links[c].get(d, 0.0) + wt
            links[c].pop(s, None)
        links[d].pop(s, None)
        links[s] = {}
        heapq.heappush(heap, (int(size[d]), d))
    root = parent.copy()
    for c in range(C):
        r = c
        while parent[r] != r:
            r = parent[r]
        root[c] = r
    return _relabel(root[labels])


def _two_way_split(adj: sp.csr_matrix, members: np.ndarray, rng) -> np.ndarray:
    """0/1 labels splitting ``members`` in two: Louvain on their own links, its two largest parts
    kept and the others merged into them; a random halving when Louvain keeps them whole."""
    sub = adj[members][:, members].tocsr()
    part = louvain_labels(sub, rng)
    if part.max() + 1 >= 2:
        return _merge_smallest(sub, part, 2)
    part = np.zeros(len(members), np.int64)
    part[
        np.random.default_rng(int(rng[0] % (1 << 32))).permutation(len(members))[
            : len(members) // 2
        ]
    ] = 1
    return part


def _split_gain(
    adj: sp.csr_matrix, members: np.ndarray, part: np.ndarray, deg: np.ndarray, m2: float
) -> float:
    """Change of Newman's modularity when ``members`` is split into part 0 and part 1:
    -(2 e_01 / 2m - 2 d_0 d_1 / (2m)^2), e_01 the links between the parts, d their degree sums."""
    sub = adj[members][:, members].tocoo()
    e01 = float(sub.data[part[sub.row] != part[sub.col]].sum()) / 2.0
    d1 = float(deg[members][part == 1].sum())
    d0 = float(deg[members].sum()) - d1
    return -(2.0 * e01 / m2 - 2.0 * d0 * d1 / (m2 * m2))


def to_k(adj: sp.csr_matrix, labels: np.ndarray, K: int, rng) -> np.ndarray:
    """Bring a hard partition to exactly K communities (K <= N): merge the smallest or split
    (see the module docstring)."""
    labels = _relabel(labels)
    labels = _merge_smallest(adj, labels, K)
    N = len(labels)
    if labels.max() + 1 >= K:
        return labels
    deg = np.asarray(adj.sum(1)).ravel()
    m2 = float(deg.sum()) or 1.0
    labels = labels.copy()
    cand = {}  # community -> (modularity gain of its best split, part)
    while labels.max() + 1 < K:
        for c in range(int(labels.max()) + 1):
            if c not in cand:
                members = np.flatnonzero(labels == c)
                if len(members) < 2:
                    cand[c] = (-math.inf, None)
                    continue
                part = _two_way_split(adj, members, rng)
                cand[c] = (_split_gain(adj, members, part, deg, m2), part)
        best = max(cand, key=lambda c: (cand[c][0], -c))
        gain, part = cand[best]
        if part is None:
            break
        members = np.flatnonzero(labels == best)
        new = int(labels.max()) + 1
        labels[members[part == 1]] = new
        del cand[best]
        if N <= new:
            break
    return _relabel(labels)


def spectral_labels(adj: sp.csr_matrix, K: int, seed: int) -> np.ndarray:
    """K-means on the rows (unit length) of the K leading eigenvectors of D^-1/2 A D^-1/2."""
    from scipy.cluster.vq import kmeans2
    from scipy.sparse.linalg import eigsh

    N = adj.shape[0]
    d = np.asarray(adj.sum(1)).ravel()
    s = np.where(d > 0, 1.0 / np.sqrt(np.maximum(d, 1e-300)), 0.0)
    An = sp.diags(s) @ adj @ sp.diags(s)
    if N <= 300 or K >= N // 3:
        _, vecs = np.linalg.eigh(An.toarray())
        X = vecs[:, -K:]
    else:
        v0 = np.random.default_rng(seed).random(N)
        _, X = eigsh(An.tocsr(), k=K, which="LA", v0=v0, tol=1e-6, maxiter=max(1000, 20 * N))
    X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    rng = np.random.default_rng(seed)
    best = None
    with warnings.catch_warnings():  # "one of the clusters is empty": to_k refills it
        warnings.simplefilter("ignore")
        for _ in range(KMEANS_RESTARTS):
            cent, lab = kmeans2(X, K, minit="++", seed=rng, iter=30)
            inertia = float(((X - cent[lab]) ** 2).sum())
            if best is None or inertia < best[0]:
                best = (inertia, lab)
    lab = best[1]
    lab = to_k(adj, lab, K, np.array([seed * 2 + 1], dtype=np.uint64))
    return _relabel(lab)


def hard_memberships_mu(labels: np.ndarray, K: int, seed: int) -> np.ndarray:
    """Starting means: log 0.9 on the node's community, log(0.1 / (K - 1)) elsewhere (as findk's
    start), plus N(0, 0.01^2) noise."""
    N = len(labels)
    mu = np.full((N, K), math.log(0.1 / (K - 1)) if K > 1 else 0.0)
    mu[np.arange(N), labels] = math.log(0.9) if K > 1 else 0.0
    return mu + np.random.default_rng(seed).normal(0.0, 0.01, size=(N, K))
