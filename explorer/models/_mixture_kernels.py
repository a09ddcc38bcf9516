"""Small pieces shared by the mixture models (gmm, bernoulli-mixture, exponential-mixture, bayes-gmm).

* :func:`normalize_log_row`: responsibilities from one row of unnormalised log-probabilities by
  log-sum-exp (never ``exp`` of an unbounded value); returns the row's log normaliser.
* :func:`e_step_row`: one row of the row-at-a-time E-passes (bernoulli-mixture,
  exponential-mixture, bayes-gmm): its responsibilities by :func:`normalize_log_row`, then its
  share of the next M-step's statistics N_k and sum_i r_ik x_i.
* :func:`normalise_block`: the same log-sum-exp for a block of rows at once with the row index
  innermost (gmm's vectorised E-pass), with the block's log-likelihood.
* :func:`open_chunk`, :func:`chunk_sum`, :func:`component_totals`, :func:`mixing_weights`: the
  per-chunk accumulators of an E-pass (rows, zeroed statistics) and their reduction in chunk
  order in the M-steps, then pi_k = N_k / N and log pi_k.
* :func:`exp_block`: ``exp`` of a block of values, written so that LLVM vectorises it (SIMD);
  within 1 ulp of the C library's ``exp``.
* :func:`chunk_count` / :func:`chunk_bounds`: the fixed split of the rows into chunks that the
  ``parallel=True`` kernels use. Each chunk owns its accumulators and the chunks are reduced in
  a fixed order, so results do not depend on the number of threads.
* :func:`one_d_grid`: the evaluation grid for ``density_1d`` snapshots.
* :func:`far_from_unit_scale`: the test behind the "consider standardising" notes.

* :func:`affine_e_pass`: the whole E-pass of bernoulli-mixture and exponential-mixture, whose
  densities have one form: log pi_k p(x | k) = log pi_k + sum_d f_kd(x_d) with f_kd(x) =
  P_kd + Q_kd x for x > 0 and Z_kd at x = 0 (Bernoulli: P = log theta, Q = 0, Z = log(1 - theta);
  exponential: P = Z = log lambda, Q = -lambda).

A pass whose density is not of that form (bayes-gmm's ``_phi_pass``, gmm's) keeps its own short
``prange`` loop over the chunks: a single pass taking the model's density as an argument or a
closure is compiled again in every process (numba's cache misses every time for a function-typed
argument, and a numba generator breaks the cached kernel that calls it: measured), and an
``@overload`` hook would leave the cached pass stale when a model's density changes (numba's
cache only watches the kernel's own file). Take the chunk's views (``lp_c[c]``...) once per
chunk, not per row: per row they cost 5-9 % on the bernoulli and exponential passes (measured,
one thread).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from explorer.models._parallel import claim

LOG_2PI = math.log(2.0 * math.pi)
LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01  # ln 2 split in two (Cody-Waite): kf * LN2_HI is exact
LN2_LO = 1.90821492927058770002e-10
ROWS_PER_CHUNK = 2048
MAX_CHUNKS = 64
# Responsibilities below exp(FLUSH_BELOW) ~ 1e-200 of the row's largest are set to 0 (they change
# no sum by more than 1e-200 of it). Without the cut, rows far from a component gave exp of values
# down to -745: subnormal numbers, and subnormal products of small responsibilities with squared
# deviations, each a slow micro-coded operation. On 200,000 x 8, K = 10 (bench/bench_gmm.py
# --per-iteration) the step rose from 19 ms at iteration 1 to 43-46 ms from iteration 6 on, when
# 0.6 % of the responsibilities were subnormal; with the cut it stays flat. From 1e-200, a
# responsibility times a squared deviation stays normal down to deviations of 1e-54.
FLUSH_BELOW = -460.0
R_FLUSH = math.exp(FLUSH_BELOW) * (1.0 + 1e-9)  # exp_block(FLUSH_BELOW) is at most this
# gmm's vectorised E-pass (and :func:`normalise_block`): reassociation is allowed (SIMD
# reductions), infinities and NaN keep their IEEE meaning.
FASTMATH = {"reassoc", "contract", "arcp", "nsz"}


def chunk_count(n: int) -> int:
    """Number of row chunks for ``n`` rows: one per ~2048 rows, at most 64, at least 1."""
    return int(max(1, min(MAX_CHUNKS, n // ROWS_PER_CHUNK)))


@numba.njit(cache=True, nogil=True, inline="always")
def chunk_bounds(c, n_chunks, n):
    """Rows ``[start, end)`` of chunk ``c`` when ``n`` rows are split into ``n_chunks`` chunks."""
    return (c * n) // n_chunks, ((c + 1) * n) // n_chunks


@numba.njit(cache=True, nogil=True, inline="always")
def open_chunk(c, n_chunks, n, nk_c, sx_c):
    """Rows ``[start, end)`` of chunk ``c`` of an E-pass over ``n`` rows; zeroes the chunk's
    accumulators ``nk_c[c]`` (N_k) and ``sx_c[c]`` (sum_i r_ik x_i, or the sum of deviations)."""
    nk = nk_c[c]
    sx = sx_c[c]
    nk[:] = 0.0
    sx[:] = 0.0
    return chunk_bounds(c, n_chunks, n)


@numba.njit(cache=True, nogil=True, inline="always")
def e_step_row(X, i, lp, r, nk, sx):
    """Row i of an E-pass: r = the responsibilities from the row's log pi_k p(x_i | k) in ``lp``
    (:func:`normalize_log_row`), then N_k += r_k and sum_i r_ik x_i += r_k x_i (components with
    r_k = 0 skipped: they add nothing). Returns the row's log normaliser log sum_k exp(lp_k)."""
    lse = normalize_log_row(lp, r)
    K = r.shape[0]
    D = X.shape[1]
    for k in range(K):
        rk = r[k]
        if rk == 0.0:
            continue
        nk[k] += rk
        for d in range(D):
            sx[k, d] += rk * X[i, d]
    return lse


@numba.njit(cache=True, nogil=True, inline="always")
def chunk_sum(a_c, init):
    """init + a_c[0] + a_c[1] + ... added in chunk order (the fixed reduction of the chunks)."""
    s = init
    for c in range(a_c.shape[0]):
        s += a_c[c]
    return s


@numba.njit(cache=True, nogil=True, inline="always")
def component_totals(nk_c, init, nk):
    """nk[k] = init + sum over chunks of nk_c[c, k] (N_k, chunk order); returns sum_k nk[k] in
    component order."""
    total = 0.0
    for k in range(nk.shape[0]):
        nk[k] = chunk_sum(nk_c[:, k], init)
        total += nk[k]
    return total


@numba.njit(cache=True, nogil=True, inline="always")
def mixing_weights(weights, total, log_w):
    """weights[k] /= total (pi_k = N_k / N) and log_w[k] = log pi_k (-inf for an empty k)."""
    for k in range(weights.shape[0]):
        weights[k] /= total
        log_w[k] = math.log(weights[k]) if weights[k] > 0.0 else -np.inf


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
        k1 = ki >> 1  # floor(k / 2)
        bits[0, t] = (k1 + 1023) << 52
        bits[1, t] = (ki - k1 + 1023) << 52
    for t in range(n):
        x[t] = x[t] * fbits[0, t] * fbits[1, t]


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def normalise_block(lp, nb, m, sh, s, pv, eb, ef, ll):
    """E-step normalisation by log-sum-exp over k, for all nb rows of a block at once:
    r_tk = exp(lp[k, t] - shift_t) / s_t, s_t = sum_k exp(lp[k, t] - shift_t), shift_t = max_k
    lp[k, t] (0 for a row no component can produce, which gets r_tk = 1/K). lp is overwritten by
    the responsibilities. Returns ll + sum_t (shift_t + log s_t), the block's log-likelihood added
    to the running total ll. m, sh, s, pv (BLOCK,) scratch; eb, ef ``exp_block``'s. Terms below
    exp(FLUSH_BELOW) of the row's largest are 0 (no subnormal numbers)."""
    K = lp.shape[0]
    for t in range(nb):
        m[t] = lp[0, t]
    for k in range(1, K):
        for t in range(nb):
            if lp[k, t] > m[t]:
                m[t] = lp[k, t]
    for t in range(nb):
        sh[t] = m[t] if m[t] > -np.inf else 0.0
        s[t] = 0.0
    for k in range(K):
        for t in range(nb):  # exp's argument kept >= FLUSH_BELOW: no subnormal result
            v = lp[k, t] - sh[t]
            lp[k, t] = FLUSH_BELOW if v < FLUSH_BELOW else v  # (NaN stays NaN)
        exp_block(lp[k], eb, ef, nb)
        for t in range(nb):  # ... and what was below it is 0
            e = lp[k, t]
            e = 0.0 if e <= R_FLUSH else e
            lp[k, t] = e
            s[t] += e
    # log-likelihood sum_t (shift_t + log s_t), the logs taken of products of the s_t of
    # 16 rows at a time: 1 <= s_t <= K, so a product of BLOCK / 16 = 8 of them cannot
    # overflow for K < 1e38 (an impossible row's s_t = 0 gives -inf, as it should). A
    # product's rounding error is that of the sum of its logs: same accuracy, 16 x fewer
    # calls to log.
    for t in range(nb):
        ll += sh[t]
    for j in range(16):
        pv[j] = 1.0
    n16 = nb - nb % 16
    for t0 in range(0, n16, 16):
        for j in range(16):
            pv[j] *= s[t0 + j]
    for t in range(n16, nb):
        pv[t - n16] *= s[t]
    for j in range(16):
        ll += math.log(pv[j])
    for t in range(nb):
        s[t] = 1.0 / s[t]
    for k in range(K):
        for t in range(nb):
            lp[k, t] *= s[t]
    for t in range(nb):
        if not m[t] > -np.inf:  # no component can have produced the row (its
            for k in range(K):  # log-likelihood is -inf): uniform, no NaN
                lp[k, t] = 1.0 / K
    return ll


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


# ---- the E-pass of the mixtures whose log-density is linear in x ------------------------------

# Rows per block of :func:`linear_chunk`: the block's transpose (D x LINEAR_BLOCK) and its
# log-probabilities (K x LINEAR_BLOCK) stay in the L1/L2 cache.
LINEAR_BLOCK = 128


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def linear_chunk(X, W, b, c, n_chunks, resp, nk_c, sx_c, ll_c, xx_c):
    """Chunk c of an E-pass where log pi_k p(x | k) = b_k + W_k . x (bernoulli-mixture,
    exponential-mixture, bayes-gmm): for blocks of LINEAR_BLOCK rows, the block transposed
    (rows on SIMD lanes), lp = W x + b in tiles of four coordinates, the responsibilities by
    :func:`normalise_block` (written to resp), then N_k += sum r and sum r x (nk_c[c], sx_c[c],
    zeroed first) as dot products over the block's rows. ll_c[c] = the chunk's log-likelihood
    (sum of the rows' log normalisers); with a non-empty xx_c, xx_c[c] = sum ||x_i||^2.

    The same arithmetic as a matrix product (numpy's two GEMMs for lp and R^T X), fused into one
    pass over the rows. b_k may be -inf (an empty component); W must be finite."""
    N, D = X.shape
    K = W.shape[0]
    B = LINEAR_BLOCK
    start, end = open_chunk(c, n_chunks, N, nk_c, sx_c)
    nk = nk_c[c]
    sx = sx_c[c]
    xb = np.empty((D, B))
    lp = np.empty((K, B))
    vec = np.empty((4, B))
    m, sh, s, pv = vec[0], vec[1], vec[2], vec[3]
    eb = np.zeros((2, B), dtype=np.int64)
    ef = eb.view(np.float64)
    ll = 0.0
    xx = 0.0
    r4 = D - D % 4
    for i0 in range(start, end, B):
        nb = min(B, end - i0)
        for t in range(nb):
            for d in range(D):
                xb[d, t] = X[i0 + t, d]
        for k in range(K):
            bk = b[k]
            for t in range(nb):
                lp[k, t] = bk
            for d in range(0, r4, 4):
                w0 = W[k, d]
                w1 = W[k, d + 1]
                w2 = W[k, d + 2]
                w3 = W[k, d + 3]
                for t in range(nb):
                    lp[k, t] += (w0 * xb[d, t] + w1 * xb[d + 1, t]) + (
                        w2 * xb[d + 2, t] + w3 * xb[d + 3, t]
                    )
            for d in range(r4, D):
                w0 = W[k, d]
                for t in range(nb):
                    lp[k, t] += w0 * xb[d, t]
        ll = normalise_block(lp, nb, m, sh, s, pv, eb, ef, ll)
        for t in range(nb):
            for k in range(K):
                resp[i0 + t, k] = lp[k, t]
        for k in range(K):
            a = 0.0
            for t in range(nb):
                a += lp[k, t]
            nk[k] += a
            for d in range(0, r4, 4):
                a0 = a1 = a2 = a3 = 0.0
                for t in range(nb):
                    r = lp[k, t]
                    a0 += r * xb[d, t]
                    a1 += r * xb[d + 1, t]
                    a2 += r * xb[d + 2, t]
                    a3 += r * xb[d + 3, t]
                sx[k, d] += a0
                sx[k, d + 1] += a1
                sx[k, d + 2] += a2
                sx[k, d + 3] += a3
            for d in range(r4, D):
                a0 = 0.0
                for t in range(nb):
                    a0 += lp[k, t] * xb[d, t]
                sx[k, d] += a0
        if xx_c.shape[0] > 0:
            for d in range(D):
                for t in range(nb):
                    xx += xb[d, t] * xb[d, t]
    ll_c[c] = ll
    if xx_c.shape[0] > 0:
        xx_c[c] = xx


@numba.njit(cache=True, nogil=True, parallel=True)
def affine_e_pass(X, log_w, P, Q, Z, resp, nk_c, sx_c, ll_c, lp_c, nw):
    """E-step and sufficient statistics (N_k, sum_i r_ik x_i) per row chunk, ll_c the chunks'
    log-likelihoods, for log pi_k p(x | k) = log pi_k + sum_d f_kd(x_d) with f_kd(x) = P_kd +
    Q_kd x for x > 0 and Z_kd at x = 0 (P, Q, Z (K, D); data >= 0). ``nw`` threads take the
    chunks one at a time (``_parallel.call``).

    That is b_k + W_k . x with W = Q + (P - Z), b_k = log pi_k + sum_d Z_kd: with every W and Z
    finite the chunks run the blocked, vectorised :func:`linear_chunk`; otherwise (a Bernoulli
    theta of 0 or 1 under a flat prior: 0 * log 0 must not be NaN) the row-at-a-time
    :func:`affine_rows_chunk`."""
    C = nk_c.shape[0]
    K, D = P.shape
    W = np.empty((K, D))
    b = np.empty(K)
    n_bad = 0  # (an int: a bool folded with "and" here was lost by the parallel loop)
    for k in range(K):
        s = log_w[k]
        for d in range(D):
            W[k, d] = Q[k, d] + (P[k, d] - Z[k, d])
            s += Z[k, d]
            n_bad += not (math.isfinite(W[k, d]) and math.isfinite(Z[k, d]))
        b[k] = s
    no_xx = np.empty(0)
    counter = np.zeros(1, dtype=np.int64)
    for _ in numba.prange(nw):
        c = claim(counter)
        while c < C:
            if n_bad == 0:
                linear_chunk(X, W, b, c, C, resp, nk_c, sx_c, ll_c, no_xx)
            else:
                affine_rows_chunk(X, log_w, P, Q, Z, c, resp, nk_c, sx_c, ll_c, lp_c)
            c = claim(counter)


@numba.njit(cache=True, nogil=True, inline="always")
def affine_rows_chunk(X, log_w, P, Q, Z, c, resp, nk_c, sx_c, ll_c, lp_c):
    """Chunk c of :func:`affine_e_pass` a row at a time: lp_c[c] (K,) holds a row's log pi_k
    p(x | k), summed over d in order from log pi_k; then :func:`e_step_row`."""
    start, end = open_chunk(c, nk_c.shape[0], X.shape[0], nk_c, sx_c)
    lp, nk, sx = lp_c[c], nk_c[c], sx_c[c]
    K, D = P.shape
    ll = 0.0
    for i in range(start, end):
        for k in range(K):
            s = log_w[k]
            for d in range(D):
                x = X[i, d]
                s += P[k, d] + Q[k, d] * x if x > 0.0 else Z[k, d]
            lp[k] = s
        ll += e_step_row(X, i, lp, resp[i], nk, sx)
    ll_c[c] = ll
