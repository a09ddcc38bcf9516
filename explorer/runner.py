"""The one fit loop the CLI, the window and the tests share.

``fit(model, data, ...)`` prepares the data once (``model.prepare``: what every restart reads),
then runs ``n_init`` restarts (when the model declares ``n_init``), each iterating ``model.step()``
until the model's convergence rule holds (by default the relative change of the objective below
``tol``), the model asks to stop early (``model.early_stop``: a held-out score that kept falling),
the objective stops being finite, ``max_iter`` is reached, or the cancel flag is set. It keeps the
objective trace and the wall time of every iteration, reports progress to a callback at most every
``snapshot_interval`` seconds, and keeps the best restart by ``model.score``.

Two layers, as superqt's ``GeneratorWorker`` runs a generator: :func:`iterate` is one restart, a
generator that yields an :class:`Iteration` (cheap figures, no arrays) after every step and returns
the restart's :class:`Restart` (trace, stop reason, best iteration, rank); :func:`fit` is the shell
that prepares, initialises each restart, forwards progress and keeps the best.

Progress is cheap (iteration, objective, trace); a snapshot (labels, memberships: copies of N-sized
arrays) is heavy. The callback's Progress carries one only when it is wanted: by default at every
report, and with ``RunControl(snapshots_on_request=True)`` only after the consumer called
``control.request_snapshot()`` (a window asks again when it has drawn the last one, so snapshots are
made at the rate they are drawn). The final report (``done``) always carries the final state's.

The runner owns the iteration count (``model.iteration``, set after every step), the stop reason and
the best state. Every result says why it stopped (``stop_reason``: "converged", "stopped: ...",
"iteration limit", "cancelled", "non-finite objective ...", "degenerate: ...") and at which
iteration the returned state was reached (``best_iteration``). For a model with ``keep_best`` the
state at the best objective is kept and returned, so a fit never ends on a state worse than one it
already had; ``converged`` is true only when the convergence rule held on a state that is finite,
not degenerate and not worse than one already seen (a monotone model whose last state fell by more
than round-off is reported as "stopped: the ... got worse than its best"). A restart whose state is
degenerate (``model.degeneracy()``, the one hook through which every model reports a collapsed
component, coinciding centres, a point mass or an unresolved objective) or whose objective became
non-finite is never chosen over a sound one.

Cancelling takes effect within one iteration and keeps the last completed state, so a cancelled fit
can still be exported. Pausing blocks the loop between iterations (never inside a kernel).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from explorer import metrics as metrics_mod
from explorer.models.base import Model


class RunControl:
    """Thread-safe flags between a consumer (a window, a test) and the fit loop, which checks
    them between iterations: cancel, pause and, with ``snapshots_on_request``, whether the
    consumer wants the next snapshot."""

    def __init__(self, *, snapshots_on_request: bool = False):
        self._cancel = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self.snapshots_on_request = snapshots_on_request
        self._snapshot_lock = threading.Lock()
        self._snapshot_due: float | None = 0.0  # the first snapshot is wanted at once

    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()  # a paused loop must wake up to see the cancel

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

    def request_snapshot(self, delay: float = 0.0) -> None:
        """(The consumer) the last snapshot is drawn: make the next one with the first report
        ``delay`` seconds from now or later (a window that redraws at most every ``delay``
        seconds then gets a fresh one when it can draw it, not one that waited)."""
        with self._snapshot_lock:
            self._snapshot_due = time.monotonic() + delay

    def snapshot_wanted(self) -> bool:
        """(The loop) whether to make a snapshot for this report: always, unless
        ``snapshots_on_request``; then once per :meth:`request_snapshot`, when it is due (this
        uses the request up)."""
        if not self.snapshots_on_request:
            return True
        with self._snapshot_lock:
            due = self._snapshot_due
            if due is None or time.monotonic() < due:
                return False
            self._snapshot_due = None
        return True


@dataclass(slots=True)
class Iteration:
    """What :func:`iterate` yields after every step: cheap figures, never arrays. ``trace`` and
    ``times`` are the restart's own lists (read them, copy before keeping)."""

    iteration: int  # 1-based: the steps completed
    objective: float
    seconds: float  # wall time of this step
    trace: list[float]  # the objective after every step so far
    times: list[float]  # the wall time of every step so far
    last: bool  # the restart stops after this step (converged, stopped, limit)


@dataclass
class Restart:
    """What one restart came to: :func:`iterate`'s return value."""

    model: Model
    trace: list[float]
    times: list[float]
    converged: bool
    cancelled: bool
    stop_reason: str
    best_iteration: int  # 1-based iteration whose state the model holds
    score: float
    rank: tuple  # (sound, score): higher is better
    notes: list[str]

    @property
    def objective(self) -> float | None:
        return self.trace[self.best_iteration - 1] if self.trace else None


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
    model: Model  # the best restart's model, in its final (or last good) state
    data: Any
    seed: int
    trace: list[float]  # the best restart's objective, one value per iteration
    iteration_times: list[float]  # seconds per iteration of the best restart
    iterations: int
    converged: bool
    cancelled: bool
    total_s: float
    max_iter: int
    tol: float
    best_seed: int | None = None  # the seed of the restart kept (seed + r)
    restarts: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    # 1-based iteration whose state is returned (the last one unless the model keeps its best).
    best_iteration: int = 0
    stop_reason: str = ""
    notes: list[str] = field(default_factory=list)  # what the runner found worth telling

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


def fit(
    model: Model | type[Model],
    data,
    *,
    callback: Callable[[Progress], None] | None = None,
    **options,
) -> FitResult:
    """Fit ``model`` (an instance, or a class with hyperparameters given) to ``data``.

    This drains :func:`fit_steps`, the same fit as a generator (what the window's worker drives),
    and takes its options (seed, max_iter, tol, snapshot_interval, snapshots, control,
    hyperparameters or their values), passing its reports to ``callback``. Restart r uses seed
    ``seed + r``; the result's ``seed`` is the run's base seed. The callback gets a Progress at
    most every ``snapshot_interval`` seconds (and at the end); it carries a snapshot only when
    ``snapshots`` is true (the CLI needs none) and the control wants one (see
    :class:`RunControl`); the final one (``done``) always has the final state's.
    """
    steps = fit_steps(model, data, progress=callback is not None, **options)
    while True:
        try:
            report = next(steps)
        except StopIteration as stop:
            return stop.value
        callback(report)


def _model_instance(model: Model | type[Model], hyperparameters, hp_values) -> Model:
    """``model`` itself, or a model of that class with those hyperparameters."""
    if isinstance(model, type):
        return model(hyperparameters, **hp_values)
    if hyperparameters is not None or hp_values:
        raise TypeError("pass hyperparameters with a model class, not an instance")
    return model


def _limits(model: Model, max_iter: int | None, tol: float | None) -> tuple[int, float]:
    """``max_iter`` and ``tol``, the model's defaults where None, checked."""
    max_iter = int(model.default_max_iter if max_iter is None else max_iter)
    tol = float(model.default_tol if tol is None else tol)
    if max_iter < 1:
        raise ValueError("max_iter must be at least 1")
    if not tol >= 0:
        raise ValueError("tol must be non-negative")
    return max_iter, tol


class _Fit:
    """A fit's restarts as they end: their records and log lines, the best one so far, and
    when progress was last reported (shared by the restarts)."""

    def __init__(
        self, model: Model, data, *, seed: int, max_iter: int, tol: float, control: RunControl
    ):
        self.model, self.data, self.seed = model, data, seed
        self.max_iter, self.tol, self.control = max_iter, tol, control
        self.n_init = model.n_init
        self.t_start = time.perf_counter()
        self.best: Restart | None = None
        self.best_r = 0
        self.restarts: list[dict[str, Any]] = []
        self.log: list[str] = []
        self.last_emit = -np.inf

    def restart(
        self, r: int, current: Model, progress: bool, snapshots: bool, snapshot_interval: float
    ) -> Generator[Progress, None, Restart]:
        """Run restart ``r`` of the initialised ``current``, yielding a :class:`Progress` at
        most every ``snapshot_interval`` seconds (and after its last step); returns its
        :class:`Restart`."""
        steps = iterate(current, max_iter=self.max_iter, tol=self.tol, control=self.control)
        while True:
            try:
                it = next(steps)
            except StopIteration as stop:
                return stop.value
            if not progress or not math.isfinite(it.objective):
                continue
            now = time.perf_counter()
            if it.last or now - self.last_emit >= snapshot_interval:
                self.last_emit = now
                yield (
                    Progress(
                        restart=r,
                        n_init=self.n_init,
                        iteration=it.iteration,
                        max_iter=self.max_iter,
                        objective=it.objective,
                        objective_kind=current.objective_kind,
                        trace=list(it.trace),
                        elapsed_s=now - self.t_start,
                        iterations_per_s=len(it.times) / max(sum(it.times), 1e-12),
                        snapshot=current.snapshot()
                        if snapshots and self.control.snapshot_wanted()
                        else None,
                    )
                )

    def record(self, r: int, current: Model, run: Restart) -> None:
        """Keep restart ``r``'s record and log line; it becomes the best when it ranks higher."""
        seed = self.seed + r
        self.restarts.append(
            {
                "seed": seed,
                "iterations": len(run.trace),
                "converged": run.converged,
                "cancelled": run.cancelled,
                "stop_reason": run.stop_reason,
                "best_iteration": run.best_iteration,
                "objective": run.objective,
                "score": run.score,
            }
        )
        objective = run.objective if run.trace else float("nan")
        self.log.append(
            f"restart {r + 1}/{self.n_init} (seed {seed}): {len(run.trace)} "
            f"iterations, {current.objective_kind} {objective:.6g}, "
            f"{run.stop_reason}"
        )
        if run.trace and (self.best is None or run.rank > self.best.rank):
            self.best, self.best_r = run, r

    def result(self) -> FitResult:
        """The :class:`FitResult` of the best restart, with every restart's record and the
        metrics of the state returned."""
        best, seed, max_iter, tol = self.best, self.seed, self.max_iter, self.tol
        if best is None:
            # Cancelled before the first iteration finished: the initialised state is still a
            # state.
            result = FitResult(
                model=self.model,
                data=self.data,
                seed=seed,
                best_seed=seed,
                trace=[],
                iteration_times=[],
                iterations=0,
                converged=False,
                cancelled=True,
                total_s=0.0,
                max_iter=max_iter,
                tol=tol,
                stop_reason="cancelled",
            )
        else:
            result = FitResult(
                model=best.model,
                data=self.data,
                seed=seed,
                best_seed=seed + self.best_r,
                trace=best.trace,
                iteration_times=best.times,
                iterations=len(best.trace),
                converged=best.converged,
                cancelled=best.cancelled,
                total_s=0.0,
                max_iter=max_iter,
                tol=tol,
                best_iteration=best.best_iteration,
                stop_reason=best.stop_reason,
                notes=best.notes,
            )
        result.cancelled = self.control.cancelled
        result.total_s = time.perf_counter() - self.t_start
        result.restarts = self.restarts
        result.log = self.log
        try:
            # A model cancelled before its first restart was initialised has nothing to
            # evaluate.
            result.metrics = evaluate(result.model, self.data) if self.restarts else {}
        except NotImplementedError:
            result.metrics = {}
        return result


def _final_progress(result: FitResult, n_restarts: int, n_init: int, snapshots: bool) -> Progress:
    """The last report (``done``): the returned state's figures and snapshot."""
    return Progress(
        restart=n_restarts - 1,
        n_init=n_init,
        iteration=result.iterations,
        max_iter=result.max_iter,
        objective=result.final_objective,
        objective_kind=result.model.objective_kind,
        trace=list(result.trace),
        elapsed_s=result.total_s,
        iterations_per_s=result.iterations / max(sum(result.iteration_times), 1e-12),
        snapshot=result.model.snapshot() if snapshots else None,
        done=True,
    )


def fit_steps(
    model: Model | type[Model],
    data,
    *,
    seed: int = 0,
    max_iter: int | None = None,
    tol: float | None = None,
    snapshot_interval: float = 0.05,
    snapshots: bool = True,
    control: RunControl | None = None,
    progress: bool = True,
    hyperparameters=None,
    **hp_values,
) -> Generator[Progress, None, FitResult]:
    """:func:`fit` as a generator: yields a :class:`Progress` at most every ``snapshot_interval``
    seconds and a final one (``done``), and returns the :class:`FitResult`. With
    ``progress=False`` nothing is yielded (no Progress is built: the command line's fit)."""
    model = _model_instance(model, hyperparameters, hp_values)
    model.prepare(data)  # check_data, then what every restart reads: once per fit
    max_iter, tol = _limits(model, max_iter, tol)
    control = control or RunControl()
    fit = _Fit(model, data, seed=seed, max_iter=max_iter, tol=tol, control=control)
    for r in range(fit.n_init):
        if control.cancelled:
            break
        current = model if r == 0 else model.spawn()
        current.initialize(data, seed + r)
        run = yield from fit.restart(r, current, progress, snapshots, snapshot_interval)
        fit.record(r, current, run)
        if run.cancelled:
            break
    result = fit.result()
    if progress and result.trace:
        yield _final_progress(result, len(fit.restarts), fit.n_init, snapshots)
    return result


@dataclass
class _Run:
    """One restart as :func:`iterate` steps it: what the steps record, then how it ended."""

    trace: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    converged: bool = False
    cancelled: bool = False
    stop_reason: str = ""
    best_iteration: int = 0
    best_value: float = -np.inf  # the best objective so far, times the model's sign
    best_state: Any = None  # its state, for keep_best models


def iterate(
    model: Model, *, max_iter: int, tol: float, control: RunControl | None = None
) -> Generator[Iteration, None, Restart]:
    """One restart of an initialised ``model``: step it until it stops, yielding an
    :class:`Iteration` after every step (a non-finite objective included: it is the last), and
    return its :class:`Restart`. The model then holds the state it reports (its best one for
    ``keep_best`` models). A cancel is seen before a step starts, a pause blocks there."""
    control = control or RunControl()
    sign = 1.0 if model.maximize() else -1.0
    run = _Run()
    yield from _step_until_stop(model, run, sign, max_iter=max_iter, tol=tol, control=control)
    if not run.stop_reason:
        run.stop_reason = "iteration limit"
    finite = _settle_returned_state(model, run, sign)
    return _restart(model, run, finite)


def _step_until_stop(
    model: Model, run: _Run, sign: float, *, max_iter: int, tol: float, control: RunControl
) -> Generator[Iteration, None, None]:
    """Step ``model`` until a cancel, a non-finite objective, the model's stop rules or
    ``max_iter``; an :class:`Iteration` after every step."""
    for it in range(max_iter):
        control.wait_while_paused()
        if control.cancelled:
            run.cancelled = True
            run.stop_reason = "cancelled"
            return
        t0 = time.perf_counter()
        value = float(model.step())
        seconds = time.perf_counter() - t0
        run.times.append(seconds)
        model.iteration = it + 1
        run.trace.append(value)
        if not math.isfinite(value):  # (a float: math is 10x faster than numpy here)
            run.stop_reason = f"non-finite objective ({value}) at iteration {it + 1}"
            yield Iteration(it + 1, value, seconds, run.trace, run.times, last=True)
            return
        if sign * value > run.best_value:
            run.best_value = sign * value
            run.best_iteration = it + 1
            if model.keep_best:
                run.best_state = model.get_state()
        run.converged = bool(model.converged(run.trace, tol))
        if run.converged:
            run.stop_reason = "converged"
        else:
            run.stop_reason = model.early_stop(run.trace, run.best_iteration) or ""
        yield Iteration(
            it + 1,
            value,
            seconds,
            run.trace,
            run.times,
            last=bool(run.stop_reason) or it + 1 == max_iter,
        )
        if run.stop_reason:
            return


def _settle_returned_state(model: Model, run: _Run, sign: float) -> bool:
    """Which state the model returns: a ``keep_best`` model's best one (restored), a monotone
    model's last one (not converged when it is worse than one already seen). Returns whether
    that state's objective is finite; an unusable state is said in a note."""
    trace = run.trace
    finite = bool(trace) and bool(np.isfinite(trace[-1]))
    if model.keep_best and run.best_state is not None and run.best_iteration < len(trace):
        model.set_state(run.best_state)
        run.notes.append(
            f"returned the state of iteration {run.best_iteration} (best "
            f"{model.objective_kind} {trace[run.best_iteration - 1]:.6g}); the run "
            f"went on to iteration {len(trace)}"
        )
        finite = True
    elif not model.keep_best:
        # A monotone model's returned state is its last one.
        run.best_iteration = len(trace)
        if trace and finite:
            _check_last_state(model, run, sign)
    if (
        run.stop_reason.startswith("stopped")
        and run.best_iteration
        and "its best" not in run.stop_reason
    ):
        run.stop_reason += f", best at iteration {run.best_iteration}"
    if not finite and trace:
        run.converged = False
        run.notes.append(
            f"{run.stop_reason}: the state is not usable; try another seed, a "
            "smaller K or standardised data"
        )
    return finite


def _check_last_state(model: Model, run: _Run, sign: float) -> None:
    """A monotone model's last state worse than its best: a note, and not converged."""
    # (Relative dips below 1e-7 are round-off of the M-step's regularisation, e.g. gmm's
    # reg_covar, not a worse state.)
    if not sign * run.trace[-1] < run.best_value - 1e-7 * abs(run.best_value):
        return
    seen = int(np.argmax(sign * np.asarray(run.trace))) + 1
    run.notes.append(
        f"the {model.objective_kind} of the returned (last) state is worse than at iteration {seen}"
    )
    if run.converged:
        # the stop rule held, but on a state worse than one already had: not converged
        run.converged = False
        run.stop_reason = (
            f"stopped: the {model.objective_kind} got worse than its best (iteration {seen})"
        )


def _restart(model: Model, run: _Run, finite: bool) -> Restart:
    """The :class:`Restart`: the model finished (a usable state), a degenerate state reported,
    its score and its rank among restarts."""
    trace = run.trace
    if trace and finite and not run.cancelled:
        model.finish()
    problem = model.degeneracy() if trace else None
    if problem:
        run.converged = False
        run.stop_reason = f"degenerate: {problem}"
        run.notes.append(f"degenerate state: {problem}")
    score = model.score(trace[: run.best_iteration]) if trace and run.best_iteration else -np.inf
    if not np.isfinite(score):
        score = -np.inf
    # Sound restarts first (finite, not degenerate), then the model's own score.
    rank = (finite and not problem, score)
    return Restart(
        model=model,
        trace=trace,
        times=run.times,
        converged=run.converged,
        cancelled=run.cancelled,
        stop_reason=run.stop_reason,
        best_iteration=run.best_iteration,
        score=score,
        rank=rank,
        notes=run.notes,
    )
