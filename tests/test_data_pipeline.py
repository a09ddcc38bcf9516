"""The table pipeline (explorer.data.pipeline) shared by the CSV and the columnar loaders: the
same file as CSV and as Parquet gives the same table, notes and messages."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyarrow")

from explorer.data import DataError, load  # noqa: E402


def _both(tmp_path, df: pd.DataFrame):
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_parquet(tmp_path / "t.parquet", index=False)
    return tmp_path / "t.csv", tmp_path / "t.parquet"


def _frame(n=40):
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "ID": [f"r{i}" for i in range(n)],
            "x0": rng.normal(size=n),
            "x1": rng.normal(size=n),
            "digit": rng.integers(0, 4, size=n).astype(float),
            "year": 2000.0 + rng.integers(0, 20, size=n),
            "kind": rng.choice(["a", "b", "c"], size=n),
        }
    )


def test_same_table_and_notes_from_csv_and_parquet(tmp_path):
    df = _frame()
    df.loc[5, "x1"] = np.nan
    csv, parquet = _both(tmp_path, df)
    a = load(csv, labels="kind", missing="drop", standardize=True)
    b = load(parquet, labels="kind", missing="drop", standardize=True)
    assert a.columns == b.columns == ["x0", "x1", "digit", "year"]
    np.testing.assert_allclose(a.X, b.X, rtol=1e-12, atol=1e-12)
    assert list(a.ids) == list(b.ids) and "r5" not in list(a.ids)
    assert list(a.labels) == list(b.labels)
    assert a.label_candidates == b.label_candidates == ["digit"]
    assert a.calendar_columns == b.calendar_columns == ["year"]
    assert a.text_columns == b.text_columns == ["kind"]
    assert a.notes == b.notes
    assert "dropped 1 of 40 rows with missing values" in a.notes
    assert "column 'ID' used as row ids" in a.notes


@pytest.mark.parametrize(
    "options, problem",
    [
        ({"columns": "x0,x0"}, "column(s) 'x0' named twice in the feature columns; name each once"),
        (
            {"columns": "x0,nope"},
            "unknown feature column(s) 'nope'; the file has: ID, x0, x1, digit, year, kind",
        ),
        (
            {"labels": "nope"},
            "unknown label column 'nope'; the file has: ID, x0, x1, digit, year, kind",
        ),
        (
            {"labels": "x0", "columns": "x0,x1"},
            "column 'x0' is both the label column and a feature",
        ),
        ({"missing": "fill"}, "missing = 'fill': expected one of error, drop"),
    ],
)
def test_same_choice_errors_from_csv_and_parquet(tmp_path, options, problem):
    for path in _both(tmp_path, _frame()):
        with pytest.raises(DataError) as e:
            load(path, **options)
        assert e.value.problem == problem
        assert e.value.path == str(path)


def test_a_missing_value_is_counted_the_same_way(tmp_path):
    df = _frame()
    df.loc[[3, 9], "x0"] = np.nan
    for path in _both(tmp_path, df):
        with pytest.raises(DataError) as e:
            load(path)
        assert e.value.rows == 2 and e.value.column == "x0"
        assert "2 rows have missing values: drop them (--missing drop" in e.value.problem
