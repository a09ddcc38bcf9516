"""Export round trip: what is written can be read back and equals what was fitted; the set is
written whole (swapped in), never mixed with an earlier set, with the umask's permissions."""

import csv
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from fake_models import ShrinkModel
from helpers import checkout_env, noise_fit, noise_table, run_python

import explorer
from explorer import __version__, runner
from explorer import export as export_mod
from explorer.data.types import DataError
from explorer.export import ExportError, export_result, load_result

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"


def test_round_trip(tmp_path):
    data = noise_table(n=30, d=3)
    res = runner.fit(ShrinkModel, data, seed=1, K=3, rate=0.5, tol=1e-9)
    paths = export_result(res, tmp_path / "out")
    assert set(paths) == {"result", "parameters", "assignments"}

    doc = json.loads(paths["result"].read_text())
    assert doc["model"] == "shrink" and doc["version"] == __version__
    assert doc["hyperparameters"]["K"] == 3
    assert doc["data"] == {
        "path": "mem.csv",
        "sha256": None,
        "kind": "table",
        "shape": [30, 3],
        "directed": None,
        "standardized": False,
        "columns": ["c0", "c1", "c2"],
        "labels": None,
    }
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
        "assignments.csv",
        "parameters.npz",
        "result.json",
    ]


def test_cancelled_partial_result_is_exportable(tmp_path):
    control = runner.RunControl()

    def cb(p):
        if p.iteration >= 2:
            control.cancel()

    res = noise_fit(max_iter=100, callback=cb, snapshot_interval=0.0, control=control)
    doc = json.loads(export_result(res, tmp_path)["result"].read_text())
    assert doc["cancelled"] is True and doc["iterations"] == 2


def test_non_finite_numbers_become_null(tmp_path):
    res = runner.fit(ShrinkModel, noise_table(labels=False), K=2, max_iter=2, tol=0)
    res.metrics["odd"] = float("nan")
    doc = json.loads(export_result(res, tmp_path)["result"].read_text())
    assert doc["metrics"]["odd"] is None


# ---- the set as a whole --------------------------------------------------------------------------


def _fit(K=3, seed=1):
    return runner.fit(ShrinkModel, noise_table(n=30, d=3), seed=seed, K=K, rate=0.5, tol=1e-9)


def _network_result():
    data = explorer.load(SAMPLE / "karate" / "edges.csv", kind="network")
    return explorer.fit("ammsb", data, K=2, max_iter=2, seed=0)


def test_readme_python_example_runs_exactly_as_shown(tmp_path):
    """The README's Python block, run as written in a fresh interpreter (its last line failed:
    `explorer.export` was shadowed by the submodule once imported)."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"\*\*From Python\.\*\*\s+```python\n(.*?)```", text, re.S).group(1)
    assert "explorer.export_result(result" in block
    (tmp_path / "sample_data").symlink_to(SAMPLE)
    r = run_python("-c", block, cwd=tmp_path, env=checkout_env())
    assert r.returncode == 0, r.stderr
    saved = explorer.load_result(tmp_path / "out")
    assert saved.model == "kmeans" and len(saved.assignments) == 150


def test_the_api_export_is_a_plain_function_and_the_module_a_plain_module(tmp_path):
    """issue 24: `explorer.export` was a module made callable by replacing its class
    (`sys.modules[__name__].__class__ = _CallableModule`). Now the API's export is the function
    `explorer.export_result` (the one `explorer fit --out` calls) and `explorer.export` is the
    module, an ordinary one, however `explorer` was imported."""
    import types

    code = (
        "import types, explorer; f = explorer.export_result; import explorer.export as m; "
        "assert f is m.export_result and isinstance(f, types.FunctionType); "
        "assert type(m) is types.ModuleType and explorer.export is m and not callable(m); "
        "from explorer import export_result, export; assert export is m; "
        "assert 'export_result' in explorer.__all__ and 'export' not in explorer.__all__"
    )
    r = run_python("-c", code, env=checkout_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    assert type(export_mod) is types.ModuleType and not callable(export_mod)
    res = _fit()
    paths = explorer.export_result(res, tmp_path / "a")
    assert paths["result"] == tmp_path / "a" / "result.json"
    assert load_result(tmp_path / "a").model == res.model.id


def test_rerun_into_the_same_folder_leaves_no_stale_file(tmp_path):
    out = tmp_path / "out"
    paths = export_result(_network_result(), out)
    assert "graphml" in paths and (out / "communities.graphml").exists()
    export_result(_fit(), out)  # a table result into the same folder
    assert sorted(p.name for p in out.iterdir()) == [
        "assignments.csv",
        "parameters.npz",
        "result.json",
    ]
    assert load_result(out).model == "shrink"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no hidden folder left


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
    dead = 2**22 + 12345  # above the default pid_max: never a running process
    stale = tmp_path / f".out.explorer-new-{dead}-0123abcd"
    stale.mkdir()
    (stale / "parameters.npz").write_bytes(b"x" * 1000)
    (out / ".parameters.npz.k2j3.tmp").write_bytes(b"x" * 1000)
    live = tmp_path / f".out.explorer-new-{os.getpid()}-99ff"  # a running export: kept
    live.mkdir()
    export_result(_fit(K=2), out)
    assert not stale.exists() and live.exists()
    assert sorted(p.name for p in out.iterdir()) == [
        "assignments.csv",
        "parameters.npz",
        "result.json",
    ]


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

    def ctrl_c(result, path, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(export_mod, "write_assignments", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        export_result(_fit(K=2), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    monkeypatch.undo()
    if not exchange:
        monkeypatch.setattr(export_mod, "_exchange", lambda a, b: False)
    export_result(_fit(K=2), out)  # the two-rename path swaps too
    assert load_result(out).doc["hyperparameters"]["K"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


# ---- the streaming assignments writer (issue 16) -------------------------------------------------


def _streamed_equals_reference(res, tmp_path, chunk_rows):
    path = tmp_path / f"a{chunk_rows}.csv"
    export_mod.write_assignments(res, path, chunk_rows=chunk_rows)
    want = export_mod.assignments_table(res).encode("utf-8")
    assert path.read_bytes() == want
    return path


@pytest.mark.parametrize(
    "model_id, data_file, hp",
    [
        ("gmm", "iris.csv", {"K": 3}),
        ("kmeans", "old_faithful.csv", {"K": 2}),
        ("ammsb", "edges.csv", {"K": 2}),
    ],
)
def test_streamed_assignments_equal_the_csv_module_byte_for_byte(tmp_path, model_id, data_file, hp):
    import pandas as pd

    from explorer.data import load
    from explorer.models import get_model

    files = {p.name: p for p in SAMPLE.rglob(data_file)}
    assert data_file in files, sorted(files)[:20]
    cls = get_model(model_id)
    data = load(files[data_file], kind=cls.data_kinds[0])
    res = runner.fit(cls, data, seed=0, max_iter=5, **hp)
    for chunk in (1, 7, 10_000):
        path = _streamed_equals_reference(res, tmp_path, chunk)
    table = pd.read_csv(path, dtype={"id": str}, keep_default_na=False)
    assert list(table["id"]) == list(export_mod.item_ids(data))
    memb = res.model.memberships()
    if memb is not None:
        np.testing.assert_array_equal(
            table[[f"p{k}" for k in range(memb.shape[1])]].to_numpy(), memb
        )


def test_streamed_assignments_quote_ids_like_the_csv_module(tmp_path):
    data = noise_table(n=12, d=2)
    data.ids = np.array(
        [
            "a,b",
            'q"uote',
            "new\nline",
            "cr\rx",
            " lead",
            "é",
            "plain",
            "x;y",
            "#c",
            "t\tab",
            "",
            "1e5",
        ],
        dtype=object,
    )
    res = runner.fit(ShrinkModel, data, seed=0, K=2, rate=0.5, tol=1e-9)
    special = np.array(
        [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-5, 1e16, 5e-324, 0.1, 1 / 3, 2.0, 123456.789]
    )
    memb = np.column_stack([special, special[::-1]])
    res.model.memberships = lambda: memb  # special values in memberships stay exact too
    _streamed_equals_reference(res, tmp_path, 5)


def _expected_graphml_nodes(res):
    """What the GraphML should say of every node, from the model (the rule of
    export.graphml_threshold: all p_k up to K = 10, else those >= the threshold and the largest)."""
    model = res.model
    ids = export_mod.item_ids(res.data)
    memb = model.memberships()
    K = memb.shape[1]
    thr = export_mod.graphml_threshold(model, K)
    comms = model.overlapping_communities() if hasattr(model, "overlapping_communities") else None
    truth = getattr(res.data, "labels", None)
    out = {}
    for n, node in enumerate(ids):
        attrs = {"community": int(model.labels()[n])}
        top = int(np.argmax(memb[n]))
        attrs.update(
            {f"p{k}": float(memb[n, k]) for k in range(K) if memb[n, k] >= thr or k == top}
        )
        if comms is not None:
            attrs["communities"] = ";".join(str(c) for c in comms[n])
        if truth is not None and truth[n] is not None:
            attrs["ground_truth"] = str(truth[n])
        out[str(node)] = attrs
    return out


def test_graphml_reads_back_in_networkx_with_every_attribute(tmp_path):
    import networkx as nx

    res = _network_result()
    # awkward ids and ground truth: XML escapes
    res.data.node_ids = np.array([f"n<{i}>&\"{i}'" for i in range(res.data.n_nodes)], dtype=object)
    res.data.labels = np.array(
        [None if i % 5 == 0 else f"g&<{i % 3}>" for i in range(res.data.n_nodes)], dtype=object
    )
    for chunk in (3, 10_000):
        path = tmp_path / f"g{chunk}.graphml"
        export_mod.stream_graphml(res, path, chunk_rows=chunk)
        g = nx.read_graphml(path)
        assert dict(g.nodes(data=True)) == _expected_graphml_nodes(res)
        ids = export_mod.item_ids(res.data)
        want = {
            frozenset((ids[u], ids[v])): float(w)
            for (u, v), w in zip(res.data.edges, res.data.weights)
        }
        assert {frozenset(e[:2]): e[2]["weight"] for e in g.edges(data=True)} == want
        assert not g.is_directed()


def test_graphml_beyond_ten_communities_keeps_the_memberships_above_the_threshold(tmp_path):
    import networkx as nx

    data = explorer.load(SAMPLE / "karate" / "edges.csv", kind="network")
    res = explorer.fit("ammsb", data, K=12, max_iter=2, seed=0, overlap_threshold=0.1)
    path = tmp_path / "g.graphml"
    export_mod.stream_graphml(res, path)
    g = nx.read_graphml(path)
    want = _expected_graphml_nodes(res)
    assert dict(g.nodes(data=True)) == want
    # fewer than all K on some node, never none
    counts = [sum(k.startswith("p") for k in a) for a in want.values()]
    assert min(counts) >= 1 and max(counts) <= 12 and sum(counts) < 12 * len(counts)
    text = path.read_text()
    assert '<key id="p11" for="node" attr.name="p11" attr.type="double" />' in text


# ---- issue 22: manifests, links, long names, temporaries (items 11, 12, 14, 15) --------------------


@pytest.mark.parametrize(
    "entry",
    [
        "../../../../etc/passwd",
        "/etc/hostname",
        "result.json",
        "assignments/../../x.npz",
        "notes.txt",
    ],
)
def test_a_manifest_naming_a_file_outside_the_set_is_refused(tmp_path, entry):
    """Before, load_result hashed ../../../../etc/passwd or /etc/hostname and, with the matching
    sha256, accepted the set."""
    out = tmp_path / "out"
    export_result(_fit(), out)
    doc = json.loads((out / "result.json").read_text())
    target = (out / entry) if not entry.startswith("/") else Path(entry)
    digest = export_mod.file_sha256(target) if target.is_file() else "0" * 64
    doc["files"][entry] = {"sha256": digest, "bytes": 1}
    (out / "result.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match="not a file of an exported set"):
        load_result(out)


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(files=["parameters.npz"]),
        lambda d: d["files"].update({"parameters.npz": "abc"}),
        lambda d: d["files"].update({"parameters.npz": {"sha256": None}}),
        lambda d: d["files"].pop("parameters.npz"),
        lambda d: d["files"].pop("assignments.csv"),
        lambda d: d.update(data=[1, 2]),
        lambda d: d.update(data={"shape": "many"}),
        lambda d: d.update(data={"shape": [None, 3]}) or d.update(data={"shape": ["30", 3]}),
        lambda d: d.update(model=None),
    ],
)
def test_a_malformed_manifest_is_a_data_error(tmp_path, change):
    """Before: AttributeError, FileNotFoundError, TypeError or ValueError."""
    out = tmp_path / "out"
    export_result(_fit(), out)
    doc = json.loads((out / "result.json").read_text())
    change(doc)
    (out / "result.json").write_text(json.dumps(doc))
    with pytest.raises(DataError):
        load_result(out)


def test_damaged_arrays_in_a_set_are_a_data_error(tmp_path):
    out = tmp_path / "out"
    export_result(_fit(), out)
    with open(out / "parameters.npz", "wb") as fh:
        np.savez(fh, labels=np.array([{"x": 1}], dtype=object))
    doc = json.loads((out / "result.json").read_text())
    doc["files"]["parameters.npz"]["sha256"] = export_mod.file_sha256(out / "parameters.npz")
    (out / "result.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match="cannot read the arrays"):
        load_result(out)


def test_out_as_a_symbolic_link_is_followed(tmp_path):
    """The set is written where the link points, the link stays a link, nothing hidden is left
    (before: the link was swapped out for a real folder, the old set stayed at the target and
    the link survived as a hidden .NAME.explorer-new-... entry); a link to nothing is refused
    before any work."""
    target = tmp_path / "real"
    export_result(_fit(K=3), target)
    link = tmp_path / "link"
    link.symlink_to(target)
    export_result(_fit(K=2), link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert load_result(target).doc["hyperparameters"]["K"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(ExportError, match="does not exist"):
        export_mod.check_out_dir(dangling)
    with pytest.raises(ExportError, match="does not exist"):
        export_result(_fit(), dangling)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling", "link", "real"]


def test_a_long_legal_folder_name_works(tmp_path):
    """A 230-character name was refused: its hidden temporary name exceeded 255 bytes."""
    out = tmp_path / ("r" * 230)
    export_mod.check_out_dir(out)
    export_result(_fit(), out)
    assert load_result(out).model == "shrink"
    export_result(_fit(K=2), out)  # replacing it too
    longest = tmp_path / ("é" * 127)  # 254 bytes
    export_result(_fit(), longest)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, longest.name])
    path = tmp_path / ("f" * 250)
    export_mod.write_file_atomically(path, lambda tmp: Path(tmp).write_text("x"))
    assert path.read_text() == "x"


def test_killed_file_writes_are_cleaned_by_the_next(tmp_path):
    target = tmp_path / "a.explorer.npz"
    dead = 2**22 + 12345
    stale = tmp_path / f".a.explorer.npz.{dead}-0badc0de.tmp"
    stale.write_bytes(b"x" * 100)
    live = tmp_path / f".a.explorer.npz.{os.getpid()}-0badc0de.tmp"  # a running writer
    live.write_bytes(b"x")
    other = tmp_path / f".b.explorer.npz.{dead}-0badc0de.tmp"  # beside another file
    other.write_bytes(b"x")
    export_mod.write_file_atomically(target, lambda tmp: Path(tmp).write_text("new"))
    assert not stale.exists() and live.exists() and other.exists()


@pytest.mark.skipif(sys.platform == "win32", reason="no FIFOs")
def test_file_sha256_refuses_a_fifo_before_opening_it(tmp_path):
    """file_sha256 opened what it was given: a FIFO (a session's data file, a manifest's member)
    blocked open() until a writer came, forever. Now a DataError naming the file, at once; a
    folder and a character device are refused the same way."""
    import threading

    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    finished = threading.Event()
    unblocked = []

    def watchdog():  # if the open hangs, give it a writer so the test fails instead
        if not finished.wait(10):
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            unblocked.append(True)
            os.close(fd)

    threading.Thread(target=watchdog, daemon=True).start()
    try:
        with pytest.raises(DataError) as e:
            export_mod.file_sha256(fifo)
    finally:
        finished.set()
    assert not unblocked, "file_sha256 blocked on the FIFO"
    assert str(e.value) == f"{fifo}: is a FIFO (named pipe), not a regular file: not read"
    with pytest.raises(DataError, match="is a folder, not a regular file"):
        export_mod.file_sha256(tmp_path)
    if os.path.exists("/dev/zero"):  # would never end
        with pytest.raises(DataError, match="/dev/zero: is a character device"):
            export_mod.file_sha256("/dev/zero")
    regular = tmp_path / "r.bin"
    regular.write_bytes(b"abc")
    import hashlib

    assert export_mod.file_sha256(regular) == hashlib.sha256(b"abc").hexdigest()
