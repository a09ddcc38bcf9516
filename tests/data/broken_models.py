"""Three models that break the model interface on purpose, each in one way, for
tests/test_check_model.py: `explorer check-model tests/data/broken_models.py` must fail each with
the check named. They derive from the exponential mixture (correct) and change one thing."""

from __future__ import annotations

import numpy as np

from explorer.models import register
from explorer.models.exponential_mixture import ExponentialMixture


@register
class WorseningObjective(ExponentialMixture):
    """Every second step pushes the rates away from the M-step's maximiser: the log-likelihood
    falls, yet the model still declares its objective monotone."""

    id = "broken-worsening"
    table_values = "non-negative"
    monotone_objective = True

    def step(self) -> float:
        value = super().step()
        if self.iteration % 2 == 1:
            self.rates *= 1.5
            self.log_rates[:] = np.log(self.rates)
            self._e_pass()
            value = self.loglik
        return value


@register
class SharedBuffers(ExponentialMixture):
    """Allocates the responsibilities and the E-pass's statistics once per fit, in _prepare, so
    every restart writes into the same arrays: a restart's M-step reads another's statistics."""

    id = "broken-shared-state"
    table_values = "non-negative"
    # The mistake: the per-restart buffers declared (and built) as shared state.
    shared_state = ExponentialMixture.shared_state + ("resp", "_nk", "_sx", "_ll", "_lp")

    def _prepare(self, data) -> None:
        super()._prepare(data)
        self._chunk_buffers(self.hp.K)

    def _init_state(self, seed: int) -> None:
        K = self.hp.K
        rng = np.random.default_rng(seed)
        g = np.exp(rng.uniform(np.log(0.2), np.log(5.0), size=(K, 1)))
        self.rates = np.ascontiguousarray(1.0 / (self.X.mean(axis=0)[None, :] * g))
        self.log_rates = np.log(self.rates)
        self.weights = np.full(K, 1.0 / K)
        self.log_w = np.log(self.weights)
        self._e_pass()  # into the shared buffers


@register
class TransposedSnapshot(ExponentialMixture):
    """Hands the window its memberships as (K, N) instead of (N, K)."""

    id = "broken-snapshot"
    table_values = "non-negative"

    def snapshot(self) -> dict:
        snap = super().snapshot()
        snap["memberships"] = snap["memberships"].T.copy()
        return snap
