"""Models from outside the package (explorer.plugins): a file named with --model-file, a folder in
EXPLORER_MODEL_PATH, an installed package's ``explorer.models`` entry point. A model that fails to
load is reported with its file and reason while the others load; a session names a model by id,
never a file of code. The example package (examples/poisson-mixture) is fitted through the CLI and
the window's scenario path, and its EM is checked against an independent computation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import poisson

import explorer
from explorer import plugins
from explorer.models import get_model, load_problems, registry, unregister
from explorer.models.base import Model

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_DIR = ROOT / "examples" / "poisson-mixture"
EXAMPLE = EXAMPLE_DIR / "poisson_mixture" / "model.py"
COUNTS = EXAMPLE_DIR / "counts.csv"


@pytest.fixture
def clean_registry(monkeypatch):
    """Nothing named before the test; the models and files it loads are forgotten after it."""
    monkeypatch.delenv(plugins.MODEL_FILES_VARIABLE, raising=False)
    monkeypatch.delenv(plugins.MODEL_PATH_VARIABLE, raising=False)
    before = set(registry())
    modules = set(sys.modules)
    yield monkeypatch
    for model_id in set(registry()) - before:
        unregister(model_id)
    plugins.forget()
    os.environ.pop(plugins.MODEL_FILES_VARIABLE, None)  # set by add_model_file, not undone
    for name in set(sys.modules) - modules:
        if name.startswith(("explorer_model_file_", "poisson_mixture")):
            del sys.modules[name]
    # (the next registry() tries the real environment's entry points again, once monkeypatch
    # has put sys.path back)


def env_with(**extra) -> dict:
    env = dict(os.environ)
    env.pop(plugins.MODEL_FILES_VARIABLE, None)
    env.pop(plugins.MODEL_PATH_VARIABLE, None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def explorer_cli(*args, cwd, **env):
    return subprocess.run(
        [sys.executable, "-m", "explorer.cli", *map(str, args)],
        cwd=cwd,
        env=env_with(**env),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_folder_of_model_files_loads_and_a_broken_file_is_reported(clean_registry, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "poisson.py").write_text(EXAMPLE.read_text())
    (folder / "typo.py").write_text("def broken(:\n    pass\n")
    (folder / "needs.py").write_text("import no_such_package_for_explorer\n")
    (folder / "_helper.py").write_text("raise RuntimeError('never imported')\n")
    (folder / "taken.py").write_text(
        "from explorer.models import register\n"
        "from explorer.models.kmeans import KMeans\n\n\n"
        "@register\nclass Again(KMeans):\n    id = 'kmeans'\n"
    )
    clean_registry.setenv(plugins.MODEL_PATH_VARIABLE, str(folder))
    reg = registry()
    assert "poisson-mixture" in reg and "gmm" in reg and "ammsb" in reg
    problems = {Path(p.source).name: p.reason for p in load_problems()}
    assert set(problems) == {"typo.py", "needs.py", "taken.py"}
    assert problems["typo.py"].startswith("SyntaxError") and "line 1" in problems["typo.py"]
    assert "ModuleNotFoundError" in problems["needs.py"]
    assert "'kmeans' registered twice" in problems["taken.py"]
    assert reg["kmeans"].__module__ == "explorer.models.kmeans"  # not replaced


def test_an_unknown_id_names_the_files_that_failed(clean_registry, tmp_path):
    bad = tmp_path / "mine.py"
    bad.write_text("raise ValueError('half written')\n")
    plugins.add_model_file(bad)
    with pytest.raises(KeyError) as e:
        get_model("mine")
    assert f"not loaded: {bad.resolve()}: ValueError: half written" in e.value.args[0]


def test_a_model_file_must_exist_and_be_python(tmp_path):
    with pytest.raises(plugins.ModelFileError, match="no such model file"):
        plugins.add_model_file(tmp_path / "missing.py")
    (tmp_path / "model.txt").write_text("")
    with pytest.raises(plugins.ModelFileError, match="ending in .py"):
        plugins.add_model_file(tmp_path / "model.txt")


def _dist_info(site: Path, entry_points: str) -> None:
    info = site / "explorer_poisson_test-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: explorer-poisson-test\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(entry_points)


def test_an_installed_package_adds_its_model_through_the_entry_point(clean_registry, tmp_path):
    site = tmp_path / "site"
    _dist_info(
        site,
        "[explorer.models]\npoisson-mixture = poisson_mixture.model\n"
        "missing = no_such_module_for_explorer.models\n",
    )
    clean_registry.syspath_prepend(str(EXAMPLE_DIR))
    clean_registry.syspath_prepend(str(site))
    plugins.forget()
    cls = get_model("poisson-mixture")
    assert cls.__module__ == "poisson_mixture.model" and issubclass(cls, Model)
    (problem,) = [p for p in load_problems() if "missing" in p.source]
    assert problem.source == (
        "entry point missing = no_such_module_for_explorer.models (explorer-poisson-test)"
    )
    assert "ModuleNotFoundError" in problem.reason


def test_the_cli_fits_the_installed_package(tmp_path):
    """The entry point in a fresh process, as `pip install` would leave it (a dist-info beside the
    package on the path), through `explorer fit`."""
    site = tmp_path / "site"
    _dist_info(site, "[explorer.models]\npoisson-mixture = poisson_mixture.model\n")
    path = os.pathsep.join([str(ROOT), str(site), str(EXAMPLE_DIR)])
    r = explorer_cli(
        "fit",
        "poisson-mixture",
        COUNTS,
        "--labels",
        "source",
        "--out",
        "out",
        "--quiet",
        cwd=tmp_path,
        PYTHONPATH=path,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "out" / "result.json").read_text())
    assert doc["model"] == "poisson-mixture" and doc["converged"]
    assert doc["metrics"]["nmi"] > 0.9


def test_model_file_and_model_path_on_the_cli_and_a_session_names_no_file(tmp_path):
    r = explorer_cli(
        "fit",
        "poisson-mixture",
        COUNTS,
        "--K",
        "2",
        "--model-file",
        EXAMPLE,
        "--session",
        "s.explorer.json",
        "--out",
        "out",
        "--quiet",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "out" / "result.json").read_text())["model"] == "poisson-mixture"
    session_text = (tmp_path / "s.explorer.json").read_text()
    assert "poisson-mixture" in session_text and "model.py" not in session_text
    # replaying needs the model named again: the session alone loads no code
    alone = explorer_cli("replay", "s.explorer.json", cwd=tmp_path)
    assert alone.returncode != 0
    assert 'runs[0].model: unknown model "poisson-mixture"' in alone.stdout + alone.stderr
    # (--allow-paths: the example's counts.csv lies outside the session's folder)
    named = explorer_cli(
        "replay", "s.explorer.json", "--model-file", EXAMPLE, "--allow-paths", cwd=tmp_path
    )
    assert named.returncode == 0, named.stdout + named.stderr
    assert "1 of 1 runs reproduced" in named.stdout
    listed = explorer_cli("models", cwd=tmp_path, EXPLORER_MODEL_PATH=str(EXAMPLE.parent))
    assert listed.returncode == 0 and "poisson-mixture: Poisson mixture (EM)" in listed.stdout
    missing = explorer_cli("fit", "gmm", COUNTS, "--model-file", tmp_path / "nope.py", cwd=tmp_path)
    assert missing.returncode == 2 and "no such model file" in missing.stderr


def test_a_sweep_loads_the_model_file_in_its_worker_processes(tmp_path):
    r = explorer_cli(
        "sweep",
        "poisson-mixture",
        COUNTS,
        "--K",
        "1:2",
        "--seeds",
        "1",
        "--jobs",
        "1",
        "--max-iter",
        "30",
        "--model-file",
        EXAMPLE,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "chosen K: 2" in r.stdout


def test_the_window_scenario_path_fits_the_example(tmp_path):
    shot = tmp_path / "window.png"
    r = explorer_cli(
        "gui",
        COUNTS,
        "--model",
        "poisson-mixture",
        "--K",
        "2",
        "--run",
        "--screenshot",
        shot,
        "--model-file",
        EXAMPLE,
        cwd=tmp_path,
        QT_QPA_PLATFORM="offscreen",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert shot.stat().st_size > 10_000


def test_the_example_em_matches_an_independent_computation(clean_registry):
    """One EM step of the example against scipy's Poisson pmf and logsumexp, from the same start;
    the log-likelihood never decreases (EM)."""
    plugins.add_model_file(EXAMPLE)
    data = explorer.load(COUNTS, labels="source")
    model = get_model("poisson-mixture")(K=2)
    model.initialize(data, seed=0)
    X = data.X
    rates0, weights0 = model.rates.copy(), model.weights.copy()

    def e_step(rates, weights):
        log_joint = np.log(weights) + poisson.logpmf(X[:, None, :], rates[None]).sum(axis=2)
        total = logsumexp(log_joint, axis=1)
        return np.exp(log_joint - total[:, None]), total.sum()

    resp, loglik0 = e_step(rates0, weights0)
    assert model.loglik == pytest.approx(loglik0, rel=1e-12)
    np.testing.assert_allclose(model.resp, resp, rtol=1e-10, atol=1e-14)
    nk = resp.sum(axis=0)
    rates1 = resp.T @ X / nk[:, None]
    weights1 = nk / len(X)
    _, loglik1 = e_step(rates1, weights1)
    assert model.step() == pytest.approx(loglik1, rel=1e-12)
    np.testing.assert_allclose(model.rates, rates1, rtol=1e-10)
    np.testing.assert_allclose(model.weights, weights1, rtol=1e-10)
    trace = [model.step() for _ in range(30)]
    assert all(b >= a - 1e-9 * abs(a) for a, b in zip([loglik1, *trace], trace))
    # the planted rates (1, 4, 2) and (6, 1, 8) are found
    found = model.rates[np.argsort(model.rates[:, 0])]
    np.testing.assert_allclose(found, [[1, 4, 2], [6, 1, 8]], atol=0.6)


def test_add_note_works_in_every_kind_of_model(clean_registry):
    """One notes API: a mixture computes ``notes`` when read, so ``notes.append`` was lost there;
    ``add_note`` keeps the note in both kinds of model."""
    data = explorer.load(ROOT / "sample_data" / "old_faithful.csv")
    for model in (get_model("gmm")(K=2), get_model("kmeans")(K=2)):
        model.initialize(data, seed=0)
        model.add_note("a note of the test")
        assert "a note of the test" in model.notes


def test_explorer_models_reports_a_file_that_failed_and_lists_the_others(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "broken.py").write_text("import no_such_package_for_explorer\n")
    (folder / "poisson.py").write_text(EXAMPLE.read_text())
    r = explorer_cli("models", cwd=tmp_path, EXPLORER_MODEL_PATH=str(folder))
    assert r.returncode == 0, r.stderr
    assert (
        f"explorer: warning: model not loaded: {(folder / 'broken.py').resolve()}: "
        "ModuleNotFoundError: No module named 'no_such_package_for_explorer'"
    ) in r.stderr
    assert r.stderr.count("model not loaded") == 1
    assert "poisson-mixture: Poisson mixture (EM)" in r.stdout and "\ngmm: " in r.stdout
