"""Gopalan's initialisation (svinet's ``-findk``): label propagation with a top-5 list per node,
communities read off the links.

1. Every node starts as its own community. In sweeps over the nodes in random order, a node adopts
   the label carrying the largest total link weight among its neighbours (ties broken at random).
   At least ceil(log10 N) sweeps are run, continuing while labels still change (at most
   ``max_sweeps``).
2. Each node keeps its five heaviest neighbour labels (a top-5 list with their weights).
3. A link (a, b) joins both ends to a label on both top-5 lists when that label holds more than
   half of the weight each end puts on the labels the two lists share (read per end: summing the
   two ends' weights would let nearly every link between communities pull the weaker end into the
   stronger end's community). Every node also keeps its own label. Labels are then communities, possibly overlapping.

``findk`` returns the communities as (node, community) pairs sorted by community size.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from explorer.models._ammsb_kernels import rng_int, shuffle

TOP = 5


@numba.njit(cache=True, nogil=True, inline="always")
def _label_weights(indptr, indices, weights, labels, a, acc, touched):
    """acc[lab] += the weight of node a's links to neighbours labelled lab; the labels it adds to
    (acc zero before) listed in touched[:nt], in order of first appearance. Returns nt. The
    caller clears acc (at the touched labels) before the next node."""
    nt = 0
    for j in range(indptr[a], indptr[a + 1]):
        lab = labels[indices[j]]
        if acc[lab] == 0.0:
            touched[nt] = lab
            nt += 1
        acc[lab] += weights[j]
    return nt


@numba.njit(cache=True, nogil=True, inline="always")
def _shared_weight(top_lab, top_w, a, b):
    """(sa, sb): the weight a's top list and b's top list put on the labels both lists hold."""
    T = top_lab.shape[1]
    sa = 0.0
    sb = 0.0
    for s in range(T):
        for t in range(T):
            if top_lab[a, s] >= 0 and top_lab[b, t] == top_lab[a, s]:
                sa += top_w[a, s]
                sb += top_w[b, t]
    return sa, sb


@numba.njit(cache=True, nogil=True)
def _propagate(indptr, indices, weights, labels, order, rng, min_sweeps, max_sweeps, acc, touched):
    N = labels.shape[0]
    sweeps = 0
    while sweeps < max_sweeps:
        sweeps += 1
        shuffle(order, rng)
        changed = 0
        for o in range(N):
            a = order[o]
            nt = _label_weights(indptr, indices, weights, labels, a, acc, touched)
            if nt == 0:
                continue
            best = -1.0
            best_lab = labels[a]
            ties = 0
            for t in range(nt):
                lab = touched[t]
                w = acc[lab]
                if w > best + 1e-12:
                    best = w
                    best_lab = lab
                    ties = 1
                elif abs(w - best) <= 1e-12:
                    ties += 1
                    if rng_int(rng, ties) == 0:
                        best_lab = lab
            for t in range(nt):
                acc[touched[t]] = 0.0
            # keep the current label when it is among the best (stabilises the sweeps)
            cur = labels[a]
            wcur = 0.0
            for j in range(indptr[a], indptr[a + 1]):
                if labels[indices[j]] == cur:
                    wcur += weights[j]
            if wcur >= best - 1e-12:
                best_lab = cur
            if best_lab != cur:
                labels[a] = best_lab
                changed += 1
        if sweeps >= min_sweeps and changed == 0:
            break
    return sweeps


@numba.njit(cache=True, nogil=True)
def _top_lists(indptr, indices, weights, labels, top_lab, top_w, acc, touched):
    N = labels.shape[0]
    T = top_lab.shape[1]
    for a in range(N):
        for t in range(T):
            top_lab[a, t] = -1
            top_w[a, t] = 0.0
        nt = _label_weights(indptr, indices, weights, labels, a, acc, touched)
        for t in range(nt):
            lab = touched[t]
            w = acc[lab]
            acc[lab] = 0.0
            # insert into the sorted top list
            pos = T
            while pos > 0 and (top_lab[a, pos - 1] < 0 or w > top_w[a, pos - 1]):
                pos -= 1
            if pos < T:
                for q in range(T - 1, pos, -1):
                    top_lab[a, q] = top_lab[a, q - 1]
                    top_w[a, q] = top_w[a, q - 1]
                top_lab[a, pos] = lab
                top_w[a, pos] = w


@numba.njit(cache=True, nogil=True)
def _read_links(eu, ev, top_lab, top_w, out_node, out_lab):
    """For every link (a, b), a label on both ends' top lists holding more than half of the weight
    each end puts on the labels the two lists share joins both ends. Returns the number of
    (node, label) pairs written."""
    T = top_lab.shape[1]
    n = 0
    for e in range(eu.shape[0]):
        a = eu[e]
        b = ev[e]
        sa, sb = _shared_weight(top_lab, top_w, a, b)
        for s in range(T):
            la = top_lab[a, s]
            if la < 0:
                continue
            for t in range(T):
                if top_lab[b, t] == la and top_w[a, s] > 0.5 * sa and top_w[b, t] > 0.5 * sb:
                    out_node[n] = a
                    out_lab[n] = la
                    out_node[n + 1] = b
                    out_lab[n + 1] = la
                    n += 2
    return n


def findk(adjacency, edges, rng_state, max_sweeps: int = 30):
    """Communities from label propagation on the symmetrised adjacency.

    Returns (node, comm) int arrays of memberships (comm = 0 is the largest community) and
    the community sizes, largest first.
    """
    sym = adjacency.maximum(adjacency.T).tocsr() if (adjacency != adjacency.T).nnz else adjacency
    sym = sym.tocsr()
    sym.sort_indices()
    N = sym.shape[0]
    indptr = sym.indptr.astype(np.int64)
    indices = sym.indices.astype(np.int64)
    weights = np.asarray(sym.data, dtype=np.float64)
    labels = np.arange(N, dtype=np.int64)
    order = np.arange(N, dtype=np.int64)
    acc = np.zeros(N, dtype=np.float64)
    touched = np.zeros(N, dtype=np.int64)
    min_sweeps = max(1, math.ceil(math.log10(max(N, 2))))
    _propagate(
        indptr,
        indices,
        weights,
        labels,
        order,
        rng_state,
        min_sweeps,
        max(min_sweeps, max_sweeps),
        acc,
        touched,
    )
    top_lab = np.empty((N, TOP), dtype=np.int64)
    top_w = np.empty((N, TOP), dtype=np.float64)
    _top_lists(indptr, indices, weights, labels, top_lab, top_w, acc, touched)
    eu = np.ascontiguousarray(edges[:, 0], dtype=np.int64)
    ev = np.ascontiguousarray(edges[:, 1], dtype=np.int64)
    out_node = np.empty(2 * len(eu), dtype=np.int64)
    out_lab = np.empty(2 * len(eu), dtype=np.int64)
    n = _read_links(eu, ev, top_lab, top_w, out_node, out_lab)
    node = np.concatenate([np.arange(N, dtype=np.int64), out_node[:n]])
    lab = np.concatenate([labels, out_lab[:n]])
    key = np.unique(lab * N + node)
    node = key % N
    lab = key // N
    uniq, inv, sizes = np.unique(lab, return_inverse=True, return_counts=True)
    rank = np.empty(len(uniq), dtype=np.int64)
    order_c = np.argsort(-sizes, kind="stable")
    rank[order_c] = np.arange(len(uniq))
    return node, rank[inv], sizes[order_c]
