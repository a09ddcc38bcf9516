"""Exponential mixture EM (``exponential-mixture``): planted rates, monotone likelihood, coal data."""

import numpy as np
import pytest
from helpers import assert_density_1d, assert_never_decreases, fitted, table
from scipy.special import logsumexp
from scipy.stats import expon

from explorer.data.table import load_table
from explorer.data.types import DataError
from explorer.models import get_model
from explorer.models.exponential_mixture import ExponentialMixture
from explorer.runner import fit


def planted(seed, n, rates, weights):
    rng = np.random.default_rng(seed)
    rates = np.atleast_2d(np.asarray(rates, dtype=float).T).T  # (K, D)
    z = rng.choice(len(weights), size=n, p=weights)
    return rng.exponential(1.0 / rates[z]), z


def test_registered():
    assert get_model("exponential-mixture") is ExponentialMixture
    assert ExponentialMixture.objective_kind == "log-likelihood"


def test_recovers_rates_and_weights():
    x, z = planted(0, 20000, [0.5, 5.0], [0.3, 0.7])
    res = fit(ExponentialMixture, table(x), seed=0, K=2, max_iter=2000, tol=1e-12)
    m = res.model
    order = np.argsort(m.rates[:, 0])
    # The bar: both rates within 5 % (sampling error of the MLE is ~2-3 % here).
    np.testing.assert_allclose(m.rates[order, 0], [0.5, 5.0], rtol=0.05)
    np.testing.assert_allclose(m.weights[order], [0.3, 0.7], atol=0.03)


def test_two_columns_are_independent_exponentials():
    rates = np.array([[0.5, 4.0], [5.0, 0.3]])
    x, z = planted(1, 6000, rates, [0.4, 0.6])
    res = fit(ExponentialMixture, table(x, z.astype(str)), seed=0, K=2, max_iter=2000)
    m = res.model
    order = np.argsort(m.rates[:, 0])
    np.testing.assert_allclose(m.rates[order], rates, rtol=0.08)
    # Exponentials overlap near 0, so even the true parameters misclassify many rows; compare
    # with the Bayes classifier of the planted model instead (same labels up to a few rows).
    true_lp = np.stack(
        [np.log(w) + expon(scale=1 / r).logpdf(x).sum(axis=1) for w, r in zip([0.4, 0.6], rates)],
        axis=1,
    )
    assert np.mean(m.labels() == order[true_lp.argmax(axis=1)]) > 0.98
    # Objective = independent scipy evaluation of the product density (round-off only).
    lp = np.stack(
        [
            np.log(m.weights[k]) + expon(scale=1 / m.rates[k]).logpdf(x).sum(axis=1)
            for k in range(2)
        ],
        axis=1,
    )
    assert res.final_objective == pytest.approx(logsumexp(lp, axis=1).sum(), rel=1e-10)


@pytest.mark.parametrize("seed", range(24))
def test_loglik_never_decreases(seed):
    # EM never decreases the log-likelihood; 1e-9 relative allows for summation round-off only.
    rng = np.random.default_rng(seed)
    K0 = int(rng.integers(1, 4))
    rates = np.exp(rng.uniform(-2, 2, size=(K0, int(rng.integers(1, 3)))))
    x, _ = planted(seed, 500, rates, np.full(K0, 1 / K0))
    m = ExponentialMixture(K=int(rng.integers(2, 5)))
    m.initialize(table(x), seed)
    assert_never_decreases([m.loglik] + [m.step() for _ in range(60)])


def test_m_step_formula():
    x, _ = planted(2, 300, [1.0, 3.0], [0.5, 0.5])
    m = ExponentialMixture(K=2)
    m.initialize(table(x), 0)
    q = m.resp.copy()
    m.step()
    # mu_j = mean_i q_ji; lambda_j = sum_i q_ji / sum_i q_ji x_i (note 004's M-step).
    np.testing.assert_allclose(m.weights, q.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(m.rates[:, 0], q.sum(axis=0) / (q.T @ x)[:, 0], rtol=1e-12)


def test_negative_values_are_a_clear_error():
    x = np.array([1.0, 2.0, -0.5, 3.0])
    with pytest.raises(DataError, match="non-negative.*-0.5"):
        ExponentialMixture(K=2).initialize(table(x), 0)
    with pytest.raises(DataError, match="all zeros"):
        ExponentialMixture(K=2).initialize(table(np.zeros((5, 1))), 0)


def test_density_snapshot():
    x, _ = planted(3, 1000, [0.5, 5.0], [0.3, 0.7])
    m = fitted(ExponentialMixture(K=2), x, 30)
    snap = m.snapshot()
    g = assert_density_1d(snap, m.weights, lambda k, g: expon(scale=1 / m.rates[k, 0]).pdf(g))
    assert g[0] == 0.0 and g[-1] >= x.max()
    np.testing.assert_allclose(snap["centers"], 1 / m.rates)
    assert set(m.parameters()) == {"rates", "weights", "responsibilities"}


def test_coal_mining_intervals(sample_dir):
    data = load_table(sample_dir / "coal_intervals.csv", columns=["interval_years"], labels="era")
    fits = {K: fit(ExponentialMixture, data, seed=0, K=K, max_iter=3000, tol=1e-12) for K in (1, 2)}
    # K = 1 has the closed form rate = 1 / mean interval (190 intervals, mean 0.584 y).
    assert fits[1].model.rates[0, 0] == pytest.approx(1.0 / data.X.mean(), rel=1e-12)
    m = fits[2].model
    slow, fast = np.sort(m.rates[:, 0])
    # Two regimes as in the changepoint literature: rare disasters (about 1/y after 1890) and
    # frequent ones (about 3/y before); BIC prefers two components over one.
    assert 0.4 < slow < 1.2 and 2.0 < fast < 4.5
    assert fits[2].metrics["bic"] < fits[1].metrics["bic"]


def test_component_on_zeros_is_degenerate_never_converged_and_rates_stay_finite():
    """20 zeros + 80 Exp(1) draws: the likelihood has no finite maximum with a component on the
    zeros. Before the floor, EM reported rates [0.89, 2e+301], log-likelihood +13,736, converged."""
    rng = np.random.default_rng(0)
    x = np.r_[np.zeros(20), rng.exponential(1.0, 80)]
    res = fit(ExponentialMixture, table(x), seed=0, K=2)
    assert not res.converged
    assert res.stop_reason.startswith("degenerate: component")
    assert "20 zeros" in res.stop_reason
    cap = 1.0 / (1e-3 * x[x > 0].min())
    assert np.isfinite(res.model.rates).all() and res.model.rates.max() <= cap * (1 + 1e-9)
    # the log-likelihood is bounded by the floor: no +13,736
    assert res.final_objective < 20 * np.log(cap) + 1.0
    assert all(r["stop_reason"].startswith("degenerate") for r in res.restarts)


def test_floor_never_binds_without_zeros():
    x, _ = planted(3, 500, [0.5, 20.0], [0.5, 0.5])
    res = fit(ExponentialMixture, table(x), seed=0, K=3)
    assert res.model.degeneracy() is None and res.converged
    # with no zeros EM is the plain update: the M-step formula holds exactly at the end
    m = res.model
    q = m.resp.copy()
    m.step()
    np.testing.assert_allclose(m.rates[:, 0], q.sum(axis=0) / (q.T @ m.X)[:, 0], rtol=1e-12)
