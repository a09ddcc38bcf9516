"""The model interface every model file implements, and the one place hyperparameters are declared.

A model is a class with

* ``id`` (short registry id, e.g. ``"kmeans"``), ``name``, ``description`` (one paragraph for Help),
* ``data_kinds``: which kinds of data it takes (``"table"``, ``"network"``, ``"temporal"``),
* ``objective_kind``: ``"distortion"`` (minimised, a sum over the data), ``"log-likelihood"``,
  ``"log-posterior"`` or ``"ELBO"`` (maximised, totals over the data set, never per sample),
* ``Hyperparameters``: a frozen dataclass whose fields are declared with :func:`param`. That single
  declaration drives validation, the GUI form, the CLI options (``K`` -> ``--K``, ``n_init`` ->
  ``--n-init``) and the ``hyperparameters`` block of the export.

and the step-wise methods the runner calls::

    model = Model(Hyperparameters(K=3))
    model.prepare(data)             # once per fit: check_data, then what every restart reads
    model.initialize(data, seed)    # one restart's state (restart r: model.spawn(), seed + r)
    f = model.step()                # one iteration (or one SVI minibatch step) -> objective
    model.snapshot()                # small copies the plots need (labels, memberships, ...)
    model.parameters()              # every fitted array under its documented export name

``prepare`` and ``initialize`` are templates (as scikit-learn's ``BaseMixture.fit_predict`` calls
``_initialize``): they do the bookkeeping (checking the data, ``data``, ``seed``, ``iteration``,
``notes``) and call two hooks a model fills in, ``_prepare(data)`` (what depends on the data and the
hyperparameters only: converted or transposed data, a held-out split, dense pair arrays) and
``_init_state(seed, **given)`` (one restart's state from its seed). What ``_prepare`` sets on the
model is declared in the class attribute ``shared_state`` (attribute names); those attributes are
shared, read-only, by the restarts :meth:`Model.spawn` makes, so they are built once per fit.
``prepare`` checks the declaration: an attribute ``_prepare`` set that ``shared_state`` does not
name, or a name it declares that ``_prepare`` left unset, is a :class:`SharedStateError` naming it. ``iteration`` (steps completed) belongs to the runner, which sets it after every step; a
script that steps a model by hand sets it too, or drives it with ``explorer.runner.iterate``.

Models never print, sleep or touch files.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from explorer.data.types import DataError

OBJECTIVE_KINDS = (
    "distortion",
    "log-likelihood",
    "log-posterior",
    "ELBO",
    "held-out log-likelihood",
)


class HyperparameterError(ValueError):
    """A hyperparameter value outside its declared range or choices."""


class SharedStateError(TypeError):
    """A model's ``shared_state`` does not name what its ``_prepare`` sets (a defect of the model's
    code, not of the data)."""


def param(
    default: Any,
    *,
    help: str,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple | None = None,
    log: bool = False,
    label: str | None = None,
    advanced: bool = False,
):
    """Declare one hyperparameter: its default, range (inclusive), choices and one-line help.

    ``log=True`` tells front ends that the value spans orders of magnitude (tolerances, epsilon);
    ``advanced=True`` that it is a tuning knob most users leave alone (the window's form shows it
    in a collapsed "Advanced" section).
    """
    return field(
        default=default,
        metadata={
            "help": help,
            "lo": lo,
            "hi": hi,
            "choices": tuple(choices) if choices else None,
            "log": log,
            "label": label,
            "advanced": advanced,
        },
    )


@dataclass(frozen=True)
class ParamSpec:
    """What a front end needs to know about one hyperparameter."""

    name: str
    type: type
    default: Any
    help: str
    lo: float | None
    hi: float | None
    choices: tuple | None
    log: bool
    label: str
    advanced: bool = False

    @property
    def flag(self) -> str:
        """Command-line flag: underscores become hyphens, case kept (``n_init`` -> ``--n-init``)."""
        return "--" + self.name.replace("_", "-")

    def coerce(self, value: Any) -> Any:
        """Turn a string (from a CLI or a settings file) or a number into this parameter's type.

        Strict about types, one message each: a bool is not a number (``K=True`` is refused, not
        read as 1), an integer parameter takes whole numbers only (``2.0`` and ``"2"`` are fine,
        ``2.5`` is not), a switch takes true/false (or 0/1 and their spellings), never a list.
        """
        if self.type is bool:
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            if isinstance(value, str):
                low = value.strip().lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
            elif isinstance(value, (int, np.integer)) and value in (0, 1):
                return bool(value)
            raise HyperparameterError(f"{self.name}: expected true/false, got {_show(value)}")
        if self.type is int:
            if isinstance(value, (bool, np.bool_)) or not isinstance(
                value, (int, float, str, np.integer, np.floating)
            ):
                raise HyperparameterError(f"{self.name}: expected an integer, got {_show(value)}")
            if isinstance(value, (int, np.integer)):
                return int(value)
            try:
                f = float(value)
            except ValueError:
                raise HyperparameterError(
                    f"{self.name}: expected an integer, got {_show(value)}"
                ) from None
            if not math.isfinite(f) or f != int(f):
                raise HyperparameterError(f"{self.name}: expected an integer, got {_show(value)}")
            return int(f)
        if self.type is float:
            if isinstance(value, (bool, np.bool_)) or not isinstance(
                value, (int, float, str, np.integer, np.floating)
            ):
                raise HyperparameterError(f"{self.name}: expected a number, got {_show(value)}")
            try:
                return float(value)
            except ValueError:
                raise HyperparameterError(
                    f"{self.name}: expected a number, got {_show(value)}"
                ) from None
        if not isinstance(value, str):
            expected = f"one of {', '.join(map(str, self.choices))}" if self.choices else "text"
            raise HyperparameterError(f"{self.name}: expected {expected}, got {_show(value)}")
        return value

    def check(self, value: Any) -> None:
        if self.choices is not None and value not in self.choices:
            raise HyperparameterError(
                f"{self.name} = {value!r} is not one of {', '.join(map(str, self.choices))}"
            )
        if self.type in (int, float):
            if isinstance(value, float) and not math.isfinite(value):
                raise HyperparameterError(f"{self.name} = {value!r} is not a finite number")
            if self.lo is not None and value < self.lo:
                raise HyperparameterError(f"{self.name} = {value!r} is below its minimum {self.lo}")
            if self.hi is not None and value > self.hi:
                raise HyperparameterError(f"{self.name} = {value!r} is above its maximum {self.hi}")


def _show(value: Any) -> str:
    """A value as a person wrote it: ``-1.0``, ``'a'``, ``[]`` (never ``np.float64(-1.0)``)."""
    if isinstance(value, (np.generic,)):
        value = value.item()
    return repr(value)


def check_seed(seed: Any) -> int:
    """The run's seed: a whole number >= 0 (restart r uses seed + r). Raises HyperparameterError
    with one line; the CLI (``--seed``), the Python API and the window all call this."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer, str)):
        raise HyperparameterError(f"seed: expected a whole number >= 0, got {_show(seed)}")
    if isinstance(seed, str):
        try:
            seed = int(seed.strip())
        except ValueError:
            raise HyperparameterError(
                f"seed: expected a whole number >= 0, got {_show(seed)}"
            ) from None
    if seed < 0:
        raise HyperparameterError(f"seed: expected a whole number >= 0, got {int(seed)}")
    return int(seed)


_TYPES = {
    "int": int,
    "float": float,
    "bool": bool,
    "str": str,
    int: int,
    float: float,
    bool: bool,
    str: str,
}


def param_specs(hp_class: type) -> list[ParamSpec]:
    """The declared hyperparameters of a Hyperparameters dataclass, in declaration order."""
    specs = []
    for f in dataclasses.fields(hp_class):
        md = f.metadata
        if "help" not in md:
            raise TypeError(f"{hp_class.__qualname__}.{f.name} must be declared with param()")
        typ = _TYPES.get(f.type, None)
        if typ is None:
            typ = type(f.default)
        specs.append(
            ParamSpec(
                name=f.name,
                type=typ,
                default=f.default,
                help=md["help"],
                lo=md["lo"],
                hi=md["hi"],
                choices=md["choices"],
                log=md["log"],
                label=md["label"] or f.name,
                advanced=bool(md.get("advanced", False)),
            )
        )
    return specs


class HyperparametersBase:
    """Mixin for the frozen hyperparameter dataclasses: validation on construction."""

    def __post_init__(self):
        for spec in param_specs(type(self)):
            value = getattr(self, spec.name)
            coerced = spec.coerce(value)
            if coerced != value or type(coerced) is not type(value):
                object.__setattr__(self, spec.name, coerced)
            spec.check(coerced)
        self.validate()

    def validate(self) -> None:
        """Cross-field checks; raise HyperparameterError. Override where needed."""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_mapping(cls, values: dict[str, Any]):
        """Build from strings or numbers; unknown names are an error naming them."""
        names = {s.name: s for s in param_specs(cls)}
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise HyperparameterError(f"unknown hyperparameter(s): {', '.join(unknown)}")
        return cls(**{k: names[k].coerce(v) for k, v in values.items()})


class Model:
    """Base class of every model. Subclasses fill in the class attributes and the hooks."""

    id: ClassVar[str] = ""
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    data_kinds: ClassVar[tuple[str, ...]] = ("table",)
    objective_kind: ClassVar[str] = "log-likelihood"
    Hyperparameters: ClassVar[type] = HyperparametersBase
    # Runner defaults; the user overrides them per run (--max-iter, --tol).
    default_max_iter: ClassVar[int] = 300
    default_tol: ClassVar[float] = 1e-6
    # What values a table model takes: "real", "non-negative", "binary" or "counts" (whole
    # numbers >= 0). `explorer warmup` and `explorer check-model` fit it on such a table.
    table_values: ClassVar[str] = "real"
    # The snapshot's ``metrics_trace`` curve the window draws above the objective (a-MMSB's
    # "elbo"), or None.
    first_curve: ClassVar[str | None] = None
    # Modules of numba kernels this model uses, besides its own module (a-MMSB's _ammsb_kernels,
    # K-means' _centres): `explorer check-model` checks that the warm-up compiles every one defined
    # there, and warmup.kernels_cached (the window's first-fit notice) reads their namespaces.
    kernel_modules: ClassVar[tuple[str, ...]] = ()
    # The attributes ``_prepare`` sets: built once per fit and shared, read-only, by every restart
    # (:meth:`spawn`). A subclass extends its base's tuple (``Base.shared_state + ("min_mean",)``).
    shared_state: ClassVar[tuple[str, ...]] = ()

    def __init__(self, hyperparameters=None, **values):
        if hyperparameters is None:
            hyperparameters = self.Hyperparameters(**values)
        elif values:
            hyperparameters = dataclasses.replace(hyperparameters, **values)
        self.hp = hyperparameters
        self.data = None
        self.seed: int | None = None
        self.iteration = 0  # steps completed; set by the runner after every step
        self.notes = []  # what the user should know about this fit (shown, exported)
        self._prepared: _Prepared | None = None

    @property
    def n_init(self) -> int:
        """How many restarts the runner runs: the ``n_init`` hyperparameter where the model
        declares one, else 1."""
        return int(getattr(self.hp, "n_init", 1))

    # ---- the templates: once per fit, once per restart ----------------------------------
    def prepare(self, data) -> None:
        """Check ``data`` and build what every restart reads (the ``_prepare`` hook), once per
        data set: a second call with the same data does nothing. The runner calls it once per
        fit; :meth:`initialize` calls it when nobody has."""
        if self._prepared is not None and self._prepared.data is data:
            return
        self.check_data(data)
        self.notes = []
        before = dict(vars(self))
        self._prepare(data)
        self._prepared = _Prepared(data, self._declared_shared_state(before), list(self.notes))

    def _declared_shared_state(self, before: dict[str, Any]) -> dict[str, Any]:
        """The attributes ``shared_state`` names, after checking that they are what ``_prepare``
        set (``before``: the attributes before it ran)."""
        declared = set(self.shared_state)
        now = vars(self)
        undeclared = sorted(
            name
            for name, value in now.items()
            if name not in _NOT_SHARED
            and name not in declared
            and (name not in before or before[name] is not value)
        )
        if undeclared:
            raise SharedStateError(
                f"{type(self).__name__}._prepare set {', '.join(undeclared)}, which "
                f"{type(self).__name__}.shared_state does not declare: add "
                f"{'it' if len(undeclared) == 1 else 'them'} to shared_state (built once, shared "
                "by every restart), or set per-restart state in _init_state"
            )
        unset = [name for name in self.shared_state if name not in now]
        if unset:
            raise SharedStateError(
                f"{type(self).__name__}.shared_state declares {', '.join(unset)}, which "
                f"{type(self).__name__}._prepare did not set"
            )
        return {name: now[name] for name in self.shared_state}

    def initialize(self, data, seed: int, **given) -> None:
        """Build one restart's state from ``seed`` (``given``: explicit starting parameters where
        the model takes them, e.g. ``centers=``): prepares ``data`` first unless that was done,
        resets ``data``, ``seed``, ``iteration`` and ``notes`` (to those of ``prepare``), then
        calls the ``_init_state`` hook."""
        self.prepare(data)
        self.data = data
        self.seed = int(seed)
        self.iteration = 0
        self.notes = list(self._prepared.notes)
        self._init_state(self.seed, **given)

    def spawn(self) -> Model:
        """A new model with the same hyperparameters sharing what :meth:`prepare` built (the
        runner's next restart): initialising it does not prepare the data again."""
        new = type(self)(self.hp)
        if self._prepared is not None:
            new.__dict__.update(self._prepared.shared)
            new._prepared = self._prepared
        return new

    def add_note(self, text: str) -> None:
        """Add a line the user should read about this fit (shown by the CLI and the window, written
        to result.json's ``notes``). The one way to add a note, in every model: a model may compute
        ``notes`` when it is read (MixtureModel adds the notes that follow its state), so appending
        to ``self.notes`` is not reliable. Notes added in ``_prepare`` are every restart's first."""
        self.notes.append(str(text))

    # ---- hooks a model implements -------------------------------------------------------
    def check_data(self, data) -> None:
        """Raise DataError when this model cannot take ``data`` (kind, size, sign, binary...)."""
        if data.kind not in self.data_kinds:
            raise DataError(
                f"model '{self.id}' takes {' or '.join(self.data_kinds)} data, "
                f"not {data.kind} data",
                path=getattr(data, "path", None),
            )
        K = getattr(self.hp, "K", None)
        n = data.n_items
        if K is not None and K > n:
            what = "rows" if data.kind == "table" else "nodes"
            raise DataError(
                f"K = {K} is larger than the number of {what} ({n})",
                path=getattr(data, "path", None),
            )

    def _prepare(self, data) -> None:
        """Once per fit, after ``check_data``: set on ``self`` what depends on the data and the
        hyperparameters only, never on the seed: the attributes the class declares in
        ``shared_state`` (shared by every restart, so a restart must not write into them). Notes
        added here (``add_note``) are every restart's first."""

    def _init_state(self, seed: int, **given) -> None:
        """One restart's state from ``seed`` (``self.data`` is set, ``_prepare`` has run)."""
        raise NotImplementedError

    def step(self) -> float:
        raise NotImplementedError

    def labels(self) -> np.ndarray:
        """Hard assignment of each row / node (int array)."""
        raise NotImplementedError

    def memberships(self) -> np.ndarray | None:
        """Soft memberships (n_items x K, rows sum to 1) where the model has them, else None."""
        return None

    def overlapping_communities(self) -> list[list[int]] | None:
        """Every item's communities (several where they overlap), or None when the model has no
        overlapping communities (the export then writes no ``communities`` column)."""
        return None

    def n_parameters(self) -> int | None:
        """Free parameters of the fitted model (for BIC and AIC), or None where not defined."""
        return None

    def snapshot(self) -> dict[str, Any]:
        """Copies of what the plots need; made when the window asks for one (see the runner).

        Keys the window understands (all optional but ``labels``), arrays copied, never views:

        * ``labels``: (n,) int hard assignment; ``memberships``: (n, K) rows summing to 1;
        * ``centers``: (K, D) in the model's feature space (standardised if the data were);
        * ``covariances``: (K, D, D); ``weights``: (K,);
        * ``density_1d``: ``{"x": (G,), "total": (G,), "components": (K, G)}`` for 1-D tables
          (the model evaluates its own density on a grid it picks; the GUI only draws it);
        * ``metrics_trace``: ``{name: [(iteration, value), ...]}`` for extra live curves such as
          ``heldout_auc``, ``heldout_perplexity`` or ``elbo``;
        * ``info``: ``{name: float}`` small live figures for the status line.
        """
        snap = {"labels": np.array(self.labels(), copy=True)}
        m = self.memberships()
        if m is not None:
            snap["memberships"] = np.array(m, copy=True)
        return snap

    def parameters(self) -> dict[str, np.ndarray]:
        """Every fitted array, under the names documented in the model's docstring."""
        raise NotImplementedError

    def metrics(self) -> dict[str, float]:
        """Model-specific figures for the summary (BIC, partition coefficient, held-out AUC...)."""
        return {}

    def converged(self, trace: list[float], tol: float) -> bool:
        """Default rule: relative change of the objective below ``tol``."""
        if len(trace) < 2:
            return False
        prev, cur = trace[-2], trace[-1]
        return abs(cur - prev) <= tol * max(abs(cur), abs(prev), 1e-300)

    # ---- stop rule, best state and degeneracy (the runner owns all three) ---------------
    # A model whose objective can fall (a held-out score watched during SVI or EM) sets
    # ``keep_best``: the runner then keeps a copy of the state at the best objective
    # (``get_state``) and puts it back (``set_state``) before returning, so a run never ends on a
    # state worse than one it already had. ``state_attributes`` names what ``get_state`` copies.
    keep_best: ClassVar[bool] = False
    state_attributes: ClassVar[tuple[str, ...]] = ()
    # Whether the objective never worsens from one step to the next (EM, CAVI, Lloyd's algorithm),
    # which `explorer check-model` verifies. None (the default) follows ``keep_best``: a model that
    # asks the runner to keep its best state watches an objective that can fall (a held-out score).
    monotone_objective: ClassVar[bool | None] = None

    @classmethod
    def objective_is_monotone(cls) -> bool:
        """Whether the objective never worsens between steps (``monotone_objective``, by default
        ``not keep_best``)."""
        if cls.monotone_objective is None:
            return not cls.keep_best
        return bool(cls.monotone_objective)

    def get_state(self) -> dict[str, Any]:
        """A copy of everything that defines the fitted state (arrays copied, never views)."""
        if not self.state_attributes:
            raise NotImplementedError(f"{type(self).__name__} declares no state_attributes")
        return {name: copy.deepcopy(getattr(self, name)) for name in self.state_attributes}

    def set_state(self, state: dict[str, Any]) -> None:
        """Put back a state taken by ``get_state`` (labels, memberships and metrics follow it)."""
        for name, value in state.items():
            setattr(self, name, copy.deepcopy(value))

    def early_stop(self, trace: list[float], best_iteration: int) -> str | None:
        """A reason to stop before convergence (e.g. a held-out score that kept falling), or None.

        ``best_iteration`` is 1-based: ``trace[best_iteration - 1]`` is the best value so far.
        The run is then reported as stopped, not converged.
        """
        return None

    def finish(self) -> None:
        """Once per restart, on the state the runner returns (after the best state is put back,
        before :meth:`degeneracy` and the choice of restart); not after a cancel or a non-finite
        objective. For a last adjustment that is not an iteration of the objective (a-MMSB: the
        small-network phase on all links). Default: nothing."""

    def degeneracy(self) -> str | None:
        """What is degenerate about the current state (a collapsed component, an infinite rate,
        a point mass, clusters on one place, an objective float64 cannot resolve), or None.

        The one way a model says its state is not a usable fit: the runner calls it on the state
        it returns and, when it answers, reports the restart as ``"degenerate: <answer>"``, never
        converged, never chosen over a sound restart; the CLI then exits 3 with the answer among
        the notes. Every model answers for its own family's degenerate states (see
        :func:`coincident_groups` for the one they share: components or centres that coincide)."""
        return None

    def score(self, trace: list[float]) -> float:
        """Higher is better; picks the best of ``n_init`` restarts."""
        if not trace:
            return -math.inf
        return -trace[-1] if self.objective_kind == "distortion" else trace[-1]

    # ---- helpers -----------------------------------------------------------------------
    @classmethod
    def param_specs(cls) -> list[ParamSpec]:
        return param_specs(cls.Hyperparameters)

    @classmethod
    def maximize(cls) -> bool:
        return cls.objective_kind != "distortion"


@dataclass(frozen=True)
class _Prepared:
    """What :meth:`Model.prepare` built for ``data``: the attributes its hook set, as the model's
    ``shared_state`` declares them (shared by the restarts), and the notes it wrote."""

    data: Any
    shared: dict[str, Any]
    notes: list[str]


# Attributes that are never shared between restarts even when ``_prepare`` sets them.
_NOT_SHARED = frozenset({"notes", "_notes", "data", "seed", "iteration", "_prepared"})


def coincident_groups(vectors: np.ndarray, rtol: float = 1e-9) -> list[list[int]]:
    """Groups (at least two, 0-based indices, in order) of rows of ``vectors`` (K, P) that
    coincide: every entry within ``rtol`` times the largest magnitude in ``vectors``. Components
    or centres that coincide describe one cluster K times over; EM and Lloyd never pull them
    apart again (their updates are the same), so such a state is degenerate, whatever the
    objective says. Distinct clusters of real data differ far beyond 1e-9 of their scale."""
    V = np.asarray(vectors, dtype=np.float64)
    V = V.reshape(len(V), -1)
    if len(V) < 2 or not np.isfinite(V).all():
        return []
    tol = rtol * float(np.abs(V).max(initial=0.0))
    groups: list[list[int]] = []
    done = np.zeros(len(V), dtype=bool)
    for k in range(len(V)):
        if done[k]:
            continue
        same = np.flatnonzero(~done & (np.abs(V - V[k]).max(axis=1) <= tol))
        done[same] = True
        if len(same) > 1:
            groups.append([int(i) for i in same])
    return groups


def describe_groups(groups: list[list[int]], what: str) -> str:
    """``"components 1, 2 and 3 coincide"`` (1-based) for every group, joined by "; "."""
    parts = []
    for g in groups:
        names = [str(i + 1) for i in g]
        listed = ", ".join(names[:-1]) + " and " + names[-1]
        parts.append(f"{what} {listed} coincide")
    return "; ".join(parts)


def few_rows_advice(X: np.ndarray, K: int) -> str:
    """The advice for a degenerate table fit: how many distinct rows the data have when that is
    fewer than K (counted up to 2,000,000 rows: the count only words the advice), else a general
    one."""
    if len(X) <= 2_000_000:
        distinct = len(np.unique(np.asarray(X), axis=0))
        if distinct < K:
            return (
                f"the data have only {distinct} distinct row{'s' if distinct != 1 else ''}: "
                f"use K <= {distinct}"
            )
    return "use a smaller K or another seed"
