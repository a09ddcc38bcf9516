"""Static networks from edge lists, GML and GraphML.

``load_network(path, directed=False, labels=None, test_pairs=None)``:

- Edge lists: rows ``u v`` or ``u v w`` separated by commas, tabs, semicolons or whitespace, with or
  without a header row (``source,target[,weight]``, ``u,v``, ``from,to``, ...); lines starting
  with ``#`` or ``%`` are comments. Node ids are kept as the strings in the file. With a header, a
  column named ``weight`` (or ``w``, ``value``) holds the weights, else the third column does;
  further columns are ignored with a note. Parsed by pandas' C engine; only a failed parse walks the
  file line by line to name the line.
- ``.gml`` and ``.graphml`` files are read with networkx; node ids are the GML ``label`` (or ``id``
  when nodes have no label) and the GraphML node ids; the edge attribute ``weight`` is used when
  present. Isolated nodes are kept.
- ``node_ids`` are in order of first appearance (edge lists: reading row by row, source before
  target; GML/GraphML: the file's node order). Self-loops are dropped and duplicate edges merged
  (weights summed; for undirected networks ``u v`` and ``v u`` are the same edge), both reported
  in ``notes``. Zero-weight edges are dropped with a note; negative weights are an error.
- ``labels``: a ``node,label`` file (``FILE:COLUMN`` picks a column by name), or for GML/GraphML
  the name of a node attribute; see :mod:`explorer.data.labels`.
- ``test_pairs``: a file of ``u v y`` rows, returned as node indices in ``NetworkData.test_pairs``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp

from explorer.data.labels import read_node_labels, read_test_pairs, split_spec
from explorer.data.pipeline import unique_names
from explorer.data.table import (
    PARSE_ERRORS,
    DataError,
    Source,
    check_number,
    check_ragged,
    check_width,
    is_number,
    read_frame,
    read_source,
    records,
    sniff_separator,
    split_line,
)
from explorer.data.types import NetworkData

COMMENT = "#%"
NODE_HEADERS = {
    "source",
    "target",
    "u",
    "v",
    "from",
    "to",
    "node1",
    "node2",
    "src",
    "dst",
    "i",
    "j",
    "head",
    "tail",
    "sender",
    "receiver",
    "node",
    "source_id",
    "target_id",
}
WEIGHT_HEADERS = ("weight", "w", "value", "weights")
_INTEGER = re.compile(r"[-+]?\d+")


def comment_char(src: Source) -> tuple[str | None, bool]:
    """The comment character pandas should skip, and whether both ``#`` and ``%`` occur
    (pandas takes only one; then the caller parses line by line)."""
    has = [c for c in COMMENT if c in src.comments]  # found by read_source's scan
    if len(has) == 2:
        return None, True
    return (has[0] if has else None), False


def record_line(src: Source, sep, k: int, *, header: bool) -> int:
    """File line number of data record ``k`` (0-based, after the header)."""
    for n, (line, _) in enumerate(records(src, sep, COMMENT)):
        if n == k + header:
            return line
    return 0


def read_columns(src: Source, sep, *, header: bool) -> tuple[pd.DataFrame, list[str]]:
    """All fields as stripped strings (NaN for empty cells) and the column names."""
    comment, both = comment_char(src)
    if both:
        recs = list(records(src, sep, COMMENT))
        n0 = len(recs[0][1])
        for line, fields in recs:
            check_width(src, line, fields, n0)
        rows = [[s.strip() for s in f] for _, f in recs]
        names = rows[0] if header else [f"c{k}" for k in range(n0)]
        df = pd.DataFrame(rows[1:] if header else rows, columns=range(n0)).replace("", np.nan)
        return df, names
    try:
        df = read_frame(src, sep, header=header, comment=comment, dtype=str, skipinitialspace=True)
    except PARSE_ERRORS as e:
        first = next(records(src, sep, COMMENT), None)
        if first is not None:
            check_ragged(src, sep, len(first[1]), COMMENT)
        raise DataError(f"cannot parse the file: {str(e).strip()}", path=src.path) from None
    names = (
        unique_names([str(c).strip() for c in df.columns])
        if header
        else [f"c{k}" for k in range(df.shape[1])]
    )
    df.columns = range(df.shape[1])
    if df.isna().any().any():
        # Short rows come back padded with NaN: name the first one (or the empty cell).
        check_ragged(src, sep, df.shape[1], COMMENT)
        k = int(np.flatnonzero(df.isna().any(axis=1).to_numpy())[0])
        col = int(np.flatnonzero(df.iloc[k].isna().to_numpy())[0])
        raise DataError(
            "empty cell",
            path=src.path,
            line=record_line(src, sep, k, header=header),
            column=names[col],
        )
    for c in df.columns:
        df[c] = df[c].str.strip()
    return df, names


def numeric_column(
    src: Source, sep, df: pd.DataFrame, col: int, names: list[str], *, header: bool, what: str
) -> np.ndarray:
    """Column ``col`` as finite float64, or a DataError naming the first bad cell's line."""
    vals = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(vals)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        line = record_line(src, sep, k, header=header)
        check_number(str(df[col].iloc[k]), src=src, line=line, column=names[col], what=what)
        raise DataError(f"bad {what}", path=src.path, line=line, column=names[col])
    return vals


class Rows(NamedTuple):
    """The rows of an edge list or a ``t i j [count]`` file, as :func:`read_rows` read them."""

    sep: object
    header: bool
    df: pd.DataFrame  # every field as a stripped string, columns 0, 1, ...
    names: list[str]  # the column names (``c0``, ``c1``, ... without a header)
    value_col: int | None  # the weight or count column, None when there is none


def read_rows(
    src: Source, notes: list[str], *, has_header, keys: int, what: str, too_few: str, value_headers
) -> Rows:
    """Rows of ``keys`` leading columns (``u v``, ``t i j``) and an optional value column: the one
    after the keys whose header is in ``value_headers``, else the first after the keys; any
    other column is ignored with a note. ``has_header(lines, sep)`` tells whether the first line
    is a header. Errors name the file (and the line): ``no {what}: the file holds only
    comments``, ``no {what} (only a header line)``, and ``too_few`` (``{found}``: the number of
    fields) when there are fewer than ``keys`` columns."""
    lines = src.head_lines(comment=COMMENT)
    if not lines:
        raise DataError(f"no {what}: the file holds only comments", path=src.path)
    sep = sniff_separator(lines)
    header = has_header(lines, sep)
    df, names = read_columns(src, sep, header=header)
    if len(df) == 0:
        raise DataError(f"no {what} (only a header line)", path=src.path)
    if df.shape[1] < keys:
        raise DataError(
            too_few.format(found=df.shape[1]),
            path=src.path,
            line=record_line(src, sep, 0, header=header),
        )
    vcol = None
    if header:
        vcol = next(
            (k for k, n in enumerate(names) if k >= keys and n.lower() in value_headers), None
        )
    if vcol is None and df.shape[1] > keys:
        vcol = keys
    extra = [names[k] for k in range(keys, df.shape[1]) if k != vcol]
    if extra:
        notes.append(f"column(s) {', '.join(extra)} ignored")
    return Rows(sep, header, df, names, vcol)


def value_column(src: Source, rows: Rows, *, what: str) -> np.ndarray:
    """The rows' weights or counts as finite non-negative float64 (ones without a value column),
    or a DataError naming the first bad cell's line."""
    sep, header, df, names, col = rows
    if col is None:
        return np.ones(len(df))
    vals = numeric_column(src, sep, df, col, names, header=header, what=what)
    if (vals < 0).any():
        k = int(np.flatnonzero(vals < 0)[0])
        raise DataError(
            f"negative {what} {df[col].iloc[k][:40]}",
            path=src.path,
            line=record_line(src, sep, k, header=header),
            column=names[col],
        )
    return vals


def node_pairs(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Node ids (str) in order of first appearance, row by row with ``u`` before ``v``, and each
    row's two node indices (int64)."""
    codes, uniques = pd.factorize(np.column_stack([u, v]).ravel())
    return (
        np.asarray(uniques, dtype=str),
        codes[0::2].astype(np.int64),
        codes[1::2].astype(np.int64),
    )


def edge_list_header(lines: list[str], sep) -> bool:
    first = [s.strip() for s in split_line(lines[0], sep)]
    low = [s.lower() for s in first]
    if len(low) >= 2 and low[0] in NODE_HEADERS and low[1] in NODE_HEADERS:
        return True
    if len(low) >= 3 and low[2] in WEIGHT_HEADERS:
        return True
    if len(first) >= 3 and len(lines) > 1 and not is_number(first[2]):
        second = split_line(lines[1], sep)
        if len(second) >= 3 and is_number(second[2]):
            return True
    return names_over_numbers(lines, sep)


def names_over_numbers(lines: list[str], sep, *, integers: bool = False) -> bool:
    """Whether the first line's two node fields are names while every other sampled line's are
    numbers (``integers``: whole numbers written without a point, as node ids are): a header,
    whatever it says (``sorce,target``), not an edge between nodes called ``sorce`` and
    ``target``."""
    if len(lines) < 2:
        return False
    first = [s.strip() for s in split_line(lines[0], sep)]
    if len(first) < 2 or is_number(first[0]) or is_number(first[1]):
        return False
    number = _INTEGER.fullmatch if integers else is_number
    for line in lines[1:]:
        fields = [s.strip() for s in split_line(line, sep)]
        if len(fields) < 2 or not (number(fields[0]) and number(fields[1])):
            return False
    return True


def near_node_header(name: str) -> bool:
    """A known node-column name, or one letter away from one of the long ones (``sorce``,
    ``taget``, ``souce``, ``recevier``): a header typo. Short names (head, tail, from, node) are
    too near ordinary words (heat, tall, form, note) to guess from."""
    low = name.strip().lower()
    if low in NODE_HEADERS:
        return True
    return len(low) >= 4 and any(len(h) >= 5 and _one_edit(low, h) for h in NODE_HEADERS)


def _one_edit(a: str, b: str) -> bool:
    """Whether ``a`` becomes ``b`` by one inserted, deleted or replaced character."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :] or (len(a) == len(b) and a[i + 1 :] == b[i + 1 :])


def _read_edge_list(src: Source, notes: list[str]):
    rows = read_rows(
        src,
        notes,
        has_header=edge_list_header,
        keys=2,
        what="edges",
        too_few="an edge list needs two node columns per row (u v or u v w), found one",
        value_headers=WEIGHT_HEADERS,
    )
    if rows.header and not all(n.lower() in NODE_HEADERS for n in rows.names[:2]):
        notes.append(
            f"the first line ({', '.join(rows.names[:2])}) is read as a header: its "
            "node fields are not numbers while the other rows' are"
        )
    w = value_column(src, rows, what="weight")
    return rows.df[0].to_numpy(dtype=str), rows.df[1].to_numpy(dtype=str), w, None


def _read_graph_file(src: Source, labels, notes: list[str]):
    import networkx as nx

    kind = "GML" if src.path.lower().endswith(".gml") else "GraphML"
    try:
        if kind == "GML":
            try:
                g = nx.read_gml(src.path, label="label")
            except nx.NetworkXError as e:
                if "label" not in str(e):
                    raise
                g = nx.read_gml(src.path, label="id")
        else:
            g = nx.read_graphml(src.path)
    except Exception as e:  # networkx raises many kinds (NetworkXError, ParseError, KeyError)
        raise DataError(f"cannot read the {kind} file: {e}", path=src.path) from None
    nodes = list(g.nodes())
    node_ids = np.array([str(n) for n in nodes], dtype=str)
    if len(set(node_ids)) != len(node_ids):
        raise DataError("two nodes have the same id once written as text", path=src.path)
    us, vs, ws = [], [], []
    for a, b, attrs in g.edges(data=True):
        w = attrs.get("weight", 1.0)
        try:
            w = float(w)
        except (TypeError, ValueError):
            raise DataError(
                f"edge {a!s} - {b!s}: non-numeric weight {w!r}", path=src.path
            ) from None
        if not np.isfinite(w) or w < 0:
            raise DataError(
                f"edge {a!s} - {b!s}: weight {w!r} is not a finite non-negative number",
                path=src.path,
            )
        us.append(str(a))
        vs.append(str(b))
        ws.append(w)
    node_labels = None
    if labels is not None:
        attr = str(labels)
        have = [attr in g.nodes[n] for n in nodes]
        if any(have):
            node_labels = np.array(
                [None if g.nodes[n].get(attr) is None else str(g.nodes[n][attr]) for n in nodes],
                dtype=object,
            )
            missing = len(nodes) - sum(have)
            if missing:
                notes.append(f"{missing} node(s) have no attribute {attr!r}")
        elif not Path(split_spec(attr)[0]).exists():
            keys = sorted({k for n in nodes for k in g.nodes[n]})
            raise DataError(
                f"no node has the attribute {attr!r}; node attributes: {', '.join(keys) or 'none'}",
                path=src.path,
            )
    return (
        np.array(us, dtype=str),
        np.array(vs, dtype=str),
        np.asarray(ws, dtype=np.float64),
        (node_ids, node_labels),
    )


def merge_edges(
    a: np.ndarray, b: np.ndarray, w: np.ndarray, n: int, directed: bool, notes: list[str]
):
    """Drop self-loops and zero weights, merge duplicates (weights summed): unique sorted edges."""
    loops = a == b
    if loops.any():
        notes.append(f"dropped {int(loops.sum())} self-loop(s)")
        a, b, w = a[~loops], b[~loops], w[~loops]
    zero = w == 0
    if zero.any():
        notes.append(f"dropped {int(zero.sum())} zero-weight edge(s)")
        a, b, w = a[~zero], b[~zero], w[~zero]
    if not directed:
        a, b = np.minimum(a, b), np.maximum(a, b)
    key = a.astype(np.int64) * n + b
    uniq, inv = np.unique(key, return_inverse=True)
    if len(uniq) < len(key):
        what = "" if directed else " (u v and v u count as the same edge)"
        notes.append(f"merged {len(key) - len(uniq)} duplicate edge(s){what}; weights summed")
    w = np.bincount(inv.ravel(), weights=w, minlength=len(uniq))
    edges = np.column_stack([uniq // n, uniq % n]).astype(np.int64)
    return edges, np.ascontiguousarray(w, dtype=np.float64)


def build_adjacency(edges: np.ndarray, w: np.ndarray, n: int, directed: bool) -> sp.csr_matrix:
    a = sp.csr_matrix((w, (edges[:, 0], edges[:, 1])), shape=(n, n))
    if not directed:
        a = (a + a.T).tocsr()
    a.sort_indices()
    return a


def load_network(path, *, directed: bool = False, labels=None, test_pairs=None) -> NetworkData:
    """Load a network from an edge list, GML or GraphML file (see the module docstring)."""
    src = read_source(path)
    notes: list[str] = []
    graph_file = src.path.lower().endswith((".gml", ".graphml"))
    if graph_file:
        u, v, w, (node_ids, node_labels) = _read_graph_file(src, labels, notes)
        index = {nid: k for k, nid in enumerate(node_ids)}
        a = np.fromiter((index[s] for s in u), dtype=np.int64, count=len(u))
        b = np.fromiter((index[s] for s in v), dtype=np.int64, count=len(v))
    else:
        u, v, w, _ = _read_edge_list(src, notes)
        node_labels = None
        node_ids, a, b = node_pairs(u, v)
    n = len(node_ids)
    edges, weights = merge_edges(a, b, w, n, directed, notes)
    if len(edges) == 0:
        raise DataError("no edges left after dropping self-loops", path=src.path)
    adjacency = build_adjacency(edges, weights, n, directed)

    label_name = None
    if node_labels is not None:
        label_name = str(labels)
    elif labels is not None:
        node_labels, label_name = read_node_labels(labels, node_ids, notes)
    pairs = None
    if test_pairs is not None:
        pairs = read_test_pairs(test_pairs, {nid: k for k, nid in enumerate(node_ids)})
    return NetworkData(
        node_ids=node_ids,
        adjacency=adjacency,
        edges=edges,
        weights=weights,
        directed=bool(directed),
        labels=node_labels,
        label_name=label_name,
        test_pairs=pairs,
        path=src.path,
        sha256=src.sha256,
        notes=notes,
    )
