"""explorer.report: the wording the CLI summary and the window share, on real fits."""

from __future__ import annotations

import numpy as np

from explorer import report, runner
from explorer.data.types import TableData
from explorer.models import get_model


def _table():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 0.5, size=(60, 2)) for c in (0.0, 4.0, 8.0)])
    labels = np.repeat(["a", "b", "c"], 60).astype(object)
    return TableData(
        X=X,
        columns=["x", "y"],
        ids=np.arange(len(X)).astype(str),
        labels=labels,
        label_name="truth",
        path="blobs.csv",
    )


def test_metrics_text_groups_and_stop_text():
    res = runner.fit(get_model("gmm"), _table(), seed=0, K=3)
    text = report.metrics_text(res)
    first, last = text.split("\n")[0], text.split("\n")[-1]
    assert first.startswith("Ground truth: NMI 1, ARI 1")  # planted, well separated
    assert last.startswith("Model: log-likelihood ") and "BIC" in last
    assert last.endswith("ms per iteration")
    assert report.stop_text(res) == f"converged after {res.iterations} iterations"
    limited = runner.fit(get_model("gmm"), _table(), seed=0, K=3, max_iter=1, tol=0.0)
    assert report.stop_text(limited) == "stopped at the iteration limit (1)"
    control = runner.RunControl()
    control.cancel()
    cancelled = runner.fit(get_model("gmm"), _table(), seed=0, K=3, control=control)
    assert report.stop_text(cancelled).startswith("cancelled after 0 iterations")


def test_values_and_summary_lines():
    assert report.short_value(3.0) == "3" and report.short_value(0.123456789) == "0.12346"
    assert report.short_value(123456.789) == "123457"
    assert report.cli_value(0.123456789) == "0.123457" and report.cli_value(7) == "7"
    data = _table()
    res = runner.fit(get_model("kmeans"), data, seed=1, K=3)
    lines = report.summary_lines(
        res, model_id="kmeans", data=data, hyperparameters=res.model.hp.as_dict(), seed=1
    )
    keys = [line.split(":")[0] for line in lines]
    assert keys[:7] == [
        "model",
        "data",
        "hyperparameters",
        "seed",
        "iterations",
        "converged",
        "stop reason",
    ]
    assert keys[-1] == "time" and "nmi" in keys
    assert f"objective (distortion): {res.final_objective:.10g}" in lines
