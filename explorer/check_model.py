"""``explorer check-model ID|PATH``: the conformance checks a model must pass, as scikit-learn's
``check_estimator`` is for estimators.

Each check prints one line (``PASS``, ``FAIL`` or ``SKIP``, its name, what it found); the command
exits 1 when a check fails. The data are the warm-up's tiny synthetic data of the model's kind
(:func:`explorer.warmup.variants`, the "defaults" variant: 120 rows or 60 nodes), so the whole
suite takes seconds once the kernels are compiled. The checks:

* ``declaration``: id, name, data kinds and objective kind are set and known;
* ``hyperparameters``: every field is declared with ``param()``, the defaults are valid, ranges
  and choices hold their defaults, the command-line flags are distinct;
* ``prepare once``: ``_prepare`` runs once per fit, however many restarts, and sets exactly the
  attributes the model's ``shared_state`` declares (what the restarts share);
* ``restarts independent``: two restarts stepped in turn give the fits each gives alone, and
  leave what ``prepare`` built (shared by the restarts) unchanged;
* ``same seed``: two fits with the same seed give the same trace and parameters, to the bit;
* ``monotone objective``: where the model declares it monotone (``monotone_objective``, by default
  ``not keep_best``) no step worsens it (beyond a relative 1e-7, the runner's own allowance);
* ``snapshot``: the keys the window reads have their documented shapes and are copies;
* ``parameters``: every exported array has the shape its docstring documents
  ("Exported parameters": ``name (K, D)``, ``name 0-d``);
* ``export``: the set is written and read back with the same arrays;
* ``degenerate state``: ``degeneracy()`` answers None or one line, and the runner reports it;
* ``cancel``: a cancel between steps stops the fit there, with a usable, exportable state;
* ``warm-up``: ``explorer warmup``, in a fresh process, compiles every kernel of the model's
  module and reports no failed variant.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import math
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explorer import plugins, runner
from explorer.models import get_model, load_problems, registry
from explorer.models.base import (
    OBJECTIVE_KINDS,
    HyperparametersBase,
    Model,
    SharedStateError,
    param_specs,
)

STEPS = 6
DATA_KINDS = ("table", "network", "temporal")
# A monotone objective may dip by this relative amount (the runner's allowance for the round-off
# of a regularised M-step, e.g. gmm's reg_covar).
MONOTONE_SLACK = 1e-7


class CheckFailed(AssertionError):
    """A check found the model does not conform; the message says how."""


@dataclass
class Outcome:
    check: str
    status: str  # "PASS", "FAIL" or "SKIP"
    detail: str

    def line(self) -> str:
        return f"{self.status:4}  {self.check}: {self.detail}"


@dataclass
class Subject:
    """The model under test and its data (built once, shared by the checks)."""

    cls: type[Model]
    data: object
    hp: dict
    warmup: bool = True

    def model(self, **extra) -> Model:
        return self.cls(self.cls.Hyperparameters.from_mapping({**self.hp, **extra}))

    def fit(self, seed: int = 0, max_iter: int = STEPS, **kw) -> runner.FitResult:
        return runner.fit(self.model(), self.data, seed=seed, max_iter=max_iter, tol=0.0, **kw)


# ---- helpers ------------------------------------------------------------------------------------


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
        return False
    if a.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def _differences(p: dict, q: dict) -> list[str]:
    names = sorted(set(p) | set(q))
    return [n for n in names if n not in p or n not in q or not _same(p[n], q[n])]


def _digest(value) -> str | None:
    """A digest of an array's bytes (None for what is not an array)."""
    if isinstance(value, np.ndarray) and value.dtype != object:
        return hashlib.sha1(np.ascontiguousarray(value).view(np.uint8).tobytes()).hexdigest()
    return None


def _steps(model: Model, n: int) -> list[float]:
    out = []
    for i in range(n):
        out.append(float(model.step()))
        model.iteration = i + 1
    return out


def _state_arrays(model: Model) -> dict[str, np.ndarray]:
    return {k: v for k, v in vars(model).items() if isinstance(v, np.ndarray)}


# ---- the checks ---------------------------------------------------------------------------------


def check_declaration(s: Subject) -> str:
    cls = s.cls
    problems = []
    if not cls.id or cls.id != cls.id.strip() or " " in cls.id:
        problems.append(f"id {cls.id!r} is not a short id without spaces")
    if not cls.name:
        problems.append("no name")
    if not cls.data_kinds or any(k not in DATA_KINDS for k in cls.data_kinds):
        problems.append(f"data_kinds {cls.data_kinds!r}: each must be one of {DATA_KINDS}")
    if cls.objective_kind not in OBJECTIVE_KINDS:
        problems.append(f"objective_kind {cls.objective_kind!r} is not one of {OBJECTIVE_KINDS}")
    if problems:
        raise CheckFailed("; ".join(problems))
    return f"{cls.id}: {', '.join(cls.data_kinds)} data, objective {cls.objective_kind}"


def check_hyperparameters(s: Subject) -> str:
    hp_class = s.cls.Hyperparameters
    if not (dataclasses.is_dataclass(hp_class) and issubclass(hp_class, HyperparametersBase)):
        raise CheckFailed("Hyperparameters must be a dataclass deriving from HyperparametersBase")
    if not hp_class.__dataclass_params__.frozen:
        raise CheckFailed("Hyperparameters must be frozen (@dataclass(frozen=True))")
    try:
        specs = param_specs(hp_class)
        defaults = hp_class()
    except Exception as e:  # noqa: BLE001 - the message is the finding
        raise CheckFailed(f"{type(e).__name__}: {e}") from None
    flags = [spec.flag for spec in specs]
    if len(set(flags)) != len(flags):
        raise CheckFailed(f"two hyperparameters share a command-line flag: {flags}")
    for spec in specs:
        if not spec.help.strip():
            raise CheckFailed(f"{spec.name}: no help")
        if spec.type not in (int, float, bool, str):
            raise CheckFailed(
                f"{spec.name}: type {spec.type.__name__}; use int, float, bool or str"
            )
        if spec.lo is not None and spec.hi is not None and spec.lo > spec.hi:
            raise CheckFailed(f"{spec.name}: range [{spec.lo}, {spec.hi}] is empty")
        if spec.choices is not None and spec.default not in spec.choices:
            raise CheckFailed(f"{spec.name}: default {spec.default!r} is not among its choices")
        # the form and the CLI hand values back as text: they must read back as the value
        if spec.coerce(str(getattr(defaults, spec.name))) != getattr(defaults, spec.name):
            raise CheckFailed(f"{spec.name}: the default does not read back from its text")
    return f"{len(specs)} declared, defaults valid"


def check_prepare_once(s: Subject) -> str:
    calls = []

    class Counting(s.cls):
        def _prepare(self, data):
            calls.append(1)
            super()._prepare(data)

    names = {spec.name for spec in s.cls.param_specs()}
    extra = {"n_init": 2} if "n_init" in names else {}
    model = Counting(s.cls.Hyperparameters.from_mapping({**s.hp, **extra}))
    try:
        if extra:
            runner.fit(model, s.data, seed=0, max_iter=2, tol=0.0)
            how = "a fit with 2 restarts"
        else:
            model.prepare(s.data)
            model.initialize(s.data, 0)
            model.spawn().initialize(s.data, 1)
            how = "prepare, then 2 restarts (the model has no n_init)"
    except SharedStateError as e:
        raise CheckFailed(str(e)) from None
    if len(calls) != 1:
        raise CheckFailed(
            f"_prepare ran {len(calls)} times in {how}; it must run once per fit "
            "(restarts share what it built)"
        )
    shared = ", ".join(s.cls.shared_state) or "nothing"
    return f"_prepare ran once in {how}; it builds the declared shared state ({shared})"


def check_restarts_independent(s: Subject) -> str:
    first = s.model()
    first.prepare(s.data)
    shared = {k: _digest(v) for k, v in first._prepared.shared.items()}
    second = first.spawn()
    first.initialize(s.data, 0)
    second.initialize(s.data, 1)
    together: list[list[float]] = [[], []]
    for i in range(STEPS):  # stepped in turn, as two restarts interleaved would be
        for trace, m in zip(together, (first, second)):
            trace.append(float(m.step()))
            m.iteration = i + 1
    changed = [
        k for k, d in shared.items() if d is not None and _digest(first._prepared.shared[k]) != d
    ]
    if changed:
        raise CheckFailed(
            f"the restarts wrote into {', '.join(changed)}, which _prepare built "
            "and every restart shares: build per-restart state in _init_state"
        )
    for seed, (m, trace) in enumerate(zip((first, second), together)):
        alone = s.model()
        alone.initialize(s.data, seed)
        trace_alone = _steps(alone, STEPS)
        if not _same(trace, trace_alone):
            raise CheckFailed(
                f"the restart with seed {seed} gave {trace} when another restart "
                f"stepped in between, and {trace_alone} alone: the restarts share "
                "state they change"
            )
        diff = _differences(m.parameters(), alone.parameters())
        if diff:
            raise CheckFailed(
                f"the restart with seed {seed} ends with other {', '.join(diff)} "
                "when another restart stepped in between"
            )
    return (
        f"2 restarts stepped in turn equal each alone; {len(shared)} shared attribute(s) unchanged"
    )


def check_same_seed(s: Subject) -> str:
    a, b = s.fit(seed=3), s.fit(seed=3)
    if not _same(a.trace, b.trace):
        raise CheckFailed(f"seed 3 gave the trace {a.trace}, then {b.trace}")
    diff = _differences(a.model.parameters(), b.model.parameters())
    if diff:
        raise CheckFailed(f"seed 3 gave different {', '.join(diff)} in two fits")
    return f"2 fits of {len(a.trace)} iterations: same trace and parameters"


def check_monotone(s: Subject) -> str:
    cls = s.cls
    if not cls.objective_is_monotone():
        return "SKIP:the model declares its objective not monotone (monotone_objective / keep_best)"
    sign = 1.0 if cls.maximize() else -1.0
    steps = 0
    for seed in (0, 1):
        model = s.model()
        model.initialize(s.data, seed)
        trace = _steps(model, 3 * STEPS)
        for i in range(1, len(trace)):
            prev, cur = trace[i - 1], trace[i]
            if not (math.isfinite(prev) and math.isfinite(cur)):
                raise CheckFailed(f"seed {seed}: step {i + 1} gave {cur}")
            if sign * (cur - prev) < -MONOTONE_SLACK * max(abs(prev), 1e-300):
                better = "higher" if sign > 0 else "lower"
                raise CheckFailed(
                    f"seed {seed}: step {i + 1} worsened the {cls.objective_kind} from {prev!r} "
                    f"to {cur!r} (it must get {better} or stay; the model declares it monotone)"
                )
        steps += len(trace)
    return f"never worsened over {steps} steps (2 seeds)"


def _snapshot_memberships(snap: dict, labels: np.ndarray, n: int) -> int | None:
    """K from the snapshot's ``memberships`` (N, K), rows non-negative summing to 1, the labels
    below K; None without memberships."""
    if "memberships" not in snap:
        return None
    m = np.asarray(snap["memberships"])
    if m.ndim != 2 or m.shape[0] != n:
        raise CheckFailed(f"memberships: shape {m.shape}, expected ({n}, K)")
    K = m.shape[1]
    if not (np.all(m >= -1e-12) and np.allclose(m.sum(axis=1), 1.0, atol=1e-6)):
        raise CheckFailed("memberships: rows must be non-negative and sum to 1")
    if labels.size and labels.max() >= K:
        raise CheckFailed(f"labels reach {labels.max()}, memberships have {K} columns")
    return K


def _snapshot_parameters(snap: dict, K: int | None, D: int | None) -> None:
    """``centers`` (K, D), ``covariances`` (K, D, D) and ``weights`` (K,) where the snapshot
    has them (K and D checked when known)."""
    shapes = {"centers": 2, "covariances": 3, "weights": 1}
    expected = {"centers": (D,), "covariances": (D, D)}
    for key, ndim in shapes.items():
        if key not in snap:
            continue
        a = np.asarray(snap[key])
        if a.ndim != ndim:
            raise CheckFailed(f"{key}: {a.ndim} dimensions, expected {ndim}")
        if K is not None and a.shape[0] != K:
            raise CheckFailed(f"{key}: {a.shape[0]} components, memberships have {K}")
        if key in expected and D is not None and a.shape[1:] != expected[key]:
            raise CheckFailed(
                f"{key}: shape {a.shape}, expected "
                f"({', '.join(['K'] + [str(d) for d in expected[key]])})"
            )


def _snapshot_density(snap: dict) -> None:
    """``density_1d``'s total (G,) and components (K, G) match its x (G,)."""
    density = snap.get("density_1d")
    if density is None:
        return
    x = np.asarray(density["x"])
    if (
        np.asarray(density["total"]).shape != x.shape
        or np.asarray(density["components"]).shape[1:] != x.shape
    ):
        raise CheckFailed("density_1d: total (G,) and components (K, G) must match x (G,)")


def _snapshot_copies(snap: dict, model) -> None:
    """No array of the snapshot is a view of the model's state (it goes to another thread)."""
    state = _state_arrays(model)
    for key, value in snap.items():
        if isinstance(value, np.ndarray):
            views = [k for k, v in state.items() if np.shares_memory(value, v)]
            if views:
                raise CheckFailed(
                    f"{key} shares memory with the model's {views[0]}: a snapshot "
                    "is handed to another thread, so it must be a copy"
                )


def check_snapshot(s: Subject) -> str:
    result = s.fit(seed=0)
    model, n = result.model, s.data.n_items
    snap = model.snapshot()
    if not isinstance(snap, dict) or "labels" not in snap:
        raise CheckFailed("snapshot() must return a dict with 'labels'")
    labels = np.asarray(snap["labels"])
    if labels.shape != (n,) or labels.dtype.kind not in "iu":
        raise CheckFailed(f"labels: shape {labels.shape} {labels.dtype}, expected ({n},) integers")
    K = _snapshot_memberships(snap, labels, n)
    D = s.data.X.shape[1] if hasattr(s.data, "X") else None
    _snapshot_parameters(snap, K, D)
    _snapshot_density(snap)
    _snapshot_copies(snap, model)
    return f"{', '.join(sorted(snap))} of the documented shapes, copies"


_EXPORT_DOC = re.compile(r"Exported parameters.*?(?=\n\s*\n(?![ \t]*[*\s])|\Z)", re.S)
_DOCUMENTED = re.compile(r"`{0,2}(\w+)`{0,2}:?[ \t]+(?:\(([^()]*)\)|(0-d))")
_SYMBOL = re.compile(r"^(?:[A-Za-z_]\w*|\d+)$")


def documented_shapes(cls: type[Model]) -> dict[str, tuple[str, ...]]:
    """The exported arrays' shapes as the model's module or class docstring documents them (or
    those of the classes it derives from): ``name (K, D)``, ``name (N,)``, ``name 0-d`` in an
    "Exported parameters" paragraph."""
    docs = []  # the class's own first, then those it inherits from
    for klass in cls.__mro__:
        if isinstance(klass, type) and issubclass(klass, Model) and klass is not Model:
            module = sys.modules.get(klass.__module__)
            docs += [getattr(module, "__doc__", None) or "", klass.__doc__ or ""]
    shapes: dict[str, tuple[str, ...]] = {}
    for doc in docs:
        for block in _EXPORT_DOC.findall(doc):
            for name, inside, zero_d in _DOCUMENTED.findall(block):
                if zero_d:
                    shapes.setdefault(name, ())
                    continue
                parts = tuple(p.strip() for p in inside.split(","))
                if parts and parts[-1] == "":
                    parts = parts[:-1]
                if parts and all(_SYMBOL.match(p) for p in parts):
                    shapes.setdefault(name, parts)
    return shapes


def check_parameters(s: Subject) -> str:
    result = s.fit(seed=0)
    model = result.model
    params = model.parameters()
    if not isinstance(params, dict) or not params:
        raise CheckFailed("parameters() must return a dict of arrays")
    documented = documented_shapes(s.cls)
    if not documented:
        raise CheckFailed(
            "the module docstring documents no exported parameters (a paragraph "
            "'Exported parameters (parameters.npz names):' with 'name (K, D)')"
        )
    values = {
        "N": s.data.n_items,
        **{
            k: v
            for k, v in model.hp.as_dict().items()
            if isinstance(v, int) and not isinstance(v, bool)
        },
    }
    if hasattr(s.data, "X"):
        values["D"] = s.data.X.shape[1]
    bound: dict[str, int] = {}
    for name, value in params.items():
        if not isinstance(name, str) or not isinstance(value, np.ndarray):
            raise CheckFailed(f"{name!r}: every exported parameter is a numpy array under a name")
        if name not in documented:
            raise CheckFailed(
                f"{name} is exported but not documented (documented: {', '.join(documented)})"
            )
        shape = documented[name]
        if value.ndim != len(shape):
            raise CheckFailed(f"{name}: shape {value.shape}, documented ({', '.join(shape)})")
        for size, symbol in zip(value.shape, shape):
            expected = int(symbol) if symbol.isdigit() else values.get(symbol, bound.get(symbol))
            if expected is None:
                bound[symbol] = size  # a symbol of the model's own: the same everywhere
            elif size != expected:
                raise CheckFailed(
                    f"{name}: shape {value.shape}, documented "
                    f"({', '.join(shape)}) with {symbol} = {expected}"
                )
    return f"{len(params)} arrays of their documented shapes"


def check_export(s: Subject) -> str:
    from explorer.export import export_result, fitted_arrays, load_result

    result = s.fit(seed=0)
    with tempfile.TemporaryDirectory(prefix="explorer-check-") as d:
        export_result(result, Path(d) / "set")
        back = load_result(Path(d) / "set")
    if back.model != s.cls.id:
        raise CheckFailed(f"result.json names the model {back.model!r}")
    diff = _differences(fitted_arrays(result), back.parameters)
    if diff:
        raise CheckFailed(f"{', '.join(diff)} read back different from parameters.npz")
    return f"{len(back.parameters)} arrays written and read back the same"


def check_degenerate(s: Subject) -> str:
    if type(s.model()).degeneracy is Model.degeneracy:
        return "SKIP:the model reports no degenerate state (it does not override degeneracy())"
    result = s.fit(seed=0)
    problem = result.model.degeneracy()
    if problem is not None and (
        not isinstance(problem, str) or not problem.strip() or "\n" in problem.strip()
    ):
        raise CheckFailed(f"degeneracy() must return None or one line, not {problem!r}")
    if problem and not result.stop_reason.startswith("degenerate"):
        raise CheckFailed(
            f"degeneracy() says {problem!r} but the fit stopped as {result.stop_reason!r}"
        )
    return (
        "degeneracy() answers on a fitted state ("
        + ("degenerate: " + problem if problem else "sound")
        + ")"
    )


def check_cancel(s: Subject) -> str:
    from explorer.export import export_result

    control = runner.RunControl()

    def cancel_after_first(p: runner.Progress) -> None:
        if not p.done and p.iteration >= 1:
            control.cancel()

    model = s.model()
    # A model may converge at its first step on tiny data (K-medians at a fixed point): let it
    # go on, so that the cancel is what stops it.
    model.converged = lambda trace, tol: False
    model.early_stop = lambda trace, best_iteration: None
    result = runner.fit(
        model,
        s.data,
        seed=0,
        max_iter=50,
        tol=0.0,
        callback=cancel_after_first,
        snapshot_interval=0.0,
        control=control,
    )
    if not result.cancelled or result.stop_reason != "cancelled" or result.iterations != 1:
        raise CheckFailed(
            f"cancelled after iteration 1, the fit ran {result.iterations} "
            f"iteration(s) and stopped as {result.stop_reason!r}"
        )
    labels = np.asarray(result.model.labels())
    if labels.shape != (s.data.n_items,):
        raise CheckFailed(f"the cancelled fit's labels have shape {labels.shape}")
    with tempfile.TemporaryDirectory(prefix="explorer-check-") as d:
        export_result(result, Path(d) / "set")
    return "stopped after the step it was cancelled in; the state exports"


def warmup_report(model_id: str) -> dict:
    """(In a fresh process) run the model's warm-up; the kernels of its module it left
    uncompiled and the variants that failed."""
    from explorer.warmup import _dispatchers, warm_model

    cls = get_model(model_id)
    _, seconds, compiled, problems = warm_model(model_id)
    modules = [sys.modules[cls.__module__]]
    modules += [importlib.import_module(name) for name in cls.kernel_modules]
    names = {m.__name__ for m in modules}
    every = list(_dispatchers(modules))
    kernels = [
        d
        for d in every
        if getattr(d.py_func, "__module__", None) in names
        and d.targetoptions.get("inline") != "always"
    ]
    # A kernel called only from other kernels is compiled into them: loaded from the cache, the
    # caller brings it along and its own dispatcher stays empty. So it counts as covered when a
    # covered kernel names it.
    covered = {id(d) for d in kernels if d.signatures}
    by_name = {d.py_func.__name__: d for d in every}
    todo = [d for d in every if d.signatures]
    while todo:
        caller = todo.pop()
        for name in caller.py_func.__code__.co_names:
            callee = by_name.get(name)
            if callee is not None and id(callee) not in covered:
                covered.add(id(callee))
                todo.append(callee)
    missed = sorted(d.py_func.__name__ for d in kernels if id(d) not in covered)
    return {"kernels": len(kernels), "missed": missed, "problems": problems, "seconds": seconds}


def check_warmup(s: Subject) -> str:
    if not s.warmup:
        return "SKIP:--no-warmup"
    code = (
        "import json, sys; from explorer.check_model import warmup_report; "
        "print(json.dumps(warmup_report(sys.argv[1])))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, s.cls.id], capture_output=True, text=True, timeout=1800
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no message)"]
        raise CheckFailed(f"the warm-up process failed: {tail[0]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    if report["problems"]:
        raise CheckFailed("warm-up variants failed: " + "; ".join(report["problems"]))
    if report["missed"]:
        raise CheckFailed(
            f"explorer warmup never compiles {', '.join(report['missed'])}: a "
            "first fit would wait for it (add a variant that reaches it)"
        )
    if not report["kernels"]:
        return "its modules define no kernel of their own; the warm-up's fits ran"
    return f"the {report['kernels']} kernel(s) of its modules are reached by the warm-up"


CHECKS: list[tuple[str, Callable[[Subject], str]]] = [
    ("declaration", check_declaration),
    ("hyperparameters", check_hyperparameters),
    ("prepare once", check_prepare_once),
    ("restarts independent", check_restarts_independent),
    ("same seed", check_same_seed),
    ("monotone objective", check_monotone),
    ("snapshot", check_snapshot),
    ("parameters", check_parameters),
    ("export", check_export),
    ("degenerate state", check_degenerate),
    ("cancel", check_cancel),
    ("warm-up", check_warmup),
]


def subject(cls: type[Model], *, warmup: bool = True) -> Subject:
    """The model with the warm-up's tiny data of its kind and that variant's hyperparameters."""
    from explorer import warmup as warmup_mod

    name, build, _ = warmup_mod.variants(cls.id)[0]
    data, hp = build()
    return Subject(cls, data, dict(hp), warmup=warmup)


def run_checks(cls: type[Model], *, warmup: bool = True, only=None) -> list[Outcome]:
    """Run every check (or those named in ``only``) on ``cls``; one Outcome each, in order."""
    out = []
    try:
        s = subject(cls, warmup=warmup)
    except Exception as e:  # noqa: BLE001 - the message is the finding
        return [
            Outcome(
                "data",
                "FAIL",
                f"the warm-up's data for {cls.id} cannot be fitted ({type(e).__name__}: {e})",
            )
        ]
    for name, check in CHECKS:
        if only and name not in only:
            continue
        try:
            detail = check(s)
            status = "PASS"
            if detail.startswith("SKIP:"):
                status, detail = "SKIP", detail[5:]
        except CheckFailed as e:
            status, detail = "FAIL", str(e)
        except Exception as e:  # noqa: BLE001 - a crash in a check is a failure of the model
            status, detail = "FAIL", f"{type(e).__name__}: {e}"
        out.append(Outcome(name, status, detail))
    return out


def models_named(target: str) -> list[type[Model]]:
    """The models ``explorer check-model`` checks: a registered id, or every model a file
    registers (the file is loaded as ``--model-file`` would)."""
    if target.endswith(".py") or Path(target).is_file():
        path = plugins.add_model_file(target)
        reg = registry()
        name = plugins.module_name_for(path)
        found = [cls for cls in reg.values() if cls.__module__ == name]
        if not found:
            why = [str(p) for p in load_problems() if p.source == str(path)]
            raise KeyError(
                f"{target}: "
                + (why[0].split(": ", 1)[1] if why else "the file registers no model (@register)")
            )
        return found
    return [get_model(target)]


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(
        prog="explorer check-model",
        description="Check that a model conforms to the explorer's model interface (one line "
        "per check; exit 1 when one fails).",
    )
    p.add_argument("model", help="a model id, or a .py model file")
    p.add_argument(
        "--no-warmup",
        action="store_true",
        help="skip the warm-up check (it runs the warm-up in a new process)",
    )
    p.add_argument(
        "--check",
        action="append",
        default=None,
        metavar="NAME",
        help="run only this check (repeatable): " + ", ".join(n for n, _ in CHECKS),
    )
    ns = p.parse_args(argv)
    try:
        classes = models_named(ns.model)
    except (KeyError, plugins.ModelFileError) as e:
        print(f"explorer: error: {e.args[0]}", file=sys.stderr)
        return 2
    for problem in load_problems():
        print(f"note: model not loaded: {problem}", file=sys.stderr)
    failed = 0
    for cls in classes:
        print(f"{cls.id} ({cls.__module__}):")
        for outcome in run_checks(cls, warmup=not ns.no_warmup, only=ns.check):
            print("  " + outcome.line(), flush=True)
            failed += outcome.status == "FAIL"
    print(f"{failed} check(s) failed" if failed else "every check passed")
    return 1 if failed else 0
