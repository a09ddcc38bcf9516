"""load_table: happy paths checked against the file's known contents (or numpy/pandas reading the
same text), and one test per malformed-input case checking the file, line and column in the error."""

import hashlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.data import DataError, load, load_table


def write(tmp_path, name, content, mode="w"):
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p


# ---- happy paths ------------------------------------------------------------------------------


def test_iris_with_labels(sample_dir):
    path = sample_dir / "iris.csv"
    d = load_table(path, labels="species")
    ref = pd.read_csv(path)
    assert d.shape == (150, 4)
    assert d.columns == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    # Exact: the same decimal text parsed to float64 both ways.
    np.testing.assert_array_equal(d.X, ref.iloc[:, :4].to_numpy())
    assert d.X.flags.c_contiguous and d.X.dtype == np.float64
    assert sorted(set(d.labels)) == ["setosa", "versicolor", "virginica"]
    assert list(d.ids[:3]) == ["0", "1", "2"] and d.ids[-1] == "149"
    assert d.label_name == "species"
    assert d.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert d.path == str(path)


def test_text_column_excluded_with_note(sample_dir):
    d = load_table(sample_dir / "iris.csv")
    assert d.shape == (150, 4) and d.labels is None
    assert any("species" in n for n in d.notes)


@pytest.mark.parametrize("sep", [",", "\t", ";", " ", "   "])
def test_delimiters_and_header(tmp_path, sep):
    X = np.arange(12, dtype=float).reshape(4, 3) / 4
    body = "\n".join(sep.join(repr(float(v)) for v in row) for row in X)
    p = write(tmp_path, "t.txt", sep.join(["a", "b", "c"]) + "\n" + body + "\n")
    d = load_table(p)
    assert d.columns == ["a", "b", "c"]
    np.testing.assert_array_equal(d.X, X)


def test_no_header_names_columns(tmp_path):
    p = write(tmp_path, "t.tsv", "1\t2\n3\t4\n")
    d = load_table(p)
    assert d.columns == ["c0", "c1"]
    np.testing.assert_array_equal(d.X, [[1, 2], [3, 4]])


def test_no_header_label_column_by_position(tmp_path):
    p = write(tmp_path, "t.csv", "1,2,x\n3,4,y\n5,6,x\n")
    d = load_table(p, labels="c2")
    np.testing.assert_array_equal(d.X, [[1, 2], [3, 4], [5, 6]])
    assert list(d.labels) == ["x", "y", "x"]


def test_columns_pick_and_string(tmp_path):
    p = write(tmp_path, "t.csv", "a,b,c,lab\n1,2,3,u\n4,5,6,v\n")
    d = load_table(p, columns="c, a", labels="lab")
    assert d.columns == ["c", "a"]
    np.testing.assert_array_equal(d.X, [[3, 1], [6, 4]])
    d2 = load_table(p, columns=["b"])
    np.testing.assert_array_equal(d2.X, [[2], [5]])


def test_id_column_becomes_row_ids(tmp_path):
    p = write(tmp_path, "t.csv", "ID,x\nr7,1\nr9,2\n")
    d = load_table(p)
    assert list(d.ids) == ["r7", "r9"] and d.columns == ["x"]


def test_missing_label_is_none(tmp_path):
    p = write(tmp_path, "t.csv", "x,lab\n1,a\n2,\n3,b\n")
    d = load_table(p, labels="lab")
    assert list(d.labels) == ["a", None, "b"]


def test_standardize(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(3.0, 2.0, size=(50, 3))
    p = tmp_path / "t.csv"
    np.savetxt(p, X, delimiter=",", fmt="%.17g")
    d = load_table(p, standardize=True)
    # Closed form: (X - mean) / std (population std), to rounding.
    np.testing.assert_allclose(d.X, (X - X.mean(0)) / X.std(0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(d.X * d.scale + d.offset, X, rtol=0, atol=1e-12)
    assert d.standardized


def test_utf8_bom_and_crlf(tmp_path):
    p = write(tmp_path, "t.csv", b"\xef\xbb\xbfa,b\r\n1,2\r\n3,4\r\n")
    d = load_table(p)
    assert d.columns == ["a", "b"]
    np.testing.assert_array_equal(d.X, [[1, 2], [3, 4]])


def test_dispatch_load(sample_dir):
    d = load(sample_dir / "iris.csv", labels="species")
    assert d.kind == "table" and d.shape == (150, 4)


# ---- every malformed input: one clear DataError naming file, line, column ----------------------


def error_of(path, **kw) -> DataError:
    with pytest.raises(DataError) as ei:
        load_table(path, **kw)
    return ei.value


def test_error_file_not_found(tmp_path):
    e = error_of(tmp_path / "nope.csv")
    assert "file not found" in str(e) and "nope.csv" in str(e)


def test_error_empty_file(tmp_path):
    e = error_of(write(tmp_path, "e.csv", "\n  \n"))
    assert "empty" in str(e) and "e.csv" in str(e)


def test_error_header_only(tmp_path):
    e = error_of(write(tmp_path, "h.csv", "a,b\n"))
    assert "no data rows" in str(e)


def test_error_no_numeric_columns(tmp_path):
    e = error_of(write(tmp_path, "s.csv", "name,color\nbob,red\nann,blue\n"))
    assert "no numeric columns" in str(e) and "s.csv" in str(e)


def test_error_non_numeric_value(tmp_path):
    rows = "\n".join(f"{k},{k * 2}" for k in range(20))
    e = error_of(write(tmp_path, "n.csv", "a,b\n" + rows + "\n7,oops\n"))
    # header is line 1, 20 rows are lines 2..21, the bad row is line 22
    assert (e.line, e.column) == (22, "b") and "'oops'" in str(e) and "n.csv" in str(e)


def test_error_non_numeric_in_picked_column(tmp_path):
    # three text values (two would be encoded 0/1)
    e = error_of(write(tmp_path, "n.csv", "a,b\n1,x\n2,y\n3,z\n"), columns="b")
    assert (e.line, e.column) == (2, "b")


def test_error_missing_value(tmp_path):
    e = error_of(write(tmp_path, "m.csv", "a,b,c\n1,2,3\n\n4,,6\n"))
    # the blank line 3 still counts: the empty cell is on line 4
    assert (e.line, e.column) == (4, "b") and "missing" in str(e)


@pytest.mark.parametrize("bad", ["nan", "NaN", "inf", "-Infinity", "1e999"])
def test_error_nan_inf(tmp_path, bad):
    e = error_of(write(tmp_path, "f.csv", f"a,b\n1,2\n3,{bad}\n"))
    assert (e.line, e.column) == (3, "b") and "finite" in str(e)


def test_error_ragged_short_row(tmp_path):
    e = error_of(write(tmp_path, "r.csv", "a;b;c\n1;2;3\n4;5\n7;8;9\n"))
    assert e.line == 3 and "expected 3 fields, found 2" in str(e)


def test_error_ragged_long_row(tmp_path):
    rows = "".join(f"{k},{k},{k}\n" for k in range(200))
    e = error_of(write(tmp_path, "r.csv", "a,b,c\n" + rows + "1,2,3,4\n"))
    assert e.line == 202 and "expected 3 fields, found 4" in str(e)


def test_error_header_shorter_than_rows(tmp_path):
    e = error_of(write(tmp_path, "r.csv", "a,b\n1,2,3\n4,5,6\n"))
    assert "ragged" in str(e) and e.line == 2


def test_error_not_utf8(tmp_path):
    e = error_of(write(tmp_path, "l1.csv", "a,b\n1,2\n".encode() + "caf\xe9,3\n".encode("latin-1")))
    assert "UTF-8" in str(e) and "byte offset 11" in str(e) and e.line == 3


def test_error_utf16(tmp_path):
    e = error_of(write(tmp_path, "u16.csv", "a,b\n1,2\n".encode("utf-16")))
    assert "UTF-16" in str(e)


def test_error_unknown_columns(tmp_path):
    p = write(tmp_path, "t.csv", "a,b\n1,2\n")
    e = error_of(p, columns="a,zz")
    assert "'zz'" in str(e) and "a, b" in str(e)
    e = error_of(p, labels="klass")
    assert "'klass'" in str(e)


def test_error_ragged_row_missing_only_the_label(sample_dir, tmp_path):
    text = (sample_dir / "iris.csv").read_text().splitlines()
    text[10] = ",".join(text[10].split(",")[:4])  # line 11 loses its species field
    e = error_of(write(tmp_path, "iris.csv", "\n".join(text) + "\n"), labels="species")
    assert e.line == 11 and "expected 5 fields, found 4" in str(e)


def test_single_column_and_numeric_labels(sample_dir):
    g = load_table(sample_dir / "galaxies.csv")
    assert g.shape == (82, 1) and g.columns == ["velocity_km_s"]
    d = load_table(sample_dir / "digits_binary.csv", labels="digit")
    assert d.shape == (1797, 64) and set(d.labels) == {str(k) for k in range(10)}
    assert set(np.unique(d.X)) == {0.0, 1.0}


def test_quoted_fields(tmp_path):
    p = write(tmp_path, "q.csv", 'x,y,name\n1,2,"Smith, J."\n3,4,"Doe, A."\n')
    d = load_table(p, labels="name")
    np.testing.assert_array_equal(d.X, [[1, 2], [3, 4]])
    assert list(d.labels) == ["Smith, J.", "Doe, A."]


def test_error_na_marker_named_as_missing(tmp_path):
    e = error_of(write(tmp_path, "p.csv", "a,b\n1,2\n3,4\n5,NA\n"))
    assert (e.line, e.column) == (4, "b") and "'NA'" in str(e) and "missing" in str(e)


# ---- property: any small delimited file either loads cleanly or raises DataError ---------------

_CELLS = ["1", "2.5", "", "x", "nan", "-inf", "3e2", " 4", "a b", '"q,r"', "7", "é"]
_HEADS = ["a", "b", "t", "i", "j", "count", "source", "target", "weight", "id"]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sep=st.sampled_from([",", "\t", ";", " ", "  "]),
    head=st.one_of(st.none(), st.lists(st.sampled_from(_HEADS), min_size=1, max_size=5)),
    rows=st.lists(
        st.lists(
            st.one_of(st.sampled_from(_CELLS), st.integers(0, 5).map(str)), min_size=1, max_size=6
        ),
        max_size=8,
    ),
    extra=st.sampled_from(["", "\n", "\n# c\n", "\n\n"]),
)
def test_never_a_raw_exception(tmp_path, sep, head, rows, extra):
    from explorer.data import load_network, load_temporal

    lines = ([sep.join(head)] if head else []) + [sep.join(r) for r in rows]
    p = write(tmp_path, "f.txt", "\n".join(lines) + extra)
    for loader in (load_table, load_network, load_temporal):
        try:
            d = loader(p)
        except DataError as e:
            assert str(e).startswith(str(p))  # every message names the file
            continue
        # every successful load is checked (a network or temporal load was accepted unseen)
        if loader is load_table:
            assert np.isfinite(d.X).all() and d.X.shape[0] == len(d.ids) > 0
        elif loader is load_network:
            assert d.n_edges >= 1 and (d.weights > 0).all() and np.isfinite(d.weights).all()
            assert d.edges.min() >= 0 and d.edges.max() < d.n_nodes
            assert len(set(d.node_ids)) == d.n_nodes
            assert (d.edges[:, 0] < d.edges[:, 1]).all()  # undirected: u < v, no loops
            assert d.adjacency.shape == (d.n_nodes, d.n_nodes)
            assert abs(d.adjacency.sum() - 2 * d.weights.sum()) <= 1e-9 * max(1.0, d.weights.sum())
        else:
            assert d.T >= 1 and len(d.times) == d.T and (d.count > 0).all()
            assert ((d.t >= 0) & (d.t < d.T)).all() and (d.i < d.j).all()
            assert max(d.i.max(), d.j.max()) < d.n_nodes == len(set(d.node_ids))
            keys = (d.t * d.n_nodes + d.i) * d.n_nodes + d.j
            assert len(np.unique(keys)) == len(keys)  # each (t, i, j) once


# ---- text columns, yes/no columns, missing values (issue 13, items 1 and 11) -----------------

VOTES = (
    "party,v1,v2,v3\n"
    "republican,n,y,n\n"
    "democrat,y,?,y\n"
    "democrat,y,n,\n"
    "republican,n,y,NA\n"
    "democrat,?,n,y\n"
    "republican,n,y,n\n"
)


def test_text_columns_are_listed_in_file_order(sample_dir):
    d = load_table(sample_dir / "iris.csv")
    assert d.text_columns == ["species"] and "species" not in d.columns
    d = load_table(sample_dir / "iris.csv", labels="species")
    assert d.text_columns == ["species"]
    d = load_table(sample_dir / "iris.csv", labels="petal_width")
    assert d.text_columns == ["species"] and d.label_name == "petal_width"


def test_yes_no_columns_encoded_and_missing_rows_refused_with_count(tmp_path):
    from explorer.data.table import MissingValuesError

    p = write(tmp_path, "votes.csv", VOTES)
    with pytest.raises(MissingValuesError) as ei:
        load_table(p, labels="party")
    e = ei.value
    # rows 2, 3, 4 and 5 of the data (lines 3-6) have a '?', an empty cell or 'NA'
    assert e.rows == 4 and (e.line, e.column) == (3, "v2") and "'?'" in str(e)
    assert "--missing drop" in str(e)


def test_missing_drop_keeps_complete_rows_with_their_ids(tmp_path):
    p = write(tmp_path, "votes.csv", VOTES)
    d = load_table(p, labels="party", missing="drop")
    np.testing.assert_array_equal(d.X, [[0, 1, 0], [0, 1, 0]])
    assert list(d.ids) == ["0", "5"] and list(d.labels) == ["republican", "republican"]
    assert d.columns == ["v1", "v2", "v3"]
    assert d.text_columns == ["party", "v1", "v2", "v3"]
    assert any("encoded n = 0, y = 1" in n for n in d.notes)
    assert any("dropped 4 of 6 rows" in n for n in d.notes)
    # without a label column the two-valued party column is a feature too (d = 0, r = 1)
    d = load_table(p, missing="drop")
    assert d.columns == ["party", "v1", "v2", "v3"] and d.X[:, 0].tolist() == [1, 1]


def test_missing_markers_in_numeric_columns_and_bad_option(tmp_path, sample_dir):
    p = write(tmp_path, "m.csv", "a,b\n1,2\n3,?\n,4\n5,6\n")
    e = error_of(p)
    assert e.rows == 2 and (e.line, e.column) == (3, "b")
    d = load_table(p, missing="drop")
    np.testing.assert_array_equal(d.X, [[1, 2], [5, 6]])
    pen = load_table(sample_dir / "penguins.csv", labels="species", missing="drop")
    # beside numeric columns a two-valued text column (sex) is a ground-truth candidate, not a
    # feature; the rows missing a measurement are dropped
    assert pen.n_items == 342 and "sex" not in pen.columns and "island" not in pen.columns
    assert pen.text_columns == ["species", "island", "sex"]
    with pytest.raises(DataError, match="missing"):
        load_table(p, missing="fill")


def test_cli_missing_drop(tmp_path, capsys):
    from explorer import cli

    p = write(tmp_path, "votes.csv", VOTES)
    assert cli.main(["fit", "kmeans", str(p), "--K", "2", "--labels", "party"]) == 2
    assert "--missing drop" in capsys.readouterr().err
    # The two complete rows are the same vote, so K = 2 leaves a cluster empty: the fit runs on
    # the 2 kept rows and is reported degenerate (exit 3), not called converged (issue 22).
    assert (
        cli.main(
            [
                "fit",
                "kmeans",
                str(p),
                "--K",
                "2",
                "--labels",
                "party",
                "--missing",
                "drop",
                "--quiet",
            ]
        )
        == 3
    )
    out = capsys.readouterr()
    assert "dropped 4 of 6 rows" in out.err and "2 rows x 3 columns" in out.out
    assert "the data have only 1 distinct row" in out.err


# ---- issue 12: messages and safety ---------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    ["a;b\n1,5;2,5\n3,5;4,0\n", "1,5;2,5\n3,5;4,0\n2,0;1,0\n", "a\tb\n1,5\t2,5\n3,5\t4,0\n"],
)
def test_decimal_commas_are_refused_with_a_hint(tmp_path, content):
    # The headerless file was read silently as three columns ("1", "5;2", "5").
    with pytest.raises(DataError, match=r"line \d: the numbers use a decimal comma \('1,5'\)"):
        load_table(write(tmp_path, "d.csv", content))


def test_a_comma_separated_file_is_not_taken_for_decimal_commas(tmp_path):
    d = load_table(write(tmp_path, "d.csv", "a,b\n1,5\n3,5\n2,0\n"))
    assert d.X.tolist() == [[1, 5], [3, 5], [2, 0]]


def test_duplicated_header_is_reported_and_ambiguous_picks_refused(tmp_path):
    p = write(tmp_path, "d.csv", "a,a,b\n1,2,3\n4,5,6\n7,8,9\n")
    d = load_table(p)
    assert d.columns == ["a", "a.1", "b"]
    assert any("the header repeats 'a'; the repeats are called a.1" in n for n in d.notes)
    with pytest.raises(DataError, match="line 1: the header names column 'a' more than once"):
        load_table(p, columns=["a", "b"])
    with pytest.raises(DataError, match="names column 'a' more than once"):
        load_table(p, labels="a")


def test_a_feature_column_named_twice_is_refused(tmp_path):
    p = write(tmp_path, "d.csv", "a,b\n1,2\n3,4\n")
    with pytest.raises(DataError, match="'a' named twice in the feature columns"):
        load_table(p, columns="a,a")


def test_extreme_values_are_refused_unless_standardised(tmp_path):
    rng = np.random.default_rng(0)
    big = rng.random(50) * 1e200
    small = rng.random(50)
    p = write(
        tmp_path,
        "d.csv",
        "a,b\n" + "\n".join(f"{float(x)!r},{float(y)!r}" for x, y in zip(big, small)),
    )
    with pytest.raises(
        DataError, match=r"line 2, column 'a': value .* is too large.*--standardize"
    ):
        load_table(p)
    d = load_table(p, standardize=True)
    # before: the standard deviation overflowed and column a silently became zeros
    assert np.isfinite(d.X).all()
    np.testing.assert_allclose(
        d.X[:, 0], (big / 1e200 - (big / 1e200).mean()) / (big / 1e200).std(), rtol=1e-12
    )
    np.testing.assert_allclose(d.X.std(axis=0), [1.0, 1.0], rtol=1e-12)
    np.testing.assert_allclose(d.offset[0] / 1e200, (big / 1e200).mean(), rtol=1e-12)


def test_ordinary_standardisation_is_unchanged(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3)) * [1, 100, 1e-3] + [0, 5, -2]
    p = write(
        tmp_path, "d.csv", "a,b,c\n" + "\n".join(",".join(repr(float(v)) for v in r) for r in X)
    )
    d = load_table(p, standardize=True)
    np.testing.assert_array_equal(d.X, (X - X.mean(axis=0)) / X.std(axis=0))


def test_mixed_type_column_gives_no_pandas_warning(tmp_path):
    import warnings

    rows = [f"{i},{i % 7}" for i in range(300_000)] + ["x,1"]
    p = write(tmp_path, "d.csv", "a,b\n" + "\n".join(rows) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match="line 300002, column 'a': non-numeric value 'x'"):
            load_table(p)
