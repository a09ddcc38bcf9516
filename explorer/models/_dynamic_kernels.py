"""Numba kernels of the dynamic exposure model (``dynamic_exposure.py`` holds the math and the class).

Notation (docs/derivations/dynamic_exposure.md): pairs p = (i, j) with i < j, observed snapshots
per pair ``nobs[i, j]`` (T minus the held-out cells), observed non-zero snapshots per pair ``m_p``,
aggregated observed counts ``Y_ij`` per ordered pair (stored as CSR rows), rates
``lambda_ij = (U W)_i . V_j`` and exposures ``mu_ij = mu_i . mu_j``. ``S`` is the dense symmetric
matrix of pair activities S_ij = sum_t Q_ij^t over observed snapshots (zero diagonal).

Every kernel of the EM loop writes into buffers allocated once by the model; only
``count_heldout_pairs`` (initialisation) allocates a little scratch.

The small ``inline="always"`` helpers are named after the quantity of the derivation they compute
and keep the operation order of the loops they came from, so the fits are bit-identical to the
code before they were factored out.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from explorer.models._splitmix import GOLDEN, mix

# ---- counter-based hashing: which (t, i, j) cells are held out --------------------------------
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0
_TINY = 1e-300


@numba.njit(cache=True, nogil=True)
def seed_state(seed):
    return mix(np.uint64(seed) * GOLDEN + GOLDEN)


@numba.njit(cache=True, nogil=True)
def cell_unit(state, t, a, b, n):
    """Uniform [0, 1) number attached to cell (t, a, b) of an n-node network (a < b)."""
    key = (np.uint64(t) * np.uint64(n) + np.uint64(a)) * np.uint64(n) + np.uint64(b)
    return float(mix(state + key * GOLDEN) >> _S11) * _INV53


@numba.njit(cache=True, nogil=True)
def heldout_flags(state, frac, t, a, b, n, out):
    for e in range(t.shape[0]):
        out[e] = cell_unit(state, t[e], a[e], b[e], n) < frac


@numba.njit(cache=True, nogil=True)
def fill_observed(nobs, T, state, frac):
    """nobs[a, b] = number of snapshots of pair (a, b) that are not held out (symmetric)."""
    n = nobs.shape[0]
    for a in range(n):
        nobs[a, a] = 0
        for b in range(a + 1, n):
            h = 0
            if frac > 0.0:
                for t in range(T):
                    if cell_unit(state, t, a, b, n) < frac:
                        h += 1
            nobs[a, b] = T - h
    for a in range(n):
        for b in range(a + 1, n):
            nobs[b, a] = nobs[a, b]


@numba.njit(cache=True, nogil=True, inline="always")
def _evaluation_weight(state, rate, kept_positive, a, b, n):
    """Weight of held-out pair (a, b) in the evaluation set: 1 when every pair is kept
    (rate >= 1) or when it is a kept positive pair, 1 / rate when the hashed sample draws it,
    0 when it is left out."""
    if rate >= 1.0:
        return 1.0
    if kept_positive:
        return 1.0
    if cell_unit(state, 0, a, b, n) < rate:
        return 1.0 / rate
    return 0.0


@numba.njit(cache=True, nogil=True)
def _walk_heldout_pairs(
    nobs, T, state, rate, pos_a, pos_b, pos_c, keep_all_pos, fill, ea, eb, epos, eneg
):
    """The pairs with at least one held-out cell, in (a, b) order, that the evaluation set keeps
    (``_evaluation_weight``); returns their number and, when ``fill``, writes them. Counting and
    filling share this one walk, so the sizes they agree on cannot drift apart."""
    n = nobs.shape[0]
    c = 0
    p = 0
    npos = pos_a.shape[0]
    for a in range(n):
        for b in range(a + 1, n):
            h = T - nobs[a, b]
            if h <= 0:
                continue
            while p < npos and (pos_a[p] < a or (pos_a[p] == a and pos_b[p] < b)):
                p += 1
            has_pos = p < npos and pos_a[p] == a and pos_b[p] == b
            w = _evaluation_weight(state, rate, has_pos and keep_all_pos, a, b, n)
            if w == 0.0:
                continue
            if fill:
                npc = pos_c[p] if has_pos else 0.0
                ea[c] = a
                eb[c] = b
                epos[c] = npc
                eneg[c] = (h - npc) * w
            c += 1
    return c


@numba.njit(cache=True, nogil=True)
def count_heldout_pairs(nobs, T, state, rate, pos_a, pos_b, pos_c, keep_all_pos):
    """Number of pairs with at least one held-out cell that the evaluation set keeps."""
    none_i = np.empty(0, dtype=np.int64)
    none_f = np.empty(0, dtype=np.float64)
    return _walk_heldout_pairs(
        nobs,
        T,
        state,
        rate,
        pos_a,
        pos_b,
        pos_c,
        keep_all_pos,
        False,
        none_i,
        none_i,
        none_f,
        none_f,
    )


@numba.njit(cache=True, nogil=True)
def fill_heldout_pairs(nobs, T, state, rate, pos_a, pos_b, pos_c, keep_all_pos, ea, eb, epos, eneg):
    """Evaluation pairs: every pair with a held-out cell (or a hashed sample of those without a
    held-out positive, their negatives weighted 1/rate). epos/eneg: held-out non-zero / zero cells.
    """
    _walk_heldout_pairs(
        nobs, T, state, rate, pos_a, pos_b, pos_c, keep_all_pos, True, ea, eb, epos, eneg
    )


# ---- small dense helpers -----------------------------------------------------------------------


@numba.njit(cache=True, nogil=True, inline="always")
def _row_times(x, M, out):
    """out_q = sum_k x_k M_kq  (a row times a matrix: out = x M)."""
    for q in range(M.shape[1]):
        s = 0.0
        for k in range(M.shape[0]):
            s += x[k] * M[k, q]
        out[q] = s


@numba.njit(cache=True, nogil=True)
def left_product(U, W, out):
    """out[i, q] = sum_k U[i, k] W[k, q]  (out = U W)."""
    for i in range(U.shape[0]):
        _row_times(U[i], W, out[i])


@numba.njit(cache=True, nogil=True)
def right_product(V, W, out):
    """out[j, k] = sum_q V[j, q] W[k, q]  (out = V W^T)."""
    Wt = W.T
    for j in range(V.shape[0]):
        _row_times(V[j], Wt, out[j])


@numba.njit(cache=True, nogil=True)
def _dot(A, i, B, j):
    s = 0.0
    for k in range(A.shape[1]):
        s += A[i, k] * B[j, k]
    return s


@numba.njit(cache=True, nogil=True)
def _pair_terms(UW, V, MU, i, j, directed):
    mu = _dot(MU, i, MU, j)
    lam = _dot(UW, i, V, j)
    if directed:
        lam += _dot(UW, j, V, i)
    return mu, lam


# ---- E-step and observed-data log-likelihood --------------------------------------------------


@numba.njit(cache=True, nogil=True, inline="always")
def _zero_cell(mu, lam):
    """A snapshot of a pair with zero counts: its likelihood mu e^-L + 1 - mu, computed as
    om = 1 - mu (1 - e^-L), and its posterior exposure q0 = mu e^-L / om."""
    one_m_e = -math.expm1(-lam)
    om = 1.0 - mu * one_m_e
    q0 = mu * (1.0 - one_m_e) / om
    return om, q0


@numba.njit(cache=True, nogil=True, inline="always")
def _nonzero_correction(mu, lam, om):
    """What a non-zero snapshot adds to the log-likelihood beyond counting it as zero, without
    its counts' own terms: log mu - L - log(mu e^-L + 1 - mu)."""
    return math.log(mu) - lam - math.log(om)


@numba.njit(cache=True, nogil=True, inline="always")
def _count_loglik(y, lam):
    """y log lambda (lambda floored at 1e-300): a count's share of log Pois(y; lambda) beyond
    -lambda and -log y!."""
    return y * math.log(max(lam, _TINY))


@numba.njit(cache=True, nogil=True, inline="always")
def _set_pair(S, i, j, s):
    """S_ij = S_ji = s (pair activities are symmetric)."""
    S[i, j] = s
    S[j, i] = s


@numba.njit(cache=True, nogil=True)
def estep(UW, V, MU, nobs, S, pa, pb, pm, ptr, idx, yv, directed, ll_const, T):
    """E-step: S_ij = sum_t Q_ij^t; returns (observed-data log-likelihood, zero part of the
    held-out log-likelihood).

    Every observed cell first counts as zero (Q = q0 = mu e^-L / (mu e^-L + 1 - mu), log-lik
    log(mu e^-L + 1 - mu)), then the m_p non-zero cells of each active pair are corrected
    (Q = 1, log-lik log mu - L + sum A log lambda - log A!), so the cost is O(pairs K + nnz K).
    The T - n_ij held-out cells of each pair are counted as zeros in the same pass (the held-out
    non-zero cells are corrected by ``heldout_correction``).
    """
    n = nobs.shape[0]
    ll = 0.0
    hz = 0.0
    B = 64
    for ib in range(0, n, B):
        ie = min(ib + B, n)
        for jb in range(ib, n, B):
            je = min(jb + B, n)
            for i in range(ib, ie):
                for j in range(max(jb, i + 1), je):
                    nn = nobs[i, j]
                    mu, lam = _pair_terms(UW, V, MU, i, j, directed)
                    om, q0 = _zero_cell(mu, lam)
                    _set_pair(S, i, j, nn * q0)
                    lo = math.log(om)
                    ll += nn * lo
                    hz += (T - nn) * lo
    for p in range(pa.shape[0]):
        i = pa[p]
        j = pb[p]
        m = pm[p]
        mu, lam = _pair_terms(UW, V, MU, i, j, directed)
        om, q0 = _zero_cell(mu, lam)
        _set_pair(S, i, j, nobs[i, j] * q0 + m * (1.0 - q0))
        ll += m * _nonzero_correction(mu, lam, om)
    for i in range(n):
        for e in range(ptr[i], ptr[i + 1]):
            j = idx[e]
            if not directed and j < i:
                continue
            ll += _count_loglik(yv[e], _dot(UW, i, V, j))
    return ll + ll_const, hz


@numba.njit(cache=True, nogil=True)
def heldout_correction(UW, V, MU, ha, hb, hm, hy_ab, hy_ba, directed):
    """The held-out non-zero cells' share of the held-out log-likelihood, beyond counting them as
    zeros: per pair with hm held-out non-zero cells carrying hy_ab (and hy_ba) counts,
    hm (log mu - L - log(1 - mu (1 - e^-L))) + hy_ab log lambda_ab [+ hy_ba log lambda_ba]."""
    acc = 0.0
    for p in range(ha.shape[0]):
        a = ha[p]
        b = hb[p]
        mu = _dot(MU, a, MU, b)
        lab = _dot(UW, a, V, b)
        lam = lab
        lba = 0.0
        if directed:
            lba = _dot(UW, b, V, a)
            lam += lba
        om, _ = _zero_cell(mu, lam)
        acc += hm[p] * _nonzero_correction(mu, lam, om)
        if hy_ab[p] > 0.0:
            acc += _count_loglik(hy_ab[p], lab)
        if hy_ba[p] > 0.0:
            acc += _count_loglik(hy_ba[p], lba)
    return acc


@numba.njit(cache=True, nogil=True)
def pair_history_scores(ptr, idx, yv, nobs, ea, eb, directed, out):
    """Baseline score of pair (a, b): its observed counts per observed snapshot,
    (Y_ab [+ Y_ba]) / n_ab, read from the CSR rows by binary search."""
    for p in range(ea.shape[0]):
        a = ea[p]
        b = eb[p]
        tot = _csr_get(ptr, idx, yv, a, b)
        if directed:
            tot += _csr_get(ptr, idx, yv, b, a)
        nn = nobs[a, b]
        out[p] = tot / nn if nn > 0 else 0.0


@numba.njit(cache=True, nogil=True)
def _csr_get(ptr, idx, yv, r, c):
    lo = ptr[r]
    hi = ptr[r + 1]
    while lo < hi:
        mid = (lo + hi) // 2
        if idx[mid] < c:
            lo = mid + 1
        else:
            hi = mid
    if lo < ptr[r + 1] and idx[lo] == c:
        return yv[lo]
    return 0.0


# ---- M-step for u, v, w (multiplicative updates of the Poisson blockmodel) -------------------


@numba.njit(cache=True, nogil=True, inline="always")
def _add_activity_weighted(S, r, X, out):
    """out_k += sum_c S_rc X_ck over the pairs with S_rc != 0 (row r of S X: the
    activity-weighted denominators of the multiplicative updates)."""
    for c in range(S.shape[1]):
        s = S[r, c]
        if s != 0.0:
            for k in range(X.shape[1]):
                out[k] += s * X[c, k]


@numba.njit(cache=True, nogil=True)
def mstep_rows(R, X, S, ptr, idx, yv, W, sym, num, den):
    """R_rk <- R_rk (sum_c Y_rc X_ck / lambda_rc) / (sum_c S_rc X_ck), lambda_rc = R_r . X_c.

    Directed: R = u with X = v W^T (out-neighbour CSR), or R = v with X = u W (in-neighbour CSR);
    each row's update maximises its minoriser exactly (rows are independent given X).
    Undirected (sym): R = u, X = u W kept current row by row (Gauss-Seidel), since lambda is
    linear in u_r when the other rows are fixed: each row update is an exact MM step.
    """
    n, K = R.shape
    for r in range(n):
        for k in range(K):
            den[k] = 0.0
            num[k] = 0.0
        _add_activity_weighted(S, r, X, den)
        for e in range(ptr[r], ptr[r + 1]):
            c = idx[e]
            lam = _dot(R, r, X, c)
            if lam > 0.0:
                f = yv[e] / lam
                for k in range(K):
                    num[k] += f * X[c, k]
        for k in range(K):
            if den[k] > 0.0:
                R[r, k] *= num[k] / den[k]
        if sym:
            _row_times(R[r], W, X[r])


@numba.njit(cache=True, nogil=True)
def mstep_w(U, V, W, S, ptr, idx, yv, SV, num, den, sym):
    """w_kq <- w_kq (sum_(i,j) Y_ij u_ik v_jq / lambda_ij) / (sum_(i != j) S_ij u_ik v_jq).

    lambda is linear in w, so this is the exact maximiser of the Jensen minoriser. For undirected
    networks (v = u, w symmetric) both sums run over ordered pairs; the factor 2 cancels.
    """
    n, K = U.shape
    for i in range(n):
        for q in range(K):
            SV[i, q] = 0.0
        _add_activity_weighted(S, i, V, SV[i])
    for k in range(K):
        for q in range(K):
            num[k, q] = 0.0
            den[k, q] = 0.0
    for i in range(n):
        for k in range(K):
            uk = U[i, k]
            for q in range(K):
                den[k, q] += uk * SV[i, q]
    for i in range(n):
        for e in range(ptr[i], ptr[i + 1]):
            j = idx[e]
            lam = 0.0
            for k in range(K):
                for q in range(K):
                    lam += U[i, k] * W[k, q] * V[j, q]
            if lam > 0.0:
                f = yv[e] / lam
                for k in range(K):
                    for q in range(K):
                        num[k, q] += f * U[i, k] * V[j, q]
    for k in range(K):
        for q in range(K):
            if den[k, q] > 0.0:
                W[k, q] *= num[k, q] / den[k, q]
    if sym:
        for k in range(K):
            for q in range(k + 1, K):
                a = 0.5 * (W[k, q] + W[q, k])
                W[k, q] = a
                W[q, k] = a


# ---- M-step for mu: F(mu) = sum_{i<j} S_ij log mu_ij + (n_ij - S_ij) log(1 - mu_ij) -----------


@numba.njit(cache=True, nogil=True, inline="always")
def _pair_snapshots(S, nobs, k, i):
    """(S_ki, n_ki - S_ki): pair (k, i)'s expected exposed and unexposed observed snapshots (the
    second floored at 0 against rounding)."""
    s = S[k, i]
    return s, max(nobs[k, i] - s, 0.0)


@numba.njit(cache=True, nogil=True, inline="always")
def _pair_F(s, c, d):
    """Pair (k, i)'s term of F: S_ki log mu_ki + (n_ki - S_ki) log(1 - mu_ki), d = mu_ki."""
    return s * math.log(d) + c * math.log1p(-d)


@numba.njit(cache=True, nogil=True)
def _row_eval(MU, k, y, S, nobs, eps):
    """(feasible, f_k(y)): the part of F that involves row k, with row k replaced by y."""
    n, K = MU.shape
    f = 0.0
    for i in range(n):
        if i == k:
            continue
        d = 0.0
        for e in range(K):
            d += y[e] * MU[i, e]
        if d < eps or d > 1.0 - eps:
            return False, 0.0
        if nobs[k, i] == 0:
            continue
        s, c = _pair_snapshots(S, nobs, k, i)
        f += _pair_F(s, c, d)
    return True, f


@numba.njit(cache=True, nogil=True)
def _row_grad_hess(MU, k, S, nobs, g, H):
    """Gradient g_e = dF/dmu_ke and Hessian H_ee2 = d2F/dmu_ke dmu_ke2 of F in row k:
    sum_{i != k} mu_ie f1_ki and -sum_{i != k} mu_ie mu_ie2 f2_ki with, for d = mu_ki,
    f1 = S_ki / d - (n_ki - S_ki) / (1 - d) and f2 = S_ki / d^2 + (n_ki - S_ki) / (1 - d)^2."""
    n, K = MU.shape
    for e in range(K):
        g[e] = 0.0
        for e2 in range(K):
            H[e, e2] = 0.0
    for i in range(n):
        if i == k or nobs[k, i] == 0:
            continue
        d = _dot(MU, k, MU, i)
        s, c = _pair_snapshots(S, nobs, k, i)
        om = 1.0 - d
        f1 = s / d - c / om
        f2 = s / (d * d) + c / (om * om)
        for e in range(K):
            me = MU[i, e]
            g[e] += me * f1
            for e2 in range(e + 1):
                H[e, e2] -= me * MU[i, e2] * f2
    for e in range(K):
        for e2 in range(e + 1, K):
            H[e, e2] = H[e2, e]


@numba.njit(cache=True, nogil=True)
def _solve_free(H, g, free, A, L, d):
    """d_F = (-H_FF + ridge)^-1 g_F by Cholesky on the compacted free block; d = 0 elsewhere."""
    K = g.shape[0]
    nf = 0
    for e in range(K):
        d[e] = 0.0
        if free[e]:
            nf += 1
    if nf == 0:
        return False
    # compact indices of the free coordinates are kept in L's last column pass below
    r = 0
    tr = 0.0
    for e in range(K):
        if not free[e]:
            continue
        c = 0
        for e2 in range(K):
            if not free[e2]:
                continue
            A[r, c] = -H[e, e2]
            c += 1
        tr += A[r, r]
        r += 1
    ridge = 1e-10 * tr / nf + 1e-300
    for r in range(nf):
        A[r, r] += ridge
    # Cholesky A = L L^T
    for r in range(nf):
        for c in range(r + 1):
            s = A[r, c]
            for m in range(c):
                s -= L[r, m] * L[c, m]
            if r == c:
                if s <= 0.0:
                    return False
                L[r, r] = math.sqrt(s)
            else:
                L[r, c] = s / L[c, c]
    # forward then backward substitution, right-hand side g_F
    z = A[:, 0]  # reuse the first column of A as scratch after the factorisation
    r = 0
    for e in range(K):
        if free[e]:
            s = g[e]
            for m in range(r):
                s -= L[r, m] * z[m]
            z[r] = s / L[r, r]
            r += 1
    for r in range(nf - 1, -1, -1):
        s = z[r]
        for m in range(r + 1, nf):
            s -= L[m, r] * z[m]
        z[r] = s / L[r, r]
    r = 0
    for e in range(K):
        if free[e]:
            d[e] = z[r]
            r += 1
    return True


@numba.njit(cache=True, nogil=True)
def _line_search(MU, k, x, d, S, nobs, eps, f0, y):
    """Largest alpha in 1, 1/2, ... (30 halvings) with clip(x + alpha d) feasible and f >= f0."""
    K = x.shape[0]
    alpha = 1.0
    for _ in range(31):
        for e in range(K):
            v = x[e] + alpha * d[e]
            y[e] = min(max(v, 0.0), 1.0)
        ok, f = _row_eval(MU, k, y, S, nobs, eps)
        if ok and f >= f0:
            return True, f
        alpha *= 0.5
    return False, f0


@numba.njit(cache=True, nogil=True)
def mstep_mu(MU, S, nobs, eps, n_steps, g, H, A, L, d, x, y, free):
    """M-step for mu: node by node (Gauss-Seidel), projected Newton steps on the concave row
    objective f_k(mu_k) with halving until every mu_k . mu_i stays in [eps, 1 - eps] and f_k does
    not decrease; a diagonally scaled gradient step is the fallback. F never decreases.
    Returns the number of row steps that were rejected (kept the row unchanged)."""
    n, K = MU.shape
    rejected = 0
    for k in range(n):
        for e in range(K):
            x[e] = MU[k, e]
        ok, f0 = _row_eval(MU, k, x, S, nobs, eps)
        if not ok:  # cannot happen from a feasible start; leave the row alone
            rejected += 1
            continue
        for _ in range(n_steps):
            _row_grad_hess(MU, k, S, nobs, g, H)
            for e in range(K):
                free[e] = not ((x[e] <= 0.0 and g[e] <= 0.0) or (x[e] >= 1.0 and g[e] >= 0.0))
            accepted = False
            if _solve_free(H, g, free, A, L, d):
                accepted, f1 = _line_search(MU, k, x, d, S, nobs, eps, f0, y)
            if not accepted:
                any_free = False
                for e in range(K):
                    if free[e] and H[e, e] < 0.0:
                        d[e] = g[e] / (-H[e, e])
                        any_free = True
                    else:
                        d[e] = 0.0
                if any_free:
                    accepted, f1 = _line_search(MU, k, x, d, S, nobs, eps, f0, y)
            if not accepted:
                rejected += 1
                break
            for e in range(K):
                x[e] = y[e]
                MU[k, e] = y[e]
            gain = f1 - f0
            f0 = f1
            if gain <= 1e-12 * abs(f1):
                break
    return rejected


# ---- held-out link prediction --------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def pair_scores(UW, V, MU, ea, eb, directed, out):
    """P(A_ij^t != 0) = mu_ij (1 - exp(-Lambda_ij)), the same for every snapshot."""
    for p in range(ea.shape[0]):
        mu, lam = _pair_terms(UW, V, MU, ea[p], eb[p], directed)
        out[p] = mu * (-math.expm1(-lam))


@numba.njit(cache=True, nogil=True)
def _sift(order, scores, start, end):
    root = start
    while True:
        child = 2 * root + 1
        if child >= end:
            return
        if child + 1 < end and scores[order[child + 1]] > scores[order[child]]:
            child += 1
        if scores[order[child]] > scores[order[root]]:
            tmp = order[root]
            order[root] = order[child]
            order[child] = tmp
            root = child
        else:
            return


@numba.njit(cache=True, nogil=True)
def weighted_auc(scores, pos, neg, order):
    """ROC AUC of cells grouped by score: pos[p] positive and neg[p] negative cells share
    scores[p]; ties count one half. ``order`` is a preallocated index buffer (heap sort)."""
    n = scores.shape[0]
    for p in range(n):
        order[p] = p
    for start in range(n // 2 - 1, -1, -1):
        _sift(order, scores, start, n)
    for end in range(n - 1, 0, -1):
        tmp = order[0]
        order[0] = order[end]
        order[end] = tmp
        _sift(order, scores, 0, end)
    tot_pos = 0.0
    tot_neg = 0.0
    for p in range(n):
        tot_pos += pos[p]
        tot_neg += neg[p]
    if tot_pos <= 0.0 or tot_neg <= 0.0:
        return np.nan
    below = 0.0
    acc = 0.0
    p = 0
    while p < n:
        s = scores[order[p]]
        gp = 0.0
        gn = 0.0
        q = p
        while q < n and scores[order[q]] == s:
            gp += pos[order[q]]
            gn += neg[order[q]]
            q += 1
        acc += gp * (below + 0.5 * gn)
        below += gn
        p = q
    return acc / (tot_pos * tot_neg)
