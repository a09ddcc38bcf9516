"""explorer warmup: it fills numba's on-disk cache so that a later process compiles nothing, it
covers every registered model, and every kernel in explorer/ is cached."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from explorer import warmup
from explorer.models import registry

ROOT = Path(__file__).resolve().parent.parent

# A fresh process: is the model's cache there, fit the sample data, count compiled signatures.
PROBE = """
import sys
from explorer import runner, warmup
from explorer.data import load
from explorer.models import get_model
cls = get_model("exponential-mixture")
print("cached-before", warmup.kernels_cached(cls))
data = load(sys.argv[1], kind="table", columns=["interval_years"])
runner.fit(cls, data, seed=0, max_iter=20, K=2)
print("compiled", warmup.compiled_count())
"""


def run(args, env, timeout=900):
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_warmup_fills_the_cache_so_a_later_fit_compiles_nothing(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    coal = str(ROOT / "sample_data" / "coal_intervals.csv")
    # empty cache: the model is not cached and the fit compiles its kernels
    r = run(["-c", PROBE, coal], env)
    assert r.returncode == 0, r.stderr
    assert "cached-before False" in r.stdout
    assert int(r.stdout.split("compiled")[1]) > 0
    # warm-up, one progress line for the model, then nothing is compiled any more
    r = run(["-m", "explorer.cli", "warmup", "exponential-mixture", "--jobs", "1"], env)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert any(ln.startswith("warmup: [") and "exponential-mixture" in ln for ln in lines)
    r = run(["-c", PROBE, coal], env)
    assert r.returncode == 0, r.stderr
    assert "cached-before True" in r.stdout
    assert int(r.stdout.split("compiled")[1]) == 0


def test_every_registered_model_has_warmup_variants_that_load():
    for model_id, cls in registry().items():
        vs = warmup.variants(model_id)
        assert vs and vs[0][0] == "defaults"
        data, hp = vs[0][1]()
        cls(cls.Hyperparameters.from_mapping(hp)).check_data(data)


def test_unknown_model_is_refused():
    assert warmup.run(models=["no-such-model"], quiet=True) == 2


def _njit_decorators():
    for path in sorted((ROOT / "explorer").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            for dec in node.decorator_list:
                target = dec.func if isinstance(dec, ast.Call) else dec
                name = ast.unparse(target)
                if name.split(".")[-1] in ("njit", "jit", "vectorize", "guvectorize"):
                    yield path.relative_to(ROOT), node.name, dec


def test_every_kernel_in_explorer_is_cached_on_disk():
    found = list(_njit_decorators())
    assert len(found) > 50
    uncached = [f"{p}:{name}" for p, name, dec in found
                if not (isinstance(dec, ast.Call) and any(
                    k.arg == "cache" and isinstance(k.value, ast.Constant) and k.value.value is True
                    for k in dec.keywords))]
    assert not uncached, f"kernels without cache=True: {uncached}"


@pytest.mark.parametrize("done, total, text", [(0, 4, "[--------------------] 0/4"),
                                                (2, 4, "[##########----------] 2/4"),
                                                (9, 9, "[####################] 9/9")])
def test_progress_bar(done, total, text):
    assert warmup._bar(done, total) == text
