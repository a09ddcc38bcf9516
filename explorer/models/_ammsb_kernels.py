"""Numba kernels of the assortative MMSB (see explorer/models/ammsb.py for the model and equations).

Everything here is allocation-free: callers pass preallocated buffers. Node indices are int64,
parameters float64. Random numbers come from a small xorshift64* generator whose state lives in
a uint64[1] array owned by the model, so runs are reproducible and independent of other models.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np

_U12 = np.uint64(12)
_U25 = np.uint64(25)
_U27 = np.uint64(27)
_U11 = np.uint64(11)
_MULT = np.uint64(2685821657736338717)
# Fused multiply-add on the hot kernels ('contract'); infinities and NaNs keep their IEEE meaning
# (no 'nnan'/'ninf'), the -inf starting maxima stay valid. No 'reassoc': with it LLVM vectorises
# the sums of loops that also write an array, behind a run-time check of how far apart the arrays
# lie in memory, and falls back to the scalar loop (another summation order) when they lie close.
# Where the allocator put the arrays then changed the result: the same fit with the same seed gave
# two results across processes (football, K = 12, 8 runs: 4 gave one, 4 the other, apart in the
# 14th digit, and so were their assignments.csv). Without it every run is the same; the cost is about 7 % of
# CPU time (n20000: 11.8-12.4 s against 11.2-11.3 s, alternated in one session).
_FM = {"contract"}
# The small helpers named after an equation (phi_exps, bound_exps, halving_step, ...) are
# inline="always": numba inserts their IR into the calling kernel before compiling it, so the
# caller's fastmath flags apply (the helpers carry none of their own) and each kernel compiles to
# the loops it had written out, bit for bit. Compiled as separate functions instead, even with the
# same flags, they changed pair_phi's results (by about 1e-13 relative).
_INV2 = 1.0 / 2
_INV3 = 1.0 / 3
_INV4 = 1.0 / 4
_INV5 = 1.0 / 5
_INV6 = 1.0 / 6
_INV7 = 1.0 / 7
_INV8 = 1.0 / 8
_INV9 = 1.0 / 9


# ---- the kernels' arguments, grouped (numba passes a namedtuple of arrays as a struct: no copy, no
# cost per access; one type per combination of member types, so one compiled specialisation) ----
PairGraph = namedtuple(
    "PairGraph",
    (
        "tr_ptr0",
        "tr_idx0",
        "tr_ptr1",
        "tr_idx1",  # training links: CSR rows of kind 0 / kind 1
        "fb_ptr0",
        "fb_idx0",
        "fb_ptr1",
        "fb_idx1",  # pairs a node may not sample as non-links
        "nonlinks",  # (N, 2) its number of non-links per kind
        "n_kinds",
        "directed",
    ),
)
PairGraph.__doc__ = """The training graph as the minibatch kernels read it. Kind 0 = pairs (a, b) from a's
out-row (undirected: every pair of a), kind 1 = pairs (b, a) from a's in-row (directed only, so
n_kinds = 2); the fb rows (training links, held-out and test pairs, sorted) are what a sampled
non-link must avoid."""
NodeState = namedtuple("NodeState", ("mu", "v", "pi", "S_bar", "visits", "n_pairs"))
NodeState.__doc__ = """Per-node variational parameters: mu (N, K), v = diag(Lambda_a^-1) (N, K),
pi = softmax(mu), the blended statistics S_bar (uncollapsed update only), visit counts, n_pairs."""
NodeSums = namedtuple("NodeSums", ("sum_mu", "sum_mumu", "sum_v"))
NodeSums.__doc__ = """Running sums over all nodes: sum_a mu_a (K,), sum_a mu_a mu_a^T (K, K), sum_a v_a
(K,); the global update reads them, the node updates keep them up to date."""
Globals = namedtuple("Globals", ("c_link", "c_non", "lL", "G", "m", "sums"))
Globals.__doc__ = """Global quantities a minibatch reads: the couplings c (link / non-link), l L, its
inverse G, m, and the running sums over nodes (NodeSums) it keeps up to date."""
Couplings = namedtuple("Couplings", ("c_link", "c_non", "log_eps", "log_1meps"))
Couplings.__doc__ = """The couplings of a link and a non-link (c_k = E[log beta_k] - log eps, and
E[log(1 - beta_k)] - log(1 - eps)) with log eps and log(1 - eps)."""
Prior = namedtuple("Prior", ("N", "m0", "M0", "L0inv"))
Prior.__doc__ = """The hyperprior of the global update: mu ~ N(m0, M0^-1), Lambda ~ W(l0, L0) (L0inv =
L0^-1; l0 is folded into l = l0 + N), and N, the number of nodes (float)."""
QGlobals = namedtuple("QGlobals", ("l", "L", "lL", "lLinv", "m", "M", "Minv"))
QGlobals.__doc__ = """q(Lambda) = W(l, L) and q(mu) = N(m, M^-1), with l L and (l L)^-1, M^-1: what
the global update writes (l, a float, is read only)."""
GlobalWork = namedtuple("GlobalWork", ("W", "C", "e", "x", "r"))
GlobalWork.__doc__ = """Work space of the global update: W (K, K) the matrix inverted (L^-1 afterwards),
C (K, K) its Cholesky factor, e, x, r (K,)."""
Settings = namedtuple(
    "Settings",
    (
        "n_samples",
        "phi_iters",
        "phi_tol",
        "node_tau0",
        "node_kappa",
        "newton_steps",
        "halvings",
        "newton_tol",
        "lowrank_thr",
        "lowrank_max",
    ),
)
Settings.__doc__ = (
    "Scalars of a minibatch: non-link sample size, iteration limits, tolerances, steps."
)
WorkRows = namedtuple(
    "WorkRows",
    (
        "g",  # gradient of the objective a Newton kernel climbs
        "d",  # Newton direction
        "sfx",  # softmax(mu_a + v_a / 2)
        "trial",  # a halving step's trial point
        "work",  # mu_a - m, or the softmax bound's exponentials
        "g_trial",  # collapsed update: the gradient at the trial point
        "ex",  # collapsed update: exp(mu_ak - max mu_a), the node's own factors
        "v_diag",  # v update: the diagonal D of -H = diag(D) - (n/4) sfx sfx^T
        "v_y",  # v update: D^-1 sfx (Sherman-Morrison)
        "phi_next",
    ),
)  # pair_phi_own: the partner's candidate indicator
WorkRows.__doc__ = """The (K,) work rows of the node kernels, one per role (rows of one block)."""
LowRank = namedtuple(
    "LowRank", ("J", "cap", "capC", "s_J", "Ainv_g", "Ainv_s", "cap_rhs", "cap_sol")
)
LowRank.__doc__ = """Work space of newton_direction_lowrank: J (K,) int64 the kept entries of sfx,
cap / capC (K, K) the capacitance matrix and its Cholesky factor (top-left r x r used), s_J (sfx
on J, zero elsewhere), A^-1 g, A^-1 s_J, and the right side and solution of a capacitance solve."""
Scratch = namedtuple(
    "Scratch",
    (
        "phi_f",
        "phi_s",
        "rows",
        "lowrank",
        "hess",
        "chol",
        "mu_old",
        "partner",
        "first",
        "ctype",
        "W",
        "P",
        "Eoff",
    ),
)
Scratch.__doc__ = """Work buffers: (K,) phi_f, phi_s, mu_old; the WorkRows; the LowRank work space;
(K, K) hess (a Newton matrix) and chol (its Cholesky factor); per pair slot of a node (max degree +
2 n_samples per kind): partner (int64), first (bool: the node is the pair's first end), ctype (0
link, 1 non-link), weight W, P (slots, K), Eoff."""


def new_scratch(K: int, slots: int) -> Scratch:
    """Zeroed work buffers for K communities and ``slots`` pair slots."""
    return with_slots(
        Scratch(
            np.zeros(K),
            np.zeros(K),
            WorkRows(*np.zeros((len(WorkRows._fields), K))),
            LowRank(
                np.zeros(K, dtype=np.int64),
                np.zeros((K, K)),
                np.zeros((K, K)),
                *np.zeros((len(LowRank._fields) - 3, K)),
            ),
            np.zeros((K, K)),
            np.zeros((K, K)),
            np.zeros(K),
            *([None] * 6),
        ),
        slots,
    )


def new_global_work(K: int) -> GlobalWork:
    """Zeroed work space of the global update."""
    return GlobalWork(np.zeros((K, K)), np.zeros((K, K)), np.zeros(K), np.zeros(K), np.zeros(K))


def with_slots(sc: Scratch, slots: int) -> Scratch:
    """``sc`` with its per-slot buffers (re)allocated for ``slots`` pair slots when they hold
    fewer (or are missing)."""
    if sc.P is not None and len(sc.P) >= slots:
        return sc
    K = sc.phi_f.shape[0]
    return sc._replace(
        partner=np.zeros(slots, dtype=np.int64),
        first=np.zeros(slots, dtype=np.bool_),
        ctype=np.zeros(slots, dtype=np.int64),
        W=np.zeros(slots),
        P=np.zeros((slots, K)),
        Eoff=np.zeros(slots),
    )


# ---- random numbers ----------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def rng_next(state):
    x = state[0]
    x ^= x >> _U12
    x ^= x << _U25
    x ^= x >> _U27
    state[0] = x
    return x * _MULT


@numba.njit(cache=True, nogil=True)
def rng_int(state, n):
    """Uniform integer in [0, n)."""
    return np.int64((rng_next(state) >> _U11) % np.uint64(n))


@numba.njit(cache=True, nogil=True)
def shuffle(arr, state):
    for i in range(arr.shape[0] - 1, 0, -1):
        j = rng_int(state, i + 1)
        t = arr[i]
        arr[i] = arr[j]
        arr[j] = t


# ---- small dense linear algebra (in place) ------------------------------------------------------
@numba.njit(cache=True, nogil=True, inline="always")
def row_dot(A, i, x):
    """(A x)_i = sum_j A_ij x_j."""
    t = 0.0
    for j in range(x.shape[0]):
        t += A[i, j] * x[j]
    return t


@numba.njit(cache=True, nogil=True, inline="always")
def matvec(A, x, out):
    """out = A x."""
    for i in range(out.shape[0]):
        out[i] = row_dot(A, i, x)


@numba.njit(cache=True, nogil=True, inline="always")
def dot(x, y):
    """x^T y."""
    t = 0.0
    for k in range(x.shape[0]):
        t += x[k] * y[k]
    return t


@numba.njit(cache=True, nogil=True, inline="always")
def centre(x, m, out):
    """out = x - m."""
    for k in range(x.shape[0]):
        out[k] = x[k] - m[k]


@numba.njit(cache=True, nogil=True, fastmath=_FM)
def cholesky(A, C):
    """Lower Cholesky factor of the SPD matrix A into C (only the lower triangle is written)."""
    K = A.shape[0]
    for j in range(K):
        s = A[j, j]
        for p in range(j):
            s -= C[j, p] * C[j, p]
        if s <= 0.0:
            s = 1e-300
        d = math.sqrt(s)
        C[j, j] = d
        for i in range(j + 1, K):
            t = A[i, j]
            for p in range(j):
                t -= C[i, p] * C[j, p]
            C[i, j] = t / d


@numba.njit(cache=True, nogil=True, fastmath=_FM)
def chol_solve(C, b, x):
    """Solve (C C^T) x = b given the lower Cholesky factor C."""
    K = C.shape[0]
    for i in range(K):
        t = b[i]
        for p in range(i):
            t -= C[i, p] * x[p]
        x[i] = t / C[i, i]
    for i in range(K - 1, -1, -1):
        t = x[i]
        for p in range(i + 1, K):
            t -= C[p, i] * x[p]
        x[i] = t / C[i, i]


@numba.njit(cache=True, nogil=True)
def spd_inverse(A, out, C, e, x):
    """out = A^-1 for SPD A; returns log|A|. C (K, K), e and x (K,) are work buffers."""
    K = A.shape[0]
    cholesky(A, C)
    logdet = 0.0
    for i in range(K):
        logdet += 2.0 * math.log(C[i, i])
    for j in range(K):
        for i in range(K):
            e[i] = 0.0
        e[j] = 1.0
        chol_solve(C, e, x)
        for i in range(K):
            out[i, j] = x[i]
    for i in range(K):  # symmetrise against rounding
        for j in range(i + 1, K):
            t = 0.5 * (out[i, j] + out[j, i])
            out[i, j] = t
            out[j, i] = t
    return logdet


# ---- the pair's indicator posteriors -------------------------------------------------------------
@numba.njit(cache=True, nogil=True, inline="always")
def phi_exps(mu, phi_other, c, out):
    """The unnormalised phi update (derivation, phi update, 4.6-4.9): out_k = exp(mu_k +
    phi_other_k c_k - mx), mx = max_k (mu_k + phi_other_k c_k). Returns (mx, sum_k out_k); out may
    be phi_other (each entry is read before it is written)."""
    K = mu.shape[0]
    mx = -np.inf
    for k in range(K):
        t = mu[k] + phi_other[k] * c[k]
        out[k] = t
        if t > mx:
            mx = t
    s = 0.0
    for k in range(K):
        t = math.exp(out[k] - mx)
        out[k] = t
        s += t
    return mx, s


@numba.njit(cache=True, nogil=True, inline="always")
def normalise_change(x, inv, prev, out):
    """out_k = x_k inv (inv = 1 / sum_k x_k); returns max_k |out_k - prev_k|, the change of the
    updated indicator. out may be x or prev."""
    delta = 0.0
    for k in range(x.shape[0]):
        t = x[k] * inv
        d = abs(t - prev[k])
        if d > delta:
            delta = d
        out[k] = t
    return delta


@numba.njit(cache=True, nogil=True, inline="always")
def scale(x, inv):
    """x_k *= inv, in place."""
    for k in range(x.shape[0]):
        x[k] *= inv


@numba.njit(cache=True, nogil=True, fastmath=_FM)
def pair_phi(mu_f, mu_s, pi_s, c, phi_f, phi_s, max_iter, tol):
    """Fixed point of the pair's two indicator vectors (updates for phi_{a->b} and phi_{a<-b}).

    phi_f propto exp(mu_f + phi_s * c), phi_s propto exp(mu_s + phi_f * c), started from
    phi_s = pi_s = softmax(mu_s); c = E[log beta] - log eps for a link and
    E[log(1 - beta)] - log(1 - eps) for a non-link. Each half step is the exact maximiser of the
    ELBO in that vector, so the pair's ELBO never decreases. Stops (after at least two sweeps) when
    no entry of phi_f moved by more than tol: phi_s, a function of phi_f alone, is then at the
    fixed point too. 2 K exponentials per sweep. Returns log sum_k exp(mu_s + phi_f c) of the last
    update of phi_s (phi_s = exp(mu_s + phi_f c - that)).
    """
    K = mu_f.shape[0]
    for k in range(K):
        phi_s[k] = pi_s[k]
    it = 0
    while it < max_iter:
        it += 1
        # phi_f from phi_s (phi_s then holds the exponentials until recomputed); the change of
        # phi_f is measured against its previous value
        mx, s = phi_exps(mu_f, phi_s, c, phi_s)
        delta = normalise_change(phi_s, 1.0 / s, phi_f, phi_f)
        # phi_s from phi_f, exponentials computed once, in place
        mx, s = phi_exps(mu_s, phi_f, c, phi_s)
        scale(phi_s, 1.0 / s)
        if it >= 2 and delta < tol:
            break
    return mx + math.log(s)


@numba.njit(cache=True, nogil=True, inline="always")
def fexp(x):
    """exp(x): its Taylor polynomial of degree 9 for |x| < 1/8 (relative error below
    (1/8)^10 / 10! < 3e-16, i.e. rounding), math.exp otherwise. The pair fixed points take the
    exponential of c_k phi_k, which is small for every community a node barely belongs to."""
    if -0.125 < x < 0.125:
        t = 1.0 + x * _INV9
        t = 1.0 + x * _INV8 * t
        t = 1.0 + x * _INV7 * t
        t = 1.0 + x * _INV6 * t
        t = 1.0 + x * _INV5 * t
        t = 1.0 + x * _INV4 * t
        t = 1.0 + x * _INV3 * t
        t = 1.0 + x * _INV2 * t
        return 1.0 + x * t
    return math.exp(x)


@numba.njit(cache=True, nogil=True, inline="always")
def tilted_weights(pi, phi_other, c, out):
    """The unnormalised phi update from pi = softmax(mu): out_k = pi_k exp(phi_other_k c_k)
    (propto exp(mu_k + phi_other_k c_k)); returns sum_k out_k."""
    s = 0.0
    for k in range(pi.shape[0]):
        t = pi[k] * fexp(phi_other[k] * c[k])
        out[k] = t
        s += t
    return s


@numba.njit(cache=True, nogil=True, fastmath=_FM)
def pair_phi_own(pi_a, pi_b, c, phi_a, phi_b, tmp, max_iter, tol):
    """The pair's fixed point as seen from the visiting node a: phi_b starts at pi_b, then
    phi_a propto exp(mu_a + phi_b c) = pi_a exp(phi_b c) and the candidate
    phi_b' propto pi_b exp(phi_a c) alternate (each the exact maximiser, as in pair_phi; pi =
    softmax(mu), so only exp(c phi) is computed, by fexp). When no entry of phi_b' differs from
    phi_b by more than tol the iteration stops with phi_b kept (the candidate, in tmp, is
    dropped); otherwise phi_b <- phi_b' and phi_a is updated again (at most max_iter updates of
    phi_a). phi_a is thus exactly softmax(mu_a + c phi_b) for the final phi_b, which is within tol
    of its own update; a non-link (small c) usually stops after one round. Returns
    log sum_k pi_ak exp(phi_bk c_k) = log sum_k exp(mu_ak + phi_bk c_k) - logsumexp(mu_a)."""
    K = pi_a.shape[0]
    for k in range(K):
        phi_b[k] = pi_b[k]
    s = 1.0
    it = 0
    while True:
        it += 1
        s = tilted_weights(pi_a, phi_b, c, phi_a)
        scale(phi_a, 1.0 / s)
        if it >= max_iter:
            break
        s2 = tilted_weights(pi_b, phi_a, c, tmp)  # the candidate phi_b'
        delta = normalise_change(tmp, 1.0 / s2, phi_b, tmp)
        if delta < tol:
            break
        for k in range(K):
            phi_b[k] = tmp[k]
    return math.log(s)


@numba.njit(cache=True, nogil=True)
def _in_sorted(idx, lo, hi, b):
    while lo < hi:
        mid = (lo + hi) >> 1
        v = idx[mid]
        if v == b:
            return True
        if v < b:
            lo = mid + 1
        else:
            hi = mid
    return False


@numba.njit(cache=True, nogil=True)
def _visit_pair(a, b, a_first, mu, pi, c, phi_f, phi_s, max_iter, tol):
    """phi for the pair of a and b; returns nothing, own side is phi_f if a_first else phi_s."""
    if a_first:
        pair_phi(mu[a], mu[b], pi[b], c, phi_f, phi_s, max_iter, tol)
    else:
        pair_phi(mu[b], mu[a], pi[a], c, phi_f, phi_s, max_iter, tol)


@numba.njit(cache=True, nogil=True, inline="always")
def _put_slot(ns, a, b, kind, directed, ct, w, partner, first, ctype, W):
    """Pair slot ns: partner b, first (a is the pair's first end), ctype ct, weight w."""
    partner[ns] = b
    first[ns] = (kind == 0) if directed else (a < b)
    ctype[ns] = ct
    W[ns] = w


@numba.njit(cache=True, nogil=True)
def node_pairs(a, g, n_samples, rng, partner, first, ctype, W):
    """The pairs node a visits in a minibatch, in visiting order, into slots 0 .. ns - 1 (returns
    ns): per kind, all its training links (ctype 0, weight 1), then its non-links: every one of
    them (weight 1) when there are at most 2 * n_samples, else n_samples drawn uniformly with
    replacement, weight (number of non-links) / n_samples. first[p]: a is the pair's first end
    (directed: kind 0, i.e. a the sender; undirected: a the smaller index, so a pair's phi is the
    same whichever end visits it). Only this draws random numbers, so visiting the slots after
    enumerating them all is the same as visiting each pair as it is drawn."""
    N = g.nonlinks.shape[0]
    ns = 0
    for kind in range(g.n_kinds):
        if kind == 0:
            tp, ti, fp, fi = g.tr_ptr0, g.tr_idx0, g.fb_ptr0, g.fb_idx0
        else:
            tp, ti, fp, fi = g.tr_ptr1, g.tr_idx1, g.fb_ptr1, g.fb_idx1
        # training links: all of them, weight 1
        for j in range(tp[a], tp[a + 1]):
            _put_slot(ns, a, ti[j], kind, g.directed, 0, 1.0, partner, first, ctype, W)
            ns += 1
        pop = g.nonlinks[a, kind]
        if pop <= 0:
            continue
        lo = fp[a]
        hi = fp[a + 1]
        if pop <= 2 * n_samples:
            # enumerate every non-link of a of this kind
            q = lo
            for b in range(N):
                while q < hi and fi[q] < b:
                    q += 1
                if b == a or (q < hi and fi[q] == b):
                    continue
                _put_slot(ns, a, b, kind, g.directed, 1, 1.0, partner, first, ctype, W)
                ns += 1
        else:
            w = pop / n_samples
            for _ in range(n_samples):
                b = rng_int(rng, N)
                while b == a or _in_sorted(fi, lo, hi, b):
                    b = rng_int(rng, N)
                _put_slot(ns, a, b, kind, g.directed, 1, w, partner, first, ctype, W)
                ns += 1
    return ns


@numba.njit(cache=True, nogil=True)
def batch_phi(batch, n_batch, g, nodes, glob, opt, sc, S_hat, beta_hat, rng):
    """Phase 1 of a minibatch: for each sampled node a, its pairs (node_pairs: all its training
    links and a sample of its non-links), each pair's indicators at their fixed point. Writes node
    a's weighted sum of its own indicators into S_hat[i] and adds the weighted sums of
    phi_f * phi_s over links / non-links into beta_hat[0] / beta_hat[1] (a weight of 1 multiplies
    exactly)."""
    K = nodes.mu.shape[1]
    phi_f = sc.phi_f
    phi_s = sc.phi_s
    for k in range(K):
        beta_hat[0, k] = 0.0
        beta_hat[1, k] = 0.0
    for i in range(n_batch):
        a = batch[i]
        for k in range(K):
            S_hat[i, k] = 0.0
        ns = node_pairs(a, g, opt.n_samples, rng, sc.partner, sc.first, sc.ctype, sc.W)
        for p in range(ns):
            a_first = sc.first[p]
            t = sc.ctype[p]
            w = sc.W[p]
            c = glob.c_link if t == 0 else glob.c_non
            _visit_pair(
                a,
                sc.partner[p],
                a_first,
                nodes.mu,
                nodes.pi,
                c,
                phi_f,
                phi_s,
                opt.phi_iters,
                opt.phi_tol,
            )
            for k in range(K):
                S_hat[i, k] += w * (phi_f[k] if a_first else phi_s[k])
                beta_hat[t, k] += w * phi_f[k] * phi_s[k]


@numba.njit(cache=True, nogil=True)
def beta_pass(order, batch, g, nodes, glob, opt, sc, S_hat, beta_hat, rng):
    """batch_phi over the nodes ``order`` in minibatches of len(batch) nodes: the sums of
    phi_f * phi_s over their links and non-links, (2, K), as the minibatches' beta_hat add up."""
    acc = np.zeros(beta_hat.shape)
    n = batch.shape[0]
    for start in range(0, order.shape[0], n):
        m = min(n, order.shape[0] - start)
        batch[:m] = order[start : start + m]
        batch_phi(batch, m, g, nodes, glob, opt, sc, S_hat, beta_hat, rng)
        acc += beta_hat
    return acc


# ---- node objective, its gradient and Hessian, Newton steps with halving -------------------------
@numba.njit(cache=True, nogil=True, inline="always")
def bound_max(mu_a, v_a):
    """max_k (mu_ak + v_ak / 2), the shift of the softmax bound's exponentials."""
    mx = -np.inf
    for k in range(mu_a.shape[0]):
        t = mu_a[k] + 0.5 * v_a[k]
        if t > mx:
            mx = t
    return mx


@numba.njit(cache=True, nogil=True, inline="always")
def bound_lse(mu_a, v_a):
    """The softmax bound log sum_k exp(mu_ak + v_ak / 2) >= E[log sum_k exp theta_ak]."""
    mx = bound_max(mu_a, v_a)
    s = 0.0
    for k in range(mu_a.shape[0]):
        s += math.exp(mu_a[k] + 0.5 * v_a[k] - mx)
    return mx + math.log(s)


@numba.njit(cache=True, nogil=True, inline="always")
def bound_exps(mu_a, v_a, out):
    """out_k = exp(mu_ak + v_ak / 2 - mx), mx = bound_max; returns (mx, sum_k out_k), so that
    sfx(a) = out / sum and the bound is mx + log sum."""
    mx = bound_max(mu_a, v_a)
    s = 0.0
    for k in range(mu_a.shape[0]):
        t = math.exp(mu_a[k] + 0.5 * v_a[k] - mx)
        out[k] = t
        s += t
    return mx, s


@numba.njit(cache=True, nogil=True)
def node_objective(mu_a, v_a, S, n, lL, m, work):
    """The part of the ELBO that depends on node a's (mu_a, v_a = diag(Lambda_a^-1)):

    f = -1/2 (mu_a - m)^T lL (mu_a - m) - 1/2 sum_k lL_kk v_k + 1/2 sum_k log v_k
        + S^T mu_a - n log sum_k exp(mu_ak + v_k / 2)
    """
    K = mu_a.shape[0]
    centre(mu_a, m, work)
    q = 0.0
    for k in range(K):
        q += work[k] * row_dot(lL, k, work)
    f = -0.5 * q
    for k in range(K):
        if v_a[k] <= 0.0:
            return -np.inf
        f += -0.5 * lL[k, k] * v_a[k] + 0.5 * math.log(v_a[k]) + S[k] * mu_a[k]
    return f - n * bound_lse(mu_a, v_a)


@numba.njit(cache=True, nogil=True)
def sfx(mu_a, v_a, out):
    """softmax(mu_a + v_a / 2) into out."""
    K = mu_a.shape[0]
    _, s = bound_exps(mu_a, v_a, out)
    for k in range(K):
        out[k] /= s


@numba.njit(cache=True, nogil=True, inline="always")
def newton_matrix(lL, w, s, out):
    """out = lL + w (diag(s) - s s^T): the negated Hessian of the node objective in mu_a
    (derivation 4.10, w = n_a, s = sfx(a)) and the collapsed update's Newton matrix (w = deg_a)."""
    K = s.shape[0]
    for k in range(K):
        for j in range(K):
            out[k, j] = lL[k, j] - w * s[k] * s[j]
        out[k, k] += w * s[k]


@numba.njit(cache=True, nogil=True, inline="always")
def halving_step(objective, args, x, d, rho, halvings, f0, trial):
    """A Newton step with halving (derivation 4.10-4.11): trial = x + rho d, rho halved while
    objective(*args) (args holds trial) is below f0, at most `halvings` times (halvings = 0: the
    full step is taken). An accepted trial is copied into x. Returns (accepted, the objective at
    the last trial)."""
    f1 = f0
    for _ in range(halvings + 1):
        for k in range(x.shape[0]):
            trial[k] = x[k] + rho * d[k]
        f1 = objective(*args)
        if f1 >= f0 or halvings == 0:
            for k in range(x.shape[0]):
                x[k] = trial[k]
            return True, f1
        rho *= 0.5
    return False, f1


@numba.njit(cache=True, nogil=True, inline="always")
def positive_step(v, d):
    """The largest rho in 1, 1/2, 1/4, ... (at most 60 halvings) keeping v + rho d > 0."""
    rho = 1.0
    for _h in range(60):
        ok = True
        for k in range(v.shape[0]):
            if v[k] + rho * d[k] <= 0.0:
                ok = False
                break
        if ok:
            break
        rho *= 0.5
    return rho


@numba.njit(cache=True, nogil=True)
def mu_grad_hess(mu_a, v_a, S, n, lL, m, g, Hn, sv):
    """Gradient g and the negated Hessian Hn = -H of the node objective in mu_a:
    g = -lL (mu_a - m) + S - n sfx(a),   H = -lL - n (diag(sfx) - sfx sfx^T)."""
    K = mu_a.shape[0]
    sfx(mu_a, v_a, sv)
    for k in range(K):
        t = 0.0
        for j in range(K):
            t += lL[k, j] * (mu_a[j] - m[j])
        g[k] = -t + S[k] - n * sv[k]
    newton_matrix(lL, n, sv, Hn)


@numba.njit(cache=True, nogil=True)
def v_grad_hess(mu_a, v_a, n, lL, g, D, sv):
    """Gradient of the node objective in v_a = diag(Lambda_a^-1) and its negated Hessian
    -H = diag(D) - (n / 4) sfx sfx^T:  g = -1/2 diag(lL) + 1/(2 v) - n/2 sfx,
    H = -diag(1 / (2 v^2)) - n/4 (diag(sfx) - sfx sfx^T)."""
    K = mu_a.shape[0]
    sfx(mu_a, v_a, sv)
    for k in range(K):
        g[k] = -0.5 * lL[k, k] + 0.5 / v_a[k] - 0.5 * n * sv[k]
        D[k] = 0.5 / (v_a[k] * v_a[k]) + 0.25 * n * sv[k]


@numba.njit(cache=True, nogil=True)
def v_objective(mu_a, v_a, n, lL):
    """The node objective as a function of v_a alone (the terms that do not involve v dropped):
    sum_k (-1/2 lL_kk v_k + 1/2 log v_k) - n log sum_k exp(mu_ak + v_k / 2). O(K)."""
    K = mu_a.shape[0]
    f = 0.0
    for k in range(K):
        if v_a[k] <= 0.0:
            return -np.inf
        f += -0.5 * lL[k, k] * v_a[k] + 0.5 * math.log(v_a[k])
    return f - n * bound_lse(mu_a, v_a)


@numba.njit(cache=True, nogil=True)
def newton_v(mu_a, v_a, n, lL, opt, rows, fixed_start):
    """Newton steps with halving on v_a = diag(Lambda_a^-1) (note 4.11, slip fixed):
    g = -(1/2) diag(lL) + 1 / (2 v) - (n/2) sfx,  -H = diag(1 / (2 v^2) + (n/4) sfx) - (n/4) sfx sfx^T,
    solved in O(K) by Sherman-Morrison. A step leaving v > 0 is halved first, then halved while the
    objective does not improve (at most `halvings` times; a step still not improving is rejected).
    fixed_start: first try v_k = 1 / (lL_kk + n sfx_k), the root of g with sfx frozen (kept only
    if it raises the objective), so the Newton steps start next to the optimum. Stops when the
    Newton decrement is below opt.newton_tol (at most opt.newton_steps steps, opt.halvings
    halvings each). Returns the number of steps taken (the start counts as one)."""
    K = mu_a.shape[0]
    g, d, sv, trial = rows.g, rows.d, rows.sfx, rows.trial
    Dv = rows.v_diag
    y = rows.v_y
    tol = opt.newton_tol
    halvings = opt.halvings
    steps = 0
    f0 = v_objective(mu_a, v_a, n, lL)
    if fixed_start:
        sfx(mu_a, v_a, sv)
        for k in range(K):
            trial[k] = 1.0 / (lL[k, k] + n * sv[k])
        f1 = v_objective(mu_a, trial, n, lL)
        if f1 > f0:
            for k in range(K):
                v_a[k] = trial[k]
            f0 = f1
            steps += 1
    for _ in range(opt.newton_steps):
        v_grad_hess(mu_a, v_a, n, lL, g, Dv, sv)
        # (-H) d = g with -H = diag(D) - c s s^T (Sherman-Morrison)
        c = 0.25 * n
        sx = 0.0
        sy = 0.0
        for k in range(K):
            d[k] = g[k] / Dv[k]
            y[k] = sv[k] / Dv[k]
            sx += sv[k] * d[k]
            sy += sv[k] * y[k]
        coef = c * sx / (1.0 - c * sy)
        dec = 0.0
        for k in range(K):
            d[k] += coef * y[k]
            dec += g[k] * d[k]
        if dec < tol:
            break
        accepted, f0 = halving_step(
            v_objective, (mu_a, trial, n, lL), v_a, d, positive_step(v_a, d), halvings, f0, trial
        )
        if not accepted:
            break
        steps += 1
    return steps


@numba.njit(cache=True, nogil=True)
def newton_node(mu_a, v_a, S, n, glob, opt, sc):
    """Newton steps on mu_a then on v_a, each with step halving (rho = 1, halved while the node's
    part of the ELBO does not improve, at most `halvings` times; a step still not improving is
    rejected; halvings = 0 takes full steps). v stays positive: a step leaving the positive range
    is halved first. Stops early when the Newton decrement g^T (-H)^-1 g is below
    opt.newton_tol. Returns the number of Newton steps taken."""
    rows = sc.rows
    g, d, sv, trial, work = rows.g, rows.d, rows.sfx, rows.trial, rows.work
    lL, m = glob.lL, glob.m
    halvings = opt.halvings
    steps = 0
    # --- mu_a
    f0 = node_objective(mu_a, v_a, S, n, lL, m, work)
    for _ in range(opt.newton_steps):
        mu_grad_hess(mu_a, v_a, S, n, lL, m, g, sc.hess, sv)
        cholesky(sc.hess, sc.chol)
        chol_solve(sc.chol, g, d)
        if dot(g, d) < opt.newton_tol:
            break
        accepted, f0 = halving_step(
            node_objective, (trial, v_a, S, n, lL, m, work), mu_a, d, 1.0, halvings, f0, trial
        )
        if not accepted:
            break
        steps += 1
    # --- v_a = diag(Lambda_a^-1)
    steps += newton_v(mu_a, v_a, n, lL, opt, rows, False)
    return steps


@numba.njit(cache=True, nogil=True, inline="always")
def row_max(x):
    """max_k x_k (-inf for an empty row)."""
    mx = -np.inf
    for k in range(x.shape[0]):
        if x[k] > mx:
            mx = x[k]
    return mx


@numba.njit(cache=True, nogil=True, inline="always")
def logsumexp(x):
    """(max_k x_k, log sum_k exp x_k)."""
    mx = row_max(x)
    s = 0.0
    for k in range(x.shape[0]):
        s += math.exp(x[k] - mx)
    return mx, mx + math.log(s)


@numba.njit(cache=True, nogil=True)
def _softmax_row(mu_a, out):
    K = mu_a.shape[0]
    mx = row_max(mu_a)
    s = 0.0
    for k in range(K):
        t = math.exp(mu_a[k] - mx)
        out[k] = t
        s += t
    for k in range(K):
        out[k] /= s


@numba.njit(cache=True, nogil=True)
def row_lse(mu, v, out):
    """out[a] = log sum_k exp(mu_ak + v_ak / 2), without (N, K) temporaries."""
    for a in range(mu.shape[0]):
        out[a] = bound_lse(mu[a], v[a])


@numba.njit(cache=True, nogil=True)
def softmax_rows(mu, out):
    for a in range(mu.shape[0]):
        _softmax_row(mu[a], out[a])


@numba.njit(cache=True, nogil=True, inline="always")
def node_step(nodes, opt, a):
    """Node a's step size rho_a = (node_tau0 + visits_a)^-node_kappa; counts the visit."""
    rho = (opt.node_tau0 + nodes.visits[a]) ** (-opt.node_kappa)
    nodes.visits[a] += 1
    return rho


@numba.njit(cache=True, nogil=True)
def batch_nodes(batch, n_batch, nodes, glob, opt, sc, S_hat):
    """Phase 2 of a minibatch: node a's statistic S_bar_a (its indicators summed over its pairs) is
    blended with rho_a = (node_tau0 + visits_a)^-node_kappa, then Newton steps on mu_a and on
    v_a = diag(Lambda_a^-1). The running sums over nodes used by the global update follow."""
    K = nodes.mu.shape[1]
    S_bar = nodes.S_bar
    total = 0
    for i in range(n_batch):
        a = batch[i]
        rho = node_step(nodes, opt, a)
        for k in range(K):
            S_bar[a, k] = (1.0 - rho) * S_bar[a, k] + rho * S_hat[i, k]
        move_node_sums(nodes.mu[a], nodes.v[a], -1.0, glob.sums)
        total += newton_node(nodes.mu[a], nodes.v[a], S_bar[a], nodes.n_pairs[a], glob, opt, sc)
        move_node_sums(nodes.mu[a], nodes.v[a], 1.0, glob.sums)
        _softmax_row(nodes.mu[a], nodes.pi[a])
    return total


@numba.njit(cache=True, nogil=True)
def node_sums(mu, v, sums):
    """The running sums over nodes (NodeSums), recomputed exactly."""
    sum_mu, sum_mumu, sum_v = sums
    N, K = mu.shape
    for k in range(K):
        sum_mu[k] = 0.0
        sum_v[k] = 0.0
        for j in range(K):
            sum_mumu[k, j] = 0.0
    for a in range(N):
        for k in range(K):
            sum_mu[k] += mu[a, k]
            sum_v[k] += v[a, k]
            x = mu[a, k]
            for j in range(K):
                sum_mumu[k, j] += x * mu[a, j]


@numba.njit(cache=True, nogil=True)
def centred_scatter(mu, v, m, S):
    """S += sum_a (mu_a - m)(mu_a - m)^T; returns sum_a sum_k log v_ak (the ELBO's theta terms).
    One pass over the nodes, without (N, K) temporaries or BLAS threads (whose waits, with another
    process on the second core, cost 3 s of CPU per evaluation at 1,000,000 nodes x K = 50)."""
    N, K = mu.shape
    d = np.empty(K)
    sum_log_v = 0.0
    for a in range(N):
        row = 0.0
        for k in range(K):
            d[k] = mu[a, k] - m[k]
            row += math.log(v[a, k])
        sum_log_v += row
        for k in range(K):
            x = d[k]
            for j in range(K):
                S[k, j] += x * d[j]
    return sum_log_v


@numba.njit(cache=True, nogil=True)
def pair_products(pi, u, v, out):
    """out[k] += sum_p pi[u_p, k] pi[v_p, k] over the pairs (u[p], v[p])."""
    for p in range(u.shape[0]):
        a = u[p]
        b = v[p]
        for k in range(out.shape[0]):
            out[k] += pi[a, k] * pi[b, k]


@numba.njit(cache=True, nogil=True)
def update_globals(prior, sums, q, work):
    """Exact coordinate ascent of the ELBO in the global Gaussian-Wishart parameters q (QGlobals),
    from the sums over all nodes: M = M0 + N l L;  m = M^-1 (M0 m0 + l L sum_a mu_a);
    L = (L0^-1 + sum_a (Lambda_a^-1 + (mu_a - m)(mu_a - m)^T) + N M^-1)^-1;  lL = l L,
    lLinv = (l L)^-1."""
    N, m0, M0, L0inv = prior
    sum_mu, sum_mumu, sum_v = sums
    l, L, lL, lLinv, m, M, Minv = q
    W, C, e, x, r = work
    K = m.shape[0]
    for i in range(K):
        for j in range(K):
            W[i, j] = M0[i, j] + N * l * L[i, j]
            M[i, j] = W[i, j]
    spd_inverse(W, Minv, C, e, x)
    for i in range(K):
        t = 0.0
        for j in range(K):
            t += M0[i, j] * m0[j] + l * L[i, j] * sum_mu[j]
        r[i] = t
    matvec(Minv, r, m)
    for i in range(K):
        for j in range(K):
            W[i, j] = (
                L0inv[i, j]
                + sum_mumu[i, j]
                - m[i] * sum_mu[j]
                - sum_mu[i] * m[j]
                + N * m[i] * m[j]
                + N * Minv[i, j]
            )
        W[i, i] += sum_v[i]
    spd_inverse(W, L, C, e, x)
    for i in range(K):
        for j in range(K):
            lL[i, j] = l * L[i, j]
            lLinv[i, j] = W[i, j] / l  # (l L)^-1, L = W^-1


# ---- q(beta): the couplings it implies and its stochastic update --------------------------------
@numba.njit(cache=True, nogil=True)
def digamma(x):
    """psi(x) for x > 0: the recurrence up to x >= 6, then the asymptotic series."""
    r = 0.0
    while x < 6.0:
        r -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    return (
        r
        + math.log(x)
        - 0.5 / x
        - f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))))
    )


@numba.njit(cache=True, nogil=True)
def couplings(b, cp):
    """The Couplings' c_link and c_non from q(beta_k) = Beta(b_k0, b_k1) (phi update, 4.6-4.9):
    c_link_k = psi(b_k0) - psi(b_k0 + b_k1) - log eps, c_non_k = psi(b_k1) - psi(b_k0 + b_k1)
    - log(1 - eps)."""
    for k in range(b.shape[0]):
        ps = digamma(b[k, 0] + b[k, 1])
        cp.c_link[k] = digamma(b[k, 0]) - ps - cp.log_eps
        cp.c_non[k] = digamma(b[k, 1]) - ps - cp.log_1meps


@numba.njit(cache=True, nogil=True)
def update_beta(b, beta_hat, eta0, eta1, scale, rho):
    """The beta update (4.5) from a minibatch's statistics beta_hat (link / non-link rows), scaled
    by ``scale`` and blended with step size rho."""
    for k in range(b.shape[0]):
        b[k, 0] = (1.0 - rho) * b[k, 0] + rho * (eta0 + scale * beta_hat[0, k])
        b[k, 1] = (1.0 - rho) * b[k, 1] + rho * (eta1 + scale * beta_hat[1, k])


# ---- prediction and the ELBO's pair terms -------------------------------------------------------
@numba.njit(cache=True, nogil=True, inline="always")
def link_probability(pi_a, pi_b, Ebeta, eps):
    """p(y_ab = 1) = sum_k pi_ak pi_bk E[beta_k] + (1 - sum_k pi_ak pi_bk) eps."""
    s = 0.0
    t = 0.0
    for k in range(pi_a.shape[0]):
        q = pi_a[k] * pi_b[k]
        s += q
        t += q * Ebeta[k]
    return t + (1.0 - s) * eps


@numba.njit(cache=True, nogil=True)
def predict_pairs(u, v, pi, Ebeta, eps, out):
    """out[p] = p(y_uv = 1) for the pairs (u[p], v[p]) (link_probability)."""
    for p in range(u.shape[0]):
        out[p] = link_probability(pi[u[p]], pi[v[p]], Ebeta, eps)


@numba.njit(cache=True, nogil=True)
def pair_terms(pairs, mu, pi, lse, cp, phi_f, phi_s, max_iter, tol):
    """Weighted sum over pairs of the ELBO terms that involve phi, with phi at the pair's fixed
    point: E[log p(y | z, beta)] + E[log p(z | theta)] - sum phi log phi, the middle term with the
    bound: phi_f^T mu_a - lse_a + phi_s^T mu_b - lse_b, lse_a = log sum_k exp(mu_ak + v_ak / 2).
    Each pair carries its own lse terms, so on a weighted sample of pairs the estimate's variance
    is that of these small per-pair sums (phi near softmax(mu) for a non-link), not that of
    w phi^T mu (hundreds of nats per pair times w). Over every training pair the sum is exact.
    pairs: (first ends, second ends, y, weights, ...); cp: the Couplings."""
    first, second, y, w = pairs[0], pairs[1], pairs[2], pairs[3]
    c_link, c_non, log_eps, log_1meps = cp
    K = mu.shape[1]
    total = 0.0
    for p in range(first.shape[0]):
        a = first[p]
        b = second[p]
        if y[p]:
            c = c_link
            base = log_eps
        else:
            c = c_non
            base = log_1meps
        pair_phi(mu[a], mu[b], pi[b], c, phi_f, phi_s, max_iter, tol)
        t = base - lse[a] - lse[b]
        for k in range(K):
            t += phi_f[k] * (phi_s[k] * c[k] + mu[a, k]) + phi_s[k] * mu[b, k]
            if phi_f[k] > 0.0:
                t -= phi_f[k] * math.log(phi_f[k])
            if phi_s[k] > 0.0:
                t -= phi_s[k] * math.log(phi_s[k])
        total += w[p] * t
    return total


# ---- collapsed node update: Newton on the node's ELBO maximised over its own indicators -----------
@numba.njit(cache=True, nogil=True, fastmath=_FM)
def collapsed_objective(mu_a, v_a, n, lL, m, E, Eoff, W, n_slots, g, work, ex):
    """f(mu_a) = -1/2 (mu_a - m)^T lL (mu_a - m) + sum_p W_p log sum_k exp(mu_ak + c_pk P_pk)
    - n log sum_k exp(mu_ak + v_ak / 2): the node's part of the ELBO with its own indicator in
    each sampled pair p at its optimum given the partner's indicator P_p (phi_a,p =
    softmax(mu_a + c_p P_p)); E, Eoff as batch_visit derives them from the pair indicators, so
    each evaluation takes K exponentials and one log per slot. Writes the gradient g = -lL (mu_a - m) + sum_p W_p phi_a,p - n sfx(a) and
    returns f."""
    K = mu_a.shape[0]
    centre(mu_a, m, work)
    f = 0.0
    for k in range(K):
        t = row_dot(lL, k, work)
        f -= 0.5 * work[k] * t
        g[k] = -t
    mx = row_max(mu_a)
    for k in range(K):
        ex[k] = math.exp(mu_a[k] - mx)
    for p in range(n_slots):
        s = 0.0
        for k in range(K):
            s += ex[k] * E[p, k]
        f += W[p] * (mx + Eoff[p] + math.log(s))
        inv = W[p] / s
        for k in range(K):
            g[k] += inv * ex[k] * E[p, k]
    mx, s = bound_exps(mu_a, v_a, work)
    f -= n * (mx + math.log(s))
    for k in range(K):
        g[k] -= n * work[k] / s
    return f


@numba.njit(cache=True, nogil=True, fastmath=_FM)
def _apply_Ainv(G, J, r, capC, y, out, t, z):
    """out = A^-1 y for A = lL + diag over J of dJ, by Woodbury from G = lL^-1:
    A^-1 y = G y - G[:, J] (diag(1 / dJ) + G[J, J])^-1 (G y)[J]; capC is the Cholesky factor of
    the r x r capacitance matrix."""
    K = G.shape[0]
    matvec(G, y, out)
    for p in range(r):
        t[p] = out[J[p]]
    chol_solve(capC[:r, :r], t[:r], z[:r])
    for p in range(r):
        zp = z[p]
        col = J[p]
        for i in range(K):
            out[i] -= G[i, col] * zp


@numba.njit(cache=True, nogil=True)
def newton_direction_lowrank(G, lL, sv, w, g, thr, rmax, d, lr):
    """Solve B d = g for the Newton matrix B = lL + w (diag(s_J) - s_J s_J^T), s_J the entries of
    sfx with w s_k > thr lL_kk (zero elsewhere), in O(K^2 + K r^2) from the cached G = lL^-1 of the
    minibatch instead of a fresh O(K^3) Cholesky: A = lL + w diag(s_J) by Woodbury (_apply_Ainv),
    then the rank-one downdate by Sherman-Morrison. B is positive definite (sum s_J <= 1 makes
    diag(s_J) - s_J s_J^T positive semi-definite). With thr = 0 every k with s_k > 0 is kept and B
    is the full Newton matrix lL + w (diag sfx - sfx sfx^T). Returns the number r of kept entries,
    or -1 (d untouched) when more than rmax would be kept: the caller then factors B densely.
    lr: the LowRank work space."""
    J, cap, capC, sJ = lr.J, lr.cap, lr.capC, lr.s_J
    a, b, t, z = lr.Ainv_g, lr.Ainv_s, lr.cap_rhs, lr.cap_sol
    K = G.shape[0]
    r = 0
    for k in range(K):
        if w * sv[k] > thr * lL[k, k] and w * sv[k] > 0.0:
            if r >= rmax:
                return -1
            J[r] = k
            r += 1
    for k in range(K):
        sJ[k] = 0.0
    for p in range(r):
        sJ[J[p]] = sv[J[p]]
    # capacitance diag(1 / (w s_J)) + G[J, J], SPD
    for p in range(r):
        for q in range(r):
            cap[p, q] = G[J[p], J[q]]
        cap[p, p] += 1.0 / (w * sv[J[p]])
    cholesky(cap[:r, :r], capC[:r, :r])
    _apply_Ainv(G, J, r, capC, g, a, t, z)
    _apply_Ainv(G, J, r, capC, sJ, b, t, z)
    sa = 0.0
    sb = 0.0
    for k in range(K):
        sa += sJ[k] * a[k]
        sb += sJ[k] * b[k]
    coef = w * sa / (1.0 - w * sb)
    for k in range(K):
        d[k] = a[k] + coef * b[k]
    return r


@numba.njit(cache=True, nogil=True)
def newton_collapsed(mu_a, v_a, n, deg_w, n_slots, glob, opt, sc):
    """Newton steps with halving on the collapsed node objective. The Newton matrix is
    lL + deg_w (diag sfx - sfx sfx^T): the exact negated Hessian lL + n Cov(sfx) - sum_p W_p
    Cov(phi_a,p) with the non-link covariances cancelling n_nonlinks Cov(sfx) (their indicators
    are close to sfx) and the link ones dropped (their indicators are nearly one-hot); step
    halving keeps every step an ascent step. The direction comes from newton_direction_lowrank
    (G = lL^-1 cached per minibatch; entries of sfx with deg_w sfx_k <= lowrank_thr lL_kk left
    out of the matrix) while at most lowrank_max entries are kept, otherwise from a dense
    Cholesky factorisation (lowrank_max = 0: always dense). Stops when the Newton decrement
    g^T d is below tol. The slots' factors are sc.P (E), sc.Eoff and weights sc.W; lowrank_thr,
    lowrank_max, tol and the step limits come from opt."""
    K = mu_a.shape[0]
    rows = sc.rows
    g, d, sv, trial, work = rows.g, rows.d, rows.sfx, rows.trial, rows.work
    g1 = rows.g_trial
    ex = rows.ex
    lL, G, m = glob.lL, glob.G, glob.m
    E, Eoff, W = sc.P, sc.Eoff, sc.W
    halvings = opt.halvings
    steps = 0
    f0 = collapsed_objective(mu_a, v_a, n, lL, m, E, Eoff, W, n_slots, g, work, ex)
    for _ in range(opt.newton_steps):
        sfx(mu_a, v_a, sv)
        r = -1
        if opt.lowrank_max > 0:
            r = newton_direction_lowrank(
                G, lL, sv, deg_w, g, opt.lowrank_thr, opt.lowrank_max, d, sc.lowrank
            )
        if r < 0:
            newton_matrix(lL, deg_w, sv, sc.hess)
            cholesky(sc.hess, sc.chol)
            chol_solve(sc.chol, g, d)
        if dot(g, d) < opt.newton_tol:
            break
        accepted, f0 = halving_step(
            collapsed_objective,
            (trial, v_a, n, lL, m, E, Eoff, W, n_slots, g1, work, ex),
            mu_a,
            d,
            1.0,
            halvings,
            f0,
            trial,
        )
        if not accepted:
            break
        for k in range(K):
            g[k] = g1[k]
        steps += 1
    return steps


@numba.njit(cache=True, nogil=True)
def own_factors(mu_a, ex):
    """ex_k = exp(max mu_a - mu_ak) (capped at exp(700)); returns (max mu_a, logsumexp(mu_a))."""
    mmax, lse = logsumexp(mu_a)
    for k in range(mu_a.shape[0]):
        ex[k] = math.exp(min(mmax - mu_a[k], 700.0))
    return mmax, lse


@numba.njit(cache=True, nogil=True)
def move_node_sums(mu_a, v_a, sign, sums):
    """Add (sign = 1) or remove (sign = -1) node a's terms of the running sums over nodes:
    sum_mu += mu_a, sum_v += v_a, sum_mumu += mu_a mu_a^T (negation is exact, so removing and
    adding back the same node restores the sums up to the rounding of the additions)."""
    K = mu_a.shape[0]
    for k in range(K):
        sums.sum_mu[k] += sign * mu_a[k]
        sums.sum_v[k] += sign * v_a[k]
        for j in range(K):
            sums.sum_mumu[k, j] += sign * (mu_a[k] * mu_a[j])


@numba.njit(cache=True, nogil=True)
def collapsed_node_update(a, ns, deg_w, nodes, glob, opt, sc, counts):
    """Node a's update once its ns pair slots hold the collapsed objective's factors (P, Eoff, W,
    ctype): Newton steps with halving on the collapsed node objective (newton_collapsed), the blend
    mu_a <- (1 - rho_a) mu_a + rho_a mu_a*, rho_a = (node_tau0 + visits_a)^-node_kappa, the Newton
    steps on v_a, the running sums and pi_a. counts[0] += mu steps, counts[1] += v steps."""
    mu_a = nodes.mu[a]
    v_a = nodes.v[a]
    K = mu_a.shape[0]
    rho = node_step(nodes, opt, a)
    for k in range(K):
        sc.mu_old[k] = mu_a[k]
    move_node_sums(mu_a, v_a, -1.0, glob.sums)
    counts[0] += newton_collapsed(mu_a, v_a, nodes.n_pairs[a], deg_w, ns, glob, opt, sc)
    for k in range(K):
        mu_a[k] = (1.0 - rho) * sc.mu_old[k] + rho * mu_a[k]
    counts[1] += newton_v(mu_a, v_a, nodes.n_pairs[a], glob.lL, opt, sc.rows, True)
    move_node_sums(mu_a, v_a, 1.0, glob.sums)
    _softmax_row(mu_a, nodes.pi[a])


@numba.njit(cache=True, nogil=True)
def batch_visit(batch, n_batch, g, nodes, glob, opt, sc, beta_hat, rng, counts):
    """A minibatch with the collapsed node update: for each sampled node in turn, the phi update of
    its pairs (node_pairs, as batch_phi, recording the partner's indicator of every pair), then
    collapsed_node_update.

    Each pair is iterated from node a's side (pair_phi_own: a's indicator first, from the
    partner's memberships, and last), so a's indicator phi_a,p = softmax(mu_a + c_p P_p) is exact
    for the partner's final P_p, and the factors of the collapsed objective follow without further
    exponentials: E[p, k] = phi_a,pk exp(max mu_a - mu_ak), Eoff_p = log Z_p - max mu_a."""
    K = nodes.mu.shape[1]
    pi = nodes.pi
    phi_f = sc.phi_f
    phi_s = sc.phi_s
    P = sc.P
    ex = sc.rows.ex  # newton_collapsed recomputes it from mu_a at its start
    tmp = sc.rows.phi_next
    for k in range(K):
        beta_hat[0, k] = 0.0
        beta_hat[1, k] = 0.0
    for i in range(n_batch):
        a = batch[i]
        mmax, lse_a = own_factors(nodes.mu[a], ex)
        ns = node_pairs(a, g, opt.n_samples, rng, sc.partner, sc.first, sc.ctype, sc.W)
        deg_w = 0.0
        for p in range(ns):
            t = sc.ctype[p]
            w = sc.W[p]
            c = glob.c_link if t == 0 else glob.c_non
            lz = (
                pair_phi_own(
                    pi[a], pi[sc.partner[p]], c, phi_s, phi_f, tmp, opt.phi_iters, opt.phi_tol
                )
                + lse_a
            )
            for k in range(K):
                P[p, k] = phi_s[k] * ex[k]
                beta_hat[t, k] += w * phi_f[k] * phi_s[k]
            sc.Eoff[p] = lz - mmax
            if t == 0:
                deg_w += 1.0
        collapsed_node_update(a, ns, deg_w, nodes, glob, opt, sc, counts)
