"""K-means (Lloyd's algorithm) with greedy k-means++ seeding.

The model, its updates and the choices the code made: docs/models/kmeans.md.

Exported parameters (``parameters.npz`` names):

* ``centers``: (K, D) float64 cluster centres, in the (possibly standardised) feature space;
* ``labels``: (N,) int64 index of the nearest centre of each row (``labels()`` is int32 while
  fitting float32 data, to halve the per-row state);
* ``inertia``: 0-d float64, the distortion J of (labels, centers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explorer.models import register
from explorer.models._centre_kernels import (  # noqa: F401 - kmeans_plusplus, initial_centers, check_centers: re-exported
    assign,
    check_centers,
    data_matrix,
    initial_centers,
    kmeans_plusplus,
    lloyd_chunks,
    lloyd_scratch,
    padded_centres,
    step_parallel,
    transposed,
    update_centers,
)
from explorer.models._centres import CentreModel
from explorer.models._parallel import call
from explorer.models.base import HyperparametersBase, param


@dataclass(frozen=True)
class KMeansHyperparameters(HyperparametersBase):
    K: int = param(3, lo=1, hi=1000, help="number of clusters")
    n_init: int = param(4, lo=1, hi=100,
                        help="restarts from new k-means++ seeds; the lowest distortion is kept")



_PARALLEL_MIN_ROWS = 50_000

# assign's former scratch arguments (unused; the types fuzzy-cmeans passes: one compiled assign)
_UNUSED_ACC = np.empty(0)
_UNUSED_BEST = np.empty(0, dtype=np.int64)

class _Lloyd:
    """Lloyd state over preallocated buffers: labels, per-cluster sums and counts, distances.

    Reads the data only through XT, its (D, N) transpose (float32 or float64); sums, counts,
    centres and distances are float64. ``mind`` keeps each row's distance to its centre, used to
    pick the row that re-seeds an empty cluster; for float32 data it is not kept (empty: the
    rare re-seeding computes the distances again) and ``labels`` are int32, so a fit of a 20 M-row
    table keeps 80 MB per restart beside the data instead of 320 MB."""

    def __init__(self, X: np.ndarray, centers: np.ndarray, XT: np.ndarray | None = None):
        N, D = X.shape
        K = centers.shape[0]
        self.centers = centers
        self.sums = np.zeros((K, D))
        self.counts = np.zeros(K)
        self.XT = transposed(X) if XT is None else XT
        small = self.XT.dtype == np.float32      # float32 data: 4-byte labels, no distances
        self.labels = np.full(N, -1, dtype=np.int32 if small else np.int64)
        self.mind = np.empty(0 if small else N)
        # From _PARALLEL_MIN_ROWS rows the chunked step, whatever the thread count (it picks the
        # threads per call, and the chunks, hence the result, do not depend on them).
        self.parallel = N >= _PARALLEL_MIN_ROWS
        n_chunks = lloyd_chunks(N, K, D) if self.parallel else 1
        self.work = N * K * D
        if self.parallel:
            dtype = self.XT.dtype           # the assignment's approximate pass: data's type
            self.work_t, self.block_t = lloyd_scratch(n_chunks, D, dtype)
            self.ct = np.zeros((padded_centres(K), D), dtype=dtype)
            self.cn = np.zeros(padded_centres(K), dtype=dtype)
            self.sums_t = np.zeros((n_chunks, K, D))
            self.counts_t = np.zeros((n_chunks, K))
            self.dist_t = np.zeros(n_chunks)
            self.changed_t = np.zeros(n_chunks, dtype=np.int64)

    def step(self, update: bool = True) -> tuple[float, int, int]:
        """(When ``update``) the centre update with re-seeding, then the fused assignment.

        Returns (distortion, number of labels changed, number of clusters re-seeded).
        """
        if self.parallel:
            return call(step_parallel, len(self.dist_t), self.work, self.XT, self.centers,
                        self.labels, self.sums, self.counts, self.mind, self.sums_t,
                        self.counts_t, self.dist_t, self.changed_t, self.work_t,
                        self.block_t, self.ct, self.cn, update)
        n_reseeded = 0
        if update:
            n_reseeded = update_centers(self.XT, self.labels, self.sums, self.counts, self.mind,
                                         self.centers, True)
        dist, changed = assign(self.XT, self.centers, self.labels, self.sums, self.counts,
                                self.mind, _UNUSED_ACC, _UNUSED_BEST)
        return dist, changed, n_reseeded



# ---- public helpers --------------------------------------------------------------------------

def lloyd(X: np.ndarray, centers: np.ndarray, max_iter: int = 100,
          tol: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Run Lloyd's algorithm from ``centers``; returns (labels int64 (N,), centres (K, D)).

    Stops when no label changes, when the relative decrease of the distortion is at most ``tol``,
    or after ``max_iter`` centre updates. The returned labels are the nearest returned centres.
    ``centers`` is not modified.
    """
    X = data_matrix(X)          # float32 data stays float32 (sums in float64)
    c = np.array(centers, dtype=np.float64, order="C", copy=True)
    N, D = X.shape
    if c.ndim != 2 or c.shape[1] != D:
        raise ValueError(f"centers must have shape (K, {D}), got {c.shape}")
    state = _Lloyd(X, c)
    dist, _, _ = state.step(update=False)
    for _ in range(max_iter):
        new, changed, _ = state.step()
        done = changed == 0 or (dist - new) <= tol * max(abs(dist), 1e-300)
        dist = new
        if done:
            break
    return state.labels, c


# ---- the model -------------------------------------------------------------------------------


@register
class KMeans(CentreModel):
    id = "kmeans"
    name = "K-means"
    description = ("Lloyd's algorithm: assign every row to its nearest centre, move every centre "
                   "to the mean of its rows, repeat. Minimises the sum of squared distances "
                   "(distortion). Greedy k-means++ seeding, n_init restarts keeping the best; an "
                   "empty cluster is re-seeded with the row farthest from its centre.")
    Hyperparameters = KMeansHyperparameters

    def _prepare(self, data) -> None:
        """float32 data is used as it is (no float64 copy; distances, sums and centres in
        float64); column-major data (the columnar loader's) is read through its transpose without
        a copy, any other is transposed once per fit."""
        self._X = data_matrix(data.X)
        self._XT = transposed(self._X)

    def _init_state(self, seed: int, centers: np.ndarray | None = None) -> None:
        """Seed the centres (k-means++ from ``seed``, or the given ``centers``) and assign."""
        X = self._X
        self._state = None              # a restart's buffers go before the next are allocated
        self._centers = initial_centers(X, self.hp.K, seed, centers)
        self._state = _Lloyd(X, self._centers, self._XT)
        self._labels = self._state.labels
        self._parallel = self._state.parallel
        self._n_reseeded = 0
        self._distortion, self._n_changed, _ = self._state.step(update=False)

    def step(self) -> float:
        """One Lloyd iteration: centre update (with re-seeding), then the fused assignment."""
        self._distortion, self._n_changed, self._n_reseeded = self._state.step()
        return float(self._distortion)

    def parameters(self) -> dict[str, np.ndarray]:
        return {"centers": self._centers.copy(), "labels": self._labels.astype(np.int64),
                "inertia": np.array(self._distortion, dtype=np.float64)}

    def metrics(self) -> dict[str, float]:
        return {"inertia": float(self._distortion)}
