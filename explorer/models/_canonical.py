"""A canonical order of a network's nodes, so that a fit depends on the graph, not on the file.

The loaders number nodes in order of first appearance in the file, so the same network written in
another row order gets other node indices; every random choice a network model makes by index (the
held-out split, the minibatch permutation, the non-link samples, the starts) then picks other
nodes, and the fit differs (karate from the bundled file: NMI 0.837 on seeds 0-2; from networkx's
edge order: 0.732). A model that works in the canonical order below (nodes sorted by their ids:
numerically when every id is a plain integer, else as strings) and maps its results back to the
data's order gives the same fit for every row order of the same file.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp


def canonical_node_order(node_ids) -> np.ndarray | None:
    """``order`` (N,) int64 with ``node_ids[order]`` sorted canonically (by integer value when
    every id is one written plainly, "7" but not "007", else by the string), or None when the ids
    are in that order already. Ids are unique, so the order is total."""
    ids = np.asarray(node_ids).astype(str)
    order = None
    try:
        values = ids.astype(np.int64)
        if (values.astype(str) == ids).all():
            order = np.argsort(values, kind="stable")
    except (ValueError, OverflowError):
        pass
    if order is None:
        order = np.argsort(ids, kind="stable")
    order = order.astype(np.int64)
    return None if (order == np.arange(len(ids))).all() else order


def reorder_network(data, order: np.ndarray):
    """``data`` (a NetworkData) with its nodes in ``order`` (canonical position -> data index):
    edges renumbered and sorted (u < v when undirected), adjacency, labels and test pairs
    permuted alike. The same graph in any row order gives the same arrays."""
    n = len(order)
    inv = np.empty(n, dtype=np.int64)
    inv[order] = np.arange(n, dtype=np.int64)
    e = inv[np.asarray(data.edges, dtype=np.int64).reshape(-1, 2)]
    if not data.directed:
        e = np.column_stack([e.min(axis=1), e.max(axis=1)])
    by = np.lexsort((e[:, 1], e[:, 0]))
    weights = np.asarray(data.weights, dtype=np.float64)
    A = sp.csr_matrix(data.adjacency)[order][:, order].tocsr()
    A.sort_indices()
    tp = data.test_pairs
    if tp is not None:
        tp = np.asarray(tp, dtype=np.int64).copy()
        if len(tp):
            tp[:, :2] = inv[tp[:, :2]]
            tp = tp[np.lexsort((tp[:, 2], tp[:, 1], tp[:, 0]))]
    labels = None if data.labels is None else np.asarray(data.labels)[order]
    return dataclasses.replace(
        data, node_ids=np.asarray(data.node_ids)[order], adjacency=A,
        edges=np.ascontiguousarray(e[by]), weights=np.ascontiguousarray(weights[by]),
        labels=labels, test_pairs=tp)


def to_data_order(rows: np.ndarray, order: np.ndarray | None) -> np.ndarray:
    """Rows in canonical order (row c is node ``order[c]``) put back in the data's order."""
    if order is None:
        return rows
    out = np.empty_like(rows)
    out[order] = rows
    return out
