"""Command-line options shared by the front doors: ``explorer fit``/``sweep`` (explorer.cli), ``explorer
gui`` (explorer.gui.app) and the Dask path (explorer.distributed.cli), and their exit codes.

Qt-free and below every front door, so the window reuses the CLI's options without importing the
CLI (the layers contract in pyproject.toml keeps it so). Hyperparameter flags come from each
model's Hyperparameters dataclass: the field name with underscores turned into hyphens and case
kept (``K`` -> ``--K``, ``n_init`` -> ``--n-init``, ``K_aff`` -> ``--K-aff``).
"""

from __future__ import annotations

import argparse

from explorer.data.types import DataError
from explorer.models.base import HyperparameterError, Model, check_seed

# Exit statuses of the front doors (explorer.cli documents when each is returned).
EXIT_BAD_INPUT = 2  # bad input: one line "explorer: error: ...", nothing fitted or written
EXIT_UNUSABLE = 3  # `explorer fit`: the fit ran but its returned state is not usable
EXIT_NO_WINDOW = 3  # `explorer gui`: Qt cannot open a window here (the preflight says why)
EXIT_INTERRUPTED = 130  # Ctrl-C


def unusable(result) -> str | None:
    """Why a fit's returned state is not usable (non-finite objective, degenerate), or None:
    what ``explorer fit`` exits ``EXIT_UNUSABLE`` on, in memory and on Dask."""
    import math

    reason = result.stop_reason or ""
    if reason.startswith(("degenerate", "non-finite")):
        return reason
    if result.trace and not math.isfinite(result.final_objective):
        return f"the objective of the returned state is {result.final_objective}"
    return None


def add_hyperparameter_options(
    parser: argparse.ArgumentParser, model_cls: type[Model], exclude: tuple[str, ...] = ()
) -> None:
    """One option per declared hyperparameter; unset options stay None (the default applies)."""
    group = parser.add_argument_group(f"hyperparameters of {model_cls.id}")
    for spec in model_cls.param_specs():
        if spec.name in exclude:
            continue
        rng = ""
        if spec.choices:
            rng = f"; one of {', '.join(map(str, spec.choices))}"
        elif spec.lo is not None or spec.hi is not None:
            rng = (
                f"; range [{spec.lo if spec.lo is not None else '-inf'}, "
                f"{spec.hi if spec.hi is not None else 'inf'}]"
            )
        help_text = f"{spec.help} (default {spec.default}{rng})"
        if spec.type is bool:
            group.add_argument(
                spec.flag,
                dest=spec.name,
                default=None,
                action=argparse.BooleanOptionalAction,
                help=help_text,
            )
        else:
            group.add_argument(
                spec.flag,
                dest=spec.name,
                default=None,
                metavar=spec.name.upper() if spec.type is not str else "CHOICE",
                help=help_text,
            )


def hyperparameters_from_args(model_cls: type[Model], ns: argparse.Namespace):
    """Hyperparameters from parsed options (strings), validated: raises HyperparameterError."""
    values = {}
    for spec in model_cls.param_specs():
        v = getattr(ns, spec.name, None)
        if v is not None:
            values[spec.name] = v
    return model_cls.Hyperparameters.from_mapping(values)


def add_data_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("data")
    g.add_argument(
        "--kind",
        choices=("table", "network", "temporal"),
        default=None,
        help="how to read DATA (default: what the model takes, else guessed)",
    )
    g.add_argument(
        "--columns",
        default=None,
        help="table: comma-separated feature columns (default: all numeric columns)",
    )
    g.add_argument(
        "--standardize",
        action="store_true",
        default=None,
        help="table: scale each feature column to zero mean and unit variance",
    )
    g.add_argument(
        "--missing",
        choices=("error", "drop"),
        default=None,
        help="table: rows with empty, '?' or 'NA' feature cells are an error (default) "
        "or dropped (with a note counting them)",
    )
    g.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default=None,
        help="table: feature precision (default: float32 when a Parquet/Feather/.npy "
        "file holds float32, else float64; float32 halves the memory)",
    )
    g.add_argument(
        "--labels",
        default=None,
        metavar="COLUMN_OR_FILE",
        help="ground truth: a table's label column; for networks a node,label file "
        "(FILE or FILE:COLUMN) or a GML/GraphML node attribute",
    )
    g.add_argument(
        "--directed",
        action="store_true",
        default=None,
        help="network: treat edges as directed (default undirected)",
    )
    g.add_argument(
        "--bin-width",
        dest="bin_width",
        type=float,
        default=None,
        help="temporal: width of a snapshot in the unit of t (default: one per t)",
    )
    g.add_argument(
        "--test-pairs",
        dest="test_pairs",
        default=None,
        metavar="FILE",
        help="network: rows 'u v y' held out of training and scored at the end",
    )


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def seed_number(text: str) -> int:
    try:
        return check_seed(text)
    except HyperparameterError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("seed: ")) from None


def add_run_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("run")
    g.add_argument(
        "--seed",
        type=seed_number,
        default=0,
        help="random seed, a whole number >= 0 (restart r uses seed + r)",
    )
    g.add_argument(
        "--max-iter",
        dest="max_iter",
        type=positive_int,
        default=None,
        help="maximum iterations (default: the model's)",
    )
    g.add_argument(
        "--tol",
        type=non_negative_float,
        default=None,
        help="relative change of the objective that counts as converged",
    )


def fit_from_args(model, data, ns: argparse.Namespace, progress):
    """``runner.fit`` as `explorer fit` runs it, here or on a cluster: the seed, iteration limit
    and tolerance of the command line, ``progress`` at most every 0.2 s, and no snapshots (no plot
    draws them)."""
    from explorer import runner

    return runner.fit(
        model,
        data,
        seed=ns.seed,
        max_iter=ns.max_iter,
        tol=ns.tol,
        callback=progress,
        snapshot_interval=0.2,
        snapshots=False,
    )


def data_kind_for(model_cls: type[Model] | None, path, ns: argparse.Namespace) -> str:
    """The kind to read DATA as: --kind, else the model's kind (refused when the file clearly is
    another kind, so a table is never fitted as a network by accident), else a guess. The check is
    :func:`explorer.data.kind_for_model`, shared with the Python API and the window."""
    from explorer.data import guess_kind, kind_for_model

    forced = getattr(ns, "kind", None)
    if model_cls is None:
        return forced or guess_kind(path)
    return kind_for_model(path, model_cls.data_kinds, model_id=model_cls.id, kind=forced)


def load_from_args(path, ns: argparse.Namespace, kind: str):
    """Load DATA with the options that apply to its kind; an option for another kind is an error."""
    from explorer.data import load

    return load(path, kind=kind, **data_options_from_args(path, ns, kind))


def data_options_from_args(path, ns: argparse.Namespace, kind: str) -> dict:
    """The loader options given on the command line, checked against the data kind."""
    from explorer.data import LOAD_OPTIONS

    options = {}
    for name in (
        "columns",
        "standardize",
        "missing",
        "labels",
        "dtype",
        "directed",
        "bin_width",
        "test_pairs",
    ):
        value = getattr(ns, name, None)
        if value is None:
            continue
        if name not in LOAD_OPTIONS[kind]:
            raise DataError(f"--{name.replace('_', '-')} does not apply to {kind} data", path=path)
        options[name] = value
    if "columns" in options:
        options["columns"] = [c.strip() for c in options["columns"].split(",") if c.strip()]
    return options
