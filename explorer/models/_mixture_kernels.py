"""Small pieces shared by the mixture models (gmm, bernoulli-mixture, exponential-mixture, bayes-gmm).

* :func:`normalize_log_row`: responsibilities from one row of unnormalised log-probabilities by
  log-sum-exp (never ``exp`` of an unbounded value); returns the row's log normaliser.
* :func:`exp_block`: ``exp`` of a block of values, written so that LLVM vectorises it (SIMD);
  within 1 ulp of the C library's ``exp``.
* :func:`chunk_count` / :func:`chunk_bounds`: the fixed split of the rows into chunks that the
  ``parallel=True`` kernels use. Each chunk owns its accumulators and the chunks are reduced in
  a fixed order, so results do not depend on the number of threads.
* :func:`one_d_grid`: the evaluation grid for ``density_1d`` snapshots.
* :func:`far_from_unit_scale`: the test behind the "consider standardising" notes.
"""

from __future__ import annotations

import math

import numba
import numpy as np

LOG_2PI = math.log(2.0 * math.pi)
LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01   # ln 2 split in two (Cody-Waite): kf * LN2_HI is exact
LN2_LO = 1.90821492927058770002e-10
ROWS_PER_CHUNK = 2048
MAX_CHUNKS = 64


def chunk_count(n: int) -> int:
    """Number of row chunks for ``n`` rows: one per ~2048 rows, at most 64, at least 1."""
    return int(max(1, min(MAX_CHUNKS, n // ROWS_PER_CHUNK)))


@numba.njit(cache=True, nogil=True, inline="always")
def chunk_bounds(c, n_chunks, n):
    """Rows ``[start, end)`` of chunk ``c`` when ``n`` rows are split into ``n_chunks`` chunks."""
    return (c * n) // n_chunks, ((c + 1) * n) // n_chunks


@numba.njit(cache=True, nogil=True)
def normalize_log_row(logp, out):
    """``out[k] = exp(logp[k] - lse)`` with ``lse = log sum_k exp(logp[k])``; returns ``lse``.

    Entries equal to ``-inf`` (a component that cannot have produced the row) get 0. If every
    entry is ``-inf`` the row is impossible under the model: ``out`` is uniform and ``-inf`` is
    returned, so the objective shows it instead of hiding a NaN.
    """
    K = logp.shape[0]
    m = -np.inf
    for k in range(K):
        if logp[k] > m:
            m = logp[k]
    if m == -np.inf:
        for k in range(K):
            out[k] = 1.0 / K
        return -np.inf
    s = 0.0
    for k in range(K):
        s += math.exp(logp[k] - m)
    lse = m + math.log(s)
    for k in range(K):
        out[k] = math.exp(logp[k] - lse)
    return lse


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def exp_block(x, bits, fbits, n):
    """``x[t] = exp(x[t])`` in place for ``t < n``, vectorisable (no library call in the loop).

    exp(x) = 2^k exp(r) with k = round(x / ln 2) and |r| <= ln 2 / 2 (Cody-Waite reduction);
    exp(r) by its Taylor polynomial of degree 13 (truncation < 5e-18 relative), so the result is
    within 1 ulp of ``math.exp`` (checked in the tests). 2^k is built from its IEEE bits as two
    factors 2^(k//2) 2^(k - k//2), so every k from -1558 to 1024 is a normal number; x below
    -1080 (also -inf) gives 0, NaN gives NaN. Valid for x <= 709 (larger x would overflow anyway).
    ``bits`` is int64 scratch of shape (2, >= n) and ``fbits`` the same memory viewed as float64
    (``bits.view(np.float64)``). In place on purpose: with a separate output array that may be
    the input, LLVM's runtime overlap check fails for ``out is x`` and the scalar loop runs.
    """
    for t in range(n):
        v = x[t]
        if v < -1080.0:
            v = -1080.0
        kf = math.floor(v * LOG2E + 0.5)
        r = (v - kf * LN2_HI) - kf * LN2_LO
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        x[t] = p
        ki = np.int64(kf)
        k1 = ki >> 1                  # floor(k / 2)
        bits[0, t] = (k1 + 1023) << 52
        bits[1, t] = (ki - k1 + 1023) << 52
    for t in range(n):
        x[t] = x[t] * fbits[0, t] * fbits[1, t]


def one_d_grid(x: np.ndarray, n: int = 200) -> np.ndarray:
    """``n`` points spanning the data with a 5 % margin on each side (never a zero-width range)."""
    lo, hi = float(np.min(x)), float(np.max(x))
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    return np.linspace(lo - 0.05 * span, hi + 0.05 * span, n)


def far_from_unit_scale(X: np.ndarray, factor: float = 5.0) -> list[int]:
    """Indices of columns far from unit scale: standard deviation outside [1/factor, factor], or
    mean further than ``factor`` from 0 (what a model with unit observation variance assumes)."""
    sd = X.std(axis=0)
    mean = X.mean(axis=0)
    bad = (sd > factor) | (sd < 1.0 / factor) | (np.abs(mean) > factor)
    return [int(j) for j in np.flatnonzero(bad)]
