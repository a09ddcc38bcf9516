"""Cheap view transforms the window's plots need, in plain numpy (no Qt here).

* :class:`PCAProjection`: a 2-D view of a table with a choice of principal components; it also
  projects centres and covariances (for the Gaussian ellipses) into the same view.
* :func:`simplex_vertices` / :func:`simplex_project`: a membership vector placed in a simplex:
  a segment for K = 2, the triangle for K = 3, a regular K-gon projection beyond.
* :func:`community_order`: nodes sorted by argmax community, then by membership strength.
* :func:`bin_adjacency`: an edge list binned in O(E) into at most ``max_pixels`` squared uint8
  pixels in community order, with the block boundaries in pixel units.
* :func:`display_sample`: a reproducible random subset of rows for drawing.
* :func:`ellipse_points`, :func:`confusion_table`: small helpers.

These are view transforms, not numerics: nothing here is fitted or exported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


# ---------------------------------------------------------------------------------------------
# PCA
class PCAProjection:
    """Principal axes of a table (N, D) from an SVD of the centred data (or of a sample of it).

    ``components`` holds every axis (rows, unit norm, sorted by explained variance, sign fixed so
    the largest loading is positive), so switching the displayed pair costs nothing.
    """

    def __init__(self, X: np.ndarray, *, max_rows: int = 100_000, seed: int = 0):
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError("PCA needs a non-empty 2-D table")
        self.n_features = X.shape[1]
        if X.shape[0] > max_rows:
            idx = np.random.default_rng(seed).choice(X.shape[0], max_rows, replace=False)
            X = X[idx]
        self.mean = X.mean(axis=0)
        Xc = X - self.mean
        # SVD of the D x D scatter matrix: cheap for tall tables.
        cov = Xc.T @ Xc / max(X.shape[0] - 1, 1)
        evals, evecs = np.linalg.eigh(cov)
        order = np.argsort(evals)[::-1]
        evals = np.clip(evals[order], 0.0, None)
        comps = evecs[:, order].T.copy()
        # Deterministic signs: the largest absolute loading of each axis is positive.
        big = np.argmax(np.abs(comps), axis=1)
        signs = np.sign(comps[np.arange(len(comps)), big])
        signs[signs == 0] = 1.0
        self.components = comps * signs[:, None]
        self.explained_variance = evals
        total = evals.sum()
        self.explained_ratio = evals / total if total > 0 else np.zeros_like(evals)

    def axes(self, pair: tuple[int, int] = (0, 1)) -> np.ndarray:
        """The (D, 2) matrix whose columns are the chosen components."""
        a, b = pair
        D = self.n_features
        if not (0 <= a < D and 0 <= b < D):
            raise ValueError(f"components {pair} out of range for {D} columns")
        return self.components[[a, b]].T

    def transform(self, X: np.ndarray, pair: tuple[int, int] = (0, 1)) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return (X - self.mean) @ self.axes(pair)

    def transform_cov(self, covs: np.ndarray, pair: tuple[int, int] = (0, 1)) -> np.ndarray:
        """Covariances (K, D, D) seen in the view: W^T S W, (K, 2, 2)."""
        W = self.axes(pair)
        return np.einsum("da,kde,eb->kab", W, np.asarray(covs, dtype=np.float64), W)


def view_coordinates(
    X: np.ndarray, pca: PCAProjection | None, pair: tuple[int, int] = (0, 1)
) -> np.ndarray:
    """2-D coordinates of rows: the columns themselves when D == 2, else the PCA view."""
    X = np.asarray(X, dtype=np.float64)
    if X.shape[1] == 2 and pca is None:
        return X
    if pca is None:
        raise ValueError("a PCA projection is needed for more than two columns")
    return pca.transform(X, pair)


def ellipse_points(
    mean: np.ndarray, cov: np.ndarray, n_sigma: float = 2.0, n: int = 64
) -> np.ndarray:
    """Closed outline (n + 1, 2) of the ellipse {x: (x-m)^T cov^-1 (x-m) = n_sigma^2}."""
    cov = np.asarray(cov, dtype=np.float64)
    cov = 0.5 * (cov + cov.T)
    evals, evecs = np.linalg.eigh(cov)
    evals = np.clip(evals, 0.0, None)
    t = np.linspace(0.0, 2.0 * np.pi, n + 1)
    circle = np.stack([np.cos(t), np.sin(t)], axis=1)
    return np.asarray(mean, dtype=np.float64) + n_sigma * (circle * np.sqrt(evals)) @ evecs.T


# ---------------------------------------------------------------------------------------------
# Simplex
def simplex_vertices(K: int) -> np.ndarray:
    """Vertex positions (K, 2): segment [-1, 1] for K = 2, otherwise a regular K-gon on the unit
    circle with vertex 0 at the top, going clockwise (K = 3 is the equilateral triangle)."""
    if K < 2:
        raise ValueError("a simplex needs K >= 2")
    if K == 2:
        return np.array([[-1.0, 0.0], [1.0, 0.0]])
    angle = np.pi / 2 - 2 * np.pi * np.arange(K) / K
    return np.stack([np.cos(angle), np.sin(angle)], axis=1)


def simplex_project(memberships: np.ndarray) -> np.ndarray:
    """Each membership row (sums to 1) placed at the convex combination of the vertices."""
    M = np.asarray(memberships, dtype=np.float64)
    return M @ simplex_vertices(M.shape[1])


# ---------------------------------------------------------------------------------------------
# Community order and adjacency image
def community_order(
    labels: np.ndarray, memberships: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Permutation putting nodes by community, strongest members first within each.

    The community is the argmax of ``memberships`` when given (else ``labels``). Returns
    ``(order, boundaries)``: ``order[r]`` is the node shown at rank ``r``; ``boundaries`` are the
    ranks where a new community starts (excluding 0, including none past the end).
    """
    if memberships is not None:
        M = np.asarray(memberships, dtype=np.float64)
        comm = np.argmax(M, axis=1)
        strength = M[np.arange(len(M)), comm]
    else:
        comm = np.asarray(labels)
        _, comm = np.unique(comm, return_inverse=True)
        strength = np.zeros(len(comm))
    # lexsort: last key is primary. Stable, so ties keep node order.
    order = np.lexsort((-strength, comm))
    sorted_comm = comm[order]
    boundaries = np.flatnonzero(np.diff(sorted_comm)) + 1
    return order, boundaries


@dataclass
class AdjacencyImage:
    """A binned adjacency matrix in community order."""

    image: np.ndarray  # (B, B) uint8, row-major: image[r, c] is the block of ranks r, c
    bins: int  # B
    n_nodes: int
    order: np.ndarray  # rank -> node index
    boundaries_px: np.ndarray  # community boundaries in pixel units (float)
    max_count: float  # the largest summed weight in one pixel (the top of the colour scale)

    def ranks_of_pixel(self, p: int) -> tuple[int, int]:
        """Half-open range of ranks binned into pixel row/column ``p``."""
        lo = -(-p * self.n_nodes // self.bins)
        hi = -(-(p + 1) * self.n_nodes // self.bins)
        return lo, hi

    def nodes_of_pixel(self, p: int) -> np.ndarray:
        lo, hi = self.ranks_of_pixel(p)
        return self.order[lo:hi]


def bin_adjacency(
    u: np.ndarray,
    v: np.ndarray,
    weights: np.ndarray | None,
    n: int,
    order: np.ndarray,
    boundaries: np.ndarray | None = None,
    *,
    symmetric: bool = True,
    max_pixels: int = 1000,
    log_scale: bool = True,
) -> AdjacencyImage:
    """Bin edges (u[e], v[e], weights[e]) into a B x B uint8 image, B = min(n, max_pixels), in O(E).

    Node ``order`` gives the displayed rank of each node; with ``symmetric`` each edge is also
    drawn at (v, u) (undirected networks store each edge once). Pixel values are the summed
    weights scaled to 1..255 (log scale by default; 0 stays 0 = no edge), so the image can be drawn
    with explicit levels (0, 255).
    """
    u = np.asarray(u, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    w = np.ones(len(u)) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.asarray(order, dtype=np.int64)
    B = int(max(1, min(n, max_pixels)))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    # pixel of rank r: floor(r * B / n)
    pu = rank[u] * B // n
    pv = rank[v] * B // n
    flat = pu * B + pv
    if symmetric:
        flat = np.concatenate([flat, pv * B + pu])
        w = np.concatenate([w, w])
    counts = np.bincount(flat, weights=w, minlength=B * B)[: B * B].reshape(B, B)
    top = float(counts.max()) if counts.size else 0.0
    img = np.zeros((B, B), dtype=np.uint8)
    nz = counts > 0
    if top > 0:
        if log_scale:
            scaled = np.log1p(counts[nz]) / np.log1p(top)
        else:
            scaled = counts[nz] / top
        img[nz] = np.clip(np.rint(1 + 254 * scaled), 1, 255).astype(np.uint8)
    bpx = (
        np.asarray(boundaries, dtype=np.float64) * B / n if boundaries is not None else np.zeros(0)
    )
    return AdjacencyImage(
        image=img, bins=B, n_nodes=n, order=order, boundaries_px=bpx, max_count=top
    )


# ---------------------------------------------------------------------------------------------
# Sampling and tables
def display_sample(n: int, max_points: int = 30_000, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ``max_points`` rows, the same for the same (n, max_points, seed)."""
    if n <= max_points:
        return np.arange(n)
    idx = np.random.default_rng(seed).choice(n, size=max_points, replace=False)
    idx.sort()
    return idx


def confusion_table(truth, pred) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts (n_truth_labels, n_clusters) with the row and column label values.

    Rows whose truth is missing (None or "") are left out. Integer ``truth`` (label codes, as the
    window's ground-truth table passes them for every redraw) is taken as it is: no missing
    values and no string work, so a million rows cost milliseconds.
    """
    pred = np.asarray(pred)
    codes = np.asarray(truth) if isinstance(truth, np.ndarray) else None
    if codes is not None and codes.dtype.kind in "iu":
        t, p = codes, pred
    else:
        truth = np.asarray(truth, dtype=object)
        known = np.array([t is not None and str(t) != "" for t in truth], dtype=bool)
        t = truth[known].astype(str)
        p = pred[known]
    ut, it = np.unique(t, return_inverse=True)
    up, ip = np.unique(p, return_inverse=True)
    c = (
        np.bincount(it.ravel() * len(up) + ip.ravel(), minlength=len(ut) * len(up))
        .reshape(len(ut), len(up))
        .astype(np.int64)
    )
    return c, ut, up


def downsample_trace(values: np.ndarray, max_points: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    """(iterations, values) of a trace, thinned evenly when it is long (the last point kept)."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    it = np.arange(1, n + 1)
    if n <= max_points:
        return it, values
    idx = np.unique(np.linspace(0, n - 1, max_points).astype(np.int64))
    return it[idx], values[idx]
