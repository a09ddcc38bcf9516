"""The one fit loop the CLI, the window and the tests share.

``fit(model, data, ...)`` runs ``n_init`` restarts (when the model declares ``n_init``), each
iterating ``model.step()`` until the model's convergence rule holds (by default the relative change
of the objective below ``tol``), the model asks to stop early (``model.early_stop``: a held-out
score that kept falling), the objective stops being finite, ``max_iter`` is reached, or the cancel
flag is set. It keeps the objective trace and the wall time of every iteration, hands snapshots to a
callback at most every ``snapshot_interval`` seconds, and keeps the best restart by ``model.score``.

The runner owns the stop reason and the best state. Every result says why it stopped
(``stop_reason``: "converged", "stopped: ...", "iteration limit", "cancelled", "non-finite
objective ...", "degenerate: ...") and at which iteration the returned state was reached
(``best_iteration``). For a model with ``keep_best`` the state at the best objective is kept and
returned, so a fit never ends on a state worse than one it already had; ``converged`` is true only
when the convergence rule held. A restart whose state is degenerate (``model.degeneracy()``) or whose
objective became non-finite is never chosen over a sound one.

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
    # 1-based iteration whose state is returned (the last one unless the model keeps its best).
    best_iteration: int = 0
    stop_reason: str = ""
    notes: list[str] = field(default_factory=list)   # what the runner found worth telling

    @property
    def objective_kind(self) -> str:
        return self.model.objective_kind

    @property
    def final_objective(self) -> float:
        """The objective of the returned state (the trace keeps the full history)."""
        if not self.trace:
            return float("nan")
        return self.trace[(self.best_iteration or len(self.trace)) - 1]

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
    best_rank: tuple = ()
    restarts: list[dict[str, Any]] = []
    log: list[str] = []
    last_emit = -np.inf

    for r in range(n_init):
        if control.cancelled:
            break
        current = model if r == 0 else type(model)(model.hp)
        current.initialize(data, seed + r)
        run = _run_restart(current, r, n_init, max_iter, tol, control, callback, snapshots,
                           snapshot_interval, t_start, last_emit)
        last_emit = run["last_emit"]
        trace = run["trace"]
        restarts.append({"seed": seed + r, "iterations": len(trace),
                         "converged": run["converged"], "cancelled": run["cancelled"],
                         "stop_reason": run["stop_reason"], "best_iteration": run["best_iteration"],
                         "objective": trace[run["best_iteration"] - 1] if trace else None,
                         "score": run["score"]})
        log.append(f"restart {r + 1}/{n_init} (seed {seed + r}): {len(trace)} iterations, "
                   f"{current.objective_kind} "
                   f"{trace[run['best_iteration'] - 1] if trace else float('nan'):.6g}, "
                   f"{run['stop_reason']}")
        if trace and (best is None or run["rank"] > best_rank):
            best_rank = run["rank"]
            best = FitResult(model=current, data=data, seed=seed, best_seed=seed + r,
                             trace=trace, iteration_times=run["times"], iterations=len(trace),
                             converged=run["converged"], cancelled=run["cancelled"], total_s=0.0,
                             max_iter=max_iter, tol=tol, best_iteration=run["best_iteration"],
                             stop_reason=run["stop_reason"], notes=run["notes"])
        if run["cancelled"]:
            break

    if best is None:
        # Cancelled before the first iteration finished: the initialised state is still a state.
        best = FitResult(model=model, data=data, seed=seed, best_seed=seed, trace=[],
                         iteration_times=[], iterations=0, converged=False, cancelled=True,
                         total_s=0.0, max_iter=max_iter, tol=tol, stop_reason="cancelled")
    best.cancelled = control.cancelled
    best.total_s = time.perf_counter() - t_start
    best.restarts = restarts
    best.log = log
    try:
        # A model cancelled before its first restart was initialised has nothing to evaluate.
        best.metrics = evaluate(best.model, data) if restarts else {}
    except NotImplementedError:
        best.metrics = {}
    if callback is not None and best.trace:
        callback(Progress(restart=len(restarts) - 1, n_init=n_init, iteration=best.iterations,
                          max_iter=max_iter, objective=best.final_objective,
                          objective_kind=best.model.objective_kind, trace=list(best.trace),
                          elapsed_s=best.total_s,
                          iterations_per_s=best.iterations / max(sum(best.iteration_times), 1e-12),
                          snapshot=best.model.snapshot() if snapshots else None, done=True))
    return best



def _run_restart(current: Model, r: int, n_init: int, max_iter: int, tol: float,
                 control: RunControl, callback, snapshots: bool, snapshot_interval: float,
                 t_start: float, last_emit: float) -> dict[str, Any]:
    """Iterate one initialised model until it stops; return its trace, stop reason and rank."""
    sign = 1.0 if current.maximize() else -1.0
    trace: list[float] = []
    times: list[float] = []
    notes: list[str] = []
    converged = cancelled = False
    stop_reason = ""
    best_iteration = 0
    best_value = -np.inf
    best_state = None
    for it in range(max_iter):
        control.wait_while_paused()
        if control.cancelled:
            cancelled = True
            stop_reason = "cancelled"
            break
        t0 = time.perf_counter()
        value = float(current.step())
        times.append(time.perf_counter() - t0)
        current.iteration = it + 1
        trace.append(value)
        if not np.isfinite(value):
            stop_reason = f"non-finite objective ({value}) at iteration {it + 1}"
            break
        if sign * value > best_value:
            best_value = sign * value
            best_iteration = it + 1
            if current.keep_best:
                best_state = current.get_state()
        converged = bool(current.converged(trace, tol))
        if converged:
            stop_reason = "converged"
        else:
            stop_reason = current.early_stop(trace, best_iteration) or ""
        now = time.perf_counter()
        if callback is not None and (now - last_emit >= snapshot_interval or stop_reason
                                     or it + 1 == max_iter):
            last_emit = now
            callback(Progress(restart=r, n_init=n_init, iteration=it + 1, max_iter=max_iter,
                              objective=value, objective_kind=current.objective_kind,
                              trace=list(trace), elapsed_s=now - t_start,
                              iterations_per_s=len(times) / max(sum(times), 1e-12),
                              snapshot=current.snapshot() if snapshots else None))
        if stop_reason:
            break
    if not stop_reason:
        stop_reason = "iteration limit"

    finite = bool(trace) and bool(np.isfinite(trace[-1]))
    if current.keep_best and best_state is not None and best_iteration < len(trace):
        current.set_state(best_state)
        notes.append(f"returned the state of iteration {best_iteration} (best "
                     f"{current.objective_kind} {trace[best_iteration - 1]:.6g}); the run went on "
                     f"to iteration {len(trace)}")
        finite = True
    elif not current.keep_best:
        # A monotone model's returned state is its last one.
        best_iteration = len(trace)
        # (Relative dips below 1e-7 are round-off of the M-step's regularisation, e.g. gmm's
        # reg_covar, not a worse state.)
        if trace and finite and sign * trace[-1] < best_value - 1e-7 * abs(best_value):
            notes.append(f"the {current.objective_kind} of the returned (last) state is worse than "
                         f"at iteration {int(np.argmax(sign * np.asarray(trace))) + 1}")
    if stop_reason.startswith("stopped") and best_iteration:
        stop_reason += f", best at iteration {best_iteration}"
    if not finite and trace:
        converged = False
        notes.append(f"{stop_reason}: the state is not usable; try another seed, a smaller K or "
                     "standardised data")
    problem = current.degeneracy() if trace else None
    if problem:
        converged = False
        stop_reason = f"degenerate: {problem}"
        notes.append(f"degenerate state: {problem}")
    score = current.score(trace[:best_iteration]) if trace and best_iteration else -np.inf
    if not np.isfinite(score):
        score = -np.inf
    # Sound restarts first (finite, not degenerate), then the model's own score.
    rank = (finite and not problem, score)
    return {"trace": trace, "times": times, "converged": converged, "cancelled": cancelled,
            "stop_reason": stop_reason, "best_iteration": best_iteration, "score": score,
            "rank": rank, "notes": notes, "last_emit": last_emit}
