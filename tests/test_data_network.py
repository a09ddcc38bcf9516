"""load_network: real files checked against their READMEs (node/edge counts) and networkx reading the
same files; small hand-written files for each rule; one test per malformed-input case."""

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from helpers import load_error, write

from explorer.data import DataError, guess_kind, load, load_network


def as_dict(d):
    """{(u_id, v_id): weight} from a NetworkData, u < v canonical by id for undirected."""
    out = {}
    for (a, b), w in zip(d.edges, d.weights):
        u, v = d.node_ids[a], d.node_ids[b]
        if not d.directed:
            u, v = sorted((u, v))
        out[(u, v)] = w
    return out


# ---- real files -------------------------------------------------------------------------------


def test_karate_with_club_labels(sample_dir):
    d = load_network(
        sample_dir / "karate" / "edges.csv", labels=f"{sample_dir / 'karate' / 'nodes.csv'}:club"
    )
    assert (d.n_nodes, d.n_edges) == (34, 78) and not d.directed
    # Independent reference: networkx's own karate club graph, ids and weights.
    g = nx.karate_club_graph()
    ref = {tuple(sorted((str(u), str(v)))): float(a["weight"]) for u, v, a in g.edges(data=True)}
    assert as_dict(d) == ref
    A = d.adjacency
    assert A.shape == (34, 34) and (A != A.T).nnz == 0 and A.diagonal().sum() == 0
    assert A.sum() == 2 * d.weights.sum()
    club = {str(n): g.nodes[n]["club"] for n in g}
    assert [club[n] for n in d.node_ids] == list(d.labels)
    assert d.label_name == "club" and not d.notes


def test_football(sample_dir):
    d = load_network(
        sample_dir / "football" / "edges.csv",
        labels=f"{sample_dir / 'football' / 'nodes.csv'}:conference",
    )
    assert (d.n_nodes, d.n_edges) == (115, 613)
    assert np.all(d.weights == 1.0) and all(lab is not None for lab in d.labels)
    assert len(set(d.labels)) == 12


def test_oppm_tab_one_based_ids_and_test_pairs(sample_dir):
    base = sample_dir / "networks" / "oppm_n2000_k10"
    d = load_network(
        f"{base}.tsv", labels=f"{base}_gt_nodes.tsv", test_pairs=f"{base}_test_pairs.tsv"
    )
    assert (d.n_nodes, d.n_edges) == (2000, 21582)
    raw = pd.read_csv(f"{base}.tsv", sep="\t", header=None, dtype=str)
    # ids kept as the 1-based strings of the file, first-appearance order
    assert d.node_ids[0] == raw.iloc[0, 0] == "1" and set(d.node_ids) == {
        str(k) for k in range(1, 2001)
    }
    assert as_dict(d) == {tuple(sorted(r)): 1.0 for r in raw.itertuples(index=False)}
    pairs = pd.read_csv(f"{base}_test_pairs.tsv", sep="\t", header=None, dtype=str)
    assert d.test_pairs.shape == (len(pairs), 3)
    np.testing.assert_array_equal(d.node_ids[d.test_pairs[:, 0]], pairs[0].to_numpy())
    np.testing.assert_array_equal(d.node_ids[d.test_pairs[:, 1]], pairs[1].to_numpy())
    np.testing.assert_array_equal(d.test_pairs[:, 2], pairs[2].astype(int).to_numpy())
    # labels: primary community (the first one listed) for every node, 10 communities of 200
    gt = pd.read_csv(f"{base}_gt_nodes.tsv", sep="\t", header=None, dtype=str)
    primary = dict(zip(gt[0], gt[1].str.split().str[0]))
    assert list(d.labels) == [primary[n] for n in d.node_ids]
    assert sorted(pd.Series(d.labels).value_counts()) == [200] * 10


# ---- formats and rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a b\nb c\nc a\n",
        "a\tb\nb\tc\nc\ta\n",
        "source,target\na,b\nb,c\nc,a\n",
        "# a comment\n% another\nfrom;to\na;b\n\nb;c\nc;a\n",
        "u, v\na, b\nb, c\nc, a\n",
    ],
)
def test_edge_list_flavours(tmp_path, text):
    d = load_network(write(tmp_path, "g.txt", text))
    assert list(d.node_ids) == ["a", "b", "c"]
    assert as_dict(d) == {("a", "b"): 1.0, ("b", "c"): 1.0, ("a", "c"): 1.0}


def test_weights_header_and_extra_columns(tmp_path):
    d = load_network(write(tmp_path, "g.csv", "src,dst,kind,weight\nx,y,k,2.5\ny,z,k,1\n"))
    assert as_dict(d) == {("x", "y"): 2.5, ("y", "z"): 1.0}
    assert any("kind" in n for n in d.notes)


def test_self_loops_and_duplicates_reported(tmp_path):
    p = write(tmp_path, "g.txt", "1 2 1\n2 1 2\n1 1 5\n2 3 1\n3 3 1\n")
    d = load_network(p)
    assert as_dict(d) == {("1", "2"): 3.0, ("2", "3"): 1.0}
    assert any("2 self-loop" in n for n in d.notes)
    assert any("merged 1 duplicate" in n for n in d.notes)
    dd = load_network(p, directed=True)
    assert as_dict(dd) == {("1", "2"): 1.0, ("2", "1"): 2.0, ("2", "3"): 1.0}
    assert dd.directed and dd.adjacency[0, 1] == 1.0 and dd.adjacency[1, 0] == 2.0


def test_node_ids_not_renumbered(tmp_path):
    d = load_network(write(tmp_path, "g.txt", "10 7\n7 003\n"))
    assert list(d.node_ids) == ["10", "7", "003"]


def test_label_file_without_column_and_missing_nodes(tmp_path):
    g = write(tmp_path, "g.txt", "a b\nb c\nc d\n")
    lab = write(tmp_path, "lab.csv", "node,group\na,x\nb,y\nzz,q\n")
    d = load_network(g, labels=lab)
    assert list(d.labels) == ["x", "y", None, None] and d.label_name == "group"
    assert any("not in the network" in n for n in d.notes)


def test_gml_and_graphml(tmp_path):
    g = nx.Graph()
    g.add_node("lonely", club="c")
    g.add_edge("a", "b", weight=2.0)
    g.add_edge("b", "c", weight=0.5)
    for n in "abc":
        g.nodes[n]["club"] = "A" if n != "c" else "B"
    nx.write_gml(g, tmp_path / "g.gml")
    nx.write_graphml(g, tmp_path / "g.graphml")
    for name in ("g.gml", "g.graphml"):
        assert guess_kind(tmp_path / name) == "network"
        d = load(tmp_path / name, labels="club")
        assert list(d.node_ids) == ["lonely", "a", "b", "c"]  # isolated node kept
        assert as_dict(d) == {("a", "b"): 2.0, ("b", "c"): 0.5}
        assert list(d.labels) == ["c", "A", "A", "B"]


def test_gml_unknown_attribute(tmp_path):
    g = nx.path_graph(3)
    nx.write_gml(g, tmp_path / "g.gml")
    with pytest.raises(DataError, match="no node has the attribute 'club'"):
        load_network(tmp_path / "g.gml", labels="club")


def test_guess_kind(tmp_path, sample_dir):
    assert guess_kind(sample_dir / "karate" / "edges.csv") == "network"
    assert guess_kind(write(tmp_path, "e.tsv", "node1\tnode2\n1\t2\n")) == "network"
    assert guess_kind(sample_dir / "iris.csv") == "table"


# ---- malformed input --------------------------------------------------------------------------


def error_of(path, **kw) -> DataError:
    return load_error(load_network, path, **kw)


def test_error_non_numeric_weight(tmp_path):
    e = error_of(write(tmp_path, "g.txt", "# header comment\na b 1\nb c heavy\n"))
    assert (e.line, e.column) == (3, "c2") and "non-numeric weight 'heavy'" in str(e)


def test_error_ragged_edge_list(tmp_path):
    e = error_of(write(tmp_path, "g.csv", "source,target,weight\na,b,1\nb,c\nc,d,1\n"))
    assert e.line == 3 and "expected 3 fields, found 2" in str(e)


def test_error_single_column(tmp_path):
    e = error_of(write(tmp_path, "g.txt", "a\nb\n"))
    assert "two node columns" in str(e) and e.line == 1


def test_error_only_self_loops(tmp_path):
    e = error_of(write(tmp_path, "g.txt", "a a\nb b\n"))
    assert "no edges" in str(e)


def test_error_empty_and_missing(tmp_path):
    assert "empty" in str(error_of(write(tmp_path, "g.txt", "")))
    assert "file not found" in str(error_of(tmp_path / "none.txt"))


def test_error_test_pairs_unknown_node(tmp_path):
    g = write(tmp_path, "g.txt", "a b\nb c\n")
    tp = write(tmp_path, "tp.txt", "a c 0\na q 1\n")
    e = error_of(g, test_pairs=tp)
    assert e.line == 2 and "'q'" in str(e) and "tp.txt" in str(e)
    e = error_of(g, test_pairs=write(tmp_path, "tp2.txt", "a c 2\n"))
    assert e.line == 1 and "0 or 1" in str(e)


def test_error_label_column_unknown(tmp_path):
    g = write(tmp_path, "g.txt", "a b\n")
    lab = write(tmp_path, "lab.csv", "node,club\na,x\n")
    e = error_of(g, labels=f"{lab}:klub")
    assert "'klub'" in str(e) and "node, club" in str(e)


def test_error_gml_broken(tmp_path):
    e = error_of(write(tmp_path, "g.gml", 'graph [ node [ id 0 label "a" ] edge [ source 0 '))
    assert "cannot read the GML file" in str(e)


def test_negative_weight_shown_as_written(tmp_path):
    # was: "negative weight np.float64(-1.0)"
    p = write(tmp_path, "e.csv", "u,v,w\na,b,1\nb,c,-1.0\n")
    with pytest.raises(DataError) as e:
        load_network(p)
    assert str(e.value).endswith("line 3, column 'w': negative weight -1.0")
