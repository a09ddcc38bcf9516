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

    def initialize(self, data, seed):
        rng = np.random.default_rng(seed)
        self.data = data
        self.groups = np.arange(data.n_items) % self.hp.K
        self.targets = np.stack([data.X[self.groups == k].mean(0) for k in range(self.hp.K)])
        self.centers = self.targets + rng.normal(0, 10, self.targets.shape)
        self.seed = seed

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
