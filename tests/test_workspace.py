"""The window's Qt-free state (explorer.workspace): reloading with changed options, fitting a saved
run again, and the command / Python lines that repeat a run (run here, compared by objective)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import pytest
from helpers import drain

from explorer import runner
from explorer.models import get_model
from explorer.workspace import Workspace, command_line, estimator_code, python_code


def _iris(ws, sample_dir):
    path = sample_dir / "iris.csv"
    options = {"labels": "species", "standardize": True}
    ws.set_data(ws.load(path, **options), path, options)
    return path


def test_reload_drops_options_of_another_kind(sample_dir):
    ws = Workspace()
    _iris(ws, sample_dir)
    kind, options = ws.reload_options(kind="network")
    assert kind == "network" and "labels" not in options and "standardize" not in options
    kind, options = ws.reload_options(standardize=False)
    assert kind == "table" and options == {"labels": "species", "standardize": False}


def test_refit_of_a_recorded_run_gives_its_objective(sample_dir):
    ws = Workspace()
    _iris(ws, sample_dir)
    result = runner.fit(get_model("gmm")(K=3), ws.data, seed=4, max_iter=40)
    record = ws.record_run(result)
    ws.run_results.clear()  # as after opening a saved session
    steps = ws.refit_steps(record.id)
    reports, again = drain(steps)
    assert reports and reports[-1].done and not any(isinstance(r, str) for r in reports)
    assert again.final_objective == pytest.approx(result.final_objective, rel=1e-12)


@pytest.mark.parametrize(
    "model_id, values", [("gmm", {"K": 3, "reg_covar": 1e-4}), ("kmeans", {"K": 4})]
)
def test_copied_command_and_python_repeat_the_run(sample_dir, tmp_path, model_id, values):
    ws = Workspace()
    path = _iris(ws, sample_dir)
    cls = get_model(model_id)
    hp = cls.Hyperparameters.from_mapping(values).as_dict()
    run = {"seed": 3, "max_iter": 60, "tol": 1e-7}
    expected = runner.fit(cls(**hp), ws.data, seed=3, max_iter=60, tol=1e-7).final_objective

    line = command_line(cls, path, "table", ws.data_options(), hp, run)
    assert line.startswith(f"explorer fit {model_id} ") and "--standardize" in line
    out = tmp_path / "out"
    args = shlex.split(line)[1:] + ["--out", str(out), "--quiet"]
    done = subprocess.run(
        [sys.executable, "-m", "explorer.cli", *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    info = json.loads((out / "result.json").read_text())
    assert info["objective"]["final"] == pytest.approx(expected, rel=1e-10)

    code = python_code(cls, path, "table", ws.data_options(), hp, run)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.split()[-1]) == pytest.approx(expected, rel=1e-10)


def test_standardised_fit_exports_the_column_means_and_scales(sample_dir, tmp_path):
    """Means in standardised units map back to the file's units with the exported column means
    and scales: they equal the means of a fit to the raw data's same partition."""
    import numpy as np

    from explorer.export import export_result

    ws = Workspace()
    _iris(ws, sample_dir)
    result = runner.fit(get_model("gmm")(K=3), ws.data, seed=0, max_iter=50)
    params = np.load(export_result(result, tmp_path / "out")["parameters"])
    raw = ws.load(sample_dir / "iris.csv", labels="species").X
    np.testing.assert_allclose(params["column_mean"], raw.mean(axis=0), rtol=1e-12)
    back = params["column_mean"] + params["column_scale"] * params["means"]
    weights = result.model.snapshot()["memberships"]
    raw_means = (weights.T @ raw) / weights.sum(axis=0)[:, None]
    # (the memberships are one E-step newer than the means: agreement to 1e-4, not 1e-12)
    np.testing.assert_allclose(back, raw_means, rtol=1e-4)


def test_copied_estimator_repeats_the_run(sample_dir):
    """The scikit-learn form of a gmm run, run as it is, gives the explorer fit's iterations."""
    ws = Workspace()
    path = _iris(ws, sample_dir)
    cls = get_model("gmm")
    hp = cls.Hyperparameters.from_mapping({"K": 3}).as_dict()
    run = {"seed": 2, "max_iter": 80, "tol": 1e-8}
    expected = runner.fit(cls(**hp), ws.data, seed=2, max_iter=80, tol=1e-8)
    code = estimator_code(cls, path, "table", ws.data_options(), hp, run)
    assert "GaussianMixture(n_components=3, random_state=2" in code
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    n_iter, converged = done.stdout.split()
    assert int(n_iter) == expected.iterations and (converged == "True") == expected.converged
    assert estimator_code(get_model("ammsb"), path, "network", {}, {}, run) is None
