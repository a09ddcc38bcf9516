"""The explorer beside the strongest peers: K-means and the Gaussian mixture, per iteration.

Run by hand (not part of the test suite; the peers are a benchmark-only extra,
``pip install .[bench]``: scikit-learn-intelex with daal4py, faiss-cpu)::

    NUMBA_THREADING_LAYER=omp .venv/bin/python bench/bench_peers.py [--rounds 3]
        [--kmeans-n 1000000] [--kmeans-d 16] [--kmeans-k 50] [--gmm-n 200000] [--gmm-d 8]
        [--gmm-k 10] [--threads 1,2] [--only kmeans,fit,gmm] [--busy]
        [--peers sklearn,sklearnex,daal4py,faiss] [--fit-seeds 0,1,2,3,4] [--fit-threads 2]
        [--fit-sklearn]

(``NUMBA_THREADING_LAYER=omp``: importing daal4py would otherwise switch numba to TBB.)

One process; within each round every library runs once per setting, the libraries alternated, so
a change of the machine's load hits them alike; the figures are medians over the rounds. Threads
are pinned the same for every library: ``numba.set_num_threads``, threadpoolctl (scikit-learn's
OpenMP and BLAS), ``daal4py.daalinit`` (scikit-learn-intelex and daal4py),
``faiss.omp_set_num_threads``. A missing peer is skipped with a note.

* **K-means**, N x D (overlapping Gaussian blobs: no fit converges within 9 iterations), K centres
  from the same k-means++ start, float64 and float32: the explorer's median ``step()``; a peer's
  time per Lloyd iteration as the difference of two fits ``(t(9 iterations) - t(3)) / (n9 - n3)``
  with the iterations each fit reports (no per-fit overhead: validation, conversion, final labels).
  faiss: ``faiss.Kmeans`` with the same initial centroids and no subsampling
  (``max_points_per_centroid`` raised; its default fits a 12,800-row sample), float32 data.
* **K-means to convergence** (``--only fit``): ``make_blobs`` N x D with K centres, the whole
  ``fit`` at each library's defaults with ``n_init=1`` (its own k-means++ seeding and stopping
  rule: the explorer's ``explorer.sklearn.KMeans``, scikit-learn-intelex's ``KMeans``; with
  ``--fit-sklearn`` also scikit-learn's) for each of ``--fit-seeds``, on ``--fit-threads``
  threads: wall and CPU time, iterations, inertia, and the explorer's seeding alone
  (``plusplus`` in the canonical row order, as the fit draws it). Issue 23: the explorer's whole
  fit no slower than scikit-learn-intelex's, with an inertia at least as low.
* **Gaussian mixture**, full covariances, from the same weights, means and covariances: the
  explorer's step at iterations 2 and 20 (medians of 3 steps around each); scikit-learn's
  ``GaussianMixture`` and daal4py's ``em_gmm`` per iteration by the same difference of two fits
  (oneDAL adds no ``reg_covar``: the same EM up to that ridge).

Printed: the explorer's ms per iteration, wall and (in parentheses) CPU time of all threads, and
the ratio peer / explorer in the same two measures (above 1: the explorer is faster), with the load
average before and after each table; for K-means also the explorer's GFLOP/s (2 N K D a pass)
and its 2-thread time over its 1-thread time. ``--busy`` holds one core with a spinning child
process for the whole run (a desktop's other job; issue 23: 2 threads no slower than 1). On a loaded machine the CPU ratio is the steadier figure on 1
thread; on 2 threads the wall ratio is the one that matters and the noisier. The targets are
issue 23's.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np
from _args import flags, options
from threadpoolctl import threadpool_limits

from explorer.data.types import TableData
from explorer.models.gmm import GaussianMixture as ExplorerGMM
from explorer.models.kmeans import KMeans, kmeans_plusplus

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers import sklearn_gmm_after  # noqa: E402  (the GMM tests' scikit-learn reference)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


@contextlib.contextmanager
def busy_core(on):
    """With ``on``, a child process spinning on a core for the duration (a desktop's other job);
    it is ended on the way out, whatever happens."""
    if not on:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
    try:
        yield
    finally:
        spinner.terminate()
        spinner.wait()


def table(X):
    return TableData(
        X=X, columns=[f"x{j}" for j in range(X.shape[1])], ids=np.arange(X.shape[0]).astype(str)
    )


def optional(name):
    try:
        return __import__(name)
    except Exception as e:  # noqa: BLE001 - a missing peer is skipped
        print(f"(no {name}: {type(e).__name__}: {e})")
        return None


class Threads:
    """Pin every library to ``n`` threads while in the ``with``."""

    def __init__(self, n, d4p, faiss):
        self.n, self.d4p, self.faiss = n, d4p, faiss

    def __enter__(self):
        numba.set_num_threads(min(self.n, numba.config.NUMBA_NUM_THREADS))
        self.limits = threadpool_limits(self.n)
        if self.d4p is not None:
            self.d4p.daalinit(self.n)
        if self.faiss is not None:
            self.faiss.omp_set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        self.limits.restore_original_limits()
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def per_iteration(fit, short=3, long=9):
    """(t(long) - t(short)) / (n_long - n_short) for ``fit(max_iterations)`` (seconds), where
    ``fit`` returns the number of iterations it ran (a fit may stop early: scikit-learn's
    K-means stops when no label changes)."""
    t0, c0 = time.perf_counter(), time.process_time()
    n1 = fit(short)
    t1, c1 = time.perf_counter(), time.process_time()
    n2 = fit(long)
    t2, c2 = time.perf_counter(), time.process_time()
    if n2 <= n1:
        return float("nan"), float("nan")
    return ((t2 - t1) - (t1 - t0)) / (n2 - n1), ((c2 - c1) - (c1 - c0)) / (n2 - n1)


# ---- K-means ------------------------------------------------------------------------------------


def timed_steps(step, n):
    """(wall, CPU) seconds of each of n calls."""
    out = []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        out.append((time.perf_counter() - t0, time.process_time() - c0))
    return np.array(out)


def explorer_kmeans(X, C0, steps=6):
    m = KMeans(K=len(C0), n_init=1)
    m.initialize(table(X), 0, centers=C0)
    return tuple(np.median(timed_steps(m.step, steps), axis=0))


def sklearn_api_runner(kmeans_class):
    """run(X, C0): per-iteration times of Lloyd from C0 by ``kmeans_class`` (scikit-learn's
    KMeans or a class with its API: sklearnex's)."""

    def run(X, C0):
        return per_iteration(
            lambda n: (
                kmeans_class(len(C0), init=C0, n_init=1, max_iter=n, tol=0.0, algorithm="lloyd")
                .fit(X)
                .n_iter_
            )
        )

    return run


def kmeans_peers(sk, skx, faiss):
    out = {}
    if sk is not None:
        from sklearn.cluster import KMeans as SK

        out["scikit-learn"] = sklearn_api_runner(SK)
    if skx is not None:
        from sklearnex.cluster import KMeans as SKX

        out["sklearnex"] = sklearn_api_runner(SKX)
    if faiss is not None:

        def run_f(X, C0):
            X32 = np.ascontiguousarray(X, dtype=np.float32)
            C32 = np.ascontiguousarray(C0, dtype=np.float32)

            def fit(n):
                km = faiss.Kmeans(
                    X.shape[1],
                    len(C0),
                    niter=n,
                    max_points_per_centroid=10**9,
                    seed=0,
                    verbose=False,
                )
                km.train(X32, init_centroids=C32)
                return n

            return per_iteration(fit)

        out["faiss-cpu"] = run_f
    return out


def bench_kmeans(args, sk, skx, faiss, d4p):
    rng = np.random.default_rng(0)
    N, D, K = args.kmeans_n, args.kmeans_d, args.kmeans_k
    centres = rng.normal(scale=1.0, size=(K, D))  # overlapping: no fit converges early
    X64 = centres[rng.integers(K, size=N)] + rng.normal(size=(N, D))
    C0 = kmeans_plusplus(X64, K, np.random.default_rng(1))
    peers = kmeans_peers(sk, skx, faiss)
    data = {"float64": X64, "float32": X64.astype(np.float32)}
    explorer_kmeans(data["float32"][:60_000], C0, 2)  # compile outside the timings
    explorer_kmeans(data["float64"][:60_000], C0, 2)
    res: dict[tuple, list[float]] = {}
    print(f"\n## K-means {N:,} x {D}, K = {K}, per Lloyd iteration (load {loadavg()})")
    for _ in range(args.rounds):
        for threads in args.threads:
            with Threads(threads, d4p, faiss):
                for dtype, X in data.items():
                    res.setdefault((threads, dtype, "explorer"), []).append(explorer_kmeans(X, C0))
                    for name, run in peers.items():
                        res.setdefault((threads, dtype, name), []).append(run(X, C0))
    names = list(peers)
    print("| threads | dtype | explorer ms wall (CPU) | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for threads in args.threads:
        for dtype in data:
            print(f"| {threads} | {dtype} | " + ratio_cells(res, (threads, dtype), names) + " |")
    flop = 2.0 * N * K * D
    for threads in args.threads:
        for dtype in data:
            wall = np.nanmedian(np.array(res[(threads, dtype, "explorer")])[:, 0])
            print(
                f"- {threads} thread(s), {dtype}: {flop / wall / 1e9:.1f} GFLOP/s wall "
                f"(2 N K D = {flop / 1e9:.2f} GFLOP a pass)"
            )
    if 1 in args.threads and len(args.threads) > 1:
        for threads in args.threads[1:]:
            for dtype in data:
                one = np.nanmedian(np.array(res[(1, dtype, "explorer")])[:, 0])
                many = np.nanmedian(np.array(res[(threads, dtype, "explorer")])[:, 0])
                print(f"- explorer {dtype}, {threads} threads / 1 thread, wall: {many / one:.2f}")
    print(f"(load at end {loadavg()})")


def ratio_cells(res, key, names, ours_key="explorer"):
    """'ours wall (CPU) | ratio ...' cells: medians over rounds; a ratio is peer / explorer, in
    wall time and, in parentheses, CPU time (all threads: the fair figure on 1 thread when the
    machine is loaded)."""
    ours = np.nanmedian(np.array(res[key + (ours_key,)]), axis=0)
    cells = [f"{ours[0] * 1e3:.1f} ({ours[1] * 1e3:.1f})"]
    for n in names:
        peer = np.nanmedian(np.array(res[key + (n,)]), axis=0)
        cells.append(f"{peer[0] / ours[0]:.2f} ({peer[1] / ours[1]:.2f})")
    return " | ".join(cells)


# ---- K-means to convergence ---------------------------------------------------------------------


def timed(fn, *args):
    """(result, wall seconds, CPU seconds of all threads) of fn(*args)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - t0, time.process_time() - c0


def bench_kmeans_fit(args, sk, skx, d4p):
    """Whole fits at each library's defaults with n_init = 1 (its own k-means++ seeding, its own
    stopping rule), on make_blobs data, one seed after another, the libraries alternated."""
    from sklearn.datasets import make_blobs

    from explorer.models._canonical import canonical_row_order
    from explorer.models._centre_kernels import plusplus
    from explorer.sklearn import KMeans as ExplorerKMeans

    N, D, K = args.kmeans_n, args.kmeans_d, args.kmeans_k
    X, _ = make_blobs(n_samples=N, n_features=D, centers=K, random_state=0)
    fits = {"explorer": lambda seed: ExplorerKMeans(n_clusters=K, n_init=1, random_state=seed)}
    if skx is not None:
        from sklearnex.cluster import KMeans as SKX

        fits["sklearnex"] = lambda seed: SKX(n_clusters=K, n_init=1, random_state=seed)
    if sk is not None and args.fit_sklearn:
        from sklearn.cluster import KMeans as SK

        fits["scikit-learn"] = lambda seed: SK(n_clusters=K, n_init=1, random_state=seed)
    warm = X[:120_000]  # the lean seeding and the parallel step compile
    for make in fits.values():
        make(0).fit(warm)
    seeds = [int(s) for s in args.fit_seeds.split(",")]
    order = canonical_row_order(X)  # for the seeding alone, as the fit draws it
    threads = args.fit_threads
    print(
        f"\n## K-means to convergence, make_blobs {N:,} x {D}, K = {K} centres, n_init = 1, "
        f"each library's defaults and seeding, {threads} thread(s) (load {loadavg()})"
    )
    rows = []
    with Threads(threads, d4p, None):
        for _ in range(args.rounds):
            for seed in seeds:
                row = {"seed": seed}
                for name, make in fits.items():
                    est, wall, cpu = timed(make(seed).fit, X)
                    row[name] = (wall, cpu, int(est.n_iter_), float(est.inertia_))
                _, wall, cpu = timed(
                    plusplus, X, K, np.random.default_rng(seed), "sqeuclidean", order
                )
                row["seeding"] = (wall, cpu)
                rows.append(row)
    names = list(fits)
    print(
        "| seed | "
        + " | ".join(f"{n} s wall (CPU), iterations, inertia" for n in names)
        + " | explorer seeding s | "
        + " | ".join(f"{n} / explorer wall (CPU)" for n in names[1:])
        + " | "
        + " | ".join(f"inertia {n} / explorer" for n in names[1:])
        + " |"
    )
    print("|---|" + "---|" * (2 * len(names)))
    for row in rows:
        ex = row["explorer"]
        cells = [f"{row[n][0]:.2f} ({row[n][1]:.2f}), {row[n][2]}, {row[n][3]:.6e}" for n in names]
        cells.append(f"{row['seeding'][0]:.2f} ({row['seeding'][1]:.2f})")
        cells += [f"{row[n][0] / ex[0]:.2f} ({row[n][1] / ex[1]:.2f})" for n in names[1:]]
        cells += [f"{row[n][3] / ex[3]:.6f}" for n in names[1:]]
        print(f"| {row['seed']} | " + " | ".join(cells) + " |")
    for n in names[1:]:
        wall = np.array([r[n][0] / r["explorer"][0] for r in rows])
        inertia = np.array([r[n][3] / r["explorer"][3] for r in rows])
        print(
            f"- {n} / explorer, whole fit wall: median {np.median(wall):.2f} "
            f"(range {wall.min():.2f}-{wall.max():.2f}); explorer no slower in "
            f"{int(np.sum(wall >= 1.0))} of {len(rows)} fits; inertia {n} / explorer: median "
            f"{np.median(inertia):.4f}, explorer's at most {n}'s (1e-6 relative) in "
            f"{int(np.sum(inertia >= 1.0 - 1e-6))} of {len(rows)}"
        )
    print(f"(load at end {loadavg()})")


# ---- Gaussian mixture --------------------------------------------------------------------------


def bench_gmm(args, sk, d4p):
    rng = np.random.default_rng(0)
    N, D, K = args.gmm_n, args.gmm_d, args.gmm_k
    centres = rng.normal(scale=2.0, size=(K, D))
    A = rng.normal(scale=0.5, size=(K, D, D)) + np.eye(D)
    z = rng.integers(0, K, N)
    X = centres[z] + np.einsum("nij,nj->ni", A[z], rng.normal(size=(N, D)))
    mu0 = kmeans_plusplus(X, K, np.random.default_rng(1))
    w0 = np.full(K, 1.0 / K)
    cov0 = np.broadcast_to(np.cov(X.T), (K, D, D)).copy()
    P0 = np.linalg.inv(cov0)

    def ours(n_steps=21):
        m = ExplorerGMM(K=K)
        m.initialize(table(X), 0, weights=w0, means=mu0, precisions=P0)
        ts = timed_steps(m.step, n_steps)
        return np.median(ts[1:4], axis=0), np.median(ts[18:21], axis=0)

    peers = {}
    if sk is not None:

        def run_sk():
            return per_iteration(lambda n: sklearn_gmm_after(X, w0, mu0, P0, n).n_iter_)

        peers["scikit-learn"] = run_sk
    if d4p is not None:

        def run_d4p():
            def fit(n):
                r = d4p.em_gmm(nComponents=K, maxIterations=n, accuracyThreshold=0.0).compute(
                    X, w0[None, :], mu0, [c for c in cov0]
                )
                return int(np.asarray(r.nIterations).ravel()[0])

            return per_iteration(fit)

        peers["daal4py em_gmm"] = run_d4p
    m = ExplorerGMM(K=K)  # compile outside the timings
    m.initialize(table(X[:5000]), 0, weights=w0, means=mu0, precisions=P0)
    m.step()
    res: dict[tuple, list] = {}
    print(
        f"\n## Gaussian mixture {N:,} x {D}, K = {K}, full covariances, per EM iteration "
        f"(load {loadavg()})"
    )
    for _ in range(args.rounds):
        for threads in args.threads:
            with Threads(threads, d4p, None):
                res.setdefault((threads, "explorer"), []).append(ours())
                for name, run in peers.items():
                    res.setdefault((threads, name), []).append(run())
    names = list(peers)
    print(
        "| threads | explorer ms at iteration 2, wall (CPU) | at iteration 20 | "
        + " | ".join(names)
        + " |"
    )
    print("|---|---|---|" + "---|" * len(names))
    for threads in args.threads:
        ex = np.array(res[(threads, "explorer")])  # rounds x (it2, it20) x (wall, cpu)
        it2 = np.nanmedian(ex[:, 0], axis=0)
        res[(threads, "it20")] = list(ex[:, 1])
        print(
            f"| {threads} | {it2[0] * 1e3:.1f} ({it2[1] * 1e3:.1f}) | "
            + ratio_cells(res, (threads,), names, ours_key="it20")
            + " |"
        )
    print(f"(ratios against the explorer's iteration-20 step; load at end {loadavg()})")


def main() -> None:
    ap = options(
        __doc__,
        rounds=3,
        threads="1,2",
        fit_threads=2,
        kmeans_n=1_000_000,
        kmeans_d=16,
        kmeans_k=50,
        gmm_n=200_000,
        gmm_d=8,
        gmm_k=10,
    )
    ap.add_argument(
        "--only",
        default="kmeans,fit,gmm",
        help="kmeans (per iteration), fit (K-means to convergence), gmm",
    )
    ap.add_argument(
        "--fit-seeds", default="0,1,2,3,4", help="the seeds of the K-means fits to convergence"
    )
    ap.add_argument(
        "--peers",
        default="sklearn,sklearnex,daal4py,faiss",
        help="the peers to run (a subset of the default)",
    )
    flags(
        ap,
        fit_sklearn="also scikit-learn's KMeans in the fits to convergence",
        busy="hold one core with a spinning child process during the tables",
    )
    args = ap.parse_args()
    args.threads = [int(t) for t in args.threads.split(",")]
    peers = args.peers.split(",")
    sk = optional("sklearn") if "sklearn" in peers else None
    skx = optional("sklearnex") if "sklearnex" in peers else None
    d4p = optional("daal4py") if "daal4py" in peers or "sklearnex" in peers else None
    faiss = optional("faiss") if "faiss" in peers else None
    versions = {
        m.__name__: getattr(m, "__version__", "?") for m in (sk, skx, d4p, faiss) if m is not None
    }
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs; numba {numba.__version__} layer "
        f"{numba.config.THREADING_LAYER}; {versions}"
    )
    only = args.only.split(",")
    with busy_core(args.busy):
        if args.busy:
            print("(one core held by a spinning process)")
        if "kmeans" in only:
            bench_kmeans(args, sk, skx, faiss, d4p)
        if "fit" in only:
            bench_kmeans_fit(args, sk, skx, d4p)
        if "gmm" in only:
            bench_gmm(args, sk, d4p)


if __name__ == "__main__":
    main()
