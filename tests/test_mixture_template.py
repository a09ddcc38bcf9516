"""The mixtures' template (``MixtureModel.step``: ``_m_step`` then ``_e_pass``) and the E-pass
the Bernoulli and exponential mixtures share (``_mixture_kernels.affine_e_pass``), against the
models' own numpy formulas (``weighted_log_prob``)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import table
from scipy.special import logsumexp, softmax

from explorer.models._mixture import MixtureModel
from explorer.models.bayes_gmm import BayesianGMM
from explorer.models.bernoulli_mixture import BernoulliMixture, _log_prior
from explorer.models.exponential_mixture import ExponentialMixture
from explorer.models.gmm import GaussianMixture


@pytest.mark.parametrize(
    "cls", [GaussianMixture, BernoulliMixture, ExponentialMixture, BayesianGMM]
)
def test_every_mixture_steps_through_the_template(cls):
    assert cls.step is MixtureModel.step
    assert "step" not in vars(cls) and "_m_step" in vars(cls)


def _binary(n=5000, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, d)) < np.linspace(0.1, 0.9, d)).astype(np.float64)


def _check_pass(model, X):
    """resp and the log-likelihood of the last pass against the model's numpy formula."""
    lp = model.weighted_log_prob(model.parameters(), X)
    np.testing.assert_allclose(model.resp, softmax(lp, axis=1), rtol=1e-10, atol=1e-300)
    assert model.loglik == pytest.approx(logsumexp(lp, axis=1).sum(), rel=1e-12)
    np.testing.assert_allclose(model._nk.sum(axis=0), model.resp.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(model._sx.sum(axis=0), model.resp.T @ X, rtol=1e-10)


def test_bernoulli_pass_with_thetas_of_0_and_1_takes_rows_one_at_a_time():
    X = _binary()
    m = BernoulliMixture(K=3, a=1.0, b=1.0)
    m.initialize(table(X), seed=0)
    _check_pass(m, X)  # the blocked pass (every log theta finite)
    # point masses: theta 0 where a column is 0 in every row of the component, 1 where 1
    m.theta[0, 0] = 0.0
    m.theta[1, 5] = 1.0
    _log_prior(m.theta, 1.0, 1.0, m.log_t, m.log_1mt)  # log theta, log(1 - theta)
    m._e_pass()
    assert np.isfinite(m.loglik) and np.isfinite(m.resp).all()
    _check_pass(m, X)
    assert (m.resp[X[:, 0] == 1.0, 0] == 0.0).all()  # probability 0 under theta = 0


def test_exponential_pass_and_step():
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.exponential(1.0, (3000, 3)), rng.exponential(5.0, (3000, 3))])
    m = ExponentialMixture(K=2)
    m.initialize(table(X), seed=0)
    _check_pass(m, X)
    before = m.loglik
    assert m.step() == m.loglik >= before
    _check_pass(m, X)
