"""What the centre-based models share (kmeans, kmedians, fuzzy-cmeans).

A :class:`CentreModel` holds its centres ``_centers`` (K, D), every row's hard label ``_labels``
(the nearest centre), and from its last step the number of labels that changed (``_n_changed``)
and of clusters re-seeded (``_n_reseeded``). Its objective is a distortion (minimised). With hard
assignments a step that changed no label is a fixed point (the next centre update recomputes the
same centres from the same labels), so ``converged`` also holds there; the snapshot carries the
labels, the centres and those two counts.
"""

from __future__ import annotations

import numpy as np

from explorer.models.base import Model


class CentreModel(Model):
    data_kinds = ("table",)
    objective_kind = "distortion"
    _centers: np.ndarray
    _labels: np.ndarray
    _n_changed: int
    _n_reseeded: int

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
