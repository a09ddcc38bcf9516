"""load_temporal: the primary-school counts checked against pandas aggregating the same rows;
binning, timestamps, duplicates and self-loops on small files; one test per malformed case."""

import re

import numpy as np
import pandas as pd
import pytest
from helpers import load_error, write

from explorer.data import DataError, guess_kind, load, load_temporal


def triples(d):
    return {(int(t), d.node_ids[i], d.node_ids[j]): c for t, i, j, c in zip(d.t, d.i, d.j, d.count)}


def test_primary_school_counts(shared_datasets):
    ps = shared_datasets / "primary_school"
    d = load_temporal(ps / "counts_60min.csv", labels=f"{ps / 'nodes.csv'}:class")
    raw = pd.read_csv(ps / "counts_60min.csv", dtype={"i": str, "j": str})
    assert d.T == 18 and list(d.times) == list(range(18))  # t is the window index
    assert d.n_nodes == 242 and len(d.count) == len(raw)  # file has unique (t, i<j) rows
    ref = {(t, i, j): float(c) for t, i, j, c in raw.itertuples(index=False)}
    got = {
        (t, *sorted((u, v), key=lambda s: (len(s), s))): c for (t, u, v), c in triples(d).items()
    }
    assert got == ref
    assert np.all(d.i < d.j)
    nodes = pd.read_csv(ps / "nodes.csv", dtype=str)
    cls = dict(zip(nodes["id"], nodes["class"]))
    assert list(d.labels) == [cls[n] for n in d.node_ids] and d.label_name == "class"
    assert guess_kind(ps / "counts_60min.csv") == "temporal"


def test_primary_school_contacts_binned(shared_datasets):
    ps = shared_datasets / "primary_school"
    d = load(ps / "contacts_20s.csv", bin_width=3600)
    raw = pd.read_csv(ps / "contacts_20s.csv", dtype={"i": str, "j": str})
    assert d.count.sum() == len(raw)  # every 20-s frame counted once
    assert d.T == (raw.t.max() - raw.t.min()) // 3600 + 1
    assert d.times[0] == raw.t.min() and d.times[1] - d.times[0] == 3600
    # aggregated over time equals the pair counts of the raw rows
    pair = raw.apply(lambda r: tuple(sorted((r.i, r.j))), axis=1).value_counts()
    agg = d.aggregate().tocoo()
    assert agg.nnz == 2 * len(pair)
    a, b = d.node_ids[agg.row[0]], d.node_ids[agg.col[0]]
    assert agg.data[0] == pair[tuple(sorted((a, b)))]


def test_binning_duplicates_self_loops(tmp_path):
    p = write(tmp_path, "c.txt", "t i j count\n5 a b 1\n6 b a 2\n9 a b 1\n7 c c 3\n8 b c 0\n")
    d = load_temporal(p)
    assert d.T == 5 and list(d.times) == [5, 6, 7, 8, 9]
    assert triples(d) == {(0, "a", "b"): 1.0, (1, "a", "b"): 2.0, (4, "a", "b"): 1.0}
    assert any("1 self-loop" in n for n in d.notes)
    w = load_temporal(p, bin_width=2)
    assert w.T == 3 and list(w.times) == [5, 7, 9]
    assert triples(w) == {(0, "a", "b"): 3.0, (2, "a", "b"): 1.0}
    assert any("summed 1" in n for n in w.notes)
    dd = load_temporal(p, directed=True, bin_width=2)
    assert triples(dd) == {(0, "a", "b"): 1.0, (0, "b", "a"): 2.0, (2, "a", "b"): 1.0}


def test_iso_timestamps(tmp_path):
    p = write(
        tmp_path,
        "c.csv",
        "time,i,j\n2009-10-01 09:00:00,a,b\n2009-10-01 09:30:00,a,b\n2009-10-01T10:15:00,b,c\n",
    )
    d = load_temporal(p, bin_width=3600)
    assert d.T == 2
    assert triples(d) == {(0, "a", "b"): 2.0, (1, "b", "c"): 1.0}
    assert d.times[0] == pd.Timestamp("2009-10-01 09:00:00", tz="UTC").timestamp()
    with pytest.raises(DataError, match="bin width"):
        load_temporal(p)


def test_no_header(tmp_path):
    d = load_temporal(write(tmp_path, "c.tsv", "0\t1\t2\n2\t2\t3\n"))
    assert d.T == 3 and list(d.node_ids) == ["1", "2", "3"] and d.count.sum() == 2


# ---- malformed input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, kw, where, message",
    [
        ("t,i,j\n0,a,b\n1,a,b\nlater,b,c\n", {}, {"line": 4, "column": "t"}, "bad t 'later'"),
        ("t,i,j\n2009-10-01,a,b\n2009-13-45,b,c\n", {"bin_width": 60}, {"line": 3}, "ISO 8601"),
        ("t,i,j\n0,a,b\n0.5,a,b\n", {}, {"line": 3}, "bin width"),
        (
            "t,i,j,count\n0,a,b,1\n1,a,b,lots\n",
            {},
            {"line": 3, "column": "count"},
            "non-numeric count",
        ),
        ("t,i,j,count\n0,a,b,-1\n", {}, {"line": 2}, "negative"),
        ("t,i,j,count\n0,a,b,1\n1,a\n", {}, {"line": 3}, "expected 4 fields, found 2"),
        ("t,i\n0,a\n", {}, {}, "t i j"),
        ("t,i,j\n0,a,b\n", {"bin_width": 0}, {}, "positive"),
    ],
    ids=[
        "bad_t",
        "bad_timestamp",
        "fractional_t_needs_bin_width",
        "non_numeric_count",
        "negative_count",
        "ragged",
        "too_few_columns",
        "bad_bin_width",
    ],
)
def test_error(tmp_path, content, kw, where, message):
    """One malformed file per case: the error names ``message`` and, where given, the line and
    column (``where``) it was found at."""
    e = load_error(load_temporal, write(tmp_path, "c.csv", content), **kw)
    assert {key: getattr(e, key) for key in where} == where and message in str(e)


def test_error_header_without_a_time_column(tmp_path):
    # An edge list with weights opened as a temporal network must not read source as t.
    p = tmp_path / "edges.csv"
    p.write_text("source,target,weight\n0,1,4\n0,2,5\n")
    with pytest.raises(DataError, match=r"line 1: the first column is 'source', not a time"):
        load_temporal(p)


# ---- issue 12: the snapshot count is checked before anything of size T is allocated -----------


@pytest.mark.parametrize(
    "content, bin_width, shown",
    [
        ("t,i,j\n0,a,b\n1000000000000,a,c\n", None, "1e+12 snapshots"),  # once: 7 TiB
        ("t,i,j\n0,a,b\n1,a,c\n", 1e-9, "1e+09 snapshots"),  # once: 30 GiB
        ("t,i,j\n0,a,b\n100000000,a,c\n", None, "1e+08 snapshots"),  # once: 1.7 GB, then no
    ],
)
def test_too_many_snapshots_refused_before_allocating(tmp_path, content, bin_width, shown):
    import tracemalloc

    p = write(tmp_path, "t.csv", content)
    tracemalloc.start()
    try:
        with pytest.raises(
            DataError, match=re.escape(shown) + ", more than the 1,000,000.*--bin-width"
        ):
            load_temporal(p, bin_width=bin_width)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, peak


def test_pairs_keyed_without_int64_overflow(tmp_path, monkeypatch):
    """T * N * N beyond 2**62 would overflow the packed (snapshot, i, j) key: the loader then
    takes unique rows instead; both ways give the same data (forced here on a small file)."""
    from explorer.data import temporal

    p = write(tmp_path, "t.csv", "t,i,j,count\n0,a,b,1\n0,b,a,2\n3,c,a,1\n1,a,b,4\n3,a,c,1\n")
    packed = load_temporal(p)
    monkeypatch.setattr(temporal, "_KEY_LIMIT", 0)
    rows = load_temporal(p)
    for name in ("t", "i", "j", "count"):
        np.testing.assert_array_equal(getattr(rows, name), getattr(packed, name))
    assert triples(rows) == {(0, "a", "b"): 3.0, (1, "a", "b"): 4.0, (3, "a", "c"): 2.0}
    assert rows.notes == packed.notes


def test_fractional_count_is_located_for_the_poisson_model(tmp_path):
    from explorer.models.dynamic_exposure import DynamicExposure

    p = write(tmp_path, "t.csv", "t,i,j,count\n0,a,b,2\n1,a,c,1.5\n1,b,c,3\n")
    d = load_temporal(p)
    assert d.first_fractional_count == (3, "count", 1.5)
    with pytest.raises(DataError, match=r"line 3, column 'count': count 1.5 is not a whole"):
        DynamicExposure().check_data(d)


def test_negative_count_shown_as_written(tmp_path):
    p = write(tmp_path, "t.csv", "t,i,j,count\n0,a,b,2\n1,a,c,-1.0\n")
    with pytest.raises(DataError, match=r"line 3, column 'count': negative count -1.0$"):
        load_temporal(p)
