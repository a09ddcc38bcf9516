"""Property tests for the loaders (hypothesis): whatever the file holds (random bytes, random
table shapes and cells, random edge lists and temporal rows), a loader either loads it or raises a
DataError whose message starts with the file's path; never another exception, never a warning.
The CLI's promise (exit 2 and one located line) rests on this."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.data import DataError, load_network, load_table, load_temporal

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
LOADERS = {"table": load_table, "network": load_network, "temporal": load_temporal}


def load_or_data_error(path, loader, **options):
    """Load, or a located DataError; any other exception or an escaping warning fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return loader(path, **options)
        except DataError as e:
            msg = str(e)
            assert msg.startswith(str(path)), msg
            assert "\n" not in msg.strip(), msg
            assert "np.float64" not in msg and "np.int64" not in msg, msg
            return None


def check_loaded(d):
    if d is None:
        return
    if d.kind == "table":
        assert d.X.dtype == np.float64 and np.isfinite(d.X).all()
        assert d.X.shape == (len(d.ids), len(d.columns)) and d.X.shape[1] >= 1
        assert len(set(d.columns)) == len(d.columns)
    elif d.kind == "network":
        assert len(d.edges) >= 1 and (d.weights > 0).all()
        assert d.edges.max() < d.n_nodes
    else:
        assert (d.count > 0).all() and d.T >= 1 and (d.t < d.T).all()


@SETTINGS
@given(data=st.binary(max_size=300), kind=st.sampled_from(sorted(LOADERS)))
def test_random_bytes(tmp_path, data, kind):
    p = tmp_path / "f.csv"
    p.write_bytes(data)
    check_loaded(load_or_data_error(p, LOADERS[kind]))


_CELL = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.floats(allow_nan=True, allow_infinity=True, width=64).map(repr),
    st.sampled_from(["", " ", "NA", "?", "x", "1,5", "1e400", "-0", "1e200", "\"a,b\"", "'",
                     "\"", "#", "%", "id", "1.5.2", "0x10", "é", "\t"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x00"),
            max_size=4),
)


@SETTINGS
@given(sep=st.sampled_from([",", ";", "\t", " "]),
       header=st.one_of(st.none(), st.lists(st.sampled_from(["a", "b", "a", "id", "label", "t",
                                                             "i", "j", "u", "v", "w", "count"]),
                                            min_size=1, max_size=5)),
       rows=st.lists(st.lists(_CELL, min_size=1, max_size=5), min_size=0, max_size=8),
       standardize=st.booleans(), kind=st.sampled_from(sorted(LOADERS)))
def test_random_tables(tmp_path, sep, header, rows, standardize, kind):
    lines = ([sep.join(header)] if header else []) + [sep.join(r) for r in rows]
    p = tmp_path / "f.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    options = {"standardize": standardize} if kind == "table" else {}
    check_loaded(load_or_data_error(p, LOADERS[kind], **options))


_NODE = st.one_of(st.integers(0, 6).map(str), st.sampled_from(["a", "b", "c", "é", "", " ", "#x"]))
_WEIGHT = st.one_of(st.integers(-2, 5).map(str), st.floats(width=64).map(repr),
                    st.sampled_from(["", "w", "1,5", "1e308", "1e-320"]))


@SETTINGS
@given(sep=st.sampled_from([",", "\t", " "]),
       header=st.sampled_from([None, "u,v", "source,target,weight", "u v w", "t,i,j,count"]),
       rows=st.lists(st.tuples(_NODE, _NODE, st.one_of(st.none(), _WEIGHT)), max_size=10),
       directed=st.booleans())
def test_random_edge_lists(tmp_path, sep, header, rows, directed):
    lines = ([header] if header else []) + [
        sep.join([u, v] + ([w] if w is not None else [])) for u, v, w in rows]
    p = tmp_path / "e.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    check_loaded(load_or_data_error(p, load_network, directed=directed))


@SETTINGS
@given(rows=st.lists(st.tuples(st.one_of(st.integers(-5, 10**13).map(str),
                                         st.floats(width=64).map(repr),
                                         st.sampled_from(["2009-10-01 09:00", "x", ""])),
                               _NODE, _NODE,
                               st.one_of(st.none(), _WEIGHT)), min_size=1, max_size=8),
       bin_width=st.one_of(st.none(), st.floats(min_value=-1, max_value=1e13, width=64),
                           st.sampled_from([1e-9, 0.5, 3600.0])),
       header=st.booleans())
def test_random_temporal_rows(tmp_path, rows, bin_width, header):
    lines = (["t,i,j,count"] if header else []) + [
        ",".join([t, u, v] + ([w] if w is not None else [])) for t, u, v, w in rows]
    p = tmp_path / "t.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    check_loaded(load_or_data_error(p, load_temporal, bin_width=bin_width))


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_known_bad_cases_are_located(tmp_path, kind):
    """A few fixed cases the random ones may miss."""
    for content in ["\x00\x01", "a,b\n1,2\n3\n", "t,i,j\n1e400,a,b\n", "\ufeff", "\xff"]:
        p = tmp_path / "k.csv"
        p.write_bytes(content.encode("latin-1") if content == "\xff" else content.encode())
        check_loaded(load_or_data_error(p, LOADERS[kind]))


@pytest.mark.parametrize("kind, content, options", [
    # what hypothesis found (each raised a raw exception or let a warning out before the fix)
    ("network", b"\r\x01", {}),                      # _csv.Error: new-line in unquoted field
    ("table", b"\x1c", {}),                          # IndexError: only "blank" lines
    ("table", b"0\n", {"standardize": True}),        # ValueError: output array is read-only
    ("temporal", b"9.223372036854776e+18,0,0\n", {}),   # RuntimeWarning: invalid value in cast
    ("temporal", b"-1,0,0,0\n2009-10-01 09:00,0,0,0\n2009-10-01 09:00,0,0,0\n", {}),
])                                                   # ^ OutOfBoundsDatetime
def test_found_cases(tmp_path, kind, content, options):
    p = tmp_path / "f.csv"
    p.write_bytes(content)
    check_loaded(load_or_data_error(p, LOADERS[kind], **options))
