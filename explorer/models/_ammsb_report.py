"""What a fitted a-MMSB reports (docs/models/ammsb.md, "Held-out set" and "Collapse"): link
prediction on a set of pairs, the collapse check with its advice, and each node's overlapping
communities. Plain functions of the fitted quantities; the model calls them on its state."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from explorer import metrics
from explorer.models import _ammsb_kernels as kr

COLLAPSE_SHARE = 0.8  # one community holding more than this share of the nodes (K >= 4) ...


class PairScores(NamedTuple):
    """Link prediction on a set of pairs: each pair's log-likelihood and link probability p."""

    ll: np.ndarray
    p: np.ndarray

    def summary(self, y, density) -> tuple[float, float, float]:
        """(total log-likelihood, AUC, perplexity); the perplexity weights the links' and the
        non-links' mean log-likelihoods by the network's density, so a set with as many
        non-links as links is scored as the network's pairs would be."""
        pos = y == 1
        if pos.any() and (~pos).any():
            mean = density * self.ll[pos].mean() + (1 - density) * self.ll[~pos].mean()
        else:
            mean = self.ll.mean()
        return float(self.ll.sum()), metrics.auc(self.p, y), float(math.exp(-mean))


def pair_scores(pi, b, epsilon, u, v, y, out) -> PairScores:
    """p(y_uv = 1) = sum_k pi_uk pi_vk E[beta_k] + (1 - sum_k pi_uk pi_vk) epsilon for the pairs
    (u, v) (written into ``out``) and the log-likelihood of their labels y."""
    kr.predict_pairs(u, v, pi, b[:, 0] / b.sum(1), epsilon, out)
    p = np.clip(out, 1e-300, 1.0 - 1e-16)
    return PairScores(np.where(y == 1, np.log(p), np.log1p(-p)), p)


def collapse(labels, K, asked: bool) -> str | None:
    """The collapse the argmax ``labels`` show (None: none): fewer than half of the K communities
    hold a node, or one holds more than COLLAPSE_SHARE of the nodes while K >= 4. ``asked``: K
    was given (else the start chose it)."""
    N = len(labels)
    sizes = np.bincount(labels, minlength=K)
    used = int((sizes > 0).sum())
    who = f"K = {K} asked" if asked else f"K = {K} chosen by the start"
    if 2 * used < K:
        return f"{who}, {used} in use"
    if K >= 4 and sizes.max() > COLLAPSE_SHARE * N:
        return (
            f"{who}, one community holds {sizes.max() / N:.0%} of the nodes ({sizes.max()} of {N})"
        )
    return None


def collapse_note(problem, louvain_start: bool, small_epsilon: bool, estimate) -> str:
    """The note for a collapse: a smaller K, the Louvain start when another one was used, and on
    a dense, mixed network a larger epsilon (the estimate when there is one)."""
    advice = "try a smaller K" if louvain_start else "try init louvain or a smaller K"
    if small_epsilon:
        advice += " (on a dense, mixed network also a larger epsilon" + (
            f", e.g. --epsilon {estimate:.3g}: the density of links between Louvain communities)"
            if estimate
            else ")"
        )
    return f"collapse: {problem}: {advice}"


def overlapping_communities(pi, threshold) -> list[list[int]]:
    """For each row of ``pi``, the communities whose membership is at least ``threshold`` (never
    empty: the largest membership always counts), in decreasing membership order."""
    out: list[list[int]] = []
    # in chunks of nodes, vectorised (a loop per node took 0.9 s per 100,000 nodes): the
    # communities in decreasing membership (ties by index, as a stable sort), those at or
    # above the threshold first; at least the largest
    for a0 in range(0, len(pi), 8192):
        P = pi[a0 : a0 + 8192]
        order = np.argsort(-P, axis=1, kind="stable")
        counts = np.maximum((P >= threshold).sum(axis=1), 1)
        rows = order[:, : int(counts.max())].tolist() if len(P) else []
        out.extend(r[:c] for r, c in zip(rows, counts.tolist()))
    return out
