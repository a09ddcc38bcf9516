"""scikit-learn estimators over the explorer's table models (docs/sklearn.md).

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    import explorer.sklearn
    pipe = make_pipeline(StandardScaler(), explorer.sklearn.GaussianMixture(3)).fit(X)
    pipe.predict(X_new)

One estimator per table model: :class:`KMeans`, :class:`KMedians`, :class:`FuzzyCMeans`,
:class:`GaussianMixture`, :class:`BernoulliMixture`, :class:`ExponentialMixture`,
:class:`BayesianGaussianMixture`. Each is a thin front door, beside :mod:`explorer.api`: ``fit``
validates the input with scikit-learn's ``validate_data``, wraps it as a table and runs the
explorer's own model through :func:`explorer.runner.fit` (restarts, stop rule, best restart), or,
from explicit initial centres or parameters, one restart through :func:`explorer.runner.iterate`.
Nothing of the models' mathematics is repeated here: new rows are assigned by the models' own
``distances`` / ``memberships_for`` / ``weighted_log_prob`` from the fitted parameters.

Constructor arguments are generated from the model's declared hyperparameters (the one
declaration in ``explorer/models/<model>.py``: defaults, ranges and checks come from there), with
the one rename in :data:`RENAMED` (``K`` -> ``n_clusters`` for the centre models, ``n_components``
for the mixtures, as scikit-learn calls them), plus ``max_iter`` and ``tol`` (the runner's, with the
model's defaults: ``tol`` is the relative change of the objective, see docs/sklearn.md),
``random_state`` and, where the model takes explicit starting values, scikit-learn's names for them
(``init`` as an array of centres; ``weights_init``, ``means_init``, ``precisions_init``).

scikit-learn is optional for the explorer: ``import explorer`` never imports it; importing this
module needs it (``pip install scikit-learn``) and says so when it is missing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
import numbers
import warnings
from typing import Any, ClassVar

import numba
import numpy as np

try:
    from sklearn.base import (
        BaseEstimator,
        ClassNamePrefixFeaturesOutMixin,
        ClusterMixin,
        DensityMixin,
        TransformerMixin,
    )
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils import check_random_state
    from sklearn.utils.validation import check_is_fitted, check_non_negative, validate_data
except ImportError as e:  # scikit-learn missing, or older than 1.6 (no validate_data)
    raise ImportError(
        "explorer.sklearn needs scikit-learn 1.6 or newer (pip install 'scikit-learn>=1.6'); "
        f"the rest of the explorer works without it ({e})"
    ) from e

from scipy.special import logsumexp

from explorer import runner
from explorer.data.columnar import RowNumbers
from explorer.data.types import TableData
from explorer.models._centres import CentreModel
from explorer.models._mixture import MixtureModel
from explorer.models._mixture_kernels import chunk_count
from explorer.models.base import Model, check_seed
from explorer.models.bayes_gmm import BayesianGMM as _BayesianGMM
from explorer.models.bernoulli_mixture import BernoulliMixture as _BernoulliMixture
from explorer.models.exponential_mixture import ExponentialMixture as _ExponentialMixture
from explorer.models.fuzzy_cmeans import FuzzyCMeans as _FuzzyCMeans
from explorer.models.gmm import GaussianMixture as _GaussianMixture
from explorer.models.kmeans import KMeans as _KMeans
from explorer.models.kmedians import KMedians as _KMedians

__all__ = [
    "RENAMED",
    "BayesianGaussianMixture",
    "BernoulliMixture",
    "ExponentialMixture",
    "FuzzyCMeans",
    "GaussianMixture",
    "KMeans",
    "KMedians",
    "expected_failed_checks",
    "sklearn_name",
]

# The only hyperparameters whose scikit-learn name differs from the explorer's, by model family.
# Every other declared hyperparameter keeps its name (n_init, reg_covar, init, m, ...): either
# scikit-learn uses the same name for the same thing, or it has no such parameter.
RENAMED: dict[str, dict[type[Model], str]] = {
    "K": {CentreModel: "n_clusters", MixtureModel: "n_components"},
}

# Per-row arrays of ``Model.parameters()``: the fitted state of the training rows, kept as
# ``labels_`` / ``memberships_`` where useful but not among the parameters new rows are scored by.
_PER_ROW = frozenset({"labels", "memberships", "responsibilities", "phi"})

# The runner's arguments, beside the declared hyperparameters, in every constructor.
_RUN_ARGUMENTS = ("max_iter", "tol", "random_state")


def sklearn_name(model: type[Model], name: str) -> str:
    """The constructor argument of ``model``'s hyperparameter ``name`` (see :data:`RENAMED`)."""
    for family, new in RENAMED.get(name, {}).items():
        if issubclass(model, family):
            return new
    return name


def _refuse_fit_params(estimator, fit_params: dict) -> None:
    if "sample_weight" in fit_params:
        raise TypeError(
            f"{type(estimator).__name__} does not support sample_weight: the explorer's "
            f"{estimator._model.name} fits every row with weight 1 (repeat rows to weight them)"
        )
    if fit_params:
        raise TypeError(
            f"{type(estimator).__name__}.fit got unexpected argument(s): "
            f"{', '.join(sorted(fit_params))}"
        )


def _seed(random_state) -> int:
    """The explorer's seed (restart r uses seed + r) from scikit-learn's ``random_state``: an int
    is the seed itself (so ``random_state=s`` fits as ``explorer.fit(..., seed=s)``), None or a
    RandomState draws one."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return check_seed(int(random_state))
    if random_state is None or isinstance(random_state, np.random.RandomState):
        return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    raise ValueError(
        f"random_state must be None, an int >= 0 or a numpy RandomState, got {random_state!r}"
    )


@contextlib.contextmanager
def _one_thread_for_one_chunk(n: int):
    """Run numba's parallel kernels on one thread (in this thread only) while the data is a single
    chunk of rows (``chunk_count(n) == 1``, under 4,096 rows): a parallel loop over one chunk has
    nothing to share out, but each pass still wakes the pool, which on a loaded 2-core machine
    cost 10-50x the pass itself (20 Bernoulli-mixture fits of 100 rows: 28-56 s on 2 threads, 1.1 s
    on one). The chunks, not the threads, fix the order of the sums: the results are the same."""
    before = numba.get_num_threads()
    if chunk_count(n) > 1 or before == 1:
        yield
        return
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


class _ExplorerEstimator(BaseEstimator):
    """What every estimator shares: the generated constructor, ``fit`` through the runner, input
    validation and the fitted attributes every model has."""

    _model: ClassVar[type[Model]]
    # Explicit starting values: constructor argument (scikit-learn's name) -> the model's
    # ``initialize`` keyword; a None (or "k-means++" for ``init``) means "from the seed".
    _start_arguments: ClassVar[dict[str, str]] = {}
    # The dtypes fit takes as they are (float32 only where the model computes on float32).
    _dtypes: ClassVar[tuple] = (np.float64,)
    # The fewest rows the model fits (besides n_samples >= K).
    _min_samples: ClassVar[int] = 1
    # Checks of scikit-learn's suite this estimator is known to fail: check name -> why.
    # (scikit-learn >= 1.6 takes them through ``parametrize_with_checks(expected_failed_checks=)``
    # rather than a tag; :func:`expected_failed_checks` hands them over. Listed in docs/sklearn.md.)
    _expected_failed_checks: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "_model" in cls.__dict__:
            cls.__init__ = _make_init(cls)

    # ---- the constructor's arguments ----------------------------------------------------
    @classmethod
    def _hyperparameter_names(cls) -> dict[str, str]:
        """Constructor argument -> the model's hyperparameter, in declaration order."""
        return {sklearn_name(cls._model, spec.name): spec.name for spec in cls._model.param_specs()}

    def _hyperparameters(self):
        """The model's frozen Hyperparameters from the current arguments, checked by the
        declarations (HyperparameterError, a ValueError: one line naming the argument)."""
        values = {}
        for spec in self._model.param_specs():
            arg = sklearn_name(self._model, spec.name)
            spec = dataclasses.replace(spec, name=arg)  # messages name the argument
            value = spec.coerce(getattr(self, arg))
            spec.check(value)
            values[arg] = value
        renamed = self._hyperparameter_names()
        return self._model.Hyperparameters(**{renamed[arg]: v for arg, v in values.items()})

    def _run_settings(self) -> tuple[int, float]:
        max_iter, tol = self.max_iter, self.tol
        if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 1:
            raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
        if (
            isinstance(tol, bool)
            or not isinstance(tol, numbers.Real)
            or not (math.isfinite(tol) and tol >= 0)
        ):
            raise ValueError(f"tol must be a number >= 0, got {tol!r}")
        return int(max_iter), float(tol)

    def _given_start(self, D: int) -> dict[str, Any]:
        """The model's ``initialize`` keywords for explicit starting values, or {}."""
        return {}

    # ---- fitting ------------------------------------------------------------------------
    def _validate(self, X, hp, *, reset: bool) -> np.ndarray:
        X = validate_data(
            self,
            X,
            dtype=list(self._dtypes),
            reset=reset,
            ensure_min_samples=self._min_samples if reset else 1,
        )
        return self._check_values(X, hp)

    def _check_values(self, X: np.ndarray, hp) -> np.ndarray:
        """Model-specific checks and conversions of validated rows (fit and new rows)."""
        return X

    def _fit_model(self, X, fit_params: dict) -> Model:
        _refuse_fit_params(self, fit_params)
        hp = self._hyperparameters()
        X = self._validate(X, hp, reset=True)
        max_iter, tol = self._run_settings()
        seed = _seed(self.random_state)
        n = X.shape[0]
        k_name = sklearn_name(self._model, "K")
        if n < hp.K:
            raise ValueError(f"n_samples={n} should be >= {k_name}={hp.K}")
        columns = (
            [str(c) for c in self.feature_names_in_]
            if hasattr(self, "feature_names_in_")
            else [f"x{j}" for j in range(X.shape[1])]
        )
        data = TableData(X=X, columns=columns, ids=RowNumbers(n))
        model = self._model(hp)
        given = self._given_start(X.shape[1])
        if given:
            if hp.n_init > 1:
                warnings.warn(
                    f"{type(self).__name__}: explicit initial values given, so one "
                    f"restart is run (not n_init={hp.n_init})",
                    RuntimeWarning,
                    stacklevel=3,
                )
            with _one_thread_for_one_chunk(n):
                model.prepare(data)
                model.initialize(data, seed, **given)
                steps = runner.iterate(model, max_iter=max_iter, tol=tol)
                while True:
                    try:
                        next(steps)
                    except StopIteration as stop:
                        run: runner.Restart = stop.value
                        break
            trace, converged, reason = run.trace, run.converged, run.stop_reason
            objective = run.objective
        else:
            with _one_thread_for_one_chunk(n):
                result = runner.fit(
                    model, data, seed=seed, max_iter=max_iter, tol=tol, snapshots=False
                )
            model = result.model
            trace, converged, reason = result.trace, result.converged, result.stop_reason
            objective = result.final_objective
        if not trace or not math.isfinite(objective):
            raise ValueError(
                f"{type(self).__name__}: the fit failed ({reason}); " + "; ".join(model.notes)
            )
        if reason.startswith("degenerate"):
            warnings.warn(f"{type(self).__name__}: {reason}", UserWarning, stacklevel=3)
        elif not converged:
            warnings.warn(
                f"{type(self).__name__} did not converge in {max_iter} iterations "
                f"({reason}); increase max_iter or tol",
                ConvergenceWarning,
                stacklevel=3,
            )
        self._hyperparameters_ = hp
        self._parameters = {
            name: value for name, value in model.parameters().items() if name not in _PER_ROW
        }
        self.labels_ = np.asarray(model.labels(), dtype=np.int64)
        self.n_iter_ = len(trace)
        self.converged_ = bool(converged)
        self.objective_trace_ = np.asarray(trace, dtype=np.float64)
        self.notes_ = list(model.notes)
        self._set_fitted(model, objective, n)
        return model

    def _set_fitted(self, model: Model, objective: float, n: int) -> None:
        """The model-specific fitted attributes (with trailing underscores)."""

    def fit(self, X, y=None, **fit_params):
        """Fit the model to ``X`` (n_samples, n_features); ``y`` is ignored. Returns self."""
        self._fit_model(X, fit_params)
        return self

    def fit_predict(self, X, y=None, **fit_params):
        """Fit, then return the training rows' labels (``labels_``)."""
        return self.fit(X, **fit_params).labels_

    def _unfitted_model(self) -> Model:
        """The model with the fitted hyperparameters (no state): its new-row methods read the
        fitted parameters they are given."""
        return self._model(self._hyperparameters_)

    def _new_rows(self, X) -> np.ndarray:
        check_is_fitted(self)
        return self._validate(X, self._hyperparameters_, reset=False)


def _make_init(cls):
    """``cls.__init__`` with an explicit signature built from the model's declarations (scikit-
    learn's ``get_params`` reads the signature): the first argument positional, the rest keyword
    only, each default the declared one; the body stores every argument unchanged."""
    model = cls._model
    args = [(sklearn_name(model, spec.name), spec.default) for spec in model.param_specs()]
    args += [
        ("max_iter", model.default_max_iter),
        ("tol", model.default_tol),
        ("random_state", None),
    ]
    args += [(name, "k-means++" if name == "init" else None) for name in cls._start_arguments]
    names = [name for name, _ in args]
    if len(set(names)) != len(names):
        raise TypeError(f"{cls.__name__}: constructor arguments named twice: {names}")
    P = inspect.Parameter
    params = [P("self", P.POSITIONAL_OR_KEYWORD)]
    for i, (name, default) in enumerate(args):
        params.append(
            P(name, P.POSITIONAL_OR_KEYWORD if i == 0 else P.KEYWORD_ONLY, default=default)
        )
    signature = inspect.Signature(params)

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        for name in names:
            setattr(self, name, bound.arguments[name])

    __init__.__signature__ = signature
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__module__ = cls.__module__
    __init__.__doc__ = (
        f"Arguments: {', '.join(names)} (see the class docstring and docs/sklearn.md)."
    )
    return __init__


def expected_failed_checks(estimator) -> dict[str, str]:
    """The checks of scikit-learn's suite ``estimator`` is declared to fail, with the reason
    (for ``parametrize_with_checks(..., expected_failed_checks=expected_failed_checks)``)."""
    return dict(getattr(estimator, "_expected_failed_checks", {}))


# ---- the centre models -----------------------------------------------------------------------


class _CentreEstimator(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, _ExplorerEstimator
):
    """K-means, K-medians, fuzzy c-means: ``cluster_centers_``, ``labels_``, ``inertia_`` (the
    minimised distortion of the training rows), ``predict`` (nearest centre), ``transform``
    (distances to the centres) and ``score`` (minus the distortion of the given rows)."""

    _start_arguments = {"init": "centers"}

    def _given_start(self, D: int) -> dict[str, Any]:
        init = self.init
        if isinstance(init, str):
            if init != "k-means++":
                raise ValueError(
                    f"init must be 'k-means++' or an array of initial centres of "
                    f"shape (n_clusters, n_features), got {init!r}"
                )
            return {}
        return {"centers": np.array(init, dtype=np.float64)}

    def _set_fitted(self, model, objective, n):
        self.cluster_centers_ = self._parameters["centers"]
        self.inertia_ = float(objective)
        self._n_features_out = self.cluster_centers_.shape[0]

    def _distances(self, X) -> np.ndarray:
        return self._unfitted_model().distances(self._parameters, X)

    def predict(self, X):
        """The nearest centre of every row (lowest index on ties), as in the fit."""
        return self._distances(self._new_rows(X)).argmin(axis=1).astype(np.int64)

    def transform(self, X):
        """(n_samples, n_clusters) distances to the centres (Euclidean; L1 for K-medians)."""
        X = self._new_rows(X)
        d = self._distances(X)
        if self._squared:
            d = np.sqrt(d)
        return d.astype(X.dtype, copy=False)

    def fit_transform(self, X, y=None, **fit_params):
        return self.fit(X, **fit_params).transform(X)

    def score(self, X, y=None):
        """Minus the distortion of ``X`` under the fitted centres (higher is better)."""
        X = self._new_rows(X)
        return -float(self._distances(X).min(axis=1).sum())

    _squared: ClassVar[bool] = True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = [np.dtype(t).name for t in self._dtypes]
        return tags


class KMeans(_CentreEstimator):
    """K-means (the explorer's ``kmeans``: Lloyd's algorithm, greedy k-means++ seeding, ``n_init``
    restarts keeping the lowest distortion). ``init``: "k-means++" or an (n_clusters, n_features)
    array of initial centres. float32 input is fitted as float32 (centres in float64)."""

    _model = _KMeans
    _dtypes = (np.float64, np.float32)


class KMedians(_CentreEstimator):
    """K-medians (``kmedians``): L1 assignment, coordinate-wise median centres, L1 k-means++
    seeding. ``transform`` gives L1 distances, ``inertia_`` the sum of L1 distances."""

    _model = _KMedians
    _squared = False


class FuzzyCMeans(_CentreEstimator):
    """Fuzzy c-means (``fuzzy-cmeans``, fuzzifier ``m``): ``predict_proba`` gives the memberships
    of new rows, ``memberships_`` those of the training rows, ``inertia_`` and ``score`` use
    J_m = sum r^m ||x - u||^2."""

    _model = _FuzzyCMeans

    def _set_fitted(self, model, objective, n):
        super()._set_fitted(model, objective, n)
        self.memberships_ = np.array(model.memberships(), copy=True)

    def predict_proba(self, X):
        """(n_samples, n_clusters) memberships (rows sum to 1)."""
        X = self._new_rows(X)
        return self._unfitted_model().memberships_for(self._parameters, X)

    def score(self, X, y=None):
        """Minus J_m of ``X`` with the memberships the fitted centres give it."""
        X = self._new_rows(X)
        model = self._unfitted_model()
        R = model.memberships_for(self._parameters, X)
        return -float(
            np.sum(R ** float(self._hyperparameters_.m) * model.distances(self._parameters, X))
        )


# ---- the mixtures ----------------------------------------------------------------------------


class _MixtureEstimator(DensityMixin, _ExplorerEstimator):
    """The mixtures: ``weights_``, ``labels_``, ``lower_bound_`` (the fit's objective per row: the
    log-likelihood, log-posterior or ELBO of the returned state, divided by n_samples),
    ``predict`` / ``predict_proba`` (the E-step on new rows), ``score_samples`` (each row's log
    density) and ``score`` (their mean)."""

    def _set_fitted(self, model, objective, n):
        self.weights_ = self._parameters["weights"]
        self.lower_bound_ = float(objective) / n

    def _weighted_log_prob(self, X) -> np.ndarray:
        return self._unfitted_model().weighted_log_prob(self._parameters, X)

    def predict(self, X):
        """The component of highest responsibility for every row."""
        return self._weighted_log_prob(self._new_rows(X)).argmax(axis=1).astype(np.int64)

    def predict_proba(self, X):
        """(n_samples, n_components) responsibilities (rows sum to 1)."""
        lp = self._weighted_log_prob(self._new_rows(X))
        return np.exp(lp - logsumexp(lp, axis=1, keepdims=True))

    def score_samples(self, X):
        """Each row's log density under the fitted mixture, log sum_k pi_k p(x | k)."""
        return logsumexp(self._weighted_log_prob(self._new_rows(X)), axis=1)

    def score(self, X, y=None):
        """The mean of ``score_samples`` (per-row log-likelihood, as scikit-learn's mixtures)."""
        return float(self.score_samples(X).mean())


class _InformationCriteria:
    """``bic`` / ``aic`` of the log-likelihood of given rows, with the model's count of free
    parameters (as scikit-learn's GaussianMixture.bic / aic; lower is better)."""

    def _n_parameters(self) -> int:
        check_is_fitted(self)
        K = len(self.weights_)
        return int(self._model.free_parameters(K, self.n_features_in_, self._hyperparameters_))

    def bic(self, X):
        X = self._new_rows(X)
        n = X.shape[0]
        return float(-2.0 * self.score(X) * n + self._n_parameters() * math.log(n))

    def aic(self, X):
        X = self._new_rows(X)
        return float(-2.0 * self.score(X) * X.shape[0] + 2.0 * self._n_parameters())


class GaussianMixture(_InformationCriteria, _MixtureEstimator):
    """Gaussian mixture with full covariances by EM (``gmm``). Fitted: ``weights_``, ``means_``,
    ``covariances_``, ``precisions_``, ``precisions_cholesky_`` (scikit-learn's conventions).
    ``weights_init``, ``means_init``, ``precisions_init`` (scikit-learn's names and shapes) start
    from given parameters; ``init`` (kmeans, k-means++, random) is the explorer's initialisation
    otherwise. float32 input is fitted as float32 (parameters in float64)."""

    _model = _GaussianMixture
    _dtypes = (np.float64, np.float32)
    _min_samples = 2  # a covariance needs two rows
    _start_arguments = {
        "weights_init": "weights",
        "means_init": "means",
        "precisions_init": "precisions",
    }

    def _given_start(self, D: int) -> dict[str, Any]:
        given = {key: getattr(self, arg) for arg, key in self._start_arguments.items()}
        if all(v is None for v in given.values()):
            return {}
        if any(v is None for v in given.values()):
            raise ValueError(
                "give weights_init, means_init and precisions_init together "
                "(the explorer's EM starts from all three)"
            )
        return given

    def _set_fitted(self, model, objective, n):
        super()._set_fitted(model, objective, n)
        p = self._parameters
        self.means_ = p["means"]
        self.covariances_ = p["covariances"]
        self.precisions_cholesky_ = p["precisions_cholesky"]
        self.precisions_ = np.einsum(
            "kij,klj->kil", p["precisions_cholesky"], p["precisions_cholesky"]
        )


class BayesianGaussianMixture(_MixtureEstimator):
    """Bayesian mixture of unit-variance Gaussians by CAVI (``bayes-gmm``): mu_k ~ N(0, sigma2 I),
    uniform mixing weights, x | c = k ~ N(mu_k, I) (best on standardised data). Fitted:
    ``means_`` and ``mean_precision_`` (q(mu_k) = N(means_k, I / mean_precision_k), scikit-
    learn's names), ``weights_`` (average responsibilities), ``covariances_`` (the fixed I),
    ``lower_bound_`` (ELBO per row). ``score_samples`` is the variational analogue of the log
    density, log sum_k (1/K) exp(E_q[log N(x | mu_k, I)]), as scikit-learn's does."""

    _model = _BayesianGMM

    def _set_fitted(self, model, objective, n):
        super()._set_fitted(model, objective, n)
        p = self._parameters
        self.means_ = p["m"]
        self.mean_precision_ = 1.0 / p["s2"]
        K, D = p["m"].shape
        self.covariances_ = np.broadcast_to(np.eye(D), (K, D, D)).copy()


class BernoulliMixture(_InformationCriteria, _MixtureEstimator):
    """Mixture of products of Bernoullis for 0/1 data by MAP-EM (``bernoulli-mixture``), Beta(a, b)
    prior. Fitted: ``theta_`` (K, D) success probabilities, ``weights_``; ``lower_bound_`` is
    the log-posterior per row, ``score_samples`` / ``bic`` / ``aic`` use the log-likelihood. Rows
    must be 0/1 unless ``binarize`` (then values >= ``threshold`` are 1), for new rows too."""

    _model = _BernoulliMixture

    def _check_values(self, X, hp):
        if hp.binarize:
            return (X >= hp.threshold).astype(np.float64)
        bad = (X != 0.0) & (X != 1.0)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(
                f"{type(self).__name__} takes 0/1 data, but row {i} column {j} is "
                f"{X[i, j]:g} ({int(bad.sum())} non-binary values in all); set "
                f"binarize=True to map values >= threshold ({hp.threshold:g}) to 1"
            )
        return X

    def _set_fitted(self, model, objective, n):
        super()._set_fitted(model, objective, n)
        self.theta_ = self._parameters["theta"]


class ExponentialMixture(_InformationCriteria, _MixtureEstimator):
    """Mixture of exponentials for non-negative data by EM (``exponential-mixture``), one rate per
    column and component. Fitted: ``rates_`` (K, D), ``means_`` (1 / rates_), ``weights_``."""

    _model = _ExponentialMixture
    _expected_failed_checks = {
        "check_fit2d_1sample": "the check shifts its single row to be non-negative, which leaves a column all zeros; "
        "an exponential rate would be infinite there, and the fit says so (a ValueError "
        "naming the column) rather than naming the number of samples the check looks for",
    }

    def _check_values(self, X, hp):
        check_non_negative(X, f"{type(self).__name__}")
        return X

    def _set_fitted(self, model, objective, n):
        super()._set_fitted(model, objective, n)
        self.rates_ = self._parameters["rates"]
        self.means_ = 1.0 / self.rates_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags
