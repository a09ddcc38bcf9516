"""explorer warmup: it fills numba's on-disk cache so that a later process compiles nothing, it
covers every registered model, and every kernel in explorer/ is cached."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import first_fit_args

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
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def test_warmup_fills_the_cache_so_a_later_fit_compiles_nothing(tmp_path):
    env = dict(
        os.environ,
        NUMBA_CACHE_DIR=str(tmp_path / "numba"),
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
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
    uncached = [
        f"{p}:{name}"
        for p, name, dec in found
        if not (
            isinstance(dec, ast.Call)
            and any(
                k.arg == "cache" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in dec.keywords
            )
        )
    ]
    assert not uncached, f"kernels without cache=True: {uncached}"


def test_kernels_cached_reads_the_models_kernel_modules(tmp_path, monkeypatch):
    # A model's kernels may stand in other modules (``kernel_modules``: K-means' Lloyd step in
    # _centres, a-MMSB's _ammsb_*, the dynamic exposure model's _dynamic_kernels): one there that
    # is in no cache means the first fit compiles. Reading the model's own module only, the
    # window took a-MMSB and the dynamic exposure model (no kernel in their own namespace) for
    # cached always.
    (tmp_path / "far_kernels.py").write_text(
        "import numba\n\n\n@numba.njit(cache=True)\ndef far(x):\n    return x + 1\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    class FarModel:
        kernel_modules = ("far_kernels",)

    assert warmup.kernels_cached(FarModel) is False
    FarModel.kernel_modules = ()
    assert warmup.kernels_cached(FarModel) is True


@pytest.mark.parametrize(
    "done, total, text",
    [
        (0, 4, "[--------------------] 0/4"),
        (2, 4, "[##########----------] 2/4"),
        (9, 9, "[####################] 9/9"),
    ],
)
def test_progress_bar(done, total, text):
    assert warmup._bar(done, total) == text


# Every model's first fit at defaults on the sample data (what `explorer fit MODEL ...` and the
# window's first Run do, through the same loaders), with its export, then float32 Parquet tables
# (K-means, Gaussian mixture): nothing may compile after `explorer warmup`.
FIRST_FITS = first_fit_args()

PROBE_EVERY_MODEL = """
import json, sys
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
from explorer import cli, runner, warmup
from explorer.data import load
from explorer.export import export_result
from explorer.models import get_model
out = sys.argv[1]
for model_id, args in json.loads(sys.argv[2]).items():
    assert cli.main(["fit", model_id, *args, "--quiet", "--out", out + "/" + model_id]) == 0
    n = warmup.compiled_count()
    assert n == 0, f"{model_id}: {n} signatures compiled after warm-up"
X = np.random.default_rng(0).normal(size=(500, 3)).astype(np.float32)
pq.write_table(pa.table({f"c{j}": X[:, j] for j in range(3)}), out + "/t.parquet")
data = load(out + "/t.parquet")
assert data.X.dtype == np.float32
for model_id in ("kmeans", "gmm"):
    res = runner.fit(get_model(model_id), data, seed=0, max_iter=5, K=2)
    export_result(res, out + "/" + model_id + "32")
print("compiled", warmup.compiled_count())
"""


@pytest.mark.slow
def test_after_warmup_no_first_fit_compiles_anything(tmp_path):
    """The whole warm-up (2 workers, as `make install` runs it) on an empty cache, then every
    model's first fit, its export and the float32 tables in a fresh process: nothing compiles."""
    pytest.importorskip("pyarrow")
    import json

    assert set(FIRST_FITS) == set(registry())
    env = dict(
        os.environ,
        NUMBA_CACHE_DIR=str(tmp_path / "numba"),
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    r = run(["-m", "explorer.cli", "warmup", "--jobs", "2"], env, timeout=3600)
    assert r.returncode == 0, r.stderr
    assert "warmup: check: " in r.stderr and "warmed again" not in r.stderr, r.stderr
    r = run(["-c", PROBE_EVERY_MODEL, str(tmp_path), json.dumps(FIRST_FITS)], env)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.split("compiled")[1]) == 0


def test_locked_cache_saves_keep_every_signature(tmp_path, monkeypatch):
    """numba saves a kernel's index by read-modify-write. Two saves of one kernel at once (the two
    warm-up workers) must keep both signatures, each with its own data file."""
    import threading
    import time

    from numba.core import caching

    monkeypatch.setattr(caching.IndexDataCacheFile, "save", caching.IndexDataCacheFile.save)
    assert warmup._lock_cache_saves(str(tmp_path / "save.lock"))
    load_index = caching.IndexDataCacheFile._load_index

    def slow_load_index(self):  # widen the window between reading and writing the index
        index = load_index(self)
        time.sleep(0.3)
        return index

    monkeypatch.setattr(caching.IndexDataCacheFile, "_load_index", slow_load_index)

    def cache_file():  # one per saver, as each worker process has its own
        return caching.IndexDataCacheFile(str(tmp_path), "kernel-1", ("stamp", 1))

    savers = [
        threading.Thread(target=cache_file().save, args=(key, {"code": key}))
        for key in ("sig-a", "sig-b")
    ]
    for t in savers:
        t.start()
    for t in savers:
        t.join()
    f = cache_file()
    index = load_index(f)
    assert sorted(index) == ["sig-a", "sig-b"]
    assert len(set(index.values())) == 2
    assert f.load("sig-a") == {"code": "sig-a"} and f.load("sig-b") == {"code": "sig-b"}


PROBE_INDEX = """
import glob, os, sys
from explorer import warmup
from explorer.models import _mixture_kernels as mk
import numpy as np
mk.normalize_log_row(np.zeros(3), np.zeros(3))
compiled = warmup._compiled_signatures()
print("compiled", sorted(compiled))
print("missing", sorted(warmup._missing_from_cache(compiled)))
for f in glob.glob(os.path.join(sys.argv[1], "**", "*normalize_log_row*.nbi"), recursive=True):
    os.unlink(f)
print("missing-after", sorted(warmup._missing_from_cache(compiled)))
"""


def test_the_check_finds_signatures_missing_from_the_index(tmp_path):
    env = dict(
        os.environ,
        NUMBA_CACHE_DIR=str(tmp_path / "numba"),
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    r = run(["-c", PROBE_INDEX, str(tmp_path / "numba")], env)
    assert r.returncode == 0, r.stderr
    lines = dict(ln.split(" ", 1) for ln in r.stdout.splitlines() if " " in ln)
    assert "normalize_log_row" in lines["compiled"]
    assert lines["missing"] == "[]"
    assert "normalize_log_row" in lines["missing-after"]
