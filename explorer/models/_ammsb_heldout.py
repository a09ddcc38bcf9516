"""Which pairs of nodes the a-MMSB trains on, holds out and tests on (docs/models/ammsb.md,
"Held-out set").

* :func:`split_pairs`: the held-out set (links and as many non-links, drawn with a seed that depends
  on the network alone, so restarts are compared on the same pairs) and the test set (the given
  test pairs, or a disjoint automatic one drawn the same way), both removed from training.
* :func:`training_pairs`: the training graph as the minibatch kernels read it (CSR lists of the
  training links and of every node's excluded partners); :func:`training_with_heldout` is the same
  with the held-out pairs given back (a small network's final phase).
* :func:`elbo_pairs`: the training pairs the ELBO is computed on (all, or a fixed weighted sample).

Everything here is a plain function of its arguments; the model keeps what they return.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np
import scipy.sparse as sp

from explorer.data.types import DataError
from explorer.models import _ammsb_kernels as kr

MIN_HELDOUT_LINKS = 10  # links (and as many non-links) in each of the held-out and test sets ...
HOLDOUT_MAX_SHARE = 0.3  # ... unless together they would take more than this share of the links
SMALL_NETWORK_LINKS = 200  # below this many links no automatic test set (the held-out set only)
ELBO_EXACT_MAX = 100_000  # training pairs up to which the ELBO is exact
ELBO_SAMPLE = 5_000


@dataclass(frozen=True)
class HeldOutSplit:
    """The pairs of a network, in the order the model reads them. Node pairs are (u, v) arrays;
    a pair's key is u * N + v (undirected: u < v)."""

    n_nodes: int
    directed: bool
    link_u: np.ndarray  # every link (self-loops and duplicates dropped), sorted by key
    link_v: np.ndarray
    train_u: np.ndarray  # the training links: every link not held out and not tested
    train_v: np.ndarray
    heldout_u: np.ndarray  # the held-out set (the convergence set): links, then non-links
    heldout_v: np.ndarray
    heldout_y: np.ndarray
    heldout_nonlinks: np.ndarray  # keys of the held-out non-links
    test_u: np.ndarray | None  # the test set (None: none)
    test_v: np.ndarray | None
    test_y: np.ndarray | None
    test_source: str  # "test pairs", "automatic" or "none"
    test_excluded: np.ndarray  # keys kept out of training for the test set (links and non-links)
    density: float  # links / node pairs
    n_links: int
    notes: tuple[str, ...]  # what the model should tell the user about the sets


class TrainingPairs(NamedTuple):
    """The training links and the graph the minibatch kernels sample pairs from."""

    train_u: np.ndarray
    train_v: np.ndarray
    graph: kr.PairGraph
    n_pairs: np.ndarray  # (N,) float: each node's training pairs (links and non-links)
    n_train_pairs: float  # training pairs of the network (each counted once)

    @property
    def n_train_links(self) -> int:
        return len(self.train_u)

    def max_degree(self) -> int:
        """The most training links of one node (directed: out- plus in-links)."""
        g = self.graph
        return int(np.diff(g.tr_ptr0).max() + (np.diff(g.tr_ptr1).max() if g.directed else 0))

    def pair_slots(self, n_samples: int) -> int:
        """Pair slots a node visit needs: its links and the sampled non-links of each kind."""
        return self.max_degree() + self.graph.n_kinds * 2 * n_samples


class ElboPairs(NamedTuple):
    """The pairs (u, v), their links y and weights w the ELBO sums over; exact: every training
    pair with weight 1 (else a sample of links and non-links, weighted up)."""

    u: np.ndarray
    v: np.ndarray
    y: np.ndarray
    w: np.ndarray
    exact: bool


def pair_keys(u, v, n, directed):
    if not directed:
        u, v = np.minimum(u, v), np.maximum(u, v)
    return u.astype(np.int64, copy=False) * n + v.astype(np.int64, copy=False)


def check_test_pairs(test_pairs, n, path) -> None:
    """Given test pairs: three columns u, v, y, nodes in range, y 0 or 1 (DataError otherwise)."""
    tp = np.asarray(test_pairs)
    if tp.ndim != 2 or tp.shape[1] != 3:
        raise DataError("test pairs must have three columns u, v, y", path=path)
    if len(tp) and (tp[:, :2].min() < 0 or tp[:, :2].max() >= n):
        raise DataError("test pairs refer to nodes outside the network", path=path)
    if len(tp) and not np.isin(tp[:, 2], (0, 1)).all():
        raise DataError("test pair labels y must be 0 or 1", path=path)


def ignored_weights_note(weights) -> str | None:
    """The note saying that edge weights other than 1 are ignored (None: there are none): the
    a-MMSB models each pair as linked or not."""
    if weights is None or not len(weights) or not np.any(np.asarray(weights) != 1):
        return None
    n_w = int(np.count_nonzero(np.asarray(weights) != 1))
    return (
        f"edge weights are ignored: the a-MMSB models each pair as linked or "
        f"not ({n_w} of {len(weights)} links have a weight other than 1)"
    )


@numba.njit(cache=True, nogil=True)
def _take_links(order, eu, ev, deg, h):
    """The first h links of ``order`` (indices into eu, ev) whose two nodes both keep another
    training link (``deg``, the training degrees, updated)."""
    chosen = np.empty(min(h, len(order)), np.int64)
    n = 0
    for idx in order:
        if n >= h:
            break
        a, b = eu[idx], ev[idx]
        if deg[a] > 1 and deg[b] > 1:
            deg[a] -= 1
            deg[b] -= 1
            chosen[n] = idx
            n += 1
    return chosen[:n]


class _PairDraws:
    """Draws of held-out (and test) links and non-links from one generator. A drawn link leaves
    training (``train_mask``) unless it is the last training link of one of its nodes; a drawn
    non-link is no link, no test pair and not drawn before."""

    def __init__(self, link_keys, eu, ev, train_mask, test_keys, N, directed, rng):
        self.link_keys, self.eu, self.ev = link_keys, eu, ev
        self.train_mask, self.N, self.directed, self.rng = train_mask, N, directed, rng
        self.deg = np.bincount(eu[train_mask], minlength=N) + np.bincount(
            ev[train_mask], minlength=N
        )
        self.taken_test = sorted_unique(test_keys)
        self.drawn = np.zeros(0, np.int64)  # the non-links drawn so far, sorted

    def links(self, h):
        """Up to h training links (indices into the link list), taken out of training."""
        order = self.rng.permutation(np.flatnonzero(self.train_mask))
        chosen = _take_links(order, self.eu, self.ev, self.deg, h)
        self.train_mask[chosen] = False
        return chosen

    def nonlinks(self, n_want):
        """Up to n_want non-link keys (fewer when 1,000 tries per wanted pair find none).

        A try draws two nodes a, b (rng.integers(N), one after the other) and keeps the pair when
        a != b and it is no link, no test pair and not drawn before. The tries are drawn in
        blocks and judged with array operations; the generator is then left where drawing them
        one at a time would have left it (a block of n draws equals n single draws), so the
        pairs and what the generator draws next are those of the one-at-a-time loop."""
        N, rng = self.N, self.rng
        limit = 1000 * (n_want + 10)
        start = rng.bit_generator.state
        found, tries = [], 0
        n_found = 0
        while n_found < n_want and tries < limit:
            m = min(limit - tries, 2 * (n_want - n_found) + 1024)
            ab = rng.integers(N, size=2 * m).reshape(m, 2)
            keys = pair_keys(ab[:, 0], ab[:, 1], N, self.directed)
            ok = (ab[:, 0] != ab[:, 1]) & ~_in_sorted(keys, self.taken_test)
            ok &= ~_in_sorted(keys, self.link_keys) & ~_in_sorted(keys, self.drawn)
            # a pair drawn twice within the block counts at its first try only
            at = np.flatnonzero(ok)
            _, first = np.unique(keys[at], return_index=True)
            at = np.sort(at[first])[: n_want - n_found]
            found.append(keys[at])
            n_found += len(at)
            self.drawn = np.sort(np.concatenate([self.drawn, keys[at]]))
            tries += int(at[-1]) + 1 if n_found == n_want else m
        rng.bit_generator.state = start  # to where the one-at-a-time loop left it
        for done in range(0, 2 * tries, 1 << 20):
            rng.integers(N, size=min(1 << 20, 2 * tries - done))
        return np.concatenate(found) if found else np.zeros(0, np.int64)


def _in_sorted(keys, sorted_keys):
    """Whether each of ``keys`` is in the sorted array ``sorted_keys`` (O(log n) each; the keys
    are looked up in increasing order, which numpy's binary search narrows from one to the next,
    so a large ``sorted_keys`` is read in order, not at random)."""
    out = np.zeros(len(keys), bool)
    if len(sorted_keys) and len(keys):
        by = np.argsort(keys)
        at = np.minimum(np.searchsorted(sorted_keys, keys[by]), len(sorted_keys) - 1)
        out[by] = sorted_keys[at] == keys[by]
    return out


def sorted_unique(keys):
    """np.unique of int64 ``keys`` (sorted, without repeats) in O(n) when they are sorted
    already (the edges of a network in the canonical order, _canonical.reorder_network), else
    one sort: numpy's own unique hashed its 10,000,000 keys of the million-node benchmark in
    9-10 s, where the sort takes 0.3 s."""
    keys = np.asarray(keys)
    if len(keys) > 1 and not (keys[1:] >= keys[:-1]).all():
        keys = np.sort(keys)
    keep = np.ones(len(keys), bool)
    np.not_equal(keys[1:], keys[:-1], out=keep[1:])
    return keys[keep]


def _set_size(heldout_fraction, n_links, n_sets):
    """Links per set: max(fraction, MIN_HELDOUT_LINKS) unless the n_sets sets together would take
    more than HOLDOUT_MAX_SHARE of the links; fraction 0: the smallest set that still gives a
    curve."""
    if heldout_fraction == 0:
        return max(min(MIN_HELDOUT_LINKS, n_links // 10), 1)
    cap = int(HOLDOUT_MAX_SHARE * n_links) // n_sets
    return max(math.ceil(heldout_fraction * n_links), min(MIN_HELDOUT_LINKS, cap), 1)


def _labelled(n_links, non):
    """Labels y of a set of n_links links followed by the non-links ``non``."""
    return np.concatenate([np.ones(n_links, np.int64), np.zeros(len(non), np.int64)])


def split_pairs(edges, n_nodes, directed, test_pairs, heldout_fraction, path=None) -> HeldOutSplit:
    """The held-out set, the test set and the training links of a network (the model's docs,
    "Held-out set"). DataError when not a single link or non-link can be held out."""
    N = n_nodes
    directed = bool(directed)
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    e = e[e[:, 0] != e[:, 1]]
    link_keys = sorted_unique(pair_keys(e[:, 0], e[:, 1], N, directed))
    eu, ev = link_keys // N, link_keys % N
    notes = []
    # test pairs: out of training whatever they are
    tp = None
    test_keys = np.zeros(0, np.int64)
    if test_pairs is not None and len(test_pairs):
        tp = np.asarray(test_pairs, dtype=np.int64)
        tp = tp[tp[:, 0] != tp[:, 1]]
        test_keys = sorted_unique(pair_keys(tp[:, 0], tp[:, 1], N, directed))
    train_mask = ~_in_sorted(link_keys, test_keys)
    # held-out set: links and non-links, fixed seed from the network alone
    rng = np.random.default_rng(7919 * N + 104729 * len(link_keys))
    n_links = int(train_mask.sum())
    # each set (held-out, and the automatic test set) gets max(fraction, 10) links
    auto_test = tp is None and heldout_fraction > 0 and len(link_keys) >= SMALL_NETWORK_LINKS
    h = _set_size(heldout_fraction, n_links, 2 if auto_test else 1)
    draws = _PairDraws(link_keys, eu, ev, train_mask, test_keys, N, directed, rng)
    chosen = draws.links(h)
    non = draws.nonlinks(len(chosen))
    if len(chosen) == 0 or len(non) == 0:
        what = "link" if len(chosen) == 0 else "non-link"
        why = (
            "every training link is the last link of one of its nodes"
            if len(chosen) == 0
            else "every pair of nodes is linked or already set aside"
        )
        raise DataError(
            f"the a-MMSB cannot hold out a single {what} ({why}; {N} nodes, {n_links} "
            f"training links{' after the test pairs' if tp is not None else ''}): its "
            "held-out log-likelihood, which drives and stops the fit, would be empty. Use a "
            "larger network or fewer test pairs",
            path=path,
        )
    if len(chosen) < MIN_HELDOUT_LINKS:
        notes.append(
            f"held-out set: {len(chosen)} links + {len(non)} non-links, fewer than "
            f"{MIN_HELDOUT_LINKS} + {MIN_HELDOUT_LINKS} (the network has {n_links} links and "
            f"at most {HOLDOUT_MAX_SHARE:.0%} are set aside): its curve and AUC are coarse"
        )
    ho_keys = np.concatenate([link_keys[chosen], non])
    test_u = test_v = test_y = None
    test_source = "none"
    if tp is not None:
        test_u, test_v, test_y = tp[:, 0].copy(), tp[:, 1].copy(), tp[:, 2].astype(np.int64)
        test_source = "test pairs"
    elif auto_test:
        # no test pairs given: a disjoint test set drawn like the held-out set (same size,
        # after it, from the same network-only seed), also removed from training
        t_links = draws.links(h)
        t_non = draws.nonlinks(len(t_links))
        if len(t_links) < MIN_HELDOUT_LINKS:
            notes.append(
                f"test set: {len(t_links)} links + {len(t_non)} non-links, fewer than "
                f"{MIN_HELDOUT_LINKS} + {MIN_HELDOUT_LINKS}: test AUC and perplexity are coarse"
            )
        t_keys = np.concatenate([link_keys[t_links], t_non])
        test_u, test_v, test_y = t_keys // N, t_keys % N, _labelled(len(t_links), t_non)
        test_keys = np.concatenate([test_keys, t_non])  # excluded non-links
        test_source = "automatic"
    elif heldout_fraction > 0:
        notes.append(
            f"no automatic test set: the network has fewer than {SMALL_NETWORK_LINKS} "
            "links, so only the held-out set is set aside (its AUC is the link-prediction "
            "figure); give --test-pairs for a test set"
        )
    if test_u is not None and (not test_y.any() or test_y.all()):
        notes.append("the test set holds only links or only non-links: no test AUC")
    total_pairs = N * (N - 1) if directed else N * (N - 1) / 2
    return HeldOutSplit(
        n_nodes=N,
        directed=directed,
        link_u=eu,
        link_v=ev,
        train_u=eu[train_mask],
        train_v=ev[train_mask],
        heldout_u=ho_keys // N,
        heldout_v=ho_keys % N,
        heldout_y=_labelled(len(chosen), non),
        heldout_nonlinks=non,
        test_u=test_u,
        test_v=test_v,
        test_y=test_y,
        test_source=test_source,
        test_excluded=test_keys,
        density=len(link_keys) / total_pairs,
        n_links=len(link_keys),
        notes=tuple(notes),
    )


@numba.njit(cache=True, nogil=True)
def _csr(rows, cols, n, both):
    """Binary CSR (sorted rows, no repeats) of the pairs (rows[p], cols[p]), and of the pairs
    (cols[p], rows[p]) too when ``both``: (indptr, indices), int64. A counting sort by row, then
    each (short) row sorted: O(E) for the E pairs where scipy's coo -> csr and sort took 1.2 s per
    matrix on the million-node benchmark's 20,000,000 entries."""
    ptr = np.zeros(n + 1, np.int64)
    for p in range(rows.shape[0]):
        ptr[rows[p] + 1] += 1
        if both:
            ptr[cols[p] + 1] += 1
    for r in range(n):
        ptr[r + 1] += ptr[r]
    idx = np.empty(ptr[n], np.int64)
    fill = ptr[:-1].copy()
    for p in range(rows.shape[0]):
        idx[fill[rows[p]]] = cols[p]
        fill[rows[p]] += 1
        if both:
            idx[fill[cols[p]]] = rows[p]
            fill[cols[p]] += 1
    # each row sorted and its repeats dropped, compacted in place (a row only moves left)
    out = np.zeros(n + 1, np.int64)
    pos = 0
    for r in range(n):
        row = idx[ptr[r] : ptr[r + 1]]
        for j in range(1, row.shape[0]):
            if row[j] < row[j - 1]:
                row.sort()
                break
        for j in range(row.shape[0]):
            if j == 0 or row[j] != row[j - 1]:
                idx[pos] = row[j]
                pos += 1
        out[r + 1] = pos
    return out, idx[:pos].copy()


def _training_graph(split, tu, tv, excluded_keys) -> TrainingPairs:
    """CSR lists of the training links (tu, tv) and of every node's excluded partners (every
    link, plus the pairs with keys ``excluded_keys``)."""
    N, directed = split.n_nodes, split.directed
    fu = np.concatenate([split.link_u, excluded_keys // N])
    fv = np.concatenate([split.link_v, excluded_keys % N])
    if directed:
        tr0, tr1 = _csr(tu, tv, N, False), _csr(tv, tu, N, False)
        fb0, fb1 = _csr(fu, fv, N, False), _csr(fv, fu, N, False)
        n_kinds = 2
    else:
        tr0 = tr1 = _csr(tu, tv, N, True)
        fb0 = fb1 = _csr(fu, fv, N, True)
        n_kinds = 1
    nonlinks = np.zeros((N, 2), dtype=np.int64)
    nonlinks[:, 0] = N - 1 - np.diff(fb0[0])
    train_deg = np.diff(tr0[0]).astype(np.float64)
    if directed:
        nonlinks[:, 1] = N - 1 - np.diff(fb1[0])
        train_deg = train_deg + np.diff(tr1[0])
    n_pairs = (train_deg + nonlinks.sum(1)).astype(np.float64)
    graph = kr.PairGraph(
        tr0[0], tr0[1], tr1[0], tr1[1], fb0[0], fb0[1], fb1[0], fb1[1], nonlinks, n_kinds, directed
    )
    return TrainingPairs(tu, tv, graph, n_pairs, float(n_pairs.sum() / 2.0))


def symmetric_adjacency(training: TrainingPairs, n_nodes) -> sp.csr_matrix:
    """The symmetric 0/1 adjacency of the training links (undirected: the training graph's own
    rows)."""
    g = training.graph
    ptr, idx = (
        (g.tr_ptr0, g.tr_idx0)
        if not g.directed
        else _csr(training.train_u, training.train_v, n_nodes, True)
    )
    small = max(n_nodes, len(idx)) < 2**31  # scipy's index type, as the starts' kernels take
    return sp.csr_matrix(
        (
            np.ones(len(idx)),
            idx.astype(np.int32) if small else idx,
            ptr.astype(np.int32) if small else ptr,
        ),
        shape=(n_nodes, n_nodes),
    )


def training_pairs(split: HeldOutSplit) -> TrainingPairs:
    """The training graph: the training links; every link, held-out and test pair excluded from
    the non-links."""
    return _training_graph(
        split,
        split.train_u,
        split.train_v,
        np.concatenate([split.test_excluded, split.heldout_nonlinks]),
    )


def training_with_heldout(split: HeldOutSplit) -> TrainingPairs:
    """The training graph with the held-out pairs back in training (links as links, non-links as
    non-links); the test set stays out."""
    y = split.heldout_y == 1
    return _training_graph(
        split,
        np.concatenate([split.train_u, split.heldout_u[y]]),
        np.concatenate([split.train_v, split.heldout_v[y]]),
        split.test_excluded,
    )


def elbo_pairs(training: TrainingPairs, n_nodes, directed, seed) -> ElboPairs:
    """The training pairs the ELBO is computed on: every one when there are at most
    ELBO_EXACT_MAX, else ELBO_SAMPLE links and ELBO_SAMPLE non-links drawn with ``seed``, weighted
    by how many each stands for."""
    N = n_nodes
    g = training.graph
    rng = np.random.default_rng(seed)
    fb = sp.csr_matrix((np.ones(len(g.fb_idx0), np.int8), g.fb_idx0, g.fb_ptr0), shape=(N, N))
    exact = training.n_train_pairs <= ELBO_EXACT_MAX
    if exact:
        if directed:
            u, v = np.nonzero(~np.eye(N, dtype=bool))
        else:
            u, v = np.triu_indices(N, 1)
        tr = sp.csr_matrix((np.ones(len(g.tr_idx0), np.int8), g.tr_idx0, g.tr_ptr0), shape=(N, N))
        y = np.asarray(tr[u, v]).ravel().astype(np.int64)
        f = np.asarray(fb[u, v]).ravel()
        keep = (y == 1) | (f == 0)
        u, v, y = u[keep], v[keep], y[keep]
        w = np.ones(len(u))
    else:
        E = training.n_train_links
        if E > ELBO_SAMPLE:
            idx = rng.choice(E, ELBO_SAMPLE, replace=False)
            lu, lv, lw = training.train_u[idx], training.train_v[idx], E / ELBO_SAMPLE
        else:
            lu, lv, lw = training.train_u, training.train_v, 1.0
        total_non = training.n_train_pairs - E
        nu = rng.integers(N, size=3 * ELBO_SAMPLE)
        nv = rng.integers(N, size=3 * ELBO_SAMPLE)
        ok = nu != nv
        nu, nv = nu[ok], nv[ok]
        if not directed:
            nu, nv = np.minimum(nu, nv), np.maximum(nu, nv)
        ok = np.asarray(fb[nu, nv]).ravel() == 0
        nu, nv = nu[ok][:ELBO_SAMPLE], nv[ok][:ELBO_SAMPLE]
        u = np.concatenate([lu, nu])
        v = np.concatenate([lv, nv])
        y = _labelled(len(lu), nu)
        w = np.concatenate([np.full(len(lu), lw), np.full(len(nu), total_non / len(nu))])
    return ElboPairs(
        np.ascontiguousarray(u, dtype=np.int64),
        np.ascontiguousarray(v, dtype=np.int64),
        y,
        w,
        exact,
    )
