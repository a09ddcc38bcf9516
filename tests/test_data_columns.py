"""Columns that are not what they seem (issue 21, item 5, the Qt-free part): a numeric label or a
calendar column fitted as a feature is flagged on load; the Bernoulli mixture's hint names
``--labels``; a misspelt edge-list header is a header; one rule picks a node-label column."""

import numpy as np
import pandas as pd
import pytest

from explorer.data import DataError, guess_kind, load, load_network, load_table
from explorer.data.labels import label_file_columns, node_names

# ---- label-like and calendar columns --------------------------------------------------------


def test_digits_label_column_is_flagged_not_dropped(sample_dir):
    d = load(sample_dir / "digits_binary.csv")
    assert d.X.shape == (1797, 65) and "digit" in d.columns  # the user decides
    assert d.label_candidates == ["digit"] and d.calendar_columns == []
    assert any("--labels digit" in n for n in d.notes)
    d = load(sample_dir / "digits_binary.csv", labels="digit")
    assert d.X.shape == (1797, 64) and d.label_candidates == []
    assert not any("--labels" in n for n in d.notes)


def test_picked_columns_are_not_second_guessed(sample_dir):
    d = load(sample_dir / "digits_binary.csv", columns=["p00", "p01", "digit"])
    assert d.columns == ["p00", "p01", "digit"] and d.label_candidates == []


def test_coal_end_date_is_a_calendar_column(sample_dir):
    d = load(sample_dir / "coal_intervals.csv")
    assert d.calendar_columns == ["end_date"] and d.label_candidates == []
    note = next(n for n in d.notes if "end_date" in n)
    assert "--columns interval_years" in note
    d = load(sample_dir / "coal_intervals.csv", columns="interval_years")
    assert d.columns == ["interval_years"] and d.calendar_columns == []


@pytest.mark.parametrize("name", ["iris.csv", "old_faithful.csv", "galaxies.csv"])
def test_plain_tables_are_not_flagged(sample_dir, name):
    d = load(sample_dir / name)
    assert d.label_candidates == [] and d.calendar_columns == []


def _wine_like(n=60, seed=0):
    rng = np.random.default_rng(seed)
    cultivar = rng.integers(1, 4, n)
    return pd.DataFrame(
        {
            "alcohol": 12 + cultivar + rng.normal(0, 0.3, n),
            "Cultivar": cultivar,
            "hue": rng.normal(1, 0.2, n),
        }
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_cultivar_column_is_flagged_in_text_and_columnar_files(tmp_path, suffix):
    df = _wine_like()
    p = tmp_path / f"wine{suffix}"
    df.to_csv(p, index=False) if suffix == ".csv" else df.to_parquet(p)
    d = load(p)
    assert d.label_candidates == ["Cultivar"]
    assert any("--labels Cultivar" in n for n in d.notes)


@pytest.mark.parametrize(
    "column, values, flagged",
    [
        ("class_id", lambda r, n: r.integers(0, 4, n), True),  # a word of the name
        ("y", lambda r, n: r.integers(0, 2, n), True),
        ("targetValue", lambda r, n: r.integers(0, 3, n), True),  # camelCase
        ("class", lambda r, n: r.normal(size=n), False),  # not whole numbers
        ("group", lambda r, n: np.arange(n), False),  # a value per row: an id
        ("width", lambda r, n: r.integers(0, 4, n), False),  # a count, not a label's name
    ],
)
def test_what_looks_like_a_label(tmp_path, column, values, flagged):
    r = np.random.default_rng(1)
    n = 200
    df = pd.DataFrame({"a": r.normal(size=n), column: values(r, n), "b": r.normal(size=n)})
    p = tmp_path / "t.csv"
    df.to_csv(p, index=False)
    assert (load_table(p).label_candidates == [column]) is flagged


def test_the_only_non_binary_column_of_a_binary_table(tmp_path):
    r = np.random.default_rng(2)
    X = (r.random((100, 6)) < 0.3).astype(int)
    df = pd.DataFrame(X, columns=[f"f{j}" for j in range(6)])
    df.insert(3, "z", r.integers(0, 5, 100))
    p = tmp_path / "b.csv"
    df.to_csv(p, index=False)
    d = load_table(p)
    assert d.label_candidates == ["z"]
    assert any("only column that is not 0/1" in n and "--labels z" in n for n in d.notes)
    np.save(tmp_path / "b.npy", df.to_numpy(dtype=float))
    assert load(tmp_path / "b.npy").label_candidates == ["c3"]


def test_bernoulli_hint_names_the_label_not_binarize(sample_dir):
    """`explorer fit bernoulli-mixture digits_binary.csv --K 10` suggested --binarize, which
    would have fitted the digit as a feature."""
    from explorer.models import get_model

    cls = get_model("bernoulli-mixture")
    model = cls(cls.Hyperparameters.from_mapping({"K": 10}))
    with pytest.raises(DataError) as e:
        model.check_data(load(sample_dir / "digits_binary.csv"))
    assert "--labels digit" in str(e.value) and "turn on binarize" not in str(e.value)
    # a table whose non-binary values are spread over features keeps the binarize hint
    with pytest.raises(DataError, match="binarize"):
        model.check_data(load(sample_dir / "old_faithful.csv"))


# ---- an edge list with a misspelt header ------------------------------------------------------

TYPO = "sorce,target\n0,1\n1,2\n2,0\n2,3\n"


def test_a_misspelt_edge_list_header_is_a_header(tmp_path):
    p = tmp_path / "e.csv"
    p.write_text(TYPO)
    d = load_network(p)
    assert d.n_nodes == 4 and d.n_edges == 4 and "sorce" not in d.node_ids
    assert any("read as a header" in n for n in d.notes)


@pytest.mark.parametrize("text", [TYPO, "souce target\n0 1\n1 2\n", "source,taget,weight\n0,1,2\n"])
def test_a_misspelt_edge_list_header_is_guessed_a_network(tmp_path, text):
    p = tmp_path / "e.csv"
    p.write_text(text)
    assert guess_kind(p) == "network"
    assert load(p).kind == "network"


@pytest.mark.parametrize(
    "text",
    [
        "height,weight\n1,2\n3,4\n",
        "a,b\n0,1\n1,2\n",
        "x,y,z,w\n1,2,3,4\n5,6,7,8\n",
        "note,heat\n1,2\n3,4\n",
        "sorce,target\n0.5,1.5\n1.5,2\n",
    ],
)
def test_tables_stay_tables(tmp_path, text):
    p = tmp_path / "t.csv"
    p.write_text(text)
    assert guess_kind(p) == "table"


def test_named_nodes_are_not_a_header(tmp_path):
    p = tmp_path / "e.csv"
    p.write_text("alice,bob\nbob,carol\ncarol,alice\n")
    d = load_network(p)
    assert d.n_edges == 3 and "alice" in d.node_ids


# ---- one rule for a node-label column ---------------------------------------------------------


def test_football_label_file_without_a_column_takes_conference(sample_dir):
    """`explorer gui FILE --labels nodes.csv` took football's `name` (115 classes) where the
    window's Node labels dialog took `conference`: both follow label_file_columns now."""
    f = sample_dir / "football"
    d = load_network(f / "edges.csv", labels=f / "nodes.csv")
    assert d.label_name == "conference" and len(set(d.labels)) == 12
    assert any("'conference'" in n for n in d.notes)
    cols, values, preferred = label_file_columns(f / "nodes.csv", d.node_ids)
    assert cols == ["name", "conference_id", "conference"] and preferred == "conference"
    assert list(values["conference"]) == list(d.labels)
    names = node_names(values)
    assert names is values["name"] and len(set(names)) == d.n_nodes


def test_label_file_rules_elsewhere(sample_dir, tmp_path):
    k = sample_dir / "karate"
    d = load_network(k / "edges.csv", labels=k / "nodes.csv")
    assert d.label_name == "club" and set(d.labels) == {"Mr. Hi", "Officer"}
    assert node_names(label_file_columns(k / "nodes.csv", d.node_ids)[1]) is None
    # no header: the second field, as before; label_file_columns has nothing to offer
    p = tmp_path / "l.txt"
    p.write_text("0 a\n1 b\n2 a\n")
    e = tmp_path / "e.txt"
    e.write_text("0 1\n1 2\n")
    d = load_network(e, labels=p)
    assert list(d.labels) == ["a", "b", "a"]
    assert label_file_columns(p, d.node_ids) == ([], {}, None)
    # an explicit column wins
    d = load_network(
        sample_dir / "football" / "edges.csv",
        labels=f"{sample_dir / 'football' / 'nodes.csv'}:name",
    )
    assert d.label_name == "name" and len(set(d.labels)) == 115
