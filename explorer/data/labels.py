"""Side files for networks: ground-truth node labels and held-out test pairs.

Node labels come from a ``node,label`` file. ``FILE:COLUMN`` picks the label column by its header
name (``nodes.csv:club``). Without a column, a first row whose node is unknown while the next row's
node is known is taken as a header, and the label column is :func:`label_file_columns`' preferred
one (fewer distinct values than nodes, text first: football's ``conference``, not its ``name``), the
rule the window's Node labels dialog follows too; without a header the second field is the label. Extra fields are
ignored (so ``node community [more communities]`` files work: the first community is the label);
likewise when every label is a space-separated list of integers (``5<TAB>3 7``: a node in
communities 3 and 7), the first integer (the primary community) is the label, with a note.
Nodes of the network missing from the file get ``None``; rows for nodes not in the network are
skipped with a note.

Test pairs are rows ``u v y`` (node ids as in the edge list, ``y`` 0 or 1), optionally after a
header row; ``#`` and ``%`` start comments.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from explorer.data.table import (
    DataError,
    is_number,
    open_source,
    read_source,
    records,
    sniff_separator,
)

COMMENT = "#%"
_INT_LIST = re.compile(r"^-?\d+(\s+-?\d+)*$")


def split_spec(spec) -> tuple[str, str | None]:
    """``"nodes.csv:club"`` -> ``("nodes.csv", "club")``; a plain existing path -> ``(path, None)``.

    A colon followed by a path separator (``C:\\data``) is part of the path.
    """
    s = str(spec)
    if Path(s).exists() or ":" not in s:
        return s, None
    head, _, col = s.rpartition(":")
    if not head or "/" in col or "\\" in col:
        return s, None
    return head, col.strip()


NAME_COLUMNS = ("name", "label", "title", "names")


def label_file_columns(spec, node_ids) -> tuple[list[str], dict[str, np.ndarray], str | None]:
    """The label columns of a node-label file with a header row: ``(columns, values, preferred)``.

    ``values[c]`` is aligned with ``node_ids`` (None where a node has no row). The preferred column
    has fewer distinct values than labelled nodes (a community, not a name), text columns first;
    else the first column. The one rule for the window's Node labels dialog and for the loader
    given a label file without a column (football's ``nodes.csv``: ``conference``, not ``name``).
    A file without a header (its first row names a node), an unreadable file or a GML attribute
    gives ``([], {}, None)``.
    """
    path, _col = split_spec(spec)
    if not Path(path).is_file():
        return [], {}, None
    try:
        src = open_source(path)
        rows = records(src, sniff_separator(src.head_lines(comment=COMMENT)), COMMENT)
        first = next(rows, None)
        index = {str(nid): k for k, nid in enumerate(node_ids)}
        if first is None or first[1][0].strip() in index:
            return [], {}, None  # no header: the loader takes the second field
        header = [h.strip() for h in first[1]]
        cols = {c: np.full(len(node_ids), None, dtype=object) for c in header[1:]}
        for _line, fields in rows:
            k = index.get(fields[0].strip())
            if k is None:
                continue
            for c, v in zip(header[1:], fields[1:]):
                cols[c][k] = v.strip() or None
    except (DataError, OSError, UnicodeDecodeError):
        return [], {}, None
    if not cols:
        return [], {}, None
    return list(cols), cols, preferred_label_column(cols)


def preferred_label_column(cols: dict[str, np.ndarray]) -> str:
    """Of a label file's columns (values per node, None where unknown): the first with more than
    one and fewer distinct values than labelled nodes, text columns before numeric ones (a
    ``conference`` before its ``conference_id``); else the first column."""

    def is_text(c):
        return any(not is_number(v) for v in cols[c] if v is not None)

    few = []
    for c, v in cols.items():
        known = [x for x in v if x is not None]
        if 1 < len(set(known)) < len(known):
            few.append(c)
    few.sort(key=lambda c: not is_text(c))  # stable: file order within text and numbers
    return few[0] if few else next(iter(cols))


def node_names(columns: dict[str, np.ndarray]) -> np.ndarray | None:
    """A name per node from a label file's columns: a column called name/label/title, else the
    first text column whose values are all distinct."""
    for c, v in columns.items():
        if c.lower() in NAME_COLUMNS:
            return v
    for v in columns.values():
        vals = [x for x in v if x is not None]
        if vals and len(set(vals)) == len(vals) and any(not is_number(x) for x in vals):
            return v
    return None


def _label_column_of(path, node_ids: np.ndarray, notes: list[str]) -> str | None:
    """Without a column named, the window's rule: :func:`label_file_columns`' preferred column
    when it is not the second field (said in a note); else None (the second field)."""
    names, _values, preferred = label_file_columns(path, node_ids)
    if preferred is not None and preferred != names[0]:
        notes.append(
            f"label column {preferred!r} of {Path(path).name} (fewer distinct "
            f"values than nodes: a community, not a name); pick another with "
            f"FILE:COLUMN"
        )
        return preferred
    return None


def _named_column(src, first, column: str) -> int:
    """The field of ``column`` in the header ``first`` = ``(line, fields)``; neither unknown
    nor the node column."""
    line0, f0 = first
    header = [s.strip() for s in f0]
    if column not in header:
        raise DataError(
            f"unknown column {column!r}; the file has: {', '.join(header)}",
            path=src.path,
            line=line0,
        )
    lab_col = header.index(column)
    if lab_col == 0:
        raise DataError(
            f"column {column!r} is the node column; pick a label column", path=src.path, line=line0
        )
    return lab_col


def _header_or_rows(rows, first, index: dict) -> tuple[str, list]:
    """Without a column named: the label's name (the header's second field, else "label") and
    the records read ahead that are data. The first record is a header when its node is not a
    node of the network and the second record's is."""
    _, f0 = first
    second = next(rows, None)
    pending = [] if second is None else [second]
    if f0[0].strip() not in index and second is not None and second[1][0].strip() in index:
        header = [s.strip() for s in f0]
        return (header[1] if len(header) > 1 and header[1] else "label"), pending
    return "label", [first] + pending


class _NodeLabels:
    """Labels aligned with the network's nodes, filled a record at a time."""

    def __init__(self, src, node_ids: np.ndarray, lab_col: int):
        self.src, self.lab_col = src, lab_col
        self.index = {nid: k for k, nid in enumerate(node_ids)}
        self.labels = np.full(len(node_ids), None, dtype=object)
        self.seen: dict[str, int] = {}  # node -> the line that labelled it
        self.unknown = 0  # records naming nodes not in the network

    def take(self, line: int, fields: list[str]) -> None:
        """One record ``node label``; a node labelled twice differently is an error."""
        if len(fields) <= self.lab_col:
            raise DataError(
                f"expected at least {self.lab_col + 1} fields (node and label), "
                f"found {len(fields)}",
                path=self.src.path,
                line=line,
            )
        node = fields[0].strip()
        lab = fields[self.lab_col].strip() or None
        k = self.index.get(node)
        if k is None:
            self.unknown += 1
            return
        if node in self.seen and self.labels[k] != lab:
            raise DataError(
                f"node {node!r} has two labels ({self.labels[k]!r} on line "
                f"{self.seen[node]}, {lab!r} here)",
                path=self.src.path,
                line=line,
            )
        self.seen.setdefault(node, line)
        self.labels[k] = lab

    def primary_communities(self, notes: list[str]) -> None:
        """Nodes listing several communities (``"3 7"``, all labels lists of integers) keep the
        first, with a note."""
        known = [lab for lab in self.labels if lab is not None]
        multi = [lab for lab in known if " " in lab]
        if not (multi and all(_INT_LIST.match(lab) for lab in known)):
            return
        notes.append(
            f"{len(multi)} node(s) list several communities; the first (primary) one "
            "is taken as the label"
        )
        for k, lab in enumerate(self.labels):
            if lab is not None:
                self.labels[k] = lab.split()[0]

    def check(self, notes: list[str]) -> None:
        """Some node labelled; notes for skipped records and unlabelled nodes."""
        name = Path(self.src.path).name
        if not self.seen:
            raise DataError(
                "no node of the network appears in the label file (node ids must "
                "match the first column)",
                path=self.src.path,
            )
        if self.unknown:
            notes.append(f"{self.unknown} row(s) of {name} name nodes not in the network; skipped")
        missing = len(self.labels) - len(self.seen)
        if missing:
            notes.append(f"{missing} node(s) have no label in {name}")


def read_node_labels(spec, node_ids: np.ndarray, notes: list[str]) -> tuple[np.ndarray, str]:
    """Labels aligned with ``node_ids`` (object array of str, ``None`` where unknown), and a name.

    Without a column, a file with a header takes :func:`label_file_columns`' preferred column
    (the window's rule), said in a note when it is not the second field."""
    path, column = split_spec(spec)
    if column is None:
        column = _label_column_of(path, node_ids, notes)
    src = read_source(path)
    sep = sniff_separator(src.head_lines(comment=COMMENT))
    rows = records(src, sep, COMMENT)
    first = next(rows, None)
    if first is None:
        raise DataError("the file is empty", path=src.path)
    if column is not None:
        table = _NodeLabels(src, node_ids, _named_column(src, first, column))
        name, pending = column, []
    else:
        table = _NodeLabels(src, node_ids, 1)
        name, pending = _header_or_rows(rows, first, table.index)
    for line, fields in pending:
        table.take(line, fields)
    for line, fields in rows:
        table.take(line, fields)
    table.primary_communities(notes)
    table.check(notes)
    return table.labels, name


def read_test_pairs(path, index: dict[str, int]) -> np.ndarray:
    """Rows ``u v y`` as an (P, 3) int64 array of node indices and 0/1 targets."""
    src = read_source(path)
    sep = sniff_separator(src.head_lines(comment=COMMENT))
    out = []
    for n, (line, fields) in enumerate(records(src, sep, COMMENT)):
        if len(fields) < 3:
            raise DataError(
                f"expected 3 fields (u v y), found {len(fields)}", path=src.path, line=line
            )
        u, v, y = (s.strip() for s in fields[:3])
        if n == 0 and not is_number(y):
            continue  # a header row
        for node in (u, v):
            if node not in index:
                raise DataError(
                    f"unknown node id {node!r} (not in the network)", path=src.path, line=line
                )
        if y not in ("0", "1"):
            if not is_number(y) or float(y) not in (0.0, 1.0):
                raise DataError(f"y must be 0 or 1, found {y!r}", path=src.path, line=line)
        out.append((index[u], index[v], int(float(y))))
    if not out:
        raise DataError("no test pairs in the file", path=src.path)
    return np.asarray(out, dtype=np.int64).reshape(-1, 3)
