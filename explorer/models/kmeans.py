"""K-means (Lloyd's algorithm) with greedy k-means++ seeding.

Objective (kind ``distortion``, a sum over the data set)::

    J(z, mu) = sum_i ||x_i - mu_{z_i}||^2

Lloyd's algorithm minimises J by coordinate descent. One ``step()`` is one Lloyd iteration:

* **centre update** ("M-step"): ``mu_k = mean of the points assigned to k`` (the minimiser of J in mu
  for fixed z). An empty cluster is re-seeded first with the point farthest from its centre (among
  points whose own cluster keeps at least one other point); that point moves to the empty cluster.
* **assignment** ("E-step"): ``z_i = argmin_k ||x_i - mu_k||^2`` (lowest index on ties), fused in
  one pass over the data with the accumulation of the per-cluster sums the next centre update needs.

``initialize`` seeds the centres and makes the first assignment, so after every step the state
(labels, centres) is consistent (each label is the nearest centre) and ``step()`` returns the exact
distortion of that state. It is non-increasing: J(z_t+1, mu_t+1) <= J(z_t, mu_t+1) <= J(z_t, mu_t)
(re-seeding only lowers it further). At a fixed point the centres are recomputed from the same
labels in the same order, so the value repeats bit for bit. The model reports convergence when no
label changed in a step (a fixed point), besides the runner's relative-change rule.

Kernels: from 50,000 rows on (and with more than one numba thread) the assignment runs in
parallel over row chunks, each with its own sums, added in chunk order afterwards (deterministic
for a given thread count; it differs from the serial sums in the last bits only).

Seeding: the greedy k-means++ of Arthur & Vassilvitskii as scikit-learn implements it: the first
centre uniformly at random, then each next centre the best (lowest resulting potential) of
``2 + floor(ln K)`` candidates drawn with probability proportional to the squared distance to the
nearest chosen centre. ``n_init`` restarts (seed, seed + 1, ...) are run by the runner, which keeps
the lowest distortion.

Exported parameters (``parameters.npz`` names):

* ``centers``: (K, D) float64 cluster centres, in the (possibly standardised) feature space;
* ``labels``: (N,) int64 index of the nearest centre of each row;
* ``inertia``: 0-d float64, the distortion J of (labels, centers).

Public helpers used by other models: :func:`kmeans_plusplus` and :func:`lloyd`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from explorer.models import register
from explorer.models.base import HyperparametersBase, Model, param


@dataclass(frozen=True)
class KMeansHyperparameters(HyperparametersBase):
    K: int = param(3, lo=1, hi=1000, help="number of clusters")
    n_init: int = param(4, lo=1, hi=100,
                        help="restarts from new k-means++ seeds; the lowest distortion is kept")


# ---- kernels ---------------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def _sqdist_to_points(X, C, out):
    """out[c, i] = ||X[i] - C[c]||^2."""
    N, D = X.shape
    for c in range(C.shape[0]):
        for i in range(N):
            s = 0.0
            for j in range(D):
                t = X[i, j] - C[c, j]
                s += t * t
            out[c, i] = s


@numba.njit(cache=True, nogil=True)
def _l1dist_to_points(X, C, out):
    """out[c, i] = sum_j |X[i, j] - C[c, j]|."""
    N, D = X.shape
    for c in range(C.shape[0]):
        for i in range(N):
            s = 0.0
            for j in range(D):
                s += abs(X[i, j] - C[c, j])
            out[c, i] = s


# Reassociation lets LLVM vectorise the D-term distance sums and use FMA; no "nnan"/"ninf" (the
# kernels start minima at +inf). Results stay deterministic for a given build and data.
FASTMATH = {"reassoc", "contract"}


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH)
def _assign(X, centers, labels, sums, counts, mind):
    """Assignment fused with accumulation: nearest centre of every row, per-cluster sums and
    counts for the next centre update, each row's squared distance to its centre.

    Returns (distortion, number of labels that changed).
    """
    N, D = X.shape
    K = centers.shape[0]
    sums[:, :] = 0.0
    counts[:] = 0.0
    total = 0.0
    changed = 0
    for i in range(N):
        best = 0
        bestd = np.inf
        for k in range(K):
            d = 0.0
            for j in range(D):
                t = X[i, j] - centers[k, j]
                d += t * t
            if d < bestd:
                bestd = d
                best = k
        if labels[i] != best:
            changed += 1
            labels[i] = best
        counts[best] += 1.0
        for j in range(D):
            sums[best, j] += X[i, j]
        mind[i] = bestd
        total += bestd
    return total, changed


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def _record(X, i, best, bestd, labels, sums_t, counts_t, c, mind):
    """Book row i under cluster ``best`` in chunk c's accumulators; 1 if its label changed."""
    changed = 0
    if labels[i] != best:
        changed = 1
        labels[i] = best
    counts_t[c, best] += 1.0
    for j in range(X.shape[1]):
        sums_t[c, best, j] += X[i, j]
    mind[i] = bestd
    return changed


@numba.njit(cache=True, nogil=True, parallel=True, fastmath=FASTMATH)
def _step_parallel(X, centers, labels, sums, counts, mind, sums_t, counts_t, dist_t, changed_t,
                   update):
    """A whole Lloyd step in one call: (when ``update``) the centre update of
    :func:`_update_centers`, then the parallel twin of :func:`_assign`, chunk c accumulating into
    sums_t[c], counts_t[c], and the chunk sums added in chunk order into sums, counts.

    Rows are taken two at a time so each centre coordinate loaded serves both (~10% faster).
    Returns (distortion, labels changed, clusters re-seeded).
    """
    N, D = X.shape
    K = centers.shape[0]
    n_chunks = dist_t.shape[0]
    n_reseeded = 0
    if update:
        n_reseeded = _update_centers(X, labels, sums, counts, mind, centers, True)
    size = (N + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        lo = c * size
        hi = min(N, lo + size)
        sums_t[c, :, :] = 0.0
        counts_t[c, :] = 0.0
        total = 0.0
        changed = 0
        i = lo
        while i + 1 < hi:
            b0 = 0
            b1 = 0
            e0 = np.inf
            e1 = np.inf
            for k in range(K):
                d0 = 0.0
                d1 = 0.0
                for j in range(D):
                    ckj = centers[k, j]
                    t0 = X[i, j] - ckj
                    t1 = X[i + 1, j] - ckj
                    d0 += t0 * t0
                    d1 += t1 * t1
                if d0 < e0:
                    e0 = d0
                    b0 = k
                if d1 < e1:
                    e1 = d1
                    b1 = k
            changed += _record(X, i, b0, e0, labels, sums_t, counts_t, c, mind)
            changed += _record(X, i + 1, b1, e1, labels, sums_t, counts_t, c, mind)
            total += e0
            total += e1
            i += 2
        if i < hi:
            b0 = 0
            e0 = np.inf
            for k in range(K):
                d0 = 0.0
                for j in range(D):
                    t0 = X[i, j] - centers[k, j]
                    d0 += t0 * t0
                if d0 < e0:
                    e0 = d0
                    b0 = k
            changed += _record(X, i, b0, e0, labels, sums_t, counts_t, c, mind)
            total += e0
        dist_t[c] = total
        changed_t[c] = changed
    # Add the per-chunk accumulators in chunk order (deterministic for a given chunk count).
    sums[:, :] = 0.0
    counts[:] = 0.0
    total = 0.0
    changed = 0
    for c in range(n_chunks):
        for k in range(K):
            counts[k] += counts_t[c, k]
            for j in range(D):
                sums[k, j] += sums_t[c, k, j]
        total += dist_t[c]
        changed += changed_t[c]
    return total, changed, n_reseeded


@numba.njit(cache=True, nogil=True)
def _update_centers(X, labels, sums, counts, mind, centers, reseed):
    """Centre update mu_k = sums_k / counts_k, after re-seeding empty clusters.

    An empty cluster k takes the row p farthest from its current centre (``mind``) among rows
    whose cluster has at least two members; p is moved (labels, sums, counts) so that the update
    is the exact mean of the new labels. Without ``reseed`` an empty cluster keeps its centre.
    Returns the number of re-seeded clusters.
    """
    N, D = X.shape
    K = centers.shape[0]
    n_reseeded = 0
    if reseed:
        for k in range(K):
            if counts[k] > 0.0:
                continue
            p = -1
            far = -1.0
            for i in range(N):
                if mind[i] > far and counts[labels[i]] > 1.0:
                    far = mind[i]
                    p = i
            if p < 0:
                continue        # cannot happen when K <= N
            old = labels[p]
            for j in range(D):
                sums[old, j] -= X[p, j]
                sums[k, j] = X[p, j]
            counts[old] -= 1.0
            counts[k] = 1.0
            labels[p] = k
            mind[p] = 0.0
            n_reseeded += 1
    for k in range(K):
        if counts[k] > 0.0:
            for j in range(D):
                centers[k, j] = sums[k, j] / counts[k]
    return n_reseeded


# Below this many rows the serial kernel is used (threads cost more than they save). Measured on
# 2 cores, N = 200,000, D = 8, K = 10: serial 2.8 ms, parallel 1.5 ms per assignment pass.
_PARALLEL_MIN_ROWS = 50_000


class _Lloyd:
    """Lloyd state over preallocated buffers: labels, per-cluster sums and counts, distances."""

    def __init__(self, X: np.ndarray, centers: np.ndarray):
        N, D = X.shape
        K = centers.shape[0]
        self.X = X
        self.centers = centers
        self.labels = np.full(N, -1, dtype=np.int64)
        self.sums = np.zeros((K, D))
        self.counts = np.zeros(K)
        self.mind = np.empty(N)
        self.parallel = N >= _PARALLEL_MIN_ROWS and numba.get_num_threads() > 1
        if self.parallel:
            n_chunks = 4 * numba.get_num_threads()
            self.sums_t = np.zeros((n_chunks, K, D))
            self.counts_t = np.zeros((n_chunks, K))
            self.dist_t = np.zeros(n_chunks)
            self.changed_t = np.zeros(n_chunks, dtype=np.int64)

    def step(self, update: bool = True) -> tuple[float, int, int]:
        """(When ``update``) the centre update with re-seeding, then the fused assignment.

        Returns (distortion, number of labels changed, number of clusters re-seeded).
        """
        if self.parallel:
            return _step_parallel(self.X, self.centers, self.labels, self.sums, self.counts,
                                  self.mind, self.sums_t, self.counts_t, self.dist_t,
                                  self.changed_t, update)
        n_reseeded = 0
        if update:
            n_reseeded = _update_centers(self.X, self.labels, self.sums, self.counts, self.mind,
                                         self.centers, True)
        dist, changed = _assign(self.X, self.centers, self.labels, self.sums, self.counts,
                                self.mind)
        return dist, changed, n_reseeded


# ---- public helpers --------------------------------------------------------------------------

def _plusplus(X: np.ndarray, K: int, rng: np.random.Generator, metric: str) -> np.ndarray:
    """Greedy k-means++ seeding (scikit-learn's variant); ``metric`` "sqeuclidean" or "l1"."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    N, D = X.shape
    if not 1 <= K <= N:
        raise ValueError(f"K = {K} must be between 1 and the number of rows ({N})")
    dist = _sqdist_to_points if metric == "sqeuclidean" else _l1dist_to_points
    n_trials = 2 + int(math.log(K))
    centers = np.empty((K, D))
    first = int(rng.integers(N))
    centers[0] = X[first]
    closest = np.empty((1, N))
    dist(X, centers[:1], closest)
    closest = closest[0]
    pot = closest.sum()
    cand_d = np.empty((n_trials, N))
    for c in range(1, K):
        if pot > 0.0:
            r = rng.random(n_trials) * pot
            cand = np.searchsorted(np.cumsum(closest), r, side="right")
            cand = np.minimum(cand, N - 1)
        else:   # every row coincides with a chosen centre: any row will do
            cand = rng.integers(N, size=n_trials)
        dist(X, X[cand], cand_d)
        np.minimum(cand_d, closest[None, :], out=cand_d)
        pots = cand_d.sum(axis=1)
        best = int(np.argmin(pots))
        closest = cand_d[best].copy()
        pot = pots[best]
        centers[c] = X[cand[best]]
    return centers


def kmeans_plusplus(X: np.ndarray, K: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy k-means++ centres (K, D) for the rows of X, drawn with ``rng``."""
    return _plusplus(X, K, rng, "sqeuclidean")


def lloyd(X: np.ndarray, centers: np.ndarray, max_iter: int = 100,
          tol: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Run Lloyd's algorithm from ``centers``; returns (labels int64 (N,), centres (K, D)).

    Stops when no label changes, when the relative decrease of the distortion is at most ``tol``,
    or after ``max_iter`` centre updates. The returned labels are the nearest returned centres.
    ``centers`` is not modified.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
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

def check_centers(centers, K: int, D: int) -> np.ndarray:
    """Validate explicit initial centres: finite, shape (K, D); returns a C-contiguous copy."""
    c = np.array(centers, dtype=np.float64, order="C", copy=True)
    if c.shape != (K, D):
        raise ValueError(f"initial centers must have shape ({K}, {D}), got {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError("initial centers must be finite")
    return c


@register
class KMeans(Model):
    id = "kmeans"
    name = "K-means"
    description = ("Lloyd's algorithm: assign every row to its nearest centre, move every centre "
                   "to the mean of its rows, repeat. Minimises the sum of squared distances "
                   "(distortion). Greedy k-means++ seeding, n_init restarts keeping the best; an "
                   "empty cluster is re-seeded with the row farthest from its centre.")
    data_kinds = ("table",)
    objective_kind = "distortion"
    Hyperparameters = KMeansHyperparameters

    def initialize(self, data, seed: int, centers: np.ndarray | None = None) -> None:
        """Seed the centres (k-means++ from ``seed``, or the given ``centers``) and assign."""
        X = np.ascontiguousarray(data.X, dtype=np.float64)
        N, D = X.shape
        K = self.hp.K
        self.data = data
        self.seed = seed
        self.iteration = 0
        if centers is None:
            centers = kmeans_plusplus(X, K, np.random.default_rng(seed))
        self._X = X
        self._centers = check_centers(centers, K, D)
        self._state = _Lloyd(X, self._centers)
        self._labels = self._state.labels
        self._parallel = self._state.parallel
        self._n_reseeded = 0
        self._distortion, self._n_changed, _ = self._state.step(update=False)

    def step(self) -> float:
        """One Lloyd iteration: centre update (with re-seeding), then the fused assignment."""
        self._distortion, self._n_changed, self._n_reseeded = self._state.step()
        return float(self._distortion)

    def converged(self, trace: list[float], tol: float) -> bool:
        # No label changed: the next centre update reproduces the centres, a fixed point.
        return (len(trace) >= 1 and self._n_changed == 0) or super().converged(trace, tol)

    def labels(self) -> np.ndarray:
        return self._labels

    def snapshot(self) -> dict:
        return {"labels": self._labels.copy(), "centers": self._centers.copy(),
                "info": {"labels changed": float(self._n_changed),
                         "re-seeded": float(self._n_reseeded)}}

    def parameters(self) -> dict[str, np.ndarray]:
        return {"centers": self._centers.copy(), "labels": self._labels.copy(),
                "inertia": np.array(self._distortion, dtype=np.float64)}

    def metrics(self) -> dict[str, float]:
        return {"inertia": float(self._distortion)}
