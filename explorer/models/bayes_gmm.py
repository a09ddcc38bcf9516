"""Bayesian mixture of Gaussians by coordinate-ascent variational inference (CAVI), the model of
Blei, Kucukelbir and McAuliffe's review (docs/derivations/bayes_gmm.md), in D dimensions.

The model, its updates and the choices the code made: docs/models/bayes-gmm.md.

Degenerate states (``degeneracy()``, shared with the other mixtures): components whose m_k
coincide (K = 3 on identical rows): one cluster counted K times.

Exported parameters (parameters.npz names), in the data's feature space (the standardised columns
when the data were loaded standardised):
  m (K, D) variational means of mu_k; s2 (K,) variational variances; weights (K,) the
  average responsibilities sum_i phi_ik / N; phi (N, K) and responsibilities (N, K) (the same
  array under both names).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from explorer.models import _mixture_kernels as mk
from explorer.models import register
from explorer.models._canonical import model_row_order
from explorer.models._centre_kernels import kmeans_plusplus
from explorer.models._mixture import MixtureModel
from explorer.models._parallel import claim
from explorer.models.base import HyperparametersBase, param


@dataclass(frozen=True)
class BayesGMMHyperparameters(HyperparametersBase):
    K: int = param(3, lo=1, hi=1000, help="number of mixture components")
    sigma2: float = param(
        10.0,
        lo=1e-6,
        hi=1e8,
        log=True,
        label="sigma^2",
        help="prior variance of the component means, mu_k ~ N(0, sigma^2 I)",
    )
    n_init: int = param(1, lo=1, hi=100, help="restarts from new seeds; the best ELBO is kept")


@numba.njit(cache=True, nogil=True, inline="always")
def log_joint(X, i, m, half_norm, lp):
    """lp[k] = l_ik = x_i . m_k - (D s2_k + ||m_k||^2) / 2 for row i (half_norm[k] the second
    term); returns ||x_i||^2."""
    D = X.shape[1]
    xx = 0.0
    for d in range(D):
        xx += X[i, d] * X[i, d]
    for k in range(lp.shape[0]):
        xm = 0.0
        for d in range(D):
            xm += X[i, d] * m[k, d]
        lp[k] = xm - half_norm[k]
    return xx


@numba.njit(cache=True, nogil=True, parallel=True)
def _phi_pass(X, m, s2, phi, nk_c, sx_c, el_c, lp_c, half_norm, nw):
    """CAVI update of every phi_i, the statistics (sum phi, sum phi x) per chunk, and per chunk
    the data terms of the ELBO: sum_i E[log p(x_i | c_i, mu)] - E[log q(c_i)].

    With l_ik = x_i . m_k - (D s2_k + ||m_k||^2) / 2 and phi_ik = exp(l_ik - lse_i) (its CAVI
    optimum), the row's terms sum_k phi_ik (l_ik - log phi_ik) equal lse_i = log sum_k exp(l_ik)
    exactly, so no log phi is evaluated: the row contributes -D/2 log 2 pi - ||x_i||^2 / 2 + lse_i.
    half_norm (K,) is scratch. ``nw`` threads take the chunks one at a time (``_parallel.call``).
    """
    N, D = X.shape
    K = m.shape[0]
    C = nk_c.shape[0]
    for k in range(K):
        mm = 0.0
        for d in range(D):
            mm += m[k, d] * m[k, d]
        half_norm[k] = 0.5 * (D * s2[k] + mm)
    # l_ik is linear in x (W = m, b = -half_norm): the blocked, vectorised ``linear_chunk``
    # gives sum lse and sum ||x||^2 per chunk; the row-at-a-time path is kept for non-finite m.
    n_bad = 0  # (an int: a bool folded with "and" here was lost by the parallel loop)
    for k in range(K):
        n_bad += not math.isfinite(half_norm[k])
    neg_half = -half_norm
    xx_c = np.zeros(C)
    counter = np.zeros(1, dtype=np.int64)
    for _ in numba.prange(nw):
        c = claim(counter)
        while c < C:
            start, end = mk.chunk_bounds(c, C, N)
            if n_bad == 0:
                mk.linear_chunk(X, m, neg_half, c, C, phi, nk_c, sx_c, el_c, xx_c)
                el_c[c] += -0.5 * D * mk.LOG_2PI * (end - start) - 0.5 * xx_c[c]
            else:
                start, end = mk.open_chunk(c, C, N, nk_c, sx_c)
                lp, nk, sx = lp_c[c], nk_c[c], sx_c[c]
                el = 0.0
                for i in range(start, end):
                    xx = log_joint(X, i, m, half_norm, lp)
                    lse = mk.e_step_row(X, i, lp, phi[i], nk, sx)
                    el += lse - 0.5 * D * mk.LOG_2PI - 0.5 * xx
                el_c[c] = el
            c = claim(counter)


@numba.njit(cache=True, nogil=True)
def _mu_update(nk_c, sx_c, sigma2, m, s2, weights):
    """CAVI update of q(mu_k) in place: s2_k = 1 / (1/sigma2 + N_k), m_k = s2_k sum phi x."""
    K, D = m.shape
    N = mk.component_totals(nk_c, 0.0, weights)
    for k in range(K):
        s2[k] = 1.0 / (1.0 / sigma2 + weights[k])
        for d in range(D):
            m[k, d] = s2[k] * mk.chunk_sum(sx_c[:, k, d], 0.0)
    for k in range(K):
        weights[k] /= N


def global_elbo_terms(m, s2, sigma2, N):
    """E[log p(mu)] + sum_i E[log p(c_i)] - E[log q(mu)] (everything but the data terms)."""
    K, D = m.shape
    mm = (m * m).sum(axis=1)
    e_log_pmu = np.sum(-0.5 * D * np.log(2 * np.pi * sigma2) - (mm + D * s2) / (2 * sigma2))
    e_log_pc = -N * np.log(K)
    entropy_mu = np.sum(0.5 * D * (1.0 + np.log(2 * np.pi * s2)))
    return float(e_log_pmu + e_log_pc + entropy_mu)


@register
class BayesianGMM(MixtureModel):
    id = "bayes-gmm"
    name = "Bayesian Gaussian mixture (CAVI)"
    description = (
        "Bayesian mixture of K unit-variance Gaussians with a N(0, sigma^2 I) prior on "
        "the means and uniform mixing weights, fitted by coordinate-ascent variational "
        "inference (Blei, Kucukelbir & McAuliffe 2017). Best on standardised data."
    )
    objective_kind = "ELBO"
    Hyperparameters = BayesGMMHyperparameters
    default_max_iter = 500
    default_tol = 1e-9

    def _prepare(self, data) -> None:
        super()._prepare(data)
        X = self.X
        bad = [] if getattr(data, "standardized", False) else mk.far_from_unit_scale(X)
        if bad:
            cols = ", ".join(
                f"{data.columns[j]} (mean {X[:, j].mean():.3g}, sd {X[:, j].std():.3g})"
                for j in bad[:5]
            )
            self._notes.append(
                f"bayes-gmm assumes unit observation variance, but columns {cols} are far from "
                "unit scale; consider standardising the columns (--standardize, or "
                "'Standardise columns' in the window)"
            )

    def _init_state(self, seed: int) -> None:
        K = self.hp.K
        rng = np.random.default_rng(seed)
        self.m = np.array(
            kmeans_plusplus(self.X, K, rng, model_row_order(self, self.X)),
            dtype=np.float64,
            order="C",
        )
        self.s2 = np.ones(K)
        self.weights = np.full(K, 1.0 / K)
        self._chunk_buffers(K)  # the responsibilities resp are q(c): phi
        self.phi = self.resp
        self._half_norm = np.zeros(K)
        self._e_pass()

    def _e_pass(self) -> None:
        """The CAVI update of every q(c_i) (phi), with the ELBO."""
        data_terms = self._chunk_pass(_phi_pass, (self.m, self.s2), self._half_norm)
        self.elbo = data_terms + global_elbo_terms(self.m, self.s2, self.hp.sigma2, self.X.shape[0])

    def _m_step(self) -> None:
        """The CAVI update of every q(mu_k)."""
        _mu_update(self._nk, self._sx, self.hp.sigma2, self.m, self.s2, self.weights)

    def _objective(self) -> float:
        return self.elbo

    def _objective_metrics(self) -> dict[str, float]:
        return {"elbo": self.elbo}

    _info = _objective_metrics

    def density_1d(self, grid=None) -> dict[str, np.ndarray]:
        """Plug-in density (1-D data, data units): sum_k w_k N(x | m_k, 1) with w_k = N_k / N."""
        x = mk.one_d_grid(self.data.X[:, 0]) if grid is None else np.asarray(grid, dtype=np.float64)
        comp = (
            self.weights[:, None]
            * np.exp(-0.5 * (x[None, :] - self.m[:, 0][:, None]) ** 2)
            / np.sqrt(2 * np.pi)
        )
        return {"x": x, "total": comp.sum(axis=0), "components": comp}

    def _component_vectors(self) -> np.ndarray:
        """q(mu_k)'s means: components with the same m_k are one cluster counted several times
        (s2_k differs only through N_k)."""
        return self.m

    def _components(self) -> dict[str, np.ndarray]:
        K, D = self.m.shape
        return {
            "centers": self.m.copy(),
            "covariances": np.broadcast_to(np.eye(D), (K, D, D)).copy(),
        }  # unit variance

    parameter_names = ("m", "s2", "weights", "phi")

    def weighted_log_prob(self, parameters: dict, X) -> np.ndarray:
        """(N, K) log(1/K) + E_q[log N(x_i | mu_k, I)] of rows ``X`` (new rows or the fitted
        ones) under the fitted q(mu_k) = N(m_k, s2_k I) (``parameters`` m, s2): its softmax over k
        is the CAVI update for phi_i, its log-sum-exp the row's term of the ELBO (as scikit-learn's
        BayesianGaussianMixture scores rows with the expected log-densities)."""
        m = np.asarray(parameters["m"], dtype=np.float64)
        s2 = np.asarray(parameters["s2"], dtype=np.float64)
        X = np.asarray(X, dtype=np.float64)
        K, D = m.shape
        half_norm = 0.5 * (D * s2 + np.einsum("kd,kd->k", m, m))
        row = -np.log(K) - 0.5 * D * mk.LOG_2PI - 0.5 * np.einsum("id,id->i", X, X)
        return row[:, None] + X @ m.T - half_norm[None, :]
