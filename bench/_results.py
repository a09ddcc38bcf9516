"""A fit result for a model a bench script stepped by hand, so that it can time the export
(imported as ``from _results import stepped_result``, since a script run as
``python bench/x.py`` has bench/ on its path)."""

from __future__ import annotations


def stepped_result(model, data, trace: list[float], iteration_times: list[float]):
    """The FitResult of ``model`` after ``len(trace)`` steps on ``data``, seed 0, stopped at
    the iteration limit (the bench chose the number of steps), its last state kept."""
    from explorer.runner import FitResult

    steps = len(trace)
    return FitResult(
        model=model,
        data=data,
        seed=0,
        trace=list(trace),
        iteration_times=list(iteration_times),
        iterations=steps,
        converged=False,
        cancelled=False,
        total_s=float(sum(iteration_times)),
        max_iter=steps,
        tol=0.0,
        best_seed=0,
        best_iteration=steps,
        stop_reason="iteration limit",
    )
