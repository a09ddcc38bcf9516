"""NMI, ARI and AUC against scikit-learn on random inputs (to 1e-12: both are exact formulas in
double precision; differences come from summation order only)."""

import numpy as np
import pytest
from sklearn import metrics as skm

from explorer import metrics


@pytest.mark.parametrize("seed", range(30))
def test_nmi_ari_equal_sklearn_on_random_labelings(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    a = rng.integers(0, int(rng.integers(1, 8)), n)
    b = rng.integers(0, int(rng.integers(1, 8)), n)
    assert metrics.nmi(a, b) == pytest.approx(skm.normalized_mutual_info_score(a, b), abs=1e-12)
    assert metrics.ari(a, b) == pytest.approx(skm.adjusted_rand_score(a, b), abs=1e-12)


def test_string_labels_and_permutation_invariance():
    truth = np.array(["x", "x", "y", "y", "z", "z"])
    pred = np.array([2, 2, 0, 0, 1, 1])
    assert metrics.nmi(truth, pred) == pytest.approx(1.0)
    assert metrics.ari(truth, pred) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(10))
def test_auc_equals_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.normal(size=200) + y, 1)  # rounding creates ties
    assert metrics.auc(s, y) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)


def test_auc_undefined_with_one_class():
    assert np.isnan(metrics.auc([0.1, 0.2], [1, 1]))


def test_bic_aic_closed_form():
    assert metrics.bic(-100.0, 5, 50) == pytest.approx(200 + 5 * np.log(50))
    assert metrics.aic(-100.0, 5) == pytest.approx(210.0)
