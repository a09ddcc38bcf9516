"""What the four mixtures share (gmm, bayes-gmm, bernoulli-mixture, exponential-mixture).

A :class:`MixtureModel` holds the data it fits as ``X`` (N, D), set once per fit by ``_prepare``
(float64, C order, unless a subclass keeps float32), and after every pass over the data the
responsibilities ``resp`` (N, K, rows summing to 1), the mixing weights ``weights`` (K,) and its
log-likelihood ``loglik``. From these the template gives every mixture

* ``step()``: one iteration, the M-step from the statistics the last pass left (``_m_step()``),
  then the pass over the data (``_e_pass()``: responsibilities, log-likelihood and the next
  M-step's statistics, also run once by ``_init_state``), returning the objective of the
  parameters the model now holds (``_objective()``: the log-likelihood unless the model fits a
  log-posterior or an ELBO);
* ``check_data``: at least ``min_rows`` rows;
* ``labels()``: the argmax responsibility (lowest index on ties); ``memberships()``: ``resp``;
* ``snapshot()``: labels, memberships, the component parameters (``_components()``), the weights,
  the live figure (``_info()``) and, for one column, the fitted density (``density_1d()``);
* ``metrics()``: the objective's figures (``_objective_metrics()``) and BIC and AIC of the
  log-likelihood with ``n_parameters()`` free parameters, where the model defines that number;
* ``notes``: the fit's notes followed by those that follow the current state (``_state_notes()``,
  e.g. gmm's "K is too large for N and D"). It is computed when read, so a mixture adds a note with
  ``self.add_note(text)`` (as every model does), never with ``self.notes.append``;
* ``degeneracy()``: components that coincide (``_component_vectors()``: K components describing
  fewer, which EM never separates again: K = 3 on identical rows, a Bernoulli mixture on all-zero
  data), then what the family itself calls degenerate (``_component_degeneracy()``: gmm's
  covariances set by reg_covar, the exponential mixture's rates held at their cap).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from explorer import metrics as metrics_mod
from explorer.data.types import DataError
from explorer.models._mixture_kernels import affine_e_pass, chunk_count
from explorer.models._parallel import call
from explorer.models.base import Model, coincident_groups, describe_groups, few_rows_advice


class MixtureModel(Model):
    data_kinds = ("table",)
    X: np.ndarray
    resp: np.ndarray
    weights: np.ndarray
    loglik: float
    # Per-chunk sums of the responsibilities, made by the first pass (None before it).
    _nk: np.ndarray | None = None
    # Fewer rows than this are refused by check_data.
    min_rows: ClassVar[int] = 1
    shared_state = ("X",)
    # What parameters() exports: the attributes of these names (copies), then the
    # responsibilities (resp).
    parameter_names: ClassVar[tuple[str, ...]] = ()

    def check_data(self, data) -> None:
        super().check_data(data)
        if data.X.shape[0] < self.min_rows:
            raise DataError(f"the {self.name} needs at least {self.min_rows} rows", path=data.path)

    def _prepare(self, data) -> None:
        self.X = np.ascontiguousarray(data.X, dtype=np.float64)

    def parameters(self) -> dict[str, np.ndarray]:
        out = {name: getattr(self, name).copy() for name in self.parameter_names}
        out["responsibilities"] = self.resp.copy()
        return out

    # -- one iteration --
    def step(self) -> float:
        self._m_step()
        self._e_pass()
        return self._objective()

    def _m_step(self) -> None:
        """The M-step (or the CAVI update of the global factors) from the statistics the last
        ``_e_pass`` left, in place."""
        raise NotImplementedError

    def _e_pass(self) -> None:
        """One pass over the data with the current parameters: ``resp``, ``loglik`` (and the
        model's objective), and the statistics the next ``_m_step`` reads."""
        raise NotImplementedError

    def _objective(self) -> float:
        """The value ``step()`` returns, of the parameters the model holds (after ``_e_pass``)."""
        return self.loglik

    def _chunk_buffers(self, K: int) -> None:
        """``resp`` (N, K) and the E-pass's per-chunk accumulators: ``_nk`` (C, K), ``_sx``
        (C, K, D), ``_ll`` (C,) and ``_lp`` (C, K) work rows, C = chunk_count(N)."""
        N, D = self.X.shape
        C = chunk_count(N)
        self.resp = np.zeros((N, K))
        self._nk = np.zeros((C, K))
        self._sx = np.zeros((C, K, D))
        self._ll = np.zeros(C)
        self._lp = np.zeros((C, K))

    def _chunk_pass(self, kernel, params: tuple, *extra) -> float:
        """One E-pass over the chunks (in parallel, about N D K work):
        ``kernel(X, *params, resp, nk, sx, ll, lp, *extra)`` fills the responsibilities and the
        per-chunk statistics; returns the objective's data term (the chunks' ``ll`` summed)."""
        N, D = self.X.shape
        cost = N * D * self.resp.shape[1]
        call(
            kernel,
            len(self._ll),
            cost,
            self.X,
            *params,
            self.resp,
            self._nk,
            self._sx,
            self._ll,
            self._lp,
            *extra,
        )
        return float(self._ll.sum())

    # -- notes that follow the state --
    @property
    def notes(self) -> list[str]:
        return list(self._notes) + (self._state_notes() if self._nk is not None else [])

    @notes.setter
    def notes(self, value) -> None:
        self._notes = list(value)

    def add_note(self, text: str) -> None:
        self._notes.append(str(text))

    def _state_notes(self) -> list[str]:
        """Notes about the current state (called once the state exists)."""
        return []

    # -- views --
    def labels(self) -> np.ndarray:
        return self.resp.argmax(axis=1)

    def memberships(self) -> np.ndarray:
        return self.resp

    def _components(self) -> dict[str, np.ndarray]:
        """Copies of the component parameters the plots draw (``centers``, ``covariances``...)."""
        return {}

    def _info(self) -> dict[str, float]:
        """The live figure of the status line."""
        return {"log_likelihood": self.loglik}

    def density_1d(self, grid=None) -> dict[str, np.ndarray] | None:
        """The fitted density on a grid for one-column data (``x``, ``total``, ``components``),
        or None where the model draws none."""
        return None

    def snapshot(self) -> dict[str, Any]:
        snap = {
            "labels": self.labels(),
            "memberships": self.resp.copy(),
            **self._components(),
            "weights": self.weights.copy(),
            "info": self._info(),
        }
        if self.X.shape[1] == 1:
            density = self.density_1d()
            if density is not None:
                snap["density_1d"] = density
        return snap

    def _objective_metrics(self) -> dict[str, float]:
        return {"log_likelihood": self.loglik}

    def metrics(self) -> dict[str, float]:
        out = self._objective_metrics()
        p = self.n_parameters()
        if p is not None:
            out["bic"] = metrics_mod.bic(self.loglik, p, self.X.shape[0])
            out["aic"] = metrics_mod.aic(self.loglik, p)
        return out

    # -- degenerate states --
    def _component_vectors(self) -> np.ndarray | None:
        """(K, P): each component's parameters (not its weight), compared for coincidence."""
        return None

    def _component_degeneracy(self) -> str | None:
        """What the family calls degenerate beyond coinciding components, or None."""
        return None

    def _degeneracy_advice(self) -> str:
        """What to do about a degenerate state (after the problems, once)."""
        return few_rows_advice(self.X, len(self.weights))

    def degeneracy(self) -> str | None:
        problems = []
        vectors = self._component_vectors()
        groups = coincident_groups(vectors) if vectors is not None else []
        if groups:
            problems.append(
                describe_groups(groups, "components") + " (one component counted "
                "several times: EM never separates them)"
            )
        own = self._component_degeneracy()
        if own:
            problems.append(own)
        if not problems:
            return None
        return "; ".join(problems) + ": " + self._degeneracy_advice()


class AffineMixture(MixtureModel):
    """A mixture whose row densities have the form :func:`~explorer.models._mixture_kernels.
    affine_e_pass` takes (bernoulli-mixture, exponential-mixture): its E-pass is that kernel on the
    model's ``(P, Q, Z)`` (``_affine_form()``), over the buffers of ``_chunk_buffers``."""

    log_w: np.ndarray

    def _affine_form(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(P, Q, Z) (K, D) of the current parameters."""
        raise NotImplementedError

    def _e_pass(self) -> None:
        self.loglik = self._chunk_pass(affine_e_pass, (self.log_w, *self._affine_form()))
