"""Tiny models for testing the runner, export and CLI plumbing without numerics of interest.

They are not registered: tests pass the class itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from explorer.models.base import HyperparametersBase, Model, param


@dataclass(frozen=True)
class ShrinkHyperparameters(HyperparametersBase):
    K: int = param(2, lo=1, hi=50, help="number of groups")
    rate: float = param(0.5, lo=0.0, hi=1.0, help="fraction of the gap closed per iteration")
    n_init: int = param(1, lo=1, hi=10, help="restarts")
    delay: float = param(0.0, lo=0.0, hi=1.0, help="seconds to sleep per step (tests only)")
    fail_at: int = param(0, lo=0, hi=1000, help="raise RuntimeError at this iteration (0: never)")


class ShrinkModel(Model):
    """Centres move a fixed fraction towards the group means: distortion falls geometrically.

    Group of row i is i mod K, so the fitted centres have a closed form (the group means).
    """

    id = "shrink"
    name = "Shrink (test)"
    objective_kind = "distortion"
    Hyperparameters = ShrinkHyperparameters
    default_max_iter = 200
    default_tol = 1e-10
    shared_state = ("groups", "targets")

    def _prepare(self, data):
        # the groups and their means depend on the data only: once per fit
        self.groups = np.arange(data.n_items) % self.hp.K
        self.targets = np.stack([data.X[self.groups == k].mean(0) for k in range(self.hp.K)])

    def _init_state(self, seed):
        rng = np.random.default_rng(seed)
        self.centers = self.targets + rng.normal(0, 10, self.targets.shape)

    def step(self):
        if self.hp.fail_at and self.iteration + 1 >= self.hp.fail_at:
            raise RuntimeError("planned failure")
        if self.hp.delay:
            time.sleep(self.hp.delay)
        self.centers += self.hp.rate * (self.targets - self.centers)
        d = self.data.X - self.centers[self.groups]
        return float((d * d).sum())

    def labels(self):
        return self.groups

    def memberships(self):
        m = np.zeros((len(self.groups), self.hp.K))
        m[np.arange(len(self.groups)), self.groups] = 1.0
        return m

    def parameters(self):
        return {"centers": self.centers.copy(), "labels": self.groups.copy()}


@dataclass(frozen=True)
class RiseFallHyperparameters(HyperparametersBase):
    peak: int = param(5, lo=1, hi=1000, help="iteration at which the score is highest")
    patience: int = param(3, lo=1, hi=100, help="falling checks before stopping")
    n_init: int = param(1, lo=1, hi=10, help="restarts")
    degenerate_seed: int = param(-1, lo=-1, hi=100, help="the restart seed that collapses")
    nan_at: int = param(0, lo=0, hi=1000, help="objective becomes NaN at this iteration")


class RiseFallModel(Model):
    """A held-out-style score that rises to ``peak`` then falls; the state is the step count.

    Lets the runner's best-state, early-stop, non-finite and degeneracy rules be checked exactly:
    the state at iteration k has ``position == k`` and score ``-(k - peak)^2 + seed``.
    """

    id = "risefall"
    name = "Rise and fall (test)"
    objective_kind = "held-out log-likelihood"
    Hyperparameters = RiseFallHyperparameters
    keep_best = True
    state_attributes = ("position", "values")
    default_max_iter = 100
    default_tol = 0.0

    def _init_state(self, seed):
        self.position = 0
        self.values = np.zeros(3)

    def step(self):
        self.position += 1
        self.values = self.values + 1.0
        if self.hp.nan_at and self.position >= self.hp.nan_at:
            return float("nan")
        return float(-((self.position - self.hp.peak) ** 2) + self.seed)

    def early_stop(self, trace, best_iteration):
        fell = len(trace) - best_iteration
        return f"stopped: fell {fell} checks" if fell >= self.hp.patience else None

    def degeneracy(self):
        return "collapsed" if self.seed == self.hp.degenerate_seed else None

    def labels(self):
        return np.zeros(self.data.n_items, dtype=np.int64)

    def parameters(self):
        return {"position": np.array([self.position])}
