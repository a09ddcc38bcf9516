"""Bayesian GMM by CAVI (``bayes-gmm``): monotone ELBO, Monte Carlo ELBO, recovery, notes."""

import numpy as np
import pytest
from helpers import assert_never_decreases, table
from scipy.special import logsumexp

from explorer.models import get_model
from explorer.models.bayes_gmm import BayesianGMM
from explorer.runner import fit


def planted(seed, n, means):
    rng = np.random.default_rng(seed)
    means = np.atleast_2d(np.asarray(means, dtype=float).T).T
    z = rng.integers(0, len(means), n)
    return means[z] + rng.normal(size=(n, means.shape[1])), z


def test_registered():
    assert get_model("bayes-gmm") is BayesianGMM
    assert BayesianGMM.objective_kind == "ELBO"


@pytest.mark.parametrize("seed", range(30))
def test_elbo_never_decreases(seed):
    # Every CAVI update is an exact coordinate maximisation, so the ELBO cannot decrease.
    # Tolerance 1e-9 relative: summation round-off over N terms only.
    rng = np.random.default_rng(seed)
    D = int(rng.integers(1, 4))
    Kt = int(rng.integers(1, 5))
    X, _ = planted(
        seed, int(rng.integers(20, 400)), rng.normal(scale=rng.uniform(0.5, 6), size=(Kt, D))
    )
    m = BayesianGMM(K=int(rng.integers(2, 6)), sigma2=float(np.exp(rng.uniform(-1, 4))))
    m.initialize(table(X), seed)
    assert_never_decreases([m.elbo] + [m.step() for _ in range(40)])


def test_elbo_equals_monte_carlo_estimate():
    X, _ = planted(0, 12, [[-2.0, 0.0], [2.0, 1.0]])
    N, D = X.shape
    K, sigma2 = 2, 4.0
    model = BayesianGMM(K=K, sigma2=sigma2)
    model.initialize(table(X), 0)
    for _ in range(3):
        model.step()
    m, s2, phi = model.m, model.s2, model.phi
    rng = np.random.default_rng(1)
    S = 200_000
    mu = m[None] + np.sqrt(s2)[None, :, None] * rng.normal(size=(S, K, D))
    u = rng.random((S, N, 1))
    c = (u > np.cumsum(phi, axis=1)[None]).sum(axis=2)  # c[s, i] ~ Cat(phi_i)
    c = np.minimum(c, K - 1)
    mu_c = np.take_along_axis(mu, c[:, :, None], axis=1)  # (S, N, D)
    log_p = (
        -0.5 * K * D * np.log(2 * np.pi * sigma2)
        - 0.5 * (mu**2).sum(axis=(1, 2)) / sigma2
        - N * np.log(K)
        - 0.5 * N * D * np.log(2 * np.pi)
        - 0.5 * ((X[None] - mu_c) ** 2).sum(axis=(1, 2))
    )
    log_q = (
        -0.5 * D * np.log(2 * np.pi * s2).sum()
        - 0.5 * (((mu - m[None]) ** 2).sum(axis=2) / s2[None]).sum(axis=1)
        + np.log(
            np.take_along_axis(np.broadcast_to(phi, (S, N, K)), c[:, :, None], axis=2)[:, :, 0]
        ).sum(axis=1)
    )
    w = log_p - log_q
    est, se = w.mean(), w.std(ddof=1) / np.sqrt(S)
    # The bar: within 3 standard errors of the Monte Carlo estimate.
    assert abs(model.elbo - est) < 3 * se, (model.elbo, est, se)
    assert se < 0.05  # the check has teeth: a dropped constant (e.g. log 2 pi) is ~1


def test_cavi_updates_match_the_formulas():
    X, _ = planted(2, 200, [[-3.0, 0.0], [3.0, 0.0]])
    model = BayesianGMM(K=2, sigma2=5.0)
    model.initialize(table(X), 0)
    phi = model.phi.copy()
    model.step()
    s2 = 1.0 / (1.0 / 5.0 + phi.sum(axis=0))
    np.testing.assert_allclose(model.s2, s2, rtol=1e-12)
    np.testing.assert_allclose(model.m, s2[:, None] * (phi.T @ X), rtol=1e-12)
    logits = X @ model.m.T - 0.5 * (2 * model.s2 + (model.m**2).sum(axis=1))
    np.testing.assert_allclose(
        model.phi,
        np.exp(logits - logsumexp(logits, axis=1, keepdims=True)),
        rtol=1e-10,
        atol=1e-300,
    )


@pytest.mark.parametrize(
    "means", [[-6.0, 0.0, 6.0], [[-5.0, 0.0], [0.0, 5.0], [5.0, 0.0]]], ids=["1-D", "2-D"]
)
def test_recovers_separated_means(means):
    X, z = planted(3, 900, means)
    res = fit(BayesianGMM, table(X, z.astype(str)), seed=0, K=3, sigma2=50.0, n_init=2)
    est = res.model.m
    truth = np.atleast_2d(np.asarray(means).T).T
    order = [int(np.argmin(((est - t) ** 2).sum(axis=1))) for t in truth]
    assert sorted(order) == [0, 1, 2]
    # ~300 points per cluster: posterior sd of each mean ~ 1/sqrt(300) ~ 0.06; allow 0.25.
    np.testing.assert_allclose(est[order], truth, atol=0.25)
    assert res.metrics["ari"] > 0.97
    if truth.shape[1] == 1:
        dens = res.model.snapshot()["density_1d"]
        assert dens["components"].shape == (3, len(dens["x"]))
        # weights sum to 1 and each component has unit variance: the total integrates to ~1.
        assert np.trapezoid(dens["total"], dens["x"]) == pytest.approx(1.0, abs=0.01)


def test_far_from_unit_scale_note_and_standardized_data():
    X, z = planted(4, 600, [[-5.0, 0.0], [5.0, 3.0]])
    scaled = X * 100.0 + 1000.0
    plain = BayesianGMM(K=2)
    plain.initialize(table(scaled), 0)
    assert plain.notes and "standardis" in plain.notes[0]
    # The same columns z-scored (what the loader's standardize option gives): no note, and the
    # planted clusters are found.
    Z = (scaled - scaled.mean(axis=0)) / scaled.std(axis=0)
    data = table(Z, z.astype(str))
    data.standardized = True
    res = fit(BayesianGMM, data, seed=0, K=2)
    assert res.model.notes == []
    assert res.metrics["ari"] > 0.97
    p = res.model.parameters()
    np.testing.assert_allclose(res.model.snapshot()["centers"], p["m"])
    assert set(p) >= {"m", "s2", "phi", "responsibilities", "weights"}
