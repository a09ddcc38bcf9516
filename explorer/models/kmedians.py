"""K-medians: clustering under the L1 (city-block) distance with coordinate-wise median centres.

Derivation: docs/derivations/kmedians.md.

The model, its updates and the choices the code made: docs/models/kmedians.md.

Exported parameters (``parameters.npz`` names):

* ``centers``: (K, D) float64 coordinate-wise medians;
* ``labels``: (N,) int64 index of the nearest (L1) centre of each row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from explorer.models import _centre_kernels as ck
from explorer.models import register
from explorer.models._canonical import model_row_order
from explorer.models._centres import CentreModel
from explorer.models.base import HyperparametersBase, param


@dataclass(frozen=True)
class KMediansHyperparameters(HyperparametersBase):
    K: int = param(3, lo=1, hi=1000, help="number of clusters")
    n_init: int = param(
        4, lo=1, hi=100, help="restarts from new L1 k-means++ seeds; the lowest distortion is kept"
    )


@numba.njit(cache=True, nogil=True)
def _assign_l1(X, centers, labels, counts, mind):
    """Nearest centre in L1 for every row, cluster counts, each row's L1 distance to its centre.

    Returns (sum of L1 distances, number of labels that changed).
    """
    counts[:] = 0
    total = 0.0
    changed = 0
    for i in range(X.shape[0]):
        best, bestd = ck.nearest_centre(X, i, centers, True, mind[:0])  # (empty: no distance kept)
        changed += ck.relabel(labels, i, best)
        counts[best] += 1
        mind[i] = bestd
        total += bestd
    return total, changed


@numba.njit(cache=True, nogil=True)
def _median_centers(X, labels, counts, mind, centers, order, offsets, fill, work):
    """Centre update: re-seed empty clusters, then coordinate-wise medians of every cluster.

    ``order`` (N,), ``offsets`` (K + 1,), ``fill`` (K,) and ``work`` (N,) are preallocated
    buffers. Returns the number of re-seeded clusters.
    """
    N, D = X.shape
    K = centers.shape[0]
    n_reseeded = 0
    for k in range(K):
        if counts[k] > 0:
            continue
        p = ck.farthest_movable_row(labels, counts, mind, X.T, centers)  # (mind is always kept)
        if p < 0:
            continue  # cannot happen when K <= N
        counts[labels[p]] -= 1
        counts[k] = 1
        labels[p] = k
        mind[p] = 0.0
        n_reseeded += 1
    # Bucket the rows by cluster (counting sort).
    offsets[0] = 0
    for k in range(K):
        offsets[k + 1] = offsets[k] + counts[k]
        fill[k] = offsets[k]
    for i in range(N):
        k = labels[i]
        order[fill[k]] = i
        fill[k] += 1
    for k in range(K):
        n = counts[k]
        if n == 0:
            continue
        start = offsets[k]
        for j in range(D):
            for t in range(n):
                work[t] = X[order[start + t], j]
            h = n // 2
            w = np.partition(work[:n], h)  # order statistic h in O(n), not a sort
            if n % 2 == 1:
                centers[k, j] = w[h]
            else:  # and the largest below it: statistic h - 1
                centers[k, j] = 0.5 * (w[:h].max() + w[h])
    return n_reseeded


@register
class KMedians(CentreModel):
    id = "kmedians"
    name = "K-medians"
    description = (
        "K-means under the L1 (city-block) distance: assign every row to the centre "
        "with the smallest sum of absolute differences, move every centre to the "
        "coordinate-wise median of its rows. Minimises the sum of L1 distances; robust "
        "to outliers."
    )
    Hyperparameters = KMediansHyperparameters
    shared_state = ("_X",)

    def _prepare(self, data) -> None:
        self._X = np.ascontiguousarray(data.X, dtype=np.float64)

    def _init_state(self, seed: int, centers: np.ndarray | None = None) -> None:
        """Seed the centres (L1 k-means++ from ``seed``, or the given ``centers``) and assign."""
        X = self._X
        N = X.shape[0]
        K = self.hp.K
        self._centers = ck.initial_centers(
            X, K, seed, centers, distance="l1", order=model_row_order(self, X)
        )
        self._labels = np.full(N, -1, dtype=np.int64)
        self._counts = np.zeros(K, dtype=np.int64)
        self._mind = np.empty(N)
        self._order = np.empty(N, dtype=np.int64)
        self._offsets = np.empty(K + 1, dtype=np.int64)
        self._fill = np.empty(K, dtype=np.int64)
        self._work = np.empty(N)
        self._n_reseeded = 0
        self._distortion, self._n_changed = _assign_l1(
            X, self._centers, self._labels, self._counts, self._mind
        )

    def step(self) -> float:
        """Median centre update (with re-seeding), then the L1 assignment; returns sum of L1."""
        self._n_reseeded = _median_centers(
            self._X,
            self._labels,
            self._counts,
            self._mind,
            self._centers,
            self._order,
            self._offsets,
            self._fill,
            self._work,
        )
        self._distortion, self._n_changed = _assign_l1(
            self._X, self._centers, self._labels, self._counts, self._mind
        )
        return float(self._distortion)

    def parameters(self) -> dict[str, np.ndarray]:
        return {"centers": self._centers.copy(), "labels": self._labels.copy()}

    def metrics(self) -> dict[str, float]:
        return {"l1_distortion": float(self._distortion)}

    @staticmethod
    def _metric(diff: np.ndarray) -> np.ndarray:
        """(n, K) L1 distances from (n, K, D) differences (what the assignment minimises)."""
        return np.abs(diff).sum(axis=2)
