"""Model selection: fit every K (and several seeds) in worker processes and choose K.

``iter_sweep(spec, jobs)`` yields one :class:`SweepRow` per fit, in the order the fits finish; the
CLI (``explorer sweep``) and the window read the same rows. ``summarize(rows)`` aggregates them per K
and chooses K by the model kind's criterion:

==========================================  ==================================================
model                                       criterion (per fit; mean over seeds per K)
==========================================  ==================================================
gmm, bernoulli-mixture, exponential-mixture BIC (lowest wins), AIC reported beside it
bayes-gmm                                   ELBO (highest wins), components with weight > 1 %
ammsb                                       held-out log-likelihood (highest wins); the held-out
                                            pairs depend on the network only, so they are the same
                                            for every K and seed
dynamic-exposure                            held-out log-likelihood of the held-out cells (hashed
                                            from the data only, the same for every K and seed)
kmeans, kmedians, fuzzy-cmeans              silhouette on a fixed sample of at most 5,000 rows
                                            (highest wins; O(n), the sample is the same for every
                                            K), and the elbow of the distortion (reported)
==========================================  ==================================================

Only usable fits count: a fit that failed (an error), was cancelled, or returned a degenerate or
non-finite state (``fit_status``: the state ``explorer fit`` exits 3 on) is left out of the means,
the stability and the choice, and counted per K (``failed``, ``cancelled``, ``degenerate``; ``used``
the fits averaged), so the chosen K never rests on a degenerate fit; a K with no usable fit is
never chosen.

Stability: the mean pairwise ARI of the seeds' labels at each K (1 when every seed finds the same
partition). Each fit runs in its own worker process, single-threaded (``NUMBA_NUM_THREADS=1``), so
``jobs`` fits use ``jobs`` cores; a fit's result equals ``explorer fit`` with the same seed. Workers
load the data themselves from the path and loader options, once per process. Cancelling sets a
shared event every worker's fit checks between iterations, so running fits stop within one
iteration and the pool is shut down before ``iter_sweep`` returns: no worker outlives a cancel.

Ctrl-C and a killed parent: workers start with SIGINT blocked and then ignore it, so a Ctrl-C sent
to the whole process group (what a terminal does) reaches only the parent, which cancels through
the event; leaving ``iter_sweep`` by any exception (KeyboardInterrupt) or by closing the generator
cancels too, so queued fits never start. A worker ends when its parent process dies, however it
dies (SIGKILL included): on Linux through a parent-death signal (``prctl(PR_SET_PDEATHSIG)``), and
everywhere through a thread that waits on the pipe from the parent, which closes when it dies.
With no worker left, the resource tracker sees its pipe close and ends too.

An ``out_dir`` may hold an earlier sweep (finished or interrupted): ``resume=True`` reuses every
fit whose folder holds a complete exported set of the same model, hyperparameters, seed,
iteration limit, tolerance and data (its SHA-256), and fits the rest;
:func:`clear_earlier_sweep` removes an earlier sweep's outputs (what ``explorer sweep --out``
does without ``--resume``).
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import os
import re
import shutil
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from explorer import metrics as metrics_mod
from explorer.models import get_model
from explorer.models.base import HyperparameterError, Model

SILHOUETTE_SAMPLE = 5000
MAJOR_WEIGHT = 0.01  # bayes-gmm: a component "in use" has weight above 1 %

# Per model id: (criterion that chooses K, True when higher is better).
_CHOOSER = {
    "gmm": ("bic", False),
    "bernoulli-mixture": ("bic", False),
    "exponential-mixture": ("bic", False),
    "bayes-gmm": ("elbo", True),
    "ammsb": ("heldout_loglik", True),
    "dynamic-exposure": ("heldout_loglik", True),
    "kmeans": ("silhouette", True),
    "kmedians": ("silhouette", True),
    "fuzzy-cmeans": ("silhouette", True),
}


def criterion_family(model_id: str) -> str:
    """The bundled model whose way of choosing K a model follows: itself when bundled; for a model
    from outside the package (explorer.plugins), what it declares: a held-out objective is chosen
    like the a-MMSB's, an ELBO like the Bayesian mixture's, a likelihood whose free parameters the
    model counts (``n_parameters``) by BIC like the mixtures, a distortion by the silhouette."""
    if model_id in _CHOOSER:
        return model_id
    cls = get_model(model_id)
    if cls.objective_kind == "held-out log-likelihood":
        return "ammsb"
    if cls.objective_kind == "ELBO":
        return "bayes-gmm"
    if cls.objective_kind == "distortion":
        return "kmeans"
    if cls.n_parameters is not Model.n_parameters:
        return "gmm"
    raise HyperparameterError(
        f"model '{model_id}' gives no criterion to choose K: count its free parameters "
        "(n_parameters) for BIC, or report a held-out log-likelihood"
    )


def sweep_parameter(model_cls: type[Model]) -> str:
    """The hyperparameter that is the number of components: ``K``, else the first ``K_*`` one."""
    names = [s.name for s in model_cls.param_specs() if s.type is int]
    if "K" in names:
        return "K"
    for name in names:
        if name.startswith("K_"):
            return name
    raise HyperparameterError(f"model '{model_cls.id}' has no number-of-components parameter")


def parse_k_range(text: str) -> list[int]:
    """``"2:10"`` (inclusive), ``"2:10:2"`` or ``"2,3,5"`` -> the sorted distinct K values."""
    text = str(text).strip()
    try:
        if ":" in text:
            parts = [int(p) for p in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            lo, hi = parts[0], parts[1]
            step = parts[2] if len(parts) == 3 else 1
            if step < 1 or hi < lo:
                raise ValueError
            values = list(range(lo, hi + 1, step))
        else:
            values = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise HyperparameterError(
            f"K range {text!r}: expected LO:HI, LO:HI:STEP or a list such as 2,3,5"
        ) from None
    if not values or min(values) < 1:
        raise HyperparameterError(f"K range {text!r}: values must be at least 1")
    return sorted(set(values))


@dataclass(frozen=True)
class SweepSpec:
    """Everything a worker needs to reproduce one fit (all plain, picklable values)."""

    model_id: str
    data_path: str
    data_kind: str
    data_options: dict[str, Any]
    Ks: tuple[int, ...]
    seeds: tuple[int, ...]
    hyperparameters: dict[str, Any] = field(default_factory=dict)  # the fixed ones (not K)
    max_iter: int | None = None
    tol: float | None = None
    out_dir: str | None = None
    resume: bool = False  # reuse the complete sets of an earlier sweep in out_dir

    def tasks(self) -> list[tuple[int, int]]:
        return [(K, s) for K in self.Ks for s in self.seeds]


@dataclass
class SweepRow:
    """One finished fit: what sweep.csv holds, plus the labels for the stability figure."""

    K: int
    seed: int
    iterations: int = 0
    converged: bool = False
    stop_reason: str = ""
    objective_kind: str = ""
    objective: float = math.nan
    criteria: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = math.nan
    out: str | None = None
    error: str | None = None
    labels: np.ndarray | None = field(default=None, repr=False)
    resumed: bool = False  # read back from an earlier sweep's set, not fitted again

    def flat(self) -> dict[str, Any]:
        """One CSV row: fixed columns (``status``: :func:`fit_status`), then each criterion,
        then each metric."""
        row = {
            k: v
            for k, v in asdict(self).items()
            if k not in ("criteria", "metrics", "labels", "resumed")
        }
        row["status"] = fit_status(self)
        row.update(self.criteria)
        row.update({f"metric_{k}": v for k, v in self.metrics.items()})
        return row


FIT_STATUSES = ("used", "degenerate", "cancelled", "failed")


def fit_status(row: SweepRow) -> str:
    """Whether a fit counts towards the choice of K: ``"used"``; ``"failed"`` (it raised);
    ``"cancelled"`` (stopped by a cancel, or never started); ``"degenerate"`` (its returned state
    is degenerate or non-finite: what ``explorer fit`` exits 3 on)."""
    if row.error is not None:
        return "failed"
    reason = row.stop_reason or ""
    if reason == "cancelled":
        return "cancelled"
    if reason.startswith(("degenerate", "non-finite")) or (
        row.iterations and not math.isfinite(row.objective)
    ):
        return "degenerate"
    return "used"


# ---- criteria ---------------------------------------------------------------------------------
def silhouette(X: np.ndarray, labels: np.ndarray, block: int = 512) -> float:
    """Mean silhouette (Euclidean), computed in row blocks: O(n^2 / block) memory-light passes.

    A point alone in its cluster scores 0, as in scikit-learn. Fewer than 2 clusters: NaN.
    """
    X = np.asarray(X, dtype=np.float64)
    _, lab = np.unique(np.asarray(labels), return_inverse=True)
    K = int(lab.max()) + 1 if len(lab) else 0
    n = len(lab)
    if K < 2 or K >= n:
        return math.nan
    onehot = np.zeros((n, K))
    onehot[np.arange(n), lab] = 1.0
    counts = onehot.sum(0)
    sq = (X * X).sum(1)
    s = np.empty(n)
    for a in range(0, n, block):
        b = min(a + block, n)
        d2 = sq[a:b, None] + sq[None, :] - 2.0 * X[a:b] @ X.T
        d = np.sqrt(np.maximum(d2, 0.0))
        d[np.arange(b - a), np.arange(a, b)] = 0.0
        sums = d @ onehot  # (block, K) distance totals
        own = lab[a:b]
        own_n = counts[own] - 1
        intra = np.where(own_n > 0, sums[np.arange(b - a), own] / np.maximum(own_n, 1), 0.0)
        other = sums / counts
        other[np.arange(b - a), own] = np.inf
        inter = other.min(1)
        denom = np.maximum(intra, inter)
        s[a:b] = np.where(
            (own_n > 0) & (denom > 0), (inter - intra) / np.where(denom > 0, denom, 1), 0.0
        )
    return float(s.mean())


def silhouette_sample(n: int) -> np.ndarray:
    """The fixed rows the silhouette is computed on: the same for every K and seed."""
    if n <= SILHOUETTE_SAMPLE:
        return np.arange(n)
    return np.sort(np.random.default_rng(20240601).choice(n, SILHOUETTE_SAMPLE, replace=False))


def criteria_of(model_id: str, result, data) -> dict[str, float]:
    """The model-selection figures of one fit (see the module docstring)."""
    m = result.metrics
    out: dict[str, float] = {}
    model_id = criterion_family(model_id)
    if model_id in ("gmm", "bernoulli-mixture", "exponential-mixture"):
        out["bic"] = float(m.get("bic", math.nan))
        out["aic"] = float(m.get("aic", math.nan))
    elif model_id == "bayes-gmm":
        out["elbo"] = float(result.final_objective)
        weights = result.model.parameters().get("weights")
        if weights is not None:
            out["components_used"] = float(
                (np.asarray(weights, dtype=np.float64) > MAJOR_WEIGHT).sum()
            )
    elif model_id in ("ammsb", "dynamic-exposure"):
        if "heldout_loglik" in m:
            out["heldout_loglik"] = float(m["heldout_loglik"])
        elif result.objective_kind == "held-out log-likelihood":
            out["heldout_loglik"] = float(result.final_objective)
        else:
            out["heldout_loglik"] = math.nan
        # Standard error of the held-out total: sqrt(n) x the sd of the per-pair (per-cell)
        # log-likelihoods; what the one-standard-error rule in summarize() compares against.
        out["heldout_loglik_se"] = float(m.get("heldout_loglik_se", math.nan))
    elif model_id in ("kmeans", "kmedians", "fuzzy-cmeans"):
        rows = silhouette_sample(data.n_items)
        out["silhouette"] = silhouette(data.X[rows], np.asarray(result.model.labels())[rows])
        out["distortion"] = float(result.final_objective)
    return out


def elbow(Ks: list[int], values: list[float]) -> int | None:
    """The K farthest below the straight line from the first to the last (K, value) point,
    with both axes scaled to [0, 1] (the "kneedle" elbow of a falling curve)."""
    pts = [(k, v) for k, v in zip(Ks, values) if np.isfinite(v)]
    if len(pts) < 3:
        return None
    k = np.array([p[0] for p in pts], dtype=float)
    v = np.array([p[1] for p in pts], dtype=float)
    if v.max() == v.min():
        return None
    kx = (k - k[0]) / (k[-1] - k[0])
    vy = (v - v.min()) / (v.max() - v.min())
    line = vy[0] + (vy[-1] - vy[0]) * kx
    return int(k[int(np.argmax(line - vy))])


# ---- workers -------------------------------------------------------------------------------------
_worker_cancel = None
_worker_data: dict[tuple, Any] = {}


def _worker_init(cancel_event, parent_pid: int | None = None) -> None:
    global _worker_cancel
    _worker_cancel = cancel_event
    # Ctrl-C is the parent's to handle (it cancels through the event): the worker was started
    # with SIGINT blocked (see _sigint_blocked), so a Ctrl-C to the process group during its
    # start-up is pending; ignore it, then unblock, and it is discarded.
    with contextlib.suppress(ValueError, OSError, AttributeError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if parent_pid is not None:
        die_with_parent(parent_pid)


def die_with_parent(parent_pid: int) -> None:
    """End this process when its parent ``parent_pid`` dies (a SIGKILL of the parent included).

    Linux: the kernel sends SIGKILL on the parent's death (``PR_SET_PDEATHSIG``); then, if the
    parent died before that call, end now. Everywhere: a daemon thread waits on the parent's
    sentinel (the pipe from the parent, which the kernel closes when it dies) and ends the
    process; it needs the GIL, so on its own it acts when the fit next releases it.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    if hasattr(os, "getppid") and os.name == "posix" and os.getppid() != parent_pid:
        os._exit(1)  # the parent is already gone (re-parented)
    parent = mp.parent_process()
    if parent is not None:

        def watch() -> None:
            parent.join()  # returns when the parent's end of the pipe closes
            os._exit(1)

        threading.Thread(target=watch, name="explorer-parent-watch", daemon=True).start()


@contextlib.contextmanager
def _sigint_blocked():
    """Block SIGINT in this thread while worker processes are spawned: a child inherits the
    mask, so a Ctrl-C to the process group cannot interrupt a worker's start-up (its imports)
    with a traceback; the worker's initializer ignores SIGINT and unblocks it. A SIGINT that
    arrives here meanwhile stays pending and is delivered when the block ends."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _load(spec: SweepSpec):
    from explorer.data import load

    key = (spec.data_path, spec.data_kind, tuple(sorted(spec.data_options.items())))
    if key not in _worker_data:
        _worker_data.clear()
        _worker_data[key] = load(spec.data_path, kind=spec.data_kind, **spec.data_options)
    return _worker_data[key]


def fit_one(spec: SweepSpec, K: int, seed: int, control=None) -> SweepRow:
    """Fit one (K, seed) exactly as ``explorer fit`` would, export it if asked, score it."""
    from explorer import runner
    from explorer.export import export_result

    t0 = time.perf_counter()
    row = SweepRow(K=K, seed=seed)
    if control is not None and control.cancelled:  # queued before the cancel: never start
        row.stop_reason = "cancelled"
        row.seconds = 0.0
        return row
    try:
        cls = get_model(spec.model_id)
        data = _load(spec)
        hp = cls.Hyperparameters.from_mapping({**spec.hyperparameters, sweep_parameter(cls): K})
        if spec.out_dir and spec.resume:
            saved = _saved_fit(spec, cls(hp), data, K, seed)
            if saved is not None:
                saved.seconds = time.perf_counter() - t0
                return saved
        result = runner.fit(
            cls(hp),
            data,
            seed=seed,
            max_iter=spec.max_iter,
            tol=spec.tol,
            snapshots=False,
            control=control,
        )
        row.iterations = result.iterations
        row.converged = result.converged
        row.stop_reason = result.stop_reason
        row.objective_kind = result.objective_kind
        row.objective = float(result.final_objective)
        row.metrics = {
            k: float(v)
            for k, v in result.metrics.items()
            if isinstance(v, (int, float, np.floating, np.integer))
        }
        row.criteria = criteria_of(spec.model_id, result, data)
        row.labels = np.asarray(result.model.labels()).astype(np.int32)
        # A cancelled fit is not exported: the cancel (Ctrl-C) asked for the sweep to end, and
        # the export of a large table takes seconds; --resume fits it again anyway.
        if spec.out_dir and not result.cancelled:
            folder = fit_folder(spec.out_dir, K, seed)
            export_result(result, folder)
            row.out = str(folder)
    except Exception as e:  # reported in the row: one bad fit never ends the sweep
        row.error = f"{type(e).__name__}: {e}"
    row.seconds = time.perf_counter() - t0
    return row


def fit_folder(out_dir, K: int, seed: int) -> Path:
    """Where a sweep exports the fit of (K, seed)."""
    return Path(out_dir) / f"K={K},seed={seed}"


_FIT_FOLDER = re.compile(r"^K=\d+,seed=\d+$")
_SWEEP_FILES = ("sweep.csv", "sweep.json")
_TEMPORARY = re.compile(
    r"^\.(sweep\.csv|sweep\.json)\..+\.tmp$|"
    r"^\.K=\d+,seed=\d+\.explorer-(new|old)-\d+-[0-9a-f]+$"
)


def check_sweep_out(out_dir) -> None:
    """Raise ExportError (an OSError) when ``out_dir`` cannot take a sweep's outputs: it is a file,
    or a folder that holds something other than an earlier sweep's outputs (``sweep.csv``,
    ``sweep.json``, ``K=..,seed=..`` folders of exported sets, their hidden temporaries); and
    when nothing can be written there. Creates nothing that stays."""
    from explorer.export import ExportError, check_out_dir

    out = Path(out_dir)
    if out.is_symlink() and not out.exists():
        raise ExportError(f"{out}: is a symbolic link to a missing folder ({os.readlink(out)})")
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out}: is a file, not a folder")
    if out.is_dir():
        try:
            entries = list(os.scandir(out))
        except OSError as e:
            raise ExportError(f"{out}: cannot read the folder ({e.strerror or e})") from None
        foreign = sorted(
            e.name
            for e in entries
            if not (
                (e.is_dir(follow_symlinks=False) and _FIT_FOLDER.match(e.name))
                or (e.is_file(follow_symlinks=False) and e.name in _SWEEP_FILES)
                or _TEMPORARY.match(e.name)
            )
        )
        if foreign:
            shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise ExportError(
                f"{out}: the folder holds files that are not an earlier sweep's "
                f"outputs ({shown}); choose a new or empty folder"
            )
        for e in entries:  # each fit folder must itself be replaceable by a set
            if e.is_dir(follow_symlinks=False) and _FIT_FOLDER.match(e.name):
                check_out_dir(e.path)
        # a fit folder inside is written through a hidden folder beside it, in out itself
        check_out_dir(out / "K=0,seed=0")
    else:
        check_out_dir(out)


def clear_earlier_sweep(out_dir) -> list[str]:
    """Remove an earlier sweep's outputs from ``out_dir`` (only what :func:`check_sweep_out`
    accepts as such); return the names removed."""
    out = Path(out_dir)
    if not out.is_dir():
        return []
    check_sweep_out(out)
    removed = []
    for e in sorted(os.scandir(out), key=lambda e: e.name):
        if e.is_dir(follow_symlinks=False):
            shutil.rmtree(e.path)
        else:
            os.unlink(e.path)
        removed.append(e.name)
    return removed


def _saved_fit(spec: SweepSpec, model, data, K: int, seed: int) -> SweepRow | None:
    """The row of a fit an earlier sweep exported with the same settings, or None (no complete
    set there, other settings, or a cancelled fit)."""
    import types

    from explorer.data.types import DataError
    from explorer.export import _clean, load_result

    folder = fit_folder(spec.out_dir, K, seed)
    if not folder.is_dir():
        return None
    try:
        saved = load_result(folder)
    except DataError:
        return None
    doc = saved.doc
    max_iter = int(model.default_max_iter if spec.max_iter is None else spec.max_iter)
    tol = float(model.default_tol if spec.tol is None else spec.tol)
    same = (
        doc.get("model") == spec.model_id
        and doc.get("seed") == seed
        and doc.get("hyperparameters") == _clean(model.hp.as_dict())
        and doc.get("max_iter") == max_iter
        and doc.get("tol") == tol
        and (doc.get("data") or {}).get("sha256") == getattr(data, "sha256", None)
        and doc.get("stop_reason") not in (None, "cancelled")
    )
    if not same:
        return None
    objective = (doc.get("objective") or {}).get("final")
    objective = math.nan if objective is None else float(objective)
    metrics = {
        k: (math.nan if v is None else float(v))
        for k, v in (doc.get("metrics") or {}).items()
        if v is None or isinstance(v, (int, float))
    }
    labels = np.asarray(saved.parameters["labels"])
    params = dict(saved.parameters)
    result = types.SimpleNamespace(
        metrics=metrics,
        final_objective=objective,
        objective_kind=doc["objective"].get("kind"),
        model=types.SimpleNamespace(parameters=lambda: params, labels=lambda: labels),
    )
    return SweepRow(
        K=K,
        seed=seed,
        iterations=int(doc.get("iterations") or 0),
        converged=bool(doc.get("converged")),
        stop_reason=str(doc["stop_reason"]),
        objective_kind=str(result.objective_kind or ""),
        objective=objective,
        criteria=criteria_of(spec.model_id, result, data),
        metrics=metrics,
        out=str(folder),
        labels=labels.astype(np.int32),
        resumed=True,
    )


class _SharedCancel:
    """A RunControl whose cancel flag is the sweep's cross-process event."""

    def __init__(self, event):
        from explorer.runner import RunControl

        self._local = RunControl()
        self._event = event

    @property
    def cancelled(self) -> bool:
        return self._event.is_set() or self._local.cancelled

    def wait_while_paused(self) -> None:
        self._local.wait_while_paused()


def _worker_fit(spec: SweepSpec, K: int, seed: int) -> SweepRow:
    control = _SharedCancel(_worker_cancel) if _worker_cancel is not None else None
    return fit_one(spec, K, seed, control=control)


class SweepCancel:
    """Handed to ``iter_sweep``: ``cancel()`` from any thread stops every worker's fit."""

    def __init__(self, ctx=None):
        self._ctx = ctx or mp.get_context("spawn")
        self.event = self._ctx.Event()

    def cancel(self) -> None:
        self.event.set()

    @property
    def cancelled(self) -> bool:
        return self.event.is_set()


def iter_sweep(
    spec: SweepSpec, jobs: int | None = None, cancel: SweepCancel | None = None
) -> Iterator[SweepRow]:
    """Run every (K, seed) fit in ``jobs`` worker processes; yield rows as fits finish.

    ``jobs=0`` runs in this process, one after the other (no pool; useful for debugging).
    """
    tasks = spec.tasks()
    jobs = (os.cpu_count() or 1) if jobs is None else int(jobs)
    cancel = cancel or SweepCancel()
    if jobs <= 0:
        control = _SharedCancel(cancel.event)
        for K, s in tasks:
            if cancel.cancelled:
                return
            yield fit_one(spec, K, s, control=control)
        return
    # Each worker is single-threaded so `jobs` fits use `jobs` cores; spawned, so no Qt or numba
    # thread state is inherited from the parent.
    env_before = os.environ.get("NUMBA_NUM_THREADS")
    os.environ["NUMBA_NUM_THREADS"] = "1"
    try:
        pool = ProcessPoolExecutor(
            max_workers=min(jobs, len(tasks)),
            mp_context=mp.get_context("spawn"),
            initializer=_worker_init,
            initargs=(cancel.event, os.getpid()),
        )
    finally:
        if env_before is None:
            os.environ.pop("NUMBA_NUM_THREADS", None)
        else:
            os.environ["NUMBA_NUM_THREADS"] = env_before
    finished = False
    try:
        # The workers are spawned by these submits (up to `jobs` of them), with SIGINT blocked.
        with _sigint_blocked():
            pending = {pool.submit(_worker_fit, spec, K, s) for K, s in tasks}
        while pending:
            done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            for fut in done:
                if not fut.cancelled():
                    yield fut.result()
            if cancel.cancelled:
                # Queued fits never start; running ones see the event within one iteration
                # and come back as "cancelled" rows, which are still reported.
                pending = {fut for fut in pending if not fut.cancel()}
        finished = True
    finally:
        # Left early (Ctrl-C raised here or in the consumer, the consumer closed the generator,
        # a worker died): nobody reads the remaining rows, so cancel them. This must happen
        # here: the consumer's own handler runs only after this generator has been closed.
        if not finished:
            cancel.cancel()
        pool.shutdown(wait=True, cancel_futures=cancel.cancelled)


# ---- aggregation -----------------------------------------------------------------------------------
def stability(label_sets: list[np.ndarray]) -> float:
    """Mean pairwise ARI between the seeds' labels (NaN with fewer than two seeds)."""
    pairs = [metrics_mod.ari(a, b) for i, a in enumerate(label_sets) for b in label_sets[i + 1 :]]
    return float(np.mean(pairs)) if pairs else math.nan


def summarize(model_id: str, rows: list[SweepRow]) -> dict[str, Any]:
    """Per K: mean and standard deviation of each criterion over the seeds' usable fits, the
    stability, and the chosen K with the reason. Fits that failed, were cancelled or are
    degenerate (:func:`fit_status`) are counted per K (``used`` is the number averaged), never
    averaged in; ``left_out`` totals them."""
    criterion, higher = _CHOOSER[criterion_family(model_id)]
    by_k: dict[int, list[SweepRow]] = {}
    for r in rows:
        by_k.setdefault(r.K, []).append(r)
    per_k = [_summarize_k(K, by_k[K]) for K in sorted(by_k)]
    left_out = {name: sum(e[name] for e in per_k) for name in FIT_STATUSES[1:]}
    chosen, reason = _choose_k(per_k, criterion, higher)
    dropped = [f"{n} {name}" for name, n in left_out.items() if n]
    if dropped:
        reason += f"; left out: {', '.join(dropped)} fit{'s' if sum(left_out.values()) > 1 else ''}"
    out: dict[str, Any] = {
        "model": model_id,
        "criterion": criterion,
        "higher_is_better": higher,
        "chosen_K": chosen,
        "reason": reason,
        "left_out": left_out,
        "per_K": per_k,
    }
    if criterion == "silhouette":
        out["elbow_K"] = elbow(
            [e["K"] for e in per_k], [e.get("distortion", math.nan) for e in per_k]
        )
    return out


def _summarize_k(K: int, fits: list[SweepRow]) -> dict[str, Any]:
    """One K's entry: how many fits of each status, and the mean, standard deviation, stability
    and convergence count of the usable ones."""
    status = [fit_status(r) for r in fits]
    good = [r for r, st in zip(fits, status) if st == "used"]
    entry: dict[str, Any] = {"K": K, "fits": len(fits), "used": len(good)}
    for name in FIT_STATUSES[1:]:
        entry[name] = status.count(name)
    names = sorted({n for r in fits for n in r.criteria})  # NaN where none is usable
    for n in names:
        vals = np.array([r.criteria.get(n, math.nan) for r in good], dtype=float)
        vals = vals[np.isfinite(vals)]
        entry[n] = float(vals.mean()) if len(vals) else math.nan
        entry[f"{n}_std"] = float(vals.std()) if len(vals) > 1 else 0.0 if len(vals) else math.nan
    entry["stability_ari"] = stability([r.labels for r in good if r.labels is not None])
    entry["converged"] = sum(r.converged for r in good)
    return entry


def _choose_k(per_k: list[dict[str, Any]], criterion: str, higher: bool):
    """(the chosen K or None, the reason): the best mean criterion; for a held-out likelihood the
    smallest K within one standard error of the best."""
    finite = [(e["K"], e.get(criterion, math.nan)) for e in per_k]
    finite = [(k, v) for k, v in finite if np.isfinite(v)]
    if not finite:
        return None, f"no fit produced a finite {criterion}"
    pick = max if higher else min
    best_k, value = pick(finite, key=lambda kv: kv[1])
    reason = (
        f"{'highest' if higher else 'lowest'} mean {criterion} "
        f"({value:.6g}) over {len(finite)} values of K"
    )
    if criterion != "heldout_loglik":
        return best_k, reason
    # One-standard-error rule (Hastie, Tibshirani and Friedman, sec. 7.10): a held-out likelihood
    # keeps creeping up as surplus communities fit noise, so take the smallest K within one
    # standard error of the best. The error is the larger of the held-out sum's own standard
    # error and the spread over seeds.
    best = next(e for e in per_k if e["K"] == best_k)
    se = np.nanmax(
        [best.get("heldout_loglik_se", math.nan), best.get("heldout_loglik_std", math.nan), 0.0]
    )
    chosen = min(k for k, v in finite if v >= value - se)
    if chosen != best_k:
        reason = (
            f"smallest K whose mean held-out log-likelihood is within one "
            f"standard error ({se:.3g}) of the best ({value:.6g} at K = {best_k})"
        )
    return chosen, reason


def write_outputs(out_dir, model_id: str, rows: list[SweepRow], summary: dict[str, Any]) -> dict:
    """``sweep.csv`` (one row per fit, sorted by K then seed) and ``sweep.json`` (the summary)."""
    import csv
    import io
    import json

    from explorer.export import _clean, write_file_atomically

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    flat = [r.flat() for r in sorted(rows, key=lambda r: (r.K, r.seed))]
    columns: list[str] = []
    for r in flat:
        columns += [c for c in r if c not in columns]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in flat:
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    paths = {"csv": out / "sweep.csv", "json": out / "sweep.json"}
    write_file_atomically(paths["csv"], lambda tmp: Path(tmp).write_text(buf.getvalue()))
    text = json.dumps(_clean(summary), indent=2, allow_nan=False)
    write_file_atomically(paths["json"], lambda tmp: Path(tmp).write_text(text + "\n"))
    return paths
