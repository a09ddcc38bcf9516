"""The window's state without Qt: data, load options, session, runs, results, and what is done with
them (open a file, record a run, fit a saved run again, export, the command that repeats a run).

As napari keeps its ``ViewerModel`` beside the ``_qt`` window, :class:`Workspace` holds everything
the explorer window knows that is not a widget; :class:`explorer.gui.main_window.MainWindow` is the
view of it and runs its long actions (``refit_steps``, ``export_steps``) on its background worker.
Tests drive it without a display.

"Copy as command" and "Copy as Python" in the window come from :func:`command_line` and
:func:`python_code`: what they give, run as it is, repeats the run (tests/test_workspace.py runs
both and compares the objective).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from explorer import runner
from explorer.data import LOAD_OPTIONS
from explorer.session import Session

# Loader options written as flags without a value (store_true on the command line).
_FLAG_OPTIONS = ("standardize", "directed")


class Workspace:
    """What the window holds (see the module docstring)."""

    def __init__(self):
        self.data = None
        self.data_path: str | None = None
        self.load_options: dict[str, Any] = {}  # with "kind" when the user chose one
        # Every finished run of this window, and the in-memory results of those made or shown
        # here (Open and Export in the Runs tab need no refit).
        self.session = Session()
        self.run_results: dict[int, runner.FitResult] = {}
        self.result: runner.FitResult | None = None  # the result the plots show

    # ---- data ----------------------------------------------------------------------------
    @staticmethod
    def load(path, kind: str | None = None, **options):
        """Read a file (the loader's errors are DataError with one line)."""
        from explorer.data import load

        options = {k: v for k, v in options.items() if v is not None}
        return load(path, kind=kind, **options)

    def set_data(self, data, path=None, options: dict | None = None) -> None:
        self.data = data
        self.data_path = str(path) if path is not None else getattr(data, "path", None)
        self.load_options = dict(options or {})
        self.result = None

    def reload_options(self, **changes) -> tuple[str, dict]:
        """The kind and loader options to read the current file again with ``changes``; options
        that do not apply to the kind read are dropped (a table's label column is not a node-label
        file)."""
        options = dict(self.load_options)
        old_kind = options.pop("kind", None) or self.data.kind
        options.update(changes)
        kind = options.pop("kind", None) or old_kind
        if kind != old_kind and "table" in (kind, old_kind):
            options.pop("labels", None)
        return kind, {k: v for k, v in options.items() if k in LOAD_OPTIONS.get(kind, ())}

    def data_options(self) -> dict:
        """The loader options of the current data (without ``kind``), as the session keeps them."""
        if self.data is None:
            return {}
        return {
            k: v
            for k, v in self.load_options.items()
            if k in LOAD_OPTIONS[self.data.kind] and v is not None
        }

    # ---- runs -----------------------------------------------------------------------------
    def record_run(self, result, run_id: int | None = None):
        """Add a finished run (with at least one iteration, on data read from a file) to the
        session, numbered ``run_id`` (the window's number for it) when given; returns its record,
        or None."""
        if not result.trace or getattr(result.data, "path", None) is None:
            return None
        record = self.session.add_run(result, options=self.load_options, run_id=run_id)
        self.run_results[record.id] = result
        return record

    def forget_run(self, run_id: int) -> None:
        self.run_results.pop(run_id, None)

    def refit_steps(self, run_id: int, control: runner.RunControl | None = None):
        """A run of a saved session fitted again from its settings (deterministic: ``explorer
        replay`` checks the same), as a generator of the runner's progress for the window's
        worker. Returns the FitResult; a line (str) is yielded when the objective differs from
        the saved one."""
        from explorer.models import get_model
        from explorer.session import load_dataset

        record = self.session.run(run_id)
        data = load_dataset(self.session, record.dataset)
        cls = get_model(record.model)
        model = cls(cls.Hyperparameters.from_mapping(record.hyperparameters))
        result = yield from runner.fit_steps(
            model, data, seed=record.seed, max_iter=record.max_iter, tol=record.tol, control=control
        )
        saved = record.objective
        if saved is not None and abs(result.final_objective - saved) > 1e-9 * max(abs(saved), 1):
            yield (
                f"run {run_id}: warning: objective {result.final_objective:.10g} differs "
                f"from the saved {saved:.10g}"
            )
        return result

    def dataset_of(self, run_id: int):
        """The session's data set entry of a run (path, kind, options)."""
        return self.session.datasets[self.session.run(run_id).dataset]

    @staticmethod
    def export_steps(result, out_dir, layout=None):
        """Write the result set (explorer.export, as ``explorer fit --out``) as a generator for the
        window's worker: yields nothing, returns the paths written. ``layout``: the network's node
        coordinates, written into communities.graphml (x, y, size, colour) for Gephi."""
        from explorer.export import export_result

        Path(out_dir).mkdir(parents=True, exist_ok=True)
        return export_result(result, out_dir, layout=layout)
        yield  # a generator: the window's worker drives it in its thread

    def last_run_id(self) -> int:
        """The highest run number of the session (the window numbers new runs after it)."""
        return max((r.id for r in self.session.runs), default=0)

    def open_session(self, path, confirm=None) -> list[str]:
        """Make the saved session at ``path`` this workspace's; returns one line per data file
        that is missing, changed, unchecked or not confirmed (its runs are listed but cannot be
        shown). A session names data files; those outside its folder tree are read only when
        ``confirm(paths)`` (the window asks the user) says yes: a session never silently reads
        a file elsewhere (issue 22 item 10)."""
        from explorer.session import check_datasets, load_session, paths_outside

        session = load_session(path)
        outside = paths_outside(session)
        if outside and confirm is not None and confirm(outside):
            session.confirm_paths(outside)
        self.session = session
        self.run_results = {}
        return check_datasets(session)


# ---- from the window to code ----------------------------------------------------------------
def _changed_values(model_cls, values: dict) -> dict:
    """The hyperparameters that differ from their declared defaults (the defaults need no flag)."""
    defaults = {s.name: s.default for s in model_cls.param_specs()}
    return {k: v for k, v in values.items() if k in defaults and v != defaults[k]}


def command_line(model_cls, data_path, kind: str, options: dict, values: dict, run: dict) -> str:
    """The ``explorer fit`` line that repeats a run: model, data, loader options, the
    hyperparameters that differ from their defaults, seed, iteration limit and tolerance."""
    words = ["explorer", "fit", model_cls.id, str(data_path)]
    if kind != model_cls.data_kinds[0]:
        words += ["--kind", kind]
    for name in LOAD_OPTIONS[kind]:
        value = options.get(name)
        if value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        if name in _FLAG_OPTIONS:
            words.append(flag)
        elif isinstance(value, (list, tuple)):
            words += [flag, ",".join(map(str, value))]
        else:
            words += [flag, str(value)]
    specs = {s.name: s for s in model_cls.param_specs()}
    for name, value in _changed_values(model_cls, values).items():
        spec = specs[name]
        if spec.type is bool:
            words.append(spec.flag if value else "--no-" + spec.flag[2:])
        else:
            words += [spec.flag, str(value)]
    words += [
        "--seed",
        str(run["seed"]),
        "--max-iter",
        str(run["max_iter"]),
        "--tol",
        f"{run['tol']:g}",
    ]
    return shlex.join(words)


def python_code(model_cls, data_path, kind: str, options: dict, values: dict, run: dict) -> str:
    """The Python lines (``explorer.load`` / ``explorer.fit``) that repeat a run."""
    load_args = [repr(str(data_path)), f"kind={kind!r}"]
    load_args += [
        f"{k}={options[k]!r}" for k in LOAD_OPTIONS[kind] if options.get(k) not in (None, False)
    ]
    fit_args = [
        repr(model_cls.id),
        "data",
        f"seed={run['seed']!r}",
        f"max_iter={run['max_iter']!r}",
        f"tol={run['tol']!r}",
    ]
    fit_args += [f"{k}={v!r}" for k, v in _changed_values(model_cls, values).items()]
    lines = [
        "import explorer",
        "",
        f"data = explorer.load({', '.join(load_args)})",
        f"result = explorer.fit({', '.join(fit_args)})",
        "print(result.stop_reason, result.final_objective)",
    ]
    return "\n".join(lines) + "\n"


def estimator_code(
    model_cls, data_path, kind: str, options: dict, values: dict, run: dict
) -> str | None:
    """The same run as a scikit-learn estimator (``explorer.sklearn``), for a notebook's
    pipelines; None for a model without one (the network models). Needs scikit-learn."""
    from explorer import sklearn as estimators  # optional: the `sklearn` extra

    classes = [getattr(estimators, name) for name in estimators.__all__]
    est = next((c for c in classes if getattr(c, "_model", None) is model_cls), None)
    if est is None or kind != "table":
        return None
    load_args = [repr(str(data_path)), "kind='table'"]
    load_args += [
        f"{k}={options[k]!r}" for k in LOAD_OPTIONS[kind] if options.get(k) not in (None, False)
    ]
    args = [
        f"{estimators.sklearn_name(model_cls, k)}={v!r}"
        for k, v in _changed_values(model_cls, values).items()
    ]
    args += [
        f"random_state={run['seed']!r}",
        f"max_iter={run['max_iter']!r}",
        f"tol={run['tol']!r}",
    ]
    lines = [
        "import explorer",
        f"from explorer.sklearn import {est.__name__}",
        "",
        f"data = explorer.load({', '.join(load_args)})",
        f"estimator = {est.__name__}({', '.join(args)})",
        "labels = estimator.fit_predict(data.X)",
        "print(estimator.n_iter_, estimator.converged_)",
    ]
    return "\n".join(lines) + "\n"
