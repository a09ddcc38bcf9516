"""``explorer fit MODEL DATA --dask ADDRESS|local [--partition-rows N]``: the CLI's Dask path.

Called by ``explorer.cli.cmd_fit`` after parsing; prints like the in-memory path (progress on
stderr, summary on stdout) plus the dashboard link, and with ``--out`` writes result.json,
parameters.npz and the workers' ``assignments/`` Parquet dataset. The exit status is the in-memory
path's: 3 when the returned state is degenerate or non-finite (the set is still written).
"""

from __future__ import annotations

import sys

from explorer.data.types import DataError
from explorer.models.base import HyperparameterError

from . import connect, distributed_model, export, load
from .plans import DISTRIBUTED_MODELS


def cmd_fit_dask(ns, model_cls) -> int:
    from explorer import runner
    from explorer.export import check_out_dir
    from explorer.options import (
        EXIT_BAD_INPUT,
        EXIT_UNUSABLE,
        fit_from_args,
        hyperparameters_from_args,
        unusable,
    )
    from explorer.report import print_result

    def fail(msg) -> int:
        print(f"explorer: error: {msg}", file=sys.stderr)
        return EXIT_BAD_INPUT

    if model_cls.id not in DISTRIBUTED_MODELS:
        return fail(
            f"--dask: model '{model_cls.id}' has no distributed path (one of "
            f"{', '.join(DISTRIBUTED_MODELS)})"
        )
    for name in ("standardize", "labels", "directed", "bin_width", "test_pairs", "session"):
        if getattr(ns, name, None):
            return fail(f"--{name.replace('_', '-')} is not supported with --dask")
    if getattr(ns, "kind", None) not in (None, "table"):
        return fail("--dask fits tables only")
    try:
        hp = hyperparameters_from_args(model_cls, ns)
        if ns.out:
            check_out_dir(ns.out)
    except (HyperparameterError, OSError) as e:
        return fail(e)

    # Dask's own log lines (a nanny killing a slow worker at close, a lost worker) are not the
    # CLI's messages: errors reach the user as one line each, as everywhere in the CLI.
    import logging

    logging.getLogger("distributed").setLevel(logging.ERROR)
    try:
        cluster = connect(ns.dask, timeout=getattr(ns, "dask_timeout", None))
    except OSError as e:  # SchedulerUnreachable, or a LocalCluster that cannot start
        return fail(e)
    try:
        print(
            f"Dask: {'local cluster' if ns.dask == 'local' else ns.dask}, "
            f"{len(cluster.client.scheduler_info()['workers'])} workers, dashboard "
            f"{cluster.dashboard_link}",
            file=sys.stderr,
            flush=True,
        )
        try:
            data = load(
                cluster.client, ns.data, partition_rows=ns.partition_rows, columns=ns.columns
            )
            model = distributed_model(model_cls.id)(hp)
            model.check_data(data)
        except (DataError, OSError, ValueError) as e:
            return fail(e)
        print(f"{model_cls.id} on {data.path}: {data.describe()}", file=sys.stderr)

        def progress(p: runner.Progress) -> None:
            if ns.quiet or p.done:
                return
            restart = f"  restart {p.restart + 1}/{p.n_init}" if p.n_init > 1 else ""
            print(
                f"iteration {p.iteration:6d}  {p.objective_kind} {p.objective:.10g}"
                f"  ({p.iterations_per_s:.2f} it/s){restart}",
                file=sys.stderr,
                flush=True,
            )

        try:
            result = fit_from_args(model, data, ns, progress)
        except DataError as e:
            return fail(e)
        except KeyboardInterrupt:
            print("explorer: interrupted", file=sys.stderr)
            return 130
        print_result(
            result, model_id=model_cls.id, data=data, hyperparameters=hp.as_dict(), seed=ns.seed
        )
        if ns.out:
            paths = export(result, ns.out)
            print("wrote: " + ", ".join(str(p) for p in paths.values()))
        # A degenerate or non-finite state is no usable fit, here as in memory (exit 3).
        problem = unusable(result)
        if problem:
            print(
                f"explorer: error: the fit gave no usable state ({problem.split(':')[0]}); "
                "see the notes above",
                file=sys.stderr,
            )
            return EXIT_UNUSABLE
        return 0
    finally:
        cluster.close()
