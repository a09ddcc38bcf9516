"""Export round trip: what is written can be read back and equals what was fitted."""

import csv
import json

import numpy as np
from fake_models import ShrinkModel
from test_runner import table

from explorer import __version__, runner
from explorer.export import export_result


def test_round_trip(tmp_path):
    data = table(n=30, d=3)
    res = runner.fit(ShrinkModel, data, seed=1, K=3, rate=0.5, tol=1e-9)
    paths = export_result(res, tmp_path / "out")
    assert set(paths) == {"result", "parameters", "assignments"}

    doc = json.loads(paths["result"].read_text())
    assert doc["model"] == "shrink" and doc["version"] == __version__
    assert doc["hyperparameters"]["K"] == 3
    assert doc["data"] | {} == doc["data"] and doc["data"]["kind"] == "table"
    assert doc["data"]["shape"] == [30, 3]
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
