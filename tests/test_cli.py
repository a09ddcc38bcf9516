"""The headless CLI end to end, through a subprocess as a user would run it."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import SAMPLE


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "explorer.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def test_models_lists_every_model_with_flags():
    r = run("models")
    assert r.returncode == 0, r.stderr
    assert "kmeans:" in r.stdout and "--K int = 3" in r.stdout
    assert "--n-init" in r.stdout


def test_fit_kmeans_iris_prints_progress_summary_and_exports(tmp_path):
    out = tmp_path / "out"
    r = run("fit", "kmeans", SAMPLE / "iris.csv", "--K", "3", "--labels", "species",
            "--seed", "0", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "iteration" in r.stderr and "distortion" in r.stderr
    summary = dict(line.split(": ", 1) for line in r.stdout.splitlines() if ": " in line)
    assert summary["converged"] == "true"
    assert float(summary["nmi"]) >= 0.70
    doc = json.loads((out / "result.json").read_text())
    assert doc["model"] == "kmeans" and doc["hyperparameters"]["K"] == 3
    assert doc["data"]["kind"] == "table" and doc["data"]["shape"] == [150, 4]
    assert len(doc["data"]["sha256"]) == 64
    assert doc["metrics"]["nmi"] == pytest.approx(float(summary["nmi"]), rel=1e-5)
    with np.load(out / "parameters.npz") as npz:
        assert npz["centers"].shape == (3, 4)
    lines = (out / "assignments.csv").read_text().splitlines()
    assert lines[0].startswith("id,label") and len(lines) == 151


@pytest.mark.parametrize("args, message", [
    (["fit", "kmeans", "no_such_file.csv"], "no_such_file.csv"),
    (["fit", "nope", "x.csv"], "unknown model 'nope'"),
    (["fit", "kmeans", SAMPLE / "iris.csv", "--K", "0"], "K = 0 is below its minimum"),
    (["fit", "kmeans", SAMPLE / "iris.csv", "--K", "500", "--labels", "species"],
     "K = 500 is larger than the number of rows (150)"),
    (["fit", "kmeans", SAMPLE / "iris.csv", "--directed"], "--directed does not apply"),
    (["fit", "kmeans", SAMPLE / "iris.csv", "--labels", "nope"], "unknown label column 'nope'"),
    # A table is never fitted as a network by accident, nor an edge list as a temporal network.
    (["fit", "ammsb", SAMPLE / "iris.csv"], "looks like a table (columns sepal_length"),
    (["fit", "dynamic-exposure", SAMPLE / "karate" / "edges.csv"],
     "looks like an edge list (network), not a temporal edge list"),
    (["fit", "kmeans", SAMPLE / "iris.csv", "--out", "/proc/no_such_dir/out"],
     "cannot write the results there"),
])
def test_bad_input_exits_2_with_one_line(args, message):
    r = run(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    errors = [line for line in r.stderr.splitlines() if line.startswith("explorer: error:")]
    assert len(errors) == 1 and message in errors[0], r.stderr
    assert "Traceback" not in r.stderr


def test_malformed_csv_names_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,x\n5,6\n")
    r = run("fit", "kmeans", bad, "--K", "2")
    assert r.returncode == 2
    assert "bad.csv" in r.stderr and "line 3" in r.stderr and "'b'" in r.stderr


@pytest.mark.parametrize("flag, value", [("--tol", "-1"), ("--max-iter", "0"), ("--tol", "x")])
def test_bad_run_options_exit_2_before_fitting(flag, value):
    r = run("fit", "kmeans", SAMPLE / "iris.csv", flag, value)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"argument {flag}" in r.stderr


def test_forcing_the_kind_reads_a_headerless_edge_list(tmp_path):
    edges = tmp_path / "ring.tsv"
    edges.write_text("".join(f"{i}\t{(i + 1) % 12}\n" for i in range(12)))
    r = run("fit", "ammsb", edges, "--K", "2", "--max-iter", "3", "--kind", "network")
    assert r.returncode == 0, r.stderr
    assert "12 nodes, 12 edges" in r.stdout
