"""The headless front door: ``explorer models``, ``explorer fit``, ``explorer gui``.

Hyperparameter flags are generated from each model's Hyperparameters dataclass: the field name with
underscores turned into hyphens and case kept (``K`` -> ``--K``, ``n_init`` -> ``--n-init``,
``K_aff`` -> ``--K-aff``). Bad input (data, hyperparameters, unknown model) exits with status 2 and
one line naming the problem; progress goes to stderr, the summary to stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from explorer import __version__
from explorer.data.types import DataError
from explorer.models import get_model, registry
from explorer.models.base import HyperparameterError, Model

EXIT_BAD_INPUT = 2



def add_hyperparameter_options(parser: argparse.ArgumentParser, model_cls: type[Model]) -> None:
    """One option per declared hyperparameter; unset options stay None (the default applies)."""
    group = parser.add_argument_group(f"hyperparameters of {model_cls.id}")
    for spec in model_cls.param_specs():
        rng = ""
        if spec.choices:
            rng = f"; one of {', '.join(map(str, spec.choices))}"
        elif spec.lo is not None or spec.hi is not None:
            rng = f"; range [{spec.lo if spec.lo is not None else '-inf'}, " \
                  f"{spec.hi if spec.hi is not None else 'inf'}]"
        help_text = f"{spec.help} (default {spec.default}{rng})"
        if spec.type is bool:
            group.add_argument(spec.flag, dest=spec.name, default=None,
                               action=argparse.BooleanOptionalAction, help=help_text)
        else:
            group.add_argument(spec.flag, dest=spec.name, default=None, metavar=spec.name.upper()
                               if spec.type is not str else "CHOICE", help=help_text)


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
    g.add_argument("--kind", choices=("table", "network", "temporal"), default=None,
                   help="how to read DATA (default: what the model takes, else guessed)")
    g.add_argument("--columns", default=None,
                   help="table: comma-separated feature columns (default: all numeric columns)")
    g.add_argument("--standardize", action="store_true", default=None,
                   help="table: scale each feature column to zero mean and unit variance")
    g.add_argument("--missing", choices=("error", "drop"), default=None,
                   help="table: rows with empty, '?' or 'NA' feature cells are an error (default) "
                        "or dropped (with a note counting them)")
    g.add_argument("--labels", default=None, metavar="COLUMN_OR_FILE",
                   help="ground truth: a table's label column; for networks a node,label file "
                        "(FILE or FILE:COLUMN) or a GML/GraphML node attribute")
    g.add_argument("--directed", action="store_true", default=None,
                   help="network: treat edges as directed (default undirected)")
    g.add_argument("--bin-width", dest="bin_width", type=float, default=None,
                   help="temporal: width of a snapshot in the unit of t (default: one per t)")
    g.add_argument("--test-pairs", dest="test_pairs", default=None, metavar="FILE",
                   help="network: rows 'u v y' held out of training and scored at the end")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def add_run_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("run")
    g.add_argument("--seed", type=int, default=0, help="random seed (restart r uses seed + r)")
    g.add_argument("--max-iter", dest="max_iter", type=_positive_int, default=None,
                   help="maximum iterations (default: the model's)")
    g.add_argument("--tol", type=_non_negative_float, default=None,
                   help="relative change of the objective that counts as converged")


def data_kind_for(model_cls: type[Model] | None, path, ns: argparse.Namespace) -> str:
    """The kind to read DATA as: --kind, else the model's kind (refused when the file clearly is
    another kind, so a table is never fitted as a network by accident), else a guess."""
    from explorer.data import guess_kind, kind_conflict

    if getattr(ns, "kind", None):
        return ns.kind
    if model_cls is not None and len(model_cls.data_kinds) == 1:
        kind = model_cls.data_kinds[0]
        problem = kind_conflict(path, kind)
        if problem:
            raise DataError(f"model '{model_cls.id}' takes {kind} data, but {problem}", path=path)
        return kind
    return guess_kind(path)


def load_from_args(path, ns: argparse.Namespace, kind: str):
    """Load DATA with the options that apply to its kind; an option for another kind is an error."""
    from explorer.data import LOAD_OPTIONS, load

    options = {}
    for name in ("columns", "standardize", "missing", "labels", "directed", "bin_width",
                 "test_pairs"):
        value = getattr(ns, name, None)
        if value is None:
            continue
        if name not in LOAD_OPTIONS[kind]:
            raise DataError(f"--{name.replace('_', '-')} does not apply to {kind} data",
                            path=path)
        options[name] = value
    if "columns" in options:
        options["columns"] = [c.strip() for c in options["columns"].split(",") if c.strip()]
    return load(path, kind=kind, **options)


def _check_out_dir(out) -> None:
    """Refuse an output folder that cannot be written before spending time on the fit."""
    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".explorer-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise OSError(f"{out}: cannot write the results there ({e.strerror or e})") from None


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def cmd_models(_argv: list[str]) -> int:
    for model_id, cls in registry().items():
        print(f"{model_id}: {cls.name}  [data: {', '.join(cls.data_kinds)}; "
              f"objective: {cls.objective_kind}]")
        for spec in cls.param_specs():
            extra = ""
            if spec.choices:
                extra = f" one of {{{', '.join(map(str, spec.choices))}}}"
            elif spec.lo is not None or spec.hi is not None:
                extra = f" in [{spec.lo}, {spec.hi}]"
            print(f"    {spec.flag} {spec.type.__name__} = {spec.default}{extra}: {spec.help}")
    return 0


def cmd_fit(argv: list[str]) -> int:
    pre = argparse.ArgumentParser(prog="explorer fit", add_help=False, allow_abbrev=False)
    pre.add_argument("model", nargs="?")
    known, _ = pre.parse_known_args(argv)
    model_cls = None
    if known.model and not known.model.startswith("-"):
        try:
            model_cls = get_model(known.model)
        except KeyError as e:
            print(f"explorer: error: {e.args[0]}", file=sys.stderr)
            return EXIT_BAD_INPUT

    parser = argparse.ArgumentParser(
        prog="explorer fit", allow_abbrev=False,
        description="Fit a model headless; progress on stderr, summary on stdout.")
    parser.add_argument("model", help="model id (see `explorer models`)")
    parser.add_argument("data", help="data file (CSV table, edge list, GML/GraphML, t,i,j,count)")
    add_run_options(parser)
    add_data_options(parser)
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write result.json, parameters.npz, assignments.csv here")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    if model_cls is not None:
        add_hyperparameter_options(parser, model_cls)
    ns = parser.parse_args(argv)
    if model_cls is None:
        parser.error("a model id is required")

    from explorer import runner
    from explorer.export import export_result

    try:
        hp = hyperparameters_from_args(model_cls, ns)
        kind = data_kind_for(model_cls, ns.data, ns)
        data = load_from_args(ns.data, ns, kind)
        model = model_cls(hp)
        model.check_data(data)
        if ns.out:
            _check_out_dir(ns.out)
    except (DataError, HyperparameterError, OSError) as e:
        print(f"explorer: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT

    for note in getattr(data, "notes", []):
        print(f"note: {note}", file=sys.stderr)
    print(f"{model_cls.id} on {data.path}: {data.describe()}", file=sys.stderr)

    def progress(p: runner.Progress) -> None:
        if ns.quiet or p.done:
            return
        restart = f"  restart {p.restart + 1}/{p.n_init}" if p.n_init > 1 else ""
        print(f"iteration {p.iteration:6d}  {p.objective_kind} {p.objective:.10g}"
              f"  ({p.iterations_per_s:.1f} it/s){restart}", file=sys.stderr, flush=True)

    try:
        result = runner.fit(model, data, seed=ns.seed, max_iter=ns.max_iter, tol=ns.tol,
                            callback=progress, snapshot_interval=0.2, snapshots=False)
    except DataError as e:
        print(f"explorer: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("explorer: interrupted", file=sys.stderr)
        return 130

    for note in list(getattr(result.model, "notes", [])) + list(result.notes):
        print(f"note: {note}", file=sys.stderr)
    print(f"model: {model_cls.id}")
    print(f"data: {data.path} ({data.describe()})")
    print("hyperparameters: " + ", ".join(f"{k}={v}" for k, v in hp.as_dict().items()))
    best = result.best_seed
    print(f"seed: {ns.seed}" + (f" (best restart: seed {best})" if len(result.restarts) > 1
                                else ""))
    print(f"iterations: {result.iterations}")
    print(f"converged: {str(result.converged).lower()}")
    print(f"stop reason: {result.stop_reason}")
    if result.best_iteration and result.best_iteration != result.iterations:
        print(f"best iteration: {result.best_iteration} (its state is the one returned)")
    print(f"objective ({result.objective_kind}): {result.final_objective:.10g}")
    for name, value in result.metrics.items():
        print(f"{name}: {_fmt(value)}")
    print(f"time: {result.total_s:.3f} s total, {result.per_iteration_s * 1e3:.3f} ms per iteration")
    if ns.out:
        try:
            paths = export_result(result, ns.out)
        except OSError as e:
            print(f"explorer: error: {ns.out}: cannot write the results ({e})", file=sys.stderr)
            return EXIT_BAD_INPUT
        print("wrote: " + ", ".join(str(p) for p in paths.values()))
    return 0


def cmd_gui(argv: list[str]) -> int:
    from explorer.gui.app import main as gui_main
    return gui_main(argv)


USAGE = """usage: explorer models
       explorer fit MODEL DATA [--K 3] [--<hyperparameter> VALUE ...] [--seed 0]
                    [--max-iter N] [--tol T] [--columns A,B] [--standardize]
                    [--labels COLUMN_OR_FILE] [--out DIR]
       explorer fit MODEL --help      (that model's hyperparameters)
       explorer gui [DATA] [--model ID] [--<hyperparameter> VALUE ...] [--run]
                    [--screenshot PNG] [--plots DIR]
       explorer [DATA]                (open the window)
"""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0
    if argv and argv[0] == "--version":
        print(f"explorer {__version__}")
        return 0
    if argv and argv[0] == "models":
        return cmd_models(argv[1:])
    if argv and argv[0] == "fit":
        return cmd_fit(argv[1:])
    if argv and argv[0] == "gui":
        return cmd_gui(argv[1:])
    if not argv or Path(argv[0]).exists():
        return cmd_gui(argv)
    print(f"explorer: error: unknown command or missing file '{argv[0]}'\n{USAGE}",
          file=sys.stderr, end="")
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
