"""Multivariate Bernoulli mixture for binary data, fitted by EM (docs/derivations/bernoulli_mixture.md).

The model, its updates and the choices the code made: docs/models/bernoulli-mixture.md.

Exported parameters (parameters.npz names):
  theta (K, D) success probabilities; weights (K,) mixing proportions pi;
  responsibilities (N, K).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from scipy.special import betaln

from explorer.data.types import DataError
from explorer.models import _mixture_kernels as mk
from explorer.models import register
from explorer.models._canonical import model_row_order
from explorer.models._centre_kernels import kmeans_plusplus
from explorer.models._mixture import AffineMixture
from explorer.models._mixture_kernels import affine_e_pass  # noqa: F401 - for warmup's kernel list
from explorer.models.base import HyperparameterError, HyperparametersBase, param


def _beta_count(name: str, of: str):
    """The declaration of the Beta(a, b) prior's ``name`` (a or b), ``name`` - 1 pseudo-counts of
    ``of`` (ones or zeros): the two are declared alike."""
    return param(
        2.0,
        lo=1.0,
        hi=1e6,
        label=f"Beta {name}",
        help=f"Beta(a, b) prior on theta: {name} - 1 pseudo-counts of {of} (1 = no prior)",
    )


@dataclass(frozen=True)
class BernoulliMixtureHyperparameters(HyperparametersBase):
    K: int = param(3, lo=1, hi=1000, help="number of mixture components")
    a: float = _beta_count("a", "ones")
    b: float = _beta_count("b", "zeros")
    learn_weights: bool = param(True, help="learn the mixing proportions pi; off holds them at 1/K")
    binarize: bool = param(False, help="turn non-binary data into 0/1 with the threshold below")
    threshold: float = param(0.5, help="with binarize: values >= threshold become 1, others 0")
    init: str = param(
        "k-means++",
        choices=("k-means++", "random"),
        help="initial theta: from k-means++ seed rows, or uniform in [0.25, 0.75]",
    )
    n_init: int = param(4, lo=1, hi=100, help="restarts from new seeds; the best objective is kept")

    def validate(self) -> None:
        if not math.isfinite(self.threshold):
            raise HyperparameterError("threshold must be a finite number")


def affine_form(log_t, log_1mt):
    """(P, Q, Z) of :func:`~explorer.models._mixture_kernels.affine_e_pass` for 0/1 data: the
    row's log p(x | k) = sum_d [x_d log theta_kd + (1 - x_d) log(1 - theta_kd)] is P = log theta
    at x = 1 and Z = log(1 - theta) at x = 0 (Q = 0); a theta of 0 or 1 gives an infinite P or
    Z, which the pass takes a row at a time (never 0 * log 0)."""
    return log_t, np.zeros_like(log_t), log_1mt


@numba.njit(cache=True, nogil=True)
def _m_step(nk_c, sx_c, a, b, learn_weights, theta, log_t, log_1mt, weights, log_w):
    """MAP M-step in place; returns the log prior sum_kd log Beta(theta_kd | a, b) without its
    normalising constant (the caller adds -K D log B(a, b))."""
    K, D = theta.shape
    N = mk.component_totals(nk_c, 0.0, weights)
    for k in range(K):
        den = weights[k] + a + b - 2.0
        if den > 0.0:  # an empty component under a flat prior keeps its theta
            for d in range(D):
                theta[k, d] = (mk.chunk_sum(sx_c[:, k, d], 0.0) + a - 1.0) / den
    if learn_weights:
        mk.mixing_weights(weights, N, log_w)
    else:
        weights[:] = 1.0 / K
        log_w[:] = math.log(1.0 / K)
    return _log_prior(theta, a, b, log_t, log_1mt)


@numba.njit(cache=True, nogil=True)
def _log_prior(theta, a, b, log_t, log_1mt):
    """Fill log theta and log(1 - theta); return sum (a-1) log theta + (b-1) log(1-theta)."""
    K, D = theta.shape
    lp = 0.0
    for k in range(K):
        for d in range(D):
            t = theta[k, d]
            log_t[k, d] = math.log(t) if t > 0.0 else -np.inf
            log_1mt[k, d] = math.log1p(-t) if t < 1.0 else -np.inf
            if a != 1.0:  # (a - 1) * log(0) with a = 1 would be NaN; the term is 0
                lp += (a - 1.0) * log_t[k, d]
            if b != 1.0:
                lp += (b - 1.0) * log_1mt[k, d]
    return lp


def _label_hint(data, bad: np.ndarray) -> str | None:
    """The column holding every non-binary value when the loader flagged it as a label
    (``TableData.label_candidates``: digits_binary.csv's ``digit``), else None."""
    cols = np.flatnonzero(bad.any(axis=0))
    if len(cols) != 1:
        return None
    name = data.columns[int(cols[0])]
    return name if name in getattr(data, "label_candidates", ()) else None


@register
class BernoulliMixture(AffineMixture):
    id = "bernoulli-mixture"
    name = "Bernoulli mixture (EM)"
    description = (
        "Mixture of K products of Bernoulli distributions for 0/1 data (presence/absence, "
        "binarised images), fitted by EM with an optional Beta prior that keeps every "
        "probability away from 0 and 1."
    )
    objective_kind = "log-posterior"
    Hyperparameters = BernoulliMixtureHyperparameters
    default_max_iter = 500
    default_tol = 1e-8

    def _state_notes(self) -> list[str]:
        theta = self.theta
        binary = ((theta == 0.0) | (theta == 1.0)).all(axis=1) & (self.weights > 0)
        if not binary.any():
            return []
        return [
            f"{int(binary.sum())} of {len(theta)} components are point masses on one binary "
            "pattern (every theta 0 or 1, flat prior a = b = 1): a row differing from it in "
            "any column has probability 0 under them; a = b = 2 keeps theta inside (0, 1)"
        ]

    def check_data(self, data) -> None:
        super().check_data(data)
        if self.hp.binarize:
            return
        X = data.X
        bad = (X != 0.0) & (X != 1.0)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            label = _label_hint(data, bad)
            if label is not None:
                raise DataError(
                    f"the Bernoulli mixture takes 0/1 data, but column {label!r} is the only one "
                    f"that is not (row {data.ids[i]} has {X[i, j]:g}) and looks like a label: "
                    f"pass --labels {label} to use it as ground truth (binarize would fit it as "
                    "a feature)",
                    path=data.path,
                    column=label,
                )
            raise DataError(
                f"the Bernoulli mixture takes 0/1 data, but row {data.ids[i]} has {X[i, j]:g} "
                f"({int(bad.sum())} non-binary values in all); turn on binarize (--binarize on the "
                f"command line) to map values >= threshold (now {self.hp.threshold:g}, "
                f"--threshold) to 1 and the rest to 0",
                path=data.path,
                column=data.columns[j],
            )

    def _prepare(self, data) -> None:
        X = data.X
        if self.hp.binarize:
            X = (X >= self.hp.threshold).astype(np.float64)
        self.X = np.ascontiguousarray(X, dtype=np.float64)

    def _init_state(self, seed: int) -> None:
        hp = self.hp
        X = self.X
        D = X.shape[1]
        K = hp.K
        rng = np.random.default_rng(seed)
        if hp.init == "random":
            theta = rng.uniform(0.25, 0.75, size=(K, D))
        else:
            rows = np.asarray(
                kmeans_plusplus(X, K, rng, model_row_order(self, X)), dtype=np.float64
            )
            theta = 0.5 * (rows + X.mean(axis=0))
            theta = np.clip(theta, 0.05, 0.95)  # a flat prior must not start at 0 or 1
        self.theta = np.ascontiguousarray(theta)
        self.weights = np.full(K, 1.0 / K)
        self.log_w = np.log(self.weights)
        self.log_t = np.empty((K, D))
        self.log_1mt = np.empty((K, D))
        self._prior_const = -K * D * float(betaln(hp.a, hp.b))
        self._log_prior = _log_prior(self.theta, hp.a, hp.b, self.log_t, self.log_1mt)
        self._chunk_buffers(K)
        self._e_pass()

    def _affine_form(self):
        return affine_form(self.log_t, self.log_1mt)

    def _e_pass(self) -> None:
        super()._e_pass()
        self.objective = self.loglik + self._log_prior + self._prior_const

    def _m_step(self) -> None:
        hp = self.hp
        self._log_prior = _m_step(
            self._nk,
            self._sx,
            hp.a,
            hp.b,
            hp.learn_weights,
            self.theta,
            self.log_t,
            self.log_1mt,
            self.weights,
            self.log_w,
        )

    def _objective(self) -> float:
        return self.objective  # the log-posterior: log-likelihood + log prior

    @staticmethod
    def free_parameters(K: int, D: int, hp) -> int:
        """theta (K D) and, when learnt, the weights (K - 1)."""
        return K * D + (K - 1 if hp.learn_weights else 0)

    def n_parameters(self) -> int:
        return self.free_parameters(*self.theta.shape, self.hp)

    def _objective_metrics(self) -> dict[str, float]:
        return {"log_likelihood": self.loglik, "log_posterior": self.objective}

    def _components(self) -> dict[str, np.ndarray]:
        return {"centers": self.theta.copy()}

    def _component_vectors(self) -> np.ndarray:
        return self.theta

    parameter_names = ("theta", "weights")

    def weighted_log_prob(self, parameters: dict, X) -> np.ndarray:
        """(N, K) log pi_k + sum_d log Bernoulli(x_id | theta_kd) of 0/1 rows ``X`` (new rows or
        the fitted ones; binarise first where ``binarize`` is on) under fitted ``parameters``
        (theta, weights): the E-step's formula. A theta of exactly 0 or 1 (flat prior) gives -inf
        to the rows that disagree with it, never NaN."""
        theta = np.asarray(parameters["theta"], dtype=np.float64)
        w = np.asarray(parameters["weights"], dtype=np.float64)
        X = np.asarray(X, dtype=np.float64)
        with np.errstate(divide="ignore"):
            log_t, log_1mt = np.log(theta), np.log1p(-theta)
            out = (
                np.log(w)[None, :]
                + X @ np.where(theta > 0.0, log_t, 0.0).T
                + (1.0 - X) @ np.where(theta < 1.0, log_1mt, 0.0).T
            )
        impossible = X @ (theta == 0.0).T + (1.0 - X) @ (theta == 1.0).T
        out[impossible > 0.0] = -np.inf
        return out
