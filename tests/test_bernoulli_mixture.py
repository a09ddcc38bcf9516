"""Bernoulli mixture EM (``bernoulli-mixture``): planted recovery, monotone log-posterior, errors."""

import numpy as np
import pytest
from helpers import table
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp
from scipy.stats import bernoulli, beta

from explorer.data.table import load_table
from explorer.data.types import DataError
from explorer.models import get_model
from explorer.models.bernoulli_mixture import BernoulliMixture
from explorer.runner import fit


def planted(seed, n=5000, K=3, D=25, weights=None):
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0.05, 0.95, size=(K, D))
    w = np.full(K, 1.0 / K) if weights is None else np.asarray(weights)
    z = rng.choice(K, size=n, p=w)
    X = (rng.random((n, D)) < theta[z]).astype(np.float64)
    return X, z, theta


def test_registered():
    assert get_model("bernoulli-mixture") is BernoulliMixture
    assert BernoulliMixture.objective_kind == "log-posterior"


def test_recovers_planted_theta():
    X, z, theta = planted(0, n=5000, K=3, D=25, weights=[0.2, 0.3, 0.5])
    res = fit(BernoulliMixture, table(X, z.astype(str)), seed=0, K=3, max_iter=500)
    est = res.model.theta
    cost = np.abs(theta[:, None, :] - est[None, :, :]).mean(axis=2)
    rows, cols = linear_sum_assignment(cost)
    mae = cost[rows, cols].mean()
    # The bar: mean absolute error < 0.05 at N = 5000 after matching the clusters
    # (sampling error alone is about sqrt(0.25 / 1000) ~ 0.016 per entry).
    assert mae < 0.05, mae
    np.testing.assert_allclose(res.model.weights[cols], [0.2, 0.3, 0.5], atol=0.03)
    assert res.metrics["ari"] > 0.9


@pytest.mark.parametrize("seed", range(24))
def test_log_posterior_never_decreases(seed):
    # MAP-EM never decreases log p(X | theta, pi) + log p(theta). Tolerance 1e-9 relative: the
    # total carries ~N * 1e-16 relative round-off, far below it.
    rng = np.random.default_rng(seed)
    a, b = [(1.0, 1.0), (2.0, 2.0), (1.5, 3.0)][seed % 3]
    X, _, _ = planted(seed, n=400, K=int(rng.integers(2, 5)), D=int(rng.integers(3, 20)))
    m = BernoulliMixture(
        K=int(rng.integers(2, 6)),
        a=a,
        b=b,
        learn_weights=bool(seed % 2),
        init=("k-means++", "random")[seed % 2 == 0],
    )
    m.initialize(table(X), seed)
    trace = [m.objective] + [m.step() for _ in range(40)]
    assert np.all(np.isfinite(trace))
    d = np.diff(trace)
    assert np.all(d >= -1e-9 * np.abs(trace[1:])), d.min()


@pytest.mark.parametrize("a,b,learn", [(1.0, 1.0, True), (2.0, 3.0, False)])
def test_objective_matches_scipy(a, b, learn):
    X, _, _ = planted(3, n=300, K=2, D=8)
    m = BernoulliMixture(K=3, a=a, b=b, learn_weights=learn)
    m.initialize(table(X), 1)
    for _ in range(6):
        val = m.step()
    th, w = m.theta, m.weights
    if not learn:
        np.testing.assert_allclose(w, 1 / 3)
    # Independent evaluation with scipy's Bernoulli pmf and Beta pdf; round-off only (1e-10).
    lp = np.stack([np.log(w[k]) + bernoulli(th[k]).logpmf(X).sum(axis=1) for k in range(3)], 1)
    expected = logsumexp(lp, axis=1).sum() + beta(a, b).logpdf(th).sum()
    assert val == pytest.approx(expected, rel=1e-10)
    np.testing.assert_allclose(
        m.resp, np.exp(lp - logsumexp(lp, axis=1, keepdims=True)), rtol=1e-9, atol=1e-14
    )


def test_map_m_step_formula():
    # One step from the initial responsibilities: theta = (sum r x + a - 1) / (N_k + a + b - 2).
    X, _, _ = planted(4, n=200, K=2, D=5)
    m = BernoulliMixture(K=2, a=3.0, b=1.5)
    m.initialize(table(X), 0)
    r = m.resp.copy()
    m.step()
    expected = (r.T @ X + 2.0) / (r.sum(axis=0)[:, None] + 2.5)
    np.testing.assert_allclose(m.theta, expected, rtol=1e-12)
    np.testing.assert_allclose(m.weights, r.mean(axis=0), rtol=1e-12)


def test_flat_prior_with_constant_columns_stays_finite():
    # a = b = 1 lets theta reach exactly 0 and 1 (constant columns): no NaN may appear.
    X, _, _ = planted(5, n=300, K=2, D=6)
    X[:, 0] = 0.0
    X[:, 1] = 1.0
    m = BernoulliMixture(K=3, a=1.0, b=1.0)
    m.initialize(table(X), 0)
    vals = [m.step() for _ in range(15)]
    assert np.all(np.isfinite(vals))
    assert np.all(m.theta[:, 0] == 0.0) and np.all(m.theta[:, 1] == 1.0)
    np.testing.assert_allclose(m.resp.sum(axis=1), 1.0, rtol=1e-12)


def test_non_binary_data_is_a_clear_error_offering_binarize():
    X = np.array([[0, 1, 0.3], [1, 0, 1], [0, 0, 1]], dtype=float)
    with pytest.raises(DataError) as err:
        BernoulliMixture(K=2).initialize(table(X), 0)
    msg = str(err.value)
    assert "binarize" in msg and "'c2'" in msg and "0.3" in msg


def test_binarize_threshold():
    rng = np.random.default_rng(0)
    G = rng.uniform(0, 16, size=(200, 10))
    a = BernoulliMixture(K=2, binarize=True, threshold=8.0)
    a.initialize(table(G), 3)
    b = BernoulliMixture(K=2)
    b.initialize(table((G >= 8.0).astype(float)), 3)
    assert a.step() == b.step()
    np.testing.assert_array_equal(a.theta, b.theta)


def test_digits_binary(sample_dir):
    data = load_table(sample_dir / "digits_binary.csv", labels="digit")
    res = fit(BernoulliMixture, data, seed=0, K=10, n_init=2, max_iter=300)
    # A 10-component Bernoulli mixture finds most digits but merges some (4/9, 3/5/8): measured
    # NMI about 0.70 over seeds; 0.6 leaves room for a different local optimum, while a failure to
    # separate anything would be far below.
    assert res.metrics["nmi"] > 0.6
    p = res.model.parameters()
    assert p["theta"].shape == (10, 64) and p["weights"].shape == (10,)
    assert p["responsibilities"].shape == (1797, 10)
    assert np.all((p["theta"] > 0) & (p["theta"] < 1))  # Beta(2, 2) default keeps them inside


def test_flat_prior_point_mass_components_are_noted():
    """a = b = 1: a component on one repeated binary pattern has theta exactly 0/1 (a bounded but
    degenerate point mass); the notes say so. The default prior never produces one."""
    from explorer.models.bernoulli_mixture import BernoulliMixture
    from explorer.runner import fit

    pattern = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    X = np.r_[np.tile(pattern, (30, 1)), np.tile(1.0 - pattern, (50, 1))]
    data = table(X)
    flat = fit(BernoulliMixture, data, seed=0, K=2, a=1.0, b=1.0)
    assert set(np.unique(flat.model.theta)) == {0.0, 1.0}
    assert any("point masses on one binary pattern" in n for n in flat.model.notes)
    smooth = fit(BernoulliMixture, data, seed=0, K=2)
    assert not any("point masses" in n for n in smooth.model.notes)
