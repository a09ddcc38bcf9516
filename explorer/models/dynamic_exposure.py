"""Dynamic exposure model: latent link indicators with zero-inflated Poisson counts, fitted by EM.

Derivation: docs/derivations/dynamic_exposure.md.

The model, its updates and the choices the code made: docs/models/dynamic-exposure.md.

Exported parameters (parameters.npz names):
  u (N, K_aff) out-memberships; v (N, K_aff) in-memberships (= u when undirected);
  w (K_aff, K_aff) affinity; mu (N, K_exp) exposure rows;
  pair_activity (N, N) S_ij = expected number of exposed observed snapshots of each pair
  (symmetric, zero diagonal); labels (N,) and memberships (N, K_aff): the communities of the
  fitted expected contacts mu_ij lambda_ij (``communities = "contacts"``, spectral clustering of
  their low-rank factors) or argmax u and normalised u (``"affinity"``); node_ids (N,) str.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment
from scipy.special import gammaln

from explorer import metrics as metrics_mod
from explorer import spectral
from explorer.data.synthetic import sample_network  # noqa: F401 - moved there; old imports work
from explorer.data.types import DataError
from explorer.models import _dynamic_kernels as kern
from explorer.models import register
from explorer.models._canonical import canonical_node_order, to_data_order
from explorer.models.base import HyperparametersBase, Model, param

# Dense pair sums in float64 up to this many nodes (exact EM monotonicity), float32 beyond.
PAIR_FLOAT64_MAX_NODES = 3000
# Refuse data whose dense pair arrays would exceed this many bytes.
MAX_PAIR_BYTES = 4 << 30
# The objective is degenerate (unresolved) when its rounding error exceeds this many nats.
UNRESOLVED_NATS = 1.0
# The live held-out AUC uses at most this many evaluation pairs.
LIVE_AUC_MAX_PAIRS = 200_000
# metrics() expands held-out cells for explorer.metrics.auc up to this many cells...
FULL_AUC_MAX_CELLS = 2_000_000
# ...and scores at most this many held-out pairs (a weighted hashed sample beyond).
FULL_AUC_MAX_PAIRS = 2_000_000


@dataclass(frozen=True)
class DynamicExposureHyperparameters(HyperparametersBase):
    K_aff: int = param(3, lo=1, hi=200, help="number of affinity communities (u, v, w)")
    K_exp: int = param(3, lo=1, hi=200, help="number of exposure dimensions (rows of mu)")
    n_init: int = param(
        3, lo=1, hi=100, help="restarts from new seeds; the best held-out log-likelihood is kept"
    )
    assortative: bool = param(
        True,
        help="w diagonal: communities only link to themselves (off-diagonal rates fixed at zero)",
    )
    communities: str = param(
        "contacts",
        choices=("contacts", "affinity"),
        help="hard communities from spectral clustering of the fitted "
        "expected contacts mu_ij lambda_ij, or argmax u",
    )
    patience: int = param(
        10,
        lo=1,
        hi=10000,
        help="stop when the held-out log-likelihood has not improved for "
        "this many iterations (the best state is returned)",
    )
    init: str = param(
        "kmeans",
        choices=("kmeans", "dirichlet"),
        help="u, v from K-means on the aggregated counts or from a Dirichlet",
    )
    heldout_fraction: float = param(
        0.05, lo=0.0, hi=0.5, help="share of (t, i, j) cells held out for link prediction"
    )
    heldout_seed: int = param(
        0,
        lo=0,
        hi=2**31 - 1,
        help="seed of the held-out cell choice (the same for all restarts)",
        advanced=True,
    )
    eps: float = param(
        1e-6,
        lo=1e-12,
        hi=0.01,
        log=True,
        help="exposures mu_i . mu_j are kept inside [eps, 1 - eps]",
        advanced=True,
    )
    mu_newton_steps: int = param(
        2, lo=1, hi=50, help="projected Newton steps per node in each M-step for mu", advanced=True
    )


def _dirichlet_rows(rng, n, K):
    return rng.dirichlet(np.ones(K), size=n)


@register
class DynamicExposure(Model):
    id = "dynamic-exposure"
    name = "Dynamic exposure (ZIP)"
    description = (
        "Temporal network model: a pair (i, j) is exposed in a snapshot with "
        "probability mu_i . mu_j; exposed pairs draw Poisson counts with rate "
        "u_i w v_j (a mixed-membership Poisson blockmodel), unexposed pairs have "
        "exactly zero counts. Fitted by EM; hard communities are argmax u. A share of "
        "(t, i, j) cells is held out for a live link-prediction AUC."
    )
    data_kinds = ("temporal",)
    # The log-likelihood of the held-out cells; "log-likelihood" (training) when none are held out.
    objective_kind = "held-out log-likelihood"
    Hyperparameters = DynamicExposureHyperparameters
    default_max_iter = 500
    default_tol = 1e-7
    # The runner keeps the state of the best held-out log-likelihood and returns it.
    keep_best = True
    # node_order[c]: the data index of canonical node c (see _prepare); None: the data's order is
    # canonical already (or no data yet)
    node_order: np.ndarray | None = None
    _node_index: np.ndarray | None = None  # its inverse: data index -> canonical index
    # What _prepare builds from the data and the held-out choice, shared by every restart.
    kernel_modules = ("explorer.models._dynamic_kernels",)
    shared_state = (
        "_T",
        "_T_data",
        "_directed",
        "_eval",
        "_eval_full",
        "_eval_full_pairs",
        "_hll_const",
        "_hpos",
        "_hy",
        "_in",
        "_isolated",
        "_ll_const",
        "_max_count",
        "_n_heldout_cells",
        "_n_obs_cells",
        "_n_obs_nonzero_cells",
        "_nobs",
        "_out",
        "_pa",
        "_pair_dtype",
        "_pb",
        "_pm",
        "_state",
        "node_order",
        "_node_index",
    )

    # ---- data ---------------------------------------------------------------------------------
    def check_data(self, data) -> None:
        path = getattr(data, "path", None)
        if data.kind not in self.data_kinds:
            raise DataError(
                f"model '{self.id}' takes temporal network data, not {data.kind} data", path=path
            )
        n = data.n_nodes
        if n < 2:
            raise DataError("the network needs at least 2 nodes", path=path)
        if self.hp.K_aff > n:
            raise DataError(
                f"K_aff = {self.hp.K_aff} is larger than the number of nodes ({n})", path=path
            )
        if int(data.T) < 1:
            raise DataError("the network has no snapshots (T = 0)", path=path)
        if int(data.T) > 65535:
            raise DataError(f"T = {data.T} snapshots: at most 65,535 are supported", path=path)
        need = n * n * (2 + (8 if n <= PAIR_FLOAT64_MAX_NODES else 4))
        if need > MAX_PAIR_BYTES:
            raise DataError(
                f"{n} nodes need {need / 2**30:.1f} GiB of dense pair sums (N x N); "
                f"at most {MAX_PAIR_BYTES / 2**30:.0f} GiB are allowed",
                path=path,
            )
        t, i, j, c = (np.asarray(a) for a in (data.t, data.i, data.j, data.count))
        if not (len(t) == len(i) == len(j) == len(c)):
            raise DataError("t, i, j and count must have the same length", path=path)
        if len(c):
            if not np.all(np.isfinite(c)):
                raise DataError("counts must be finite", path=path)
            if c.min() < 0:
                raise DataError(f"counts must be non-negative (found {c.min():g})", path=path)
            if np.any(c != np.round(c)):
                where = getattr(data, "first_fractional_count", None)
                if where is not None:
                    raise DataError(
                        f"count {where[2]:g} is not a whole number (the model is Poisson)",
                        path=path,
                        line=where[0],
                        column=where[1],
                    )
                raise DataError("counts must be whole numbers (the model is Poisson)", path=path)
            if t.min() < 0 or t.max() >= data.T:
                raise DataError(f"snapshot indices must lie in [0, {data.T})", path=path)
            if min(i.min(), j.min()) < 0 or max(i.max(), j.max()) >= n:
                raise DataError(f"node indices must lie in [0, {n})", path=path)

    def _prepare(self, data) -> None:
        """Everything that depends on the data and the held-out choice only (not on the seed):
        built once per fit and shared by the restarts."""
        hp = self.hp
        n, T = data.n_nodes, int(data.T)
        self._T_data = T
        directed = bool(data.directed)
        notes: list[str] = []
        t = np.asarray(data.t, dtype=np.int64)
        i = np.asarray(data.i, dtype=np.int64)
        j = np.asarray(data.j, dtype=np.int64)
        c = np.asarray(data.count, dtype=np.float64)
        # Everything runs in the canonical node order (nodes sorted by id, _canonical.py): the
        # held-out cells (a hash of t and the node indices), the K-means start and every sum then
        # depend on the network, not on the order of the file's rows; results go back to the
        # data's order.
        self.node_order = canonical_node_order(data.node_ids)
        self._node_index = None  # data index -> canonical index
        if self.node_order is not None:
            self._node_index = np.empty(n, dtype=np.int64)
            self._node_index[self.node_order] = np.arange(n, dtype=np.int64)
            i, j = self._node_index[i], self._node_index[j]
        keep = c > 0
        if not keep.all():
            notes.append(f"{int((~keep).sum())} zero counts in the input were ignored")
        loops = (i == j) & keep
        if loops.any():
            notes.append(
                f"{int(loops.sum())} self-loop counts (i = j) were dropped: the model "
                "has no self-pairs"
            )
        keep &= i != j
        t, i, j, c = t[keep], i[keep], j[keep], c[keep]
        present = np.zeros(T, dtype=bool)
        present[t] = True
        if not present.all():
            empty = np.flatnonzero(~present)
            shown = ", ".join(map(str, empty[:10])) + (" ..." if len(empty) > 10 else "")
            notes.append(
                f"{len(empty)} of {T} snapshots have no contacts (t = {shown}); they "
                "count as observed all-zero snapshots (remove them from the file if "
                "they are gaps in observation)"
            )
        a, b = np.minimum(i, j), np.maximum(i, j)
        if not directed:
            i, j = a, b
        # merge repeated (t, i, j) rows
        key = (t * n + i) * n + j
        ukey, inv = np.unique(key, return_inverse=True)
        c = np.bincount(inv, weights=c)
        t, rem = np.divmod(ukey, n * n)
        i, j = np.divmod(rem, n)
        a, b = np.minimum(i, j), np.maximum(i, j)

        state = np.uint64(kern.seed_state(np.uint64(hp.heldout_seed)))
        frac = float(hp.heldout_fraction)
        held = np.zeros(len(t), dtype=np.bool_)
        if frac > 0:
            kern.heldout_flags(state, frac, t, a, b, n, held)
        obs = ~held

        # observed entries: aggregated counts per ordered pair, log-factorial constant
        self._ll_const = -float(gammaln(c[obs] + 1.0).sum())
        self._max_count = float(c.max()) if len(c) else 0.0
        ot, oi, oj, oc = t[obs], i[obs], j[obs], c[obs]
        oa, ob = a[obs], b[obs]
        dkey, dinv = np.unique(oi * n + oj, return_inverse=True)
        y = np.bincount(dinv, weights=oc)
        di, dj = np.divmod(dkey, n)
        if len(y) == 0:
            raise DataError(
                "no non-zero counts outside the held-out cells: nothing to fit",
                path=getattr(data, "path", None),
            )
        if directed:
            out_m = sp.csr_matrix((y, (di, dj)), shape=(n, n))
            in_m = sp.csr_matrix((y, (dj, di)), shape=(n, n))
        else:
            out_m = sp.csr_matrix(
                (np.concatenate([y, y]), (np.concatenate([di, dj]), np.concatenate([dj, di]))),
                shape=(n, n),
            )
            in_m = out_m
        out_m.sort_indices()
        in_m.sort_indices()
        self._out = (
            out_m.indptr.astype(np.int64),
            out_m.indices.astype(np.int64),
            out_m.data.astype(np.float64),
        )
        self._in = (
            in_m.indptr.astype(np.int64),
            in_m.indices.astype(np.int64),
            in_m.data.astype(np.float64),
        )
        # observed non-zero cells per pair
        cells = np.unique((ot * n + oa) * n + ob)
        pkey, pm = np.unique(cells % (n * n), return_counts=True)
        self._pa, self._pb = (x.astype(np.int64) for x in np.divmod(pkey, n))
        self._pm = pm.astype(np.float64)
        self._n_obs_nonzero_cells = float(pm.sum())
        # held-out non-zero cells per pair (the positives of link prediction)
        hcells = np.unique((t[held] * n + a[held]) * n + b[held])
        hkey, hcnt = np.unique(hcells % (n * n), return_counts=True)
        self._hpos = (*(x.astype(np.int64) for x in np.divmod(hkey, n)), hcnt.astype(np.float64))
        # held-out counts per pair and direction, for the held-out log-likelihood
        hpair = np.searchsorted(hkey, a[held] * n + b[held])
        fwd = i[held] == a[held]
        self._hy = (
            np.bincount(hpair[fwd], weights=c[held][fwd], minlength=len(hkey)),
            np.bincount(hpair[~fwd], weights=c[held][~fwd], minlength=len(hkey)),
        )
        self._hll_const = -float(gammaln(c[held] + 1.0).sum())
        # isolated nodes (no observed non-zero count)
        deg = np.bincount(np.concatenate([di, dj]), minlength=n)
        iso = np.flatnonzero(deg == 0)
        if len(iso):
            ids = np.asarray(data.node_ids)[
                iso if self.node_order is None else self.node_order[iso]
            ]
            shown = ", ".join(map(str, ids[:10])) + (" ..." if len(iso) > 10 else "")
            notes.append(
                f"{len(iso)} node(s) never interact outside held-out cells ({shown}): "
                "their u rows go to zero, memberships are uniform and labels 0"
            )
        self._isolated = iso

        # dense pair arrays
        fdt = np.float64 if n <= PAIR_FLOAT64_MAX_NODES else np.float32
        self._nobs = np.empty((n, n), dtype=np.uint16)
        kern.fill_observed(self._nobs, T, state, frac)
        self._pair_dtype = fdt
        total_obs = float(self._nobs.sum(dtype=np.float64) / 2.0)
        self._n_obs_cells = total_obs
        self._n_heldout_cells = T * n * (n - 1) / 2.0 - total_obs
        # live evaluation pairs
        self._eval = None
        self._eval_full = None
        self._eval_full_pairs = 0
        if frac > 0:
            pa_, pb_, pc_ = self._hpos
            nfull = kern.count_heldout_pairs(self._nobs, T, state, 1.0, pa_, pb_, pc_, True)
            self._eval_full_pairs = int(nfull)
            rate = 1.0
            if nfull > LIVE_AUC_MAX_PAIRS:
                rate = max((LIVE_AUC_MAX_PAIRS - len(pa_)) / nfull, 1e-6)
                final = (
                    "all of them"
                    if nfull <= FULL_AUC_MAX_PAIRS
                    else f"a weighted sample of {FULL_AUC_MAX_PAIRS:,}"
                )
                notes.append(
                    f"the live held-out AUC uses a weighted sample of the {nfull:,} "
                    f"held-out pairs; the final AUC uses {final}"
                )
            self._eval = self._build_eval(rate)
        self._directed = directed
        self._T = T
        self._state = state
        self.notes.extend(notes)

    def _build_eval(self, rate):
        pa_, pb_, pc_ = self._hpos
        sstate = np.uint64(kern.seed_state(np.uint64(self.hp.heldout_seed + 7919)))
        cnt = kern.count_heldout_pairs(self._nobs, self._T_data, sstate, rate, pa_, pb_, pc_, True)
        ea = np.empty(cnt, dtype=np.int64)
        eb = np.empty(cnt, dtype=np.int64)
        ep = np.empty(cnt)
        en = np.empty(cnt)
        kern.fill_heldout_pairs(
            self._nobs, self._T_data, sstate, rate, pa_, pb_, pc_, True, ea, eb, ep, en
        )
        return {
            "a": ea,
            "b": eb,
            "pos": ep,
            "neg": en,
            "score": np.empty(cnt),
            "order": np.empty(cnt, dtype=np.int64),
        }

    # ---- initialisation ---------------------------------------------------------------------
    def _init_state(self, seed: int) -> None:
        hp = self.hp
        n, K, Ke = self.data.n_nodes, hp.K_aff, hp.K_exp
        self._S = np.zeros((n, n), dtype=self._pair_dtype)  # this restart's pair sums
        rng = np.random.default_rng(seed)
        directed = self._directed
        if hp.init == "kmeans":
            lab = self._kmeans_labels(rng, n, K)
            one = np.eye(K)[lab]
            U = 0.8 * one + 0.2 * _dirichlet_rows(rng, n, K)
            V = 0.8 * one + 0.2 * _dirichlet_rows(rng, n, K) if directed else U
        else:
            U = _dirichlet_rows(rng, n, K)
            V = _dirichlet_rows(rng, n, K) if directed else U
        self._U = np.ascontiguousarray(U)
        self._V = np.ascontiguousarray(V) if directed else self._U
        W = np.eye(K) if hp.assortative else np.eye(K) + 0.1 * (1.0 - np.eye(K))
        # scale w so that the mean rate on observed non-zero cells matches the mean count
        UW = np.empty((n, K))
        kern.left_product(self._U, W, UW)
        lam = np.einsum("pk,pk->p", UW[self._pa], self._V[self._pb])
        if directed:
            lam += np.einsum("pk,pk->p", UW[self._pb], self._V[self._pa])
        total_y = float(self._out[2].sum()) / (1.0 if directed else 2.0)
        W *= total_y / max(float(np.dot(self._pm, lam)), 1e-300)
        self._W = W
        # exposures: every mu_ij in [r / (4 Ke), r], r twice the share of non-zero cells
        r = 2.0 * self._n_obs_nonzero_cells / max(self._n_obs_cells, 1.0)
        r = min(max(r, 8.0 * Ke * hp.eps), 0.5)
        pi = _dirichlet_rows(rng, n, Ke)
        self._MU = np.ascontiguousarray(math.sqrt(r) * (0.5 * pi + 0.5 / Ke))
        # buffers
        self._UW = UW
        self._X = np.empty((n, K))
        self._SV = np.empty((n, K))
        self._num = np.empty(K)
        self._den = np.empty(K)
        self._numw = np.empty((K, K))
        self._denw = np.empty((K, K))
        self._g = np.empty(Ke)
        self._H = np.empty((Ke, Ke))
        self._A = np.empty((Ke, Ke))
        self._L = np.zeros((Ke, Ke))
        self._d = np.empty(Ke)
        self._x = np.empty(Ke)
        self._y = np.empty(Ke)
        self._free = np.empty(Ke, dtype=np.bool_)
        self._mu_rejected = 0
        self._auc_trace: list[tuple[int, float]] = []
        self._ll_trace: list[tuple[int, float]] = []
        self._labels_cache = None
        self.objective_kind = (
            "held-out log-likelihood" if self._n_heldout_cells > 0 else "log-likelihood"
        )
        self._estep()
        self._record_auc()

    def _kmeans_labels(self, rng, n, K):
        """K-means on the spectral embedding of the aggregated observed counts (K leading
        eigenvectors of the normalised, symmetrised count matrix, rows unit length), the best
        of 10 k-means++ draws by distortion.

        Why not one K-means draw on the rows of log(1 + counts), the start until then: on the
        bundled planted_contacts its NMI was 0.01-1.0 by seed and by node order (the best of 10
        draws: 0.01 on every seed, the log flattening the within-group counts), so the fit's NMI
        followed the node numbering (mean 0.878 in the file's order, 0.354 with the ids sorted,
        seeds 0-9). This start: 1.0 on seeds 0-3 in the file's, the sorted and a random order;
        primary school (K_aff = 10) 0.94 on each, against 0.92-0.94 before."""
        ptr, idx, y = self._out
        agg = sp.csr_matrix((y, idx, ptr), shape=(n, n))  # symmetrised by the embedding
        return spectral.spectral_clustering(agg, K, seed=int(rng.integers(2**31 - 1)), n_init=10)

    # ---- EM -------------------------------------------------------------------------------------
    def _estep(self) -> float:
        """E-step; sets the training (``_loglik``) and held-out (``_heldout_ll``) log-likelihoods
        of the parameters held and returns the training one."""
        kern.left_product(self._U, self._W, self._UW)
        ptr, idx, y = self._out
        ll, hz = kern.estep(
            self._UW,
            self._V,
            self._MU,
            self._nobs,
            self._S,
            self._pa,
            self._pb,
            self._pm,
            ptr,
            idx,
            y,
            self._directed,
            self._ll_const,
            self._T,
        )
        ha, hb, hm = self._hpos
        hc = kern.heldout_correction(
            self._UW, self._V, self._MU, ha, hb, hm, self._hy[0], self._hy[1], self._directed
        )
        self._loglik = float(ll)
        self._heldout_ll = (
            float(hz + hc + self._hll_const) if self._n_heldout_cells > 0 else float("nan")
        )
        self._labels_cache = None
        return self._loglik

    def _mstep_theta(self) -> None:
        S, W = self._S, self._W
        if self._directed:
            kern.right_product(self._V, W, self._X)  # X = v w^T
            kern.mstep_rows(self._U, self._X, S, *self._out, W, False, self._num, self._den)
            kern.left_product(self._U, W, self._X)  # X = u w
            kern.mstep_rows(self._V, self._X, S, *self._in, W, False, self._num, self._den)
        else:
            kern.left_product(self._U, W, self._X)  # X = u w (w symmetric)
            kern.mstep_rows(self._U, self._X, S, *self._out, W, True, self._num, self._den)
        kern.mstep_w(
            self._U, self._V, W, S, *self._out, self._SV, self._numw, self._denw, not self._directed
        )

    def _mstep_mu(self) -> None:
        self._mu_rejected = int(
            kern.mstep_mu(
                self._MU,
                self._S,
                self._nobs,
                self.hp.eps,
                self.hp.mu_newton_steps,
                self._g,
                self._H,
                self._A,
                self._L,
                self._d,
                self._x,
                self._y,
                self._free,
            )
        )

    def step(self) -> float:
        """One EM iteration: M-step (u, v, w; mu) from the current S, then the E-step. Returns the
        held-out log-likelihood (the training one when no cell is held out)."""
        self._mstep_theta()
        self._mstep_mu()
        self._estep()
        self._record_auc(self.iteration + 1)  # the runner counts the steps
        return self._objective()

    def _objective(self) -> float:
        return self._heldout_ll if self._n_heldout_cells > 0 else self._loglik

    # ---- stopping and the best state (the runner keeps it) ----------------------------------
    def early_stop(self, trace, best_iteration):
        """Patience on the held-out log-likelihood: stop when the last ``patience`` iterations
        did not improve on the best one."""
        if self._n_heldout_cells <= 0 or not trace:
            return None
        if len(trace) - best_iteration >= self.hp.patience:
            return (
                f"stopped: held-out log-likelihood did not improve for {self.hp.patience} "
                "iterations"
            )
        return None

    def get_state(self):
        """u, v, w and mu; S and both log-likelihoods are recomputed from them by set_state."""
        st = {"U": self._U.copy(), "W": self._W.copy(), "MU": self._MU.copy()}
        if self._directed:
            st["V"] = self._V.copy()
        return st

    def set_state(self, state):
        self._U[:] = state["U"]
        if self._directed:
            self._V[:] = state["V"]
        self._W[:] = state["W"]
        self._MU[:] = state["MU"]
        self._estep()

    def degeneracy(self) -> str | None:
        """An objective float64 cannot resolve: the log-likelihood sums terms as large as
        log A! (A the counts: c log lambda and lambda are of the same size at the fit), and when
        their total times the float64 epsilon exceeds one nat the value and its changes are
        rounding (one count of 1e300: a trace of [0.0, 0.0] that looked converged)."""
        scale = abs(self._ll_const) + abs(self._hll_const)
        error = scale * np.finfo(np.float64).eps
        if not error > UNRESOLVED_NATS:
            return None
        return (
            f"the counts reach {self._max_count:.3g}: the log-likelihood sums terms up to "
            f"{scale:.3g}, which float64 resolves only to about {error:.2g}, so the "
            f"{self.objective_kind} and its changes are rounding, not the fit; divide the "
            "counts by a common factor or cap them"
        )

    # ---- held-out evaluation ------------------------------------------------------------------
    def _live_auc(self) -> float:
        ev = self._eval
        if ev is None or len(ev["a"]) == 0:
            return float("nan")
        kern.pair_scores(self._UW, self._V, self._MU, ev["a"], ev["b"], self._directed, ev["score"])
        return float(kern.weighted_auc(ev["score"], ev["pos"], ev["neg"], ev["order"]))

    def _record_auc(self, iteration: int = 0) -> None:
        value = self._live_auc()
        if np.isfinite(value):
            self._auc_trace.append((iteration, value))
        self._ll_trace.append((iteration, self._loglik))

    def heldout_mask(self, t, i, j) -> np.ndarray:
        """Whether each (t, i, j) cell is held out (the choice depends on the pair, not on its
        direction, and on ``heldout_seed`` only)."""
        t, i, j = (np.asarray(x, dtype=np.int64) for x in (t, i, j))
        if self._node_index is not None:
            i, j = self._node_index[i], self._node_index[j]
        out = np.zeros(t.shape, dtype=np.bool_)
        if self.hp.heldout_fraction > 0:
            kern.heldout_flags(
                self._state,
                float(self.hp.heldout_fraction),
                t,
                np.minimum(i, j),
                np.maximum(i, j),
                self.data.n_nodes,
                out,
            )
        return out

    def heldout_cells(self):
        """Held-out evaluation set by pair: (i, j, positives, negatives, score) for every pair with
        at least one held-out cell (positives: held-out non-zero cells, negatives: zero cells);
        i and j are the data's node indices."""
        a, b, pos, neg, score = self._heldout_cells()
        if self.node_order is not None:
            a, b = self.node_order[a], self.node_order[b]
        return a, b, pos, neg, score

    def _heldout_cells(self):
        """:meth:`heldout_cells` with the pairs in the canonical node order (the model's own)."""
        if self._eval is None:
            empty = np.zeros(0)
            return np.zeros(0, np.int64), np.zeros(0, np.int64), empty, empty, empty
        ev = self._eval
        if self._eval_full_pairs > len(ev["a"]):
            if getattr(self, "_eval_full", None) is None:  # built once, on the first call
                npos = len(self._hpos[0])
                rate = 1.0
                if self._eval_full_pairs > FULL_AUC_MAX_PAIRS:
                    rate = max((FULL_AUC_MAX_PAIRS - npos) / self._eval_full_pairs, 1e-6)
                self._eval_full = self._build_eval(rate)
            ev = self._eval_full
        score = np.empty(len(ev["a"]))
        kern.pair_scores(self._UW, self._V, self._MU, ev["a"], ev["b"], self._directed, score)
        return ev["a"], ev["b"], ev["pos"].copy(), ev["neg"].copy(), score

    def heldout_auc(self) -> float:
        """AUC over every held-out cell (explorer.metrics.auc on the expanded cells when they
        are at most FULL_AUC_MAX_CELLS, the equal tie-aware weighted form beyond)."""
        if self._eval is None:
            return float("nan")
        _, _, pos, neg, score = self._heldout_cells()
        return self._cells_auc(score, pos, neg)

    @staticmethod
    def _cells_auc(score, pos, neg) -> float:
        n_cells = pos.sum() + neg.sum()
        if n_cells <= FULL_AUC_MAX_CELLS:
            ip, ineg = pos.astype(np.int64), np.rint(neg).astype(np.int64)
            scores = np.concatenate([np.repeat(score, ip), np.repeat(score, ineg)])
            truth = np.concatenate([np.ones(ip.sum(), bool), np.zeros(ineg.sum(), bool)])
            return metrics_mod.auc(scores, truth)
        return float(kern.weighted_auc(score, pos, neg, np.empty(len(score), dtype=np.int64)))

    # ---- outputs --------------------------------------------------------------------------------
    def _contact_factors(self):
        """L, R (N, K_exp K_aff) with L R^T = the fitted expected counts per snapshot
        E_ij = mu_ij lambda_ij (mu_ij = mu_i . mu_j, lambda_ij = (u w)_i . v_j)."""
        n = self._U.shape[0]
        L = (self._MU[:, :, None] * self._UW[:, None, :]).reshape(n, -1)
        R = (self._MU[:, :, None] * self._V[:, None, :]).reshape(n, -1)
        return L, R

    def _communities(self):
        """(labels, memberships) of the current state, computed once per state.

        ``communities = "contacts"``: spectral clustering (explorer.spectral, K_aff clusters) of the
        fitted expected contacts E = mu_ij lambda_ij (symmetrised when directed), computed from its
        rank-K_exp K_aff factors in O(N (K_exp K_aff)^2); labels are matched to argmax u (Hungarian
        on the contingency table) so community k is, where it can be, affinity community k.
        Memberships: each node's share of its expected contacts (j != i) with each community.
        ``"affinity"``: argmax u and u rows normalised."""
        if self._labels_cache is not None:
            return self._labels_cache
        K = self.hp.K_aff
        arg_u = np.argmax(self._U, axis=1).astype(np.int64)
        if self.hp.communities == "affinity":
            out = (arg_u, self._normalise(self._U))
        else:
            L, R = self._contact_factors()
            emb = spectral.lowrank_spectral_embedding(L, R, K)
            lab = spectral.kmeans_labels(emb, K, seed=0, n_init=10)
            table = np.zeros((K, K))
            np.add.at(table, (lab, arg_u), 1.0)
            rows, cols = linear_sum_assignment(-table)
            perm = np.empty(K, dtype=np.int64)
            perm[rows] = cols
            lab = perm[lab]
            onehot = np.zeros((len(lab), K))
            onehot[np.arange(len(lab)), lab] = 1.0
            share = 0.5 * (L @ (R.T @ onehot) + R @ (L.T @ onehot))
            share[np.arange(len(lab)), lab] -= np.einsum("ij,ij->i", L, R)  # no self-pairs
            np.maximum(share, 0.0, out=share)
            out = (lab, self._normalise(share))
        self._labels_cache = out
        return out

    def labels(self) -> np.ndarray:
        """Hard communities, in the data's node order."""
        return to_data_order(self._communities()[0], self.node_order).copy()

    @staticmethod
    def _normalise(M):
        s = M.sum(axis=1, keepdims=True)
        out = np.full_like(M, 1.0 / M.shape[1])
        np.divide(M, s, out=out, where=s > 0)
        return out

    def memberships(self) -> np.ndarray:
        return to_data_order(self._communities()[1], self.node_order).copy()

    def snapshot(self) -> dict:
        snap = {
            "labels": self.labels(),
            "memberships": self.memberships(),
            "metrics_trace": {"heldout_auc": list(self._auc_trace), "loglik": list(self._ll_trace)},
            "info": {
                "log-likelihood": self._loglik,
                "mean exposure": float(self._mean_exposure()),
                "mu steps rejected": float(self._mu_rejected),
            },
        }
        if self._n_heldout_cells > 0:
            snap["info"]["held-out log-likelihood"] = self._heldout_ll
        if self._auc_trace:
            snap["info"]["held-out AUC"] = self._auc_trace[-1][1]
        return snap

    def _mean_exposure(self):
        m = self._MU.sum(axis=0)
        n = self._MU.shape[0]
        return (float(m @ m) - float((self._MU * self._MU).sum())) / max(n * (n - 1), 1)

    def parameters(self) -> dict[str, np.ndarray]:
        order, index = self.node_order, self._node_index
        S = self._S.copy() if index is None else self._S[np.ix_(index, index)]
        return {
            "u": to_data_order(self._U.copy(), order),
            "v": to_data_order(self._V.copy(), order),
            "w": self._W.copy(),
            "mu": to_data_order(self._MU.copy(), order),
            "pair_activity": S,
            "labels": self.labels(),
            "memberships": self.memberships(),
            "node_ids": np.asarray(self.data.node_ids).astype(str),
        }

    def aggregated_counts(self) -> sp.csr_matrix:
        """N x N aggregated observed counts (held-out cells left out; symmetric if undirected),
        in the data's node order."""
        A = self._aggregated()
        if self._node_index is None:
            return A
        return A[self._node_index][:, self._node_index].tocsr()

    def _aggregated(self) -> sp.csr_matrix:
        """:meth:`aggregated_counts` in the canonical node order."""
        n = self._U.shape[0]
        ptr, idx, y = self._out
        return sp.csr_matrix((y, idx, ptr), shape=(n, n))

    def pair_history_auc(self) -> float:
        """Baseline on the same held-out cells: a pair's counts per observed snapshot,
        (sum of its observed counts) / (its observed snapshots), as the score of its held-out
        cells."""
        if self._eval is None:
            return float("nan")
        a, b, pos, neg, _ = self._heldout_cells()
        score = np.empty(len(a))
        kern.pair_history_scores(*self._out, self._nobs, a, b, self._directed, score)
        return self._cells_auc(score, pos, neg)

    def spectral_nmi(self) -> float:
        """Baseline: NMI against the data's labels of spectral clustering (K_aff clusters) of the
        aggregated observed counts; nan without labels."""
        labels = getattr(self.data, "labels", None)
        if labels is None:
            return float("nan")
        known = np.array([lab is not None and str(lab) != "" for lab in labels])
        if known.sum() < 2:
            return float("nan")
        # clustered in the canonical order (its k-means seeding picks rows by index)
        pred = to_data_order(
            spectral.spectral_clustering(self._aggregated(), self.hp.K_aff, seed=0), self.node_order
        )
        return metrics_mod.nmi(np.asarray(labels)[known], pred[known])

    def metrics(self) -> dict[str, float]:
        out = {
            "loglik": float(self._loglik),
            "mean_exposure": self._mean_exposure(),
            "heldout_cells": float(self._n_heldout_cells),
        }
        if self._n_heldout_cells > 0:
            out["heldout_loglik"] = float(self._heldout_ll)
        auc = self.heldout_auc()
        if np.isfinite(auc):
            out["heldout_auc"] = auc
            out["pair_history_auc"] = self.pair_history_auc()
        nmi = self.spectral_nmi()
        if np.isfinite(nmi):
            out["spectral_nmi"] = nmi
        return out
