"""Sessions: save and reopen every run exactly, replay them headless, refuse what is not safe."""

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import checkout_env, run_cli, run_python

import explorer
from explorer import runner, session
from explorer.models import get_model

FIXTURES = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parent.parent


def cli(*args, **kw):
    return run_cli(*args, timeout=600, **kw)


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
    doc = json.loads(path.read_text())  # human-readable, versioned
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
    r = cli("replay", path, "--allow-paths", "--out", tmp_path / "again")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 of 2 runs reproduced" in r.stdout
    assert (tmp_path / "again" / "run2" / "result.json").exists()


def test_replay_reports_a_different_objective(tmp_path, sample_dir):
    s, _ = two_run_session(sample_dir)
    s.runs[0].result["objective"]["final"] += 1e-3  # as if the saved result were wrong
    path = s.save(tmp_path / "work")
    r = cli("replay", path, "--allow-paths")
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
    r = cli("replay", path)  # the data beside the session: no --allow-paths needed
    assert r.returncode == 1 and "changed" in r.stderr


def test_fit_appends_runs_to_a_session(tmp_path, sample_dir):
    path = tmp_path / "cli.explorer.json"
    for K in (2, 3):
        r = cli(
            "fit",
            "kmeans",
            sample_dir / "iris.csv",
            "--K",
            K,
            "--labels",
            "species",
            "--quiet",
            "--session",
            path,
        )
        assert r.returncode == 0, r.stderr
    back = session.load_session(path)
    assert [r.hyperparameters["K"] for r in back.runs] == [2, 3]
    assert len(back.datasets) == 1  # the same file and options are one dataset


def test_format_1_fixture_still_opens_and_replays(tmp_path):
    # Checked in when format 1 was current: it must keep opening as the format evolves. Its
    # absolute data path is from another machine; the path relative to the session file works.
    src = FIXTURES / "format1_iris.explorer.json"
    back = session.load_session(src)
    assert [r.model for r in back.runs] == ["kmeans", "gmm"]
    assert Path(back.datasets[0].path) == (ROOT / "sample_data" / "iris.csv").resolve()
    assert back.runs[0].arrays["centers"].shape == (3, 4)
    # its data lie outside the session's folder (tests/data): read only once confirmed
    assert session.paths_outside(back) == [(ROOT / "sample_data" / "iris.csv").resolve()]
    assert not any(row.matches for row in session.replay(back))
    back.confirm_paths(session.paths_outside(back))
    assert session.paths_outside(back) == []
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


# ---- tampered sessions (issue 22: items 9, 10, 12) -------------------------------------------------


def saved_session(tmp_path, sample_dir):
    """A kmeans run on a copy of iris beside the session (inside its folder tree)."""
    data_file = tmp_path / "iris.csv"
    shutil.copy(sample_dir / "iris.csv", data_file)
    iris = explorer.load(data_file, labels="species")
    s = session.Session()
    s.add_run(
        runner.fit(get_model("kmeans")(K=3), iris, seed=0, max_iter=5),
        options={"labels": "species"},
    )
    return s.save(tmp_path / "work")


def tamper(path, change):
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


TAMPERED = [
    (lambda d: d["runs"][0].update(seed=float("inf")), "runs[0].seed"),  # "seed": 1e400
    (lambda d: d["runs"][0].update(seed=-1), "runs[0].seed"),
    (lambda d: d["runs"][0].update(dataset=7), "runs[0].dataset"),
    (lambda d: d["runs"][0].update(dataset=-1), "runs[0].dataset"),
    (lambda d: d["runs"][0].update(dataset=True), "runs[0].dataset"),
    (lambda d: d["datasets"][0]["options"].update(sep=";"), "datasets[0].options.sep"),
    (lambda d: d["datasets"][0]["options"].update(labels=3), "datasets[0].options.labels"),
    (lambda d: d["runs"][0]["result"].update(objective="big"), "runs[0].result.objective"),
    (
        lambda d: d["runs"][0]["result"]["objective"].update(final="1.5"),
        "runs[0].result.objective.final",
    ),
    (lambda d: d["runs"][0].update(max_iter=0), "runs[0].max_iter"),
    (lambda d: d["runs"][0].update(tol=-1), "runs[0].tol"),
    (lambda d: d["runs"][0].update(model="nope"), "runs[0].model"),
    (lambda d: d["runs"][0]["hyperparameters"].update(K="three"), "runs[0].hyperparameters"),
    (lambda d: d["datasets"][0].update(sha256=7), "datasets[0].sha256"),
    (lambda d: d["datasets"][0].update(kind="movie"), "datasets[0].kind"),
    (lambda d: d.update(runs={}), "session.runs"),
    (lambda d: d.update(current_run=99), "session.current_run"),
]


def test_a_tampered_field_is_one_line_naming_it(tmp_path, sample_dir):
    """Before: OverflowError, IndexError, TypeError tracebacks (exit 1), or "dataset": -1
    silently the last data set. Now SessionError naming the field; `explorer replay` exits 2
    with one line (all the files through the CLI in one process, to keep the test short)."""
    original = saved_session(tmp_path, sample_dir)
    paths = []
    for i, (change, field) in enumerate(TAMPERED):
        path = tmp_path / f"t{i}.explorer.json"
        path.write_text(original.read_text())
        shutil.copy(session.arrays_path(original), session.arrays_path(path))
        tamper(path, change)
        with pytest.raises(session.SessionError, match=re.escape(field)):
            session.load_session(path)
        paths.append(str(path))
    script = """
import contextlib, io, json, sys
from explorer import cli
out = []
for p in sys.argv[1:]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["replay", p])
    out.append([code, err.getvalue()])
print(json.dumps(out))
"""
    r = run_python("-c", script, *paths, timeout=600, env=checkout_env())
    assert r.returncode == 0, r.stderr
    for (code, err), (_, field) in zip(json.loads(r.stdout), TAMPERED):
        assert code == 2 and err.count("\n") == 1 and field in err, (field, err)


def test_seed_1e400_and_deep_nesting_are_refused(tmp_path, sample_dir):
    path = saved_session(tmp_path, sample_dir)
    text = path.read_text()
    path.write_text(re.sub(r'"seed": 0', '"seed": 1e400', text, count=1))
    with pytest.raises(session.SessionError, match=r"runs\[0\]\.seed"):
        session.load_session(path)
    deep = tmp_path / "deep.explorer.json"
    deep.write_text('{"app": "explorer", "format": 1, "x": ' + "[" * 200_000 + "]" * 200_000 + "}")
    r = cli("replay", deep)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "nested" in r.stderr, r.stderr
    shallow_but_deep = tmp_path / "deep2.explorer.json"
    shallow_but_deep.write_text(
        '{"app": "explorer", "format": 1, "x": ' + "[" * 500 + "]" * 500 + "}"
    )
    with pytest.raises(session.SessionError, match="nested"):
        session.load_session(shallow_but_deep)


def test_a_pickled_or_truncated_arrays_file_is_refused(tmp_path, sample_dir):
    path = saved_session(tmp_path, sample_dir)
    npz = session.arrays_path(path)
    good = npz.read_bytes()
    with open(npz, "wb") as fh:  # an object array: loading it would unpickle
        np.savez(fh, **{"run1/labels": np.array([{"a": 1}], dtype=object)})
    r = cli("replay", path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "pickled" in r.stderr and "run1/labels" in r.stderr
    for cut in (len(good) // 2, 30):
        npz.write_bytes(good[:cut])
        r = cli("replay", path)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert "damaged" in r.stderr and "Traceback" not in r.stderr


def test_paths_outside_the_session_folder_need_confirmation(tmp_path, sample_dir):
    """relative_path "../../../etc/passwd" (or any absolute path elsewhere) is never read
    silently: replay lists it and stops (exit 2) unless --allow-paths; the API refuses to load
    it until confirm_paths; nothing is read or hashed before."""
    folder = tmp_path / "s"
    folder.mkdir()
    path = saved_session(folder, sample_dir)
    secret = tmp_path / "secret.csv"  # outside the session's folder tree
    shutil.copy(sample_dir / "iris.csv", secret)
    (folder / "iris.csv").unlink()
    tamper(
        path,
        lambda d: d["datasets"][0].update(
            path="/nonexistent/iris.csv", relative_path="../secret.csv"
        ),
    )
    back = session.load_session(path)
    assert session.paths_outside(back) == [secret.resolve()]
    (problem,) = session.check_datasets(back)
    assert "outside the session's folder" in problem
    with pytest.raises(explorer.DataError, match="not confirmed"):
        session.load_dataset(back, 0)
    r = cli("replay", path)
    assert r.returncode == 2 and str(secret) in r.stderr and "--allow-paths" in r.stderr
    assert r.stderr.count("\n") == 1 and "runs reproduced" not in r.stdout
    r = cli("replay", path, "--allow-paths")
    assert r.returncode == 0 and "1 of 1 runs reproduced" in r.stdout, r.stdout + r.stderr
    # /etc/passwd through a relative path: listed, not read
    tamper(
        path,
        lambda d: d["datasets"][0].update(
            path="/nonexistent/x", relative_path="../" * 30 + "etc/passwd"
        ),
    )
    back = session.load_session(path)
    assert session.paths_outside(back) == [Path("/etc/passwd")]
    r = cli("replay", path)
    assert r.returncode == 2 and "/etc/passwd" in r.stderr


def test_a_missing_sha256_is_reported(tmp_path, sample_dir):
    """ "sha256": null used to let a changed data file be fitted with no word."""
    path = saved_session(tmp_path, sample_dir)
    tamper(path, lambda d: d["datasets"][0].update(sha256=None))
    (problem,) = session.check_datasets(session.load_session(path))
    assert "no sha256" in problem
    r = cli("replay", path)
    assert "no sha256" in r.stderr


def test_a_killed_save_leaves_no_temporary_behind(tmp_path, sample_dir):
    """A save killed while writing left `.NAME.explorer.npz.*.tmp` (up to 43 MB each); the next
    save beside it removes the temporaries of processes that no longer run."""
    path = saved_session(tmp_path, sample_dir)
    script = f"""
import os, signal, sys
import numpy as np
from explorer import session
s = session.load_session({str(path)!r})
real = np.savez_compressed
def savez(fh, **arrays):
    real(fh, **arrays)
    fh.flush()
    os.kill(os.getpid(), signal.SIGKILL)        # killed with the temporary written
np.savez_compressed = savez
s.save({str(path)!r})
"""
    for _ in range(3):
        r = run_python("-c", script, env=checkout_env())
        assert r.returncode == -9
    left = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(left) == 1, left  # each save removed the one killed before it
    session.load_session(path).save(path)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_replay_reads_and_hashes_each_data_file_once(tmp_path, sample_dir, monkeypatch, capsys):
    """`explorer replay` hashed the data file in check_datasets, then the loader read and hashed
    it again: 2 sha256 objects fed 2 x its size. Now the loader's hash is the only one (a changed
    file is found from it), for a session with two runs on the file."""
    import hashlib

    from explorer.cli import main

    path = saved_session(tmp_path, sample_dir)
    s = session.load_session(path)
    s.add_run(
        runner.fit(get_model("kmeans")(K=2), session.load_dataset(s, 0), seed=1, max_iter=5),
        options={"labels": "species"},
    )
    s.save(path)
    size = (tmp_path / "iris.csv").stat().st_size
    real = hashlib.sha256
    fed: list[int] = []

    class Counting:
        def __init__(self, data=b"", **kw):
            self._h = real(data, **kw)
            self._i = len(fed)
            fed.append(len(data))

        def update(self, data):
            fed[self._i] += len(data)
            self._h.update(data)

        def __getattr__(self, name):
            return getattr(self._h, name)

    monkeypatch.setattr(hashlib, "sha256", Counting)
    assert main(["replay", str(path)]) == 0
    assert "2 of 2 runs reproduced" in capsys.readouterr().out
    assert fed == [size]
    # a changed file is still reported (from the loader's hash), still after one read
    data_file = tmp_path / "iris.csv"
    data_file.write_text(data_file.read_text().replace("5.1,3.5", "5.2,3.5", 1))
    fed.clear()
    assert main(["replay", str(path)]) == 1
    got = capsys.readouterr()
    assert fed == [data_file.stat().st_size]
    assert got.err.count("changed since the session was saved") == 1, got.err
    assert "0 of 2 runs reproduced" in got.out


def _unblock_after(fifo, seconds):
    """A watchdog: if something is still blocked opening ``fifo`` for reading after ``seconds``,
    open it for writing and close it (the reader then sees an empty file), so a test of a hang
    fails instead of hanging. Returns (the list the watchdog appends True to when it had to,
    the function that stops it)."""
    import os
    import threading

    fired: list[bool] = []
    done = threading.Event()

    def watch():
        if done.wait(seconds):
            return
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO: no reader, no hang
        except OSError:
            return
        fired.append(True)
        os.close(fd)

    threading.Thread(target=watch, daemon=True).start()
    return fired, done.set


@pytest.mark.skipif(sys.platform == "win32", reason="no FIFOs")
def test_a_fifo_named_by_a_session_is_refused_not_read(tmp_path, sample_dir):
    """The data file of a saved session replaced by a FIFO: check_datasets (the window's open,
    `explorer replay`) hashed it with open(), which blocks until a writer comes: forever. Now one
    line naming the file, at once; replay reports it and exits 1."""
    import os

    path = saved_session(tmp_path, sample_dir)
    data_file = tmp_path / "iris.csv"
    data_file.unlink()
    os.mkfifo(data_file)
    back = session.load_session(path)
    fired, stop = _unblock_after(data_file, 10)
    try:
        problems = session.check_datasets(back)
    finally:
        stop()
    assert not fired, "check_datasets blocked on the FIFO (unblocked by the watchdog)"
    assert problems == [f"{data_file}: not a regular file (a FIFO, a folder or a device); not read"]
    fired, stop = _unblock_after(data_file, 10)
    try:
        with pytest.raises(explorer.DataError, match="FIFO"):
            session.load_dataset(back, 0)
    finally:
        stop()
    assert not fired
    r = run_cli("replay", path, timeout=120, env=checkout_env())
    assert r.returncode == 1, r.stderr
    assert f"{data_file}: not a regular file" in r.stderr and "Traceback" not in r.stderr
