"""The a-MMSB on a planted network of 1,000,000 nodes and ~10,000,000 edges at K = 50 (issue 16):
does every stage fit in 16 GiB, and how many training links per second?

    python bench/bench_ammsb_million.py [--nodes 1000000] [--edges 10000000] [--K 50]
        [--minibatches 100] [--init random] [--epsilon 0] [--dir /tmp/explorer-million]

The edge list is generated once (planted partition, K blocks, 80 % of the edges inside blocks:
explorer.data.synthetic.planted_partition, O(E)) and written to DIR/edges.tsv (not committed);
later runs reuse it. The measured run happens in a child process, stage by stage, with the
resident set (VmRSS) and its peak (VmHWM, reset before each stage) after each one, so a stage that
needs too much memory shows itself:

1. load: ``explorer.data.load`` of the edge list (parse, node ids, CSR, edge arrays);
2. initialize: ``AMMSB.initialize`` (held-out and test sets, node state, the start);
3. minibatches: ``--minibatches`` SVI minibatches (not to convergence: a fixed number, so the
   throughput is measured, not the fit), training links per second = the training links of the
   sampled nodes / the time;
4. held-out check: one evaluation (held-out likelihood and ELBO sample), as the runner does per
   iteration;
5. export: the whole set (result.json, parameters.npz, assignments.csv, communities.graphml).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from _memory import peak_mib, reset_peak, vm  # noqa: E402
from _results import stepped_result  # noqa: E402


def generate(path: Path, nodes: int, edges: int, K: int, seed: int = 0) -> None:
    from explorer.data.synthetic import planted_partition

    size = nodes / K
    within = K * size * (size - 1) / 2
    across = nodes * (nodes - 1) / 2 - within
    t0 = time.perf_counter()
    data = planted_partition(
        nodes, K=K, p_in=0.8 * edges / within, p_out=0.2 * edges / across, seed=seed
    )
    t1 = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = np.asarray(data.node_ids)
    e = data.edges
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        fh.write("source\ttarget\n")
        for a in range(0, len(e), 1_000_000):
            chunk = e[a : a + 1_000_000]
            fh.write(
                "\n".join(
                    f"{u}\t{v}"
                    for u, v in zip(ids[chunk[:, 0]].tolist(), ids[chunk[:, 1]].tolist())
                )
                + "\n"
            )
    os.replace(tmp, path)
    print(
        f"generated {data.describe()} in {t1 - t0:.1f} s, written in "
        f"{time.perf_counter() - t1:.1f} s to {path} ({path.stat().st_size / 2**20:.0f} MiB)",
        flush=True,
    )


def child(ns) -> dict:
    from explorer import export
    from explorer.data import load
    from explorer.models.ammsb import AMMSB

    out: dict = {"load_avg_start": os.getloadavg()[0]}
    stages = []

    def stage(name, fn):
        reset_peak()
        t0, c0 = time.perf_counter(), time.process_time()
        value = fn()
        stages.append(
            {
                "stage": name,
                "wall_s": round(time.perf_counter() - t0, 2),
                "cpu_s": round(time.process_time() - c0, 2),
                "rss_MiB": round(vm("VmRSS")),
                "peak_MiB": round(vm("VmHWM")),
            }
        )
        print(json.dumps(stages[-1]), file=sys.stderr, flush=True)
        return value

    data = stage("load", lambda: load(ns.path, kind="network"))
    out["network"] = data.describe()
    model = AMMSB(K=ns.K, init=ns.init, epsilon=ns.epsilon)
    stage("initialize", lambda: model.initialize(data, 0))
    out["epsilon"] = float(model.epsilon)
    out["notes"] = [n for n in model.notes if n.startswith("epsilon")]
    deg = np.diff(model.training.graph.tr_ptr0)
    model._minibatch()  # compile / load the kernels outside the timing
    seen = [0]

    def minibatches():
        for _ in range(ns.minibatches):
            model._minibatch()
            seen[0] += int(deg[model.batch[: model.n_batch]].sum())

    t0, c0 = time.perf_counter(), time.process_time()
    stage("minibatches", minibatches)
    t_mb = time.perf_counter() - t0
    c_mb = time.process_time() - c0
    out.update(
        {
            "nodes_per_batch": int(model.n_batch),
            "nonlinks_per_node": int(model.n_samples),
            "s_per_minibatch": round(t_mb / ns.minibatches, 4),
            "train_links_per_s": round(seen[0] / t_mb),
            "train_links_per_cpu_s": round(seen[0] / c_mb),
            "pairs_per_s": round(
                (seen[0] + ns.minibatches * model.n_batch * model.n_samples) / t_mb
            ),
        }
    )
    stage("held-out check", model._evaluate)
    res = stepped_result(model, data, [0.0], [t_mb])
    target = Path(ns.dir) / "out"
    stage("export", lambda: export.export_result(res, target))
    shutil.rmtree(target, ignore_errors=True)
    out["stages"] = stages
    # resetting VmHWM per stage resets ru_maxrss too: the run's peak is the largest stage peak
    out["peak_MiB"] = max(s["peak_MiB"] for s in stages)
    out["ru_maxrss_MiB"] = round(peak_mib())
    out["load_avg_end"] = os.getloadavg()[0]
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--nodes", type=int, default=1_000_000)
    p.add_argument("--edges", type=int, default=10_000_000)
    p.add_argument("--K", type=int, default=50)
    p.add_argument("--minibatches", type=int, default=100)
    p.add_argument("--init", default="random")
    p.add_argument(
        "--epsilon",
        type=float,
        default=0.0,
        help="0 (the default): the automatic rule (a Louvain partition of the links)",
    )
    p.add_argument("--dir", default="/tmp/explorer-million")
    p.add_argument("--child", action="store_true")
    p.add_argument("--path", default=None)
    ns = p.parse_args()
    if ns.child:
        print(json.dumps(child(ns)))
        return
    path = Path(ns.dir) / f"edges_n{ns.nodes}_e{ns.edges}_k{ns.K}.tsv"
    if not path.exists():
        generate(path, ns.nodes, ns.edges, ns.K)
    argv = [a for a in sys.argv[1:]]
    proc = subprocess.run(
        [sys.executable, __file__, "--child", "--path", str(path), *argv],
        stdout=subprocess.PIPE,
        text=True,
    )
    if proc.returncode:
        sys.exit(proc.returncode)
    print(json.dumps(json.loads(proc.stdout.strip().splitlines()[-1]), indent=1))


if __name__ == "__main__":
    main()
