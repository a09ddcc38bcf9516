"""gmm on a Dask cluster over a Parquet data set larger than any one worker's memory limit.

Run by hand (not part of the test suite; needs ``pip install .[dask]``)::

    .venv/bin/python bench/bench_dask.py [--rows 50000000] [--d 8] [--k 10] [--iters 5]
        [--folder /tmp/explorer-bench-dask] [--memory-limit 1.5GB] [--workers N]
        [--partition-rows 1000000] [--address tcp://scheduler:8786] [--in-memory-rows 2000000]

1. Writes (once; kept and reused when the folder already holds it) ``--rows`` x ``--d`` float32
   rows from a mixture of ``--k`` Gaussian blobs as a Parquet dataset, one file per 5,000,000
   rows, row groups of 1,000,000 rows. 50,000,000 x 8 float32 is 1.6 GB of values (the files are
   about as large: random floats do not compress).
2. Starts a LocalCluster (``--workers`` processes, default 4 (0.4 GB of the data each), one thread and
   one numba thread each, ``--memory-limit`` per worker, below the data's size) or connects to
   ``--address``; the workers read their partitions and keep them in memory (float32); spilling
   to disk is switched off for the LocalCluster so that the time measured is compute, not disk.
3. Fits ``gmm`` (K = ``--k``, initialised by k-means on a uniform sample of 100,000 rows) for
   ``--iters`` iterations (tol 0) and reports the median time of one iteration (map over the
   partitions + reduce + M-step) and the time per million rows.
4. For comparison, fits the in-memory ``gmm`` on the first ``--in-memory-rows`` rows (a table that
   fits in memory) in this process with numba's default threads (all cores), same K, and reports
   its median step time, scaled per million rows.

To point it at a real cluster: start a scheduler and workers on the machines (``dask scheduler``
on one, ``dask worker tcp://SCHEDULER:8786 --nthreads 1 --nworkers CORES`` on each, with
``NUMBA_NUM_THREADS=1`` in their environment and this package installed, ``pip install
.[dask]``), put the data where every worker reads it at the same path (a shared file system), and
run ``--address tcp://SCHEDULER:8786 --folder /shared/path``.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from _args import options

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def generate(folder: Path, rows: int, D: int, K: int, per_file: int = 5_000_000) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    stamp = folder / f"_done_{rows}_{D}_{K}"
    if stamp.exists():
        print(f"data: reusing {folder}")
        return
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, size=(K, D))
    t0 = time.perf_counter()
    for f, start in enumerate(range(0, rows, per_file)):
        n = min(per_file, rows - start)
        z = rng.integers(K, size=n)
        X = (centres[z] + rng.normal(size=(n, D))).astype(np.float32)
        pq.write_table(
            pa.table({f"x{j}": X[:, j] for j in range(D)}),
            folder / f"part-{f:04d}.parquet",
            row_group_size=1_000_000,
            compression="none",
        )
        print(f"  wrote {start + n:,} rows", flush=True)
    stamp.touch()
    print(f"data: {rows:,} x {D} float32 in {time.perf_counter() - t0:.0f} s")


def main() -> int:
    ap = options(
        None,
        rows=50_000_000,
        d=8,
        k=10,
        iters=5,
        folder="/tmp/explorer-bench-dask",
        memory_limit="1.5GB",
        workers=4,
        partition_rows=1_000_000,
        address=None,
        in_memory_rows=2_000_000,
    )
    a = ap.parse_args()

    import dask

    from explorer import runner
    from explorer.data.types import TableData
    from explorer.distributed import connect, distributed_model, load
    from explorer.models import get_model

    folder = Path(a.folder)
    generate(folder, a.rows, a.d, a.k)
    data_bytes = a.rows * a.d * 4
    print(
        f"data size: {data_bytes / 1e9:.2f} GB of float32 values; "
        f"files {sum(p.stat().st_size for p in folder.glob('*.parquet')) / 1e9:.2f} GB"
    )

    if a.address:
        cluster = connect(a.address)
    else:
        dask.config.set(
            {
                "distributed.worker.memory.target": False,
                "distributed.worker.memory.spill": False,
                "distributed.worker.memory.pause": 0.95,
                "distributed.worker.memory.terminate": 0.98,
            }
        )
        cluster = connect("local", n_workers=a.workers, memory_limit=a.memory_limit)
        print(
            f"LocalCluster: {len(cluster.client.scheduler_info()['workers'])} workers, "
            f"memory limit {a.memory_limit} each (data {data_bytes / 1e9:.2f} GB)"
        )
    print(f"dashboard: {cluster.dashboard_link}", flush=True)
    try:
        t0 = time.perf_counter()
        data = load(cluster.client, folder, partition_rows=a.partition_rows)
        t_load = time.perf_counter() - t0
        print(f"loaded {data.describe()} ({data.dtype}) in {t_load:.1f} s", flush=True)
        t0 = time.perf_counter()
        res = runner.fit(
            distributed_model("gmm"),
            data,
            seed=0,
            K=a.k,
            tol=0.0,
            max_iter=a.iters,
            callback=lambda p: print(
                f"  iteration {p.iteration}: log-likelihood {p.objective:.8g}", flush=True
            ),
            snapshots=False,
            snapshot_interval=0.0,
        )
        t_fit = time.perf_counter() - t0
        per_it = res.per_iteration_s
        print(
            f"dask gmm: {res.iterations} iterations, fit {t_fit:.1f} s including the sample "
            f"initialisation and the first pass; median {per_it:.3f} s per iteration "
            f"= {per_it / (a.rows / 1e6) * 1e3:.1f} ms per million rows"
        )
        data.release()
    finally:
        cluster.close()

    n = min(a.in_memory_rows, a.rows)
    import pyarrow.parquet as pq

    X = np.concatenate(
        [
            pq.read_table(p).to_pandas().to_numpy(np.float64)
            for p in sorted(folder.glob("*.parquet"))[: -(-n // 5_000_000)]
        ]
    )[:n]
    table = TableData(
        X=np.ascontiguousarray(X),
        columns=[f"x{j}" for j in range(a.d)],
        ids=np.arange(n).astype(str),
    )
    m = get_model("gmm")(K=a.k)
    m.initialize(table, 0)
    m.step()  # warm-up
    times = []
    for _ in range(max(3, a.iters)):
        t0 = time.perf_counter()
        m.step()
        times.append(time.perf_counter() - t0)
    t_mem = float(np.median(times))
    import numba

    print(
        f"in-memory gmm on {n:,} rows ({numba.get_num_threads()} numba threads): median "
        f"{t_mem:.3f} s per iteration = {t_mem / (n / 1e6) * 1e3:.1f} ms per million rows"
    )
    print(
        f"ratio (dask per million rows / in-memory per million rows): "
        f"{(per_it / (a.rows / 1e6)) / (t_mem / (n / 1e6)):.2f}"
    )
    os.environ.pop("NUMBA_NUM_THREADS", None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
