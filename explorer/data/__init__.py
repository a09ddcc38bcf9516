"""Loaders for tables, networks and temporal networks, with clear errors; synthetic generators.

``load(path, kind=None, **options)`` picks the loader by ``kind`` ("table", "network",
"temporal") or, when ``kind`` is None, by ``guess_kind(path)``:

- ``.gml`` / ``.graphml`` files are networks;
- a first line ``t,i,j[,count]`` (any delimiter; ``time``/``timestamp`` for ``t``) is temporal;
- a first line naming two node columns (``source,target``, ``u,v``, ``from,to``, ``node1,node2``,
  ``src,dst``, ``i,j``) is a network; so is a first line of two or three names, one of them a
  node-column name or one letter off a long one (``sorce,target``), over rows whose first two
  fields are whole numbers; so are ``.edges`` / ``.edgelist`` files;
- ``.parquet``/``.pq``, ``.feather``/``.arrow``/``.ipc`` and ``.npy`` files are tables, read by
  :func:`explorer.data.columnar.load_columnar` (batch by batch into one column-major matrix,
  float32 kept);
- anything else is a table.

Tables take ``dtype`` ("float32" or "float64"): columnar files keep float32 when every feature
column is float32 unless ``dtype="float64"``; a CSV/TSV is parsed as float64 and, with
``dtype="float32"``, converted (one transient float64 copy: for big tables use Parquet).
"""

from pathlib import Path

import numpy as np

from explorer.data.columnar import format_of, load_columnar
from explorer.data.network import load_network, names_over_numbers, near_node_header
from explorer.data.synthetic import gaussian_blobs, planted_partition, write_edge_list
from explorer.data.table import is_number, load_table, open_source, sniff_separator, split_line
from explorer.data.temporal import TIME_HEADERS, load_temporal
from explorer.data.types import DataError, NetworkData, TableData, TemporalNetworkData

_NETWORK_HEADERS = {
    ("source", "target"),
    ("u", "v"),
    ("from", "to"),
    ("node1", "node2"),
    ("src", "dst"),
    ("i", "j"),
    ("head", "tail"),
    ("sender", "receiver"),
}

# The loader options each kind of data takes (the CLI and the window offer exactly these).
LOAD_OPTIONS = {
    "table": ("columns", "standardize", "labels", "missing", "dtype"),
    "network": ("directed", "labels", "test_pairs"),
    "temporal": ("directed", "bin_width", "labels"),
}


def guess_kind(path) -> str:
    """ "table", "network" or "temporal", from the extension and the first line (see module doc)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".gml", ".graphml"):
        return "network"
    if format_of(path):
        return "table"
    lines = open_source(path).head_lines(comment="#%")  # the first lines only, no hash
    if not lines:
        return "table"
    sep = sniff_separator(lines[:20])
    first = [s.strip().lower() for s in split_line(lines[0], sep)]
    if len(first) >= 3 and first[0] in TIME_HEADERS and tuple(first[1:3]) in _NETWORK_HEADERS:
        return "temporal"
    if len(first) >= 2 and tuple(first[:2]) in _NETWORK_HEADERS:
        return "network"
    # A misspelt edge-list header (``sorce,target``): two or three columns, a known node-column
    # name one letter off, names over rows of whole numbers (node ids).
    if (
        2 <= len(first) <= 3
        and any(near_node_header(c) for c in first[:2])
        and names_over_numbers(lines[:20], sep, integers=True)
    ):
        return "network"
    if suffix in (".edges", ".edgelist"):
        return "network"
    return "table"


_KIND_NAMES = {
    "table": "a table",
    "network": "an edge list (network)",
    "temporal": "a temporal edge list (t, i, j[, count])",
}


def kind_conflict(path, kind: str) -> str | None:
    """Why reading ``path`` as ``kind`` looks like a mistake, or None when nothing says so.

    Front ends call this when the kind comes from the chosen model rather than from the user: a
    file with a recognised network or temporal header read as another kind, or a table (a header
    of names over rows of numbers) read as an edge list, is refused with a hint to force the kind.
    A headerless file stays acceptable as any kind (numbers or names in pairs may be an edge
    list); so does an edge list whose header names are not recognised, once the kind is forced.
    """
    guessed = guess_kind(path)
    if guessed == kind:
        return None
    if format_of(path):
        return f"this is a {format_of(path)} file, which holds a table, not {_KIND_NAMES[kind]}"
    hint = (
        f"to read it as {_KIND_NAMES[kind]} anyway, pass --kind {kind} (or pick it under "
        "'Open as' in the window)"
    )
    if guessed != "table":
        return f"this looks like {_KIND_NAMES[guessed]}, not {_KIND_NAMES[kind]}; {hint}"
    lines = open_source(path).head_lines(comment="#%")
    if len(lines) < 2:
        return None
    sep = sniff_separator(lines[:20])
    first = [t.strip() for t in split_line(lines[0], sep)]
    second = [t.strip() for t in split_line(lines[1], sep)]
    # A header: a name standing over a number in the next row.
    if kind != "table" and any(not is_number(a) and is_number(b) for a, b in zip(first, second)):
        shown = ", ".join(first[:6]) + (", ..." if len(first) > 6 else "")
        return f"this looks like a table (columns {shown}), not {_KIND_NAMES[kind]}; {hint}"
    return None


def kind_for_model(path, data_kinds, *, model_id: str = "", kind: str | None = None) -> str:
    """The kind to read ``path`` as for a model taking ``data_kinds``: the one check shared by the
    CLI, the Python API and the window, so a table is never fitted as a network by accident.

    ``kind`` (forced by the user: ``--kind``, "Open as") wins when the model takes it. Otherwise a
    model taking one kind reads the file as that kind unless :func:`kind_conflict` says the file
    clearly is another kind; a model taking several kinds reads it as the guessed kind, which must
    be one of them. Raises DataError (with a hint to force the kind) when the kinds do not match.
    """
    kinds = tuple(data_kinds)
    who = f"model '{model_id}'" if model_id else "the model"
    takes = " or ".join(kinds)
    if kind is not None:
        if kind not in _KIND_NAMES:
            raise DataError(
                f"unknown data kind {kind!r} (expected table, network or temporal)", path=path
            )
        if kind not in kinds:
            raise DataError(f"{who} takes {takes} data, not {kind} data", path=path)
        return kind
    if len(kinds) == 1:
        problem = kind_conflict(path, kinds[0])
        if problem:
            raise DataError(f"{who} takes {kinds[0]} data, but {problem}", path=path)
        return kinds[0]
    guessed = guess_kind(path)
    if guessed not in kinds:
        raise DataError(
            f"{who} takes {takes} data, but this looks like "
            f"{_KIND_NAMES[guessed]}; to read it as {kinds[0]} data anyway, pass "
            f"--kind {kinds[0]} (or pick it under 'Open as' in the window)",
            path=path,
        )
    return guessed


def load(path, kind: str | None = None, **options):
    """Load ``path`` with the loader for ``kind`` (guessed when None); options go to the loader."""
    kind = guess_kind(path) if kind is None else kind
    if kind == "table":
        if format_of(path):
            return load_columnar(path, **options)
        dtype = options.pop("dtype", None)
        if dtype not in (None, "float32", "float64"):
            raise DataError(f"unknown dtype {dtype!r} (expected float32 or float64)", path=path)
        data = load_table(path, **options)
        if dtype == "float32":
            data.X = data.X.astype(np.float32)
            data.notes.append("features converted to float32 (--dtype float32)")
        return data
    if kind == "network":
        return load_network(path, **options)
    if kind == "temporal":
        return load_temporal(path, **options)
    raise DataError(f"unknown data kind {kind!r} (expected table, network or temporal)", path=path)


__all__ = [
    "LOAD_OPTIONS",
    "DataError",
    "load_columnar",
    "NetworkData",
    "TableData",
    "TemporalNetworkData",
    "gaussian_blobs",
    "guess_kind",
    "kind_conflict",
    "kind_for_model",
    "load",
    "load_network",
    "load_table",
    "load_temporal",
    "planted_partition",
    "write_edge_list",
]
