"""Sessions: save and reopen every run exactly, replay them headless, refuse what is not safe."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import explorer
from explorer import runner, session
from explorer.models import get_model

FIXTURES = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parent.parent


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "explorer.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=600)


def two_run_session(sample_dir):
    iris = explorer.load(sample_dir / "iris.csv", labels="species")
    karate = explorer.load(sample_dir / "karate" / "edges.csv", kind="network")
    s = session.Session()
    s.add_run(runner.fit(get_model("gmm")(K=3), iris, seed=4), options={"labels": "species"})
    s.add_run(runner.fit(get_model("ammsb")(K=2), karate, seed=0), options={})
    return s, iris


def test_save_and_open_restore_every_run(tmp_path, sample_dir):
    s, iris = two_run_session(sample_dir)
    path = s.save(tmp_path / "work")
    assert path.name == "work.explorer.json" and session.arrays_path(path).exists()
    doc = json.loads(path.read_text())          # human-readable, versioned
    assert doc["format"] == session.FORMAT and len(doc["runs"]) == 2
    assert doc["datasets"][0]["sha256"] == iris.sha256
    back = session.load_session(path)
    assert back.current_run == 2 and [r.model for r in back.runs] == ["gmm", "ammsb"]
    for a, b in zip(s.runs, back.runs):
        assert a.result == json.loads(json.dumps(a.result)) == b.result
        assert a.hyperparameters == b.hyperparameters and a.seed == b.seed
        assert sorted(a.arrays) == sorted(b.arrays)
        for name in a.arrays:
            np.testing.assert_array_equal(a.arrays[name], b.arrays[name])
    assert back.datasets[0].options == {"labels": "species"}
    back.remove_run(2)
    assert back.current_run == 1 and len(back.runs) == 1


def test_replay_reproduces_every_objective(tmp_path, sample_dir):
    s, _ = two_run_session(sample_dir)
    path = s.save(tmp_path / "work")
    r = cli("replay", path, "--out", tmp_path / "again")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 of 2 runs reproduced" in r.stdout
    assert (tmp_path / "again" / "run2" / "result.json").exists()


def test_replay_reports_a_different_objective(tmp_path, sample_dir):
    s, _ = two_run_session(sample_dir)
    s.runs[0].result["objective"]["final"] += 1e-3        # as if the saved result were wrong
    path = s.save(tmp_path / "work")
    r = cli("replay", path)
    assert r.returncode == 1
    assert "DIFFERENT" in r.stdout and "1 of 2 runs reproduced" in r.stdout


def test_a_changed_data_file_is_reported_not_used(tmp_path, sample_dir):
    data_file = tmp_path / "iris.csv"
    shutil.copy(sample_dir / "iris.csv", data_file)
    iris = explorer.load(data_file, labels="species")
    s = session.Session()
    s.add_run(runner.fit(get_model("kmeans")(K=3), iris, seed=0), options={"labels": "species"})
    path = s.save(tmp_path / "work")
    data_file.write_text(data_file.read_text().replace("5.1,3.5", "5.2,3.5", 1))
    back = session.load_session(path)
    (problem,) = session.check_datasets(back)
    assert "changed since the session was saved" in problem and str(data_file) in problem
    (row,) = session.replay(back)
    assert not row.matches and "changed" in row.problem
    r = cli("replay", path)
    assert r.returncode == 1 and "changed" in r.stderr


def test_fit_appends_runs_to_a_session(tmp_path, sample_dir):
    path = tmp_path / "cli.explorer.json"
    for K in (2, 3):
        r = cli("fit", "kmeans", sample_dir / "iris.csv", "--K", K, "--labels", "species",
                "--quiet", "--session", path)
        assert r.returncode == 0, r.stderr
    back = session.load_session(path)
    assert [r.hyperparameters["K"] for r in back.runs] == [2, 3]
    assert len(back.datasets) == 1          # the same file and options are one dataset


def test_format_1_fixture_still_opens_and_replays(tmp_path):
    # Checked in when format 1 was current: it must keep opening as the format evolves. Its
    # absolute data path is from another machine; the path relative to the session file works.
    src = FIXTURES / "format1_iris.explorer.json"
    back = session.load_session(src)
    assert [r.model for r in back.runs] == ["kmeans", "gmm"]
    assert Path(back.datasets[0].path) == (ROOT / "sample_data" / "iris.csv").resolve()
    assert back.runs[0].arrays["centers"].shape == (3, 4)
    assert all(row.matches for row in session.replay(back))


def test_unreadable_sessions_are_refused_with_a_reason(tmp_path):
    newer = tmp_path / "newer.explorer.json"
    newer.write_text(json.dumps({"app": "explorer", "format": session.FORMAT + 1}))
    with pytest.raises(session.SessionError, match="newer than this explorer reads"):
        session.load_session(newer)
    junk = tmp_path / "junk.explorer.json"
    junk.write_text("{not json")
    with pytest.raises(session.SessionError, match="invalid JSON"):
        session.load_session(junk)
    r = cli("replay", junk)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
