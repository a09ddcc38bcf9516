"""Export of a large network result: 100,000 nodes, ~1,000,000 edges, K = 50 (issue 16).

Target: the whole set (result.json, parameters.npz, assignments.csv, communities.graphml) in
under 5 s with under 300 MiB extra peak memory of the whole process.

The result is an a-MMSB model object whose state is set directly (memberships drawn from a
Dirichlet(0.05), as peaked as a fitted a-MMSB's; the other fitted arrays with their real shapes), on a
planted-partition network: no fit is run, the export is what is measured. Memory: the process's
peak resident set (VmHWM) is reset just before the export (``/proc/self/clear_refs``), so "extra"
is the export's own peak above the resident set it started from; ``ru_maxrss`` (the whole run's
peak) is printed too.

    python bench/bench_export.py [--nodes 100000] [--K 50] [--reference]

``--reference`` also times the row-by-row csv-module writer on the same result (the way
assignments.csv was written before).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _args import options

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _memory import peak_mib, reset_peak, vm  # noqa: E402
from _results import stepped_result  # noqa: E402


def build(nodes: int, K: int, edges: int, seed: int = 0):
    from explorer.data.synthetic import planted_partition
    from explorer.models.ammsb import AMMSB

    blocks = K
    size = nodes / blocks
    within = blocks * size * (size - 1) / 2
    across = nodes * (nodes - 1) / 2 - within
    p_in = 0.8 * edges / within
    p_out = 0.2 * edges / across
    data = planted_partition(nodes, K=blocks, p_in=p_in, p_out=p_out, seed=seed)
    rng = np.random.default_rng(seed)
    model = AMMSB(K=K)
    N = data.n_nodes
    model.data = data
    model.N = N
    model.pi = rng.dirichlet(np.full(K, 0.05), size=N)
    model.mu = np.log(model.pi + 1e-12)
    model.v = np.ones((N, K))
    model.b = np.ones((K, 2))
    model.m = np.zeros(K)
    model.M = np.eye(K)
    model.L = np.eye(K) / K
    model.l = K + N
    model.epsilon = 1e-5
    model.notes = []
    res = stepped_result(model, data, [1.0, 2.0], [1.0, 1.0])
    return res


def main() -> None:
    p = options(None, nodes=100_000, edges=1_000_000, K=50)
    p.add_argument("--reference", action="store_true")
    ns = p.parse_args()

    from explorer import export

    t0 = time.perf_counter()
    res = build(ns.nodes, ns.K, ns.edges)
    print(f"built {res.data.describe()}, K = {ns.K} in {time.perf_counter() - t0:.1f} s")
    out = Path(tempfile.mkdtemp(prefix="bench-export-")) / "set"
    try:
        # compile (or load from numba's cache) the formatting kernels on a tiny result first
        small = build(200, 12, 1000)
        export.export_result(small, out)
        shutil.rmtree(out)
        before = vm("VmRSS")
        exact = reset_peak()
        load0 = os.getloadavg()
        t0 = time.perf_counter()
        c0 = time.process_time()
        paths = export.export_result(res, out)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        peak = vm("VmHWM")
        sizes = {k: p.stat().st_size / 2**20 for k, p in paths.items()}
        print(
            f"export: {wall:.2f} s wall, {cpu:.2f} s CPU; RSS before {before:.0f} MiB, peak "
            f"during the export {peak:.0f} MiB -> extra {peak - before:.0f} MiB"
            + ("" if exact else " (VmHWM could not be reset: peak of the whole run)")
        )
        print("files: " + ", ".join(f"{k} {v:.0f} MiB" for k, v in sizes.items()))
        print(
            f"load average before/after: {load0[0]:.2f} / {os.getloadavg()[0]:.2f} "
            f"({os.cpu_count()} cores)"
        )
        print(f"ru_maxrss of the whole run: {peak_mib():.0f} MiB")
        if ns.reference:
            t0 = time.perf_counter()
            text = export.assignments_table(res)
            ref = time.perf_counter() - t0
            same = text.encode() == paths["assignments"].read_bytes()
            print(
                f"reference: csv module row by row {ref:.2f} s for assignments.csv alone "
                f"(byte-equal: {same})"
            )
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
