"""The a-MMSB's hyperparameters as the window, the command line and sessions show them (what each
one means: docs/models/ammsb.md), and the longest check interval they may ask for."""

from __future__ import annotations

import math
from dataclasses import dataclass

from explorer.models.base import HyperparameterError, HyperparametersBase, param

MIN_CHECK_MINIBATCHES = 20  # default check interval: half a sweep, at least this many minibatches
MAX_CHECK_SWEEPS = 10  # check_every may ask for at most this many sweeps over the nodes ...
MAX_CHECK_SMALL = 200  # ... or this many minibatches on a small network (the larger bound)


@dataclass(frozen=True)
class AMMSBHyperparameters(HyperparametersBase):
    # fmt: off
    # Kept as written, a table of declarations: formatted, they took 95 lines, most of them of
    # one shape (one argument a line), which the duplicates check lists as repeated code
    K: int = param(0, lo=0, hi=5000,
                   help="number of communities; 0 lets the findk initialiser choose")
    eta0: float = param(9.0, lo=1e-3, hi=1e6, help="Beta prior on community strength: eta0")
    eta1: float = param(1.0, lo=1e-3, hi=1e6, help="Beta prior on community strength: eta1")
    epsilon: float = param(0.0, lo=0.0, hi=0.5, log=True,
                           help="link probability between different communities; 0 = auto: "
                           "1e-5, or, when most links of a Louvain partition run between its "
                           "communities, the density of those links")
    newton_steps: int = param(3, lo=1, hi=100, help="max Newton steps per node visit", advanced=True)
    newton_halvings: int = param(10, lo=0, hi=60,
                                 help="max step halvings per Newton step (0 = off: full steps)", advanced=True)
    nodes_per_batch: int = param(100, lo=1, hi=10_000_000,
                                 help="nodes sampled per minibatch (capped at N)", advanced=True)
    num_pieces: int = param(1000, lo=1, hi=10_000_000,
                            help="non-links sampled per node visit: about N / num_pieces", advanced=True)
    tau0: float = param(1024.0, lo=0.0, hi=1e9, help="global step size (tau0 + t)^-kappa: tau0", advanced=True)
    kappa: float = param(0.9, lo=0.0, hi=1.0, help="global step size (tau0 + t)^-kappa: kappa", advanced=True)
    node_tau0: float = param(1.0, lo=1.0, hi=1e9,
                             help="node step size (node_tau0 + visits)^-node_kappa: node_tau0", advanced=True)
    node_kappa: float = param(0.5, lo=0.0, hi=1.0,
                              help="node step size (node_tau0 + visits)^-node_kappa: node_kappa", advanced=True)
    collapsed: bool = param(True, help="Newton steps on the node's ELBO maximised over its own "
                            "indicators (fast); off: indicators held fixed as in the note", advanced=True)
    init: str = param("auto", choices=("auto", "louvain", "findk", "spectral", "random"),
                      help="initial memberships: auto (the best of louvain, findk, random and, "
                      "up to 5,000 nodes, spectral after a short burn-in), louvain, findk "
                      "(label propagation), spectral, random")
    heldout_fraction: float = param(0.01, lo=0.0, hi=0.5,
                                    help="fraction of links held out (plus as many non-links)")
    check_every: int = param(0, lo=0, hi=1_000_000,
                             help="minibatches per iteration and convergence check (0 = half a "
                             "sweep; at most 10 sweeps over the nodes, or 200 minibatches)",
                             advanced=True)
    n_init: int = param(1, lo=1, hi=100,
                        help="restarts (seed, seed + 1, ...); the best held-out likelihood is kept")
    overlap_threshold: float = param(0.2, lo=0.0, hi=1.0,
                                     help="membership above which a node belongs to a community", advanced=True)
    prior_weight: float = param(1.0, lo=0.0, hi=1000.0,
                                help="weight of the Wishart hyperprior on the membership "
                                "precision (mean I), in pseudo-nodes per node: l0 = max(K, "
                                "prior_weight N); 0 = the vague l0 = K", advanced=True)
    # fmt: on

    def validate(self) -> None:
        if self.init in ("random", "spectral") and self.K == 0:
            raise HyperparameterError(
                f"K = 0 (let the start choose) needs init = auto, louvain or findk, not {self.init}"
            )


def max_check_every(n_nodes: int, nodes_per_batch: int) -> int:
    """The largest check_every for a network of ``n_nodes``: MAX_CHECK_SWEEPS sweeps over the
    nodes, or MAX_CHECK_SMALL minibatches where that is more."""
    batch = max(1, min(int(nodes_per_batch), int(n_nodes)))
    return max(MAX_CHECK_SMALL, math.ceil(MAX_CHECK_SWEEPS * n_nodes / batch))


def check_every_problem(check_every: int, nodes_per_batch: int, n_nodes: int) -> str | None:
    """Why ``check_every`` is too long for a network of ``n_nodes`` (None: it is not). One
    iteration is check_every minibatches: nothing (a cancel, a convergence check, progress)
    happens inside it, so it may not be unbounded on a small network."""
    most = max_check_every(n_nodes, nodes_per_batch)
    if check_every <= most:
        return None
    batch = min(nodes_per_batch, n_nodes)
    return (
        f"check_every = {check_every} minibatches of {batch} nodes would be "
        f"{check_every * batch / n_nodes:,.0f} sweeps over the {n_nodes} nodes between two "
        f"checks; at most {most} are allowed on this network (the larger of "
        f"{MAX_CHECK_SWEEPS} sweeps and {MAX_CHECK_SMALL} minibatches; 0: half a sweep)"
    )
