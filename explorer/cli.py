"""The headless front door: ``explorer models``, ``explorer fit``, ``explorer gui``, ``explorer warmup``.

Hyperparameter flags are generated from each model's Hyperparameters dataclass: the field name with
underscores turned into hyphens and case kept (``K`` -> ``--K``, ``n_init`` -> ``--n-init``,
``K_aff`` -> ``--K-aff``). Progress goes to stderr, the summary to stdout.

Exit status of ``explorer fit``:

* 0: the fit ended with a usable state (converged, stopped early, at the iteration limit, or
  cancelled after at least one iteration) and, with ``--out``, the set was written;
* 2: bad input (data, hyperparameters, seed, unknown model, an ``--out`` folder that cannot take
  the set): one line ``explorer: error: ...`` naming the problem, nothing fitted or written;
* 3: the fit ran but its returned state is not usable: the objective became non-finite, or every
  restart was degenerate (a component on a point mass, ...). The summary and the notes say why;
  with ``--out`` the set is still written (``stop_reason`` in result.json) so it can be inspected;
* 130: interrupted (Ctrl-C) during the fit or the export: one line; an export in progress leaves
  the ``--out`` folder as it was.

Python warnings raised while loading and fitting (pandas, numpy) never reach the terminal as
tracebacks or multi-line warnings: each distinct one becomes a ``note:`` line.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from pathlib import Path

from explorer import ctrl_c
from explorer._version import __version__
from explorer.data.types import DataError
from explorer.models import get_model, registry
from explorer.models.base import HyperparameterError, Model
from explorer.options import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_NO_WINDOW,
    EXIT_UNUSABLE,
    add_data_options,
    add_hyperparameter_options,
    add_run_options,
    data_kind_for,
    data_options_from_args,
    fit_from_args,
    hyperparameters_from_args,
    load_from_args,
    positive_int,
    unusable,
)


def _check_out_dir(out) -> None:
    """Refuse an output folder that cannot take the set before spending time on the fit."""
    from explorer.export import check_out_dir

    check_out_dir(out)


def _warning_notes(caught) -> list[str]:
    """Each distinct caught warning as one line (category and first line of the message)."""
    seen: list[str] = []
    for w in caught:
        first = str(w.message).strip().splitlines()[0] if str(w.message).strip() else ""
        line = f"{w.category.__name__}: {first}"
        if line not in seen:
            seen.append(line)
    return seen


def _fmt(v) -> str:
    from explorer.report import cli_value

    return cli_value(v)


def cmd_models(_argv: list[str]) -> int:
    # (models that failed to load were reported by take_model_files)
    for model_id, cls in registry().items():
        print(
            f"{model_id}: {cls.name}  [data: {', '.join(cls.data_kinds)}; "
            f"objective: {cls.objective_kind}]"
        )
        for spec in cls.param_specs():
            extra = ""
            if spec.choices:
                extra = f" one of {{{', '.join(map(str, spec.choices))}}}"
            elif spec.lo is not None or spec.hi is not None:
                extra = f" in [{spec.lo}, {spec.hi}]"
            print(f"    {spec.flag} {spec.type.__name__} = {spec.default}{extra}: {spec.help}")
    return 0


def _model_of(argv: list[str], prog: str) -> type[Model] | None:
    """The model class named by the first argument (so its hyperparameter options can be added
    before parsing), None when there is none yet; KeyError for an unknown id."""
    pre = argparse.ArgumentParser(prog=prog, add_help=False, allow_abbrev=False)
    pre.add_argument("model", nargs="?")
    known, _ = pre.parse_known_args(argv)
    if known.model and not known.model.startswith("-"):
        return get_model(known.model)
    return None


def _model_parser(
    argv: list[str], prog: str, description: str, data_help: str
) -> tuple[type[Model] | None, argparse.ArgumentParser | None]:
    """The model named by the first argument (None when there is none yet) and a parser with the
    model, data, run and data-loading arguments; (None, None) after printing the error for an
    unknown model id."""
    try:
        model_cls = _model_of(argv, prog)
    except KeyError as e:
        print(f"explorer: error: {e.args[0]}", file=sys.stderr)
        return None, None
    parser = argparse.ArgumentParser(prog=prog, allow_abbrev=False, description=description)
    parser.add_argument("model", help="model id (see `explorer models`)")
    parser.add_argument("data", help=data_help)
    add_run_options(parser)
    add_data_options(parser)
    return model_cls, parser


def _seconds(text: str) -> float:
    """A positive, finite number of seconds (argparse type)."""
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def cmd_fit(argv: list[str]) -> int:
    model_cls, parser = _model_parser(
        argv,
        "explorer fit",
        "Fit a model headless; progress on stderr, summary on stdout.",
        "data file (CSV table, edge list, GML/GraphML, t,i,j,count)",
    )
    if parser is None:
        return EXIT_BAD_INPUT
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="write result.json, parameters.npz, assignments.csv here (a new or "
        "empty folder, or one holding an earlier set, which is replaced; a "
        "symbolic link is followed: the set goes where it points)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument(
        "--layout",
        action="store_true",
        help="networks, with --out: lay the network out (ForceAtlas2, seeded by "
        "--seed, cached) and give communities.graphml node x, y, size and "
        "r, g, b (the colour), which Gephi reads",
    )
    parser.add_argument(
        "--session",
        default=None,
        metavar="FILE",
        help="add this run to a session file (created if missing; "
        "`explorer replay FILE` re-runs it)",
    )
    parser.add_argument(
        "--dask",
        default=None,
        metavar="ADDRESS|local",
        help="fit on a Dask cluster (scheduler ADDRESS, or 'local' to start one); "
        "DATA may be a Parquet folder or a glob of CSV/Parquet files "
        "(needs pip install .[dask])",
    )
    parser.add_argument(
        "--dask-timeout",
        dest="dask_timeout",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="with --dask ADDRESS: how long to try to reach the "
        "scheduler before giving up (default 5)",
    )
    parser.add_argument(
        "--partition-rows",
        dest="partition_rows",
        type=positive_int,
        default=None,
        metavar="N",
        help="with --dask: rows per partition",
    )
    if model_cls is not None:
        add_hyperparameter_options(parser, model_cls)
    ns = parser.parse_args(argv)
    if model_cls is None:
        parser.error("a model id is required")
    if ns.dask is not None:  # the optional Dask path, imported only here
        try:
            from explorer.distributed.cli import cmd_fit_dask
        except ImportError as e:
            print(f"explorer: error: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
        return cmd_fit_dask(ns, model_cls)

    try:
        return _fit_and_report(model_cls, ns)
    except KeyboardInterrupt:
        print("explorer: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _fit_and_report(model_cls: type[Model], ns: argparse.Namespace) -> int:
    from explorer.progress import TerminalBar, listening

    # On a terminal, long work (loading, k-means++ seeding of a big table, the export, the
    # iterations) shows a bar with the time left on stderr; piped, the lines stay as they were.
    bar = TerminalBar(enabled=not ns.quiet)
    with listening(bar):
        return _fit_and_report_inner(model_cls, ns, bar)


def _fit_and_report_inner(model_cls: type[Model], ns: argparse.Namespace, bar) -> int:
    from explorer import runner
    from explorer.export import export_result
    from explorer.progress import Task

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            hp = hyperparameters_from_args(model_cls, ns)
            kind = data_kind_for(model_cls, ns.data, ns)
            from explorer.data.columnar import format_of

            # columnar files report the rows read themselves; a text file's parse is one call
            reading = (
                contextlib.nullcontext()
                if format_of(ns.data)
                else Task(f"loading {Path(ns.data).name}")
            )
            with reading:
                data = load_from_args(ns.data, ns, kind)
            model = model_cls(hp)
            model.check_data(data)
            if ns.layout and (not ns.out or data.kind not in ("network", "temporal")):
                raise DataError(
                    "--layout draws a network into communities.graphml: it needs "
                    "network data and --out",
                    path=ns.data,
                )
            if ns.out:
                _check_out_dir(ns.out)
            if ns.session:  # every output path is checked before the fit
                from explorer.session import check_session_path

                check_session_path(ns.session)
        except (DataError, HyperparameterError, OSError, ValueError) as e:
            print(f"explorer: error: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
        for note in list(getattr(data, "notes", [])) + _warning_notes(caught):
            print(f"note: {note}", file=sys.stderr)
        del caught[:]
        ctrl_c.check()
        print(f"{model_cls.id} on {data.path}: {data.describe()}", file=sys.stderr)

        max_iter = int(ns.max_iter or model.default_max_iter)
        n_init = model.n_init
        # On a terminal the iterations are a bar (time left to the iteration limit: an upper
        # bound, a fit usually converges before); elsewhere one line per snapshot.
        iterations = Task(
            f"fitting {model_cls.id}", total=max_iter * n_init, unit="it", min_interval=0.2
        )

        def progress(p: runner.Progress) -> None:
            ctrl_c.check()  # a Ctrl-C that C code swallowed still stops the fit
            if ns.quiet or p.done:
                return
            restart = f"  restart {p.restart + 1}/{p.n_init}" if p.n_init > 1 else ""
            if bar.enabled:
                iterations.name = (
                    f"fitting {model_cls.id}{restart}: {p.objective_kind} {p.objective:.6g}"
                )
                iterations.set(p.restart * max_iter + p.iteration)
                return
            print(
                f"iteration {p.iteration:6d}  {p.objective_kind} {p.objective:.10g}"
                f"  ({p.iterations_per_s:.1f} it/s){restart}",
                file=sys.stderr,
                flush=True,
            )

        try:
            with iterations:
                result = fit_from_args(model, data, ns, progress)
                iterations.total = iterations.done  # stopped here: the bar ends full
        except DataError as e:
            print(f"explorer: error: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
        fit_warnings = _warning_notes(caught)
    # Warnings during the fit become notes of the result (shown and exported).
    result.notes.extend(f"warning during the fit: {w}" for w in fit_warnings)

    from explorer.report import print_result

    print_result(
        result, model_id=model_cls.id, data=data, hyperparameters=hp.as_dict(), seed=ns.seed
    )
    ctrl_c.check()
    if ns.out:
        layout = _layout_for_export(data, ns) if ns.layout else None
        try:
            paths = export_result(result, ns.out, layout=layout)
        except OSError as e:
            print(f"explorer: error: {ns.out}: cannot write the results ({e})", file=sys.stderr)
            return EXIT_BAD_INPUT
        print("wrote: " + ", ".join(str(p) for p in paths.values()))
    if ns.session:
        from explorer import session as session_mod

        try:
            path = session_mod.session_path(ns.session)
            sess = session_mod.load_session(path) if path.exists() else session_mod.Session()
            sess.add_run(result, options=data_options_from_args(ns.data, ns, kind))
            print(f"session: {sess.save(path)} (run {sess.current_run})")
        except (session_mod.SessionError, OSError) as e:
            print(f"explorer: error: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
    problem = unusable(result)
    if problem:
        print(
            f"explorer: error: the fit gave no usable state ({problem.split(':')[0]}); see the "
            "notes above",
            file=sys.stderr,
        )
        return EXIT_UNUSABLE
    return 0


def _layout_for_export(data, ns: argparse.Namespace):
    """The network's layout for the GraphML (explorer.layout, seeded by --seed, cached), with
    progress on the terminal bar."""
    from explorer.layout import LayoutSettings, compute_layout
    from explorer.progress import Task

    settings = LayoutSettings(seed=ns.seed)
    with Task("laying the network out", total=None, unit="it", min_interval=0.2) as task:

        def progress(p) -> None:
            task.total = p.total
            task.set(p.iteration)

        xy = compute_layout(data, settings, progress=progress)
    return xy


def cmd_sweep(argv: list[str]) -> int:
    from explorer import sweep as sweep_mod

    model_cls, parser = _model_parser(
        argv,
        "explorer sweep",
        "Fit every K (and seed) in parallel worker processes and choose "
        "K; a line per finished fit on stderr, the table per K on stdout.",
        "data file",
    )
    if parser is None:
        return EXIT_BAD_INPUT
    parser.add_argument(
        "--seeds",
        type=positive_int,
        default=3,
        help="fits per K, with seeds SEED, SEED+1, ... (default 3)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="worker processes (default: the number of cores; 0 = in process)",
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="write sweep.csv, sweep.json and each fit's folder K=..,seed=.. here; "
        "DIR may hold an earlier sweep (finished or interrupted), whose "
        "outputs are removed before the fits start, unless --resume; a "
        "symbolic link is followed",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="with --out: keep each fit an earlier sweep in DIR completed with the "
        "same settings and data (read back, not refitted); fit the rest",
    )
    k_name = None
    if model_cls is not None:
        k_name = sweep_mod.sweep_parameter(model_cls)
        flag = "--" + k_name.replace("_", "-")
        parser.add_argument(
            flag,
            dest="k_range",
            required=True,
            metavar="RANGE",
            help="the values of K: LO:HI (inclusive), LO:HI:STEP or a list 2,3,5",
        )
        add_hyperparameter_options(parser, model_cls, exclude=(k_name,))
    ns = parser.parse_args(argv)
    if model_cls is None:
        parser.error("a model id is required")

    try:
        Ks = sweep_mod.parse_k_range(ns.k_range)
        fixed = {
            s.name: getattr(ns, s.name)
            for s in model_cls.param_specs()
            if s.name != k_name and getattr(ns, s.name, None) is not None
        }
        for K in Ks:  # every hyperparameter combination is valid before any worker starts
            model_cls.Hyperparameters.from_mapping({**fixed, k_name: K})
        kind = data_kind_for(model_cls, ns.data, ns)
        options = data_options_from_args(ns.data, ns, kind)
        data = load_from_args(ns.data, ns, kind)
        for K in Ks:
            model_cls(**{k_name: K}).check_data(data)
        if ns.resume and not ns.out:
            raise HyperparameterError("--resume needs --out (the folder of the earlier sweep)")
        if ns.out:
            sweep_mod.check_sweep_out(ns.out)
            if not ns.resume:
                sweep_mod.clear_earlier_sweep(ns.out)
    except (DataError, HyperparameterError, OSError) as e:
        print(f"explorer: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT

    spec = sweep_mod.SweepSpec(
        model_id=model_cls.id,
        data_path=str(ns.data),
        data_kind=kind,
        data_options=options,
        Ks=tuple(Ks),
        seeds=tuple(ns.seed + i for i in range(ns.seeds)),
        hyperparameters=fixed,
        max_iter=ns.max_iter,
        tol=ns.tol,
        out_dir=str(ns.out) if ns.out else None,
        resume=bool(ns.resume),
    )
    total = len(spec.tasks())
    print(
        f"sweep {model_cls.id} on {data.path}: {data.describe()}; {k_name} in {Ks}, "
        f"{ns.seeds} seed(s): {total} fits",
        file=sys.stderr,
    )
    rows = []
    # Ctrl-C: iter_sweep cancels every fit as the KeyboardInterrupt leaves it (queued fits never
    # start, running ones stop within an iteration) and joins the workers; main() prints the line.
    for row in sweep_mod.iter_sweep(spec, jobs=ns.jobs, cancel=sweep_mod.SweepCancel()):
        ctrl_c.check()
        rows.append(row)
        what = (
            f"error: {row.error}"
            if row.error
            else ", ".join(f"{k} {v:.6g}" for k, v in row.criteria.items())
            + f", {row.stop_reason}"
            + (" (kept from the earlier sweep)" if row.resumed else "")
        )
        print(
            f"[{len(rows)}/{total}] {k_name}={row.K} seed={row.seed}: {what} ({row.seconds:.1f} s)",
            file=sys.stderr,
            flush=True,
        )
    summary = sweep_mod.summarize(model_cls.id, rows)
    summary["parameter"] = k_name
    crit = summary["criterion"]
    # The means are over the usable fits only; the degenerate, cancelled and failed ones are
    # counted in the last column (sweep.summarize).
    print(f"{k_name:>6}  {crit:>16}  {'std':>10}  stability(ARI)  converged  left out")
    for e in summary["per_K"]:
        mark = "  <- chosen" if e["K"] == summary["chosen_K"] else ""
        dropped = (
            ", ".join(f"{e[name]} {name}" for name in sweep_mod.FIT_STATUSES[1:] if e.get(name))
            or "-"
        )
        print(
            f"{e['K']:>6}  {e.get(crit, float('nan')):>16.6g}  "
            f"{e.get(crit + '_std', float('nan')):>10.3g}  {e['stability_ari']:>14.3f}  "
            f"{str(e['converged']) + '/' + str(e['fits']):>9}  {dropped}{mark}"
        )
    print(f"chosen {k_name}: {summary['chosen_K']} ({summary['reason']})")
    if summary.get("elbow_K") is not None:
        print(f"elbow of the distortion: {k_name} = {summary['elbow_K']}")
    if ns.out:
        paths = sweep_mod.write_outputs(ns.out, model_cls.id, rows, summary)
        print("wrote: " + ", ".join(str(p) for p in paths.values()))
    return 1 if any(r.error for r in rows) else 0


def cmd_replay(argv: list[str]) -> int:
    from explorer import session as session_mod

    parser = argparse.ArgumentParser(
        prog="explorer replay",
        allow_abbrev=False,
        description="Re-run every run of a saved session headless and check that each objective "
        "matches the saved one (exit 1 and a table of differences if not).",
    )
    parser.add_argument("session", help="a .explorer.json session file")
    parser.add_argument(
        "--out", default=None, metavar="DIR", help="export each replayed run into DIR/run<id>/"
    )
    parser.add_argument(
        "--allow-paths",
        action="store_true",
        help="read the data files the session names outside its own folder tree "
        "(without it, replay lists them and stops: a session file may name "
        "any path)",
    )
    ns = parser.parse_args(argv)
    try:
        sess = session_mod.load_session(ns.session)
    except session_mod.SessionError as e:
        print(f"explorer: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    outside = session_mod.paths_outside(sess)
    if outside and not ns.allow_paths:
        shown = ", ".join(map(str, outside))
        print(
            f"explorer: error: {ns.session}: the session would read data outside its folder: "
            f"{shown}; rerun with --allow-paths to read them",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    sess.confirm_paths(outside)
    # Nothing is hashed here: replay's loader hashes each data file as it reads it (once) and
    # a changed file is reported in its runs' rows.
    for problem in session_mod.check_datasets(sess, hash_files=False):
        print(f"explorer: warning: {problem}", file=sys.stderr)
    rows = session_mod.replay(sess, out_dir=ns.out)
    bad = [r for r in rows if not r.matches]
    print(f"{'run':>4}  {'model':<20} {'saved objective':>20} {'replayed':>20}  result")
    for r in rows:
        saved = "none" if r.saved is None else f"{r.saved:.12g}"
        again = "none" if r.replayed is None else f"{r.replayed:.12g}"
        verdict = "same" if r.matches else (r.problem or "DIFFERENT")
        print(f"{r.run_id:>4}  {r.model:<20} {saved:>20} {again:>20}  {verdict}")
    print(f"{len(rows) - len(bad)} of {len(rows)} runs reproduced")
    for problem in dict.fromkeys(r.problem for r in bad if r.problem):  # once each, in order
        print(f"explorer: warning: {problem}", file=sys.stderr)
    return 1 if bad else 0


def cmd_gui(argv: list[str]) -> int:
    if not any(a in ("-h", "--help") for a in argv):
        # Before Qt is imported: can its platform plugin load here? (Qt's own failure aborts
        # the process with a misleading message.) EXPLORER_NO_PREFLIGHT=1 skips it.
        from explorer.platform_check import preflight

        verdict = preflight()
        if not verdict.ok:
            print(verdict.message, file=sys.stderr)
            return EXIT_NO_WINDOW
    from explorer.gui.app import main as gui_main

    return gui_main(argv)


def cmd_warmup(argv: list[str]) -> int:
    from explorer.warmup import main as warmup_main

    return warmup_main(argv)


def cmd_check_model(argv: list[str]) -> int:
    from explorer.check_model import main as check_main

    return check_main(argv)


# Commands that take --model-file PATH (repeatable): a model of the user's own, loaded from a file
# they name (explorer.plugins); bare `explorer DATA` opens the window and takes it too.
MODEL_FILE_COMMANDS = ("models", "fit", "sweep", "replay", "gui", "warmup", "check-model")


def take_model_files(argv: list[str], *, report: bool = False) -> list[str]:
    """Remove every ``--model-file PATH`` (or ``--model-file=PATH``) from ``argv`` and name those
    files for this process and its workers (explorer.plugins.add_model_file); print a warning for
    each external model that failed to load when files are named, EXPLORER_MODEL_PATH is set or
    ``report`` asks (``explorer models``). Raises
    plugins.ModelFileError for a missing file, ValueError for a flag without a path."""
    from explorer import plugins

    rest, files = [], []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--model-file":
            if i + 1 >= len(argv):
                raise ValueError("--model-file needs a path")
            files.append(argv[i + 1])
            i += 2
            continue
        if arg.startswith("--model-file="):
            files.append(arg.split("=", 1)[1])
        else:
            rest.append(arg)
        i += 1
    for f in files:
        plugins.add_model_file(f)
    if report or files or os.environ.get(plugins.MODEL_PATH_VARIABLE):
        from explorer.models import load_problems

        for problem in load_problems():
            print(f"explorer: warning: model not loaded: {problem}", file=sys.stderr)
    argv[:] = rest
    return files


USAGE = """usage: explorer models
       explorer fit MODEL DATA [--K 3] [--<hyperparameter> VALUE ...] [--seed 0]
                    [--max-iter N] [--tol T] [--columns A,B] [--standardize]
                    [--labels COLUMN_OR_FILE] [--out DIR]
       explorer fit MODEL --help      (that model's hyperparameters)
       explorer sweep MODEL DATA --K 2:10 [--seeds 3] [--jobs N] [--out DIR [--resume]] [...]
       explorer replay SESSION [--out DIR] [--allow-paths]   (re-run a saved session, compare
                    objectives; --allow-paths: read data files outside the session's folder)
       explorer gui [DATA] [--model ID] [--<hyperparameter> VALUE ...] [--run]
                    [--screenshot PNG] [--plots DIR]
       explorer warmup [MODEL ...] [--jobs 2]   (compile every model's kernels once)
       explorer check-model ID|FILE.py   (the conformance checks of a model)
       explorer [DATA]                (open the window)

fit, sweep, replay, gui, warmup and check-model take --model-file FILE.py (a model of your own);
EXPLORER_MODEL_PATH names folders of such files, and installed packages add models through the
`explorer.models` entry-point group (docs/adding-a-model.md).
"""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0
    if argv and argv[0] == "--version":
        print(f"explorer {__version__}")
        return 0
    commands = {
        "models": cmd_models,
        "fit": cmd_fit,
        "warmup": cmd_warmup,
        "gui": cmd_gui,
        "sweep": cmd_sweep,
        "replay": cmd_replay,
        "check-model": cmd_check_model,
    }
    try:
        if not argv or argv[0] in MODEL_FILE_COMMANDS or argv[0] not in commands:
            from explorer.plugins import ModelFileError

            try:
                take_model_files(argv, report=bool(argv) and argv[0] == "models")
            except (ModelFileError, ValueError) as e:
                print(f"explorer: error: {e}", file=sys.stderr)
                return EXIT_BAD_INPUT
        if argv and argv[0] in commands:
            return commands[argv[0]](argv[1:])
        if not argv or Path(argv[0]).exists():
            return cmd_gui(argv)
    except KeyboardInterrupt:  # Ctrl-C anywhere (loading, a sweep, a replay): one line
        print("explorer: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(
        f"explorer: error: unknown command or missing file '{argv[0]}'\n{USAGE}",
        file=sys.stderr,
        end="",
    )
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    ctrl_c.install()
    sys.exit(main())
