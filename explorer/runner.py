"""The one fit loop the CLI, the window and the tests share.

``fit(model, data, ...)`` runs ``n_init`` restarts (when the model declares ``n_init``), each
iterating ``model.step()`` until the model's convergence rule holds (by default the relative change
of the objective below ``tol``), ``max_iter`` is reached, or the cancel flag is set. It keeps the
objective trace and the wall time of every iteration, hands snapshots to a callback at most every
``snapshot_interval`` seconds, and keeps the best restart by ``model.score``.

Cancelling takes effect within one iteration and keeps the last completed state, so a cancelled fit
can still be exported. Pausing blocks the loop between iterations (never inside a kernel).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from explorer import metrics as metrics_mod
from explorer.models.base import Model


class RunControl:
    """Thread-safe cancel and pause flags, checked by the loop between iterations."""

    def __init__(self):
        self._cancel = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()   # a paused loop must wake up to see the cancel

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self) -> None:
        while not self._running.wait(0.05):
            pass


@dataclass
class Progress:
    """What the callback receives: where the loop is, plus (when due) a snapshot."""

    restart: int
    n_init: int
    iteration: int
    max_iter: int
    objective: float
    objective_kind: str
    trace: list[float]
    elapsed_s: float
    iterations_per_s: float
    snapshot: dict[str, Any] | None
    done: bool = False


@dataclass
class FitResult:
    model: Model                       # the best restart's model, in its final (or last good) state
    data: Any
    seed: int
    trace: list[float]                 # the best restart's objective, one value per iteration
    iteration_times: list[float]       # seconds per iteration of the best restart
    iterations: int
    converged: bool
    cancelled: bool
    total_s: float
    max_iter: int
    tol: float
    best_seed: int | None = None       # the seed of the restart kept (seed + r)
    restarts: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    @property
    def objective_kind(self) -> str:
        return self.model.objective_kind

    @property
    def final_objective(self) -> float:
        return self.trace[-1] if self.trace else float("nan")

    @property
    def per_iteration_s(self) -> float:
        """Median wall time of one iteration, so a first iteration that compiles does not count."""
        return float(np.median(self.iteration_times)) if self.iteration_times else float("nan")


def evaluate(model: Model, data) -> dict[str, float]:
    """Model-specific metrics plus NMI/ARI against the data's ground truth when it has one."""
    out = dict(model.metrics())
    labels = getattr(data, "labels", None)
    if labels is not None:
        known = np.array([lab is not None and str(lab) != "" for lab in labels])
        if known.sum() >= 2:
            pred = np.asarray(model.labels())[known]
            truth = np.asarray(labels)[known]
            out["nmi"] = metrics_mod.nmi(truth, pred)
            out["ari"] = metrics_mod.ari(truth, pred)
    return out


def fit(model: Model | type[Model], data, *, seed: int = 0, max_iter: int | None = None,
        tol: float | None = None, callback: Callable[[Progress], None] | None = None,
        snapshot_interval: float = 0.05, snapshots: bool = True,
        control: RunControl | None = None, hyperparameters=None, **hp_values) -> FitResult:
    """Fit ``model`` (an instance, or a class with hyperparameters given) to ``data``.

    Restart r uses seed ``seed + r``; the result's ``seed`` is the run's base seed. The callback
    gets a Progress at most every ``snapshot_interval`` seconds (and at the end); its snapshot is
    taken only when ``snapshots`` is true (the CLI needs none).
    """
    if isinstance(model, type):
        model = model(hyperparameters, **hp_values)
    elif hyperparameters is not None or hp_values:
        raise TypeError("pass hyperparameters with a model class, not an instance")
    model.check_data(data)
    max_iter = int(model.default_max_iter if max_iter is None else max_iter)
    tol = float(model.default_tol if tol is None else tol)
    if max_iter < 1:
        raise ValueError("max_iter must be at least 1")
    if not tol >= 0:
        raise ValueError("tol must be non-negative")
    control = control or RunControl()
    n_init = int(getattr(model.hp, "n_init", 1))

    t_start = time.perf_counter()
    best: FitResult | None = None
    best_score = -np.inf
    restarts: list[dict[str, Any]] = []
    log: list[str] = []
    last_emit = -np.inf

    for r in range(n_init):
        if control.cancelled:
            break
        current = model if r == 0 else type(model)(model.hp)
        current.initialize(data, seed + r)
        trace: list[float] = []
        times: list[float] = []
        converged = False
        cancelled = False
        for it in range(max_iter):
            control.wait_while_paused()
            if control.cancelled:
                cancelled = True
                break
            t0 = time.perf_counter()
            value = float(current.step())
            times.append(time.perf_counter() - t0)
            current.iteration = it + 1
            trace.append(value)
            if not np.isfinite(value):
                log.append(f"restart {r + 1}: objective became {value} at iteration {it + 1}; stopped")
                break
            converged = bool(current.converged(trace, tol))
            now = time.perf_counter()
            if callback is not None and (now - last_emit >= snapshot_interval or converged
                                         or it + 1 == max_iter):
                last_emit = now
                elapsed = now - t_start
                callback(Progress(restart=r, n_init=n_init, iteration=it + 1, max_iter=max_iter,
                                  objective=value, objective_kind=current.objective_kind,
                                  trace=list(trace), elapsed_s=elapsed,
                                  iterations_per_s=len(times) / max(sum(times), 1e-12),
                                  snapshot=current.snapshot() if snapshots else None))
            if converged:
                break
        score = current.score(trace) if trace else -np.inf
        restarts.append({"seed": seed + r, "iterations": len(trace), "converged": converged,
                         "cancelled": cancelled,
                         "objective": trace[-1] if trace else None, "score": score})
        log.append(f"restart {r + 1}/{n_init} (seed {seed + r}): {len(trace)} iterations, "
                   f"{current.objective_kind} {trace[-1] if trace else float('nan'):.6g}"
                   + (", converged" if converged else "") + (", cancelled" if cancelled else ""))
        if trace and (best is None or score > best_score):
            best_score = score
            best = FitResult(model=current, data=data, seed=seed, best_seed=seed + r,
                             trace=trace, iteration_times=times, iterations=len(trace),
                             converged=converged, cancelled=cancelled, total_s=0.0,
                             max_iter=max_iter, tol=tol)
        if cancelled:
            break

    if best is None:
        # Cancelled before the first iteration finished: the initialised state is still a state.
        best = FitResult(model=model, data=data, seed=seed, best_seed=seed, trace=[],
                         iteration_times=[], iterations=0, converged=False, cancelled=True,
                         total_s=0.0, max_iter=max_iter, tol=tol)
    best.cancelled = control.cancelled
    best.total_s = time.perf_counter() - t_start
    best.restarts = restarts
    best.log = log
    try:
        best.metrics = evaluate(best.model, data)
    except NotImplementedError:
        best.metrics = {}
    if callback is not None and best.trace:
        callback(Progress(restart=len(restarts) - 1, n_init=n_init, iteration=best.iterations,
                          max_iter=max_iter, objective=best.trace[-1],
                          objective_kind=best.model.objective_kind, trace=list(best.trace),
                          elapsed_s=best.total_s,
                          iterations_per_s=best.iterations / max(sum(best.iteration_times), 1e-12),
                          snapshot=best.model.snapshot() if snapshots else None, done=True))
    return best

