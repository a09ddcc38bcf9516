"""The a-MMSB's ELBO terms that do not involve the indicators phi (docs/derivations/ammsb.md,
"ELBO"): q(mu), q(Lambda), the theta_a terms and q(beta), with their entropies and constants. The
pair terms, with phi at each pair's fixed point, are a kernel (_ammsb_kernels.pair_terms)."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import digamma, gammaln

from explorer.models._ammsb_kernels import centred_scatter


def _mvdigamma(x, K):
    return float(sum(digamma(x + (1 - i) / 2.0) for i in range(1, K + 1)))


def _mvlgamma(x, K):
    return float(
        K * (K - 1) / 4.0 * math.log(math.pi)
        + sum(gammaln(x + (1 - i) / 2.0) for i in range(1, K + 1))
    )


def global_terms(prior, q, l0, mu, v, b, eta0, eta1):
    """Every ELBO term without phi (docs/derivations/ammsb.md, ELBO): q(mu), q(Lambda), the
    theta_a terms and q(beta), with their entropies, constants included. prior: the kernels'
    Prior (N, m0, M0, L0inv), q: their QGlobals (l, L, m, M, Minv read); mu, v (N, K) the nodes'
    q(theta_a); b (K, 2) q(beta); l0 the Wishart prior's degrees of freedom."""
    N, m0, M0, L0inv = int(prior.N), prior.m0, prior.M0, prior.L0inv
    l, L, m, M, Minv = q.l, q.L, q.m, q.M, q.Minv
    K = len(m)
    ln2pi = math.log(2 * math.pi)
    ldM = np.linalg.slogdet(M)[1]
    ldM0 = np.linalg.slogdet(M0)[1]
    ldL = np.linalg.slogdet(L)[1]
    ldL0 = -np.linalg.slogdet(L0inv)[1]
    dm = m - m0
    t_mu = -0.5 * (K * ln2pi - ldM0 + dm @ M0 @ dm + np.trace(M0 @ Minv)) + 0.5 * (
        K * ln2pi + K - ldM
    )
    ElnLam = _mvdigamma(l / 2.0, K) + K * math.log(2) + ldL
    t_lam = (
        -(l0 * K / 2.0) * math.log(2)
        - (l0 / 2.0) * ldL0
        - _mvlgamma(l0 / 2.0, K)
        + (l0 - K - 1) / 2.0 * ElnLam
        - 0.5 * l * np.trace(L0inv @ L)
    )
    t_lam += (
        -(l - K - 1) / 2.0 * ElnLam
        + l * K / 2.0
        + l * K / 2.0 * math.log(2)
        + l / 2.0 * ldL
        + _mvlgamma(l / 2.0, K)
    )
    S = np.diag(v.sum(0)) + N * Minv
    sum_log_v = centred_scatter(mu, v, m, S)
    t_theta = N * (0.5 * ElnLam + K / 2.0) + 0.5 * sum_log_v - 0.5 * l * np.sum(L * S)
    b0, b1 = b[:, 0], b[:, 1]
    ps = digamma(b0 + b1)
    Elb, El1b = digamma(b0) - ps, digamma(b1) - ps
    t_beta = np.sum(
        gammaln(eta0 + eta1) - gammaln(eta0) - gammaln(eta1) + (eta0 - 1) * Elb + (eta1 - 1) * El1b
    )
    t_beta += np.sum(
        gammaln(b0)
        + gammaln(b1)
        - gammaln(b0 + b1)
        - (b0 - 1) * digamma(b0)
        - (b1 - 1) * digamma(b1)
        + (b0 + b1 - 2) * ps
    )
    return float(t_mu + t_lam + t_theta + t_beta)
