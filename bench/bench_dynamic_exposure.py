"""Seconds per EM iteration and peak memory of the ``dynamic-exposure`` model at scale.

Run by hand (not part of the test suite)::

    .venv/bin/python bench/bench_dynamic_exposure.py [--n 2000] [--T 100] [--nnz 200000]
        [--k-aff 3] [--k-exp 3] [--iters 10] [--directed]

The network is drawn from the model itself (``planted_exposures``, ``sample_network``): K_aff
affinity groups with memberships 0.92 / 0.04 and w = c (4 I + 0.02), K_exp exposure groups with mu
rows 0.9 / 0.03, with c chosen by bisection so that the expected number of non-zero (t, i, j)
cells is ``--nnz``.
Numba kernels are compiled on a small network first. Reported: initialisation time (held-out
hashing over all T N (N - 1) / 2 cells, K-means, first E-step), the median wall time of one
``step()`` and of its parts (M-step for u, v, w; M-step for mu; E-step with the log-likelihood;
live held-out AUC), the peak of numpy allocations during the fit (tracemalloc) and the peak
resident set size of the process.
"""

from __future__ import annotations

import resource
import time
import tracemalloc

import numpy as np
from _args import options

from explorer.data.synthetic import planted_exposures, sample_network
from explorer.data.types import TemporalNetworkData
from explorer.models.dynamic_exposure import DynamicExposure


def expected_nnz(u, v, w, mu, T, directed):
    v = u if v is None else v
    lam = (u @ w) @ v.T
    L = lam + lam.T if directed else lam
    m = mu @ mu.T
    p = m * -np.expm1(-L)
    return T * float(np.triu(p, 1).sum())


def make_data(n, T, nnz, k_aff, k_exp, directed, seed=0):
    rng = np.random.default_rng(seed)
    u, v, mu = planted_exposures(n, k_aff, k_exp, directed=directed, rng=rng)
    base = 4.0 * np.eye(k_aff) + 0.02
    lo, hi = 1e-6, 100.0
    for _ in range(60):
        c = np.sqrt(lo * hi)
        if expected_nnz(u, v, c * base, mu, T, directed) < nnz:
            lo = c
        else:
            hi = c
    t, i, j, cnt = sample_network(u, c * base, mu, T, v=v, directed=directed, rng=rng)
    return TemporalNetworkData(
        node_ids=np.arange(n).astype(str),
        T=T,
        t=t,
        i=i,
        j=j,
        count=cnt,
        times=np.arange(T),
        directed=directed,
    )


def main():
    ap = options(__doc__, n=2000, T=100, nnz=200_000, k_aff=3, k_exp=3, iters=10)
    ap.add_argument("--directed", action="store_true")
    args = ap.parse_args()

    warm = make_data(60, 5, 2000, args.k_aff, args.k_exp, args.directed, seed=1)
    m = DynamicExposure(K_aff=args.k_aff, K_exp=args.k_exp, n_init=1)
    m.initialize(warm, 0)
    m.step()

    t0 = time.perf_counter()
    data = make_data(args.n, args.T, args.nnz, args.k_aff, args.k_exp, args.directed)
    print(f"data: {data.describe()} (drawn in {time.perf_counter() - t0:.1f} s)")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    tracemalloc.start()
    m = DynamicExposure(K_aff=args.k_aff, K_exp=args.k_exp, n_init=1)
    t0 = time.perf_counter()
    m.initialize(data, 0)
    t_init = time.perf_counter() - t0
    parts = {"M-step u, v, w": [], "M-step mu": [], "E-step + log-lik": [], "live AUC": []}
    steps, cpu, trace, held = [], [], [m._loglik], [m._heldout_ll]
    for _ in range(args.iters):
        c0 = time.process_time()
        t0 = time.perf_counter()
        m._mstep_theta()
        t1 = time.perf_counter()
        m._mstep_mu()
        t2 = time.perf_counter()
        ll = m._estep()
        t3 = time.perf_counter()
        m._record_auc(len(trace))
        t4 = time.perf_counter()
        cpu.append(time.process_time() - c0)
        parts["M-step u, v, w"].append(t1 - t0)
        parts["M-step mu"].append(t2 - t1)
        parts["E-step + log-lik"].append(t3 - t2)
        parts["live AUC"].append(t4 - t3)
        steps.append(t4 - t0)
        trace.append(ll)
        held.append(m._heldout_ll)
    # the same through step() itself (it returns the held-out log-likelihood, the objective)
    t0 = time.perf_counter()
    held.append(m.step())
    t_step_call = time.perf_counter() - t0
    trace.append(m._loglik)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t0 = time.perf_counter()
    met = m.metrics()
    t_metrics = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"initialise: {t_init:.2f} s")
    print(
        f"seconds per EM iteration: median {np.median(steps):.3f} "
        f"(min {min(steps):.3f}, max {max(steps):.3f}; one step() call {t_step_call:.3f}); "
        f"CPU seconds median {np.median(cpu):.3f} (min {min(cpu):.3f})"
    )
    for k, v in parts.items():
        print(f"  {k:18s} {np.median(v):.3f} s")
    print(
        f"log-likelihood non-decreasing: {bool(np.all(np.diff(trace) >= 0))} "
        f"({trace[0]:.6g} -> {trace[-1]:.6g}); held-out log-likelihood "
        f"{held[0]:.6g} -> {held[-1]:.6g}"
    )
    print(
        f"metrics(): {t_metrics:.2f} s, held-out AUC {met.get('heldout_auc', float('nan')):.3f}"
        f" (pair history {met.get('pair_history_auc', float('nan')):.3f})"
        f" over {met['heldout_cells']:.0f} cells"
    )
    print(
        f"peak numpy allocations during the fit: {peak / 2**20:.0f} MiB; "
        f"peak RSS {rss:.0f} MiB (after drawing the data: {rss0:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
