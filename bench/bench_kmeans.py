"""Per-iteration time of explorer's ``kmeans`` against scikit-learn's Lloyd K-means.

Run by hand (not part of the test suite)::

    .venv/bin/python bench/bench_kmeans.py [--n 200000] [--d 8] [--k 10] [--iters 30]

Both start from the same k-means++ centres on the same data (N rows of a mixture of K overlapping
Gaussian blobs, so that neither converges before ``--iters`` iterations). Numba kernels are
compiled (warm-up fit on a small table) before timing.

* explorer: median wall time of one ``step()`` (one Lloyd iteration: centre update plus the fused
  assignment pass that also returns the distortion), over ``--iters`` steps.
* scikit-learn: ``KMeans(algorithm="lloyd", n_init=1, init=centres, tol=0)``, per-iteration time
  as the difference of two fits, ``(t(max_iter=iters) - t(max_iter=iters/3)) / (n2 - n1)``, so
  the per-fit overhead (validation, centring, final inertia) does not count against it; the plain
  ``fit time / n_iter_`` is printed too. Best of ``--repeat`` runs for each.

The ratio printed is sklearn per-iteration time / explorer per-iteration time (> 1: we are
faster).
"""

from __future__ import annotations

import time

import numba
import numpy as np
from _args import options

from explorer.data.types import TableData
from explorer.models.kmeans import KMeans, kmeans_plusplus


def table(X: np.ndarray) -> TableData:
    return TableData(
        X=X, columns=[f"x{j}" for j in range(X.shape[1])], ids=np.arange(X.shape[0]).astype(str)
    )


def ours_per_iteration(X, centers, iters: int) -> tuple[float, list[float]]:
    model = KMeans(K=centers.shape[0], n_init=1)
    model.initialize(table(X), 0, centers=centers)
    times, trace = [], []
    for _ in range(iters):
        t0 = time.perf_counter()
        trace.append(model.step())
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), trace


def sklearn_fit(X, centers, max_iter: int) -> tuple[float, int, float]:
    from sklearn.cluster import KMeans as SKKMeans

    km = SKKMeans(
        n_clusters=centers.shape[0],
        init=centers,
        n_init=1,
        algorithm="lloyd",
        max_iter=max_iter,
        tol=0.0,
    )
    t0 = time.perf_counter()
    km.fit(X)
    return time.perf_counter() - t0, int(km.n_iter_), float(km.inertia_)


def main() -> None:
    args = options(__doc__, n=200_000, d=8, k=10, iters=30, repeat=3, seed=0).parse_args()

    import sklearn
    from threadpoolctl import threadpool_info

    rng = np.random.default_rng(args.seed)
    means = rng.normal(0.0, 2.0, size=(args.k, args.d))
    X = means[rng.integers(args.k, size=args.n)] + rng.normal(size=(args.n, args.d))
    centers = kmeans_plusplus(X, args.k, np.random.default_rng(args.seed + 1))

    # Warm-up: compile the kernels (serial and parallel paths) outside the timings.
    ours_per_iteration(X[:1000], centers, 2)
    ours_per_iteration(X, centers, 2)
    sklearn_fit(X, centers, 2)

    ours = []
    for _ in range(args.repeat):
        t, trace = ours_per_iteration(X, centers, args.iters)
        ours.append(t)
    t_ours = min(ours)

    short = max(1, args.iters // 3)
    best_diff, best_plain, info = np.inf, np.inf, None
    for _ in range(args.repeat):
        t1, n1, _ = sklearn_fit(X, centers, short)
        t2, n2, inertia = sklearn_fit(X, centers, args.iters)
        if n2 > n1:
            best_diff = min(best_diff, (t2 - t1) / (n2 - n1))
        best_plain = min(best_plain, t2 / n2)
        info = (n1, n2, inertia)

    threads = {d.get("internal_api"): d.get("num_threads") for d in threadpool_info()}
    print(
        f"data: N={args.n}, D={args.d}, K={args.k}; numba threads {numba.get_num_threads()}, "
        f"scikit-learn {sklearn.__version__} threads {threads}"
    )
    print(
        f"explorer kmeans : {t_ours * 1e3:8.3f} ms / iteration (median of {args.iters} steps, "
        f"best of {args.repeat}); final distortion {trace[-1]:.6f}"
    )
    print(
        f"sklearn (diff)  : {best_diff * 1e3:8.3f} ms / iteration "
        f"(n_iter {info[0]} -> {info[1]}); final inertia {info[2]:.6f}"
    )
    print(f"sklearn (plain) : {best_plain * 1e3:8.3f} ms / iteration (fit time / n_iter_)")
    print(
        f"ratio sklearn/explorer per iteration: {best_diff / t_ours:.2f} (differenced), "
        f"{best_plain / t_ours:.2f} (plain)"
    )


if __name__ == "__main__":
    main()
