"""Tests of the a-MMSB (explorer/models/ammsb.py) against independent references: finite differences,
an ELBO written out term by term from note 001 (scipy special functions, explicit phi for every
pair), planted truth, and an oracle predictor that knows the planted blocks."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import betaln, digamma, logsumexp, multigammaln

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
    return NetworkData(
        node_ids=np.arange(n).astype(str),
        adjacency=A,
        edges=e,
        weights=np.ones(len(e)),
        directed=directed,
    )


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
    cl = digamma(model.b[:, 0]) - ps - math.log(model.epsilon)
    cn = digamma(model.b[:, 1]) - ps - math.log1p(-model.epsilon)
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
    # hyperprior: E[Lambda] = l0 L0 = I with weight l0 = max(K, prior_weight N)
    m0, M0, l0 = np.zeros(K), np.eye(K), max(float(K), model.hp.prior_weight * N)
    L0 = np.eye(K) / l0
    mu, var = model.mu, model.v
    b0, b1 = model.b[:, 0], model.b[:, 1]
    eta0, eta1, eps = model.hp.eta0, model.hp.eta1, model.epsilon
    Minv = np.linalg.inv(M)
    ld = lambda A: np.linalg.slogdet(A)[1]  # noqa: E731
    mvdig = sum(digamma((l + 1 - i) / 2) for i in range(1, K + 1))
    ElnLam = mvdig + K * math.log(2) + ld(L)
    EL = l * L
    out = 0.0
    # E log p(mu) + H(mu)
    out += (
        -K / 2 * math.log(2 * math.pi)
        + 0.5 * ld(M0)
        - 0.5 * (np.trace(M0 @ Minv) + (m - m0) @ M0 @ (m - m0))
    )
    out += K / 2 * math.log(2 * math.pi) + K / 2 - 0.5 * ld(M)
    # E log p(Lambda) (Wishart(l0, L0)) + H(Lambda)
    out += (
        -(l0 * K / 2) * math.log(2)
        - l0 / 2 * ld(L0)
        - multigammaln(l0 / 2, K)
        + (l0 - K - 1) / 2 * ElnLam
        - 0.5 * np.trace(np.linalg.inv(L0) @ EL)
    )
    out += (
        -(l - K - 1) / 2 * ElnLam
        + l * K / 2
        + l * K / 2 * math.log(2)
        + l / 2 * ld(L)
        + multigammaln(l / 2, K)
    )
    # theta_a
    for a in range(N):
        d = mu[a] - m
        out += (
            -K / 2 * math.log(2 * math.pi)
            + 0.5 * ElnLam
            - 0.5 * np.trace(EL @ (np.diag(var[a]) + np.outer(d, d) + Minv))
        )
        out += K / 2 * math.log(2 * math.pi) + K / 2 + 0.5 * np.log(var[a]).sum()
    # z: E log p(z | theta) with the bound, and entropies
    lse = logsumexp(mu + 0.5 * var, axis=1)
    out += np.sum(pf * mu[u]) - lse[u].sum() + np.sum(psd * mu[v]) - lse[v].sum()
    out -= np.sum(pf * np.log(pf)) + np.sum(psd * np.log(psd))
    # beta: E log p(beta) + H(beta) = -KL(Beta(b0, b1) || Beta(eta0, eta1)), the closed form of
    # the divergence between two Beta distributions
    ps = digamma(b0 + b1)
    Elb, El1b = digamma(b0) - ps, digamma(b1) - ps
    out -= np.sum(
        betaln(eta0, eta1)
        - betaln(b0, b1)
        + (b0 - eta0) * digamma(b0)
        + (b1 - eta1) * digamma(b1)
        + (eta0 - b0 + eta1 - b1) * ps
    )
    # y
    q = pf * psd
    out += np.sum(y[:, None] * q * (Elb - math.log(eps))) + y.sum() * math.log(eps)
    out += np.sum((1 - y)[:, None] * q * (El1b - math.log1p(-eps))) + (1 - y).sum() * math.log1p(
        -eps
    )
    return float(out)


def with_test_pairs(net, tp):
    """The network ``net`` with the test pairs ``tp`` (u, v, y), as a new NetworkData."""
    return dataclasses.replace(net, test_pairs=tp)


def full_batch_model(data, seed, K=3, **kw):
    hp = dict(
        K=K,
        init="random",
        nodes_per_batch=data.n_nodes,
        tau0=0.0,
        kappa=0.0,
        node_kappa=0.0,
        collapsed=False,
        heldout_fraction=0.0,
    )
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
    fd_H = np.array(
        [
            [
                (
                    f(mu + h * I[i] + h * I[j], v)
                    - f(mu + h * I[i] - h * I[j], v)
                    - f(mu - h * I[i] + h * I[j], v)
                    + f(mu - h * I[i] - h * I[j], v)
                )
                / (4 * h * h)
                for j in range(K)
            ]
            for i in range(K)
        ]
    )
    # central differences: truncation O(h^2) ~ 1e-10, rounding ~ |f| 1e-16 / h^2 ~ 1e-4 for H
    np.testing.assert_allclose(g, fd_g, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(-Hn, fd_H, rtol=1e-4, atol=1e-3)
    # in v = diag(Lambda^-1)
    gv = np.zeros(K)
    kr.v_grad_hess(mu, v, n, lL, gv, D, sv)
    Hv = -(np.diag(D) - 0.25 * n * np.outer(sv, sv))
    fd_gv = np.array([(f(mu, v + h * I[k]) - f(mu, v - h * I[k])) / (2 * h) for k in range(K)])
    fd_Hv = np.array(
        [
            [
                (
                    f(mu, v + h * I[i] + h * I[j])
                    - f(mu, v + h * I[i] - h * I[j])
                    - f(mu, v - h * I[i] + h * I[j])
                    + f(mu, v - h * I[i] - h * I[j])
                )
                / (4 * h * h)
                for j in range(K)
            ]
            for i in range(K)
        ]
    )
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
    # the factors exp(c_pk P_pk - Eoff_p), Eoff_p = max_k c_pk P_pk (batch_visit derives them)
    cP = np.where(ctype[:, None] == 0, cl, cn) * Pm
    Eoff = cP.max(axis=1)
    E = np.exp(cP - Eoff[:, None])
    f0 = kr.collapsed_objective(mu, v, n, lL, m, E, Eoff, W, P, g, work, ex)
    # the objective written out directly (no precomputed factors)
    c = np.where(ctype[:, None] == 0, cl, cn)
    ref = (
        -0.5 * (mu - m) @ lL @ (mu - m)
        + W @ logsumexp(mu + c * Pm, axis=1)
        - n * logsumexp(mu + 0.5 * v)
    )
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
    lr = kr.new_scratch(K, 1).lowrank
    # threshold 0: every entry kept, the full Newton matrix lL + w (diag s - s s^T)
    r = kr.newton_direction_lowrank(G, lL, s, w, g, 0.0, K, d, lr)
    assert r == K
    B = lL + w * (np.diag(s) - np.outer(s, s))
    # Woodbury + Sherman-Morrison vs LAPACK on a well-conditioned 12 x 12 system: rounding only
    np.testing.assert_allclose(d, np.linalg.solve(B, g), rtol=1e-10, atol=1e-10)
    # threshold 0.05: the matrix with the small entries of s left out, still solved exactly
    r = kr.newton_direction_lowrank(G, lL, s, w, g, 0.05, K, d, lr)
    keep = w * s > 0.05 * np.diag(lL)
    assert r == keep.sum() and 0 < r < K
    sJ = np.where(keep, s, 0.0)
    BJ = lL + w * (np.diag(sJ) - np.outer(sJ, sJ))
    assert np.linalg.eigvalsh(BJ).min() > 0  # positive definite (sum s_J <= 1)
    np.testing.assert_allclose(d, np.linalg.solve(BJ, g), rtol=1e-10, atol=1e-10)
    # too many entries for the cap: -1, the caller factors densely
    assert kr.newton_direction_lowrank(G, lL, s, w, g, 0.0, 2, d, lr) == -1


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
            vals.append(
                pf @ mf
                + psd @ ms
                + np.sum(pf * psd * c)
                - np.sum(pf * np.log(pf))
                - np.sum(psd * np.log(psd))
            )
        assert np.all(np.diff(vals) >= -1e-12), vals  # coordinate ascent, rounding only


def test_full_batch_global_update_maximises_the_elbo():
    data = small_graph(10, 11)
    model = full_batch_model(data, 2)
    u, v, y = training_pairs(model)
    pf, psd = phi_fixed_point(model, u, v, y)
    model._next_batch()
    model._phase_phi()
    model._phase_beta()
    for _ in range(200):  # m, M, L coupled: iterate the coordinate updates to the optimum
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
                setattr(
                    model,
                    name,
                    saved + sign * delta * (np.abs(saved) + 1e-3)
                    if name == "b"
                    else saved + sign * delta,
                )
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
    model = AMMSB(init="findk")  # K = 0: findk chooses
    model.initialize(planted, 0)
    assert model.K == 5
    assert metrics.nmi(planted.labels, model.labels()) >= 0.95  # easy planted partition


def test_planted_partition_recovered_with_good_link_prediction(planted):
    res = fit(AMMSB, planted, seed=1, K=5)
    model = res.model
    assert res.metrics["nmi"] >= 0.9
    # The issue asks for held-out AUC >= 0.95, but the planted truth itself only reaches ~0.83
    # on such pairs (same-block pairs are 83% of links and 18% of non-links). We require the fit
    # to do at least as well as the oracle that knows the blocks, minus 0.02.
    z = np.asarray(planted.labels)
    oracle = metrics.auc(
        np.where(z[model.heldout_u] == z[model.heldout_v], 0.1, 0.005), model.heldout_y
    )
    assert res.metrics["heldout_auc"] >= oracle - 0.02
    assert res.converged or res.stop_reason.startswith("stopped: held-out log-likelihood fell")
    snap = model.snapshot()
    assert set(snap["metrics_trace"]) == {"elbo", "heldout_auc", "heldout_perplexity"}
    params = model.parameters()
    np.testing.assert_allclose(params["pi"].sum(1), 1.0)
    assert params["node_ids"].dtype.kind == "U"
    over = model.overlapping_communities()
    assert all(model.labels()[a] in over[a] for a in range(model.N))


def test_karate_and_football(sample_dir):
    karate = load_network(
        sample_dir / "karate" / "edges.csv", labels=sample_dir / "karate" / "nodes.csv:club"
    )
    # defaults (init auto, n_init 1). Measured on seeds 0-4: NMI 0.837 on every seed (one node,
    # Zachary's 9, on the other side), 0.732 on seeds 0-2 and 4 before the final phase on all
    # links (the 10 + 10 held-out set takes 13 % of karate's 78 links); seeds 5-9: 0.837 on
    # 6, 7, 0.732 on 5, 8, 9 (Zachary's node 3 too: its two sides' final ELBOs are -339.9 and -340.0,
    # a tie for the model); svinet 0.218-0.837 over seeds.
    for seed in range(5):
        res = fit(AMMSB, karate, seed=seed, K=2)
        # small graphs must stop (held-out set is never empty), and keep the promise of 10 + 10
        assert res.stop_reason.startswith(("converged", "stopped"))
        assert res.model.heldout_y.sum() == 10 and len(res.model.heldout_y) == 20
        assert res.metrics["nmi"] >= 0.83, (seed, res.metrics["nmi"])
        assert min(np.bincount(res.model.labels(), minlength=2)) >= 10  # both factions found
    football = load_network(
        sample_dir / "football" / "edges.csv",
        labels=sample_dir / "football" / "nodes.csv:conference",
    )
    # measured on seeds 0-4: 0.909, 0.885, 0.909, 0.857, 0.927 (613 links: no final phase)
    for seed in (0, 3):
        res = fit(AMMSB, football, seed=seed, K=12)
        assert res.metrics["nmi"] >= 0.85, (seed, res.metrics["nmi"])
        assert res.metrics["heldout_auc"] >= 0.7
        assert "final_phase_minibatches" not in res.metrics


def test_small_network_final_phase_on_all_links_keeps_the_test_set_out(sample_dir):
    karate = load_network(
        sample_dir / "karate" / "edges.csv", labels=sample_dir / "karate" / "nodes.csv:club"
    )
    rng = np.random.default_rng(3)
    e = karate.edges[rng.choice(len(karate.edges), 5, replace=False)]
    deg = np.bincount(karate.edges.ravel(), minlength=34)
    e = e[(deg[e[:, 0]] > 2) & (deg[e[:, 1]] > 2)]
    A = karate.adjacency.toarray()
    nu, nv = np.nonzero(np.triu(A == 0, 1))
    pick = rng.choice(len(nu), 5, replace=False)
    tp = np.concatenate(
        [
            np.column_stack([e, np.ones(len(e), int)]),
            np.column_stack([nu[pick], nv[pick], np.zeros(5, int)]),
        ]
    )
    data = with_test_pairs(karate, tp)
    res = fit(AMMSB, data, seed=0, K=2)
    m = res.model
    assert any(n.startswith("final phase: the network has fewer than 200 links") for n in m.notes)
    assert res.metrics["final_phase_minibatches"] >= m.check_every
    # the held-out links are now training links; the test pairs are not, and are still excluded
    # (the model's pair arrays are in its canonical node order: the data's indices mapped)
    assert m.node_order is not None  # karate's file does not list its nodes by id
    canon = np.argsort(m.node_order)
    e, tp = canon[e], np.column_stack([canon[tp[:, :2]], tp[:, 2]])
    train = set(zip(m.train_u.tolist(), m.train_v.tolist()))
    ho = m.heldout_y == 1
    assert all((a, b) in train for a, b in zip(m.heldout_u[ho].tolist(), m.heldout_v[ho].tolist()))
    assert not any((min(a, b), max(a, b)) in train for a, b in e.tolist())
    assert len(train) == len(karate.edges) - len(e)
    g = m.training.graph
    nb = {a: set(g.fb_idx0[g.fb_ptr0[a] : g.fb_ptr0[a + 1]].tolist()) for a in range(m.N)}
    assert all(int(b) in nb[int(a)] for a, b, _ in tp.tolist())
    assert not any(int(b) in nb[int(a)] for a, b in zip(m.heldout_u[~ho], m.heldout_v[~ho]))
    # the held-out figures are the best state's (before the phase), as the trace says
    assert res.metrics["heldout_loglik"] == res.trace[res.best_iteration - 1]
    assert res.final_objective == res.trace[res.best_iteration - 1]
    # the phase runs once: a second finish (or a degeneracy check) does not train again
    t = m.t
    m.finish()
    m.degeneracy()
    assert m.t == t
    # the test metrics are the final state's, on pairs never trained on
    assert 0.0 <= res.metrics["test_auc"] <= 1.0


def test_registered_and_test_pairs_are_kept_out(planted):
    assert get_model("ammsb") is AMMSB
    rng = np.random.default_rng(0)
    e = planted.edges[rng.choice(len(planted.edges), 50, replace=False)]
    non = np.stack([np.arange(50), np.arange(50) + 500, np.zeros(50, int)], 1)
    tp = np.concatenate([np.column_stack([e, np.ones(50, int)]), non])
    data = with_test_pairs(planted, tp)
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
    truth = np.array(
        [
            (min(a, b), max(a, b)) in links
            for a, b in zip(model.test_u.tolist(), model.test_v.tolist())
        ]
    )
    np.testing.assert_array_equal(truth, model.test_y == 1)
    # test non-links never sampled as training non-links (the forbidden-partner lists hold them)
    fb = set()
    g = model.training.graph
    for a in range(model.N):
        fb |= {(min(a, b), max(a, b)) for b in g.fb_idx0[g.fb_ptr0[a] : g.fb_ptr0[a + 1]]}
    assert test <= fb
    for _ in range(3):
        model.step()
    mets = model.metrics()
    # an independent computation of the test AUC from the model's own predictions
    p = np.zeros(len(model.test_u))
    kr.predict_pairs(
        model.test_u, model.test_v, model.pi, model.b[:, 0] / model.b.sum(1), model.epsilon, p
    )
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
    # The vague hyperprior (prior_weight 0): with the default weight the memberships of this
    # 9-node graph are flat enough that a few link pairs have two fixed points (measured: 1-6
    # pairs, 0.1-1.5 nats apart, depending on which end starts), so "the ELBO at the pairs'
    # fixed point" would not be a function of the node parameters alone.
    data = small_graph(9, seed, directed=directed)
    model = full_batch_model(data, seed, collapsed=True, prior_weight=0.0)
    u, v, y = training_pairs(model)
    for _ in range(4):
        pf, psd = phi_fixed_point(model, u, v, y)
        e = [elbo_reference(model, u, v, y, pf, psd)]
        model._next_batch()
        model._phase_visit()
        pf, psd = phi_fixed_point(model, u, v, y)
        e.append(elbo_reference(model, u, v, y, pf, psd))
        model._phase_phi()  # beta statistic at the current fixed point (all pairs)
        for phase in (model._phase_beta, model._phase_globals):
            phase()
            e.append(elbo_reference(model, u, v, y, pf, psd))
        model.t += 1
        tol = 1e-9 * abs(e[0])  # rounding of a sum of ~1e3 terms
        assert all(b >= a - tol for a, b in zip(e, e[1:])), np.diff(e)


# ---- issue 10: starts, best state, collapse, held-out sets; issue 12.4 / 12.6 -------------------
def network_from_graph(G, labels=None, weights=None):
    """NetworkData from a networkx graph with nodes 0..n-1 (undirected)."""
    n = G.number_of_nodes()
    e = np.array(sorted((min(u, v), max(u, v)) for u, v in G.edges() if u != v), dtype=np.int64)
    w = np.ones(len(e)) if weights is None else np.asarray(weights, float)
    A = sp.coo_matrix((w, (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    return NetworkData(
        node_ids=np.arange(n).astype(str),
        adjacency=(A + A.T).tocsr(),
        edges=e,
        weights=w,
        directed=False,
        labels=None if labels is None else np.asarray(labels).astype(str),
    )


def lfr(n, degree, mix, seed, min_comm=20, max_comm=100, max_degree=None):
    """networkx's LFR benchmark (tau1 2.5, tau2 1.5) with its planted communities as labels."""
    import networkx as nx

    G = nx.LFR_benchmark_graph(
        n,
        2.5,
        1.5,
        mix,
        average_degree=degree,
        max_degree=max_degree or 2 * degree + 10,
        min_community=min_comm,
        max_community=max_comm,
        seed=seed,
        max_iters=500,
    )
    comms = sorted({frozenset(G.nodes[v]["community"]) for v in G}, key=min)
    truth = np.zeros(n, dtype=np.int64)
    for c, members in enumerate(comms):
        truth[list(members)] = c
    G.remove_edges_from(nx.selfloop_edges(G))
    return G, truth, len(comms)


def louvain_nmi(G, truth, seed):
    import networkx as nx

    lab = np.zeros(len(truth), dtype=np.int64)
    for c, members in enumerate(nx.community.louvain_communities(G, seed=seed)):
        lab[list(members)] = c
    return metrics.nmi(truth, lab)


def lfr_vs_louvain(mix, seed):
    """(ammsb NMI, Louvain NMI, communities in use, K) on LFR n = 1,000, average degree 20,
    communities of 20-100 nodes, K = the true count, ammsb at its defaults (init auto)."""
    G, truth, K = lfr(1000, 20, mix, seed)
    res = fit(AMMSB, network_from_graph(G, truth), seed=seed, K=K)
    used = len(np.unique(res.model.labels()))
    assert not res.stop_reason.startswith("degenerate")
    return res.metrics["nmi"], louvain_nmi(G, truth, seed), used, K


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lfr_at_least_louvain_and_never_collapsed(seed):
    # mixing 0.1; the slow grid (degree 20/40, mixing 0.1/0.3/0.5, 40+ groups) is
    # bench/bench_ammsb_lfr.py
    nmi, ref, used, K = lfr_vs_louvain(0.1, seed)
    assert nmi >= ref - 0.02, (nmi, ref)
    assert 2 * used >= K


def test_lfr_mixing_03_at_least_louvain_with_every_community_in_use():
    # Mixing 0.3 was the issue-10 target the first version missed (NMI 0.958-0.977 against
    # Louvain's 0.985-0.998, 1-2 of K communities emptied out). Causes, measured: (1) the vague
    # Wishart hyperprior (l0 = K): a small community's learned precision grew as its members were
    # pulled towards the mean (seed 0, a correct start: one community 20 -> 7 -> 0 members in a
    # sweep while its l L_kk rose 2.9 -> 6.5 -> 12.6, its beta staying 0.65); (2) the starts:
    # Louvain's resolution limit merged two small communities and to_k cut the largest in halves,
    # and a single k-means run did the same for spectral. Now (prior_weight 1, to_k splitting the
    # community that costs the least modularity, the best of 10 k-means runs), seeds 0-2:
    # NMI 0.989 / 0.997 / 0.995 against Louvain's 0.985 / 0.997 / 0.998, every community in use.
    for seed in (0, 1, 2):
        nmi, ref, used, K = lfr_vs_louvain(0.3, seed)
        assert nmi >= ref - 0.02, (seed, nmi, ref)
        assert used >= K - 1, (seed, used, K)  # at most one community emptied


def test_dense_many_groups_network_is_not_collapsed():
    # The e-mail symptom: dense, 42 groups, K = 42. At average degree 37 (40 % of links
    # between groups) init auto reaches Louvain's NMI with every group in use.
    import networkx as nx

    truth = np.repeat(np.arange(42), 25)
    G = nx.planted_partition_graph(42, 25, 0.9, 0.015, seed=3)
    assert 2 * G.number_of_edges() / 1050 > 35
    res = fit(AMMSB, network_from_graph(G, truth), seed=0, K=42)
    sizes = np.bincount(res.model.labels(), minlength=42)
    assert (sizes > 0).sum() >= 21 and sizes.max() <= 0.8 * 1050
    assert res.metrics["nmi"] >= louvain_nmi(G, truth, 0) - 0.02
    assert any(n.startswith("start: ") for n in res.model.notes)
    # At average degree 45 with 70 % of links between groups, epsilon = 1e-5 makes merged groups
    # score better on held-out pairs than the true ones (measured: findk's start wins the burn-in
    # and ends with 16 of 42 in use); the default epsilon (auto) sees that 66 % of a Louvain
    # partition's links run between its communities and estimates it (0.03 here).
    G = nx.planted_partition_graph(42, 25, 0.6, 0.03, seed=1)
    data = network_from_graph(G, truth)
    res = fit(AMMSB, data, seed=1, K=42)
    assert res.model.epsilon == pytest.approx(0.03, rel=0.1)
    assert any(n.startswith("epsilon 0.0") and "(auto)" in n for n in res.model.notes)
    assert len(np.unique(res.model.labels())) >= 38
    assert res.metrics["nmi"] >= louvain_nmi(G, truth, 1) - 0.02
    # with epsilon 1e-5 given it may collapse, but never silently
    res = fit(AMMSB, data, seed=1, K=42, epsilon=1e-5)
    if 2 * len(np.unique(res.model.labels())) < 42:
        assert res.stop_reason.startswith("degenerate: K = 42 asked")
        assert any(
            n.startswith("collapse: K = 42 asked") and "--epsilon 0.0" in n for n in res.model.notes
        )


def test_lfr_mixing_05_dense_at_least_louvain():
    # bench_ammsb_lfr.py's LFR degree 40 mixing 0.5 seed 2, the grid's failure at epsilon 1e-5:
    # NMI 0.628 against Louvain's 0.664, 11 of 17 communities in use (68 % of the links run
    # between Louvain's communities). The automatic epsilon (0.045) gives 0.734, all 17 in use.
    G, truth, K = lfr(1000, 40, 0.5, 2, min_comm=30, max_comm=150, max_degree=100)
    res = fit(AMMSB, network_from_graph(G, truth), seed=2, K=K)
    assert res.model.epsilon > 0.01 and res.model.between_share > 0.5
    assert res.metrics["nmi"] >= louvain_nmi(G, truth, 2) - 0.02, res.metrics["nmi"]
    assert 2 * len(np.unique(res.model.labels())) >= K


def test_louvain_and_spectral_starts_give_k_communities(planted):
    from explorer.models._ammsb_starts import _merge_smallest, louvain_labels, to_k

    A = planted.adjacency.copy()
    A.data[:] = 1.0
    rng = np.array([99], dtype=np.uint64)
    lab = louvain_labels(A, rng)
    assert metrics.nmi(planted.labels, lab) >= 0.95  # an easy planted partition
    for K in (2, 5, 9):
        out = to_k(A, lab, K, rng)
        assert out.max() + 1 == K and len(np.unique(out)) == K
    # merging: the smallest community joins the one it shares most links with
    B = sp.csr_matrix(np.array([[0, 5, 1, 0], [5, 0, 0, 0], [1, 0, 0, 2], [0, 0, 2, 0]], float))
    assert _merge_smallest(B, np.array([0, 0, 1, 2]), 2).tolist() == [0, 0, 1, 1]
    for init in ("louvain", "spectral", "findk", "random"):
        model = AMMSB(K=5, init=init)
        model.initialize(planted, 0)
        assert model.K == 5 and model.start == init
        if init != "random":
            assert metrics.nmi(planted.labels, model.labels()) >= 0.9, init
    model = AMMSB(init="louvain")  # K = 0: Louvain's count
    model.initialize(planted, 0)
    assert model.K == 5


def test_to_k_splits_the_merged_pair_not_the_largest_community():
    # Louvain's resolution limit: two small dense groups joined by a few links come out as one
    # community. Brought to K, the split must separate them (it costs little modularity), not cut
    # the largest community in halves (the old rule).
    from explorer.models._ammsb_starts import to_k

    G = planted_partition(100, 1, p_in=0.3, p_out=0.0, seed=1)  # one big community
    rng = np.random.default_rng(2)
    n = 130
    A = np.zeros((n, n))
    A[:100, :100] = G.adjacency.toarray()
    for lo in (100, 115):  # two 15-cliques
        A[lo : lo + 15, lo : lo + 15] = 1.0
    for _ in range(3):  # a few links between them
        a, b = rng.integers(100, 115), rng.integers(115, 130)
        A[a, b] = A[b, a] = 1.0
    np.fill_diagonal(A, 0.0)
    A = sp.csr_matrix(A)
    labels = np.r_[np.zeros(100, int), np.ones(30, int)]  # the pair merged
    out = to_k(A, labels, 3, np.array([5], dtype=np.uint64))
    assert len(np.unique(out[:100])) == 1  # the big one kept whole
    assert len({out[100], out[115], out[0]}) == 3  # the pair separated
    assert len(np.unique(out[100:115])) == 1 and len(np.unique(out[115:])) == 1


def test_sampled_elbo_is_close_to_the_exact_one():
    # Large networks estimate the ELBO on a weighted sample of pairs, each pair carrying its own
    # E[log p(z | theta)] terms. Measured on this planted network with 1,000 + 1,000 sampled
    # pairs, seeds 0-4: within 1.3 % of the exact ELBO (the former estimator, sampled phi^T mu
    # against the exact sum of the bounds, was off by up to 9.7 %).
    import explorer.models._ammsb_heldout as am

    data = planted_partition(1000, 5, p_in=0.1, p_out=0.005, seed=0)
    model = fit(AMMSB, data, seed=1, K=5, max_iter=6).model
    saved = am.ELBO_EXACT_MAX, am.ELBO_SAMPLE
    try:
        am.ELBO_EXACT_MAX = 10**9
        model._elbo_pairs()
        assert model._ep.exact
        exact = model.elbo()
        am.ELBO_EXACT_MAX, am.ELBO_SAMPLE = 0, 1000
        errors = []
        for s in range(5):
            model.seed = s
            model._elbo_pairs()
            assert not model._ep.exact
            errors.append(model.elbo() / exact - 1.0)
    finally:
        am.ELBO_EXACT_MAX, am.ELBO_SAMPLE = saved
    assert max(abs(e) for e in errors) < 0.03, errors
    assert abs(np.mean(errors)) < 0.015, errors


def test_auto_start_keeps_the_best_heldout_after_burn_in(planted):
    model = AMMSB(K=5)
    model.initialize(planted, 0)
    note = next(n for n in model.notes if n.startswith("start: "))
    scores = model.start_scores
    assert set(scores) == {"louvain", "findk", "random", "spectral"}
    assert model.start == max(scores, key=scores.get) and note.startswith(f"start: {model.start}")
    for kind, value in scores.items():
        assert f"{kind} {value:.6g}" in note
    # the winner's state is the one kept: its held-out log-likelihood after the burn-in
    assert model._heldout_loglik() == pytest.approx(scores[model.start], abs=1e-3)
    assert model.t == model.check_every


def test_falling_heldout_returns_the_best_state(planted):
    # tol 0: the relative-change rule never holds, so the run ends by the held-out rule.
    res = fit(AMMSB, planted, seed=1, K=5, tol=0.0)
    assert res.stop_reason.startswith(
        f"stopped: held-out log-likelihood fell 3 checks, best at iteration {res.best_iteration}"
    )
    assert not res.converged and res.best_iteration < res.iterations
    best = res.trace[res.best_iteration - 1]
    assert best == max(res.trace) and all(v < best for v in res.trace[res.best_iteration :])
    # the returned state is the best one: its held-out log-likelihood, recomputed
    assert res.model._heldout_loglik() == pytest.approx(best, rel=1e-12)
    assert res.final_objective == best
    assert res.metrics["heldout_loglik"] == pytest.approx(best, rel=1e-12)
    # the traces keep the full history
    assert len(res.model.snapshot()["metrics_trace"]["elbo"]) == res.iterations + 1


def test_collapse_is_reported_with_advice(planted):
    model = AMMSB(K=12, init="random")
    model.initialize(planted, 0)
    model.mu[:] = -5.0
    model.mu[:, 0] = 0.0
    model.mu[:500, 1] = 1.0
    kr.softmax_rows(model.mu, model.pi)
    assert model.degeneracy() == "K = 12 asked, 2 in use"
    assert any(
        n.startswith("collapse: K = 12 asked, 2 in use: try init louvain or a smaller K")
        for n in model.notes
    )
    model.mu[:, 2:] = -1.0
    model.mu[:900, 0] = 3.0
    model.mu[900:, 2:] = np.eye(10)[np.arange(100) % 10] * 5
    kr.softmax_rows(model.mu, model.pi)
    assert model.degeneracy().startswith("K = 12 asked, one community holds 90% of the nodes")
    assert sum(n.startswith("collapse:") for n in model.notes) == 1  # replaced, not repeated
    model.mu[:] = np.eye(12)[np.arange(1000) % 12] * 5
    kr.softmax_rows(model.mu, model.pi)
    assert model.degeneracy() is None and not any(n.startswith("collapse:") for n in model.notes)


def test_final_phase_gives_every_pair_slot_buffer_room(sample_dir):
    """The final phase puts the held-out links back into training, so a node can have more pair
    slots than during the run (karate: 46 -> 49). The old code grew P, ctype, W and Eoff but not
    partner and first, and node_pairs wrote 3 entries past their end (numba checks no bounds).
    The slot buffers now grow together (kr.with_slots)."""
    from explorer.models._ammsb_heldout import training_pairs

    karate = load_network(sample_dir / "karate" / "edges.csv")
    m = fit(AMMSB, karate, seed=0, K=2, init="louvain").model
    assert m.final_phase_minibatches > 0
    slots = m.training.pair_slots(m.n_samples)
    assert slots > training_pairs(m.split).pair_slots(m.n_samples)  # the case at stake
    for name in ("partner", "first", "ctype", "W", "P", "Eoff"):
        assert len(getattr(m.scratch, name)) >= slots, name


def test_heldout_and_test_sets_keep_the_promise(sample_dir):
    football = load_network(sample_dir / "football" / "edges.csv")
    model = AMMSB(K=12, init="louvain")
    model.initialize(football, 0)
    for y in (model.heldout_y, model.test_y):
        assert y.sum() == 10 and (y == 0).sum() == 10  # 1 % of 613 links would be 7
    deg = np.diff(model.training.graph.tr_ptr0)
    assert deg.min() >= 1  # never a node's last link
    # karate (78 links, under 200): the held-out set only, 10 + 10, with a note saying so
    karate = load_network(sample_dir / "karate" / "edges.csv")
    model = AMMSB(K=2, init="louvain")
    model.initialize(karate, 0)
    assert model.heldout_y.sum() == 10 and len(model.heldout_y) == 20 and model.test_u is None
    assert any(n.startswith("no automatic test set") for n in model.notes)
    assert np.diff(model.training.graph.tr_ptr0).min() >= 1


def test_empty_heldout_set_is_refused_and_weights_noted():
    from explorer.data.types import DataError

    # a star: every link is a leaf's last link, so nothing can be held out (issue 12.4)
    n = 8
    e = np.stack([np.zeros(n - 1, int), np.arange(1, n)], 1)
    A = sp.coo_matrix((np.ones(n - 1), (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    star = NetworkData(
        node_ids=np.arange(n).astype(str),
        adjacency=(A + A.T).tocsr(),
        edges=e,
        weights=np.ones(n - 1),
        test_pairs=np.array([[1, 2, 0], [0, 3, 1]]),
    )
    with pytest.raises(DataError, match="cannot hold out a single link"):
        fit(AMMSB, star, K=2)
    # weights are ignored, and the notes say so (issue 12.6)
    data = small_graph(12, 0)
    w = np.arange(1, len(data.edges) + 1, dtype=float)
    weighted = NetworkData(
        node_ids=data.node_ids,
        adjacency=data.adjacency,
        edges=data.edges,
        weights=w,
        directed=False,
    )
    res = fit(AMMSB, weighted, K=2, max_iter=2)
    assert any(n.startswith("edge weights are ignored") for n in res.model.notes)
    res = fit(AMMSB, data, K=2, max_iter=2)
    assert not any(n.startswith("edge weights") for n in res.model.notes)


def test_estimated_epsilon_is_the_between_community_density():
    import networkx as nx

    # 42 x 25 planted, p_out 0.03: more than half the links run between groups
    G = nx.planted_partition_graph(42, 25, 0.6, 0.03, seed=1)
    data = network_from_graph(G, np.repeat(np.arange(42), 25))
    model = AMMSB(K=42, init="louvain", epsilon=0.0)
    model.initialize(data, 0)
    assert model.epsilon == pytest.approx(0.03, rel=0.1)  # the planted p_out
    assert model.metrics()["epsilon"] == model.epsilon
    # the default (0, auto) keeps svinet's 1e-5 where most links lie inside communities
    G = nx.planted_partition_graph(42, 25, 0.9, 0.015, seed=1)  # 41 % between
    model = AMMSB(K=42, init="louvain")
    model.initialize(network_from_graph(G), 0)
    assert model.hp.epsilon == 0.0 and model.epsilon == 1e-5
    assert 0.3 < model.between_share < 0.5
    assert model.epsilon_estimate == pytest.approx(0.015, rel=0.2)
    assert any(n.startswith("epsilon 1e-05 (auto)") for n in model.notes)


def test_window_draws_the_elbo_above_the_objective(qapp, planted):
    from explorer.gui.plots import TracePanel

    res = fit(AMMSB, planted, seed=0, K=5, max_iter=3)
    panel = TracePanel()
    panel.reset(AMMSB)
    panel.show_snapshot(res.model.snapshot(), AMMSB)
    layout = panel.glw.ci.layout
    assert layout.itemAt(0, 0) is panel.metric_plots["elbo"]
    assert layout.itemAt(1, 0) is panel.plot
    assert {layout.itemAt(r, 0) for r in (2, 3)} == {
        panel.metric_plots["heldout_auc"],
        panel.metric_plots["heldout_perplexity"],
    }
    elbo = np.asarray(res.model.snapshot()["metrics_trace"]["elbo"])
    np.testing.assert_allclose(panel.metric_curves["elbo"].getData()[1], elbo[:, 1])
    panel.reset(None)  # another model: the objective is on top again
    assert layout.itemAt(0, 0) is panel.plot


def test_same_seed_gives_the_same_fit_in_every_process(sample_dir):
    """The same fit in fresh processes is the same to the bit. With reassociating fastmath the
    summation order of a kernel depended on where the allocator put its arrays, and half the
    processes gave a fit apart in the 14th digit (see _ammsb_kernels._FM)."""
    import os
    import subprocess
    import sys

    code = (
        "import hashlib, sys, numpy as np\n"
        "from explorer import runner\n"
        "from explorer.data import load\n"
        "from explorer.models import get_model\n"
        "res = runner.fit(get_model('ammsb'), load(sys.argv[1]), seed=0, K=12)\n"
        "p = res.model.parameters()\n"
        "print(hashlib.sha256(b''.join(np.ascontiguousarray(p[k]).tobytes()\n"
        "                              for k in sorted(p))).hexdigest())\n"
    )
    env = dict(os.environ, PYTHONPATH=str(sample_dir.parent))
    path = str(sample_dir / "football" / "edges.csv")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, path],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    digests = {out.strip() for out, _ in outs}
    assert len(digests) == 1, digests


def test_check_every_is_bounded_by_the_network(sample_dir):
    """Issue 22, item 17: check_every = 1,000,000 was accepted, and karate with max_iter 2 was still
    running after 90 s (nothing, not even a cancel, is seen inside one check). Now it is refused
    before anything runs, naming the bound: the larger of 10 sweeps over the nodes and 200
    minibatches."""
    from explorer.data.types import DataError
    from explorer.models._ammsb_params import MAX_CHECK_SMALL, max_check_every

    karate = load_network(sample_dir / "karate" / "edges.csv")
    assert max_check_every(34, 100) == MAX_CHECK_SMALL == 200
    assert max_check_every(1_000_000, 100) == 100_000  # 10 sweeps of 10,000 minibatches
    with pytest.raises(
        DataError,
        match=r"check_every = 1000000 minibatches of 34 nodes would be "
        r"1,000,000 sweeps .* at most 200 are allowed",
    ):
        fit(AMMSB, karate, seed=0, K=2, check_every=1_000_000, max_iter=2)
    model = AMMSB(K=2, check_every=201)
    with pytest.raises(DataError, match="at most 200"):
        model.prepare(karate)
    res = fit(AMMSB, karate, seed=0, K=2, check_every=200, max_iter=1, init="louvain")
    assert res.iterations == 1 and res.model.check_every == 200


def shuffled_edge_file(src, dst, seed):
    """The same network with its rows in another order and each row's two ends swapped at random
    (the header kept): node ids then appear in another order, so the loader numbers them
    differently."""
    lines = src.read_text().splitlines()
    rng = np.random.default_rng(seed)
    rows = [line.split(",") for line in lines[1:]]
    rows = [rows[i] for i in rng.permutation(len(rows))]
    for r in rows:
        if rng.random() < 0.5:
            r[0], r[1] = r[1], r[0]
    dst.write_text("\n".join([lines[0]] + [",".join(r) for r in rows]) + "\n")
    return dst


@pytest.mark.parametrize("name, K, seeds", [("karate", 2, (0, 1)), ("football", 12, (0,))])
def test_the_same_graph_in_another_row_order_gives_the_same_fit(
    sample_dir, tmp_path, name, K, seeds
):
    """Issue 22, item 18: karate from the bundled file gave NMI 0.837 on seeds 0-2, from
    networkx's edge order 0.732: the node numbering (first appearance in the file) steered the
    held-out split and every random choice. The model now works in the canonical node order
    (ids sorted), so the fit depends on the graph only: the same trace, objective and partition."""
    labels = f"{sample_dir / name / 'nodes.csv'}:{'club' if name == 'karate' else 'conference'}"
    a = load_network(sample_dir / name / "edges.csv", labels=labels)
    b = load_network(
        shuffled_edge_file(sample_dir / name / "edges.csv", tmp_path / "e.csv", 5), labels=labels
    )
    assert list(a.node_ids) != list(b.node_ids) and set(a.node_ids) == set(b.node_ids)
    for seed in seeds:
        ra = fit(AMMSB, a, seed=seed, K=K)
        rb = fit(AMMSB, b, seed=seed, K=K)
        np.testing.assert_allclose(rb.trace, ra.trace, rtol=1e-12)
        assert rb.stop_reason == ra.stop_reason
        assert rb.metrics["nmi"] == pytest.approx(ra.metrics["nmi"], abs=1e-12)
        by_id = dict(zip(b.node_ids, rb.model.labels()))
        lb = np.array([by_id[n] for n in a.node_ids])
        assert metrics.nmi(ra.model.labels(), lb) == pytest.approx(1.0)
        pb = dict(zip(b.node_ids, rb.model.memberships()))
        np.testing.assert_allclose(
            np.array([pb[n] for n in a.node_ids]), ra.model.memberships(), rtol=1e-9, atol=1e-12
        )
        # the exported node ids and per-node parameters stay aligned with the data's order
        params = rb.model.parameters()
        assert list(params["node_ids"]) == list(b.node_ids)
        np.testing.assert_array_equal(params["pi"], rb.model.memberships())


def test_rank_starts_breaks_borda_ties_by_modularity_and_puts_collapsed_last():
    """init = auto's ranking (_ammsb_init.rank_starts) on hand-made burn-in scores: with the
    held-out and ELBO orders exactly reversed every Borda sum ties and the modularity of the labels
    decides; a collapsed start ranks after every sound one, whatever its scores."""
    from explorer.models._ammsb_init import BurnIn, rank_starts

    scores = {
        "louvain": BurnIn(-10.0, -400.0, False, 0.30),
        "findk": BurnIn(-11.0, -390.0, False, 0.40),
        "random": BurnIn(-12.0, -380.0, False, 0.10),
    }
    ranked, how = rank_starts(scores, by_heldout=False)
    assert ranked == ["findk", "louvain", "random"] and "collapsed" not in how
    scores["findk"] = scores["findk"]._replace(collapsed=True)
    ranked, how = rank_starts(scores, by_heldout=False)
    assert ranked == ["louvain", "random", "findk"] and how.endswith("collapsed starts last")
    # the held-out score alone: louvain is best, but collapsed
    scores["findk"] = scores["findk"]._replace(collapsed=False)
    scores["louvain"] = scores["louvain"]._replace(collapsed=True)
    ranked, _ = rank_starts(scores, by_heldout=True)
    assert ranked == ["findk", "random", "louvain"]


def test_auto_start_scores_do_not_depend_on_the_files_row_order(sample_dir, tmp_path):
    """init = auto on a small network ranks the starts by held-out score and ELBO, with each
    start's modularity Q in its note. The model works in the canonical node order, so the same
    graph with its rows shuffled (nodes first seen in another order) gives the same starts and
    the same note. Q was once computed on labels in the data's order against the canonical
    adjacency: karate in another row order then gave other Q values (0.120 for a partition of
    Q 0.256)."""
    edges = np.loadtxt(
        sample_dir / "karate" / "edges.csv", delimiter=",", skiprows=1, dtype=np.int64
    )[:, :2]
    notes = []
    for name, rows in (("file", edges), ("shuffled", np.random.default_rng(0).permutation(edges))):
        path = tmp_path / f"{name}.csv"
        path.write_text("source,target\n" + "".join(f"{u},{v}\n" for u, v in rows))
        data = load_network(path)
        model = AMMSB(K=4, init="auto")
        model.initialize(data, 0)
        notes.append(next(n for n in model.notes if n.startswith("start: ")))
    assert "/ Q " in notes[0] and "Q 0.000" not in notes[0]
    assert notes[0] == notes[1]
