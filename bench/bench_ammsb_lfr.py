"""a-MMSB against networkx Louvain on generated community benchmarks with a known truth (issue 10).

Run by hand (minutes)::

    .venv/bin/python bench/bench_ammsb_lfr.py [--seeds 0,1,2] [--init auto] [--epsilon E]

(the default epsilon is 0, auto: 1e-5 unless most links of a Louvain partition run between its
communities; each line gives the epsilon used and that share).

* LFR (``networkx.LFR_benchmark_graph``): n = 1,000, tau1 = 2.5, tau2 = 1.5, average degree 20
  (max degree 50, communities of 20-100 nodes) and 40 (max degree 100, communities of 30-150:
  networkx cannot place degree-40 graphs in 20-100-node communities at mu = 0.1), mixing
  mu = 0.1, 0.3, 0.5 (when the generator fails for a seed, seed + 1000, + 2000, ... is used);
* planted partitions with 40+ groups: 42 groups of 25 nodes (the dense "e-mail network" shape of
  the issue: p_in 0.9 / p_out 0.015, average degree 37, and p_in 0.6 / p_out 0.03, average degree
  45 with 70 % of links between groups) and 60 groups of 20.

For each graph and seed: ammsb at its defaults with K = the true count, NMI of its argmax labels
against the truth, the number of communities in use, and networkx Louvain's NMI (seeded). A line
passes when NMI >= Louvain's - 0.02 and at least K / 2 communities are in use. One JSON line per
run, then a summary.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from explorer import metrics  # noqa: E402
from explorer.data.types import NetworkData  # noqa: E402


def to_data(G, truth) -> NetworkData:
    import scipy.sparse as sp

    n = G.number_of_nodes()
    e = np.array(sorted((min(u, v), max(u, v)) for u, v in G.edges() if u != v), dtype=np.int64)
    A = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    return NetworkData(
        node_ids=np.arange(n).astype(str),
        adjacency=(A + A.T).tocsr(),
        edges=e,
        weights=np.ones(len(e)),
        directed=False,
        labels=truth.astype(str),
    )


def lfr(degree: int, mix: float, seed: int):
    max_degree, min_c, max_c = {20: (50, 20, 100), 40: (100, 30, 150)}[degree]
    for attempt in range(20):  # the generator sometimes cannot place the communities
        try:
            G = nx.LFR_benchmark_graph(
                1000,
                2.5,
                1.5,
                mix,
                average_degree=degree,
                max_degree=max_degree,
                min_community=min_c,
                max_community=max_c,
                seed=seed + 1000 * attempt,
                max_iters=500,
            )
            break
        except nx.ExceededMaxIterations:
            continue
    else:
        raise RuntimeError(f"LFR degree {degree} mu {mix}: no graph in 20 attempts")
    comms = sorted({frozenset(G.nodes[v]["community"]) for v in G}, key=min)
    truth = np.zeros(1000, dtype=np.int64)
    for c, members in enumerate(comms):
        truth[list(members)] = c
    G.remove_edges_from(nx.selfloop_edges(G))
    return G, truth, len(comms)


def planted(groups: int, size: int, p_in: float, p_out: float, seed: int):
    G = nx.planted_partition_graph(groups, size, p_in, p_out, seed=seed)
    return G, np.repeat(np.arange(groups), size), groups


def louvain_nmi(G, truth, seed) -> float:
    lab = np.zeros(len(truth), dtype=np.int64)
    for c, members in enumerate(nx.community.louvain_communities(G, seed=seed)):
        lab[list(members)] = c
    return metrics.nmi(truth, lab)


def run(name, G, truth, K, seed, init, **extra) -> dict:
    from explorer.models.ammsb import AMMSB
    from explorer.runner import fit

    data = to_data(G, truth)
    t0 = time.perf_counter()
    res = fit(AMMSB, data, seed=seed, K=K, init=init, **extra)
    wall = time.perf_counter() - t0
    ref = louvain_nmi(G, truth, seed)
    used = int(len(np.unique(res.model.labels())))
    nmi = float(res.metrics["nmi"])
    return {
        "graph": name,
        "seed": seed,
        "K": K,
        "edges": G.number_of_edges(),
        "nmi": round(nmi, 4),
        "louvain_nmi": round(ref, 4),
        "in_use": used,
        "start": res.model.start,
        "epsilon": float(f"{res.model.epsilon:.3g}"),
        "between_share": (
            None if res.model.between_share is None else round(res.model.between_share, 3)
        ),
        "stop": res.stop_reason,
        "wall_s": round(wall, 2),
        "pass": bool(nmi >= ref - 0.02 and 2 * used >= K),
    }


def main(argv):
    seeds = [0, 1, 2]
    init = "auto"
    if "--seeds" in argv:
        seeds = [int(s) for s in argv[argv.index("--seeds") + 1].split(",")]
    if "--init" in argv:
        init = argv[argv.index("--init") + 1]
    extra = {}
    if "--epsilon" in argv:
        extra["epsilon"] = float(argv[argv.index("--epsilon") + 1])
    cases = [
        (f"LFR deg {d} mu {m}", lambda s, d=d, m=m: lfr(d, m, s))
        for d in (20, 40)
        for m in (0.1, 0.3, 0.5)
    ]
    cases += [
        ("planted 42 x 25 (deg ~37, mu ~0.4)", lambda s: planted(42, 25, 0.9, 0.015, s)),
        ("planted 42 x 25 (deg ~45, mu ~0.7)", lambda s: planted(42, 25, 0.6, 0.03, s)),
        ("planted 60 x 20", lambda s: planted(60, 20, 0.5, 0.01, s)),
    ]
    rows = []
    for name, make in cases:
        for seed in seeds:
            G, truth, K = make(seed)
            row = run(name, G, truth, K, seed, init, **extra)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(
        f"passed {sum(r['pass'] for r in rows)} of {len(rows)}; "
        f"mean NMI ammsb {np.mean([r['nmi'] for r in rows]):.4f}, "
        f"Louvain {np.mean([r['louvain_nmi'] for r in rows]):.4f}"
    )
    for name, _ in cases:
        sub = [r for r in rows if r["graph"] == name]
        print(
            f"  {name}: ammsb {np.mean([r['nmi'] for r in sub]):.3f} "
            f"(min {min(r['nmi'] for r in sub):.3f}), Louvain "
            f"{np.mean([r['louvain_nmi'] for r in sub]):.3f}, passed "
            f"{sum(r['pass'] for r in sub)}/{len(sub)}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
