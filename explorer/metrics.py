"""Agreement and prediction metrics, computed without scikit-learn at run time.

* ``nmi``: normalised mutual information with the arithmetic-mean normalisation
  (scikit-learn's default), ``ari``: adjusted Rand index. Both take labels of any hashable type.
* ``auc``: area under the ROC curve from scores and 0/1 truth, ties counted as one half.
* ``bic``/``aic``: from a total log-likelihood, the number of free parameters and N.
"""

from __future__ import annotations

import numpy as np


def contingency(truth, pred) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts of each (true label, predicted label) pair, with the sorted label values."""
    ut, it = np.unique(np.asarray(truth), return_inverse=True)
    up, ip = np.unique(np.asarray(pred), return_inverse=True)
    c = np.zeros((len(ut), len(up)), dtype=np.int64)
    np.add.at(c, (it.ravel(), ip.ravel()), 1)
    return c, ut, up


def _entropy(counts: np.ndarray) -> float:
    n = counts.sum()
    p = counts[counts > 0] / n
    return float(-(p * np.log(p)).sum())


def nmi(truth, pred) -> float:
    c = contingency(truth, pred)[0]
    n = c.sum()
    if n == 0:
        return 1.0
    rows, cols = c.sum(1), c.sum(0)
    # Both partitions trivial (one cluster each, or all singletons identical): perfect agreement.
    if (len(rows) == 1 and len(cols) == 1) or (len(rows) == len(cols) == n):
        return 1.0
    nz = c > 0
    outer = np.outer(rows, cols)[nz].astype(np.float64)
    cn = c[nz].astype(np.float64)
    mi = float(np.sum(cn / n * (np.log(cn) + np.log(n) - np.log(outer))))
    mi = max(mi, 0.0)
    h = 0.5 * (_entropy(rows) + _entropy(cols))
    if h <= 0:
        return 1.0 if mi == 0 else 0.0
    return float(min(mi / h, 1.0))


def ari(truth, pred) -> float:
    c = contingency(truth, pred)[0].astype(np.float64)
    n = c.sum()
    sum_comb = float((c * (c - 1) / 2).sum())
    a = c.sum(1)
    b = c.sum(0)
    sa = float((a * (a - 1) / 2).sum())
    sb = float((b * (b - 1) / 2).sum())
    total = n * (n - 1) / 2
    if total == 0:
        return 1.0
    expected = sa * sb / total
    maximum = 0.5 * (sa + sb)
    if maximum == expected:  # both partitions trivial in the same way
        return 1.0
    return float((sum_comb - expected) / (maximum - expected))


def auc(scores, truth) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula; ties get average ranks."""
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth).astype(bool)
    n_pos = int(truth.sum())
    n_neg = len(truth) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # average ranks over ties
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(scores)]))
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    return float((ranks[truth].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def bic(loglik: float, n_params: int, n: int) -> float:
    return float(-2.0 * loglik + n_params * np.log(n))


def aic(loglik: float, n_params: int) -> float:
    return float(-2.0 * loglik + 2.0 * n_params)
