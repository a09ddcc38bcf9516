"""A Model whose step() is one map over the partitions, a reduce on the client and the M-step.

``distributed_model(model_id)`` returns a subclass of :class:`DistributedModel` for a registered
table model; ``runner.fit`` drives it unchanged, so the trace, the stop rule, restarts, snapshots,
cancel and pause are the runner's own. A step waits for its tasks, so when the runner sees a cancel
(between steps) no task of the fit is running.

Initialisation does not need the data on the client: the model's own ``initialize`` runs on a
uniform sample of ``init_sample`` rows (100,000 by default; all rows, in order, when the table has
no more), e.g. k-means++ for the centre models and k-means++ + Lloyd for gmm, and the parameters it
starts from are taken from it; then the first pass runs over all partitions. On a table of at most
``init_sample`` rows the start is therefore exactly the in-memory model's for the same seed.
Explicit starting parameters (``initialize(data, seed, centers=...)`` or ``weights=, means=,
precisions=`` for gmm) are passed to that same ``initialize``.

A snapshot carries the parameters and the labels (and memberships) of a sample, never N labels:
every row when the table has at most ``snapshot_rows``, else every s-th row of the table with s
the smallest stride that keeps the sample within ``snapshot_rows`` (``sample_rows`` their global
indices, ``sample_X`` their values). Each worker labels only its sampled rows. Evenly spaced
rows from every partition, not the first rows of the first one: files sorted by a column (iris by
species) would otherwise show one cluster only. ``labels()`` is that sample's labels too; all labels are written by
the workers (:func:`explorer.distributed.write_assignments`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from explorer.data.types import DataError, TableData
from explorer.models import get_model
from explorer.models.base import Model

from .data import Part
from .plans import in_memory_view, plan_for

INIT_SAMPLE = 100_000
SNAPSHOT_ROWS = 20_000


def _sample_rows(part, rows, hp, state, output):
    """Labels (memberships or None) and float64 values of a partition's local ``rows``, computed
    on a copy of those rows only (its own empty cache: the partition's cache is not touched)."""
    sub = Part(np.ascontiguousarray(part.X[rows]), part.offset, part.index)
    labels, R = output(sub, hp, state)
    return labels, R, sub.f64()


def snapshot_sample_rows(n_rows: int, size: int) -> np.ndarray:
    """The global indices of the snapshot sample: all rows, or every s-th (module docstring)."""
    stride = max(1, -(-n_rows // size))
    return np.arange(0, n_rows, stride, dtype=np.int64)


class DistributedModel(Model):
    """Base of the distributed twins of the table models (see the module docstring)."""

    base: ClassVar[type[Model]] = Model
    init_sample: ClassVar[int] = INIT_SAMPLE
    snapshot_rows: ClassVar[int] = SNAPSHOT_ROWS

    def __init__(self, hyperparameters=None, **values):
        super().__init__(hyperparameters, **values)
        self.plan = plan_for(self.base.id, self.hp)
        self._sample = None

    # -- the cluster --
    def map(self, fn, *args) -> list:
        """fn(part, *args) on every partition (on the workers), results in partition order."""
        client = self.data.client
        futures = [client.submit(fn, part, *args, pure=False) for part in self.data.parts]
        try:
            return client.gather(futures)
        finally:
            for f in futures:
                f.release()

    # -- Model hooks --
    def check_data(self, data) -> None:
        if getattr(data, "parts", None) is None:
            raise DataError(
                f"distributed '{self.base.id}' takes a DistributedTable "
                "(explorer.distributed.load), not in-memory data",
                path=getattr(data, "path", None),
            )
        K = getattr(self.hp, "K", None)
        if K is not None and K > data.n_items:
            raise DataError(
                f"K = {K} is larger than the number of rows ({data.n_items})", path=data.path
            )

    def _init_state(self, seed: int, **given) -> None:
        data = self.data
        self._sample = None
        X = data.sample(self.init_sample, seed)
        sample = TableData(
            X=X, columns=list(data.columns), ids=np.arange(len(X)).astype(str), path=data.path
        )
        init = self.base(self.hp)
        init.initialize(sample, seed, **given)
        self.notes = list(init.notes)
        if data.n_items > self.init_sample:
            self.notes.append(f"initialised on a uniform sample of {len(X)} of {data.n_items} rows")
        self.plan.start(self, init)

    def step(self) -> float:
        self._sample = None
        return float(self.plan.step(self))

    def converged(self, trace: list[float], tol: float) -> bool:
        return self.plan.converged(self, trace) or super().converged(trace, tol)

    def state(self) -> dict[str, Any]:
        """What a worker needs to compute a partition's labels and memberships."""
        return self.plan.state(self)

    def sample(self):
        """(labels, memberships or None, X, global rows) of the snapshot sample."""
        if self._sample is None:
            data = self.data
            rows = snapshot_sample_rows(data.n_items, self.snapshot_rows)
            state, output = self.state(), type(self.plan).part_output
            futures = []
            for part, off, n in zip(data.parts, data.offsets, data.lengths):
                lo, hi = np.searchsorted(rows, [off, off + n])
                if hi > lo:
                    futures.append(
                        data.client.submit(
                            _sample_rows,
                            part,
                            rows[lo:hi] - off,
                            self.hp,
                            state,
                            output,
                            pure=False,
                        )
                    )
            pieces = data.client.gather(futures)
            for f in futures:
                f.release()
            R = None if pieces[0][1] is None else np.concatenate([p[1] for p in pieces])
            self._sample = (
                np.concatenate([p[0] for p in pieces]),
                R,
                np.concatenate([p[2] for p in pieces]),
                rows,
            )
        return self._sample

    def labels(self) -> np.ndarray:
        return self.sample()[0]

    def memberships(self):
        return self.sample()[1]

    def snapshot(self) -> dict:
        labels, R, X, rows = self.sample()
        snap = {"labels": labels.copy(), "sample_rows": rows.copy(), "sample_X": X.copy()}
        if R is not None:
            snap["memberships"] = R.copy()
        snap.update(self.plan.snapshot(self))
        return snap

    def parameters(self) -> dict[str, np.ndarray]:
        return self.plan.parameters(self)

    def degeneracy(self) -> str | None:
        """The in-memory model's own check on this state (plans.in_memory_view); a plan that
        cannot name its state for it (no ``view_state``) answers itself, if at all."""
        if not hasattr(self.plan, "view_state"):
            check = getattr(self.plan, "degeneracy", None)
            return check(self) if check is not None else None
        return in_memory_view(self).degeneracy()

    def metrics(self) -> dict[str, float]:
        return self.plan.metrics(self)


_CLASSES: dict[str, type[DistributedModel]] = {}


def distributed_model(model_id: str) -> type[DistributedModel]:
    """The distributed twin of a registered table model (same id, hyperparameters, objective)."""
    if model_id not in _CLASSES:
        base = get_model(model_id)
        plan_for(base.id, base.Hyperparameters())  # refuses models without a plan
        _CLASSES[model_id] = type(
            f"Distributed{base.__name__}",
            (DistributedModel,),
            {
                "base": base,
                "id": base.id,
                "name": base.name + " (Dask)",
                "description": base.description,
                "data_kinds": ("table",),
                "objective_kind": base.objective_kind,
                "Hyperparameters": base.Hyperparameters,
                "default_max_iter": base.default_max_iter,
                "default_tol": base.default_tol,
            },
        )
    return _CLASSES[model_id]
