"""The Dask-backed table: partitions read by the workers themselves and kept in worker memory.

A :class:`DistributedTable` is what ``runner.fit`` and a distributed model see instead of a
``TableData``: the client holds only futures of the partitions, their row counts and the column
names, never the rows. Each partition is a :class:`Part` (the rows as read, float32 or float64,
plus the global index of its first row) made by a task that reads a row range of one file, so when
a worker dies Dask re-runs that task on another worker and the partition is read again from its
source file (partitions made from an in-memory array with :func:`from_array` are scattered and
cannot be recomputed: use files when workers may fail).

Sources (``load``): a Parquet dataset folder (every ``*.parquet`` below it, sorted by path), a glob
of CSV/Parquet files (sorted), or a single file. The paths must be readable by the workers at the
same path (a shared or network file system, or the same machine). Features are the columns named
in ``columns``, else every numeric column of the first file except one named ``id`` (any case) and
the ``exclude`` columns; every file must have them. Empty cells, NaN and inf are errors naming the
file. ``partition_rows`` splits each file into partitions of at most that many rows (a partition
never spans two files); without it each file (each row group of a Parquet file) is one partition.
"""

from __future__ import annotations

import glob as globmod
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from explorer.data.types import DataError

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")


class Part:
    """One partition in a worker's memory: rows ``offset .. offset + len(X) - 1`` of the table.

    ``cache`` holds what a task derived from the rows under given parameters (k-means' labels
    under the current centres) so the next iteration need not recompute it. Every entry is keyed
    by the parameters it depends on and recomputed on a miss, so a partition read again after a
    worker failure (empty cache) or copied to another worker gives the same results. The cache is
    not pickled.
    """

    def __init__(self, X: np.ndarray, offset: int, index: int):
        self.X = X
        self.offset = int(offset)
        self.index = int(index)
        self.cache: dict = {}

    def __len__(self) -> int:
        return self.X.shape[0]

    def f64(self) -> np.ndarray:
        """The rows as C-contiguous float64 (the stored array itself when it already is)."""
        return np.ascontiguousarray(self.X, dtype=np.float64)

    def __getstate__(self):
        return {"X": self.X, "offset": self.offset, "index": self.index}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.cache = {}


@dataclass(frozen=True)
class PartSpec:
    """Where a partition's rows come from: rows [start, stop) of ``path`` (format ``fmt``)."""

    path: str
    fmt: str  # "parquet" or "csv"
    start: int
    stop: int
    columns: tuple[str, ...]


@dataclass
class DistributedTable:
    """A numeric table split into partitions held by Dask workers (``kind`` "table")."""

    kind = "table"
    client: object
    parts: list  # futures of Part, in row order
    lengths: list[int]
    columns: list[str]
    path: str | None = None
    specs: list[PartSpec] | None = None
    dtype: str = "float64"
    notes: list[str] = field(default_factory=list)
    labels = None  # no ground truth column on the distributed path
    sha256 = None
    standardized = False
    label_name = None

    @property
    def n_items(self) -> int:
        return int(sum(self.lengths))

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_items, len(self.columns))

    @property
    def offsets(self) -> list[int]:
        return [int(v) for v in np.concatenate([[0], np.cumsum(self.lengths)[:-1]])]

    def describe(self) -> str:
        return (
            f"{self.n_items} rows x {len(self.columns)} columns in {len(self.parts)} "
            f"partitions on a Dask cluster"
        )

    def sample(self, size: int, seed: int) -> np.ndarray:
        """A uniform sample of ``size`` rows without replacement (all rows, in order, when the
        table has at most ``size``), as float64 on the client, rows in increasing index order."""
        N = self.n_items
        if N <= size:
            rows = np.arange(N)
        else:
            rows = np.sort(np.random.default_rng(seed).choice(N, size=size, replace=False))
        futs = []
        for part, off, n in zip(self.parts, self.offsets, self.lengths):
            lo, hi = np.searchsorted(rows, [off, off + n])
            if hi > lo:
                futs.append(self.client.submit(_take_rows, part, rows[lo:hi] - off, pure=False))
        pieces = self.client.gather(futs)
        return np.concatenate(pieces, axis=0) if pieces else np.zeros((0, len(self.columns)))

    def release(self) -> None:
        """Drop the partitions from the workers' memory."""
        for f in self.parts:
            f.release()
        self.parts = []


def _take_rows(part: Part, rows: np.ndarray) -> np.ndarray:
    return np.array(part.X[rows], dtype=np.float64)


# ---- reading files (these functions run on the workers) ---------------------------------------


def _fmt_of(path: str) -> str:
    low = path.lower()
    if low.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if low.endswith(CSV_SUFFIXES):
        return "csv"
    raise DataError("not a CSV or Parquet file (by its name)", path=path)


def expand_source(source) -> list[str]:
    """The files a source names: a folder's ``*.parquet`` (recursively), a glob, or one file."""
    source = str(source)
    if os.path.isdir(source):
        files = sorted(
            str(p)
            for p in Path(source).rglob("*")
            if p.is_file() and p.name.lower().endswith(PARQUET_SUFFIXES)
        )
        if not files:
            raise DataError("the folder holds no Parquet files", path=source)
        return files
    if any(ch in source for ch in "*?["):
        files = sorted(globmod.glob(source, recursive=True))
        if not files:
            raise DataError("no file matches this pattern", path=source)
        return files
    return [source]


def _file_info(path: str, columns: tuple[str, ...] | None, exclude: tuple[str, ...]):
    """(feature columns, row counts of its pieces): a Parquet file's row groups, a CSV's rows."""
    fmt = _fmt_of(path)
    if not os.path.exists(path):
        raise DataError("file not found (by the worker that read it)", path=path)
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
        names = [
            f.name for f in schema if (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))
        ]
        groups = [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups)]
    else:
        import pandas as pd

        head = pd.read_csv(path, nrows=200, sep=None, engine="python")
        names = [c for c in head.columns if pd.api.types.is_numeric_dtype(head[c])]
        with open(path, "rb") as fh:
            n = sum(1 for line in fh if line.strip()) - 1
        groups = [n]
    chosen = (
        list(columns)
        if columns
        else [c for c in names if str(c).lower() != "id" and c not in exclude]
    )
    missing = [c for c in chosen if c not in names]
    if missing:
        raise DataError(
            f"no numeric column(s) {', '.join(map(str, missing))} "
            f"(numeric columns: {', '.join(map(str, names))})",
            path=path,
        )
    if not chosen:
        raise DataError("no numeric feature columns", path=path)
    return [str(c) for c in chosen], groups


def read_rows(spec: PartSpec) -> np.ndarray:
    """Rows [start, stop) of the spec's columns as a 2-D float array (float32 kept as float32)."""
    if spec.fmt == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(spec.path)
        md = pf.metadata
        first, groups, row = None, [], 0
        for g in range(md.num_row_groups):
            n = md.row_group(g).num_rows
            if row + n > spec.start and row < spec.stop:
                if first is None:
                    first = row
                groups.append(g)
            row += n
        table = pf.read_row_groups(groups, columns=list(spec.columns))
        table = table.slice(spec.start - (first or 0), spec.stop - spec.start)
        cols = [table.column(c).to_numpy() for c in spec.columns]
    else:
        import pandas as pd

        df = pd.read_csv(
            spec.path,
            sep=None,
            engine="python",
            usecols=list(spec.columns),
            skiprows=range(1, spec.start + 1),
            nrows=spec.stop - spec.start,
        )
        cols = [df[c].to_numpy() for c in spec.columns]
    dtype = np.float32 if all(c.dtype == np.float32 for c in cols) else np.float64
    X = np.empty((spec.stop - spec.start, len(cols)), dtype=dtype)
    for j, c in enumerate(cols):
        X[:, j] = c
    if not np.isfinite(X).all():
        i, j = np.argwhere(~np.isfinite(X))[0]
        raise DataError(
            f"row {spec.start + i + 1} of this file has {X[i, j]} (empty cells, NaN "
            "and inf are not allowed)",
            path=spec.path,
            column=spec.columns[j],
        )
    return X


@dataclass
class PartFailure:
    """What a partition whose file holds bad input is, instead of a Part: the DataError's fields.
    Returned, not raised, because a task that raises is logged by the worker with a traceback on
    its stderr (the terminal's, for a local cluster); :func:`load` raises the DataError here."""

    problem: str
    path: str | None
    line: int | None
    column: str | None

    def error(self) -> DataError:
        return DataError(self.problem, path=self.path, line=self.line, column=self.column)


def _load_part(spec: PartSpec, offset: int, index: int) -> Part | PartFailure:
    try:
        return Part(read_rows(spec), offset, index)
    except DataError as e:
        return PartFailure(e.problem, e.path, e.line, e.column)


def _make_part(X: np.ndarray, offset: int, index: int) -> Part:
    return Part(np.ascontiguousarray(X), offset, index)


def _wait(client, futures) -> None:
    """Wait for ``futures`` without fetching them; a failed partition raises its own error (a
    DataError naming its file)."""
    from distributed import wait

    wait(futures)
    for f in futures:
        if f.status == "error":
            f.result()


def load(
    client,
    source,
    *,
    partition_rows: int | None = None,
    columns=None,
    exclude: tuple[str, ...] = (),
) -> DistributedTable:
    """Read ``source`` into the workers' memory (persisted); returns the DistributedTable."""
    files = expand_source(source)
    if isinstance(columns, str):
        columns = tuple(c.strip() for c in columns.split(",") if c.strip())
    cols0, _ = client.submit(
        _file_info, files[0], tuple(columns) if columns else None, tuple(exclude), pure=False
    ).result()
    infos = client.gather(
        [client.submit(_file_info, f, tuple(cols0), (), pure=False) for f in files]
    )
    specs: list[PartSpec] = []
    for f, (_, groups) in zip(files, infos):
        fmt = _fmt_of(f)
        total = int(sum(groups))
        if partition_rows:
            bounds = list(range(0, total, int(partition_rows))) + [total]
        else:
            bounds = list(np.concatenate([[0], np.cumsum(groups)]).astype(int))
        for a, b in zip(bounds[:-1], bounds[1:]):
            if b > a:
                specs.append(PartSpec(f, fmt, int(a), int(b), tuple(cols0)))
    if not specs:
        raise DataError("no rows", path=str(source))
    lengths = [s.stop - s.start for s in specs]
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int)
    tag = uuid.uuid4().hex[:8]
    parts = [
        client.submit(_load_part, s, int(o), i, key=f"explorer-part-{tag}-{i}")
        for i, (s, o) in enumerate(zip(specs, offsets))
    ]
    _wait(client, parts)
    dtypes = client.gather([client.submit(_dtype, p, pure=False) for p in parts])
    for d in dtypes:
        if isinstance(d, PartFailure):
            client.cancel(parts)
            raise d.error()
    dtypes = set(dtypes)
    return DistributedTable(
        client=client,
        parts=parts,
        lengths=lengths,
        columns=cols0,
        path=str(source),
        specs=specs,
        dtype="float32" if dtypes == {"float32"} else "float64",
    )


def _dtype(part: Part | PartFailure) -> str | PartFailure:
    return part if isinstance(part, PartFailure) else str(part.X.dtype)


def from_array(
    client, X: np.ndarray, sizes=None, n_partitions: int | None = None, columns=None
) -> DistributedTable:
    """An in-memory array split into partitions of ``sizes`` rows (or ``n_partitions`` nearly
    equal ones) and scattered to the workers (for tests and small data: not recomputable)."""
    X = np.ascontiguousarray(X)
    N = X.shape[0]
    if sizes is None:
        n = n_partitions or 1
        bounds = [(i * N) // n for i in range(n + 1)]
        sizes = [b - a for a, b in zip(bounds[:-1], bounds[1:])]
    sizes = [int(s) for s in sizes]
    if sum(sizes) != N or min(sizes) < 1:
        raise ValueError(f"partition sizes {sizes} must be positive and add up to {N}")
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
    tag = uuid.uuid4().hex[:8]
    pieces = client.scatter([X[o : o + s] for o, s in zip(offsets, sizes)])
    parts = [
        client.submit(_make_part, p, int(o), i, key=f"explorer-part-{tag}-{i}")
        for i, (p, o) in enumerate(zip(pieces, offsets))
    ]
    _wait(client, parts)
    cols = list(columns) if columns is not None else [f"c{j}" for j in range(X.shape[1])]
    return DistributedTable(
        client=client, parts=parts, lengths=sizes, columns=cols, path="<array>", dtype=str(X.dtype)
    )
