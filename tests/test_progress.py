"""Progress of long work from plain Python (explorer.progress), the CLI's terminal bar, and the
loaders' and export's progress events (issue 16)."""

import io
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from explorer.progress import ProgressEvent, Task, TerminalBar, format_bar, listening

ROOT = Path(__file__).resolve().parent.parent


def test_task_events_start_throttle_finish_and_time_left():
    events = []
    with listening(events.append):
        with Task("work", total=100, unit="rows", min_interval=0.05) as t:
            for _ in range(10):
                t.update(10)
                time.sleep(0.01)
    assert events[0].done == 0 and not events[0].finished and events[0].eta_s is None
    assert events[-1].finished and events[-1].done == 100 and events[-1].fraction == 1.0
    assert 2 <= len(events) < 12  # throttled: not one per update
    middle = [e for e in events if not e.finished and e.done]
    for e in middle:  # eta from the rate so far
        assert e.eta_s == pytest.approx(e.elapsed_s * (100 - e.done) / e.done)
    events.clear()
    with Task("after"):
        pass
    assert events == []  # the listener is gone


def test_nested_tasks_carry_their_depth_and_an_exception_still_finishes():
    events = []
    with listening(events.append), pytest.raises(RuntimeError):
        with Task("outer", total=2):
            with Task("inner", total=5) as inner:
                inner.update(2)
                raise RuntimeError
    inner_events = [e for e in events if e.task == "inner"]
    assert {e.depth for e in inner_events} == {1} and inner_events[-1].finished
    assert events[-1].task == "outer" and events[-1].finished and events[-1].depth == 0


def test_format_bar_is_tqdm_like():
    e = ProgressEvent("reading t.parquet", 4_500_000, 10_000_000, "rows", 3.2, 4.0)
    assert (
        format_bar(e, width=10)
        == "reading t.parquet:  45%|####      | 4.5M/10.0M rows [00:03<00:04]"
    )
    e = ProgressEvent("loading x.csv", 0, None, "", 75.0, None)
    assert format_bar(e) == "loading x.csv: [01:15]"
    e = ProgressEvent("loading x.csv", 0, None, "", 3675.0, 0.0, finished=True)
    assert format_bar(e) == "loading x.csv: done [1:01:15]"


def test_terminal_bar_only_on_a_terminal():
    buf = io.StringIO()
    bar = TerminalBar(buf)
    assert not bar.enabled
    with listening(bar), Task("x", total=3) as t:
        t.update(3)
    assert buf.getvalue() == ""
    bar = TerminalBar(buf, force=True)
    with listening(bar), Task("x", total=3) as t:
        t.update(3)
    out = buf.getvalue()
    assert out.startswith("\rx:   0%|") and out.endswith("| 3/3  [00:00<00:00]\n")


def test_loader_and_export_report_progress(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from explorer import runner
    from explorer.data import load
    from explorer.export import export_result

    X = np.random.default_rng(0).normal(size=(5000, 3)).astype(np.float32)
    pq.write_table(
        pa.table({f"c{j}": X[:, j] for j in range(3)}), tmp_path / "t.parquet", row_group_size=1000
    )
    events = []
    with listening(events.append):
        data = load(tmp_path / "t.parquet")
    reading = [e for e in events if e.task == "reading t.parquet"]
    assert reading[-1].finished and reading[-1].done == reading[-1].total == 5000
    from explorer.models import get_model

    res = runner.fit(get_model("kmeans"), data, K=2, max_iter=3)
    events.clear()
    with listening(events.append):
        export_result(res, tmp_path / "out")
    writing = [e for e in events if e.task == "writing assignments.csv"]
    assert writing[-1].finished and writing[-1].done == 5000


def test_cli_shows_a_bar_on_a_terminal_only(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    X = np.random.default_rng(0).normal(size=(3000, 3)).astype(np.float32)
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({f"c{j}": X[:, j] for j in range(3)}), path)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = [sys.executable, "-m", "explorer.cli", "fit", "kmeans", str(path), "--K", "2"]
    args += ["--out", str(tmp_path / "out")]
    piped = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0, piped.stderr
    assert "%|" not in piped.stderr and "iteration" in piped.stderr
    # stderr on a pseudo-terminal: bars with the time left, no iteration lines
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=300)
    os.close(master)
    err = b"".join(chunks).decode()
    assert proc.returncode == 0, err
    assert "reading t.parquet: 100%|" in err and "fitting kmeans" in err
    assert "writing assignments.csv: 100%|" in err and "<00:00]" in err
    assert "iteration " not in err
