"""Benchmark of the a-MMSB (model id ``ammsb``) against svinet's published figures.

Run by hand (not in CI), one network at a time or all::

    .venv/bin/python bench/bench_ammsb.py [n2000] [n20000] [n100000] [--seed S] [--n-init R]

* ``n2000`` / ``n20000``: the planted overlapping networks in ../shared/benchmarks/networks/
  (1-based ids, test pairs held out of training, K = 10 / 50, defaults otherwise: init auto):
  wall time and CPU time to convergence (with the 1-minute load average at the end), peak
  memory, test AUC, test perplexity (the model's density-weighted one and the balanced
  exp(-mean log-lik) svinet's table uses), NMI of the argmax against the primary community.
* ``n100000``: a planted partition with 100,000 nodes, K = 50, about 1,000,000 edges: seconds per
  minibatch, training edges processed per second, peak memory.

Each network runs in its own process so peak memory (ru_maxrss) is per network.
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
NETS = ROOT.parent / "shared" / "benchmarks" / "networks"
SVINET = {
    "n2000": {
        "wall_s": "2.9-8.5",
        "mem_MiB": 2296,
        "auc": 0.833,
        "perp": 4.38,
        "nmi": "0.729 (seeds 1-5: 0.835-0.895)",
    },
    "n20000": {
        "wall_s": "26-30",
        "mem_MiB": 2348,
        "auc": 0.899,
        "perp": 7.96,
        "nmi": "0.899 (seeds 1-5: 0.870-0.895)",
    },
}


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_s() -> float:
    """CPU seconds of this process (user + system): less sensitive than wall time to the other
    processes on a shared machine."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def primary_labels(path: Path, node_ids) -> np.ndarray:
    first = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2:
            first[parts[0]] = parts[1]
    return np.array([first.get(str(n), "") for n in node_ids], dtype=object)


def run_planted(name: str, K: int, seed: int, n_init: int) -> dict:
    from explorer import metrics
    from explorer.data import load_network
    from explorer.models.ammsb import AMMSB
    from explorer.runner import fit

    stem = {"n2000": "oppm_n2000_k10", "n20000": "oppm_n20000_k50"}[name]
    t0 = time.perf_counter()
    data = load_network(NETS / f"{stem}.tsv", test_pairs=NETS / f"{stem}_test_pairs.tsv")
    t_load = time.perf_counter() - t0
    truth = primary_labels(NETS / f"{stem}_gt_nodes.tsv", data.node_ids)
    t1 = time.perf_counter()
    c1 = cpu_s()
    res = fit(AMMSB, data, seed=seed, K=K, n_init=n_init)
    t_fit = time.perf_counter() - t1
    c_fit = cpu_s() - c1
    model = res.model
    p = np.zeros(len(model.test_u))
    ll, _ = model._loglik(model.test_u, model.test_v, model.test_y, p)
    return {
        "network": stem,
        "nodes": data.n_nodes,
        "edges": data.n_edges,
        "K": K,
        "seed": seed,
        "iterations": res.iterations,
        "converged": res.converged,
        "stop_reason": res.stop_reason,
        "best_iteration": res.best_iteration,
        "start": model.start,
        "fit_cpu_s": round(c_fit, 2),
        "load_average": round(__import__("os").getloadavg()[0], 2),
        "minibatches": model.t,
        "load_s": round(t_load, 2),
        "fit_s": round(t_fit, 2),
        "wall_s": round(t_load + t_fit, 2),
        "peak_MiB": round(peak_mib(), 1),
        "test_auc": round(res.metrics["test_auc"], 4),
        "test_perplexity": round(res.metrics["test_perplexity"], 4),
        "test_perplexity_balanced": round(math.exp(-float(ll.mean())), 3),
        "heldout_auc": round(res.metrics["heldout_auc"], 4),
        "nmi_primary": round(metrics.nmi(truth, model.labels()), 4),
        "svinet": SVINET[name],
    }


def run_large(seed: int) -> dict:
    from explorer.data.synthetic import planted_partition
    from explorer.models.ammsb import AMMSB

    n, K = 100_000, 50
    t0 = time.perf_counter()
    data = planted_partition(n, K, p_in=16 / (n / K), p_out=4 / n, seed=seed)
    t_gen = time.perf_counter() - t0
    model = AMMSB(K=K)
    t1 = time.perf_counter()
    model.initialize(data, seed)
    t_init = time.perf_counter() - t1
    # time minibatches (compiled already by initialize's full beta pass)
    n_mb = 200
    edges_seen = 0
    deg = np.diff(model.training.graph.tr_ptr0)
    t2 = time.perf_counter()
    for _ in range(n_mb):
        model._minibatch()
        edges_seen += int(deg[model.batch[: model.n_batch]].sum())
    t_mb = time.perf_counter() - t2
    t3 = time.perf_counter()
    model.step_count = 0
    hl = model._evaluate()
    t_eval = time.perf_counter() - t3
    return {
        "network": "planted n=100000 K=50",
        "nodes": n,
        "edges": data.n_edges,
        "generate_s": round(t_gen, 2),
        "initialize_s": round(t_init, 2),
        "nodes_per_batch": model.n_batch,
        "nonlinks_per_node": model.n_samples,
        "s_per_minibatch": round(t_mb / n_mb, 5),
        "train_links_per_s": round(edges_seen / t_mb),
        "pairs_per_s": round((edges_seen + n_mb * model.n_batch * model.n_samples) / t_mb),
        "check_s (held-out + ELBO)": round(t_eval, 2),
        "heldout_loglik": round(hl, 1),
        "peak_MiB": round(peak_mib(), 1),
    }


def main(argv):
    seed = 0
    n_init = 1
    if "--seed" in argv:
        seed = int(argv[argv.index("--seed") + 1])
    if "--n-init" in argv:
        n_init = int(argv[argv.index("--n-init") + 1])
    if "--child" in argv:
        which = argv[argv.index("--child") + 1]
        if which == "n100000":
            out = run_large(seed)
        else:
            out = run_planted(which, {"n2000": 10, "n20000": 50}[which], seed, n_init)
        print(json.dumps(out))
        return
    which = [a for a in argv if a in ("n2000", "n20000", "n100000")] or [
        "n2000",
        "n20000",
        "n100000",
    ]
    for w in which:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, __file__, "--child", w, "--seed", str(seed), "--n-init", str(n_init)],
            capture_output=True,
            text=True,
        )
        if proc.returncode:
            print(proc.stderr)
            continue
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        res["process_wall_s"] = round(time.perf_counter() - t0, 2)
        print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
