"""Gaussian mixture with full covariances, fitted by EM (docs/derivations/gmm.md).

The model, its updates and the choices the code made: docs/models/gmm.md.

Degenerate states (``degeneracy()``, the runner reports them as ``degenerate: ...`` and the CLI
exits 3): a component whose covariance is set by reg_covar in some direction (the data part
Sigma_k - reg_covar I has an eigenvalue <= reg_covar: K = 3 on 50 identical rows, +599; two
distinct points, +564; a column constant within a component, +299 from the 1e-6 floor alone), and
components that coincide (the mixtures' shared check).

Exported parameters (parameters.npz names):
  weights (K,) mixing proportions pi; means (K, D); covariances (K, D, D);
  precisions_cholesky (K, D, D) upper-triangular U_k with Sigma_k^-1 = U_k U_k^T (scikit-learn's
  convention); responsibilities (N, K).
Metrics: bic and aic of the final log-likelihood with K - 1 + K D + K D (D + 1) / 2 parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from explorer.data.types import DataError
from explorer.models import register
from explorer.models._canonical import model_row_order, to_data_order
from explorer.models._centre_kernels import data_matrix, kmeans_plusplus
from explorer.models._centres import lloyd
from explorer.models._mixture import MixtureModel
from explorer.models._mixture_kernels import (
    FASTMATH,
    LOG_2PI,
    chunk_bounds,
    chunk_count,
    chunk_sum,
    component_totals,
    normalise_block,
    one_d_grid,
    open_chunk,
)
from explorer.models._parallel import call, claim
from explorer.models.base import HyperparametersBase, param

EPS10 = 10.0 * np.finfo(np.float64).eps  # added to N_k as scikit-learn does: no 0/0 for empty k


@dataclass(frozen=True)
class GMMHyperparameters(HyperparametersBase):
    K: int = param(2, lo=1, hi=1000, help="number of mixture components")
    init: str = param(
        "kmeans",
        choices=("kmeans", "k-means++", "random"),
        help="initial clusters: k-means, k-means++ seeds, or random responsibilities",
    )
    reg_covar: float = param(
        1e-6,
        lo=0.0,
        hi=1e3,
        log=True,
        help="added to the diagonal of every covariance (keeps them invertible)",
    )
    n_init: int = param(
        1, lo=1, hi=100, help="restarts from new seeds; the best log-likelihood is kept"
    )
    kmeans_iter: int = param(
        100, lo=1, hi=10000, help="Lloyd iterations of the k-means initialisation"
    )


# ---- kernels -----------------------------------------------------------------------------------

# Rows per block inside a chunk: the E-step and the statistics run over a block of rows at a
# time with the row index innermost (structure of arrays: the data transposed, XT (D, N)), so the
# loops vectorise (SIMD) over rows and a block's scratch stays in the L1 cache.
BLOCK = 128
# Coordinates are handled in tiles of TILE (D padded with zeros to a multiple of TILE): a loop over
# the rows of a block then does TILE x TILE multiply-adds per row with values held in registers,
# instead of one multiply-add per two loads and a store.
TILE = 4


def padded(D: int) -> int:
    """D rounded up to a multiple of TILE."""
    return -(-D // TILE) * TILE


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def log_gaussian(XT, mp, U, k, i0, nb, cst, y, q, lp_k):
    """E-step, component k, rows i0 .. i0 + nb - 1 of a block:
    lp_k[t] = cst - ||(x_t - mu_k)^T U_k||^2 / 2 with cst = log pi_k + log|U_k| - D/2 log 2 pi,
    i.e. log pi_k + log N(x_t | mu_k, Sigma_k) through the precision's Cholesky factor U_k.
    y (TILE, BLOCK) holds TILE coordinates of (x - mu_k)^T U_k, q (BLOCK,) the squared norm."""
    Dp = mp.shape[1]
    for t in range(nb):
        q[t] = 0.0
    # y_b = sum_{a <= b} d_a U[a, b], b in tiles of 4, a in tiles of 4 up to b's
    # (U is upper triangular: the entries a > b in the diagonal tile are 0). One loop
    # per kind of tile, each free of branches so that it vectorises.
    for b0 in range(0, Dp, TILE):
        for a0 in range(0, b0 + TILE, TILE):
            u = _u_tile(U, k, a0, b0)
            m0 = mp[k, a0]
            m1 = mp[k, a0 + 1]
            m2 = mp[k, a0 + 2]
            m3 = mp[k, a0 + 3]
            if a0 == 0 and a0 == b0:  # the only tile: y -> q
                for t in range(nb):
                    y0, y1, y2, y3 = _tile_y(XT, a0, np.uint64(i0 + t), m0, m1, m2, m3, u)
                    q[t] += y0 * y0 + y1 * y1 + y2 * y2 + y3 * y3
            elif a0 == 0:  # first tile: y =
                for t in range(nb):
                    y0, y1, y2, y3 = _tile_y(XT, a0, np.uint64(i0 + t), m0, m1, m2, m3, u)
                    y[0, t] = y0
                    y[1, t] = y1
                    y[2, t] = y2
                    y[3, t] = y3
            elif a0 < b0:  # middle tile: y +=
                for t in range(nb):
                    y0, y1, y2, y3 = _tile_y(XT, a0, np.uint64(i0 + t), m0, m1, m2, m3, u)
                    y[0, t] += y0
                    y[1, t] += y1
                    y[2, t] += y2
                    y[3, t] += y3
            else:  # last tile: y + ... -> q
                for t in range(nb):
                    y0, y1, y2, y3 = _tile_y(XT, a0, np.uint64(i0 + t), m0, m1, m2, m3, u)
                    y0 += y[0, t]
                    y1 += y[1, t]
                    y2 += y[2, t]
                    y3 += y[3, t]
                    q[t] += y0 * y0 + y1 * y1 + y2 * y2 + y3 * y3
    for t in range(nb):
        lp_k[t] = cst - 0.5 * q[t]


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _diagonal_tile(XT, mp, r_k, k, a0, i0, nb, D, s1, s2k):
    """Coordinates a0 .. a0 + TILE - 1 of the block's sum r d (into s1[k]) and the upper triangle
    of the diagonal TILE x TILE tile of sum r d d^T (into s2k), d = x - mu_k."""
    m0 = mp[k, a0]
    m1 = mp[k, a0 + 1]
    m2 = mp[k, a0 + 2]
    m3 = mp[k, a0 + 3]
    # diagonal tile, with sum r d
    g0 = g1 = g2 = g3 = 0.0
    c00 = c01 = c02 = c03 = c11 = c12 = c13 = c22 = c23 = c33 = 0.0
    for t in range(nb):
        i = np.uint64(i0 + t)
        r = r_k[t]
        e0 = XT[a0, i] - m0
        e1 = XT[a0 + 1, i] - m1
        e2 = XT[a0 + 2, i] - m2
        e3 = XT[a0 + 3, i] - m3
        w0 = r * e0
        w1 = r * e1
        w2 = r * e2
        w3 = r * e3
        g0 += w0
        g1 += w1
        g2 += w2
        g3 += w3
        c00 += w0 * e0
        c01 += w0 * e1
        c02 += w0 * e2
        c03 += w0 * e3
        c11 += w1 * e1
        c12 += w1 * e2
        c13 += w1 * e3
        c22 += w2 * e2
        c23 += w2 * e3
        c33 += w3 * e3
    _add_row(s1, k, a0, D, g0, g1, g2, g3, False)
    _add_row(s2k, a0, a0, D, c00, c01, c02, c03)
    _add_row(s2k, a0 + 1, a0, D, 0.0, c11, c12, c13)
    _add_row(s2k, a0 + 2, a0, D, 0.0, 0.0, c22, c23)
    _add_row(s2k, a0 + 3, a0, D, 0.0, 0.0, 0.0, c33)


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _offdiagonal_tile(XT, mp, r_k, k, a0, b0, i0, nb, D, s2k):
    """The TILE x TILE tile (a0, b0), b0 > a0, of the block's sum r d d^T (into s2k)."""
    m0 = mp[k, a0]
    m1 = mp[k, a0 + 1]
    m2 = mp[k, a0 + 2]
    m3 = mp[k, a0 + 3]
    n0 = mp[k, b0]
    n1 = mp[k, b0 + 1]
    n2 = mp[k, b0 + 2]
    n3 = mp[k, b0 + 3]
    c00 = c01 = c02 = c03 = 0.0
    c10 = c11 = c12 = c13 = 0.0
    c20 = c21 = c22 = c23 = 0.0
    c30 = c31 = c32 = c33 = 0.0
    for t in range(nb):
        i = np.uint64(i0 + t)
        r = r_k[t]
        w0 = r * (XT[a0, i] - m0)
        w1 = r * (XT[a0 + 1, i] - m1)
        w2 = r * (XT[a0 + 2, i] - m2)
        w3 = r * (XT[a0 + 3, i] - m3)
        e0 = XT[b0, i] - n0
        e1 = XT[b0 + 1, i] - n1
        e2 = XT[b0 + 2, i] - n2
        e3 = XT[b0 + 3, i] - n3
        c00 += w0 * e0
        c01 += w0 * e1
        c02 += w0 * e2
        c03 += w0 * e3
        c10 += w1 * e0
        c11 += w1 * e1
        c12 += w1 * e2
        c13 += w1 * e3
        c20 += w2 * e0
        c21 += w2 * e1
        c22 += w2 * e2
        c23 += w2 * e3
        c30 += w3 * e0
        c31 += w3 * e1
        c32 += w3 * e2
        c33 += w3 * e3
    _add_row(s2k, a0, b0, D, c00, c01, c02, c03)
    _add_row(s2k, a0 + 1, b0, D, c10, c11, c12, c13)
    _add_row(s2k, a0 + 2, b0, D, c20, c21, c22, c23)
    _add_row(s2k, a0 + 3, b0, D, c30, c31, c32, c33)


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def accumulate_statistics(XT, mp, r_k, k, i0, nb, D, nk, s1, s2k):
    """The next M-step's sufficient statistics of component k over a block's rows (responsibilities
    r_k[t]): N_k += sum r, s1[k] += sum r d, s2k += upper triangle of sum r d d^T, d = x - mu_k,
    in TILE x TILE tiles straight from XT (padded rows of XT and mp are 0)."""
    Dp = mp.shape[1]
    sr = 0.0
    for t in range(nb):
        sr += r_k[t]
    nk[k] += sr
    for a0 in range(0, Dp, TILE):
        _diagonal_tile(XT, mp, r_k, k, a0, i0, nb, D, s1, s2k)
        for b0 in range(a0 + TILE, Dp, TILE):  # tiles right of the diagonal
            _offdiagonal_tile(XT, mp, r_k, k, a0, b0, i0, nb, D, s2k)


@numba.njit(cache=True, nogil=True, parallel=True, fastmath=FASTMATH, error_model="numpy")
def _e_pass(XT, log_w, mp, U, log_det, resp, nk_c, s1_c, s2_c, ll_c, lp_c, v_c, eb_c, ef_c, nw):
    """E-step and sufficient statistics in one pass over the rows (chunk c owns row block c).

    Coordinates padded with zeros to Dp = padded(D): XT (Dp, N) the data transposed, mp (K, Dp)
    the means, U (K, Dp, Dp) the precision Cholesky factors. Writes resp (N, K); per chunk:
    nk_c (C, K) = sum r, s1_c (C, K, D) = sum r d, s2_c (C, K, D, D) upper triangle of
    sum r d d^T (d = x - mu_k), ll_c (C,) log-likelihood. Scratch per chunk (row index last):
    lp_c (C, K, BLOCK) log pi_k N(x | mu_k, Sigma_k), then the responsibilities of the block;
    v_c (C, 9, BLOCK) per-row vectors; eb_c (C, 2, BLOCK) int64 and ef_c its float64 view
    (``exp_block`` scratch). ``nw`` threads take the chunks one at a time (``_parallel.call``).
    """
    C = nk_c.shape[0]
    counter = np.zeros(1, dtype=np.int64)
    for _ in numba.prange(nw):
        c = claim(counter)
        while c < C:
            _e_chunk(
                XT, log_w, mp, U, log_det, resp, nk_c, s1_c, s2_c, ll_c, lp_c, v_c, eb_c, ef_c, c
            )
            c = claim(counter)


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _e_chunk(XT, log_w, mp, U, log_det, resp, nk_c, s1_c, s2_c, ll_c, lp_c, v_c, eb_c, ef_c, c):
    """Chunk c of :func:`_e_pass`."""
    N = XT.shape[1]
    K = mp.shape[0]
    D = s1_c.shape[2]
    C = nk_c.shape[0]
    start, end = open_chunk(c, C, N, nk_c, s1_c)
    lp = lp_c[c]
    y = v_c[c, 0:4]  # TILE coordinates of (x - mu_k)^T U_k
    q = v_c[c, 4]  # ||(x - mu_k)^T U_k||^2
    m = v_c[c, 5]  # max_k of the row's log-probabilities
    sh = v_c[c, 6]  # the shift of the log-sum-exp (m, or 0 for an impossible row)
    s = v_c[c, 7]  # sum_k exp(lp - shift), then its inverse
    pv = v_c[c, 8]  # products of s over rows (16 entries used)
    eb = eb_c[c]
    ef = ef_c[c]
    nk = nk_c[c]
    s1 = s1_c[c]
    s2 = s2_c[c]
    s2[:] = 0.0
    ll = 0.0
    for i0 in range(start, end, BLOCK):
        nb = min(BLOCK, end - i0)
        for k in range(K):
            log_gaussian(
                XT, mp, U, k, i0, nb, log_w[k] + log_det[k] - 0.5 * D * LOG_2PI, y, q, lp[k]
            )
        ll = normalise_block(lp, nb, m, sh, s, pv, eb, ef, ll)
        for t in range(nb):
            for k in range(K):
                resp[np.uint64(i0 + t), k] = lp[k, t]
        for k in range(K):
            accumulate_statistics(XT, mp, lp[k], k, i0, nb, D, nk, s1, s2[k])
    ll_c[c] = ll


@numba.njit(cache=True, nogil=True, inline="always")
def _u_tile(U, k, a0, b0):
    """The TILE x TILE block of U_k at (a0, b0), row by row, as a tuple (held in registers)."""
    return (
        U[k, a0, b0],
        U[k, a0, b0 + 1],
        U[k, a0, b0 + 2],
        U[k, a0, b0 + 3],
        U[k, a0 + 1, b0],
        U[k, a0 + 1, b0 + 1],
        U[k, a0 + 1, b0 + 2],
        U[k, a0 + 1, b0 + 3],
        U[k, a0 + 2, b0],
        U[k, a0 + 2, b0 + 1],
        U[k, a0 + 2, b0 + 2],
        U[k, a0 + 2, b0 + 3],
        U[k, a0 + 3, b0],
        U[k, a0 + 3, b0 + 1],
        U[k, a0 + 3, b0 + 2],
        U[k, a0 + 3, b0 + 3],
    )


@numba.njit(cache=True, nogil=True, inline="always")
def _tile_y(XT, a0, i, m0, m1, m2, m3, u):
    """sum_{l < TILE} (x_i - mu)[a0 + l] u[l, j] for j < TILE: row i's share of a tile of y."""
    d0 = XT[a0, i] - m0
    d1 = XT[a0 + 1, i] - m1
    d2 = XT[a0 + 2, i] - m2
    d3 = XT[a0 + 3, i] - m3
    return (
        d0 * u[0] + d1 * u[4] + d2 * u[8] + d3 * u[12],
        d0 * u[1] + d1 * u[5] + d2 * u[9] + d3 * u[13],
        d0 * u[2] + d1 * u[6] + d2 * u[10] + d3 * u[14],
        d0 * u[3] + d1 * u[7] + d2 * u[11] + d3 * u[15],
    )


@numba.njit(cache=True, nogil=True, inline="always")
def _add_row(S, a, b0, D, v0, v1, v2, v3, upper=True):
    """S[a, b0 + j] += v_j for the columns b0 + j < D (and, if ``upper``, only for a < D and on or
    above the diagonal, b0 + j >= a)."""
    lo = a if upper else 0
    if a < D or not upper:
        if lo <= b0 < D:
            S[a, b0] += v0
        if lo <= b0 + 1 < D:
            S[a, b0 + 1] += v1
        if lo <= b0 + 2 < D:
            S[a, b0 + 2] += v2
        if lo <= b0 + 3 < D:
            S[a, b0 + 3] += v3


def e_pass_work(N: int, K: int, D: int) -> int:
    """The E-pass's work in multiply-adds (``_parallel.call``): per row and component, y and the
    second moments over the padded coordinates."""
    return N * K * padded(D) * (padded(D) + 2)


# Relative loss of precision accepted in the shifted covariance update before a component's
# covariance is recomputed by an exact second pass: 1e4 * eps ~ 2e-12 relative error.
CANCELLATION_LIMIT = 1e4


@numba.njit(cache=True, nogil=True)
def _m_step(nk_c, s1_c, s2_c, reg_covar, weights, log_w, means, cov, nk_out, redo):
    """M-step for pi_k, mu_k and Sigma_k from the chunked statistics, in place.

    Sigma_k comes from the statistics around the old mean: sum r d d^T / N_k - delta delta^T with
    delta = mu_new - mu_old. When the mean moved far compared with the spread (the subtraction
    would cancel more than CANCELLATION_LIMIT * eps), redo[k] is set and the caller recomputes that
    covariance exactly with ``_cov_pass``. Returns the number of components to redo.
    """
    K, D = s1_c.shape[1:]
    total = component_totals(nk_c, EPS10, nk_out)
    n_redo = 0
    for k in range(K):
        nk = nk_out[k]
        weights[k] = nk
        redo[k] = False
        for a in range(D):  # delta = mean shift; mu_new = mu_old + delta
            s1_c[0, k, a] = chunk_sum(s1_c[:, k, a], 0.0) / nk  # chunk 0's slot keeps delta_k
        for a in range(D):
            for b in range(a, D):
                raw = chunk_sum(s2_c[:, k, a, b], 0.0) / nk
                v = raw - s1_c[0, k, a] * s1_c[0, k, b]
                if a == b and not (v > 0.0 and raw <= CANCELLATION_LIMIT * v):
                    redo[k] = True
                cov[k, a, b] = v + (reg_covar if a == b else 0.0)
                cov[k, b, a] = cov[k, a, b]
        for a in range(D):
            means[k, a] += s1_c[0, k, a]
        if redo[k]:
            n_redo += 1
    for k in range(K):
        weights[k] /= total
        log_w[k] = math.log(weights[k])
    return n_redo


@numba.njit(cache=True, nogil=True, parallel=True)
def _cov_pass(XT, resp, means, redo, s2_c, d_c, nw):
    """Exact second pass for the flagged components: sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T.
    XT is the (Dp, N) transposed data the E-pass reads (float32 or float64). ``nw`` threads take
    the chunks one at a time (``_parallel.call``)."""
    C = s2_c.shape[0]
    counter = np.zeros(1, dtype=np.int64)
    for _ in numba.prange(nw):
        c = claim(counter)
        while c < C:
            _cov_chunk(XT, resp, means, redo, s2_c, d_c, c)
            c = claim(counter)


@numba.njit(cache=True, nogil=True, inline="always")
def _cov_chunk(XT, resp, means, redo, s2_c, d_c, c):
    """Chunk c of :func:`_cov_pass`."""
    N = XT.shape[1]
    K, D = means.shape
    C = s2_c.shape[0]
    start, end = chunk_bounds(c, C, N)
    s2 = s2_c[c]
    dd = d_c[c]
    s2[:] = 0.0
    for i in range(start, end):
        for k in range(K):
            if not redo[k]:
                continue
            r = resp[i, k]
            if r == 0.0:
                continue
            for a in range(D):
                dd[k, a] = XT[a, i] - means[k, a]
            for a in range(D):
                rd = r * dd[k, a]
                for b in range(a, D):
                    s2[k, a, b] += rd * dd[k, b]


@numba.njit(cache=True, nogil=True)
def _finish_cov(s2_c, nk, redo, reg_covar, cov):
    K, D = s2_c.shape[1:3]
    for k in range(K):
        if not redo[k]:
            continue
        for a in range(D):
            for b in range(a, D):
                v = chunk_sum(s2_c[:, k, a, b], 0.0) / nk[k] + (reg_covar if a == b else 0.0)
                cov[k, a, b] = v
                cov[k, b, a] = v


@numba.njit(cache=True, nogil=True)
def _factorize(cov, U, log_det, L):
    """Precision Cholesky factors and log-determinants; returns the first non-PD k, or -1."""
    K, D, _ = cov.shape
    for k in range(K):
        if _precision_cholesky(cov[k], L, U[k]):
            return k
        ld = 0.0
        for a in range(D):
            ld += math.log(U[k, a, a])
        log_det[k] = ld
    return -1


@numba.njit(cache=True, nogil=True)
def _precision_cholesky(S, L, U):
    """U upper triangular with S^-1 = U U^T: L = chol(S) lower, U = (L^-1)^T. True if S is not
    positive definite."""
    D = S.shape[0]
    for j in range(D):
        s = S[j, j]
        for m in range(j):
            s -= L[j, m] * L[j, m]
        if not s > 0.0:
            return True
        L[j, j] = math.sqrt(s)
        for i in range(j + 1, D):
            t = S[i, j]
            for m in range(j):
                t -= L[i, m] * L[j, m]
            L[i, j] = t / L[j, j]
    # Inverse of lower-triangular L by forward substitution, written transposed into U.
    for j in range(D):
        for i in range(D):
            U[j, i] = 0.0
        U[j, j] = 1.0 / L[j, j]
        for i in range(j + 1, D):
            t = 0.0
            for m in range(j, i):
                t += L[i, m] * U[j, m]
            U[j, i] = -t / L[i, i]
    return False


def _params_from_resp(X, resp, reg_covar):
    """Weights, means and covariances from given responsibilities (initialisation only)."""
    if X.dtype == np.float32:
        return _params_from_resp_chunked(X, resp, reg_covar)
    nk = resp.sum(axis=0) + EPS10
    means = resp.T @ X / nk[:, None]
    K, D = means.shape
    cov = np.empty((K, D, D))
    for k in range(K):
        diff = X - means[k]
        cov[k] = (resp[:, k] * diff.T) @ diff / nk[k]
        cov[k].flat[:: D + 1] += reg_covar
    return nk / nk.sum(), means, cov


def _params_from_resp_chunked(X, resp, reg_covar, rows: int = 65536):
    """:func:`_params_from_resp` for float32 data, in chunks of rows converted to float64: no
    float64 copy (and no N x D difference array) of a large table."""
    N, D = X.shape
    K = resp.shape[1]
    nk = resp.sum(axis=0) + EPS10
    sx = np.zeros((K, D))
    for a in range(0, N, rows):
        sx += resp[a : a + rows].T @ np.asarray(X[a : a + rows], dtype=np.float64)
    means = sx / nk[:, None]
    cov = np.zeros((K, D, D))
    for a in range(0, N, rows):
        Xc = np.asarray(X[a : a + rows], dtype=np.float64)
        for k in range(K):
            diff = Xc - means[k]
            cov[k] += (resp[a : a + rows, k] * diff.T) @ diff
    cov /= nk[:, None, None]
    for k in range(K):
        cov[k].flat[:: D + 1] += reg_covar
    return nk / nk.sum(), means, cov


# ---- model -------------------------------------------------------------------------------------


@register
class GaussianMixture(MixtureModel):
    id = "gmm"
    name = "Gaussian mixture (EM)"
    description = (
        "Mixture of K Gaussians with full covariance matrices, fitted by expectation-"
        "maximisation. Soft memberships, covariance ellipses, BIC/AIC for choosing K."
    )
    objective_kind = "log-likelihood"
    Hyperparameters = GMMHyperparameters
    default_max_iter = 300
    default_tol = 1e-8
    min_rows = 2

    def _state_notes(self) -> list[str]:
        """The 'K too large for N and D' warning, from the current responsibilities' sums."""
        nk = self._nk.sum(axis=0)
        N, D = self.X.shape
        K = len(nk)
        few = nk < D + 1
        if not few.any():
            return []
        sign = (
            f"; the log-likelihood ({self.loglik:.6g}) is positive because of these near "
            "point masses, not because the fit is good"
            if self.loglik > 0
            else ""
        )
        return [
            f"K = {K} is too large for {N} rows in {D} dimension(s): {int(few.sum())} of {K} "
            f"components have fewer than D + 1 = {D + 1} effective points (sum of "
            f"responsibilities), so their covariances are set by reg_covar "
            f"({self.hp.reg_covar:g}), not by the data{sign}; reduce K (compare BIC over K)"
        ]

    # -- degenerate states --
    def _component_vectors(self) -> np.ndarray:
        K = len(self.weights)
        return np.concatenate([self.means, self.covariances.reshape(K, -1)], axis=1)

    def _component_degeneracy(self) -> str | None:
        """Components whose covariance is set by reg_covar in some direction: the data part
        Sigma_k - reg_covar I has an eigenvalue at or below reg_covar (a point mass, two distinct
        points, a column constant within the component, an empty component). There the density
        is limited by reg_covar alone and the log-likelihood grows without bound as reg_covar
        shrinks."""
        reg = float(self.hp.reg_covar)
        K, D = self.means.shape
        nk = self._nk.sum(axis=0)
        names = self._column_names()
        found = []
        for k in range(K):
            spread = self.covariances[k] - reg * np.eye(D)
            if np.linalg.eigvalsh(spread)[0] > reg:
                continue
            flat = [d for d in range(D) if spread[d, d] <= reg]
            if nk[k] < 1e-6:
                where = "is empty"
            elif len(flat) == D:
                where = f"sits on a single point ({nk[k]:.3g} effective rows)"
            elif flat:
                where = (
                    "has no spread along column"
                    + ("s " if len(flat) > 1 else " ")
                    + ", ".join(f"'{names[d]}'" for d in flat)
                )
            else:
                where = "lies on a lower-dimensional subspace (its rows are collinear)"
            found.append(f"component {k + 1} {where}")
        if not found:
            return None
        shown = "; ".join(found[:3]) + (f"; {len(found) - 3} more" if len(found) > 3 else "")
        return (
            f"{shown}: its covariance there is reg_covar ({reg:g}), not the data's, so the "
            f"log-likelihood ({self.loglik:.6g}) grows without bound as reg_covar shrinks"
        )

    def _column_names(self) -> list[str]:
        D = self.means.shape[1]
        names = getattr(self.data, "columns", None)
        return (
            [str(c) for c in names]
            if names is not None and len(names) == D
            else [str(d + 1) for d in range(D)]
        )

    def _degeneracy_advice(self) -> str:
        X = self.X
        constant = [d for d in range(X.shape[1]) if X[:, d].min() == X[:, d].max()]
        if constant:
            names = self._column_names()
            return (
                "drop the constant column"
                + ("s " if len(constant) > 1 else " ")
                + ", ".join(f"'{names[d]}'" for d in constant)
            )
        advice = super()._degeneracy_advice()
        if advice.startswith("use a smaller K or"):
            advice = "reduce K (compare BIC over K) or increase reg_covar"
        return advice

    # -- state --
    shared_state = MixtureModel.shared_state + ("_XT",)  # the data transposed, padded

    def _prepare(self, data) -> None:
        # float32 data stays float32 (C or column-major): the E-pass reads its own transposed copy
        # and sums in float64; anything else becomes float64.
        X = data_matrix(data.X)
        self.X = X
        N, D = X.shape
        Dp = padded(D)
        self._XT = np.zeros((Dp, N), dtype=X.dtype)  # the data transposed, zero rows up to Dp
        self._XT[:D] = X.T

    def _init_state(self, seed: int, weights=None, means=None, precisions=None) -> None:
        X = self.X
        N, D = X.shape
        K = self.hp.K
        rng = np.random.default_rng(seed)
        given = [v is not None for v in (weights, means, precisions)]
        if any(given) and not all(given):
            raise ValueError("give weights, means and precisions together, or none of them")
        if all(given):
            w = np.asarray(weights, dtype=np.float64).reshape(K)
            mu = np.asarray(means, dtype=np.float64).reshape(K, D)
            prec = np.asarray(precisions, dtype=np.float64).reshape(K, D, D)
            cov = np.linalg.inv(prec)
            cov = 0.5 * (cov + cov.transpose(0, 2, 1))
        else:
            w, mu, cov = _params_from_resp(X, self._initial_resp(X, K, rng), self.hp.reg_covar)

        C = chunk_count(N)
        self.weights = np.array(w / w.sum(), dtype=np.float64, order="C")  # copies: the M-step
        self.log_w = np.log(self.weights)  # works in place
        self.means = np.array(mu, dtype=np.float64, order="C")
        self.covariances = np.array(cov, dtype=np.float64, order="C")
        self.precisions_cholesky = np.zeros((K, D, D))
        self.log_det = np.zeros(K)
        self._L = np.zeros((D, D))
        bad = _factorize(self.covariances, self.precisions_cholesky, self.log_det, self._L)
        if bad >= 0:
            self._singular(bad)
        self.resp = np.zeros((N, K))
        self._nk = np.zeros((C, K))
        self._s1 = np.zeros((C, K, D))
        self._s2 = np.zeros((C, K, D, D))
        self._ll = np.zeros(C)
        Dp = padded(D)
        self._mp = np.zeros((K, Dp))
        self._lp = np.zeros((C, K, BLOCK))
        self._Up = np.zeros((K, Dp, Dp))
        self._v = np.zeros((C, 9, BLOCK))
        self._eb = np.zeros((C, 2, BLOCK), dtype=np.int64)
        self._ef = self._eb.view(np.float64)
        self._d = np.zeros((C, K, D))
        self._nk_tot = np.zeros(K)
        self._redo = np.zeros(K, dtype=np.bool_)
        self._e_pass()
        self.initial_loglik = self.loglik

    def _initial_resp(self, X, K, rng):
        N = X.shape[0]
        order = model_row_order(self, X)  # draws by the rows' values, not their positions
        if self.hp.init == "random":
            r = to_data_order(rng.random((N, K)), order)
            return r / r.sum(axis=1, keepdims=True)
        centers = np.ascontiguousarray(kmeans_plusplus(X, K, rng, order), dtype=np.float64)
        if self.hp.init == "kmeans":
            labels, _ = lloyd(X, centers, self.hp.kmeans_iter, 1e-6)
        else:
            d2 = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
            labels = d2.argmin(axis=1)
        r = np.zeros((N, K))
        r[np.arange(N), np.asarray(labels, dtype=np.int64)] = 1.0
        return r

    def _singular(self, k):
        raise DataError(
            f"component {k + 1}'s covariance is not positive definite (a component collapsed "
            f"onto too few or identical points); increase reg_covar (now {self.hp.reg_covar:g}), "
            "reduce K or standardise the columns",
            path=getattr(self.data, "path", None),
        )

    def _e_args(self):
        D = self.means.shape[1]
        self._Up[:, :D, :D] = self.precisions_cholesky
        self._mp[:, :D] = self.means
        return (
            self._XT,
            self.log_w,
            self._mp,
            self._Up,
            self.log_det,
            self.resp,
            self._nk,
            self._s1,
            self._s2,
            self._ll,
            self._lp,
            self._v,
            self._eb,
            self._ef,
        )

    def _e_pass(self) -> None:
        N, D = self.X.shape
        call(_e_pass, len(self._ll), e_pass_work(N, len(self.log_w), D), *self._e_args())
        self.loglik = float(self._ll.sum())

    def _m_step(self) -> None:
        reg = self.hp.reg_covar
        n_redo = _m_step(
            self._nk,
            self._s1,
            self._s2,
            reg,
            self.weights,
            self.log_w,
            self.means,
            self.covariances,
            self._nk_tot,
            self._redo,
        )
        if n_redo:
            N, D = self.X.shape
            call(
                _cov_pass,
                len(self._ll),
                N * n_redo * D * D,
                self._XT,
                self.resp,
                self.means,
                self._redo,
                self._s2,
                self._d,
            )
            _finish_cov(self._s2, self._nk_tot, self._redo, reg, self.covariances)
        bad = _factorize(self.covariances, self.precisions_cholesky, self.log_det, self._L)
        if bad >= 0:
            self._singular(bad)

    # -- views --
    @staticmethod
    def free_parameters(K: int, D: int, hp) -> int:
        """Weights, means and full covariances: K - 1 + K D + K D (D + 1) / 2."""
        return int(K - 1 + K * D + K * D * (D + 1) // 2)

    def n_parameters(self) -> int:
        return self.free_parameters(*self.means.shape, self.hp)

    def density_1d(self, grid=None) -> dict[str, np.ndarray]:
        """Fitted density on a grid (1-D data): total and per-component weighted densities."""
        x = one_d_grid(self.X[:, 0]) if grid is None else np.asarray(grid, dtype=np.float64)
        var = self.covariances[:, 0, 0][:, None]
        comp = (
            self.weights[:, None]
            * np.exp(-0.5 * (x[None, :] - self.means[:, 0][:, None]) ** 2 / var)
            / np.sqrt(2.0 * np.pi * var)
        )
        return {"x": x, "total": comp.sum(axis=0), "components": comp}

    def _components(self) -> dict[str, np.ndarray]:
        return {"centers": self.means.copy(), "covariances": self.covariances.copy()}

    parameter_names = ("weights", "means", "covariances", "precisions_cholesky")

    def weighted_log_prob(self, parameters: dict, X) -> np.ndarray:
        """(N, K) log pi_k + log N(x_i | mu_k, Sigma_k) of rows ``X`` (new rows or the fitted
        ones) under fitted ``parameters`` (weights, means, precisions_cholesky): the E-step's
        formula; its log-sum-exp over k is each row's log-likelihood, its softmax the
        responsibilities."""
        w = np.asarray(parameters["weights"], dtype=np.float64)
        mu = np.asarray(parameters["means"], dtype=np.float64)
        U = np.asarray(parameters["precisions_cholesky"], dtype=np.float64)
        X = np.asarray(X)
        K, D = mu.shape
        out = np.empty((X.shape[0], K))
        for k in range(K):
            y = (X - mu[k]) @ U[k]
            out[:, k] = (
                np.log(w[k])
                + np.log(np.diagonal(U[k])).sum()
                - 0.5 * D * LOG_2PI
                - 0.5 * np.einsum("ij,ij->i", y, y)
            )
        return out
