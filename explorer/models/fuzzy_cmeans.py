"""Fuzzy c-means (Bezdek), with an optional hardening that turns it into K-means.

Derivation: docs/derivations/fuzzy_cmeans.md.

The model, its updates and the choices the code made: docs/models/fuzzy-cmeans.md.

Exported parameters (``parameters.npz`` names):

* ``centers``: (K, D) float64 cluster centres;
* ``memberships``: (N, K) float64, rows sum to 1;
* ``labels``: (N,) int64 argmax membership (nearest centre, lowest index on ties).
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
class FuzzyCMeansHyperparameters(HyperparametersBase):
    K: int = param(3, lo=1, hi=1000, help="number of clusters")
    m: float = param(
        2.0,
        lo=1.01,
        hi=10.0,
        help="fuzzifier m > 1: memberships ~ distance^(-2/(m-1)); 2 is the usual choice",
    )
    harden: bool = param(False, help="take the argmax membership at every step (K-means)")
    n_init: int = param(
        1, lo=1, hi=100, help="restarts from new k-means++ seeds; the lowest J_m is kept"
    )


@numba.njit(cache=True, nogil=True, fastmath=ck.FASTMATH)
def _memberships(X, centers, m, R, labels, mind, dbuf, sums, weights):
    """Membership update from ``centers`` fused with the weighted sums for the next centre update.

    Writes R (N, K), labels (argmax), mind (distance to the nearest centre), sums (K, D) and
    weights (K,) (sum_i r_ij^m x_i and sum_i r_ij^m). Returns (J_m, number of labels changed).
    """
    N, D = X.shape
    K = centers.shape[0]
    p = 1.0 / (m - 1.0)
    sums[:, :] = 0.0
    weights[:] = 0.0
    J = 0.0
    changed = 0
    for i in range(N):
        best, bestd = ck.nearest_centre(X, i, centers, False, dbuf)
        changed += ck.relabel(labels, i, best)
        mind[i] = bestd
        if bestd == 0.0:
            # On a centre (possibly several coinciding ones): equal share among them.
            n0 = 0
            for k in range(K):
                if dbuf[k] == 0.0:
                    n0 += 1
            for k in range(K):
                R[i, k] = 1.0 / n0 if dbuf[k] == 0.0 else 0.0
        else:
            s = 0.0
            for k in range(K):
                t = bestd / dbuf[k]  # in (0, 1]
                if p != 1.0:
                    t = t**p
                R[i, k] = t
                s += t
            for k in range(K):
                R[i, k] /= s
        for k in range(K):
            r = R[i, k]
            if r == 0.0:
                continue
            w = r * r if m == 2.0 else r**m
            J += w * dbuf[k]
            weights[k] += w
            for j in range(D):
                sums[k, j] += w * X[i, j]
    return J, changed


@numba.njit(cache=True, nogil=True)
def _one_hot(labels, R):
    """R[i] = the indicator of labels[i] (the hardened memberships)."""
    R[:, :] = 0.0
    for i in range(labels.shape[0]):
        R[i, labels[i]] = 1.0


@register
class FuzzyCMeans(CentreModel):
    id = "fuzzy-cmeans"
    name = "Fuzzy c-means"
    description = (
        "Soft K-means: every row belongs to every cluster with a membership that "
        "falls with distance (fuzzifier m, 2 by default); centres are membership^m "
        "weighted means. Minimises J_m = sum r^m ||x - u||^2 and reports the fuzzy "
        "partition coefficient. 'harden' takes the argmax membership at every step, "
        "which is exactly K-means."
    )
    Hyperparameters = FuzzyCMeansHyperparameters
    shared_state = ("_X", "_XT")

    def _prepare(self, data) -> None:
        X = np.ascontiguousarray(data.X, dtype=np.float64)
        self._X = X
        # K-means' centre update reads the transpose (only to re-seed, i.e. with harden)
        self._XT = np.ascontiguousarray(X.T) if self.hp.harden else np.zeros((X.shape[1], 0))

    def _init_state(self, seed: int, centers: np.ndarray | None = None) -> None:
        """Seed the centres (k-means++ from ``seed``, or the given ``centers``), then memberships."""
        X = self._X
        N, D = X.shape
        K = self.hp.K
        self._centers = ck.initial_centers(X, K, seed, centers, order=model_row_order(self, X))
        self._R = np.zeros((N, K))
        self._labels = np.full(N, -1, dtype=np.int64)
        self._mind = np.empty(N)
        self._dbuf = np.empty(K)
        self._sums = np.zeros((K, D))
        self._weights = np.zeros(K)
        if self.hp.harden:  # K-means' assignment kernel and its buffers
            self._acc = np.empty(2 * ck.BLOCK)
            self._best = np.empty(ck.BLOCK, dtype=np.int64)
        self._n_reseeded = 0
        self._J, self._n_changed = self._update_memberships()

    def _update_memberships(self) -> tuple[float, int]:
        if self.hp.harden:
            # r = one-hot argmax: the membership update is K-means' assignment, and running its
            # very kernel keeps the distances, sums and J bit for bit those of ``kmeans``.
            J, changed = ck.assign(
                self._XT,
                self._centers,
                self._labels,
                self._sums,
                self._weights,
                self._mind,
                self._acc,
                self._best,
            )
            _one_hot(self._labels, self._R)
            return J, changed
        return _memberships(
            self._X,
            self._centers,
            float(self.hp.m),
            self._R,
            self._labels,
            self._mind,
            self._dbuf,
            self._sums,
            self._weights,
        )

    def step(self) -> float:
        """Centre update (r^m-weighted means), then the fused membership update; returns J_m."""
        self._n_reseeded = ck.update_centers(
            self._XT,
            self._labels,
            self._sums,
            self._weights,
            self._mind,
            self._centers,
            bool(self.hp.harden),
        )
        self._J, self._n_changed = self._update_memberships()
        return float(self._J)

    @property
    def hard(self) -> bool:
        # Hardened, no label change is a fixed point (as in K-means).
        return bool(self.hp.harden)

    def memberships(self) -> np.ndarray:
        return self._R

    def partition_coefficient(self) -> float:
        return float(np.einsum("ij,ij->", self._R, self._R) / self._R.shape[0])

    def snapshot(self) -> dict:
        return {
            "labels": self._labels.copy(),
            "memberships": self._R.copy(),
            "centers": self._centers.copy(),
            "info": {"partition coefficient": self.partition_coefficient()},
        }

    def parameters(self) -> dict[str, np.ndarray]:
        return {
            "centers": self._centers.copy(),
            "memberships": self._R.copy(),
            "labels": self._labels.copy(),
        }

    def metrics(self) -> dict[str, float]:
        return {"partition_coefficient": self.partition_coefficient(), "J_m": float(self._J)}

    def memberships_for(self, parameters: dict, X) -> np.ndarray:
        """(N, K) memberships of rows ``X`` (new rows or the fitted ones) given the fitted
        ``parameters["centers"]``: the membership update above (equal shares among the centres a
        row sits on; the one-hot nearest centre with ``harden``)."""
        d = self.distances(parameters, X)
        N, K = d.shape
        if self.hp.harden:
            R = np.zeros((N, K))
            R[np.arange(N), d.argmin(axis=1)] = 1.0
            return R
        dmin = d.min(axis=1, keepdims=True)
        on_centre = dmin[:, 0] == 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            R = dmin / d  # in (0, 1] off the centres
        p = 1.0 / (float(self.hp.m) - 1.0)
        if p != 1.0:
            R = R**p
        R /= R.sum(axis=1, keepdims=True)
        if on_centre.any():
            z = d[on_centre] == 0.0
            R[on_centre] = z / z.sum(axis=1, keepdims=True)
        return R
