"""A big float32 table (issue 16): 20,000,000 x 10 float32 Parquet (0.8 GB of features) loads in
under 5 s and fits K-means (K = 10) with the whole process's peak memory under 2x the array
(1.6 GB).

    python bench/bench_big_table.py [--rows 20000000] [--cols 10] [--K 10] [--n-init 4]
        [--max-iter 300] [--spread 20] [--dir /tmp/explorer-bigtable] [--reference]

The file (10 Gaussian clusters, row groups of 1,000,000 rows, written chunk by chunk) is made once
in DIR and reused. Each measurement runs in a fresh process: the resident set after the imports,
after loading (time, peak), and after the fit (time, iterations, peak of the whole process:
``ru_maxrss``). ``--reference`` also times ``pandas.read_parquet(...).to_numpy()`` in its own
process (what a loader through pandas would pay) for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from _memory import peak_mib, vm  # noqa: E402


def generate(
    path: Path, rows: int, cols: int, K: int = 10, seed: int = 0, spread: float = 20.0
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    centres = rng.uniform(-spread, spread, size=(K, cols)).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    schema = pa.schema([(f"x{j}", pa.float32()) for j in range(cols)])
    t0 = time.perf_counter()
    with pq.ParquetWriter(tmp, schema) as w:
        for a in range(0, rows, 1_000_000):
            n = min(rows, a + 1_000_000) - a
            X = centres[rng.integers(K, size=n)] + rng.standard_normal((n, cols), dtype=np.float32)
            w.write_table(pa.table({f"x{j}": X[:, j] for j in range(cols)}, schema=schema))
    os.replace(tmp, path)
    print(
        f"generated {rows} x {cols} float32 in {time.perf_counter() - t0:.1f} s: {path} "
        f"({path.stat().st_size / 2**20:.0f} MiB)",
        flush=True,
    )


def child(ns) -> dict:
    from explorer import runner
    from explorer.data import load
    from explorer.models import get_model

    cls = get_model("kmeans")
    out = {"rss_after_imports_MiB": round(vm("VmRSS")), "load_avg_start": os.getloadavg()[0]}
    t0 = time.perf_counter()
    data = load(ns.path)
    out["load_s"] = round(time.perf_counter() - t0, 2)
    out["array"] = f"{data.X.shape} {data.X.dtype} {'F' if data.X.flags.f_contiguous else 'C'}"
    out["array_MiB"] = round(data.X.nbytes / 2**20)
    out["rss_after_load_MiB"] = round(vm("VmRSS"))
    out["peak_after_load_MiB"] = round(peak_mib())
    t0 = time.perf_counter()
    c0 = time.process_time()
    res = runner.fit(
        cls, data, seed=0, K=ns.K, n_init=ns.n_init, max_iter=ns.max_iter, snapshots=False
    )
    out["fit_s"] = round(time.perf_counter() - t0, 1)
    out["fit_cpu_s"] = round(time.process_time() - c0, 1)
    out["iterations"] = [r["iterations"] for r in res.restarts]
    out["stop_reason"] = res.stop_reason
    out["inertia"] = res.final_objective
    out["peak_MiB"] = round(peak_mib())
    out["peak_over_array"] = round(peak_mib() / (data.X.nbytes / 2**20), 2)
    out["load_avg_end"] = os.getloadavg()[0]
    return out


def reference(ns) -> dict:
    import pandas as pd

    t0 = time.perf_counter()
    X = pd.read_parquet(ns.path).to_numpy()
    return {
        "pandas_read_parquet_to_numpy_s": round(time.perf_counter() - t0, 2),
        "dtype": str(X.dtype),
        "peak_MiB": round(peak_mib()),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=20_000_000)
    p.add_argument("--cols", type=int, default=10)
    p.add_argument("--K", type=int, default=10)
    p.add_argument("--n-init", dest="n_init", type=int, default=4)
    p.add_argument("--max-iter", dest="max_iter", type=int, default=300)
    p.add_argument("--dir", default="/tmp/explorer-bigtable")
    p.add_argument("--reference", action="store_true")
    p.add_argument(
        "--spread",
        type=float,
        default=20.0,
        help="cluster centres uniform in [-spread, spread]^cols (small: overlapping "
        "clusters, many Lloyd iterations)",
    )
    p.add_argument("--child", choices=("fit", "reference"), default=None)
    p.add_argument("--path", default=None)
    ns = p.parse_args()
    if ns.child:
        print(json.dumps(child(ns) if ns.child == "fit" else reference(ns)))
        return
    tag = "" if ns.spread == 20.0 else f"_s{ns.spread:g}"
    path = Path(ns.dir) / f"t_{ns.rows}x{ns.cols}_f32{tag}.parquet"
    if not path.exists():
        generate(path, ns.rows, ns.cols, spread=ns.spread)
    for what in ("fit", "reference") if ns.reference else ("fit",):
        proc = subprocess.run(
            [sys.executable, __file__, *sys.argv[1:], "--child", what, "--path", str(path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        if proc.returncode:
            sys.exit(proc.returncode)
        print(what, json.dumps(json.loads(proc.stdout.strip().splitlines()[-1]), indent=1))


if __name__ == "__main__":
    main()
