"""Mixture of Poisson distributions for count data, fitted by EM: an example of a model that lives
outside the explorer's package (docs/adding-a-model.md walks through this file).

Model. Row i of the table holds D counts x_i1 .. x_iD (whole numbers >= 0):

    z_i ~ Cat(pi),   x_id | z_i = k ~ Poisson(lambda_kd), the D columns independent given z_i.

EM maximises the total log-likelihood sum_i log sum_k pi_k prod_d Poisson(x_id; lambda_kd):

* E-step: r_ik = pi_k prod_d Poisson(x_id; lambda_kd) / sum_j (the same for j), computed in log
  space, log pi_k + sum_d [x_id log lambda_kd - lambda_kd - log x_id!], normalised by
  log-sum-exp; the same pass adds up the log-likelihood and the statistics N_k = sum_i r_ik and
  S_kd = sum_i r_ik x_id.
* M-step for pi_k: pi_k = N_k / N (the Lagrangian of sum_k N_k log pi_k with sum_k pi_k = 1).
* M-step for lambda_kd: lambda_kd = S_kd / N_k (d/dlambda of sum_i r_ik (x_id log lambda -
  lambda) = S_kd / lambda - N_k = 0). A rate of 0 is exact (every member counts 0 there): a
  count above 0 then has probability 0 under that component, and 0 log 0 is taken as 0.

Every EM step raises the log-likelihood or leaves it (``monotone_objective``). One ``step()`` (the
mixtures' template, ``MixtureModel.step``) is the M-step from the last pass's statistics
(``_m_step``), then the E-step pass (``_e_pass``), so the value it returns is the log-likelihood
of the parameters the model holds. A component that loses every row (N_k = 0) keeps its rates
with weight 0 and is reported by ``degeneracy()``.

Start: the rates of component k are a random row plus 1/2 (so no rate starts at 0); pi uniform.

Exported parameters (parameters.npz names):
  weights (K,) pi; rates (K, D) lambda; responsibilities (N, K) r.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from explorer.data.types import DataError
from explorer.models import register
from explorer.models.base import HyperparametersBase, param
from explorer.models.mixture import MixtureModel


@dataclass(frozen=True)
class PoissonMixtureHyperparameters(HyperparametersBase):
    K: int = param(2, lo=1, hi=100, help="number of Poisson components")
    n_init: int = param(3, lo=1, hi=50, help="restarts from new seeds; the best is kept")


@numba.njit(cache=True, nogil=True)
def e_step(X, log_fact, log_w, rates, resp, nk, sx):
    """Responsibilities into resp, statistics into nk and sx; returns the log-likelihood."""
    N, D = X.shape
    K = rates.shape[0]
    lp = np.empty(K)
    nk[:] = 0.0
    sx[:] = 0.0
    total = 0.0
    for i in range(N):
        top = -np.inf
        for k in range(K):
            s = log_w[k]
            for d in range(D):
                if rates[k, d] > 0.0:
                    s += X[i, d] * math.log(rates[k, d]) - rates[k, d]
                elif X[i, d] > 0.0:
                    s = -np.inf
            lp[k] = s - log_fact[i]
            top = max(top, lp[k])
        norm = 0.0
        for k in range(K):
            norm += math.exp(lp[k] - top)
        total += top + math.log(norm)
        for k in range(K):
            r = math.exp(lp[k] - top) / norm
            resp[i, k] = r
            nk[k] += r
            for d in range(D):
                sx[k, d] += r * X[i, d]
    return total


@register
class PoissonMixture(MixtureModel):
    id = "poisson-mixture"
    name = "Poisson mixture (EM)"
    description = ("Mixture of K Poisson distributions for tables of counts (each column "
                   "independent given the component), fitted by EM.")
    objective_kind = "log-likelihood"
    monotone_objective = True
    table_values = "counts"
    Hyperparameters = PoissonMixtureHyperparameters
    default_max_iter = 500
    default_tol = 1e-8
    shared_state = MixtureModel.shared_state + ("log_fact",)

    def check_data(self, data) -> None:
        super().check_data(data)
        bad = (data.X < 0) | (data.X != np.round(data.X))
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise DataError(f"a Poisson mixture takes counts (whole numbers >= 0), but row "
                            f"{data.ids[i]} has {data.X[i, j]:g}", path=data.path,
                            column=data.columns[j])

    def _prepare(self, data) -> None:
        # Shared by every restart, never written after this: the data (X, float64, set by
        # MixtureModel._prepare) and sum_d log x_id!.
        super()._prepare(data)
        self.log_fact = np.array([sum(math.lgamma(x + 1.0) for x in row) for row in self.X])

    def _init_state(self, seed: int) -> None:
        N, D = self.X.shape
        K = self.hp.K
        rng = np.random.default_rng(seed)
        self.rates = self.X[rng.choice(N, size=K, replace=False)] + 0.5
        self.weights = np.full(K, 1.0 / K)
        self.resp = np.zeros((N, K))
        self.nk = np.zeros(K)
        self.sx = np.zeros((K, D))
        self._e_pass()

    def _e_pass(self) -> None:
        with np.errstate(divide="ignore"):
            log_w = np.log(self.weights)
        self.loglik = e_step(self.X, self.log_fact, log_w, self.rates, self.resp, self.nk,
                             self.sx)

    def _m_step(self) -> None:
        filled = self.nk > 0.0
        self.rates[filled] = self.sx[filled] / self.nk[filled, None]
        self.weights = self.nk / self.nk.sum()

    def n_parameters(self) -> int:
        K, D = self.rates.shape
        return K * D + K - 1

    def _components(self) -> dict[str, np.ndarray]:
        return {"centers": self.rates.copy()}

    def _component_vectors(self) -> np.ndarray:
        return self.rates

    def _component_degeneracy(self) -> str | None:
        empty = np.flatnonzero(self.nk <= 0.0)
        if len(empty):
            return f"component {empty[0] + 1} has no rows left"
        return None

    def parameters(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights.copy(), "rates": self.rates.copy(),
                "responsibilities": self.resp.copy()}
