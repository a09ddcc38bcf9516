"""What the centre-based models share (kmeans, kmedians, fuzzy-cmeans).

A :class:`CentreModel` holds its centres ``_centers`` (K, D), every row's hard label ``_labels``
(the nearest centre), and from its last step the number of labels that changed (``_n_changed``)
and of clusters re-seeded (``_n_reseeded``). Its objective is a distortion (minimised). With hard
assignments a step that changed no label is a fixed point (the next centre update recomputes the
same centres from the same labels), so ``converged`` also holds there; the snapshot carries the
labels, the centres and those two counts.

Degenerate states (``degeneracy()``): centres that coincide (K centres describing fewer places;
Lloyd's update keeps them together) or, with hard assignments, a cluster that holds no row after the
final step (K-means and K-medians re-seed an empty cluster, so one stays empty only when no row can
be moved away from its centre: the data hold fewer distinct rows than K). K = 3 on 50 identical
rows ends with a distortion of 0, one cluster in use and three identical centres: reported as
degenerate (the CLI exits 3), with how many distinct rows the data have.
"""

from __future__ import annotations

import numpy as np

from explorer.models._centre_kernels import (
    assign,
    data_matrix,
    lloyd_chunks,
    lloyd_scratch,
    padded_centres,
    step_parallel,
    transposed,
    update_centers,
)
from explorer.models._parallel import call
from explorer.models.base import Model, coincident_groups, describe_groups, few_rows_advice


class CentreModel(Model):
    data_kinds = ("table",)
    objective_kind = "distortion"
    _centers: np.ndarray
    _labels: np.ndarray
    _n_changed: int
    _n_reseeded: int
    _X: np.ndarray  # the rows the centres live in (kmeans: float32 or float64)

    @property
    def hard(self) -> bool:
        """Whether the labels alone define the next centres (fuzzy c-means: only hardened)."""
        return True

    def converged(self, trace: list[float], tol: float) -> bool:
        # No label changed: the next centre update reproduces the centres, a fixed point.
        if self.hard and len(trace) >= 1 and self._n_changed == 0:
            return True
        return super().converged(trace, tol)

    def labels(self) -> np.ndarray:
        return self._labels

    def snapshot(self) -> dict:
        return {
            "labels": self._labels.copy(),
            "centers": self._centers.copy(),
            "info": {
                "labels changed": float(self._n_changed),
                "re-seeded": float(self._n_reseeded),
            },
        }

    def degeneracy(self) -> str | None:
        """Coinciding centres, or (hard assignments) clusters that hold no row."""
        K = self._centers.shape[0]
        if K < 2:
            return None
        problems = []
        if self.hard:
            sizes = np.bincount(np.asarray(self._labels, dtype=np.int64), minlength=K)
            empty = np.flatnonzero(sizes == 0)
            if len(empty):
                which = ", ".join(str(k + 1) for k in empty)
                problems.append(
                    f"K = {K} asked, {K - len(empty)} in use ("
                    + (f"clusters {which} hold" if len(empty) > 1 else f"cluster {which} holds")
                    + " no row)"
                )
        groups = coincident_groups(self._centers)
        if groups:
            problems.append(describe_groups(groups, "centres"))
        if not problems:
            return None
        return "; ".join(problems) + ": " + few_rows_advice(self._X, K)

    # ---- new rows (explorer.sklearn's predict and transform) ------------------------------
    def distances(self, parameters: dict, X) -> np.ndarray:
        """(N, K) distance of every row of ``X`` (new rows or the fitted ones) to each of the
        fitted ``parameters["centers"]``, under the metric the assignment minimises (squared
        Euclidean; L1 for K-medians): its argmin is the row's label. Exact differences (no
        ||x||^2 - 2 x.c + ||c||^2 cancellation), in chunks of rows so memory stays bounded."""
        C = np.asarray(parameters["centers"], dtype=np.float64)
        X = np.asarray(X)
        K, D = C.shape
        out = np.empty((X.shape[0], K))
        rows = max(1, (1 << 21) // max(K * D, 1))
        for a in range(0, X.shape[0], rows):
            diff = np.asarray(X[a : a + rows], dtype=np.float64)[:, None, :] - C[None]
            out[a : a + rows] = self._metric(diff)
        return out

    @staticmethod
    def _metric(diff: np.ndarray) -> np.ndarray:
        """(n, K) distances from (n, K, D) differences: squared Euclidean."""
        return np.einsum("ikd,ikd->ik", diff, diff)


# ---- Lloyd's algorithm (kmeans, and the k-means start of gmm, dynamic-exposure, spectral) ----

# From this many rows LloydState runs the chunked, parallel step.
_PARALLEL_MIN_ROWS = 50_000


# assign's former scratch arguments (unused; the types fuzzy-cmeans passes: one compiled assign)
_UNUSED_ACC = np.empty(0)
_UNUSED_BEST = np.empty(0, dtype=np.int64)


class LloydState:
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
        small = self.XT.dtype == np.float32  # float32 data: 4-byte labels, no distances
        self.labels = np.full(N, -1, dtype=np.int32 if small else np.int64)
        self.mind = np.empty(0 if small else N)
        # From _PARALLEL_MIN_ROWS rows the chunked step, whatever the thread count (it picks the
        # threads per call, and the chunks, hence the result, do not depend on them).
        self.parallel = N >= _PARALLEL_MIN_ROWS
        n_chunks = lloyd_chunks(N, K, D) if self.parallel else 1
        self.work = N * K * D
        if self.parallel:
            dtype = self.XT.dtype  # the assignment's approximate pass: data's type
            self.work_t, self.block_t = lloyd_scratch(n_chunks, D, dtype)
            self.ct = np.zeros((padded_centres(K), D), dtype=dtype)
            self.cn = np.zeros(padded_centres(K), dtype=dtype)
            self.sums_t = np.zeros((n_chunks, K, D))
            self.counts_t = np.zeros((n_chunks, K))
            self.dist_t = np.zeros(n_chunks)
            self.changed_t = np.zeros(n_chunks, dtype=np.int64)

    @property
    def assignment_arrays(self) -> tuple:
        """The data (columns), centres, labels, per-cluster sums and counts, and each row's
        distance: the arguments the serial and the parallel assignment both begin with."""
        return (self.XT, self.centers, self.labels, self.sums, self.counts, self.mind)

    def step(self, update: bool = True) -> tuple[float, int, int]:
        """(When ``update``) the centre update with re-seeding, then the fused assignment.

        Returns (distortion, number of labels changed, number of clusters re-seeded).
        """
        if self.parallel:
            return call(
                step_parallel,
                len(self.dist_t),
                self.work,
                *self.assignment_arrays,
                self.sums_t,
                self.counts_t,
                self.dist_t,
                self.changed_t,
                self.work_t,
                self.block_t,
                self.ct,
                self.cn,
                update,
            )
        n_reseeded = 0
        if update:
            n_reseeded = update_centers(
                self.XT, self.labels, self.sums, self.counts, self.mind, self.centers, True
            )
        dist, changed = assign(*self.assignment_arrays, _UNUSED_ACC, _UNUSED_BEST)
        return dist, changed, n_reseeded


def lloyd(
    X: np.ndarray, centers: np.ndarray, max_iter: int = 100, tol: float = 1e-4
) -> tuple[np.ndarray, np.ndarray]:
    """Run Lloyd's algorithm from ``centers``; returns (labels int64 (N,), centres (K, D)).

    Stops when no label changes, when the relative decrease of the distortion is at most ``tol``,
    or after ``max_iter`` centre updates. The returned labels are the nearest returned centres.
    ``centers`` is not modified.
    """
    X = data_matrix(X)  # float32 data stays float32 (sums in float64)
    c = np.array(centers, dtype=np.float64, order="C", copy=True)
    N, D = X.shape
    if c.ndim != 2 or c.shape[1] != D:
        raise ValueError(f"centers must have shape (K, {D}), got {c.shape}")
    state = LloydState(X, c)
    dist, _, _ = state.step(update=False)
    for _ in range(max_iter):
        new, changed, _ = state.step()
        done = changed == 0 or (dist - new) <= tol * max(abs(dist), 1e-300)
        dist = new
        if done:
            break
    return state.labels, c
