"""How a finished fit is told: its metrics, its stop reason and the summary (Qt-free).

One place for the wording both front doors use: the CLI's summary (``explorer fit``, one
``name: value`` line each, :func:`summary_lines`) and the window's run panel and log (the metrics
in groups, one a line, :func:`metrics_text`; why the fit stopped, :func:`stop_text`).
"""

from __future__ import annotations

import sys

import numpy as np

# Final metrics shown in groups by the window (result.metrics keys -> display names); the rest
# go under "Model".
METRIC_GROUPS = [
    ("Ground truth", [("nmi", "NMI"), ("ari", "ARI")]),
    (
        "Held-out links",
        [
            ("heldout_auc", "AUC"),
            ("heldout_perplexity", "perplexity"),
            ("heldout_loglik", "log-likelihood"),
            ("heldout_cells", "cells"),
        ],
    ),
    ("Test pairs", [("test_auc", "AUC"), ("test_perplexity", "perplexity")]),
]
METRIC_NAMES = {
    "inertia": "distortion",
    "elbo": "ELBO",
    "bic": "BIC",
    "aic": "AIC",
    "loglik": "log-likelihood",
    "log_likelihood": "log-likelihood",
    "J_m": "J_m",
    "findk_communities": "communities found by findk",
}


def cli_value(v) -> str:
    """A metric as the CLI prints it: floats to 6 significant digits, the rest as they are."""
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def short_value(v) -> str:
    """A metric as the window shows it: whole numbers without a point, else 5-6 digits."""
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if v.is_integer() and abs(v) < 1e7:
            return str(int(v))
        return f"{v:.5g}" if abs(v) < 1e5 else f"{v:.6g}"
    return str(v)


def metric_name(key: str) -> str:
    """The display name of a ``result.metrics`` key outside the groups."""
    return METRIC_NAMES.get(key, key.replace("_", " "))


def metrics_text(result) -> str:
    """The final metrics, one group a line: ground truth, held-out links, test pairs, the model's
    own figures, timing."""
    m = dict(result.metrics)
    lines = []
    for title, keys in METRIC_GROUPS:
        parts = [f"{name} {short_value(m.pop(key))}" for key, name in keys if key in m]
        if parts:
            lines.append(f"{title}: " + ", ".join(parts))
    rest = [f"{metric_name(k)} {short_value(v)}" for k, v in m.items()]
    if result.iteration_times:
        rest.append(f"{result.per_iteration_s * 1e3:.3g} ms per iteration")
    if rest:
        lines.append("Model: " + ", ".join(rest))
    return "\n".join(lines)


def stop_text(result) -> str:
    """Why the fit stopped (the runner's stop reason) and, when it kept an earlier state, which
    iteration that is."""
    n = result.iterations
    reason = getattr(result, "stop_reason", "") or ""
    best = getattr(result, "best_iteration", 0) or 0
    if result.cancelled or reason == "cancelled":
        text = f"cancelled after {n} iterations (last state kept; exportable)"
    elif reason == "converged" or (not reason and result.converged):
        text = f"converged after {n} iterations"
    elif reason in ("", "iteration limit"):
        text = f"stopped at the iteration limit ({n})"
    else:
        text = f"{reason} (after {n} iterations)"
    if best and best != n and not result.cancelled and "best at iteration" not in text:
        text += f", best at iteration {best}"
    return text


def summary_lines(result, *, model_id: str, data, hyperparameters: dict, seed: int) -> list[str]:
    """The CLI's summary of a fit (``explorer fit``'s standard output), one ``name: value`` a
    line: model, data, hyperparameters, seed, iterations, stop, objective, metrics, time."""
    lines = [
        f"model: {model_id}",
        f"data: {data.path} ({data.describe()})",
        "hyperparameters: " + ", ".join(f"{k}={v}" for k, v in hyperparameters.items()),
    ]
    restarts = getattr(result, "restarts", None) or []
    lines.append(
        f"seed: {seed}" + (f" (best restart: seed {result.best_seed})" if len(restarts) > 1 else "")
    )
    lines.append(f"iterations: {result.iterations}")
    lines.append(f"converged: {str(result.converged).lower()}")
    lines.append(f"stop reason: {result.stop_reason}")
    if result.best_iteration and result.best_iteration != result.iterations:
        lines.append(f"best iteration: {result.best_iteration} (its state is the one returned)")
    lines.append(f"objective ({result.objective_kind}): {result.final_objective:.10g}")
    lines.extend(f"{name}: {cli_value(value)}" for name, value in result.metrics.items())
    lines.append(
        f"time: {result.total_s:.3f} s total, {result.per_iteration_s * 1e3:.3f} ms per iteration"
    )
    return lines


def print_result(
    result, *, model_id: str, data, hyperparameters: dict, seed: int, out=None, err=None
) -> None:
    """What ``explorer fit`` prints after a fit (in memory or on Dask): the model's and the
    runner's notes on stderr, then :func:`summary_lines` on stdout."""
    out = out or sys.stdout
    err = err or sys.stderr
    for note in list(result.model.notes) + list(result.notes):
        print(f"note: {note}", file=err)
    for line in summary_lines(
        result, model_id=model_id, data=data, hyperparameters=hyperparameters, seed=seed
    ):
        print(line, file=out)
