"""Parquet, Feather and .npy tables (explorer.data.columnar) and the float32 paths of K-means and
the Gaussian mixture (issue 16)."""

import tracemalloc

import numpy as np
import pandas as pd
import pytest

pa = pytest.importorskip("pyarrow")
import pyarrow.feather as feather  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from explorer import runner  # noqa: E402
from explorer.data import DataError, guess_kind, kind_for_model, load  # noqa: E402
from explorer.data.synthetic import gaussian_blobs  # noqa: E402
from explorer.models import get_model  # noqa: E402


def _frame(n=300, D=3, seed=0, dtype=np.float32):
    blobs = gaussian_blobs(n, K=3, D=D, seed=seed)
    df = pd.DataFrame(blobs.X.astype(dtype), columns=[f"x{j}" for j in range(D)])
    df.insert(0, "ID", [f"r{i}" for i in range(n)])
    df["kind"] = list(blobs.labels)
    return df


def test_parquet_float32_is_kept_column_major_with_ids_and_labels(tmp_path):
    df = _frame()
    path = tmp_path / "t.parquet"
    df.to_parquet(path, row_group_size=64)  # several row groups
    assert guess_kind(path) == "table"
    assert kind_for_model(path, ("table",)) == "table"
    d = load(path, labels="kind")
    assert d.X.dtype == np.float32 and d.X.flags.f_contiguous
    np.testing.assert_array_equal(d.X, df[["x0", "x1", "x2"]].to_numpy())
    assert list(d.ids) == list(df["ID"]) and d.columns == ["x0", "x1", "x2"]
    assert list(d.labels) == list(df["kind"]) and d.label_name == "kind"
    assert d.text_columns == ["kind"]  # the window's ground-truth candidates
    import hashlib

    assert d.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    d64 = load(path, labels="kind", dtype="float64")
    assert d64.X.dtype == np.float64
    np.testing.assert_array_equal(d64.X, d.X.astype(np.float64))


def test_feather_and_npy(tmp_path):
    df = _frame(dtype=np.float64).drop(columns=["ID"])
    path = tmp_path / "t.feather"
    feather.write_feather(df, path, chunksize=50)
    d = load(path)
    assert d.X.dtype == np.float64 and d.columns == ["x0", "x1", "x2"]
    assert any("'kind' is not numeric" in n for n in d.notes)
    np.testing.assert_array_equal(d.X, df[["x0", "x1", "x2"]].to_numpy())
    assert load(path, dtype="float32").X.dtype == np.float32

    X = np.random.default_rng(0).normal(size=(1000, 4)).astype(np.float32)
    np.save(tmp_path / "a.npy", X)
    d = load(tmp_path / "a.npy", columns="c1,c3")
    assert d.X.dtype == np.float32 and d.columns == ["c1", "c3"]
    np.testing.assert_array_equal(d.X, X[:, [1, 3]])
    assert list(d.ids[:3]) == ["0", "1", "2"] and d.ids[-1] == "999" and len(d.ids) == 1000
    np.save(tmp_path / "one.npy", X[:, 0])
    assert load(tmp_path / "one.npy").X.shape == (1000, 1)
    with pytest.raises(DataError, match="no named columns"):
        load(tmp_path / "a.npy", labels="c0")
    np.save(tmp_path / "obj.npy", np.array([["a", 1]], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="obj.npy: cannot read the file as a NumPy"):
        load(tmp_path / "obj.npy")


def test_the_table_loaders_checks_and_messages(tmp_path):
    df = _frame(n=50)
    df.loc[17, "x1"] = np.nan  # pandas writes NaN as a missing value
    df.to_parquet(tmp_path / "na.parquet")
    with pytest.raises(DataError, match=r"na.parquet, column 'x1': missing value in row 18"):
        load(tmp_path / "na.parquet")
    x = np.ones(50)
    x[17] = np.inf
    pq.write_table(pa.table({"x0": np.ones(50), "x1": x}), tmp_path / "inf.parquet")
    with pytest.raises(
        DataError,
        match=r"inf.parquet, column 'x1': value inf in row 18 is not a "
        r"finite number",
    ):
        load(tmp_path / "inf.parquet")
    t = pa.table({"a": pa.array([1.0, None, 3.0]), "b": pa.array([1.0, 2.0, 3.0])})
    pq.write_table(t, tmp_path / "null.parquet")
    with pytest.raises(DataError, match="column 'a': missing value in row 2"):
        load(tmp_path / "null.parquet")
    df = _frame(n=20)
    df.to_parquet(tmp_path / "ok.parquet")
    with pytest.raises(DataError, match="column 'kind': column is not numeric"):
        load(tmp_path / "ok.parquet", columns="x0,kind")
    with pytest.raises(DataError, match="unknown feature column"):
        load(tmp_path / "ok.parquet", columns="nope")
    with pytest.raises(DataError, match="unknown label column"):
        load(tmp_path / "ok.parquet", labels="nope")
    with pytest.raises(DataError, match="named twice"):
        load(tmp_path / "ok.parquet", columns="x0,x0")
    big = pd.DataFrame({"a": [1.0, 1e200], "b": [1.0, 2.0]})
    big.to_parquet(tmp_path / "big.parquet")
    with pytest.raises(DataError, match="too large"):
        load(tmp_path / "big.parquet")
    assert np.isfinite(load(tmp_path / "big.parquet", standardize=True).X).all()
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="cannot read the file as Parquet"):
        load(tmp_path / "bad.parquet")
    with pytest.raises(DataError, match="file not found"):
        load(tmp_path / "missing.parquet")
    with pytest.raises(DataError, match="holds a table"):
        kind_for_model(tmp_path / "ok.parquet", ("network",), model_id="ammsb")


def test_standardize_matches_the_csv_loader(tmp_path):
    df = _frame(n=200, dtype=np.float64)
    df.to_parquet(tmp_path / "t.parquet")
    df.to_csv(tmp_path / "t.csv", index=False)
    a = load(tmp_path / "t.parquet", standardize=True, labels="kind")
    b = load(tmp_path / "t.csv", standardize=True, labels="kind")
    assert list(a.ids) == list(b.ids) and list(a.labels) == list(b.labels)
    np.testing.assert_allclose(a.X, b.X, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a.offset, b.offset, rtol=1e-12)
    np.testing.assert_allclose(a.scale, b.scale, rtol=1e-12)
    c = load(tmp_path / "t.csv", dtype="float32")
    assert c.X.dtype == np.float32 and any("float32" in n for n in c.notes)


def test_loading_makes_no_second_full_copy(tmp_path):
    n, D = 400_000, 4
    X = np.random.default_rng(1).normal(size=(n, D)).astype(np.float32)
    pq.write_table(
        pa.table({f"c{j}": X[:, j] for j in range(D)}),
        tmp_path / "t.parquet",
        row_group_size=50_000,
    )
    load(tmp_path / "t.parquet")  # imports, first-call costs
    tracemalloc.start()
    d = load(tmp_path / "t.parquet")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert d.X.nbytes == X.nbytes
    # the matrix plus a row group's worth of scratch, not two matrices
    assert peak < 1.3 * X.nbytes, (peak, X.nbytes)


@pytest.mark.parametrize("model_id, hp", [("kmeans", {"K": 3, "n_init": 2}), ("gmm", {"K": 3})])
def test_float32_fits_agree_with_float64(tmp_path, model_id, hp):
    blobs = gaussian_blobs(3000, K=3, D=5, seed=3)
    X = blobs.X.astype(np.float32)
    pq.write_table(pa.table({f"c{j}": X[:, j] for j in range(5)}), tmp_path / "t.parquet")
    d32 = load(tmp_path / "t.parquet")
    d64 = load(tmp_path / "t.parquet", dtype="float64")
    assert d32.X.dtype == np.float32
    cls = get_model(model_id)
    r32 = runner.fit(cls, d32, seed=0, **hp)
    r64 = runner.fit(cls, d64, seed=0, **hp)
    if model_id == "gmm":  # the float32 data is used as it is, not copied to float64
        assert r32.model.X.dtype == np.float32 and r32.model._XT.dtype == np.float32
    np.testing.assert_array_equal(r32.model.labels(), r64.model.labels())
    np.testing.assert_allclose(r32.final_objective, r64.final_objective, rtol=1e-6)
    p32, p64 = r32.model.parameters(), r64.model.parameters()
    key = "centers" if model_id == "kmeans" else "means"
    assert p32[key].dtype == np.float64
    np.testing.assert_allclose(p32[key], p64[key], rtol=1e-5, atol=1e-5)


def test_npy_layouts_and_a_truncated_file(tmp_path):
    X = np.arange(3 * 700_000, dtype=np.float64).reshape(700_000, 3) / 7
    np.save(tmp_path / "c.npy", X)
    np.save(tmp_path / "f.npy", np.asfortranarray(X))
    for name in ("c.npy", "f.npy"):
        d = load(tmp_path / name, columns="c2,c0")
        np.testing.assert_array_equal(d.X, X[:, [2, 0]])
    raw = (tmp_path / "c.npy").read_bytes()
    (tmp_path / "short.npy").write_bytes(raw[:-800])
    with pytest.raises(DataError, match="shorter than its header"):
        load(tmp_path / "short.npy")


def test_float32_kmeans_reseeds_an_empty_cluster_without_kept_distances():
    """float32 data keeps no per-row distances: re-seeding an empty cluster computes them again
    and picks the same row (the farthest from its centre) as the float64 path."""
    from explorer.models._centres import LloydState

    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(0, 1, (200, 2)), [[40.0, 40.0]]])
    centers = np.array([[0.0, 0.0], [1000.0, 1000.0]])  # the second one gets no row
    states = {}
    for dt in (np.float64, np.float32):
        st = LloydState(np.asfortranarray(X.astype(dt)), centers.copy())
        assert (len(st.mind) == 0) == (dt == np.float32)
        st.step(update=False)
        _, _, reseeded = st.step()
        assert reseeded == 1
        states[dt] = st
    assert states[np.float32].labels[-1] == states[np.float64].labels[-1] == 1
    np.testing.assert_allclose(states[np.float32].centers, states[np.float64].centers, rtol=1e-6)


def test_missing_values_are_counted_or_dropped_like_the_csv_loader(tmp_path):
    from explorer.data.table import MissingValuesError

    a = np.arange(10, dtype=np.float64)
    t = pa.table(
        {
            "id": [f"r{i}" for i in range(10)],
            "a": pa.array(a, mask=np.isin(np.arange(10), [2, 7])),
            "b": pa.array(a * 2, mask=np.isin(np.arange(10), [7, 8])),
            "kind": [str(i % 2) for i in range(10)],
        }
    )
    pq.write_table(t, tmp_path / "m.parquet", row_group_size=4)
    with pytest.raises(
        MissingValuesError, match="column 'a': missing value in row 3; 3 rows have missing values"
    ) as e:
        load(tmp_path / "m.parquet")
    assert e.value.rows == 3
    d = load(tmp_path / "m.parquet", missing="drop", labels="kind")
    keep = [0, 1, 3, 4, 5, 6, 9]
    np.testing.assert_array_equal(d.X, np.column_stack([a[keep], 2 * a[keep]]))
    assert d.X.flags.f_contiguous
    assert list(d.ids) == [f"r{i}" for i in keep]
    assert list(d.labels) == [str(i % 2) for i in keep]
    assert "dropped 3 of 10 rows with missing values" in d.notes
    pq.write_table(t.drop(["id"]), tmp_path / "n.parquet", row_group_size=4)
    d = load(tmp_path / "n.parquet", missing="drop", labels="kind")
    assert list(d.ids) == [str(i) for i in keep]  # the file's numbering
