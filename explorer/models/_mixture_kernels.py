"""Small pieces shared by the mixture models (gmm, bernoulli-mixture, exponential-mixture, bayes-gmm).

* :func:`normalize_log_row`: responsibilities from one row of unnormalised log-probabilities by
  log-sum-exp (never ``exp`` of an unbounded value); returns the row's log normaliser.
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
