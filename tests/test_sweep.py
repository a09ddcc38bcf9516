"""K sweep: criteria, the chosen K on data with a known number of groups, bit-for-bit agreement
with a plain fit, and cancel leaving no worker behind."""

import json
import math
import multiprocessing as mp
import threading
import time

import numpy as np
import pytest
from helpers import run_cli, sweep_spec

from explorer import sweep


def test_silhouette_equals_scikit_learn():
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(0)
    X = rng.normal(size=(700, 3))
    for K in (2, 5):
        labels = rng.integers(0, K, size=700)
        labels[0] = K  # a cluster of one point scores 0, as in scikit-learn
        assert sweep.silhouette(X, labels, block=128) == pytest.approx(
            silhouette_score(X, labels), rel=1e-10
        )


def test_parse_k_range():
    assert sweep.parse_k_range("2:5") == [2, 3, 4, 5]
    assert sweep.parse_k_range("2:10:4") == [2, 6, 10]
    assert sweep.parse_k_range("5,3,3") == [3, 5]
    for bad in ("5:2", "0:3", "a", "2:3:0", ""):
        with pytest.raises(ValueError):
            sweep.parse_k_range(bad)


def test_elbow_of_a_bent_curve():
    assert sweep.elbow([1, 2, 3, 4, 5, 6], [100, 40, 10, 8, 6, 5]) == 3


def four_blobs(path, n=400, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=float)
    X = np.vstack([c + rng.normal(size=(n // 4, 2)) for c in centres])
    labels = np.repeat(np.arange(4), n // 4)
    lines = ["x,y,group"] + [f"{a:.6f},{b:.6f},g{g}" for (a, b), g in zip(X, labels)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("model_id", ["gmm", "bayes-gmm", "kmeans"])
def test_chooses_the_true_number_of_gaussians(tmp_path, model_id):
    path = four_blobs(tmp_path / "blobs.csv")
    spec = sweep_spec(
        model_id, path, "table", range(2, 8), seeds=(0, 1), options={"labels": "group"}
    )
    rows = list(sweep.iter_sweep(spec, jobs=0))
    assert len(rows) == 12 and not any(r.error for r in rows)
    summary = sweep.summarize(model_id, rows)
    assert summary["chosen_K"] == 4, summary
    at4 = next(e for e in summary["per_K"] if e["K"] == 4)
    assert at4["stability_ari"] == pytest.approx(1.0)


def test_ammsb_held_out_likelihood_chooses_the_planted_groups(tmp_path):
    import networkx as nx

    g = nx.planted_partition_graph(5, 40, 0.5, 0.01, seed=3)
    path = tmp_path / "planted.csv"
    path.write_text("u,v\n" + "".join(f"{u},{v}\n" for u, v in g.edges()))
    spec = sweep_spec("ammsb", path, "network", [2, 3, 5, 8], seeds=(0,))
    rows = list(sweep.iter_sweep(spec, jobs=0))
    assert not any(r.error for r in rows), [r.error for r in rows]
    summary = sweep.summarize("ammsb", rows)
    assert summary["chosen_K"] == 5, summary["per_K"]


def test_a_sweep_fit_equals_a_plain_fit_bit_for_bit(tmp_path, sample_dir):
    # Against `explorer fit` in a fresh process, as a user runs it (the test process itself may
    # have had its BLAS or numba thread settings changed by earlier tests).
    path = sample_dir / "iris.csv"
    spec = sweep_spec(
        "gmm",
        path,
        "table",
        [3],
        seeds=(2,),
        options={"labels": "species"},
        out_dir=str(tmp_path / "sw"),
    )
    (row,) = list(sweep.iter_sweep(spec, jobs=1))  # in a worker process
    assert row.error is None and row.out
    options = "--K 3 --seed 2 --labels species --quiet --out".split()
    r = run_cli("fit", "gmm", path, *options, tmp_path / "plain")
    assert r.returncode == 0, r.stderr
    plain = json.loads((tmp_path / "plain" / "result.json").read_text())
    saved = json.loads((tmp_path / "sw" / "K=3,seed=2" / "result.json").read_text())
    assert saved["objective"]["trace"] == plain["objective"]["trace"]
    assert row.objective == plain["objective"]["final"]
    with (
        np.load(tmp_path / "sw" / "K=3,seed=2" / "parameters.npz") as a,
        np.load(tmp_path / "plain" / "parameters.npz") as b,
    ):
        assert sorted(a.files) == sorted(b.files)
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name])
        np.testing.assert_array_equal(row.labels, b["labels"])


def test_cancel_stops_every_worker_promptly(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 5))
    path = tmp_path / "big.csv"
    np.savetxt(path, X, delimiter=",", header="a,b,c,d,e", comments="")
    # EM on structureless data with tol 0 and a huge iteration limit creeps on for minutes.
    spec = sweep_spec("gmm", path, "table", [3, 4, 5, 6], seeds=(0, 1), tol=0.0, max_iter=10**6)
    cancel = sweep.SweepCancel()
    cancelled_at = []

    def press_cancel():
        cancelled_at.append(time.perf_counter())
        cancel.cancel()

    timer = threading.Timer(8.0, press_cancel)
    timer.start()
    rows, after_cancel = [], []
    for row in sweep.iter_sweep(spec, jobs=2, cancel=cancel):
        rows.append(row)
        if cancelled_at:
            after_cancel.append(row)
    timer.cancel()
    assert cancel.cancelled
    # The fits running at the cancel come back stopped ("cancelled"); queued fits never start.
    # (A fit may reach an exact fixed point, "converged", before the cancel.)
    assert after_cancel and all(r.stop_reason == "cancelled" for r in after_cancel)
    assert sum(r.iterations > 0 for r in after_cancel) <= 2  # only the two running fits
    # Every worker has stopped and been joined by the time the generator returns (uncancelled,
    # these fits would run for about an hour). How long the stop takes is measured in
    # bench/bench_sweep_cancel.py, not asserted here.
    assert mp.active_children() == []
    assert len(rows) < 8  # the queued fits never came back as rows of finished fits


def test_closing_the_sweep_early_cancels_the_rest(tmp_path):
    """A consumer that stops reading (Ctrl-C in its loop, a break) closes the generator: the fits
    still queued never start and the workers are joined. Before, the pool ran all 18 fits to the
    end first (the generator's cleanup read the cancel flag before anyone had set it)."""
    path = four_blobs(tmp_path / "blobs.csv")
    spec = sweep_spec(
        "gmm",
        path,
        "table",
        [2, 3, 4, 5, 6, 7],
        seeds=(0, 1, 2),
        tol=0.0,
        max_iter=300,
        out_dir=str(tmp_path / "sw"),
    )
    cancel = sweep.SweepCancel()
    rows = sweep.iter_sweep(spec, jobs=1, cancel=cancel)
    first = next(rows)
    rows.close()
    assert cancel.cancelled and mp.active_children() == []
    assert first.error is None
    written = sorted(p.name for p in (tmp_path / "sw").iterdir())
    # the first fit, perhaps one that ended just before the close; the one running at the close
    # is stopped ("cancelled", not exported), the one waiting in the pool's queue never starts
    assert 1 <= len(written) <= 2, written


def test_resume_keeps_the_complete_fits_of_an_interrupted_sweep(tmp_path, sample_dir):
    """`--resume`: the fits an earlier sweep completed with the same settings are read back (the
    same criteria, no refit), the missing and the cancelled ones are fitted; without it an earlier
    sweep's folder is replaced; a folder holding anything else is refused before any fit."""
    out = tmp_path / "sw"

    def sweep_cli(Ks, *more):
        options = "--seeds 1 --jobs 0 --out".split()
        return run_cli("sweep", "kmeans", sample_dir / "iris.csv", "--K", Ks, *options, out, *more)

    first = sweep_cli("2:4")
    assert first.returncode == 0, first.stderr
    before = (out / "sweep.csv").read_text()
    # as a killed sweep leaves it: one fit missing, no sweep.csv/json, a killed export's folder
    import shutil

    shutil.rmtree(out / "K=3,seed=0")
    (out / "sweep.csv").unlink()
    (out / "sweep.json").unlink()
    (out / ".K=3,seed=0.explorer-new-999999999-abcdef").mkdir()
    again = sweep_cli("2:4", "--resume")
    assert again.returncode == 0, again.stderr
    kept = [line for line in again.stderr.splitlines() if "kept from the earlier sweep" in line]
    assert len(kept) == 2 and not any("K=3" in line for line in kept), again.stderr

    def criteria(text):
        import csv
        import io

        return [
            {k: v for k, v in row.items() if k != "seconds"}
            for row in csv.DictReader(io.StringIO(text))
        ]

    assert criteria((out / "sweep.csv").read_text()) == criteria(before)  # all but "seconds"
    assert sorted(p.name for p in out.iterdir()) == [
        "K=2,seed=0",
        "K=3,seed=0",
        "K=4,seed=0",
        "sweep.csv",
        "sweep.json",
    ]
    # without --resume: replaced (K=5 only now)
    replaced = sweep_cli("5")
    assert replaced.returncode == 0, replaced.stderr
    assert sorted(p.name for p in out.iterdir()) == ["K=5,seed=0", "sweep.csv", "sweep.json"]
    (out / "notes.txt").write_text("mine")
    refused = sweep_cli("2:4")
    assert refused.returncode == 2 and "notes.txt" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert (out / "notes.txt").read_text() == "mine"


# ---- degenerate, cancelled and failed fits are left out of the choice (issue 22) -------------


def _row(K, seed, bic, stop="converged", error=None, iterations=10):
    labels = np.repeat(np.arange(K), 5).astype(np.int32)
    return sweep.SweepRow(
        K=K,
        seed=seed,
        iterations=iterations,
        converged=stop == "converged",
        stop_reason=stop,
        objective_kind="log-likelihood",
        objective=-bic / 2,
        criteria={"bic": bic, "aic": bic},
        error=error,
        labels=labels,
    )


def test_summary_leaves_degenerate_cancelled_and_failed_fits_out():
    """A degenerate gmm fit (a component on a point mass) has an unbounded likelihood, so the
    lowest BIC: averaged in, it chose K = 3 (mean BIC about -500,000). Left out, K = 2 wins and
    K = 4, whose only fit is degenerate, has no mean and is never chosen."""
    rows = [
        _row(2, 0, 100.0),
        _row(2, 1, 102.0),
        _row(3, 0, 150.0),
        _row(3, 1, -1e6, "degenerate: component 2 sits on a single point"),
        _row(3, 2, 90.0, "cancelled"),
        _row(3, 3, math.nan, error="ValueError: boom"),
        _row(4, 0, -2e6, "degenerate: components 1 and 2 coincide"),
        _row(4, 1, -3e6, "non-finite objective (nan) at iteration 3"),
    ]
    s = sweep.summarize("gmm", rows)
    per_k = {e["K"]: e for e in s["per_K"]}
    assert s["chosen_K"] == 2, s
    assert per_k[3]["bic"] == 150.0 and per_k[3]["bic_std"] == 0.0
    assert (
        per_k[3]["fits"],
        per_k[3]["used"],
        per_k[3]["degenerate"],
        per_k[3]["cancelled"],
        per_k[3]["failed"],
    ) == (4, 1, 1, 1, 1)
    assert per_k[4]["used"] == 0 and per_k[4]["degenerate"] == 2 and math.isnan(per_k[4]["bic"])
    assert math.isnan(per_k[4]["stability_ari"])
    assert s["left_out"] == {"degenerate": 3, "cancelled": 1, "failed": 1}
    assert "left out: 3 degenerate, 1 cancelled, 1 failed fits" in s["reason"]
    assert [sweep.fit_status(r) for r in rows[2:6]] == ["used", "degenerate", "cancelled", "failed"]
    assert rows[3].flat()["status"] == "degenerate"


def test_every_k_degenerate_chooses_nothing():
    rows = [_row(2, 0, -1e6, "degenerate: x"), _row(3, 0, -2e6, "degenerate: y")]
    s = sweep.summarize("gmm", rows)
    assert s["chosen_K"] is None and s["reason"].startswith("no fit produced a finite bic")


def test_cli_sweep_shows_and_writes_the_degenerate_fits(tmp_path, capsys):
    """kmeans with K = 3 on two distinct rows is degenerate (issue 22 item 7): the CLI's table
    counts it in a "left out" column, sweep.csv gives each fit's status and sweep.json the counts
    (before: averaged in, the silhouette of the degenerate fits in K = 3's mean, no trace of it)."""
    from explorer.cli import main

    data = tmp_path / "two.csv"
    data.write_text("a,b\n" + "0,0\n5,1\n" * 20)
    out = tmp_path / "sweep"
    options = "--K 2,3 --seeds 2 --jobs 0 --out".split()
    rc = main(["sweep", "kmeans", str(data), *options, str(out)])
    got = capsys.readouterr()
    assert rc == 0, got.err
    lines = got.out.splitlines()
    assert lines[0].split()[-2:] == ["left", "out"]
    k2 = next(x for x in lines if x.split()[0] == "2")
    k3 = next(x for x in lines if x.split()[0] == "3")
    assert k2.endswith("-  <- chosen") and k3.endswith("2 degenerate"), got.out
    assert "left out: 2 degenerate fits" in got.out
    doc = json.loads((out / "sweep.json").read_text())
    k3 = next(e for e in doc["per_K"] if e["K"] == 3)
    assert (k3["used"], k3["degenerate"]) == (0, 2) and doc["chosen_K"] == 2
    import csv

    with open(out / "sweep.csv") as fh:
        status = {(r["K"], r["seed"]): r["status"] for r in csv.DictReader(fh)}
    assert status == {
        ("2", "0"): "used",
        ("2", "1"): "used",
        ("3", "0"): "degenerate",
        ("3", "1"): "degenerate",
    }
