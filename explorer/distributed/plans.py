"""Per model: one partition's sufficient statistics (a worker task) and the M-step on the client.

Every worker function here runs the numba kernels of the model's own file on one partition, with
buffers sized for that partition; every client M-step is the model file's own M-step function
applied to the statistics of all partitions (their per-chunk arrays concatenated in partition
order, or summed in partition order). The in-memory path calls the same two functions on its own
chunks, so the two paths cannot drift apart: they differ only in how the row sums are grouped
(rounding, ~1e-16 relative per iteration).

* kmeans (and fuzzy-cmeans with ``harden``): ``_centre_kernels.assign`` per partition (labels,
  per-cluster sums and counts, distortion, labels changed) and ``_centre_kernels.update_centers``.
  Re-seeding an empty cluster is exact: one round trip per empty cluster finds the row farthest
  from its centre among rows whose cluster keeps another row (ties: the lowest row index, as in
  memory).
* kmedians: ``kmedians._assign_l1`` per partition; the coordinate-wise medians are exact order
  statistics found by a distributed selection (no approximation): the partitions histogram the
  cluster's values over an order-preserving integer key of the float64 bits (256 bins between the
  lowest and highest key still possible), the client keeps the bin holding the wanted rank, and
  once at most 512 values remain the partitions send them and the client picks the rank. A median
  costs a few round trips (about 3 for a million values per cluster), all medians of an iteration
  share them.
* fuzzy-cmeans: ``fuzzy_cmeans._memberships`` per partition and ``_centre_kernels.update_centers``.
* gmm: ``gmm._e_pass`` per partition, ``gmm._m_step`` on the concatenated chunk statistics, and
  when a mean moved far (``redo``) the exact second pass ``gmm._cov_pass`` per partition with
  ``gmm._finish_cov``.
* bernoulli-mixture, exponential-mixture: ``_mixture_kernels.affine_e_pass`` (on the model's
  ``affine_form``) and their ``_m_step``.
* bayes-gmm: ``_phi_pass`` and ``_mu_update``.

Degenerate states are the in-memory model's own: :func:`in_memory_view` puts the distributed state
(centres and the cluster counts of the last assignment; a mixture's parameters, N_k and objective)
into an instance of the model's class under the names its ``degeneracy()`` reads, and calls it, so
the same checks (coinciding centres or components, a cluster with no row, gmm's covariances at
reg_covar, the exponential mixture's rates at their cap) give the same words. The advice that
follows reads the data only through a small stand-in (:func:`stand_in_rows`: the distinct rows,
one round trip, made only when a problem was found).

Worker functions receive a :class:`~explorer.distributed.data.Part` and small parameter arrays and
return small arrays (K x D x D at most per chunk); they never return per-row data except for the
sample snapshot and never hold global state, so a partition recomputed on another worker gives
the same answer.
"""

from __future__ import annotations

import hashlib
import threading
from types import SimpleNamespace

import numpy as np

from explorer.data.types import DataError
from explorer.models import _centre_kernels as ck
from explorer.models import bayes_gmm as bg
from explorer.models import bernoulli_mixture as bm
from explorer.models import exponential_mixture as em
from explorer.models import fuzzy_cmeans as fcm
from explorer.models import gmm as gm
from explorer.models import kmedians as kmed
from explorer.models._mixture_kernels import affine_e_pass, chunk_count
from explorer.models._parallel import call


def digest(*arrays) -> str:
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        h.update(
            repr(a).encode() if not isinstance(a, np.ndarray) else np.ascontiguousarray(a).tobytes()
        )
    return h.hexdigest()


# =============================================================================================
# Centre-based models: kmeans (l2), kmedians (l1), fuzzy-cmeans hardened (l2)
# =============================================================================================


def _assign_part(part, X, centers, labels, metric):
    """Run the model's own assignment kernel on the partition; labels updated in place.

    Returns (sums (K, D) or None, counts (K,), mind (n,), distortion, changed)."""
    K, D = centers.shape
    n = X.shape[0]
    mind = np.empty(n)
    if metric == "l2":
        XT = np.ascontiguousarray(X.T)
        sums = np.zeros((K, D))
        counts = np.zeros(K)
        acc = np.zeros(ck.BLOCK)
        best = np.zeros(ck.BLOCK, dtype=np.int64)
        dist, changed = ck.assign(XT, centers, labels, sums, counts, mind, acc, best)
        return sums, counts, mind, dist, changed
    counts = np.zeros(K, dtype=np.int64)
    dist, changed = kmed._assign_l1(X, centers, labels, counts, mind)
    return None, counts, mind, dist, changed


def _labels_under(part, X, centers, metric):
    """The partition's labels under ``centers`` (its cached assignment, else recomputed)."""
    if centers is None:
        return np.full(X.shape[0], -1, dtype=np.int64)
    key = (metric, digest(centers))
    hit = part.cache.pop("labels", None)
    if hit is not None and hit[0] == key:
        return hit[1]
    labels = np.full(X.shape[0], -1, dtype=np.int64)
    _assign_part(part, X, centers, labels, metric)
    return labels


def _apply_moves(part, labels, moves, mind=None):
    for row, k in moves:
        r = row - part.offset
        if 0 <= r < labels.shape[0]:
            labels[r] = k
            if mind is not None:
                mind[r] = 0.0


def centre_assign(part, prev_centers, moves, centers, metric):
    """Worker: one assignment pass (statistics for the next centre update)."""
    X = part.f64()
    labels = _labels_under(part, X, prev_centers, metric)
    _apply_moves(part, labels, moves)
    sums, counts, _, dist, changed = _assign_part(part, X, centers, labels, metric)
    part.cache["labels"] = ((metric, digest(centers)), labels)
    return sums, counts, float(dist), int(changed)


def centre_farthest(part, centers, moves, counts, metric):
    """Worker: the partition's row farthest from its centre among rows whose cluster (after the
    moves so far) keeps another row: (distance, global row, row values, its label) or None."""
    X = part.f64()
    labels = np.full(X.shape[0], -1, dtype=np.int64)
    _, _, mind, _, _ = _assign_part(part, X, centers, labels, metric)
    _apply_moves(part, labels, moves, mind)
    ok = counts[labels] > 1
    if not ok.any():
        return None
    d = np.where(ok, mind, -1.0)
    i = int(np.argmax(d))  # first maximum: the lowest row on ties
    if not d[i] > -1.0:
        return None
    return float(d[i]), part.offset + i, X[i].copy(), int(labels[i])


def _key(x: np.ndarray) -> np.ndarray:
    """Order-preserving uint64 key of float64 values."""
    b = np.ascontiguousarray(x, dtype=np.float64).view(np.uint64)
    top = np.uint64(1) << np.uint64(63)
    return np.where(b >= top, ~b, b | top)


def _unkey(k: int) -> float:
    top = 1 << 63
    b = (k & ~top) if k >= top else (~k) & 0xFFFFFFFFFFFFFFFF
    return float(np.array([b], dtype=np.uint64).view(np.float64)[0])


def _sorted_keys(part, prev_centers, moves):
    key = digest(prev_centers, tuple(moves))
    hit = part.cache.get("medkeys")
    if hit is not None and hit[0] == key:
        return hit[1]
    X = part.f64()
    labels = _labels_under(part, X, prev_centers, "l1")
    part.cache["labels"] = (("l1", digest(prev_centers)), labels.copy())
    _apply_moves(part, labels, moves)
    K = prev_centers.shape[0]
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(K + 1))
    keys = [
        [np.sort(_key(X[order[bounds[k] : bounds[k + 1]], j])) for j in range(X.shape[1])]
        for k in range(K)
    ]
    part.cache["medkeys"] = (key, keys)
    return keys


def median_round(part, prev_centers, moves, qk, qj, edges, fetch):
    """Worker: for each query q (cluster qk[q], coordinate qj[q]) the counts of the partition's
    keys in the bins [edges[q, b], edges[q, b + 1]), or, where fetch[q], the keys themselves in
    [edges[q, 0], edges[q, -1])."""
    keys = _sorted_keys(part, prev_centers, moves)
    out = []
    for q in range(len(qk)):
        s = keys[qk[q]][qj[q]]
        pos = np.searchsorted(s, edges[q])
        out.append(s[pos[0] : pos[-1]].copy() if fetch[q] else np.diff(pos))
    return out


def median_bounds(part, prev_centers, moves):
    """Worker: per (k, j) the lowest and highest key of the partition's cluster values."""
    keys = _sorted_keys(part, prev_centers, moves)
    K, D = len(keys), len(keys[0])
    lo = np.full((K, D), np.iinfo(np.uint64).max, dtype=np.uint64)
    hi = np.zeros((K, D), dtype=np.uint64)
    for k in range(K):
        for j in range(D):
            if len(keys[k][j]):
                lo[k, j] = keys[k][j][0]
                hi[k, j] = keys[k][j][-1]
    return lo, hi


BINS = 256
FETCH = 512


def exact_medians(m, prev, moves, counts, centers) -> int:
    """Coordinate-wise medians of every non-empty cluster (after ``moves``), exact, into
    ``centers`` (the midpoint of the two middle values for an even count, as in memory).
    Returns the number of round trips."""
    K, D = centers.shape
    bounds = m.map(median_bounds, prev, moves)
    lo_all = np.minimum.reduce([b[0] for b in bounds])
    hi_all = np.maximum.reduce([b[1] for b in bounds])
    queries = []  # [k, j, rank, lo, hi, below, value, fetch]
    for k in range(K):
        n = int(counts[k])
        if n == 0:
            continue
        h = n // 2
        ranks = [h] if n % 2 == 1 else [h - 1, h]
        for j in range(D):
            for r in ranks:
                queries.append([k, j, r, int(lo_all[k, j]), int(hi_all[k, j]) + 1, 0, None, False])
    rounds = 1
    while True:
        open_q = [q for q in queries if q[6] is None]
        if not open_q:
            break
        for q in open_q:
            if q[4] - q[3] == 1:
                q[6] = _unkey(q[3])
        open_q = [q for q in open_q if q[6] is None]
        if not open_q:
            break
        qk = np.array([q[0] for q in open_q])
        qj = np.array([q[1] for q in open_q])
        edges = np.array(
            [[q[3] + (b * (q[4] - q[3])) // BINS for b in range(BINS + 1)] for q in open_q],
            dtype=np.uint64,
        )
        fetch = np.array([q[7] for q in open_q])
        outs = m.map(median_round, prev, moves, qk, qj, edges, fetch)
        rounds += 1
        for i, q in enumerate(open_q):
            if q[7]:
                vals = np.sort(np.concatenate([o[i] for o in outs]))
                q[6] = _unkey(int(vals[q[2] - q[5]]))
                continue
            cnt = np.sum([o[i] for o in outs], axis=0)
            cum = np.concatenate([[0], np.cumsum(cnt)])
            b = int(np.searchsorted(cum, q[2] - q[5], side="right")) - 1
            q[5] += int(cum[b])
            q[3], q[4] = int(edges[i, b]), int(edges[i, b + 1])
            q[7] = bool(cnt[b] <= FETCH)
    vals: dict = {}
    for q in queries:
        vals.setdefault((q[0], q[1]), []).append(q[6])
    for (k, j), v in vals.items():
        centers[k, j] = v[0] if len(v) == 1 else 0.5 * (v[0] + v[1])
    return rounds


class CentrePlan:
    """kmeans, kmedians and hardened fuzzy-cmeans: Lloyd steps with exact re-seeding."""

    def __init__(self, metric: str, one_hot: bool = False):
        self.metric = metric
        self.one_hot = one_hot  # fuzzy-cmeans hardened: memberships are one-hot

    def start(self, m, init) -> None:
        m.centers = np.array(init._centers, dtype=np.float64, order="C")
        m.prev = None
        self._assign(m, [])

    def _assign(self, m, moves) -> None:
        outs = m.map(centre_assign, m.prev, moves, m.centers, self.metric)
        m.sums = None if outs[0][0] is None else _ordered_sum([o[0] for o in outs])
        m.counts = _ordered_sum([o[1] for o in outs])
        m.dist = float(np.sum([o[2] for o in outs]))
        m.n_changed = int(np.sum([o[3] for o in outs]))

    def _reseed(self, m, prev):
        moves = []
        K, D = m.centers.shape
        for k in range(K):
            if m.counts[k] > 0:
                continue
            cands = m.map(centre_farthest, prev, list(moves), m.counts, self.metric)
            best = None
            for c in cands:  # partitions in row order: strict > keeps the lowest row
                if c is not None and (best is None or c[0] > best[0]):
                    best = c
            if best is None:
                continue
            _, row, x, old = best
            if m.sums is not None:
                m.sums[old] -= x
                m.sums[k] = x
            m.counts[old] -= 1
            m.counts[k] = 1
            moves.append((int(row), k))
        return moves

    def step(self, m) -> float:
        prev = m.centers.copy()
        moves = self._reseed(m, prev)
        m.n_reseeded = len(moves)
        if self.metric == "l2":
            _centres_from_sums(m.sums, m.counts, m.centers)
        else:
            m.median_rounds = exact_medians(m, prev, moves, m.counts, m.centers)
        m.prev = prev
        self._assign(m, moves)
        return m.dist

    def converged(self, m, trace) -> bool:
        return len(trace) >= 1 and m.n_changed == 0

    def objective(self, m) -> float:
        return m.dist

    def parameters(self, m) -> dict:
        p = {"centers": m.centers.copy()}
        if m.base.id == "kmeans":
            p["inertia"] = np.array(m.dist, dtype=np.float64)
        return p

    def metrics(self, m) -> dict:
        if m.base.id == "kmeans":
            return {"inertia": m.dist}
        if m.base.id == "kmedians":
            return {"l1_distortion": m.dist}
        return {"partition_coefficient": 1.0, "J_m": m.dist}

    def snapshot(self, m) -> dict:
        return {
            "centers": m.centers.copy(),
            "info": {
                "labels changed": float(m.n_changed),
                "re-seeded": float(getattr(m, "n_reseeded", 0)),
            },
        }

    def state(self, m):
        return {"centers": m.centers, "metric": self.metric, "one_hot": self.one_hot}

    def view_state(self, m) -> dict:
        # CentreModel.degeneracy counts the rows of each cluster with a bincount of the labels;
        # one label per cluster in use gives the same empty clusters as the N labels would.
        return {"_centers": m.centers, "_labels": np.flatnonzero(m.counts > 0)}

    @staticmethod
    def part_output(part, hp, state):
        X = part.f64()
        labels = _labels_under(part, X, state["centers"], state["metric"])
        part.cache["labels"] = ((state["metric"], digest(state["centers"])), labels.copy())
        R = None
        if state["one_hot"]:
            R = np.zeros((len(labels), state["centers"].shape[0]))
            fcm._one_hot(labels, R)
        return labels, R


def _ordered_sum(arrays):
    out = np.array(arrays[0], copy=True)
    for a in arrays[1:]:
        out += a
    return out


# =============================================================================================
# Fuzzy c-means (soft)
# =============================================================================================


def fcm_pass(part, centers, mexp):
    """Worker: memberships from ``centers`` and the r^m-weighted sums, J_m and sum r^2."""
    X = part.f64()
    n, D = X.shape
    K = centers.shape[0]
    R = np.zeros((n, K))
    sums = np.zeros((K, D))
    weights = np.zeros(K)
    J, _ = fcm._memberships(
        X, centers, mexp, R, np.full(n, -1, dtype=np.int64), np.empty(n), np.empty(K), sums, weights
    )
    return sums, weights, float(J), float(np.einsum("ij,ij->", R, R))


class FuzzyPlan:
    def start(self, m, init) -> None:
        m.centers = np.array(init._centers, dtype=np.float64, order="C")
        self._pass(m)

    def _pass(self, m) -> None:
        outs = m.map(fcm_pass, m.centers, float(m.hp.m))
        m.sums = _ordered_sum([o[0] for o in outs])
        m.weights = _ordered_sum([o[1] for o in outs])
        m.dist = float(np.sum([o[2] for o in outs]))
        m.r2 = float(np.sum([o[3] for o in outs]))

    def step(self, m) -> float:
        _centres_from_sums(m.sums, m.weights, m.centers)
        self._pass(m)
        return m.dist

    def converged(self, m, trace) -> bool:
        return False

    def parameters(self, m) -> dict:
        return {"centers": m.centers.copy()}

    def metrics(self, m) -> dict:
        return {"partition_coefficient": m.r2 / m.data.n_items, "J_m": m.dist}

    def snapshot(self, m) -> dict:
        return {
            "centers": m.centers.copy(),
            "info": {"partition coefficient": m.r2 / m.data.n_items},
        }

    def state(self, m):
        return {"centers": m.centers, "m": float(m.hp.m)}

    def view_state(self, m) -> dict:
        return {"_centers": m.centers}

    @staticmethod
    def part_output(part, hp, state):
        X = part.f64()
        n, D = X.shape
        K = state["centers"].shape[0]
        R = np.zeros((n, K))
        labels = np.full(n, -1, dtype=np.int64)
        fcm._memberships(
            X,
            state["centers"],
            state["m"],
            R,
            labels,
            np.empty(n),
            np.empty(K),
            np.zeros((K, D)),
            np.zeros(K),
        )
        return labels, R


# =============================================================================================
# Mixtures: E-pass per partition (chunk statistics), the model's M-step on all chunks
# =============================================================================================

_SCRATCH = threading.local()


def scratch(name: str, shape, dtype=np.float64) -> np.ndarray:
    """A per-worker-thread buffer reused across tasks (no fresh pages for every partition); its
    content is whatever the last task left, except that it starts zeroed."""
    pool = getattr(_SCRATCH, "pool", None)
    if pool is None:
        pool = _SCRATCH.pool = {}
    buf = pool.get(name)
    if buf is None or buf.shape != tuple(shape) or buf.dtype != dtype:
        buf = pool[name] = np.zeros(shape, dtype=dtype)
    return buf


def _gmm_e(part, st, want_resp=False):
    n, D = part.X.shape
    K = st["means"].shape[0]
    Dp = gm.padded(D)
    XT = scratch("gmm_XT", (Dp, n))  # rows D.. stay zero: only [:D] is ever written
    XT[:D] = part.X.T
    X = part.f64() if want_resp else None
    mp = np.zeros((K, Dp))
    mp[:, :D] = st["means"]
    Up = np.zeros((K, Dp, Dp))
    Up[:, :D, :D] = st["precisions_cholesky"]
    C = chunk_count(n)
    resp = np.zeros((n, K)) if want_resp else scratch("gmm_resp", (n, K))
    nk, s1, s2, ll = np.zeros((C, K)), np.zeros((C, K, D)), np.zeros((C, K, D, D)), np.zeros(C)
    eb = np.zeros((C, 2, gm.BLOCK), dtype=np.int64)
    call(
        gm._e_pass,
        C,
        gm.e_pass_work(n, K, D),
        XT,
        st["log_w"],
        mp,
        Up,
        st["log_det"],
        resp,
        nk,
        s1,
        s2,
        ll,
        np.zeros((C, K, gm.BLOCK)),
        np.zeros((C, 9, gm.BLOCK)),
        eb,
        eb.view(np.float64),
    )
    return (X, resp) if want_resp else (nk, s1, s2, ll)


def gmm_stats(part, hp, st):
    """Worker: gmm's fused E-pass on the partition: per chunk N_k, sum r d, sum r d d^T, loglik."""
    return _gmm_e(part, st)


def gmm_cov(part, hp, old, means, redo):
    """Worker: the exact covariance pass for the flagged components (responsibilities of the
    parameters ``old`` recomputed, as in memory they are those of the last E-pass)."""
    X, resp = _gmm_e(part, old, want_resp=True)
    C = chunk_count(X.shape[0])
    K, D = means.shape
    s2 = np.zeros((C, K, D, D))
    call(
        gm._cov_pass,
        C,
        X.shape[0] * K * D * D,
        np.ascontiguousarray(X.T),
        resp,
        means,
        redo,
        s2,
        np.zeros((C, K, D)),
    )
    return s2


def _centres_from_sums(sums, weights, centers) -> None:
    """Lloyd's centre update in place from the summed statistics (sum_i w_i x_i over sum_i w_i):
    the in-memory models' kernel, given no rows, so an empty centre stays where it is (a plan
    that re-seeds has done so before)."""
    no_rows = np.zeros((0, centers.shape[1]))
    ck.update_centers(
        no_rows, np.zeros(0, dtype=np.int64), sums, weights, np.zeros(0), centers, False
    )


def _resp_output(fn):
    def out(part, hp, st):
        resp = fn(part, hp, st)
        return resp.argmax(axis=1), resp

    return out


def gmm_resp(part, hp, st):
    return _gmm_e(part, st, want_resp=True)[1]


def _chunk_pass(kernel, X, K, params, want_resp, *extra):
    """A mixture's E-pass over one partition: ``kernel(X, *params, resp, nk, sx, ll, scratch,
    *extra)`` fills the (n, K) responsibilities and per chunk N_k, sum r x and the objective's data
    term; returns the responsibilities when ``want_resp``, else the three per-chunk arrays."""
    n, D = X.shape
    C = chunk_count(n)
    resp = np.zeros((n, K))
    nk, sx, ll = np.zeros((C, K)), np.zeros((C, K, D)), np.zeros(C)
    call(kernel, C, n * K * D, X, *params, resp, nk, sx, ll, np.zeros((C, K)), *extra)
    return resp if want_resp else (nk, sx, ll)


def _bern_X(part, hp):
    X = part.f64()
    if hp.binarize:
        X = (X >= hp.threshold).astype(np.float64)
    return X


def bern_stats(part, hp, st, want_resp=False):
    """Worker: the Bernoulli mixture's E-pass: per chunk N_k, sum r x, loglik."""
    K, form = st["theta"].shape[0], bm.affine_form(st["log_t"], st["log_1mt"])
    return _chunk_pass(affine_e_pass, _bern_X(part, hp), K, (st["log_w"], *form), want_resp)


def bern_resp(part, hp, st):
    return bern_stats(part, hp, st, True)


def bern_check(part, hp):
    if hp.binarize:
        return None
    X = part.X
    bad = (X != 0) & (X != 1)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        return (
            f"the Bernoulli mixture takes 0/1 data, but row {part.offset + i} has "
            f"{X[i, j]:g} ({int(bad.sum())} non-binary values in its partition); turn on "
            "binarize (--binarize)"
        )
    return None


def expo_stats(part, hp, st, want_resp=False):
    """Worker: the exponential mixture's E-pass: per chunk N_j, sum q x, loglik."""
    K, form = st["rates"].shape[0], em.affine_form(st["rates"], st["log_rates"])
    return _chunk_pass(affine_e_pass, part.f64(), K, (st["log_w"], *form), want_resp)


def expo_resp(part, hp, st):
    return expo_stats(part, hp, st, True)


def expo_check(part, hp):
    X = part.X
    if (X < 0).any():
        i, j = np.argwhere(X < 0)[0]
        return (
            f"the exponential mixture takes non-negative data, but row {part.offset + i} has "
            f"{X[i, j]:g}"
        )
    return None


def expo_positive(part, hp):
    """Worker: each column's smallest positive value (inf if none) and its count of zeros."""
    X = part.X
    return (np.where(X > 0, X, np.inf).min(axis=0).astype(np.float64), (X == 0).sum(axis=0))


def bayes_stats(part, hp, st, want_resp=False):
    """Worker: the CAVI phi pass: per chunk sum phi, sum phi x and the data terms of the ELBO."""
    K = st["m"].shape[0]
    return _chunk_pass(bg._phi_pass, part.f64(), K, (st["m"], st["s2"]), want_resp, np.zeros(K))


def bayes_resp(part, hp, st):
    return bayes_stats(part, hp, st, True)


def _criteria(loglik: float, n_free: int, n_items: int) -> dict:
    """BIC and AIC of a mixture's fit, as the in-memory model reports them."""
    from explorer import metrics as metrics_mod

    return {"bic": metrics_mod.bic(loglik, n_free, n_items), "aic": metrics_mod.aic(loglik, n_free)}


class MixturePlan:
    """The shared shape of the four EM/CAVI mixtures; subclasses name their arrays and steps."""

    state_names: tuple[str, ...] = ()
    export_names: tuple[str, ...] = ()
    stats_fn = None
    resp_fn = None
    check_fn = None

    def start(self, m, init) -> None:
        m.st = {
            name: np.array(getattr(init, name), dtype=np.float64, order="C")
            for name in self.state_names
        }
        self.extra_start(m, init)
        if self.check_fn is not None:
            for problem in m.map(type(self).check_fn, m.hp):
                if problem:
                    raise DataError(problem, path=m.data.path)
        self._pass(m)

    def extra_start(self, m, init) -> None:
        pass

    def _pass(self, m) -> None:
        outs = m.map(type(self).stats_fn, m.hp, self.state(m))
        m.stats = [np.concatenate([o[i] for o in outs]) for i in range(len(outs[0]))]
        m.value = self.objective_from(m)

    def state(self, m):
        return m.st

    def step(self, m) -> float:
        self.m_step(m)
        self._pass(m)
        return m.value

    def converged(self, m, trace) -> bool:
        return False

    def parameters(self, m) -> dict:
        return {name: m.st[name].copy() for name in self.export_names}

    def view_state(self, m) -> dict:
        """The state under the in-memory model's names (its arrays, N_k per chunk and the
        log-likelihood of the last E-pass)."""
        return {**m.st, "_nk": m.stats[0], "loglik": m.value}

    def snapshot(self, m) -> dict:
        return {"info": {m.base.objective_kind: m.value}}

    @staticmethod
    def _output(fn):
        return fn


class GMMPlan(MixturePlan):
    state_names = ("weights", "log_w", "means", "covariances", "precisions_cholesky", "log_det")
    export_names = ("weights", "means", "covariances", "precisions_cholesky")
    stats_fn = gmm_stats

    def objective_from(self, m):
        return float(m.stats[3].sum())

    def m_step(self, m) -> None:
        st = m.st
        old = {k: v.copy() for k, v in st.items()}
        nk, s1, s2, _ = m.stats
        K, D = st["means"].shape
        nk_tot = np.zeros(K)
        redo = np.zeros(K, dtype=np.bool_)
        reg = m.hp.reg_covar
        n_redo = gm._m_step(
            nk,
            s1,
            s2,
            reg,
            st["weights"],
            st["log_w"],
            st["means"],
            st["covariances"],
            nk_tot,
            redo,
        )
        m.n_redo = int(n_redo)
        if n_redo:
            outs = m.map(gmm_cov, m.hp, old, st["means"], redo)
            gm._finish_cov(np.concatenate(outs), nk_tot, redo, reg, st["covariances"])
        bad = gm._factorize(
            st["covariances"], st["precisions_cholesky"], st["log_det"], np.zeros((D, D))
        )
        if bad >= 0:
            gm.GaussianMixture._singular(SimpleNamespace(hp=m.hp, data=m.data), bad)

    def metrics(self, m) -> dict:
        p = gm.GaussianMixture.free_parameters(*m.st["means"].shape, m.hp)
        return {"log_likelihood": m.value, **_criteria(m.value, p, m.data.n_items)}

    def snapshot(self, m) -> dict:
        return {
            "centers": m.st["means"].copy(),
            "covariances": m.st["covariances"].copy(),
            "weights": m.st["weights"].copy(),
            "info": {"log_likelihood": m.value},
        }

    part_output = staticmethod(_resp_output(gmm_resp))


class BernoulliPlan(MixturePlan):
    state_names = ("theta", "weights", "log_w", "log_t", "log_1mt")
    export_names = ("theta", "weights")
    stats_fn = bern_stats
    check_fn = bern_check

    def extra_start(self, m, init) -> None:
        m.log_prior = float(init._log_prior)
        m.prior_const = float(init._prior_const)

    def objective_from(self, m):
        m.loglik = float(m.stats[2].sum())
        return m.loglik + m.log_prior + m.prior_const

    def view_state(self, m) -> dict:
        return {**super().view_state(m), "loglik": m.loglik}

    def m_step(self, m) -> None:
        st, hp = m.st, m.hp
        nk, sx, _ = m.stats
        m.log_prior = float(
            bm._m_step(
                nk,
                sx,
                hp.a,
                hp.b,
                hp.learn_weights,
                st["theta"],
                st["log_t"],
                st["log_1mt"],
                st["weights"],
                st["log_w"],
            )
        )

    def metrics(self, m) -> dict:
        p = bm.BernoulliMixture.free_parameters(*m.st["theta"].shape, m.hp)
        criteria = _criteria(m.loglik, p, m.data.n_items)
        return {"log_likelihood": m.loglik, "log_posterior": m.value, **criteria}

    def snapshot(self, m) -> dict:
        return {
            "centers": m.st["theta"].copy(),
            "weights": m.st["weights"].copy(),
            "info": {"log_likelihood": m.loglik},
        }

    part_output = staticmethod(_resp_output(bern_resp))


class ExponentialPlan(MixturePlan):
    state_names = ("rates", "log_rates", "weights", "log_w")
    export_names = ("rates", "weights")
    stats_fn = expo_stats
    check_fn = expo_check

    def extra_start(self, m, init) -> None:
        outs = m.map(expo_positive, m.hp)
        min_pos = np.min([o[0] for o in outs], axis=0)
        if not np.isfinite(min_pos).all():
            raise DataError(
                "the column is all zeros: an exponential rate would be infinite",
                path=m.data.path,
                column=m.data.columns[int(np.argmin(np.isfinite(min_pos)))],
            )
        # The floor on the means comes from every row, not the initialisation sample.
        m.st["min_mean"] = em.mean_floor(min_pos)
        m.n_zeros = np.sum([o[1] for o in outs], axis=0)

    def view_state(self, m) -> dict:
        return {**super().view_state(m), "n_zeros": m.n_zeros}

    def objective_from(self, m):
        return float(m.stats[2].sum())

    def m_step(self, m) -> None:
        st = m.st
        nk, sx, _ = m.stats
        em._m_step(nk, sx, st["min_mean"], st["weights"], st["log_w"], st["rates"], st["log_rates"])

    def metrics(self, m) -> dict:
        p = em.ExponentialMixture.free_parameters(*m.st["rates"].shape, m.hp)
        return {"log_likelihood": m.value, **_criteria(m.value, p, m.data.n_items)}

    def snapshot(self, m) -> dict:
        return {
            "centers": 1.0 / m.st["rates"],
            "rates": m.st["rates"].copy(),
            "weights": m.st["weights"].copy(),
            "info": {"log_likelihood": m.value},
        }

    part_output = staticmethod(_resp_output(expo_resp))


class BayesGMMPlan(MixturePlan):
    state_names = ("m", "s2", "weights")
    export_names = ("m", "s2", "weights")
    stats_fn = bayes_stats

    def objective_from(self, m):
        return float(m.stats[2].sum()) + bg.global_elbo_terms(
            m.st["m"], m.st["s2"], m.hp.sigma2, m.data.n_items
        )

    def m_step(self, m) -> None:
        nk, sx, _ = m.stats
        bg._mu_update(nk, sx, m.hp.sigma2, m.st["m"], m.st["s2"], m.st["weights"])

    def metrics(self, m) -> dict:
        return {"elbo": m.value}

    def snapshot(self, m) -> dict:
        K, D = m.st["m"].shape
        return {
            "centers": m.st["m"].copy(),
            "weights": m.st["weights"].copy(),
            "covariances": np.broadcast_to(np.eye(D), (K, D, D)).copy(),
            "info": {"elbo": m.value},
        }

    part_output = staticmethod(_resp_output(bayes_resp))


# =============================================================================================
# Degenerate states: the in-memory model's degeneracy() on the distributed state
# =============================================================================================


def distinct_rows(part, hp, K: int, binarize: bool):
    """Worker: at most ``K`` distinct rows of the partition (as the model sees them: 0/1 for the
    Bernoulli mixture with ``binarize``), and each column's lowest and highest value."""
    X = _bern_X(part, hp) if binarize else part.f64()
    return np.unique(X, axis=0)[:K], X.min(axis=0), X.max(axis=0)


def stand_in_rows(m) -> np.ndarray:
    """Rows that answer what the in-memory advice asks of the data (``few_rows_advice``: how many
    distinct rows, when fewer than K; gmm's: which columns are constant) as all the rows would.

    Each partition sends at most K distinct rows. When their union holds fewer than K, every
    partition sent all of its distinct rows: the union is exactly the data's distinct rows.
    Otherwise the data have at least K distinct rows, and the two rows of the columns' lowest and
    highest values are added, so a column is constant in the stand-in exactly when it is in the
    data."""
    K = int(m.hp.K)
    binarize = m.base.id == "bernoulli-mixture" and bool(getattr(m.hp, "binarize", False))
    outs = m.map(distinct_rows, m.hp, K, binarize)
    rows = np.unique(np.concatenate([o[0] for o in outs]), axis=0)
    if len(rows) < K:
        return rows
    lo = np.min([o[1] for o in outs], axis=0)
    hi = np.max([o[2] for o in outs], axis=0)
    return np.vstack([rows, lo, hi])


def _view_rows(view) -> np.ndarray:
    rows = view.__dict__.get("_stand_in")
    if rows is None:
        rows = view.__dict__["_stand_in"] = stand_in_rows(view.__dict__["_fit"])
    return rows


_VIEWS: dict[type, type] = {}


def in_memory_view(m):
    """An instance of the in-memory model's class (never prepared, never fitted) that holds the
    distributed model ``m``'s current state under the names the in-memory methods read
    (``plan.view_state``), and whose data matrix (``X``, ``_X``) is :func:`stand_in_rows`,
    computed on the cluster only when read. ``in_memory_view(m).degeneracy()`` is the in-memory
    check on the distributed state."""
    base = m.base
    cls = _VIEWS.get(base)
    if cls is None:
        rows = property(_view_rows)
        cls = _VIEWS[base] = type(
            f"{base.__name__}StateView", (base,), {"X": rows, "_X": rows, "__module__": __name__}
        )
    view = object.__new__(cls)
    view.__dict__.update(
        hp=m.hp, data=m.data, seed=m.seed, iteration=m.iteration, _notes=[], _fit=m
    )
    view.__dict__.update(m.plan.view_state(m))
    return view


# The plan of each model that has a distributed path, from its hyperparameters (hardened fuzzy
# c-means is Lloyd's algorithm on one-hot memberships: the K-means plan).
PLANS = {
    "kmeans": lambda hp: CentrePlan("l2"),
    "kmedians": lambda hp: CentrePlan("l1"),
    "fuzzy-cmeans": lambda hp: CentrePlan("l2", one_hot=True) if hp.harden else FuzzyPlan(),
    "gmm": lambda hp: GMMPlan(),
    "bernoulli-mixture": lambda hp: BernoulliPlan(),
    "exponential-mixture": lambda hp: ExponentialPlan(),
    "bayes-gmm": lambda hp: BayesGMMPlan(),
}
DISTRIBUTED_MODELS = tuple(PLANS)


def plan_for(model_id: str, hp):
    """The plan of a registered model id (ValueError for a model without a distributed path)."""
    if model_id not in PLANS:
        raise ValueError(
            f"model '{model_id}' has no distributed path (table models: "
            f"{', '.join(DISTRIBUTED_MODELS)})"
        )
    return PLANS[model_id](hp)
