"""Mixture of exponential distributions for non-negative data, fitted by EM
(docs/derivations/exponential_mixture.md).

The model, its updates and the choices the code made: docs/models/exponential-mixture.md.

Exported parameters (parameters.npz names):
  rates (K, D) lambda; weights (K,) mu; responsibilities (N, K) (q transposed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from explorer.data.types import DataError
from explorer.models import _mixture_kernels as mk
from explorer.models import register
from explorer.models._mixture import AffineMixture
from explorer.models._mixture_kernels import affine_e_pass  # noqa: F401 - for warmup's kernel list
from explorer.models.base import HyperparametersBase, param


@dataclass(frozen=True)
class ExponentialMixtureHyperparameters(HyperparametersBase):
    K: int = param(2, lo=1, hi=1000, help="number of exponential components")
    n_init: int = param(
        4, lo=1, hi=100, help="restarts from new seeds; the best log-likelihood is kept"
    )


def affine_form(rates, log_rates):
    """(P, Q, Z) of :func:`~explorer.models._mixture_kernels.affine_e_pass`: the row's
    log p(x | k) = sum_d [log lambda_kd - lambda_kd x_d], so P = Z = log lambda, Q = -lambda."""
    return log_rates, -rates, log_rates


# A component's mean may not fall below this fraction of the column's smallest positive value.
MIN_MEAN_FRACTION = 1e-3


@numba.njit(cache=True, nogil=True)
def _m_step(nk_c, sx_c, min_mean, weights, log_w, rates, log_rates):
    K, D = rates.shape
    N = mk.component_totals(nk_c, 0.0, weights)
    for k in range(K):
        nk = weights[k]
        if nk > 0.0:  # an empty component keeps its rates (weight 0)
            for d in range(D):
                s = mk.chunk_sum(sx_c[:, k, d], 0.0)
                rates[k, d] = nk / max(s, nk * min_mean[d], 1e-300)
                log_rates[k, d] = math.log(rates[k, d])
    mk.mixing_weights(weights, N, log_w)


def mean_floor(min_positive: np.ndarray) -> np.ndarray:
    """The floor on each component's mean from each column's smallest positive value."""
    return np.ascontiguousarray(MIN_MEAN_FRACTION * np.asarray(min_positive, dtype=np.float64))


def floor_degeneracy(rates, weights, min_mean, n_zeros, columns) -> str | None:
    """What is degenerate when components are held at the mean floor (they sit on a column's
    zeros), or None; shared by the in-memory and the distributed fit."""
    cap = 1.0 / min_mean
    at_floor = (rates >= cap * (1.0 - 1e-9)) & (weights[:, None] > 0.0)
    if not at_floor.any():
        return None
    parts = []
    for k, d in zip(*np.nonzero(at_floor)):
        parts.append(
            f"component {k + 1} sits on the {int(n_zeros[d])} zeros of column "
            f"'{columns[d]}' (weight {weights[k]:.3g}; its mean is "
            f"held at the floor {min_mean[d]:.3g})"
        )
    return (
        "; ".join(parts) + ": an exponential component on a point mass has no finite "
        "maximum-likelihood rate; remove or shift the zeros, or model them apart"
    )


@register
class ExponentialMixture(AffineMixture):
    id = "exponential-mixture"
    name = "Exponential mixture (EM)"
    description = (
        "Mixture of K exponential distributions for waiting times, intervals and other "
        "non-negative data, fitted by EM. Several columns are modelled as independent "
        "exponentials, one rate per column and component."
    )
    objective_kind = "log-likelihood"
    Hyperparameters = ExponentialMixtureHyperparameters
    default_max_iter = 1000
    default_tol = 1e-9
    shared_state = AffineMixture.shared_state + ("min_mean", "n_zeros")

    def check_data(self, data) -> None:
        super().check_data(data)
        X = data.X
        neg = X < 0
        if neg.any():
            i, j = np.argwhere(neg)[0]
            raise DataError(
                f"the exponential mixture takes non-negative data, but row {data.ids[i]} has "
                f"{X[i, j]:g} ({int(neg.sum())} negative values in all)",
                path=data.path,
                column=data.columns[j],
            )
        zero_cols = np.flatnonzero(~(X > 0).any(axis=0))
        if len(zero_cols):
            raise DataError(
                "the column is all zeros: an exponential rate would be infinite",
                path=data.path,
                column=data.columns[zero_cols[0]],
            )

    def _prepare(self, data) -> None:
        super()._prepare(data)
        X = self.X
        self.min_mean = mean_floor(np.where(X > 0, X, np.inf).min(axis=0))
        self.n_zeros = (X == 0).sum(axis=0)

    def _init_state(self, seed: int) -> None:
        X = self.X
        K = self.hp.K
        rng = np.random.default_rng(seed)
        g = np.exp(rng.uniform(np.log(0.2), np.log(5.0), size=(K, 1)))
        self.rates = np.ascontiguousarray(1.0 / (X.mean(axis=0)[None, :] * g))
        self.log_rates = np.log(self.rates)
        self.weights = np.full(K, 1.0 / K)
        self.log_w = np.log(self.weights)
        self._chunk_buffers(K)
        self._e_pass()

    def _affine_form(self):
        return affine_form(self.rates, self.log_rates)

    def _m_step(self) -> None:
        _m_step(
            self._nk, self._sx, self.min_mean, self.weights, self.log_w, self.rates, self.log_rates
        )

    def _component_vectors(self) -> np.ndarray:
        return self.rates

    def degeneracy(self) -> str | None:
        """Components held at the mean floor: they sit on the column's zeros (see the docstring);
        else the mixtures' shared check (components that coincide)."""
        return (
            floor_degeneracy(
                self.rates, self.weights, self.min_mean, self.n_zeros, self.data.columns
            )
            or super().degeneracy()
        )

    @staticmethod
    def free_parameters(K: int, D: int, hp) -> int:
        """Rates (K D) and weights (K - 1)."""
        return K * D + K - 1

    def n_parameters(self) -> int:
        return self.free_parameters(*self.rates.shape, self.hp)

    def density_1d(self, grid=None) -> dict[str, np.ndarray]:
        """Fitted density on [0, 1.05 max x] (1-D data): total and weighted components."""
        if grid is None:
            grid = np.linspace(0.0, 1.05 * float(self.X[:, 0].max()), 200)
        x = np.asarray(grid, dtype=np.float64)
        lam = self.rates[:, 0][:, None]
        comp = self.weights[:, None] * lam * np.exp(-lam * x[None, :])
        return {"x": x, "total": comp.sum(axis=0), "components": comp}

    def _components(self) -> dict[str, np.ndarray]:
        return {
            "centers": 1.0 / self.rates,  # component means, in the data's units
            "rates": self.rates.copy(),
        }

    parameter_names = ("rates", "weights")

    def weighted_log_prob(self, parameters: dict, X) -> np.ndarray:
        """(N, K) log mu_j + sum_d [log lambda_jd - lambda_jd x_id] of non-negative rows ``X``
        (new rows or the fitted ones) under fitted ``parameters`` (rates, weights): the E-step's
        formula."""
        rates = np.asarray(parameters["rates"], dtype=np.float64)
        w = np.asarray(parameters["weights"], dtype=np.float64)
        X = np.asarray(X, dtype=np.float64)
        with np.errstate(divide="ignore"):
            return (np.log(w) + np.log(rates).sum(axis=1))[None, :] - X @ rates.T
