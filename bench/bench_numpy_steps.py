"""Every table model's step against plain numpy doing the same equations, idle and with a busy core.

Run by hand (not part of the test suite)::

    .venv/bin/python bench/bench_numpy_steps.py [--n 100000] [--d 32] [--k 10] [--steps 8]
        [--rounds 3] [--phases idle,busy] [--models kmeans,gmm,...] [--cases]

For each table model (kmeans, kmedians, fuzzy-cmeans, gmm, bayes-gmm, bernoulli-mixture,
exponential-mixture) on an N x D table (Gaussian blobs; thresholded at 0 for the Bernoulli
mixture, their absolute values for the exponential one), K components:

* explorer: the median wall time of one ``step()`` from a k-means++ start;
* numpy: one step of the same updates written with numpy (matrix products for the distances and
  the statistics, a log-sum-exp over components), from the same parameters: the yardstick a
  reader would write in an afternoon. Its BLAS threads are pinned to the same count
  (threadpoolctl) as numba's.

Each is timed on 1 and on 2 threads, the two settings and the two implementations alternated
round by round (``--rounds``), so a change in the machine's load hits them alike; medians over
every step of every round. Phase ``busy`` starts one process spinning on the last core (pinned
with ``sched_setaffinity``; it dies with this one) for the whole phase: what a desktop with
something else running looks like. The targets (issue 23): the explorer faster than numpy for every
model in both phases, and its 2-thread step no slower than its 1-thread step under a busy core.

``--cases`` adds the issue's own busy-core cases (explorer only, 1 against 2 threads): the
Bernoulli mixture on ``sample_data/digits_binary.csv`` (K = 10), gmm and kmeans on iris and Old
Faithful (K = 3 and 2), kmeans and gmm on 200,000 x 8 (K = 10).

The load average is printed at the start and end of every phase: on a shared machine a figure
means little without it.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from explorer.data.types import TableData
from explorer.models import get_model
from explorer.models.kmeans import kmeans_plusplus

ROOT = Path(__file__).resolve().parent.parent


def table(X: np.ndarray) -> TableData:
    return TableData(
        X=X, columns=[f"x{j}" for j in range(X.shape[1])], ids=np.arange(X.shape[0]).astype(str)
    )


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


# ---- numpy versions of the steps ----------------------------------------------------------------


def _softmax_rows(lp: np.ndarray) -> tuple[np.ndarray, float]:
    m = lp.max(axis=1, keepdims=True)
    e = np.exp(lp - m)
    s = e.sum(axis=1, keepdims=True)
    return e / s, float((m[:, 0] + np.log(s[:, 0])).sum())


def _sq_dist(X, xx, C):
    return xx[:, None] - 2.0 * (X @ C.T) + (C * C).sum(axis=1)[None, :]


class NumpyKMeans:
    """Lloyd: assignment by ||x||^2 - 2 x.c + ||c||^2, centres = means (one-hot product)."""

    def __init__(self, X, C):
        self.X, self.C, self.xx = X, C.copy(), (X * X).sum(axis=1)

    def step(self):
        d = _sq_dist(self.X, self.xx, self.C)
        z = d.argmin(axis=1)
        K = len(self.C)
        onehot = np.zeros((len(z), K))
        onehot[np.arange(len(z)), z] = 1.0
        n = onehot.sum(axis=0)
        keep = n > 0
        self.C[keep] = (onehot.T @ self.X)[keep] / n[keep, None]
        return float(d[np.arange(len(z)), z].sum())


class NumpyKMedians:
    """L1 assignment, coordinate-wise medians of each cluster."""

    def __init__(self, X, C):
        self.X, self.C = X, C.copy()

    def step(self):
        d = np.abs(self.X[:, None, :] - self.C[None, :, :]).sum(axis=2)
        z = d.argmin(axis=1)
        for k in range(len(self.C)):
            rows = self.X[z == k]
            if len(rows):
                self.C[k] = np.median(rows, axis=0)
        return float(d[np.arange(len(z)), z].sum())


class NumpyFuzzy:
    """Fuzzy c-means, m = 2: u_ik = 1 / sum_j (d_ik / d_ij), centres = (u^2)^T X / sum u^2."""

    def __init__(self, X, C):
        self.X, self.C, self.xx = X, C.copy(), (X * X).sum(axis=1)

    def step(self):
        d = np.maximum(_sq_dist(self.X, self.xx, self.C), 1e-300)
        inv = 1.0 / d
        u = inv / inv.sum(axis=1, keepdims=True)
        w = u * u
        self.C = (w.T @ self.X) / w.sum(axis=0)[:, None]
        return float((w * d).sum())


class NumpyGMM:
    """EM with full covariances through the precision Cholesky factors (scikit-learn's way)."""

    def __init__(self, X, C, reg=1e-6):
        N, D = X.shape
        K = len(C)
        self.X, self.reg = X, reg
        self.w = np.full(K, 1.0 / K)
        self.mu = C.copy()
        self.U = np.broadcast_to(np.linalg.cholesky(np.linalg.inv(np.cov(X.T))), (K, D, D)).copy()

    def step(self):
        X, K, D = self.X, len(self.w), self.X.shape[1]
        lp = np.empty((len(X), K))
        for k in range(K):
            y = (X - self.mu[k]) @ self.U[k]
            lp[:, k] = (
                np.log(self.w[k])
                + np.log(np.diag(self.U[k])).sum()
                - 0.5 * D * np.log(2 * np.pi)
                - 0.5 * (y * y).sum(axis=1)
            )
        r, ll = _softmax_rows(lp)
        nk = r.sum(axis=0) + 1e-15
        self.w = nk / nk.sum()
        self.mu = (r.T @ X) / nk[:, None]
        for k in range(K):
            diff = X - self.mu[k]
            cov = (r[:, k] * diff.T) @ diff / nk[k] + self.reg * np.eye(D)
            L = np.linalg.cholesky(cov)
            self.U[k] = np.linalg.solve(L, np.eye(D)).T
        return ll


class NumpyBayesGMM:
    """CAVI: phi_ik by softmax of x.m_k - (D s2_k + ||m_k||^2) / 2; s2_k, m_k from sum phi."""

    def __init__(self, X, C, sigma2=10.0):
        self.X, self.m, self.s2, self.sigma2 = X, C.copy(), np.ones(len(C)), sigma2

    def step(self):
        X, D = self.X, self.X.shape[1]
        lp = X @ self.m.T - 0.5 * (D * self.s2 + (self.m * self.m).sum(axis=1))[None, :]
        phi, lse = _softmax_rows(lp)
        nk = phi.sum(axis=0)
        self.s2 = 1.0 / (1.0 / self.sigma2 + nk)
        self.m = self.s2[:, None] * (phi.T @ X)
        return lse


class NumpyBernoulli:
    """EM: log pi_k + X log theta^T + (1 - X) log(1 - theta)^T, softmax, MAP theta (a = b = 2)."""

    def __init__(self, X, C):
        self.X = X
        self.theta = np.clip(0.5 * (C + X.mean(axis=0)), 0.05, 0.95)
        self.w = np.full(len(C), 1.0 / len(C))

    def step(self):
        X, t = self.X, self.theta
        lp = np.log(self.w) + X @ np.log(t).T + (1.0 - X) @ np.log1p(-t).T
        r, ll = _softmax_rows(lp)
        nk = r.sum(axis=0)
        self.theta = (r.T @ X + 1.0) / (nk[:, None] + 2.0)
        self.w = nk / nk.sum()
        return ll


class NumpyExponential:
    """EM: log pi_k + sum_d log rate_kd - X rate_k^T, softmax, rate = N_k / sum r x."""

    def __init__(self, X, C):
        self.X = X
        self.rates = 1.0 / np.maximum(C, 1e-3)
        self.w = np.full(len(C), 1.0 / len(C))

    def step(self):
        X = self.X
        lp = np.log(self.w) + np.log(self.rates).sum(axis=1) - X @ self.rates.T
        r, ll = _softmax_rows(lp)
        nk = r.sum(axis=0)
        self.rates = nk[:, None] / np.maximum(r.T @ X, 1e-300)
        self.w = nk / nk.sum()
        return ll


MODELS = {
    "kmeans": ({"K": None, "n_init": 1}, NumpyKMeans, "blobs"),
    "kmedians": ({"K": None, "n_init": 1}, NumpyKMedians, "blobs"),
    "fuzzy-cmeans": ({"K": None, "n_init": 1}, NumpyFuzzy, "blobs"),
    "gmm": ({"K": None, "n_init": 1, "init": "k-means++"}, NumpyGMM, "blobs"),
    "bayes-gmm": ({"K": None, "n_init": 1}, NumpyBayesGMM, "blobs"),
    "bernoulli-mixture": ({"K": None, "n_init": 1}, NumpyBernoulli, "binary"),
    "exponential-mixture": ({"K": None, "n_init": 1}, NumpyExponential, "positive"),
}


def make_table(n, d, k, kind, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(k, d))
    X = centres[rng.integers(k, size=n)] + rng.normal(size=(n, d))
    if kind == "binary":
        return (X > 0).astype(np.float64)
    if kind == "positive":
        return np.abs(X)
    return X


# ---- timing ---------------------------------------------------------------------------------------


def time_steps(step, n) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        step()
        out.append(time.perf_counter() - t0)
    return out


def explorer_model(model_id, X, hp):
    m = get_model(model_id)(**hp)
    m.initialize(table(X), 0)
    return m


def compare(model_id, X, K, steps, rounds, with_numpy=True):
    """{(impl, threads): median seconds a step}; explorer and numpy alternated per round."""
    hp = {key: (K if v is None else v) for key, v in MODELS[model_id][0].items()}
    times: dict[tuple[str, int], list[float]] = {}
    models = {}
    for threads in (1, 2):
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        models[("explorer", threads)] = explorer_model(model_id, X, hp)
        models[("explorer", threads)].step()  # compiled, caches warm
        if with_numpy:
            C = kmeans_plusplus(X, K, np.random.default_rng(0))
            models[("numpy", threads)] = MODELS[model_id][1](X, C)
            with threadpool_limits(threads):
                models[("numpy", threads)].step()
    for _ in range(rounds):
        for (impl, threads), m in models.items():
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            with threadpool_limits(threads):
                times.setdefault((impl, threads), []).extend(time_steps(m.step, steps))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    return {key: float(np.median(v)) for key, v in times.items()}


# ---- the busy core ----------------------------------------------------------------------------


def _die_with_parent_and_pin(cpu):
    def setup():
        os.sched_setaffinity(0, {cpu})
        try:
            libc = ctypes.CDLL(None)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: killed if we die
        except (OSError, AttributeError):
            pass

    return setup


class BusyCore:
    """A process spinning on the last core for the duration of the ``with``."""

    def __enter__(self):
        cpu = max(os.sched_getaffinity(0))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "while True: pass"], preexec_fn=_die_with_parent_and_pin(cpu)
        )
        time.sleep(0.3)
        self.cpu = cpu
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def fmt(x):
    return f"{x * 1e3:8.2f}"


def run_phase(phase, args, model_ids):
    print(f"\n## {phase}  (load average at start: {loadavg()})")
    print(
        f"{'model':22s} {'numpy 1t':>8s} {'ours 1t':>8s} {'numpy 2t':>8s} {'ours 2t':>8s} "
        f"{'x 1t':>6s} {'x 2t':>6s} {'2t/1t':>6s}   (ms a step; x = numpy / ours)"
    )
    for mid in model_ids:
        kind = MODELS[mid][2]
        X = make_table(args.n, args.d, args.k, kind)
        r = compare(mid, X, args.k, args.steps, args.rounds)
        print(
            f"{mid:22s} {fmt(r[('numpy', 1)])} {fmt(r[('explorer', 1)])} "
            f"{fmt(r[('numpy', 2)])} {fmt(r[('explorer', 2)])} "
            f"{r[('numpy', 1)] / r[('explorer', 1)]:6.2f} "
            f"{r[('numpy', 2)] / r[('explorer', 2)]:6.2f} "
            f"{r[('explorer', 2)] / r[('explorer', 1)]:6.2f}",
            flush=True,
        )
    if args.cases:
        print(f"\n{'case (explorer only)':40s} {'1 thread':>9s} {'2 threads':>9s} {'2t/1t':>6s}")
        for name, mid, X, K in issue_cases():
            r = compare(mid, X, K, max(args.steps, 20), args.rounds, with_numpy=False)
            print(
                f"{name:40s} {fmt(r[('explorer', 1)])}  {fmt(r[('explorer', 2)])} "
                f"{r[('explorer', 2)] / r[('explorer', 1)]:6.2f}",
                flush=True,
            )
    print(f"(load average at end: {loadavg()})")


def _csv(path, drop_last=False):
    with open(path) as f:
        header = f.readline().strip().split(",")
    cols = [j for j, h in enumerate(header) if not (drop_last and j == len(header) - 1)]
    return np.loadtxt(path, delimiter=",", skiprows=1, usecols=cols, ndmin=2)


def issue_cases():
    data = ROOT / "sample_data"
    digits = _csv(data / "digits_binary.csv", drop_last=True)
    iris = _csv(data / "iris.csv", drop_last=True)
    faithful = _csv(data / "old_faithful.csv")
    big = make_table(200_000, 8, 10, "blobs")
    return [
        ("bernoulli-mixture digits 1797x64 K=10", "bernoulli-mixture", digits, 10),
        ("gmm iris K=3", "gmm", iris, 3),
        ("kmeans iris K=3", "kmeans", iris, 3),
        ("gmm old faithful K=2", "gmm", faithful, 2),
        ("kmeans old faithful K=2", "kmeans", faithful, 2),
        ("kmeans 200000x8 K=10", "kmeans", big, 10),
        ("gmm 200000x8 K=10", "gmm", big, 10),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--steps", type=int, default=8, help="steps per round and setting")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--phases", default="idle,busy")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--cases", action="store_true", help="add the issue's busy-core cases")
    args = ap.parse_args()
    model_ids = [m for m in args.models.split(",") if m]
    explorer_model("kmeans", make_table(60_000, 2, 2, "blobs"), {"K": 2, "n_init": 1}).step()
    print(
        f"N={args.n} D={args.d} K={args.k}; numba {numba.__version__}, "
        f"{numba.config.NUMBA_NUM_THREADS} threads, layer {numba.threading_layer()}, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; {os.cpu_count()} CPUs; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    for phase in args.phases.split(","):
        if phase == "busy":
            with BusyCore() as busy:
                print(f"(a process spins on CPU {busy.cpu})")
                run_phase(phase, args, model_ids)
        else:
            run_phase(phase, args, model_ids)


if __name__ == "__main__":
    main()
