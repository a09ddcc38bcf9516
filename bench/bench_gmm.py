"""Per-iteration time of explorer's ``gmm`` (and ``bayes-gmm``) against scikit-learn.

Run by hand (not part of the test suite)::

    .venv/bin/python bench/bench_gmm.py [--n 200000] [--d 8] [--k 10] [--iters 20] [--repeat 2]

Data: N rows from a mixture of K overlapping Gaussian blobs with random covariances, so that EM
does not converge within ``--iters`` iterations. Both implementations start from the same
weights, means (k-means++ points) and precisions (the inverse of the pooled covariance); numba
kernels are compiled by a warm-up on a small table before timing.

* explorer ``gmm``: median wall time of one ``step()`` (M-step plus the fused E-step/statistics
  pass that also gives the log-likelihood).
* scikit-learn ``GaussianMixture(covariance_type="full", tol=0)``: per-iteration time as the
  difference of two fits, ``(t(iters) - t(iters // 3)) / (iters - iters // 3)``, so per-fit
  overhead (validation, the final E-step) does not count against it. Best of ``--repeat``.
* The printed ratio is sklearn / explorer (> 1: explorer is faster). After the same number of
  iterations both must hold the same means (the relative difference is printed).
* For context only: explorer ``bayes-gmm`` (CAVI, unit observation variance) per step, next to
  scikit-learn's ``BayesianGaussianMixture(covariance_type="full")`` per iteration, a richer
  model (Wishart covariances, Dirichlet weights) that does more work per iteration.
"""

from __future__ import annotations

import time
import warnings

import numba
import numpy as np
from _args import options
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

from explorer.data.types import TableData
from explorer.models.bayes_gmm import BayesianGMM
from explorer.models.gmm import GaussianMixture as ExplorerGMM
from explorer.models.kmeans import kmeans_plusplus


def make_data(n, d, k, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(k, d))
    A = rng.normal(scale=0.5, size=(k, d, d)) + np.eye(d)
    z = rng.integers(0, k, n)
    X = centres[z] + np.einsum("nij,nj->ni", A[z], rng.normal(size=(n, d)))
    return np.ascontiguousarray(X)


def table(X):
    return TableData(
        X=X, columns=[f"x{j}" for j in range(X.shape[1])], ids=np.arange(len(X)).astype(str)
    )


def explorer_gmm(data, K, w0, mu0, P0, iters):
    m = ExplorerGMM(K=K)
    m.initialize(data, 0, weights=w0, means=mu0, precisions=P0)
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        m.step()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), m


def sklearn_fit(cls, X, iters, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t = time.perf_counter()
        est = cls(max_iter=iters, tol=0, **kw).fit(X)
        return time.perf_counter() - t, est


def sklearn_per_iter(cls, X, iters, repeat, **kw):
    n1 = max(1, iters // 3)
    best_diff, best_plain, est = np.inf, np.inf, None
    for _ in range(repeat):
        t1, _ = sklearn_fit(cls, X, n1, **kw)
        t2, est = sklearn_fit(cls, X, iters, **kw)
        best_diff = min(best_diff, (t2 - t1) / (iters - n1))
        best_plain = min(best_plain, t2 / iters)
    return best_diff, best_plain, est


def main():
    args = options(__doc__, n=200_000, d=8, k=10, iters=20, repeat=2).parse_args()
    N, D, K, iters = args.n, args.d, args.k, args.iters

    X = make_data(N, D, K)
    data = table(X)
    rng = np.random.default_rng(1)
    mu0 = kmeans_plusplus(X, K, rng)
    w0 = np.full(K, 1.0 / K)
    P0 = np.broadcast_to(np.linalg.inv(np.cov(X.T)), (K, D, D)).copy()

    # warm-up: compile every kernel on a small table
    small = table(X[:5000])
    explorer_gmm(small, K, w0, mu0, P0, 3)
    warm = BayesianGMM(K=K)
    warm.initialize(small, 0)
    warm.step()

    print(
        f"N={N} D={D} K={K} iters={iters} numba threads={numba.get_num_threads()} "
        f"layer={numba.threading_layer()}"
    )

    ours = min(explorer_gmm(data, K, w0, mu0, P0, iters)[0] for _ in range(args.repeat))
    _, model = explorer_gmm(data, K, w0, mu0, P0, iters)
    sk_diff, sk_plain, sk = sklearn_per_iter(
        GaussianMixture,
        X,
        iters,
        args.repeat,
        n_components=K,
        covariance_type="full",
        weights_init=w0,
        means_init=mu0,
        precisions_init=P0,
        reg_covar=1e-6,
        init_params="random",
        random_state=0,
    )
    rel = np.max(np.abs(model.means - sk.means_) / np.maximum(np.abs(sk.means_), 1e-12))
    print(
        f"gmm       explorer {ours * 1e3:8.1f} ms/iter | sklearn GaussianMixture "
        f"{sk_diff * 1e3:8.1f} ms/iter (fit/iters {sk_plain * 1e3:.1f}) | "
        f"ratio {sk_diff / ours:5.1f}x (fit/iters: {sk_plain / ours:.1f}x) | "
        f"max rel diff of means after {iters} iters {rel:.1e}"
    )

    bg = BayesianGMM(K=K, sigma2=10.0)
    bg.initialize(data, 0)
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        bg.step()
        times.append(time.perf_counter() - t)
    ours_b = float(np.median(times))
    skb_diff, skb_plain, _ = sklearn_per_iter(
        BayesianGaussianMixture,
        X,
        max(6, iters // 2),
        1,
        n_components=K,
        covariance_type="full",
        init_params="random",
        random_state=0,
    )
    print(
        f"bayes-gmm explorer {ours_b * 1e3:8.1f} ms/iter | sklearn BayesianGaussianMixture "
        f"{skb_diff * 1e3:8.1f} ms/iter (fit/iters {skb_plain * 1e3:.1f}) | ratio "
        f"{skb_diff / ours_b:5.1f}x (context only: different, richer model)"
    )


if __name__ == "__main__":
    main()
