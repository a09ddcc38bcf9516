"""``explorer check-model``: every bundled model and the example package pass the conformance
checks, and three deliberately broken models fail them, each with the check named.

The checks fit the warm-up's tiny data (120 rows, 60 nodes) for a few steps, so the suite stays
fast once the kernels are compiled (``make install`` runs the warm-up). The warm-up check runs
the warm-up in a new process; it is exercised here on two models (one bundled, the example)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import checkout_env, run_cli

from explorer import check_model, plugins
from explorer.models import get_model, registry, unregister

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ROOT / "tests" / "data" / "broken_models.py"
EXAMPLE = ROOT / "examples" / "poisson-mixture" / "poisson_mixture" / "model.py"
BUNDLED = [
    "kmeans",
    "kmedians",
    "fuzzy-cmeans",
    "gmm",
    "bayes-gmm",
    "bernoulli-mixture",
    "exponential-mixture",
    "ammsb",
    "dynamic-exposure",
]


@pytest.fixture
def model_file(monkeypatch):
    """Load model files as --model-file does, and forget them (and their models) afterwards."""
    monkeypatch.delenv(plugins.MODEL_FILES_VARIABLE, raising=False)
    before = set(registry())
    loaded = []

    def load(path):
        loaded.append(path)
        return check_model.models_named(str(path))

    yield load
    for model_id in set(registry()) - before:
        unregister(model_id)
    for path in loaded:
        plugins.forget(path)
    # add_model_file names the file in the environment for worker processes; monkeypatch's
    # delenv of an unset variable records nothing to undo, so it is removed here (else every
    # later test's registry loaded the example again: 'registered twice' in test_plugins)
    os.environ.pop(plugins.MODEL_FILES_VARIABLE, None)


def test_the_bundled_models_are_the_nine():
    assert set(BUNDLED) <= set(registry())


@pytest.mark.parametrize("model_id", BUNDLED)
def test_every_bundled_model_passes(model_id):
    outcomes = check_model.run_checks(get_model(model_id), warmup=False)
    failed = [o.line() for o in outcomes if o.status == "FAIL"]
    assert not failed, "\n".join(failed)
    assert [o.check for o in outcomes] == [name for name, _ in check_model.CHECKS]
    passed = {o.check for o in outcomes if o.status == "PASS"}
    # what every model must pass (the others may be skipped with a reason)
    assert {
        "declaration",
        "hyperparameters",
        "prepare once",
        "restarts independent",
        "same seed",
        "snapshot",
        "parameters",
        "export",
        "cancel",
    } <= passed


def test_the_example_passes_with_its_warm_up(model_file):
    (cls,) = model_file(EXAMPLE)
    outcomes = check_model.run_checks(cls, warmup=True)
    assert all(o.status == "PASS" for o in outcomes), "\n".join(o.line() for o in outcomes)


def test_the_warm_up_check_on_a_bundled_model():
    (outcome,) = check_model.run_checks(get_model("exponential-mixture"), only=["warm-up"])
    assert outcome.status == "PASS", outcome.line()
    assert "kernel(s) of its modules are reached by the warm-up" in outcome.detail


@pytest.mark.parametrize(
    "model_id, check, words",
    [
        ("broken-worsening", "monotone objective", "worsened the log-likelihood"),
        ("broken-shared-state", "restarts independent", "_prepare built"),
        ("broken-snapshot", "snapshot", "memberships: shape"),
    ],
)
def test_a_broken_model_fails_the_check_that_names_its_fault(model_file, model_id, check, words):
    model_file(BROKEN)
    outcomes = {o.check: o for o in check_model.run_checks(get_model(model_id), warmup=False)}
    assert outcomes[check].status == "FAIL", outcomes[check].line()
    assert words in outcomes[check].detail
    # one fault each: the other checks still pass (or skip)
    others = [o.line() for name, o in outcomes.items() if name != check and o.status == "FAIL"]
    assert not others, others


def check_model_cli(*args):
    """`explorer check-model ARGS` run from the checkout, as a user runs it."""
    return run_cli("check-model", *args, cwd=ROOT, env=checkout_env(), timeout=600)


def test_the_command_prints_a_line_per_check_and_exits_1_on_a_failure():
    proc = check_model_cli(BROKEN, "--no-warmup")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "FAIL  monotone objective: seed 0: step" in out
    assert "FAIL  restarts independent:" in out
    assert "FAIL  snapshot: memberships: shape (2, 120), expected (120, K)" in out
    lines = [line for line in out.splitlines() if line.startswith("  ")]
    assert len(lines) == 3 * len(check_model.CHECKS)
    assert out.strip().endswith("3 check(s) failed")


def test_the_command_passes_a_bundled_model_and_refuses_an_unknown_one():
    ok = check_model_cli("kmedians", "--no-warmup")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip().endswith("every check passed")
    bad = check_model_cli("no-such-model")
    assert bad.returncode == 2
    assert "unknown model 'no-such-model'" in bad.stderr


def test_documented_shapes_read_the_docstrings():
    assert check_model.documented_shapes(get_model("gmm"))["covariances"] == ("K", "D", "D")
    assert check_model.documented_shapes(get_model("kmeans"))["inertia"] == ()
    shapes = check_model.documented_shapes(get_model("ammsb"))
    assert shapes["pi"] == ("N", "K") and shapes["epsilon"] == () and shapes["b"] == ("K", "2")
