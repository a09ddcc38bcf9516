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
from explorer.models._canonical import model_row_order
from explorer.models._centre_kernels import (  # noqa: F401 - kmeans_plusplus, check_centers: re-exported
    check_centers,
    data_matrix,
    initial_centers,
    kmeans_plusplus,
    transposed,
)
from explorer.models._centres import (  # noqa: F401 - lloyd, _PARALLEL_MIN_ROWS: re-exported
    _PARALLEL_MIN_ROWS,
    CentreModel,
    LloydState,
    lloyd,
)
from explorer.models.base import HyperparametersBase, param


@dataclass(frozen=True)
class KMeansHyperparameters(HyperparametersBase):
    K: int = param(3, lo=1, hi=1000, help="number of clusters")
    n_init: int = param(
        4, lo=1, hi=100, help="restarts from new k-means++ seeds; the lowest distortion is kept"
    )


# ---- the model -------------------------------------------------------------------------------


@register
class KMeans(CentreModel):
    id = "kmeans"
    name = "K-means"
    description = (
        "Lloyd's algorithm: assign every row to its nearest centre, move every centre "
        "to the mean of its rows, repeat. Minimises the sum of squared distances "
        "(distortion). Greedy k-means++ seeding, n_init restarts keeping the best; an "
        "empty cluster is re-seeded with the row farthest from its centre."
    )
    Hyperparameters = KMeansHyperparameters
    shared_state = ("_X", "_XT")
    # LloydState's kernels (the Lloyd step) stand in _centres' namespace: warmup.kernels_cached
    # reads them there
    kernel_modules = ("explorer.models._centres",)

    def _prepare(self, data) -> None:
        """float32 data is used as it is (no float64 copy; distances, sums and centres in
        float64); column-major data (the columnar loader's) is read through its transpose without
        a copy, any other is transposed once per fit."""
        self._X = data_matrix(data.X)
        self._XT = transposed(self._X)

    def _init_state(self, seed: int, centers: np.ndarray | None = None) -> None:
        """Seed the centres (k-means++ from ``seed``, or the given ``centers``) and assign."""
        X = self._X
        self._state = None  # a restart's buffers go before the next are allocated
        # (XT: the lean seeding reads the transpose this fit already holds, not a copy of its own)
        self._centers = initial_centers(
            X, self.hp.K, seed, centers, order=model_row_order(self, X), XT=self._XT
        )
        self._state = LloydState(X, self._centers, self._XT)
        self._labels = self._state.labels
        self._parallel = self._state.parallel
        self._n_reseeded = 0
        self._distortion, self._n_changed, _ = self._state.step(update=False)

    def step(self) -> float:
        """One Lloyd iteration: centre update (with re-seeding), then the fused assignment."""
        self._distortion, self._n_changed, self._n_reseeded = self._state.step()
        return float(self._distortion)

    def parameters(self) -> dict[str, np.ndarray]:
        return {
            "centers": self._centers.copy(),
            "labels": self._labels.astype(np.int64),
            "inertia": np.array(self._distortion, dtype=np.float64),
        }

    def metrics(self) -> dict[str, float]:
        return {"inertia": float(self._distortion)}
