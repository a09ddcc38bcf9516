"""explorer.sklearn.GaussianMixture against scikit-learn's GaussianMixture: the same ``fit`` call.

Run by hand (not part of the test suite)::

    .venv/bin/python bench/bench_sklearn.py [--n 200000] [--d 8] [--k 10] [--iters 30] [--rounds 5]

Data: N rows from K overlapping Gaussian blobs with random covariances (bench_gmm.py's generator),
so EM does not converge within ``--iters`` iterations. Both estimators get the same constructor
arguments, ``GaussianMixture(K, weights_init=w0, means_init=mu0, precisions_init=P0,
reg_covar=1e-6, max_iter=iters, tol=0)``, and the same call ``est.fit(X)``: each does its own
input validation, initialisation from the given parameters, ``iters`` EM iterations and its
bookkeeping (scikit-learn a final E-step, the explorer the runner's trace). Wall time of the whole
``fit``, in rounds that alternate the two (the machine is shared: a slow spell hits both). Each fit
runs in a fresh process of its own after a warm-up fit on a small table there (numba loads or
compiles its kernels; scikit-learn its BLAS), so neither library's threads (numba's OpenMP pool,
OpenBLAS's) are left running beside the other's fit. Printed: every round, the medians and their
ratio (scikit-learn / explorer, > 1: the explorer is faster), and the largest relative difference of
the fitted means (the same EM from the same start: ~1e-13).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numba
import numpy as np
from _args import options
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGMM

import explorer.sklearn
from explorer.models.kmeans import kmeans_plusplus


def make_data(n, d, k, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(k, d))
    A = rng.normal(scale=0.5, size=(k, d, d)) + np.eye(d)
    z = rng.integers(0, k, n)
    return np.ascontiguousarray(centres[z] + np.einsum("nij,nj->ni", A[z], rng.normal(size=(n, d))))


def timed_fit(cls, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0 never "converges"
        est = cls(**kw)
        t = time.perf_counter()
        est.fit(X)
        return time.perf_counter() - t, est


def setup(args):
    """The data and the constructor arguments both estimators get."""
    N, D, K = args.n, args.d, args.k
    X = make_data(N, D, K)
    mu0 = kmeans_plusplus(X, K, np.random.default_rng(1))
    w0 = np.full(K, 1.0 / K)
    P0 = np.broadcast_to(np.linalg.inv(np.cov(X.T)), (K, D, D)).copy()
    same = dict(
        n_components=K,
        weights_init=w0,
        means_init=mu0,
        precisions_init=P0,
        reg_covar=1e-6,
        max_iter=args.iters,
        tol=0.0,
    )
    return X, same


ESTIMATORS = {"explorer": explorer.sklearn.GaussianMixture, "sklearn": SkGMM}


def one_fit(args):
    """(In a child process) warm up, time one fit, write the time, n_iter_ and means_."""
    X, same = setup(args)
    cls = ESTIMATORS[args.one]
    timed_fit(cls, X[:5000], **same)  # warm-up: numba loads its kernels, BLAS starts
    seconds, est = timed_fit(cls, X, **same)
    np.savez(args.out, seconds=seconds, n_iter=est.n_iter_, means=est.means_)


def run_child(args, which, out):
    cmd = [
        sys.executable,
        __file__,
        "--one",
        which,
        "--out",
        out,
        "--n",
        str(args.n),
        "--d",
        str(args.d),
        "--k",
        str(args.k),
        "--iters",
        str(args.iters),
    ]
    subprocess.run(cmd, check=True)
    with np.load(out) as f:
        return float(f["seconds"]), int(f["n_iter"]), f["means"].copy()


def main():
    ap = options(__doc__, n=200_000, d=8, k=10, iters=30, rounds=5)
    ap.add_argument("--one", choices=tuple(ESTIMATORS), help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        return one_fit(args)

    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(
            f"{i['internal_api']} {i.get('architecture', '')} {i['num_threads']} threads"
            for i in threadpool_info()
        )
    except ImportError:
        blas = "?"
    print(
        f"N={args.n} D={args.d} K={args.k} iters={args.iters} rounds={args.rounds} "
        f"numba threads={numba.get_num_threads()} BLAS: {blas} OPENBLAS_CORETYPE="
        f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')} load average "
        f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}",
        flush=True,
    )

    times = {"explorer": [], "sklearn": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = ("explorer", "sklearn") if r % 2 == 0 else ("sklearn", "explorer")
            got = {w: run_child(args, w, os.path.join(tmp, f"{w}.npz")) for w in order}
            (t_ours, it_ours, m_ours), (t_sk, it_sk, m_sk) = got["explorer"], got["sklearn"]
            times["explorer"].append(t_ours)
            times["sklearn"].append(t_sk)
            rel = float(np.max(np.abs(m_ours - m_sk) / np.maximum(np.abs(m_sk), 1e-12)))
            print(
                f"round {r + 1}: explorer.sklearn {t_ours:7.3f} s ({it_ours} iterations) | "
                f"sklearn {t_sk:7.3f} s ({it_sk} iterations) | ratio {t_sk / t_ours:5.1f}x | "
                f"max rel diff of means {rel:.1e} | load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    m_ours, m_sk = statistics.median(times["explorer"]), statistics.median(times["sklearn"])
    print(
        f"median fit: explorer.sklearn.GaussianMixture {m_ours:.3f} s, "
        f"sklearn.mixture.GaussianMixture {m_sk:.3f} s, ratio {m_sk / m_ours:.1f}x"
    )


if __name__ == "__main__":
    main()
