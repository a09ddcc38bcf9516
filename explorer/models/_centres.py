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

from explorer.models.base import Model, coincident_groups, describe_groups, few_rows_advice


class CentreModel(Model):
    data_kinds = ("table",)
    objective_kind = "distortion"
    _centers: np.ndarray
    _labels: np.ndarray
    _n_changed: int
    _n_reseeded: int
    _X: np.ndarray          # the rows the centres live in (kmeans: float32 or float64)

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
        return {"labels": self._labels.copy(), "centers": self._centers.copy(),
                "info": {"labels changed": float(self._n_changed),
                         "re-seeded": float(self._n_reseeded)}}

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
                problems.append(f"K = {K} asked, {K - len(empty)} in use ("
                                + (f"clusters {which} hold" if len(empty) > 1 else
                                   f"cluster {which} holds") + " no row)")
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
            diff = np.asarray(X[a:a + rows], dtype=np.float64)[:, None, :] - C[None]
            out[a:a + rows] = self._metric(diff)
        return out

    @staticmethod
    def _metric(diff: np.ndarray) -> np.ndarray:
        """(n, K) distances from (n, K, D) differences: squared Euclidean."""
        return np.einsum("ikd,ikd->ik", diff, diff)
