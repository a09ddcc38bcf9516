"""Tests of the a-MMSB (explorer/models/ammsb.py) against independent references: finite differences,
an ELBO written out term by term from note 001 (scipy special functions, explicit phi for every
pair), planted truth, and an oracle predictor that knows the planted blocks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import digamma, gammaln, logsumexp, multigammaln

from explorer import metrics
from explorer.data import load_network
from explorer.data.synthetic import planted_partition
from explorer.data.types import NetworkData
from explorer.models import _ammsb_kernels as kr
from explorer.models import get_model
from explorer.models.ammsb import AMMSB
from explorer.runner import fit


def small_graph(n, seed, p=0.35, directed=False):
    rng = np.random.default_rng(seed)
    if directed:
        u, v = np.nonzero(~np.eye(n, dtype=bool))
    else:
        u, v = np.triu_indices(n, 1)
    keep = rng.random(len(u)) < p
    e = np.stack([u[keep], v[keep]], 1).astype(np.int64)
    A = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    if not directed:
        A = (A + A.T).tocsr()
    return NetworkData(node_ids=np.arange(n).astype(str), adjacency=A, edges=e,
                       weights=np.ones(len(e)), directed=directed)


# ---- independent ELBO (note 001, section 3) ----------------------------------------------------
def training_pairs(model):
    N = model.N
    if model.directed:
        u, v = np.nonzero(~np.eye(N, dtype=bool))
    else:
        u, v = np.triu_indices(N, 1)
    A = np.zeros((N, N), dtype=bool)
    A[model.data.edges[:, 0], model.data.edges[:, 1]] = True
    if not model.directed:
        A |= A.T
    held = set(zip(model.heldout_u.tolist(), model.heldout_v.tolist()))
    if model.test_u is not None:
        held |= set(zip(model.test_u.tolist(), model.test_v.tolist()))
    keep = np.array([(a, b) not in held for a, b in zip(u.tolist(), v.tolist())])
    return u[keep], v[keep], A[u[keep], v[keep]].astype(int)


def phi_fixed_point(model, u, v, y, iters=400):
    ps = digamma(model.b.sum(1))
    cl = digamma(model.b[:, 0]) - ps - math.log(model.hp.epsilon)
    cn = digamma(model.b[:, 1]) - ps - math.log1p(-model.hp.epsilon)
    c = np.where(y[:, None] == 1, cl, cn)
    mu = model.mu
    sm = lambda x: np.exp(x - logsumexp(x, axis=1, keepdims=True))  # noqa: E731
    pf = None
    psd = sm(mu[v])
    for _ in range(iters):
        pf = sm(mu[u] + psd * c)
        psd = sm(mu[v] + pf * c)
    return pf, psd


def elbo_reference(model, u, v, y, pf, psd):
    """Every term of the ELBO with explicit phi (pf: phi_{a->b}, psd: phi_{a<-b}) for every pair."""
    K, N = model.K, model.N
    m, M, L, l = model.m, model.M, model.L, model.l
    m0, M0, l0 = np.zeros(K), np.eye(K), float(K)
    L0 = np.eye(K) / K
    mu, var = model.mu, model.v
    b0, b1 = model.b[:, 0], model.b[:, 1]
    eta0, eta1, eps = model.hp.eta0, model.hp.eta1, model.hp.epsilon
    Minv = np.linalg.inv(M)
    ld = lambda A: np.linalg.slogdet(A)[1]  # noqa: E731
    mvdig = sum(digamma((l + 1 - i) / 2) for i in range(1, K + 1))
    ElnLam = mvdig + K * math.log(2) + ld(L)
    EL = l * L
    out = 0.0
    # E log p(mu) + H(mu)
    out += (-K / 2 * math.log(2 * math.pi) + 0.5 * ld(M0)
            - 0.5 * (np.trace(M0 @ Minv) + (m - m0) @ M0 @ (m - m0)))
    out += K / 2 * math.log(2 * math.pi) + K / 2 - 0.5 * ld(M)
    # E log p(Lambda) (Wishart(l0, L0)) + H(Lambda)
    out += (-(l0 * K / 2) * math.log(2) - l0 / 2 * ld(L0) - multigammaln(l0 / 2, K)
            + (l0 - K - 1) / 2 * ElnLam - 0.5 * np.trace(np.linalg.inv(L0) @ EL))
    out += (-(l - K - 1) / 2 * ElnLam + l * K / 2 + l * K / 2 * math.log(2) + l / 2 * ld(L)
            + multigammaln(l / 2, K))
    # theta_a
    for a in range(N):
        d = mu[a] - m
        out += (-K / 2 * math.log(2 * math.pi) + 0.5 * ElnLam
                - 0.5 * np.trace(EL @ (np.diag(var[a]) + np.outer(d, d) + Minv)))
        out += K / 2 * math.log(2 * math.pi) + K / 2 + 0.5 * np.log(var[a]).sum()
    # z: E log p(z | theta) with the bound, and entropies
    lse = logsumexp(mu + 0.5 * var, axis=1)
    out += np.sum(pf * mu[u]) - lse[u].sum() + np.sum(psd * mu[v]) - lse[v].sum()
    out -= np.sum(pf * np.log(pf)) + np.sum(psd * np.log(psd))
    # beta
    ps = digamma(b0 + b1)
    Elb, El1b = digamma(b0) - ps, digamma(b1) - ps
    out += np.sum(gammaln(eta0 + eta1) - gammaln(eta0) - gammaln(eta1) + (eta0 - 1) * Elb
                  + (eta1 - 1) * El1b)
    out += np.sum(gammaln(b0) + gammaln(b1) - gammaln(b0 + b1) - (b0 - 1) * digamma(b0)
                  - (b1 - 1) * digamma(b1) + (b0 + b1 - 2) * ps)
    # y
    q = pf * psd
    out += np.sum(y[:, None] * q * (Elb - math.log(eps))) + y.sum() * math.log(eps)
    out += (np.sum((1 - y)[:, None] * q * (El1b - math.log1p(-eps)))
            + (1 - y).sum() * math.log1p(-eps))
    return float(out)


def full_batch_model(data, seed, K=3, **kw):
    hp = dict(K=K, init="random", nodes_per_batch=data.n_nodes, tau0=0.0, kappa=0.0,
              node_kappa=0.0, collapsed=False, heldout_fraction=0.0)
    hp.update(kw)
    model = AMMSB(**hp)
    model.initialize(data, seed)
    model._phi_iters, model._phi_tol = 400, 1e-13
    return model


# ---- gradients and Hessians ---------------------------------------------------------------------
def test_node_gradient_and_hessian_match_finite_differences():
    rng = np.random.default_rng(3)
    K, n = 4, 37.0
    A = rng.normal(size=(K, K))
    lL = A @ A.T + K * np.eye(K)
    m, S = rng.normal(size=K), rng.random(K) * 10
    mu, v = rng.normal(size=K), rng.random(K) * 0.5 + 0.1
    work, g, sv, Hn, D = (np.zeros(K) for _ in range(5))
    Hn = np.zeros((K, K))
    f = lambda x, w: kr.node_objective(x, w, S, n, lL, m, work)  # noqa: E731
    kr.mu_grad_hess(mu, v, S, n, lL, m, g, Hn, sv)
    h = 1e-5
    I = np.eye(K)
    fd_g = np.array([(f(mu + h * I[k], v) - f(mu - h * I[k], v)) / (2 * h) for k in range(K)])
    fd_H = np.array([[(f(mu + h * I[i] + h * I[j], v) - f(mu + h * I[i] - h * I[j], v)
                       - f(mu - h * I[i] + h * I[j], v) + f(mu - h * I[i] - h * I[j], v))
                      / (4 * h * h) for j in range(K)] for i in range(K)])
    # central differences: truncation O(h^2) ~ 1e-10, rounding ~ |f| 1e-16 / h^2 ~ 1e-4 for H
    np.testing.assert_allclose(g, fd_g, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(-Hn, fd_H, rtol=1e-4, atol=1e-3)
    # in v = diag(Lambda^-1)
    gv = np.zeros(K)
    kr.v_grad_hess(mu, v, n, lL, gv, D, sv)
    Hv = -(np.diag(D) - 0.25 * n * np.outer(sv, sv))
    fd_gv = np.array([(f(mu, v + h * I[k]) - f(mu, v - h * I[k])) / (2 * h) for k in range(K)])
    fd_Hv = np.array([[(f(mu, v + h * I[i] + h * I[j]) - f(mu, v + h * I[i] - h * I[j])
                        - f(mu, v - h * I[i] + h * I[j]) + f(mu, v - h * I[i] - h * I[j]))
                       / (4 * h * h) for j in range(K)] for i in range(K)])
    np.testing.assert_allclose(gv, fd_gv, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(Hv, fd_Hv, rtol=1e-4, atol=1e-3)


def test_collapsed_objective_gradient_matches_finite_differences():
    rng = np.random.default_rng(5)
    K, P = 5, 12
    A = rng.normal(size=(K, K))
    lL = A @ A.T + np.eye(K)
    m, mu, v = rng.normal(size=K), rng.normal(size=K), rng.random(K) * 0.3 + 0.05
    Pm = rng.dirichlet(np.ones(K), size=P)
    ctype = (rng.random(P) < 0.5).astype(np.int64)
    W = rng.random(P) * 3
    cl, cn = rng.normal(size=K) * 3, -rng.random(K) * 0.2
    g, work, ex = np.zeros(K), np.zeros(K), np.zeros(K)
    n = 40.0
    E, Eoff = Pm.copy(), np.zeros(P)
    kr.slot_exps(E, ctype, cl, cn, P, Eoff)
    f0 = kr.collapsed_objective(mu, v, n, lL, m, E, Eoff, W, P, g, work, ex)
    # the objective written out directly (no precomputed factors)
    c = np.where(ctype[:, None] == 0, cl, cn)
    ref = (-0.5 * (mu - m) @ lL @ (mu - m) + W @ logsumexp(mu + c * Pm, axis=1)
           - n * logsumexp(mu + 0.5 * v))
    assert f0 == pytest.approx(ref, rel=1e-12)
    g2 = np.zeros(K)
    f = lambda x: kr.collapsed_objective(x, v, n, lL, m, E, Eoff, W, P, g2, work, ex)  # noqa
    h = 1e-6
    fd = np.array([(f(mu + h * e) - f(mu - h * e)) / (2 * h) for e in np.eye(K)])
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6)  # central differences, O(h^2)


@pytest.mark.parametrize("seed", range(3))
def test_lowrank_newton_direction_equals_the_dense_solve(seed):
    rng = np.random.default_rng(seed)
    K, w = 12, 23.0
    A = rng.normal(size=(K, K))
    lL = A @ A.T / K + 0.5 * np.eye(K)
    G = np.linalg.inv(lL)
    s = rng.dirichlet(np.full(K, 0.3))
    g = rng.normal(size=K)
    d = np.zeros(K)
    J = np.zeros(K, dtype=np.int64)
    cap, capC = np.zeros((K, K)), np.zeros((K, K))
    bufs = [np.zeros(K) for _ in range(5)]
    # threshold 0: every entry kept, the full Newton matrix lL + w (diag s - s s^T)
    r = kr.newton_direction_lowrank(G, lL, s, w, g, 0.0, K, d, J, cap, capC, *bufs)
    assert r == K
    B = lL + w * (np.diag(s) - np.outer(s, s))
    # Woodbury + Sherman-Morrison vs LAPACK on a well-conditioned 12 x 12 system: rounding only
    np.testing.assert_allclose(d, np.linalg.solve(B, g), rtol=1e-10, atol=1e-10)
    # threshold 0.05: the matrix with the small entries of s left out, still solved exactly
    r = kr.newton_direction_lowrank(G, lL, s, w, g, 0.05, K, d, J, cap, capC, *bufs)
    keep = w * s > 0.05 * np.diag(lL)
    assert r == keep.sum() and 0 < r < K
    sJ = np.where(keep, s, 0.0)
    BJ = lL + w * (np.diag(sJ) - np.outer(sJ, sJ))
    assert np.linalg.eigvalsh(BJ).min() > 0            # positive definite (sum s_J <= 1)
    np.testing.assert_allclose(d, np.linalg.solve(BJ, g), rtol=1e-10, atol=1e-10)
    # too many entries for the cap: -1, the caller factors densely
    assert kr.newton_direction_lowrank(G, lL, s, w, g, 0.0, 2, d, J, cap, capC, *bufs) == -1


# ---- monotone ELBO ------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("directed", [False, True])
def test_every_update_never_lowers_the_exact_elbo(seed, directed):
    data = small_graph(9, seed, directed=directed)
    model = full_batch_model(data, seed)
    u, v, y = training_pairs(model)
    # the model's own ELBO is the exact one (phi at the pairs' fixed points)
    pf, psd = phi_fixed_point(model, u, v, y)
    ref = elbo_reference(model, u, v, y, pf, psd)
    assert model.elbo() == pytest.approx(ref, rel=1e-9, abs=1e-7)
    for _ in range(3):
        pf, psd = phi_fixed_point(model, u, v, y)
        e0 = elbo_reference(model, u, v, y, pf, psd)
        model._next_batch()
        model._phase_phi()
        e = [e0]
        for phase in (model._phase_nodes, model._phase_beta, model._phase_globals):
            phase()
            e.append(elbo_reference(model, u, v, y, pf, psd))
        model.t += 1
        # each update maximises (or with halving, raises) the ELBO in its parameters with the
        # other ones fixed: no decrease beyond rounding of a sum of ~1e3 terms
        tol = 1e-9 * abs(e0)
        assert all(b >= a - tol for a, b in zip(e, e[1:])), e


def test_phi_fixed_point_iterations_never_lower_the_pair_elbo():
    rng = np.random.default_rng(0)
    K = 6
    for _ in range(20):
        mf, ms = rng.normal(size=K) * 2, rng.normal(size=K) * 2
        pis = np.exp(ms - logsumexp(ms))
        c = rng.normal(size=K) * 5
        vals = []
        for it in range(1, 8):
            pf, psd = np.zeros(K), np.zeros(K)
            kr.pair_phi(mf, ms, pis, c, pf, psd, it, 0.0)
            vals.append(pf @ mf + psd @ ms + np.sum(pf * psd * c)
                        - np.sum(pf * np.log(pf)) - np.sum(psd * np.log(psd)))
        assert np.all(np.diff(vals) >= -1e-12), vals   # coordinate ascent, rounding only


def test_full_batch_global_update_maximises_the_elbo():
    data = small_graph(10, 11)
    model = full_batch_model(data, 2)
    u, v, y = training_pairs(model)
    pf, psd = phi_fixed_point(model, u, v, y)
    model._next_batch()
    model._phase_phi()
    model._phase_beta()
    for _ in range(200):          # m, M, L coupled: iterate the coordinate updates to the optimum
        model._phase_globals()
    best = elbo_reference(model, u, v, y, pf, psd)
    rng = np.random.default_rng(0)
    K = model.K
    for name in ("m", "M", "L", "l", "b"):
        for _ in range(4):
            saved = np.copy(getattr(model, name))
            delta = 1e-3 * rng.normal(size=np.shape(saved))
            if np.ndim(saved) == 2 and name != "b":
                delta = delta + delta.T
            for sign in (1, -1):
                setattr(model, name, saved + sign * delta * (np.abs(saved) + 1e-3)
                        if name == "b" else saved + sign * delta)
                if name == "l":
                    model.lL = model.l * model.L
                e = elbo_reference(model, u, v, y, pf, psd)
                # a maximum: every small perturbation lowers the ELBO (second order, > rounding)
                assert e < best + 1e-9 * abs(best), (name, e - best)
            setattr(model, name, saved)
            model.lL = model.l * model.L
    assert K == model.K


# ---- recovery ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def planted():
    return planted_partition(1000, 5, p_in=0.1, p_out=0.005, seed=0)


def test_findk_recovers_planted_communities_before_any_step(planted):
    model = AMMSB()        # K = 0: findk chooses
    model.initialize(planted, 0)
    assert model.K == 5
    assert metrics.nmi(planted.labels, model.labels()) >= 0.95   # easy planted partition


def test_planted_partition_recovered_with_good_link_prediction(planted):
    res = fit(AMMSB, planted, seed=1, K=5)
    model = res.model
    assert res.metrics["nmi"] >= 0.9
    # The issue asks for held-out AUC >= 0.95, but the planted truth itself only reaches ~0.83
    # on such pairs (same-block pairs are 83% of links and 18% of non-links). We require the fit
    # to do at least as well as the oracle that knows the blocks, minus 0.02.
    z = np.asarray(planted.labels)
    oracle = metrics.auc(np.where(z[model.heldout_u] == z[model.heldout_v], 0.1, 0.005),
                         model.heldout_y)
    assert res.metrics["heldout_auc"] >= oracle - 0.02
    assert res.converged
    snap = model.snapshot()
    assert set(snap["metrics_trace"]) == {"elbo", "heldout_auc", "heldout_perplexity"}
    params = model.parameters()
    np.testing.assert_allclose(params["pi"].sum(1), 1.0)
    assert params["node_ids"].dtype.kind == "U"
    over = model.overlapping_communities()
    assert all(model.labels()[a] in over[a] for a in range(model.N))


def test_karate_and_football(sample_dir):
    karate = load_network(sample_dir / "karate" / "edges.csv",
                          labels=sample_dir / "karate" / "nodes.csv:club")
    # default settings (n_init 1, seed 0): on small graphs findk is drawn several times and the
    # seeding with the largest modularity kept. Measured: NMI 0.837 for seeds 0-4 (svinet:
    # 0.218-0.837 over seeds); 0.6 leaves room for the held-out draw and platform rounding while
    # failing the one-community collapse (NMI 0) and the 28/6 seeding (0.24) of the old init.
    res = fit(AMMSB, karate, seed=0, K=2)
    # small graphs must stop (held-out set is never empty)
    assert res.converged and len(res.model.heldout_y) >= 10
    assert res.metrics["nmi"] >= 0.6
    assert min(np.bincount(res.model.labels(), minlength=2)) >= 10     # both factions found
    football = load_network(sample_dir / "football" / "edges.csv",
                            labels=sample_dir / "football" / "nodes.csv:conference")
    res = fit(AMMSB, football, seed=0, K=12)
    assert res.metrics["nmi"] >= 0.8
    assert res.metrics["heldout_auc"] >= 0.7


def test_registered_and_test_pairs_are_kept_out(planted):
    assert get_model("ammsb") is AMMSB
    rng = np.random.default_rng(0)
    e = planted.edges[rng.choice(len(planted.edges), 50, replace=False)]
    non = np.stack([np.arange(50), np.arange(50) + 500, np.zeros(50, int)], 1)
    tp = np.concatenate([np.column_stack([e, np.ones(50, int)]), non])
    data = NetworkData(node_ids=planted.node_ids, adjacency=planted.adjacency,
                       edges=planted.edges, weights=planted.weights, labels=planted.labels,
                       test_pairs=tp)
    model = AMMSB(K=5)
    model.initialize(data, 0)
    train = set(zip(model.train_u.tolist(), model.train_v.tolist()))
    assert not any((min(a, b), max(a, b)) in train for a, b in e.tolist())
    for _ in range(3):
        model.step()
    mets = model.metrics()
    assert mets["test_auc"] > 0.7 and mets["test_perplexity"] > 1.0


def test_automatic_test_set_is_disjoint_and_out_of_training(planted):
    model = AMMSB(K=5)
    model.initialize(planted, 0)
    assert model.test_source == "automatic"
    key = lambda u, v: set(zip(np.minimum(u, v).tolist(), np.maximum(u, v).tolist()))  # noqa
    test, held = key(model.test_u, model.test_v), key(model.heldout_u, model.heldout_v)
    train = key(model.train_u, model.train_v)
    links = key(planted.edges[:, 0], planted.edges[:, 1])
    assert len(test) == len(model.test_y) and not test & held and not test & train
    # built like the held-out set: as many pairs, half links and half non-links, labels true
    assert len(model.test_y) == len(model.heldout_y) and model.test_y.sum() * 2 == len(test)
    truth = np.array([(min(a, b), max(a, b)) in links
                      for a, b in zip(model.test_u.tolist(), model.test_v.tolist())])
    np.testing.assert_array_equal(truth, model.test_y == 1)
    # test non-links never sampled as training non-links (the forbidden-partner lists hold them)
    fb = set()
    for a in range(model.N):
        fb |= {(min(a, b), max(a, b)) for b in model._fb0[1][model._fb0[0][a]:model._fb0[0][a + 1]]}
    assert test <= fb
    for _ in range(3):
        model.step()
    mets = model.metrics()
    # an independent computation of the test AUC from the model's own predictions
    p = np.zeros(len(model.test_u))
    kr.predict_pairs(model.test_u, model.test_v, model.pi, model.b[:, 0] / model.b.sum(1),
                     model.hp.epsilon, p)
    assert mets["test_auc"] == pytest.approx(metrics.auc(p, model.test_y), abs=1e-12)
    assert mets["test_auc"] > 0.7 and mets["test_perplexity"] > 1.0


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("directed", [False, True])
def test_collapsed_visit_never_lowers_the_exact_elbo(seed, directed):
    # the default node update (collapsed=True: _phase_visit -> kr.batch_visit), all pairs in one
    # batch (N nodes, every non-link sampled: N - 1 <= 2 * 16), step size 1 (node_kappa = 0).
    # The collapsed objective is the node's ELBO maximised over its own indicators, so with phi
    # re-optimised to the pairs' fixed point after the visit the exact ELBO must not fall; the
    # global update after it is an exact coordinate maximum. The beta update is NOT monotone in
    # collapsed mode as run: its statistic is gathered during the visits (each pair's indicators
    # when its node was visited; partners visited later move afterwards), so it maximises the ELBO
    # for stale indicators (measured: the beta step lowered the exact ELBO by 0.02-0.19 nats in 4 of
    # these 8 cases, after the visit had raised it by 5-39). With the statistic recomputed at the
    # final memberships (_phase_phi) the beta update is monotone, which is what we check.
    data = small_graph(9, seed, directed=directed)
    model = full_batch_model(data, seed, collapsed=True)
    u, v, y = training_pairs(model)
    for _ in range(4):
        pf, psd = phi_fixed_point(model, u, v, y)
        e = [elbo_reference(model, u, v, y, pf, psd)]
        model._next_batch()
        model._phase_visit()
        pf, psd = phi_fixed_point(model, u, v, y)
        e.append(elbo_reference(model, u, v, y, pf, psd))
        model._phase_phi()            # beta statistic at the current fixed point (all pairs)
        for phase in (model._phase_beta, model._phase_globals):
            phase()
            e.append(elbo_reference(model, u, v, y, pf, psd))
        model.t += 1
        tol = 1e-9 * abs(e[0])          # rounding of a sum of ~1e3 terms
        assert all(b >= a - tol for a, b in zip(e, e[1:])), np.diff(e)
