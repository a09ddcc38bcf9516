"""The headless CLI end to end, through a subprocess as a user would run it."""

import json

import numpy as np
import pytest
from conftest import SAMPLE
from helpers import run_cli, run_python


def test_models_lists_every_model_with_flags():
    r = run_cli("models")
    assert r.returncode == 0, r.stderr
    assert "kmeans:" in r.stdout and "--K int = 3" in r.stdout
    assert "--n-init" in r.stdout


def test_fit_kmeans_iris_prints_progress_summary_and_exports(tmp_path):
    out = tmp_path / "out"
    r = run_cli(
        "fit",
        "kmeans",
        SAMPLE / "iris.csv",
        "--K",
        "3",
        "--labels",
        "species",
        "--seed",
        "0",
        "--out",
        out,
    )
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


@pytest.mark.parametrize(
    "args, message",
    [
        (["fit", "kmeans", "no_such_file.csv"], "no_such_file.csv"),
        (["fit", "nope", "x.csv"], "unknown model 'nope'"),
        (["fit", "kmeans", SAMPLE / "iris.csv", "--K", "0"], "K = 0 is below its minimum"),
        (
            ["fit", "kmeans", SAMPLE / "iris.csv", "--K", "500", "--labels", "species"],
            "K = 500 is larger than the number of rows (150)",
        ),
        (["fit", "kmeans", SAMPLE / "iris.csv", "--directed"], "--directed does not apply"),
        (["fit", "kmeans", SAMPLE / "iris.csv", "--labels", "nope"], "unknown label column 'nope'"),
        # A table is never fitted as a network by accident, nor an edge list as a temporal network.
        (["fit", "ammsb", SAMPLE / "iris.csv"], "looks like a table (columns sepal_length"),
        (
            ["fit", "dynamic-exposure", SAMPLE / "karate" / "edges.csv"],
            "looks like an edge list (network), not a temporal edge list",
        ),
        (
            ["fit", "kmeans", SAMPLE / "iris.csv", "--out", "/proc/no_such_dir/out"],
            "cannot write the results there",
        ),
        # issue 12: a folder of other files is never replaced by a set (refused before the fit)
        (["fit", "kmeans", SAMPLE / "iris.csv", "--out", SAMPLE], "not an exported result"),
        (
            ["fit", "kmeans", SAMPLE / "iris.csv", "--columns", "petal_length,petal_length"],
            "'petal_length' named twice",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message):
    r = run_cli(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    errors = [line for line in r.stderr.splitlines() if line.startswith("explorer: error:")]
    assert len(errors) == 1 and message in errors[0], r.stderr
    assert "Traceback" not in r.stderr


def test_malformed_csv_names_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,x\n5,6\n")
    r = run_cli("fit", "kmeans", bad, "--K", "2")
    assert r.returncode == 2
    assert "bad.csv" in r.stderr and "line 3" in r.stderr and "'b'" in r.stderr


@pytest.mark.parametrize("flag, value", [("--tol", "-1"), ("--max-iter", "0"), ("--tol", "x")])
def test_bad_run_options_exit_2_before_fitting(flag, value):
    r = run_cli("fit", "kmeans", SAMPLE / "iris.csv", flag, value)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"argument {flag}" in r.stderr


def test_forcing_the_kind_reads_a_headerless_edge_list(tmp_path):
    edges = tmp_path / "ring.tsv"
    edges.write_text("".join(f"{i}\t{(i + 1) % 12}\n" for i in range(12)))
    r = run_cli("fit", "ammsb", edges, "--K", "2", "--max-iter", "3", "--kind", "network")
    assert r.returncode == 0, r.stderr
    assert "12 nodes, 12 edges" in r.stdout


@pytest.mark.parametrize("seed", ["-1", "x", "1.5"])
def test_bad_seed_exits_2_without_a_traceback(seed):
    # --seed -1 gave a 28-line traceback
    r = run_cli("fit", "kmeans", SAMPLE / "iris.csv", "--seed", seed)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    shown = seed if seed == "-1" else repr(seed)
    assert (
        r.stderr.strip()
        .splitlines()[-1]
        .endswith(f"argument --seed: expected a whole number >= 0, got {shown}")
    )


def test_degenerate_fit_exits_3_and_still_writes_the_set(tmp_path):
    """20 zeros + 80 Exp(1): every restart puts a component on the zeros. The CLI said
    converged with log-likelihood +13,736 and exit 0; now: not converged, exit 3, one error line,
    and the set is written with the stop reason so it can be inspected."""
    rng = np.random.default_rng(0)
    x = np.r_[np.zeros(20), rng.exponential(1.0, 80)]
    p = tmp_path / "z.csv"
    p.write_text("x\n" + "\n".join(repr(float(v)) for v in x) + "\n")
    out = tmp_path / "out"
    r = run_cli("fit", "exponential-mixture", p, "--quiet", "--out", out)
    assert r.returncode == 3, r.stderr
    assert "converged: false" in r.stdout and "stop reason: degenerate" in r.stdout
    errors = [line for line in r.stderr.splitlines() if line.startswith("explorer: error:")]
    assert errors == [
        "explorer: error: the fit gave no usable state (degenerate); see the notes above"
    ]
    doc = json.loads((out / "result.json").read_text())
    assert doc["stop_reason"].startswith("degenerate") and doc["converged"] is False


def test_python_api_checks_the_data_kind_like_the_cli():
    """explorer.fit("ammsb", "iris.csv") read the table as an edge list and fitted it."""
    import explorer
    from explorer.data import DataError

    with pytest.raises(DataError, match="takes network data, but this looks like a table"):
        explorer.fit("ammsb", SAMPLE / "iris.csv", K=2)
    with pytest.raises(DataError, match="takes temporal data, but this looks like an edge list"):
        explorer.fit("dynamic-exposure", str(SAMPLE / "karate" / "edges.csv"))
    with pytest.raises(DataError, match="takes table data, not network data"):
        explorer.fit("kmeans", SAMPLE / "iris.csv", kind="network")
    res = explorer.fit("kmeans", SAMPLE / "iris.csv", K=3)  # the right kind still works
    assert res.data.shape == (150, 4)


def test_warnings_become_one_line_notes():
    import warnings

    from explorer import cli

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn(
            "invalid value encountered in cast\nsecond line", RuntimeWarning, stacklevel=1
        )
        warnings.warn(
            "invalid value encountered in cast\nsecond line", RuntimeWarning, stacklevel=1
        )
    assert cli._warning_notes(caught) == ["RuntimeWarning: invalid value encountered in cast"]


def test_every_output_path_is_checked_before_the_fit(tmp_path):
    """--session in a folder that cannot take it, or a damaged session, is refused before the
    fit with one line (before: the fit ran, then a raw errno message); a legal 230-character
    --out works; a read-only --out is refused before the fit."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    args = ["fit", "kmeans", SAMPLE / "iris.csv", "--K", "2", "--quiet"]
    r = run_cli(*args, "--session", blocker / "s")  # its folder is a file
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "cannot save the session" in r.stderr and "iteration" not in r.stderr + r.stdout
    damaged = tmp_path / "d.explorer.json"
    damaged.write_text('{"app": "explorer", "format": 1, "datasets": 3, "runs": []}')
    r = run_cli(*args, "--session", damaged)
    assert r.returncode == 2 and "datasets" in r.stderr and r.stderr.count("\n") == 1
    assert "inertia" not in r.stdout  # nothing fitted
    long_out = tmp_path / ("o" * 230)
    r = run_cli(*args, "--out", long_out)
    assert r.returncode == 0, r.stderr
    assert (long_out / "result.json").exists()


def test_a_read_only_output_folder_is_refused_before_the_fit():
    """A read-only --out or --session folder: refused before the fit with one line. Root writes
    anywhere, so as root the CLI runs as the unprivileged user nobody (65534)."""
    import os
    import shutil
    import tempfile
    from pathlib import Path

    base = Path(tempfile.mkdtemp(prefix="explorer-ro-"))  # in /tmp: searchable by anyone
    try:
        base.chmod(0o755)
        ro = base / "folder"
        ro.mkdir()
        (ro / "result.json").write_text("{}")
        data = base / "iris.csv"
        shutil.copy(SAMPLE / "iris.csv", data)
        ro.chmod(0o555)
        preexec = None
        if os.geteuid() == 0:

            def preexec():
                os.setgid(65534)
                os.setuid(65534)

            try:
                probe = run_python("-c", "import explorer.cli", preexec_fn=preexec)
            except PermissionError:
                probe = None
            if probe is None or probe.returncode != 0:
                pytest.skip("Python or the checkout cannot be run by an unprivileged user here")
        env = dict(__import__("os").environ, HOME=str(base), NUMBA_CACHE_DIR=str(base / "nc"))
        for flag, value in (("--out", ro / "sub"), ("--out", ro), ("--session", ro / "s")):
            r = run_cli(
                "fit",
                "kmeans",
                data,
                "--K",
                "2",
                "--quiet",
                flag,
                value,
                preexec_fn=preexec,
                env=env,
            )
            assert r.returncode == 2, (flag, value, r.stderr)
            assert r.stderr.count("\n") == 1 and "inertia" not in r.stdout, r.stderr
    finally:
        ro.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)
