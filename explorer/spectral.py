"""Spectral clustering of a weighted undirected graph (Ng, Jordan and Weiss 2002), Qt-free.

``spectral_clustering(adjacency, K, seed)``: the K leading eigenvectors of the normalised adjacency
D^-1/2 A D^-1/2 (``scipy.sparse.linalg.eigsh``; dense ``numpy.linalg.eigh`` for small graphs), rows
scaled to unit length, then k-means (the ``kmeans`` model's k-means++ and Lloyd kernels) with
``n_init`` seeds, keeping the smallest distortion. Directed input is symmetrised (A + A^T); the
diagonal is ignored. Nodes without any weight get a zero embedding row and label of the cluster
nearest the origin. ``spectral_embedding`` returns the embedding alone, and
``lowrank_spectral_embedding`` the same for a matrix given by factors A = L R^T (never formed).

Used by the dynamic exposure model for its baseline (spectral clustering on the aggregated counts)
and for reading communities off its fitted contact rates.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import eigsh

from explorer.models._centre_kernels import kmeans_plusplus
from explorer.models._centres import lloyd

# Graphs up to this many nodes use the dense eigensolver (exact, and faster than ARPACK there).
DENSE_MAX_NODES = 600


def _normalised(adjacency):
    """D^-1/2 (A + A^T)/2 D^-1/2 without the diagonal, as CSR (or dense when given dense)."""
    if sp.issparse(adjacency):
        A = sp.csr_matrix(adjacency, dtype=np.float64)
        A = (A + A.T) * 0.5
        A.setdiag(0.0)
        A.eliminate_zeros()
        d = np.asarray(A.sum(axis=1)).ravel()
    else:
        A = np.array(adjacency, dtype=np.float64)
        A = (A + A.T) * 0.5
        np.fill_diagonal(A, 0.0)
        d = A.sum(axis=1)
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"the adjacency matrix must be square, got {A.shape}")
    if (A.min() if not sp.issparse(A) else (A.data.min() if A.nnz else 0.0)) < 0:
        raise ValueError("spectral clustering needs non-negative weights")
    s = np.zeros_like(d)
    np.divide(1.0, np.sqrt(d), out=s, where=d > 0)
    if sp.issparse(A):
        D = sp.diags(s)
        return (D @ A @ D).tocsr()
    return s[:, None] * A * s[None, :]


def _unit_rows(X):
    norm = np.linalg.norm(X, axis=1, keepdims=True)
    return np.divide(X, norm, out=np.zeros_like(X), where=norm > 0)


def spectral_embedding(adjacency, K: int, seed: int = 0) -> np.ndarray:
    """(N, K) leading eigenvectors of the normalised adjacency, rows scaled to unit length."""
    M = _normalised(adjacency)
    n = M.shape[0]
    if not 1 <= K <= n:
        raise ValueError(f"K = {K} must lie in [1, {n}]")
    if n <= DENSE_MAX_NODES or K >= n - 1:
        dense = M.toarray() if sp.issparse(M) else M
        vals, vecs = np.linalg.eigh(dense)
        X = vecs[:, np.argsort(vals)[::-1][:K]]
    else:
        v0 = np.random.default_rng(seed).uniform(0.5, 1.0, n)  # ARPACK start, reproducible
        vals, vecs = eigsh(M, k=K, which="LA", v0=v0, tol=1e-8, maxiter=max(1000, 20 * n))
        X = vecs[:, np.argsort(vals)[::-1]]
    return _unit_rows(X)


def lowrank_spectral_embedding(L: np.ndarray, R: np.ndarray, K: int) -> np.ndarray:
    """As ``spectral_embedding`` for the symmetrised A = (L R^T + R L^T) / 2, given its non-negative
    factors L, R (N, r) and never formed: O(N r^2). The diagonal of A is kept (it cannot be removed
    without forming A)."""
    L = np.asarray(L, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    n = L.shape[0]
    d = 0.5 * (L @ R.sum(axis=0) + R @ L.sum(axis=0))
    s = np.zeros(n)
    np.divide(1.0, np.sqrt(d), out=s, where=d > 0)
    B = np.hstack([s[:, None] * L, s[:, None] * R])  # M = B C B^T
    r = L.shape[1]
    C = np.zeros((2 * r, 2 * r))
    C[:r, r:] = 0.5 * np.eye(r)
    C[r:, :r] = 0.5 * np.eye(r)
    Q, Rq = np.linalg.qr(B)
    small = Rq @ C @ Rq.T
    vals, vecs = np.linalg.eigh(0.5 * (small + small.T))
    k = min(K, len(vals))
    X = Q @ vecs[:, np.argsort(vals)[::-1][:k]]
    if k < K:  # rank below K: pad with zeros (those dimensions carry nothing)
        X = np.hstack([X, np.zeros((n, K - k))])
    return _unit_rows(X)


def kmeans_labels(X: np.ndarray, K: int, seed: int = 0, n_init: int = 10) -> np.ndarray:
    """k-means++ and Lloyd on the rows of X, the best of ``n_init`` seeds by distortion."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    rng = np.random.default_rng(seed)
    best, best_d = None, np.inf
    for _ in range(n_init):
        labels, centers = lloyd(X, kmeans_plusplus(X, K, rng), max_iter=300, tol=1e-10)
        dist = float(((X - centers[labels]) ** 2).sum())
        if dist < best_d:
            best, best_d = labels, dist
    return np.asarray(best, dtype=np.int64)


def spectral_clustering(adjacency, K: int, seed: int = 0, n_init: int = 10) -> np.ndarray:
    """Hard labels (N,) int64 of a weighted graph's K spectral clusters (see the module doc)."""
    return kmeans_labels(spectral_embedding(adjacency, K, seed), K, seed, n_init)
