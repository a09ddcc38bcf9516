"""Export round trip: what is written can be read back and equals what was fitted; the set is
written whole (swapped in), never mixed with an earlier set, with the umask's permissions."""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fake_models import ShrinkModel
from test_runner import table

import explorer
from explorer import __version__, runner
from explorer import export as export_mod
from explorer.data.types import DataError
from explorer.export import ExportError, export_result, load_result

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"


def test_round_trip(tmp_path):
    data = table(n=30, d=3)
    res = runner.fit(ShrinkModel, data, seed=1, K=3, rate=0.5, tol=1e-9)
    paths = export_result(res, tmp_path / "out")
    assert set(paths) == {"result", "parameters", "assignments"}

    doc = json.loads(paths["result"].read_text())
    assert doc["model"] == "shrink" and doc["version"] == __version__
    assert doc["hyperparameters"]["K"] == 3
    assert doc["data"] == {"path": "mem.csv", "sha256": None, "kind": "table", "shape": [30, 3],
                           "directed": None, "standardized": False,
                           "columns": ["c0", "c1", "c2"], "labels": None}
    assert doc["seed"] == 1 and doc["iterations"] == res.iterations
    assert doc["converged"] is True
    assert doc["objective"]["kind"] == "distortion"
    assert doc["objective"]["trace"] == res.trace
    assert doc["objective"]["final"] == res.trace[-1]
    assert doc["metrics"]["nmi"] == res.metrics["nmi"]
    assert doc["timing"]["per_iteration_s"] > 0 and doc["timing"]["total_s"] > 0

    with np.load(paths["parameters"]) as npz:
        np.testing.assert_array_equal(npz["centers"], res.model.centers)
        np.testing.assert_array_equal(npz["labels"], res.model.labels())

    with open(paths["assignments"], newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["id", "label", "p0", "p1", "p2"]
    assert [r[0] for r in rows[1:]] == list(data.ids)
    assert [int(r[1]) for r in rows[1:]] == list(res.model.labels())
    memb = np.array([[float(v) for v in r[2:]] for r in rows[1:]])
    np.testing.assert_array_equal(memb, res.model.memberships())  # repr() round-trips floats
    # Atomic writes leave no temporary files behind.
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "assignments.csv", "parameters.npz", "result.json"]


def test_cancelled_partial_result_is_exportable(tmp_path):
    control = runner.RunControl()

    def cb(p):
        if p.iteration >= 2:
            control.cancel()

    res = runner.fit(ShrinkModel, table(), K=2, rate=0.01, tol=0, max_iter=100, callback=cb,
                     snapshot_interval=0.0, control=control)
    doc = json.loads(export_result(res, tmp_path)["result"].read_text())
    assert doc["cancelled"] is True and doc["iterations"] == 2


def test_non_finite_numbers_become_null(tmp_path):
    res = runner.fit(ShrinkModel, table(labels=False), K=2, max_iter=2, tol=0)
    res.metrics["odd"] = float("nan")
    doc = json.loads(export_result(res, tmp_path)["result"].read_text())
    assert doc["metrics"]["odd"] is None


# ---- the set as a whole --------------------------------------------------------------------------

def _fit(K=3, seed=1):
    return runner.fit(ShrinkModel, table(n=30, d=3), seed=seed, K=K, rate=0.5, tol=1e-9)


def _network_result():
    data = explorer.load(SAMPLE / "karate" / "edges.csv", kind="network")
    return explorer.fit("ammsb", data, K=2, max_iter=2, seed=0)


def test_readme_python_example_runs_exactly_as_shown(tmp_path):
    """The README's Python block, run as written in a fresh interpreter (its last line failed:
    `explorer.export` was shadowed by the submodule once imported)."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Python\s+```python\n(.*?)```", text, re.S).group(1)
    assert "explorer.export(result" in block
    (tmp_path / "sample_data").symlink_to(SAMPLE)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    saved = explorer.load_result(tmp_path / "out")
    assert saved.model == "kmeans" and len(saved.assignments) == 150


def test_api_export_and_module_are_both_callable(tmp_path):
    res = _fit()
    import explorer.export as module
    assert callable(module) and callable(explorer.export)
    explorer.export(res, tmp_path / "a")
    module(res, tmp_path / "b")
    assert load_result(tmp_path / "a").doc["files"] == load_result(tmp_path / "b").doc["files"]


def test_rerun_into_the_same_folder_leaves_no_stale_file(tmp_path):
    out = tmp_path / "out"
    paths = export_result(_network_result(), out)
    assert "graphml" in paths and (out / "communities.graphml").exists()
    export_result(_fit(), out)                      # a table result into the same folder
    assert sorted(p.name for p in out.iterdir()) == [
        "assignments.csv", "parameters.npz", "result.json"]
    assert load_result(out).model == "shrink"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]     # no hidden folder left


def test_folder_with_other_files_is_refused_and_left_alone(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="not an exported result .notes.txt."):
        export_result(_fit(), out)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_files_respect_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        paths = export_result(_network_result(), tmp_path / "out")
    finally:
        os.umask(old)
    for p in paths.values():
        assert p.stat().st_mode & 0o777 == mode, p
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o777 & ~mask


def test_stale_temporaries_are_cleaned(tmp_path):
    out = tmp_path / "out"
    export_result(_fit(), out)
    # what a killed export leaves: a hidden set folder of a dead process, an old-style temp file
    dead = 2 ** 22 + 12345          # above the default pid_max: never a running process
    stale = tmp_path / f".out.explorer-new-{dead}-0123abcd"
    stale.mkdir()
    (stale / "parameters.npz").write_bytes(b"x" * 1000)
    (out / ".parameters.npz.k2j3.tmp").write_bytes(b"x" * 1000)
    live = tmp_path / f".out.explorer-new-{os.getpid()}-99ff"    # a running export: kept
    live.mkdir()
    export_result(_fit(K=2), out)
    assert not stale.exists() and live.exists()
    assert sorted(p.name for p in out.iterdir()) == [
        "assignments.csv", "parameters.npz", "result.json"]


def test_loader_checks_the_set_belongs_together(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    export_result(_fit(K=3), a)
    export_result(_fit(K=2, seed=5), b)
    saved = load_result(a)
    assert saved.doc["hyperparameters"]["K"] == 3 and saved.parameters["centers"].shape == (3, 3)
    assert list(saved.assignments["id"]) == [str(i) for i in range(30)]
    # a mixed set: b's parameters beside a's result.json
    (a / "parameters.npz").write_bytes((b / "parameters.npz").read_bytes())
    with pytest.raises(DataError, match="parameters.npz does not belong"):
        load_result(a)
    (b / "assignments.csv").unlink()
    with pytest.raises(DataError, match="assignments.csv is missing"):
        load_result(b)
    export_result(_fit(), a)
    (a / "communities.graphml").write_text("<graphml/>")
    with pytest.raises(DataError, match="communities.graphml is not part"):
        load_result(a)


@pytest.mark.parametrize("exchange", [True, False])
def test_interrupted_export_leaves_the_previous_set(tmp_path, monkeypatch, exchange):
    out = tmp_path / "out"
    export_result(_fit(K=3), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    if not exchange:
        monkeypatch.setattr(export_mod, "_exchange", lambda a, b: False)

    def ctrl_c(result):
        raise KeyboardInterrupt

    monkeypatch.setattr(export_mod, "assignments_table", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        export_result(_fit(K=2), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    monkeypatch.undo()
    if not exchange:
        monkeypatch.setattr(export_mod, "_exchange", lambda a, b: False)
    export_result(_fit(K=2), out)               # the two-rename path swaps too
    assert load_result(out).doc["hyperparameters"]["K"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
