"""Kernels shared by the centre-based models (``kmeans``, ``fuzzy-cmeans`` with ``harden``,
``kmedians``' seeding, and the mixtures' k-means initialisation): seeding, assignment, centre update.

* **Seeding**: greedy k-means++ (Arthur & Vassilvitskii, as scikit-learn implements it): the first
  centre uniformly at random, then each next centre the best (lowest resulting potential) of
  ``2 + floor(ln K)`` candidates drawn with probability proportional to the distance to the
  nearest chosen centre (squared Euclidean, or L1 for K-medians): :func:`plusplus`,
  :func:`kmeans_plusplus`, :func:`initial_centers`. Given the canonical row order
  (``explorer/models/_canonical.py``) the rows are drawn in that order, so a permutation of the
  rows gives the same centres. From 100,000 rows (or for float32 data) it runs on
  the transposed data with O(N) scratch and parallel distance passes, the candidates four at a
  time, the draw from block sums of the distances (:func:`_plusplus_lean`).
* **Assignment** (the "E-step" of Lloyd's algorithm): ``z_i = argmin_k ||x_i - mu_k||^2`` (lowest
  index on ties) fused with the per-cluster sums and counts of the next centre update, on the
  (D, N) transpose of the data in blocks of BLOCK rows (:func:`assign`; :func:`step_parallel`
  runs a whole Lloyd step over row chunks in parallel). Below DIRECT_MAX_K centres by the
  difference form (:func:`_nearest_block`); from it the centres are ranked by
  ``||mu_k||^2 - 2 x.mu_k`` in the data's type (:func:`_approx_block`), near ties settled exactly
  in float64 (:func:`_assign_rows_ranked`).
* **Centre update** (the "M-step"): ``mu_k = sums_k / counts_k``, after re-seeding empty clusters
  with the row farthest from its centre (:func:`update_centers`).

The models (``kmeans.py``, ``fuzzy_cmeans.py``, ``kmedians.py``) hold the state and call these.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba.core import types
from numba.extending import overload

from explorer.models._parallel import call, claim

# ---- assignment and centre update ------------------------------------------------------------

# Reassociation lets LLVM vectorise the D-term sums and use FMA; no "nnan"/"ninf" (the kernels
# start minima at +inf and pad the centres with +inf norms). Results stay deterministic for a given
# build and data.
FASTMATH = {"reassoc", "contract"}


# Rows are processed in blocks of this many: the block's slice of XT (D x BLOCK: 32 KB at D = 16
# in float64) stays in L1 while every centre's pass runs over it.
BLOCK = 256

# Scratch rows of the assignment (a (SCRATCH_ROWS + D, BLOCK + 8) array of the data's type): four
# partial distance rows (one per centre of a group of four), the block's smallest and second
# smallest approximate distance and the index of the smallest, the rows' squared norms (relative to
# the shift), then the block's copy of the data.
SCRATCH_ROWS = 8
_BEST, _SECOND, _INDEX, _NORM = 4, 5, 6, 7

# Below this many centres the assignment takes the difference form for every centre
# (:func:`_assign_rows_direct`); from it, the ranked pass (:func:`_assign_rows_ranked`). The
# ranked pass costs about half the direct one per centre and coordinate but adds a booking pass of
# a fixed cost per row and coordinate (the block copy, the gap test, the exact distance of the
# chosen centre), so the crossover is at a number of centres, nearly whatever D. Serial CPU time
# of one assignment of 200,000 rows of blobs, direct / ranked (median of 9, alternated, load 2;
# bench/README.md, "Small K"): float64 K = 4-24: 0.58-0.84 (D = 4-32), K = 32: 0.74 (D = 8), 1.04
# (D = 16), 1.25 (D = 32), K = 64: 1.07 (D = 8), 1.57 (D = 32); float32 K = 4-16: 0.43-0.81,
# K = 32: 0.90-1.00, K = 50: 1.13-1.29.
DIRECT_MAX_K = 32

# Unit roundoff of the approximate pass, per type: 2^-53 for float64, 2^-24 for float32.
_U64 = 2.0**-53
_U32 = 2.0**-24


@numba.njit(cache=True, nogil=True, inline="always")
def nearest_centre(X, i, centers, l1, dist):
    """Assignment of row i of X (N, D), row at a time: (k, d) with k = argmin_k d(x_i, mu_k)
    (lowest index on ties) and d its distance, the squared Euclidean one or, with ``l1``, the L1
    one; each centre's distance is also written to ``dist[k]`` unless ``dist`` is empty."""
    D = X.shape[1]
    keep = dist.shape[0] > 0
    best = 0
    bestd = np.inf
    for k in range(centers.shape[0]):
        d = 0.0
        for j in range(D):
            t = X[i, j] - centers[k, j]
            d += abs(t) if l1 else t * t
        if keep:
            dist[k] = d
        if d < bestd:
            bestd = d
            best = k
    return best, bestd


@numba.njit(cache=True, nogil=True, inline="always")
def relabel(labels, i, k):
    """labels[i] = k; returns 1 if row i changed cluster, else 0."""
    if labels[i] != k:
        labels[i] = k
        return 1
    return 0


@numba.njit(cache=True, nogil=True, inline="always")
def farthest_movable_row(labels, counts, mind, XT, centers):
    """The row that re-seeds an empty cluster: the one farthest from its centre among rows whose
    cluster has another row (lowest index on ties), or -1. Its distance is ``mind[i]`` when
    ``mind`` holds one per row, else the squared Euclidean distance computed again from XT, the
    (D, N) transpose of the data (float32 data keeps no ``mind``)."""
    N = labels.shape[0]
    have_mind = mind.shape[0] == N
    p = -1
    far = -1.0
    for i in range(N):
        if counts[labels[i]] > 1.0:
            if have_mind:
                di = mind[i]
            else:
                di = 0.0
                c = labels[i]
                for j in range(XT.shape[0]):
                    t = XT[j, i] - centers[c, j]
                    di += t * t
            if di > far:
                far = di
                p = i
    return p


def padded_centres(K: int) -> int:
    """Centres as the approximate pass takes them: K rounded up to a multiple of four (the extra
    ones have +inf norms: never nearest)."""
    return -(-K // 4) * 4


@numba.njit(cache=True, nogil=True)
def prepare_centres(centers, ct, cn, shift):
    """The approximate pass's view of the centres, in the data's type, relative to an origin
    ``shift`` (D,): ct[k] = -2 (mu_k - shift), cn[k] = ||mu_k - shift||^2 (computed in float64,
    then rounded), the padding centres (k >= K) 0 and +inf. Returns max_k ||mu_k - shift||^2
    (float64), for the pass's error bound.

    For float32 data the origin is the centres' mean (the pass's rounding error grows with the
    squared norms: float32 data far from the origin would otherwise send every row to the exact
    fallback); float64 data keeps the origin (shift 0: its copy stays exact)."""
    K, D = centers.shape
    for j in range(D):
        shift[j] = 0.0
    if ct.itemsize == 4:
        for k in range(K):
            for j in range(D):
                shift[j] += centers[k, j]
        for j in range(D):
            shift[j] /= K
    big = 0.0
    for k in range(ct.shape[0]):
        if k < K:
            s = 0.0
            for j in range(D):
                c = centers[k, j] - shift[j]
                ct[k, j] = -2.0 * c
                s += c * c
            cn[k] = s
            big = max(big, s)
        else:
            for j in range(D):
                ct[k, j] = 0.0
            cn[k] = np.inf
    return big


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def _keep_two(v, k, b, s, bi):
    """Running smallest b (index bi) and second smallest s of a row's values after taking value v
    of centre k (branch-free: selects, vectorised across rows)."""
    s = min(s, max(b, v))
    bi = k if v < b else bi
    b = min(b, v)
    return b, s, bi


@numba.njit(cache=True, nogil=True, inline="always")
def _rows4(XT, j, b0, n):
    """Coordinates j .. j+3 of rows b0 .. b0+n-1: four views of XT's rows (no copy)."""
    return (
        XT[j, b0 : b0 + n],
        XT[j + 1, b0 : b0 + n],
        XT[j + 2, b0 : b0 + n],
        XT[j + 3, b0 : b0 + n],
    )


@numba.njit(cache=True, nogil=True, inline="always")
def _coords4(C, k, j):
    """Coordinates j .. j+3 of row k of C."""
    return C[k, j], C[k, j + 1], C[k, j + 2], C[k, j + 3]


@numba.njit(cache=True, nogil=True, inline="always")
def _column4(C, k, j):
    """Coordinate j of rows k .. k+3 of C."""
    return C[k, j], C[k + 1, j], C[k + 2, j], C[k + 3, j]


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH)
def _approx_block(XT, ct, cn, b0, n, work):
    """Approximate nearest centre of rows b0 .. b0+n-1: for row b0 + i, the smallest of
    a_k = ||mu_k||^2 - 2 x.mu_k (the squared distance less ||x||^2, the same for every centre) in
    work[_BEST, i], its centre in work[_INDEX, i] (as a float), the second smallest in
    work[_SECOND, i]. Computed in the data's type (ct, cn: :func:`prepare_centres`).

    One multiply-add per row, centre and coordinate (the difference form costs a subtraction
    more). Register-blocked: rows on SIMD lanes (XT's rows are contiguous), four centres and four
    coordinates a pass, so each loaded vector of x feeds 16 multiply-adds from 16 coefficients
    held in registers; the last pass of a group of four centres updates the running minima."""
    D = XT.shape[0]
    Kp = ct.shape[0]
    r = D % 4
    a0 = work[0]
    a1 = work[1]
    a2 = work[2]
    a3 = work[3]
    bestd = work[_BEST]
    secd = work[_SECOND]
    bestk = work[_INDEX]
    for i in range(n):
        bestd[i] = np.inf
        secd[i] = np.inf
        bestk[i] = 0
    for k in range(0, Kp, 4):
        kf = bestk.dtype.type(k)
        n0 = cn[k]
        n1 = cn[k + 1]
        n2 = cn[k + 2]
        n3 = cn[k + 3]
        for i in range(n):
            a0[i] = n0
            a1[i] = n1
            a2[i] = n2
            a3[i] = n3
        for j in range(r):  # the D mod 4 leading coordinates, one at a time
            x0 = XT[j, b0 : b0 + n]
            c00, c10, c20, c30 = _column4(ct, k, j)
            for i in range(n):
                y0 = x0[i]
                a0[i] += c00 * y0
                a1[i] += c10 * y0
                a2[i] += c20 * y0
                a3[i] += c30 * y0
        for j in range(r, D, 4):  # then four at a time
            x0, x1, x2, x3 = _rows4(XT, j, b0, n)
            c00, c01, c02, c03 = _coords4(ct, k, j)
            c10, c11, c12, c13 = _coords4(ct, k + 1, j)
            c20, c21, c22, c23 = _coords4(ct, k + 2, j)
            c30, c31, c32, c33 = _coords4(ct, k + 3, j)
            if j + 4 < D:
                for i in range(n):
                    y0 = x0[i]
                    y1 = x1[i]
                    y2 = x2[i]
                    y3 = x3[i]
                    a0[i] += c00 * y0 + c01 * y1 + c02 * y2 + c03 * y3
                    a1[i] += c10 * y0 + c11 * y1 + c12 * y2 + c13 * y3
                    a2[i] += c20 * y0 + c21 * y1 + c22 * y2 + c23 * y3
                    a3[i] += c30 * y0 + c31 * y1 + c32 * y2 + c33 * y3
            else:  # the last four: finish the sums, keep the minima
                for i in range(n):
                    y0 = x0[i]
                    y1 = x1[i]
                    y2 = x2[i]
                    y3 = x3[i]
                    v0 = a0[i] + c00 * y0 + c01 * y1 + c02 * y2 + c03 * y3
                    v1 = a1[i] + c10 * y0 + c11 * y1 + c12 * y2 + c13 * y3
                    v2 = a2[i] + c20 * y0 + c21 * y1 + c22 * y2 + c23 * y3
                    v3 = a3[i] + c30 * y0 + c31 * y1 + c32 * y2 + c33 * y3
                    b, s, bi = _keep_two(v0, kf, bestd[i], secd[i], bestk[i])
                    b, s, bi = _keep_two(v1, kf + 1, b, s, bi)
                    b, s, bi = _keep_two(v2, kf + 2, b, s, bi)
                    b, s, bi = _keep_two(v3, kf + 3, b, s, bi)
                    bestd[i] = b
                    secd[i] = s
                    bestk[i] = bi
        if D < 4:
            for i in range(n):
                b, s, bi = _keep_two(a0[i], kf, bestd[i], secd[i], bestk[i])
                b, s, bi = _keep_two(a1[i], kf + 1, b, s, bi)
                b, s, bi = _keep_two(a2[i], kf + 2, b, s, bi)
                b, s, bi = _keep_two(a3[i], kf + 3, b, s, bi)
                bestd[i] = b
                secd[i] = s
                bestk[i] = bi


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH)
def _exact_nearest(XT, r, centers):
    """(k, d): the centre nearest row r by the difference form sum_j (x_rj - mu_kj)^2 in float64
    (lowest index on ties), and d that distance."""
    D = XT.shape[0]
    best = 0
    bestd = np.inf
    for k in range(centers.shape[0]):
        d = 0.0
        for j in range(D):
            t = XT[j, r] - centers[k, j]
            d += t * t
        if d < bestd:
            bestd = d
            best = k
    return best, bestd


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def _sq4(x0, x1, x2, x3, c0, c1, c2, c3, i):
    """||x_i - c||^2 over four coordinates, summed in coordinate order."""
    t0 = x0[i] - c0
    t1 = x1[i] - c1
    t2 = x2[i] - c2
    t3 = x3[i] - c3
    a = t0 * t0
    a += t1 * t1
    a += t2 * t2
    a += t3 * t3
    return a


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def _add_sq4(a, x0, x1, x2, x3, c0, c1, c2, c3, i):
    """a + ||x_i - c||^2 over four coordinates, added to a one coordinate at a time, in order."""
    t0 = x0[i] - c0
    t1 = x1[i] - c1
    t2 = x2[i] - c2
    t3 = x3[i] - c3
    a += t0 * t0
    a += t1 * t1
    a += t2 * t2
    a += t3 * t3
    return a


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def _keep_nearest(a, k, i, bestd, best):
    """Row i's running minimum and argmin take (a, k) if a is smaller (branch-free selects)."""
    lt = a < bestd[i]
    bestd[i] = a if lt else bestd[i]
    best[i] = k if lt else best[i]


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH)
def _nearest_block(XT, centers, b0, n, acc, bestd, best):
    """Nearest centre of rows b0 .. b0+n-1 by the difference form in float64: bestd[i], best[i]
    for row b0 + i (lowest index on ties). Rows on SIMD lanes (XT is the (D, N) transpose),
    coordinates four at a time (one pass over ``acc`` per four), each row's squared distance
    summed over j in increasing order, as :func:`_exact_nearest` sums it."""
    D = XT.shape[0]
    K = centers.shape[0]
    for i in range(n):
        bestd[i] = np.inf
        best[i] = 0
    r = D % 4
    for k in range(K):
        for j in range(r):  # the D mod 4 leading coordinates, one at a time
            cj = centers[k, j]
            x0 = XT[j, b0 : b0 + n]
            if j == 0:
                for i in range(n):
                    t0 = x0[i] - cj
                    acc[i] = t0 * t0
            else:
                for i in range(n):
                    t0 = x0[i] - cj
                    acc[i] += t0 * t0
        if D < 4:
            for i in range(n):
                _keep_nearest(acc[i], k, i, bestd, best)
            continue
        for j in range(r, D, 4):  # then four at a time; the last four also update
            c0, c1, c2, c3 = _coords4(centers, k, j)  # the running minimum
            x0, x1, x2, x3 = _rows4(XT, j, b0, n)
            if j + 4 < D:
                if j == 0:
                    for i in range(n):
                        acc[i] = _sq4(x0, x1, x2, x3, c0, c1, c2, c3, i)
                else:
                    for i in range(n):
                        acc[i] = _add_sq4(acc[i], x0, x1, x2, x3, c0, c1, c2, c3, i)
            elif j == 0:
                for i in range(n):
                    _keep_nearest(_sq4(x0, x1, x2, x3, c0, c1, c2, c3, i), k, i, bestd, best)
            else:
                for i in range(n):
                    _keep_nearest(
                        _add_sq4(acc[i], x0, x1, x2, x3, c0, c1, c2, c3, i), k, i, bestd, best
                    )


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH)
def _assign_rows_direct(XT, centers, lo, hi, labels, sums, counts, mind):
    """:func:`assign_rows` for small K D: block by block, :func:`_nearest_block` (the exact
    difference form for every centre), then one pass in row order booking labels, counts, sums
    and distances. Its scratch is allocated here (a few KB a call)."""
    D = XT.shape[0]
    B = BLOCK
    acc = np.empty(B)
    bestd = np.empty(B)
    best = np.empty(B, dtype=np.int64)
    total = 0.0
    changed = 0
    keep = mind.shape[0] > 0
    for b0 in range(lo, hi, B):
        n = min(hi, b0 + B) - b0
        _nearest_block(XT, centers, b0, n, acc, bestd, best)
        for i in range(n):
            r = b0 + i
            k = best[i]
            changed += relabel(labels, r, k)
            counts[k] += 1.0
            for j in range(D):
                sums[k, j] += XT[j, r]
            total += bestd[i]
            if keep:
                mind[r] = bestd[i]
    return total, changed


def _float64_rows(work, block64):
    """The block's copy as the booking pass reads it (float64): work's data rows for float64
    data, else ``block64`` (chosen when the kernel is compiled, by the overload below)."""
    return work[SCRATCH_ROWS:] if work.dtype == np.float64 else block64


@overload(_float64_rows, jit_options={"cache": True})
def _float64_rows_impl(work, block64):
    if work.dtype == types.float64:
        return lambda work, block64: work[SCRATCH_ROWS:]
    return lambda work, block64: block64


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH)
def assign_rows(XT, centers, ct, cn, shift, big, lo, hi, labels, sums, counts, mind, work, block64):
    """Assignment of rows lo .. hi-1 fused with accumulation into ``sums``, ``counts`` (added
    to, not reset), and each row's squared distance to its centre booked in ``mind`` (an empty
    ``mind`` is not written). The label is the exact nearest centre (lowest index on ties), as
    the difference form sum_j (x_j - mu_kj)^2 in float64 would choose it. Below
    ``DIRECT_MAX_K`` centres the difference form itself
    (:func:`_assign_rows_direct`), else the ranked pass (:func:`_assign_rows_ranked`: its
    docstring says what ct, cn, shift, big, work and block64 are).

    Returns (sum of the rows' squared distances, number of labels that changed).
    """
    if centers.shape[0] < DIRECT_MAX_K:
        return _assign_rows_direct(XT, centers, lo, hi, labels, sums, counts, mind)
    return _assign_rows_ranked(
        XT, centers, ct, cn, shift, big, lo, hi, labels, sums, counts, mind, work, block64
    )


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH)
def _assign_rows_ranked(
    XT, centers, ct, cn, shift, big, lo, hi, labels, sums, counts, mind, work, block64
):
    """Assignment of rows lo .. hi-1 fused with accumulation into ``sums``, ``counts`` (added
    to, not reset): block by block, :func:`_approx_block`, then one pass in row order booking
    labels, counts, per-cluster sums (float64 whatever XT's type) and each row's squared
    distance to its centre (``mind``; an empty ``mind`` is not written). ``work`` is
    (SCRATCH_ROWS + D, BLOCK + 8) scratch of XT's type, ``block64`` (D, BLOCK + 8) float64
    scratch for float32 data (unused for float64 data: (0, BLOCK + 8); :func:`lloyd_scratch`);
    ct, cn, shift, big from :func:`prepare_centres` (the approximate pass works on x - shift).

    The label is the exact nearest centre (lowest index on ties), as the difference form
    sum_j (x_j - mu_kj)^2 in float64 would choose it. The approximate values a_k carry a rounding
    error of at most (D + 4) u (3 max_k ||mu_k - s||^2 + ||x - s||^2) each (s the shift, u the unit
    roundoff of XT's type; the (D + 1)-term sum, the rounding of the centres, their norms and
    x - s to XT's type); when the
    second smallest exceeds the smallest by more than twice that (four times here, for margin),
    the smallest is the exact nearest centre; otherwise (near ties, duplicate centres) the row's
    distances are computed again exactly, :func:`_exact_nearest`. The booked distance is the
    difference form in float64, or for float64 data ||x||^2 + a_k where its error bound is below
    2^-44 of it (5.7e-14 relative; it cancels for rows near their centre, which take the
    difference form).

    Returns (sum of the rows' squared distances, number of labels that changed).
    """
    D = XT.shape[0]
    B = BLOCK
    # The block's rows are copied first: in XT a block's D slices lie N elements apart, so
    # for N a multiple of 512 they fall in the same L1 set and evict each other (the booking pass
    # reads a row's D values across them); in the copy they lie BLOCK + 8 apart. Float32 data is
    # also copied to float64 (block64) for the booking pass: converting there costs more.
    xb = work[SCRATCH_ROWS : SCRATCH_ROWS + D]
    single = XT.itemsize == 4
    b64 = _float64_rows(work, block64)
    u = _U32 if single else _U64
    slack = 4.0 * (D + 4) * u
    fine = 2.0**44 * (D + 4) * u
    big3 = 3.0 * big
    total = 0.0
    changed = 0
    keep = mind.shape[0] > 0  # an empty ``mind``: the distances are not kept
    bestd = work[_BEST]
    secd = work[_SECOND]
    bestk = work[_INDEX]
    norm = work[_NORM]
    for b0 in range(lo, hi, B):
        n = min(hi, b0 + B) - b0
        for i in range(n):
            norm[i] = 0.0
        # (loops: numba's slice assignment costs more); with the rows' ||x - shift||^2 for the
        # error bound, rows on SIMD lanes (float32 data: in float32, ample for a bound with a
        # factor 2 of margin)
        for j in range(D):
            src = XT[j, b0 : b0 + n]
            dst = xb[j]
            dst64 = block64[j]
            if single:
                sj = shift[j]
                for i in range(n):
                    v = np.float64(src[i])
                    dst64[i] = v
                    w = v - sj
                    dst[i] = w
                    norm[i] += w * w
            else:  # (shift 0)
                for i in range(n):
                    v = src[i]
                    dst[i] = v
                    norm[i] += v * v
        _approx_block(xb, ct, cn, 0, n, work)
        for i in range(n):
            r = b0 + i
            k = int(bestk[i])
            xx = np.float64(norm[i])
            gap = np.float64(secd[i]) - np.float64(bestd[i])
            if not gap > slack * (big3 + xx):  # a near tie (or not finite): exact
                k, d = _exact_nearest(XT, r, centers)
            else:
                # float64 data: ||x||^2 + a_k is the distance to within (D + 4) u (3 ||mu_k||^2 +
                # ||x||^2); taken when that is below 2^-44 of it (5.7e-14 relative), else (rows
                # near their centre, where it cancels; float32 data always) the difference form
                d = xx + np.float64(bestd[i])
                if single or not d > fine * (3.0 * np.float64(cn[k]) + xx):
                    d = 0.0
                    for j in range(D):
                        t = b64[j, i] - centers[k, j]
                        d += t * t
            changed += relabel(labels, r, k)
            counts[k] += 1.0
            for j in range(D):
                sums[k, j] += b64[j, i]
            total += d
            if keep:
                mind[r] = d
    return total, changed


@numba.njit(cache=True, nogil=True)
def assign_scratch(XT, centers):
    """A serial assignment pass's centre tables and scratch (:func:`assign_rows`' ct, cn, shift,
    big, work, block64), for XT's type: a few KB."""
    K, D = centers.shape
    Kp = -(-K // 4) * 4
    ct = np.empty((Kp, D), dtype=XT.dtype)
    cn = np.empty(Kp, dtype=XT.dtype)
    shift = np.empty(D)
    big = prepare_centres(centers, ct, cn, shift)
    work = np.empty((SCRATCH_ROWS + D, BLOCK + 8), dtype=XT.dtype)
    block64 = np.empty((D if XT.itemsize == 4 else 0, BLOCK + 8))
    return ct, cn, shift, big, work, block64


@numba.njit(cache=True, nogil=True)
def assign(XT, centers, labels, sums, counts, mind, acc, best):
    """Assignment fused with accumulation (serial): nearest centre of every row, per-cluster sums
    and counts for the next centre update, each row's squared distance to its centre. XT is the
    (D, N) transpose of the data. ``acc`` and ``best`` are no longer used (the scratch depends on
    XT's type and is allocated here: a few KB); they stay in the signature for the callers.

    Returns (distortion, number of labels that changed).
    """
    sums[:, :] = 0.0
    counts[:] = 0.0
    ct, cn, shift, big, work, block64 = assign_scratch(XT, centers)
    # np.int64(0), not the literal 0: the parallel step's compiled assign_rows is reused
    lo, hi = np.int64(0), XT.shape[1]
    return assign_rows(
        XT, centers, ct, cn, shift, big, lo, hi, labels, sums, counts, mind, work, block64
    )


# Rows per chunk of the chunked Lloyd step (a multiple of BLOCK), and at most this many chunks:
# many more chunks than threads, so that a thread the scheduler has put behind another process
# holds up the step by one small chunk (``_parallel``); the chunks depend on N, K and D only,
# never on the thread count, so the result does not either.
CHUNK_ROWS = 32 * BLOCK
MAX_CHUNKS = 256


def lloyd_chunks(N: int, K: int, D: int) -> int:
    """Number of row chunks of :func:`step_parallel` for N rows, K centres, D coordinates: one per
    CHUNK_ROWS rows, at most MAX_CHUNKS, fewer when K (D + 1) is large (each chunk keeps its own
    K x D sums: at most ~32 MB of them)."""
    cap = max(16, min(MAX_CHUNKS, (1 << 22) // (K * (D + 1))))
    return max(1, min(cap, -(-N // CHUNK_ROWS)))


def lloyd_scratch(n_chunks: int, D: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Per-chunk scratch of :func:`assign_rows` for data of ``dtype``: (work_t, block_t), work_t
    (n_chunks, SCRATCH_ROWS + D, BLOCK + 8) of dtype, block_t (n_chunks, D, BLOCK + 8) float64
    for float32 data, (n_chunks, 0, BLOCK + 8) for float64 data (whose copy is work's)."""
    work_t = np.zeros((n_chunks, SCRATCH_ROWS + D, BLOCK + 8), dtype=dtype)
    block_t = np.zeros((n_chunks, D if dtype == np.float32 else 0, BLOCK + 8))
    return work_t, block_t


@numba.njit(cache=True, nogil=True, parallel=True, fastmath=FASTMATH)
def step_parallel(
    XT,
    centers,
    labels,
    sums,
    counts,
    mind,
    sums_t,
    counts_t,
    dist_t,
    changed_t,
    work_t,
    block_t,
    ct,
    cn,
    update,
    nw,
):
    """A whole Lloyd step in one call: (when ``update``) the centre update of
    :func:`update_centers`, then the chunked twin of :func:`assign`, chunk c accumulating into
    sums_t[c], counts_t[c] (scratch work_t[c], block_t[c]: :func:`lloyd_scratch`), and the
    chunk sums added in chunk order into sums, counts. ct, cn ((Kp, D) and (Kp,) of XT's type,
    Kp = :func:`padded_centres`) receive the centres as the approximate pass takes them. ``nw``
    threads take the chunks one at a time (``_parallel.call``).

    Returns (distortion, labels changed, clusters re-seeded).
    """
    D, N = XT.shape
    K = centers.shape[0]
    n_chunks = dist_t.shape[0]
    n_reseeded = 0
    if update:  # ``update`` (a bool), not the literal True: one compiled update_centers
        n_reseeded = update_centers(XT, labels, sums, counts, mind, centers, update)
    shift = np.empty(D)
    big = prepare_centres(centers, ct, cn, shift)
    size = (N + n_chunks - 1) // n_chunks
    counter = np.zeros(1, dtype=np.int64)
    for _ in numba.prange(nw):
        while True:
            c = claim(counter)
            if c >= n_chunks:
                break
            lo = min(N, c * size)
            hi = min(N, lo + size)
            sums_t[c, :, :] = 0.0
            counts_t[c, :] = 0.0
            dist_t[c], changed_t[c] = assign_rows(
                XT,
                centers,
                ct,
                cn,
                shift,
                big,
                lo,
                hi,
                labels,
                sums_t[c],
                counts_t[c],
                mind,
                work_t[c],
                block_t[c],
            )
    # Add the per-chunk accumulators in chunk order (deterministic for a given chunk count).
    sums[:, :] = 0.0
    counts[:] = 0.0
    total = 0.0
    changed = 0
    for c in range(n_chunks):
        for k in range(K):
            counts[k] += counts_t[c, k]
            for j in range(D):
                sums[k, j] += sums_t[c, k, j]
        total += dist_t[c]
        changed += changed_t[c]
    return total, changed, n_reseeded


@numba.njit(cache=True, nogil=True)
def update_centers(XT, labels, sums, counts, mind, centers, reseed):
    """Centre update mu_k = sums_k / counts_k, after re-seeding empty clusters.

    An empty cluster k takes the row p farthest from its current centre (``mind``) among rows
    whose cluster has at least two members; p is moved (labels, sums, counts) so that the update
    is the exact mean of the new labels. Without ``reseed`` an empty cluster keeps its centre.
    Returns the number of re-seeded clusters. XT is the (D, N) transpose of the data (read only
    when re-seeding).
    """
    K, D = centers.shape
    have_mind = mind.shape[0] == labels.shape[0]
    n_reseeded = 0
    if reseed:
        for k in range(K):
            if counts[k] > 0.0:
                continue
            p = farthest_movable_row(labels, counts, mind, XT, centers)
            if p < 0:
                continue  # cannot happen when K <= N
            old = labels[p]
            for j in range(D):
                sums[old, j] -= XT[j, p]
                sums[k, j] = XT[j, p]
            counts[old] -= 1.0
            counts[k] = 1.0
            labels[p] = k
            if have_mind:
                mind[p] = 0.0
            n_reseeded += 1
    for k in range(K):
        if counts[k] > 0.0:
            for j in range(D):
                centers[k, j] = sums[k, j] / counts[k]
    return n_reseeded


# Below this many rows the serial kernel is used (threads cost more than they save).


def data_matrix(X) -> np.ndarray:
    """The data as the kernels take it: float32 stays float32 (C or F order), anything else
    float64; no copy when it already is one of these."""
    X = np.asarray(X)
    if X.dtype == np.float32 or X.dtype == np.float64:
        if X.flags.c_contiguous or X.flags.f_contiguous:
            return X
    return np.ascontiguousarray(X, dtype=np.float32 if X.dtype == np.float32 else np.float64)


def transposed(X: np.ndarray) -> np.ndarray:
    """The (D, N) row-major transpose of X: a free view when X is column-major (the columnar
    loader's layout), else a copy (rows contiguous per coordinate: SIMD lanes)."""
    if X.flags.f_contiguous:
        return X.T
    return np.ascontiguousarray(X.T)


# ---- seeding ---------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _dist_to_points(X, C, l1, out):
    """out[c, i] = ||X[i] - C[c]||^2, or with ``l1`` sum_j |X[i, j] - C[c, j]|."""
    N, D = X.shape
    for c in range(C.shape[0]):
        for i in range(N):
            s = 0.0
            for j in range(D):
                t = X[i, j] - C[c, j]
                s += abs(t) if l1 else t * t
            out[c, i] = s


# From this many rows (or for float32 data) k-means++ runs on the transposed data with O(N)
# scratch: the dense path keeps (2 + ln K) candidate distance rows of N float64 (640 MB at 20 M
# rows, K = 10) and a cumulative sum. Since its passes run in blocks with rows on SIMD lanes the
# lean path is also the faster one: 200,000 x 16, K = 50, one thread, 0.23-0.27 s CPU against
# 0.38-0.39 s for the dense one, the same centres (bench/README.md, "k-means++ seeding").
_LEAN_SEEDING_MIN_ROWS = 100_000
# Rows per chunk of the lean seeding's parallel passes (results do not depend on the thread count).
_SEED_CHUNK = 65536


# Rows per block of the seeding passes: for each candidate the block's distances are accumulated
# coordinate by coordinate with the rows on SIMD lanes (XT's rows are contiguous), as the Lloyd
# step's assignment does; row at a time, each row's D coordinates sat N apart in memory.
_SEED_BLOCK = 256


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def _block_sq_distances(XT, c, b0, n, acc):
    """acc[i] = ||x_{b0 + i} - c||^2 for i < n, in float64, summed over j in increasing order."""
    D = XT.shape[0]
    for i in range(n):
        acc[i] = 0.0
    for j in range(D):
        cj = c[j]
        x = XT[j, b0 : b0 + n]
        for i in range(n):
            u = x[i] - cj
            acc[i] += u * u


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH)
def _block_sq_distances4(XT, cands, g, b0, n, acc, D):
    """acc[q, i] = the sum over the first D coordinates (D: XT's, or that less a multiple of
    four) of (x_{b0 + i, j} - cands[g + q, j])^2, for q < 4, i < n: :func:`_block_sq_distances`
    for four candidates at once (each loaded vector of x feeds four of them), each sum over j
    in increasing order from 0.0 as there (the same values, bit for bit). One form of loop for
    every coordinate (no first-coordinate variant): each variant costs compile time, and the
    zeroing pass is cheap beside the distances."""
    a0 = acc[0]
    a1 = acc[1]
    a2 = acc[2]
    a3 = acc[3]
    for i in range(n):
        a0[i] = 0.0
        a1[i] = 0.0
        a2[i] = 0.0
        a3[i] = 0.0
    r = D % 4
    for j in range(r):  # the D mod 4 leading coordinates, one at a time
        x = XT[j, b0 : b0 + n]
        c0, c1, c2, c3 = _column4(cands, g, j)
        for i in range(n):
            y = x[i]
            t0 = y - c0
            t1 = y - c1
            t2 = y - c2
            t3 = y - c3
            a0[i] += t0 * t0
            a1[i] += t1 * t1
            a2[i] += t2 * t2
            a3[i] += t3 * t3
    for j in range(r, D, 4):  # then four at a time
        x0, x1, x2, x3 = _rows4(XT, j, b0, n)
        c00, c01, c02, c03 = _coords4(cands, g, j)
        c10, c11, c12, c13 = _coords4(cands, g + 1, j)
        c20, c21, c22, c23 = _coords4(cands, g + 2, j)
        c30, c31, c32, c33 = _coords4(cands, g + 3, j)
        for i in range(n):
            a0[i] = _add_sq4(a0[i], x0, x1, x2, x3, c00, c01, c02, c03, i)
            a1[i] = _add_sq4(a1[i], x0, x1, x2, x3, c10, c11, c12, c13, i)
            a2[i] = _add_sq4(a2[i], x0, x1, x2, x3, c20, c21, c22, c23, i)
            a3[i] = _add_sq4(a3[i], x0, x1, x2, x3, c30, c31, c32, c33, i)


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH)
def _block_potentials4(XT, cands, g, b0, n, acc, closest, store, slots, keep):
    """For four candidates g .. g+3 and rows b0 .. b0+n-1: v = min(closest[i], ||x_i - c||^2)
    (the distances as :func:`_block_sq_distances4` sums them), their sums over the block, and
    with ``keep`` v written to store[slots[g + q]]. The last four coordinates are added in the
    loop that takes the minima (one pass over the block's accumulators, not two). D >= 4."""
    D = XT.shape[0]
    j = D - 4
    _block_sq_distances4(XT, cands, g, b0, n, acc, j)
    a0 = acc[0]
    a1 = acc[1]
    a2 = acc[2]
    a3 = acc[3]
    x0, x1, x2, x3 = _rows4(XT, j, b0, n)
    c00, c01, c02, c03 = _coords4(cands, g, j)
    c10, c11, c12, c13 = _coords4(cands, g + 1, j)
    c20, c21, c22, c23 = _coords4(cands, g + 2, j)
    c30, c31, c32, c33 = _coords4(cands, g + 3, j)
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    o0 = store[slots[g]] if keep else closest
    o1 = store[slots[g + 1]] if keep else closest
    o2 = store[slots[g + 2]] if keep else closest
    o3 = store[slots[g + 3]] if keep else closest
    for i in range(n):
        ci = closest[b0 + i]
        d0 = _add_sq4(a0[i], x0, x1, x2, x3, c00, c01, c02, c03, i)
        d1 = _add_sq4(a1[i], x0, x1, x2, x3, c10, c11, c12, c13, i)
        d2 = _add_sq4(a2[i], x0, x1, x2, x3, c20, c21, c22, c23, i)
        d3 = _add_sq4(a3[i], x0, x1, x2, x3, c30, c31, c32, c33, i)
        v0 = d0 if d0 < ci else ci
        v1 = d1 if d1 < ci else ci
        v2 = d2 if d2 < ci else ci
        v3 = d3 if d3 < ci else ci
        s0 += v0
        s1 += v1
        s2 += v2
        s3 += v3
        if keep:
            o0[b0 + i] = v0
            o1[b0 + i] = v1
            o2[b0 + i] = v2
            o3[b0 + i] = v3
    return s0, s1, s2, s3


# The lean seeding keeps its candidates' distances (n_trials rows of N beside closest) when they
# take at most this many bytes: 48 MB at 1,000,000 rows, K = 50, float64.
_SEED_STORE_BYTES = 1 << 28

# Positions per block of the seeding's draw: the rows' distances are summed per block of this
# many consecutive positions of the draw's order (the canonical row order), so that a draw adds
# up the block sums and then walks one block, not all N rows (a walk in canonical order reads
# the distances in a random order: 19 ms a draw at 1 M rows).
_DRAW_BLOCK = 4096


@numba.njit(cache=True, nogil=True, parallel=True, fastmath=FASTMATH)
def _seed_update(XT, c, closest, rank, bsums, nw):
    """closest[i] = min(closest[i], ||x_i - c||^2) (computed in float64, stored in closest's
    type; closest all +inf: the distances to c), and bsums[b] = the sum of closest over the rows
    whose draw position (``rank[i]``, or i when ``rank`` is empty) lies in block b of
    _DRAW_BLOCK positions. Returns the sum of closest, added in chunk order. ``nw`` threads take
    the chunks one at a time."""
    D, N = XT.shape
    n_chunks = (N + _SEED_CHUNK - 1) // _SEED_CHUNK
    NB = bsums.shape[0]
    part = np.zeros(n_chunks)
    bpart = np.zeros((n_chunks, NB))
    ranked = rank.shape[0] == N
    counter = np.zeros(1, dtype=np.int64)
    for _ in numba.prange(nw):
        acc = np.empty(_SEED_BLOCK)
        while True:
            ch = claim(counter)
            if ch >= n_chunks:
                break
            s = 0.0
            bp = bpart[ch]
            hi = min(N, (ch + 1) * _SEED_CHUNK)
            for b0 in range(ch * _SEED_CHUNK, hi, _SEED_BLOCK):
                n = min(hi, b0 + _SEED_BLOCK) - b0
                _block_sq_distances(XT, c, b0, n, acc)
                for i in range(n):  # (the sum takes m before closest's rounding)
                    ci = closest[b0 + i]
                    m = acc[i] if acc[i] < ci else ci
                    closest[b0 + i] = m
                    s += m
                if ranked:
                    for i in range(n):
                        bp[rank[b0 + i] // _DRAW_BLOCK] += closest[b0 + i]
                else:
                    for i in range(n):
                        bp[(b0 + i) // _DRAW_BLOCK] += closest[b0 + i]
            part[ch] = s
    for b in range(NB):
        t = 0.0
        for ch in range(n_chunks):
            t += bpart[ch, b]
        bsums[b] = t
    return part.sum()


@numba.njit(cache=True, nogil=True, parallel=True, fastmath=FASTMATH)
def _seed_block_sums(closest, rank, bsums, nw):
    """bsums[b] = the sum of closest over the rows whose draw position (``rank[i]``, or i when
    ``rank`` is empty) lies in block b of _DRAW_BLOCK positions, added in chunk order (as
    :func:`_seed_update` adds them)."""
    N = closest.shape[0]
    n_chunks = (N + _SEED_CHUNK - 1) // _SEED_CHUNK
    NB = bsums.shape[0]
    bpart = np.zeros((n_chunks, NB))
    ranked = rank.shape[0] == N
    counter = np.zeros(1, dtype=np.int64)
    for _ in numba.prange(nw):
        while True:
            ch = claim(counter)
            if ch >= n_chunks:
                break
            bp = bpart[ch]
            hi = min(N, (ch + 1) * _SEED_CHUNK)
            if ranked:
                for i in range(ch * _SEED_CHUNK, hi):
                    bp[rank[i] // _DRAW_BLOCK] += closest[i]
            else:
                for i in range(ch * _SEED_CHUNK, hi):
                    bp[i // _DRAW_BLOCK] += closest[i]
    for b in range(NB):
        t = 0.0
        for ch in range(n_chunks):
            t += bpart[ch, b]
        bsums[b] = t


@numba.njit(cache=True, nogil=True, parallel=True, fastmath=FASTMATH)
def _seed_potentials(XT, cands, closest, store, slots, nw):
    """For each candidate centre t: sum_i min(closest[i], ||x_i - cands[t]||^2), the candidates
    four at a time (:func:`_block_sq_distances4`). With ``slots`` (T,) non-empty, each
    candidate's min(closest[i], ...) is also written to store[slots[t], i] (in closest's type,
    as :func:`_seed_update` would write it), so the chosen candidate's row becomes the next
    ``closest`` without a second pass over the data. ``nw`` threads take the chunks one at a
    time."""
    D, N = XT.shape
    T = cands.shape[0]
    keep = slots.shape[0] == T
    n_chunks = (N + _SEED_CHUNK - 1) // _SEED_CHUNK
    part = np.zeros((n_chunks, T))
    counter = np.zeros(1, dtype=np.int64)
    for _ in numba.prange(nw):
        acc = np.empty((4, _SEED_BLOCK))
        while True:
            ch = claim(counter)
            if ch >= n_chunks:
                break
            hi = min(N, (ch + 1) * _SEED_CHUNK)
            for b0 in range(ch * _SEED_CHUNK, hi, _SEED_BLOCK):
                n = min(hi, b0 + _SEED_BLOCK) - b0
                for g in range(0, T, 4):
                    m = min(4, T - g)
                    if m == 4 and D >= 4:
                        s0, s1, s2, s3 = _block_potentials4(
                            XT, cands, g, b0, n, acc, closest, store, slots, keep
                        )
                        part[ch, g] += s0
                        part[ch, g + 1] += s1
                        part[ch, g + 2] += s2
                        part[ch, g + 3] += s3
                        continue
                    if m == 4:
                        _block_sq_distances4(XT, cands, g, b0, n, acc, D)
                    else:
                        for q in range(m):
                            _block_sq_distances(XT, cands[g + q], b0, n, acc[q])
                    for q in range(m):
                        a = acc[q]
                        s = 0.0
                        if keep:
                            out = store[slots[g + q]]
                            for i in range(n):
                                ci = closest[b0 + i]
                                v = a[i] if a[i] < ci else ci
                                out[b0 + i] = v
                                s += v
                        else:
                            for i in range(n):
                                ci = closest[b0 + i]
                                s += a[i] if a[i] < ci else ci
                        part[ch, g + q] += s
    out = np.zeros(T)
    for ch in range(n_chunks):
        for t in range(T):
            out[t] += part[ch, t]
    return out


@numba.njit(cache=True, nogil=True)
def _seed_draw(closest, order, bsums, targets, out):
    """out[t] = order[c] for the first draw position c with closest[order[0]] + ... +
    closest[order[c]] > targets[t], or order[N - 1] (targets sorted ascending; an empty
    ``order``: the identity). The prefix sum is taken from the block sums ``bsums``
    (:func:`_seed_update`) up to the target's block, then row by row: the rows' own sums in
    another order of addition, so a draw within rounding of a boundary may fall on the other
    side of it."""
    N = closest.shape[0]
    NB = bsums.shape[0]
    ordered = order.shape[0] == N
    T = targets.shape[0]
    s = 0.0
    b = 0
    for t in range(T):
        while b < NB and s + bsums[b] <= targets[t]:
            s += bsums[b]
            b += 1
        last = order[N - 1] if ordered else N - 1
        out[t] = last
        w = s
        for c in range(min(N, b * _DRAW_BLOCK), N):
            i = order[c] if ordered else c
            w += closest[i]
            if w > targets[t]:
                out[t] = i
                break


def _plusplus_lean(
    XT: np.ndarray, K: int, rng: np.random.Generator, progress=None, order: np.ndarray | None = None
) -> np.ndarray:
    """Greedy k-means++ (as :func:`plusplus`) on the (D, N) transpose with O(N) scratch; the
    distance passes run in parallel chunks, the candidates four at a time. Reports progress (one
    unit per centre). With ``order`` (a canonical row order) the rows are drawn in that order;
    the distances stay in the data's order (each row's is computed alike wherever it sits), only
    the potentials and the draw's block sums are summed in another order, so a permutation of
    the rows changes them by rounding only."""
    from explorer.progress import Task

    D, N = XT.shape
    n_trials = 2 + int(math.log(K))
    centers = np.empty((K, D))
    # closest: row ``cur`` of ``store``; with room for n_trials more rows (_SEED_STORE_BYTES) the
    # candidates' passes write their new distances there (``slots``) and the chosen one's row
    # becomes closest, else a second pass over the data (_seed_update) lowers closest.
    itemsize = np.dtype(XT.dtype).itemsize  # float32 data: float32 distances
    rows = n_trials + 1 if (n_trials + 1) * N * itemsize <= _SEED_STORE_BYTES else 1
    store = np.empty((rows, N), dtype=XT.dtype)
    cur = 0
    slots = np.arange(1, rows, dtype=np.int64)
    store[cur] = np.inf
    bsums = np.zeros(-(-N // _DRAW_BLOCK))
    if order is None:
        rank = np.empty(0, dtype=np.int32)
        order = np.empty(0, dtype=np.int64)
    else:
        rank = np.empty(N, dtype=np.int32 if N < 2**31 else np.int64)
        rank[order] = np.arange(N, dtype=rank.dtype)
    n_chunks = (N + _SEED_CHUNK - 1) // _SEED_CHUNK
    with Task("k-means++ seeding", total=K, unit="centres", callback=progress) as task:
        first = int(rng.integers(N))
        if len(order):
            first = int(order[first])
        centers[0] = XT[:, first]
        pot = call(_seed_update, n_chunks, N * D, XT, centers[0], store[cur], rank, bsums)
        task.update(1)
        cand = np.empty(n_trials, dtype=np.int64)
        picked = np.empty(n_trials, dtype=np.int64)
        for c in range(1, K):
            if pot > 0.0:
                r = rng.random(n_trials) * pot
                by_target = np.argsort(r, kind="stable")
                _seed_draw(store[cur], order, bsums, r[by_target], picked)
                cand[by_target] = picked
            else:
                cand[:] = rng.integers(N, size=n_trials)
                if len(order):
                    cand[:] = order[cand]
            cands = np.ascontiguousarray(XT[:, cand].T, dtype=np.float64)
            pots = call(
                _seed_potentials, n_chunks, N * D * n_trials, XT, cands, store[cur], store, slots
            )
            best = int(np.argmin(pots))
            if len(slots):
                cur, slots[best] = slots[best], cur
                call(_seed_block_sums, n_chunks, N, store[cur], rank, bsums)
                pot = pots[best]
            else:
                pot = call(_seed_update, n_chunks, N * D, XT, cands[best], store[cur], rank, bsums)
            centers[c] = cands[best]
            task.update(1)
    return centers


def plusplus(
    X: np.ndarray,
    K: int,
    rng: np.random.Generator,
    metric: str,
    order: np.ndarray | None = None,
    XT: np.ndarray | None = None,
) -> np.ndarray:
    """Greedy k-means++ seeding (scikit-learn's variant); ``metric`` "sqeuclidean" or "l1".

    ``order`` (the canonical row order of X, :func:`explorer.models._canonical.
    canonical_row_order`): the rows are drawn as if X were ``X[order]``, so the same rows in any
    order give the same centres (bit for bit on the dense path; on the lean one, from 100,000
    rows, up to a near-tie decided by the rounding of a sum). None: drawn in X's own order.
    ``XT``: ``transposed(data_matrix(X))`` when the caller holds it (the lean path reads it
    instead of a transpose of its own: 0.18 s at 1,000,000 x 16)."""
    X = np.asarray(X)
    N = X.shape[0]
    if order is not None and len(order) != N:
        raise ValueError(f"the row order has {len(order)} entries for {N} rows")
    if metric == "sqeuclidean" and (X.dtype == np.float32 or N >= _LEAN_SEEDING_MIN_ROWS):
        if not 1 <= K <= N:
            raise ValueError(f"K = {K} must be between 1 and the number of rows ({N})")
        if XT is None:
            XT = transposed(data_matrix(X))
        return _plusplus_lean(XT, K, rng, order=order)
    X = np.asarray(X, dtype=np.float64)
    if order is not None:
        X = X[order]  # a copy in canonical order: the draws and sums follow it
    X = np.ascontiguousarray(X)
    N, D = X.shape
    if not 1 <= K <= N:
        raise ValueError(f"K = {K} must be between 1 and the number of rows ({N})")
    l1 = metric != "sqeuclidean"
    n_trials = 2 + int(math.log(K))
    centers = np.empty((K, D))
    first = int(rng.integers(N))
    centers[0] = X[first]
    closest = np.empty((1, N))
    _dist_to_points(X, centers[:1], l1, closest)
    closest = closest[0]
    pot = closest.sum()
    cand_d = np.empty((n_trials, N))
    for c in range(1, K):
        if pot > 0.0:
            r = rng.random(n_trials) * pot
            cand = np.searchsorted(np.cumsum(closest), r, side="right")
            cand = np.minimum(cand, N - 1)
        else:  # every row coincides with a chosen centre: any row will do
            cand = rng.integers(N, size=n_trials)
        _dist_to_points(X, X[cand], l1, cand_d)
        np.minimum(cand_d, closest[None, :], out=cand_d)
        pots = cand_d.sum(axis=1)
        best = int(np.argmin(pots))
        closest = cand_d[best].copy()
        pot = pots[best]
        centers[c] = X[cand[best]]
    return centers


def kmeans_plusplus(
    X: np.ndarray, K: int, rng: np.random.Generator, order: np.ndarray | None = None
) -> np.ndarray:
    """Greedy k-means++ centres (K, D) for the rows of X, drawn with ``rng`` (in the canonical
    row ``order`` when given: see :func:`plusplus`)."""
    return plusplus(X, K, rng, "sqeuclidean", order)


def initial_centers(
    X: np.ndarray,
    K: int,
    seed: int,
    centers=None,
    distance: str = "sqeuclidean",
    order: np.ndarray | None = None,
    XT: np.ndarray | None = None,
) -> np.ndarray:
    """The starting centres of the centre-based models: the given ``centers`` (validated), else
    k-means++ seeding from ``seed`` under ``distance`` ("sqeuclidean" or "l1"), drawn in the
    canonical row ``order`` when given (``XT``: see :func:`plusplus`)."""
    if centers is None:
        centers = plusplus(X, K, np.random.default_rng(seed), distance, order, XT)
    return check_centers(centers, K, X.shape[1])


def check_centers(centers, K: int, D: int) -> np.ndarray:
    """Validate explicit initial centres: finite, shape (K, D); returns a C-contiguous copy."""
    c = np.array(centers, dtype=np.float64, order="C", copy=True)
    if c.shape != (K, D):
        raise ValueError(f"initial centers must have shape ({K}, {D}), got {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError("initial centers must be finite")
    return c
