"""explorer.sklearn: scikit-learn's own estimator checks, the same fits as explorer.fit and as
scikit-learn's estimators from the same start, new-row methods against the fitted state, and the
docs page's examples."""

import pickle
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numba
import numpy as np
import pytest
from helpers import table
from sklearn.base import clone
from sklearn.cluster import KMeans as SkKMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBGM
from sklearn.mixture import GaussianMixture as SkGMM
from sklearn.utils.estimator_checks import parametrize_with_checks

import explorer
import explorer.sklearn as es
from explorer.models import get_model
from explorer.models.kmeans import kmeans_plusplus

ROOT = Path(__file__).resolve().parent.parent

# The instances scikit-learn's checks run on: the defaults, except the Bernoulli mixture, whose
# checks feed continuous data, so it binarises (as scikit-learn's BernoulliNB does by default).
CHECKED = [
    es.KMeans(),
    es.KMedians(),
    es.FuzzyCMeans(),
    es.GaussianMixture(),
    es.BayesianGaussianMixture(),
    es.BernoulliMixture(binarize=True),
    es.ExponentialMixture(),
]

ESTIMATORS = {  # estimator class -> the explorer model id it runs
    es.KMeans: "kmeans",
    es.KMedians: "kmedians",
    es.FuzzyCMeans: "fuzzy-cmeans",
    es.GaussianMixture: "gmm",
    es.BayesianGaussianMixture: "bayes-gmm",
    es.BernoulliMixture: "bernoulli-mixture",
    es.ExponentialMixture: "exponential-mixture",
}


@parametrize_with_checks(CHECKED, expected_failed_checks=es.expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_expected_failures_are_few_and_explained():
    declared = {type(e).__name__: es.expected_failed_checks(e) for e in CHECKED}
    assert sum(len(d) for d in declared.values()) <= 3
    for checks in declared.values():
        for check, reason in checks.items():
            assert check.startswith("check_") and len(reason) > 40
    # ... and each is listed in the docs with its estimator
    doc = (ROOT / "docs" / "sklearn.md").read_text(encoding="utf-8")
    for name, checks in declared.items():
        for check in checks:
            assert re.search(rf"{name}.*{check}", doc), (name, check)


# ---- data ----------------------------------------------------------------------------------


def blobs(seed, n=300, d=3, k=3, sep=6.0):
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, sep, size=(k, d))
    return means[rng.integers(k, size=n)] + rng.normal(size=(n, d))


def data_for(cls, seed=0):
    X = blobs(seed)
    if cls is es.BernoulliMixture:
        return (X > 0).astype(np.float64)
    if cls is es.ExponentialMixture:
        return np.exp(X / 4.0)
    if cls is es.BayesianGaussianMixture:
        return (X - X.mean(axis=0)) / X.std(axis=0)
    return X


# ---- the constructor is the declaration -----------------------------------------------------


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_arguments_are_the_declared_hyperparameters(cls):
    model = get_model(ESTIMATORS[cls])
    params = cls().get_params()
    for spec in model.param_specs():
        name = es.sklearn_name(model, spec.name)
        assert params.pop(name) == spec.default, name
    assert params.pop("max_iter") == model.default_max_iter
    assert params.pop("tol") == model.default_tol
    assert params.pop("random_state") is None
    # what is left: scikit-learn's names for explicit starting values
    assert set(params) <= {"init", "weights_init", "means_init", "precisions_init"}
    k_name = "n_clusters" if cls in (es.KMeans, es.KMedians, es.FuzzyCMeans) else "n_components"
    assert es.sklearn_name(model, "K") == k_name
    assert getattr(cls(7), k_name) == 7  # the first argument is positional


def test_bad_argument_named_as_the_user_wrote_it():
    with pytest.raises(ValueError, match="n_clusters = 0 is below its minimum 1"):
        es.KMeans(0).fit(blobs(0))
    with pytest.raises(ValueError, match="init = 'nope' is not one of"):
        es.GaussianMixture(init="nope").fit(blobs(0))
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_components=4"):
        es.GaussianMixture(4).fit(blobs(0)[:3])


def test_sample_weight_refused_with_a_clear_message():
    with pytest.raises(TypeError, match="GaussianMixture does not support sample_weight"):
        es.GaussianMixture(2).fit(blobs(0), sample_weight=np.ones(300))


# ---- the same fit as explorer.fit ---------------------------------------------------------


def explorer_fit(cls, X, seed, **hp):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return explorer.fit(ESTIMATORS[cls], table(X), seed=seed, **hp)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_same_fit_as_explorer_fit(cls):
    X = data_for(cls)
    k = 3
    threads = numba.get_num_threads()
    # (300 rows: one chunk, so the estimator runs the kernels on one thread and puts the count
    # back; explorer.fit runs them on every thread: the chunks fix the sums, the same fit)
    est = cls(k, random_state=11, max_iter=200).fit(X)
    assert numba.get_num_threads() == threads
    ref = explorer_fit(cls, X, 11, K=k, max_iter=200)
    params = ref.model.parameters()
    np.testing.assert_array_equal(est.labels_, ref.model.labels())
    assert est.n_iter_ == ref.iterations
    assert est.converged_ == ref.converged
    if cls in (es.KMeans, es.KMedians, es.FuzzyCMeans):
        np.testing.assert_allclose(est.cluster_centers_, params["centers"], rtol=1e-12)
        assert est.inertia_ == pytest.approx(ref.final_objective, rel=1e-12)
    else:
        np.testing.assert_allclose(est.weights_, params["weights"], rtol=1e-12)
        assert est.lower_bound_ * len(X) == pytest.approx(ref.final_objective, rel=1e-12)
        # the new-row E-step on the training rows gives the fitted responsibilities
        np.testing.assert_allclose(
            est.predict_proba(X), params["responsibilities"], rtol=1e-9, atol=1e-12
        )
        np.testing.assert_array_equal(est.predict(X), est.labels_)
        if "bic" in ref.metrics:
            assert est.bic(X) == pytest.approx(ref.metrics["bic"], rel=1e-10)
            assert est.aic(X) == pytest.approx(ref.metrics["aic"], rel=1e-10)
    if cls is es.FuzzyCMeans:
        np.testing.assert_allclose(
            est.predict_proba(X), params["memberships"], rtol=1e-10, atol=1e-14
        )
        assert -est.score(X) == pytest.approx(ref.final_objective, rel=1e-10)
    if cls in (es.KMeans, es.KMedians):
        np.testing.assert_array_equal(est.predict(X), est.labels_)
        assert -est.score(X) == pytest.approx(ref.final_objective, rel=1e-10)


def test_log_likelihood_of_new_rows_is_the_models():
    # score_samples summed over the training rows is the model's own log-likelihood
    for cls in (es.GaussianMixture, es.ExponentialMixture, es.BernoulliMixture):
        X = data_for(cls)
        est = cls(3, random_state=2).fit(X)
        ref = explorer_fit(cls, X, 2, K=3)
        assert est.score_samples(X).sum() == pytest.approx(ref.model.loglik, rel=1e-10)


# ---- the same fit as scikit-learn from the same start -------------------------------------


@pytest.mark.parametrize("seed, k", [(0, 3), (1, 5)])
def test_kmeans_equals_sklearn_from_same_centres(seed, k):
    X = blobs(seed, n=500, d=4, k=4)
    c0 = kmeans_plusplus(X, k, np.random.default_rng(seed + 100))
    est = es.KMeans(k, init=c0, n_init=1, tol=0.0).fit(X)
    sk = SkKMeans(k, init=c0, n_init=1, algorithm="lloyd", tol=0.0, max_iter=300).fit(X)
    np.testing.assert_array_equal(est.labels_, sk.labels_)
    np.testing.assert_allclose(est.cluster_centers_, sk.cluster_centers_, rtol=1e-8)
    assert est.inertia_ == pytest.approx(sk.inertia_, rel=1e-8)
    np.testing.assert_allclose(est.transform(X), sk.transform(X), rtol=1e-8)
    assert est.score(X) == pytest.approx(sk.score(X), rel=1e-8)
    np.testing.assert_array_equal(est.predict(X[:50] + 0.3), sk.predict(X[:50] + 0.3))


@pytest.mark.parametrize("n_iter", [1, 25])
def test_gmm_equals_sklearn_from_same_parameters(n_iter):
    X = blobs(3, n=600, d=3, k=4) + 20.0
    rng = np.random.default_rng(7)
    K = 4
    start = {
        "weights_init": rng.dirichlet(np.ones(K) * 5),
        "means_init": X[rng.choice(len(X), K, replace=False)],
        "precisions_init": np.array([np.linalg.inv(np.cov(X.T) * s) for s in (0.3, 0.5, 0.8, 1.0)]),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0: never "converged"
        est = es.GaussianMixture(K, max_iter=n_iter, tol=0.0, **start).fit(X)
        # the same number of EM iterations: the runner stops before max_iter where the
        # log-likelihood repeated bit for bit (stationary to second order while the parameters
        # may still move by ~1e-9), scikit-learn with tol=0 never does
        sk = SkGMM(
            K,
            covariance_type="full",
            max_iter=est.n_iter_,
            tol=0.0,
            reg_covar=1e-6,
            random_state=0,
            **start,
        ).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        np.testing.assert_allclose(
            getattr(est, name), getattr(sk, name), rtol=1e-8, atol=1e-12, err_msg=name
        )
    Y = X[::7] + rng.normal(size=(len(X[::7]), 3))  # new rows
    np.testing.assert_allclose(est.predict_proba(Y), sk.predict_proba(Y), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(est.score_samples(Y), sk.score_samples(Y), rtol=1e-8)
    np.testing.assert_array_equal(est.predict(Y), sk.predict(Y))
    assert est.bic(X) == pytest.approx(sk.bic(X), rel=1e-8)
    assert est.aic(X) == pytest.approx(sk.aic(X), rel=1e-8)
    assert sk.n_iter_ == est.n_iter_ <= n_iter


def test_hardened_fuzzy_cmeans_is_sklearn_kmeans_from_same_centres():
    # fuzzy c-means with harden=True is K-means exactly (the model's docstring): an independent
    # check of the centre estimators' given-start path besides KMeans itself
    X = blobs(5, n=400, d=2, k=4)
    c0 = X[[0, 1, 2, 3]]
    est = es.FuzzyCMeans(4, harden=True, init=c0, tol=0.0).fit(X)
    sk = SkKMeans(4, init=c0, n_init=1, algorithm="lloyd", tol=0.0).fit(X)
    np.testing.assert_array_equal(est.labels_, sk.labels_)
    np.testing.assert_allclose(est.cluster_centers_, sk.cluster_centers_, rtol=1e-8)
    np.testing.assert_array_equal(est.predict_proba(X).argmax(axis=1), sk.labels_)


def test_new_rows_against_independent_formulas():
    from scipy.special import logsumexp as lse
    from scipy.stats import bernoulli, expon

    rng = np.random.default_rng(3)
    # exponential mixture: scipy's exponential log-densities
    X = data_for(es.ExponentialMixture)
    est = es.ExponentialMixture(3, random_state=1).fit(X)
    Y = rng.exponential(size=(40, X.shape[1]))
    lp = np.log(est.weights_)[None, :] + np.stack(
        [expon.logpdf(Y, scale=1.0 / est.rates_[k]).sum(axis=1) for k in range(3)], axis=1
    )
    np.testing.assert_allclose(est.score_samples(Y), lse(lp, axis=1), rtol=1e-12)
    # Bernoulli mixture: scipy's Bernoulli log-probabilities
    X = data_for(es.BernoulliMixture)
    est = es.BernoulliMixture(3, random_state=1).fit(X)
    Y = (rng.random((40, X.shape[1])) < 0.5).astype(float)
    lp = np.log(est.weights_)[None, :] + np.stack(
        [bernoulli.logpmf(Y, est.theta_[k]).sum(axis=1) for k in range(3)], axis=1
    )
    np.testing.assert_allclose(est.score_samples(Y), lse(lp, axis=1), rtol=1e-12)
    np.testing.assert_allclose(
        est.predict_proba(Y), np.exp(lp - lse(lp, axis=1, keepdims=True)), rtol=1e-10, atol=1e-15
    )
    # fuzzy c-means: r_ik = 1 / sum_j (d_ik / d_ij)^(1/(m-1)), d squared distances
    X = blobs(2)
    est = es.FuzzyCMeans(3, m=1.7, random_state=0).fit(X)
    Y = rng.normal(scale=5.0, size=(40, X.shape[1]))
    d = ((Y[:, None, :] - est.cluster_centers_[None]) ** 2).sum(axis=2)
    r = 1.0 / ((d[:, :, None] / d[:, None, :]) ** (1.0 / 0.7)).sum(axis=2)
    np.testing.assert_allclose(est.predict_proba(Y), r, rtol=1e-10)
    # a row on a centre belongs to it alone
    np.testing.assert_array_equal(est.predict_proba(est.cluster_centers_[[1]]), [[0, 1, 0]])
    # K-medians: L1 distances
    est = es.KMedians(3, random_state=0).fit(X)
    np.testing.assert_allclose(
        est.transform(Y), np.abs(Y[:, None, :] - est.cluster_centers_[None]).sum(axis=2), rtol=1e-12
    )


def sklearn_bgmm_with_the_explorers_prior(X, m0, sigma2, n_iter):
    """scikit-learn's BayesianGaussianMixture made the explorer's model: a Dirichlet weight prior
    and a Wishart precision prior so concentrated (1e16) that the weights are 1/K and every
    precision is I to ~1e-14, the mean prior N(0, sigma2 I) (mean_precision_prior = 1/sigma2), and
    warm-started at the explorer's first state: q(mu_k) = N(m0_k, I)."""
    K, D = m0.shape
    big = 1e16
    sk = SkBGM(
        n_components=K,
        covariance_type="full",
        weight_concentration_prior_type="dirichlet_distribution",
        weight_concentration_prior=big,
        mean_precision_prior=1.0 / sigma2,
        mean_prior=np.zeros(D),
        degrees_of_freedom_prior=big,
        covariance_prior=big * np.eye(D),
        reg_covar=0.0,
        max_iter=n_iter,
        tol=0.0,
        warm_start=True,
    )
    sk.weight_concentration_ = np.full(K, big)
    sk.mean_precision_ = np.ones(K)
    sk.means_ = m0.copy()
    sk.degrees_of_freedom_ = np.full(K, big)
    sk.covariances_ = np.broadcast_to(np.eye(D), (K, D, D)).copy()
    sk.precisions_cholesky_ = sk.covariances_.copy()
    sk.converged_ = False
    sk.lower_bound_ = -np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return sk.fit(X)


@pytest.mark.parametrize("n_iter", [1, 30])
def test_bayesian_gmm_equals_sklearn_with_the_same_prior(n_iter):
    X = data_for(es.BayesianGaussianMixture, seed=4)
    K, sigma2, seed = 3, 4.0, 9
    first = get_model("bayes-gmm")(K=K, sigma2=sigma2)
    first.initialize(table(X), seed)  # the estimator's start for this seed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = es.BayesianGaussianMixture(
            K, sigma2=sigma2, random_state=seed, max_iter=n_iter, tol=0.0
        ).fit(X)
    sk = sklearn_bgmm_with_the_explorers_prior(X, first.m, sigma2, est.n_iter_)
    assert sk.n_iter_ == est.n_iter_ <= n_iter
    np.testing.assert_allclose(est.means_, sk.means_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(est.mean_precision_, sk.mean_precision_, rtol=1e-8)
    np.testing.assert_allclose(est.predict_proba(X), sk.predict_proba(X), rtol=1e-8, atol=1e-12)
    np.testing.assert_array_equal(est.predict(X), sk.predict(X))


# ---- estimator behaviour --------------------------------------------------------------------


@pytest.mark.parametrize("cls", [es.KMeans, es.GaussianMixture])
def test_float32_is_fitted_as_float32(cls, monkeypatch):
    seen = []
    real = es.TableData

    def spy(**kw):
        seen.append(kw["X"].dtype)
        return real(**kw)

    monkeypatch.setattr(es, "TableData", spy)
    X = blobs(1).astype(np.float32)
    est = cls(3, random_state=0).fit(X)
    assert seen == [np.float32]
    ref = explorer_fit(cls, X, 0, K=3)  # explorer.fit on the float32 table: the same fit
    np.testing.assert_array_equal(est.labels_, ref.model.labels())
    if cls is es.KMeans:
        assert est.transform(X).dtype == np.float32


def test_other_models_take_float32_as_float64(monkeypatch):
    seen = []
    real = es.TableData
    monkeypatch.setattr(es, "TableData", lambda **kw: seen.append(kw["X"].dtype) or real(**kw))
    es.KMedians(3, random_state=0).fit(blobs(1).astype(np.float32))
    assert seen == [np.float64]


def test_given_start_runs_one_restart_and_says_so():
    X = blobs(0)
    c0 = X[:3]
    with pytest.warns(RuntimeWarning, match="one restart is run"):
        es.KMeans(3, init=c0, n_init=4).fit(X)
    with pytest.raises(ValueError, match="together"):
        es.GaussianMixture(3, means_init=X[:3]).fit(X)


def test_fitted_estimator_pickles_small_and_predicts_the_same():
    X = blobs(0, n=5000)
    est = es.GaussianMixture(3, random_state=0).fit(X)
    blob = pickle.dumps(est)
    # the fitted parameters and labels_ (40 kB), not the training rows' responsibilities
    # (5000 x 3 doubles, 120 kB) nor the data
    assert len(blob) < 60_000
    again = pickle.loads(blob)
    np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))
    assert clone(est).get_params() == est.get_params()


def test_bernoulli_new_rows_follow_binarize():
    X = data_for(es.BernoulliMixture)
    est = es.BernoulliMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="takes 0/1 data.*binarize=True"):
        est.predict(X + 0.5)
    binar = es.BernoulliMixture(2, binarize=True, threshold=0.5, random_state=0).fit(X)
    np.testing.assert_array_equal(binar.predict(X * 0.9 + 0.05), binar.predict(X))


def test_exponential_refuses_negative_rows():
    est = es.ExponentialMixture(2, random_state=0).fit(data_for(es.ExponentialMixture))
    with pytest.raises(ValueError, match="Negative values in data passed to ExponentialMixture"):
        est.predict(-np.ones((2, 3)))


def test_explorer_does_not_import_sklearn():
    code = (
        "import sys, explorer, explorer.api, explorer.models, explorer.runner;"
        "explorer.fit; from explorer.models import registry; registry();"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'sklearn'], 'sklearn'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_missing_sklearn_says_how_to_get_it():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'sklearn': raise ImportError('no sklearn here')\n"
        "sys.meta_path.insert(0, Block())\n"
        "try:\n"
        "    import explorer.sklearn\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert "explorer.sklearn needs scikit-learn" in out and "pip install" in out


# ---- the docs page --------------------------------------------------------------------------


def python_blocks(path):
    """The ```python blocks of a Markdown page, except those preceded by <!-- not-run: ... -->."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for m in re.finditer(r"^```python\n(.*?)^```", text, flags=re.S | re.M):
        before = text[: m.start()].rstrip().splitlines()
        if before and before[-1].startswith("<!-- not-run:"):
            continue
        blocks.append(m.group(1))
    return blocks


def test_docs_table_lists_every_argument_and_default():
    import inspect

    doc = (ROOT / "docs" / "sklearn.md").read_text(encoding="utf-8")
    for cls in ESTIMATORS:
        row = next(line for line in doc.splitlines() if line.startswith(f"| `{cls.__name__}` |"))
        args = list(inspect.signature(cls.__init__).parameters.values())[1:]
        for p in args:
            assert re.search(rf"`{p.name}`( \(`\w+`\))?={re.escape(repr(p.default))}", row), (
                cls.__name__,
                p.name,
            )
        assert row.count("=") == len(args)


def test_docs_page_examples_run(monkeypatch):
    monkeypatch.chdir(ROOT)  # the blocks read sample_data/ from the repository root
    blocks = python_blocks(ROOT / "docs" / "sklearn.md")
    assert len(blocks) >= 2
    for code in blocks:
        exec(compile(code, "docs/sklearn.md", "exec"), {"__name__": "__main__"})
