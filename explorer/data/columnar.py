"""Big tables from columnar and binary files: Parquet, Feather (Arrow IPC) and NumPy ``.npy``.

``load_columnar(path, columns=, labels=, standardize=, dtype=)`` gives the same :class:`TableData`
and follows the same rules and messages as the CSV loader (:func:`explorer.data.table.load_table`):
features are the numeric columns (or those picked in ``columns``, each once), a column named ``id``
(any case) gives the row ids, ``labels`` names a ground-truth column, a non-numeric column is
excluded with a note (an error when picked), missing values, NaN and inf are errors naming the
column and the row, values beyond 1e150 are refused unless ``standardize``, a name repeated in the
file gets ``a.1`` with a note. A missing value is a null (Parquet/Feather; pandas writes NaN as
null): with ``missing="error"`` (default) a :class:`MissingValuesError` names the first and counts
the rows, with ``missing="drop"`` those rows are dropped with a note (row ids keep the file's
numbering; the matrix is then copied once to its final size). A NaN stored as a value is an error,
as in a CSV.

What differs, for size:

- **No second full copy.** The feature matrix is allocated once, column-major (Fortran order: each
  column contiguous, as the file stores it) and filled batch by batch (a Parquet row group, an Arrow
  record batch, a slice of a memory-mapped ``.npy``); the checks run per batch. Peak memory is the
  matrix plus one batch. Column-major is also what the K-means and Gaussian-mixture kernels read
  (the transpose of a column-major matrix is a free row-major view), so they need no copy either.
- **float32 is kept.** When every feature column is float32 (or float16) the matrix is float32;
  ``dtype="float32"`` asks for float32 whatever the file holds, ``dtype="float64"`` for float64.
  K-means and the Gaussian mixture take float32 as it is and accumulate in float64; the other
  models convert to float64 when they start.
- ``.npy``: a 2-D (or 1-D: one column) numeric array, read in blocks of rows; columns are named
  ``c0, c1, ...``; there is no id or label column (``labels`` is refused with a hint). Object arrays
  are refused (they would need pickle).
- ``data.sha256`` is the file's hash, computed on a second thread while the batches are decoded.
- Progress is reported as a :class:`explorer.progress.Task` (rows read).

pyarrow is a core dependency (see the README, "Data"): the loader imports it only when a Parquet or
Feather file is opened.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import math
import os
import threading
from pathlib import Path

import numpy as np

from explorer.data.table import (
    MAX_MAGNITUDE,
    MISSING_CHOICES,
    MissingValuesError,
    binary_format,
    flag_columns,
    named_twice,
    parse_names,
    regular_file,
    repeats,
    unique_names,
)
from explorer.data.types import DataError, TableData

SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".feather": "feather", ".arrow": "feather",
            ".ipc": "feather", ".npy": "npy"}
DTYPES = ("float32", "float64")
_NPY_BATCH_ROWS = 1 << 18


class RowNumbers:
    """The row ids ``"0" .. "N-1"`` without storing them: as a numpy string array 20 M ids take
    640 MB, more than the table's float32 features. Indexing gives a str (an integer) or a numpy
    str array (a slice, an index array); ``np.asarray`` materialises all of them."""

    lazy_row_numbers = True

    def __init__(self, n: int):
        self.n = int(n)

    def __len__(self) -> int:
        return self.n

    @property
    def shape(self) -> tuple[int]:
        return (self.n,)

    def __getitem__(self, i):
        if isinstance(i, (int, np.integer)):
            k = int(i) + (self.n if i < 0 else 0)
            if not 0 <= k < self.n:
                raise IndexError(f"row {i} out of range for {self.n} rows")
            return str(k)
        if isinstance(i, slice):
            r = range(self.n)[i]
            return np.arange(r.start, r.stop, r.step).astype(str)
        idx = np.asarray(i)
        if idx.dtype == bool:
            return np.flatnonzero(idx).astype(str)
        return (np.arange(self.n)[idx]).astype(str) if idx.size > self.n // 4 else \
            np.where(idx < 0, idx + self.n, idx).astype(str)

    def __iter__(self):
        return (str(k) for k in range(self.n))

    def __array__(self, dtype=None, copy=None):
        a = np.arange(self.n).astype(str)
        return a if dtype is None else a.astype(dtype)

    def astype(self, dtype):
        return np.asarray(self).astype(dtype)

    def tolist(self) -> list[str]:
        return [str(k) for k in range(self.n)]


def format_of(path) -> str | None:
    """"parquet", "feather" or "npy" from the file name, else None (a text file)."""
    return SUFFIXES.get(Path(path).suffix.lower())


def _hash(path: str, stop=None) -> str | None:
    """The file's sha256, read in 1 MiB blocks; None when ``stop`` (an Event) is set first (the
    load failed: nobody waits for the hash of a 5 GB file that was refused)."""
    h = hashlib.sha256()
    buf = bytearray(1 << 20)          # one reused buffer: no copy of the file in memory
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            if stop is not None and stop.is_set():
                return None
            h.update(view[:n])
    return h.hexdigest()


# The first bytes of each format (Parquet also ends with its magic; Feather V1 starts "FEA1").
_MAGIC = {"parquet": (b"PAR1",), "feather": (b"ARROW1", b"FEA1"), "npy": (b"\x93NUMPY",)}
_AS = {"parquet": "Parquet", "feather": "Feather (Arrow IPC)", "npy": "a NumPy .npy array"}
_FORMAT_NAMES = {"parquet": "a Parquet file", "feather": "a Feather (Arrow IPC) file",
                 "npy": "a NumPy .npy array"}


def _check_path(path, fmt: str) -> int:
    """The file's size, after checking it is a regular file of ``fmt`` by its first bytes: a
    wrong or zeroed file is refused at once, before anything reads (or hashes) the rest."""
    size = regular_file(path)
    if size == 0:
        raise DataError("the file is empty", path=path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
            tail = b""
            if fmt == "parquet" and size >= 8:
                fh.seek(size - 4)
                tail = fh.read(4)
    except OSError as e:
        raise DataError(f"cannot read the file ({e.strerror})", path=path) from None
    want = _FORMAT_NAMES[fmt]
    if not head.startswith(_MAGIC[fmt]):
        other = binary_format(head)
        if other and not other.startswith(want):
            what = f"this is {other.split(' (')[0]}, not {want}"
        elif not head.strip(b"\x00"):
            what = f"cannot read the file as {_AS[fmt]}: it starts with NUL bytes (zeroed or never written)"
        elif head.isascii():
            what = f"cannot read the file as {_AS[fmt]}: it starts with text ({head[:8].decode()!r}...)"
        else:
            what = f"cannot read the file as {_AS[fmt]}: its first bytes are not the format's magic number"
        raise DataError(what, path=path)
    if fmt == "parquet" and tail != b"PAR1":
        raise DataError("cannot read the file as Parquet: it does not end with the format's "
                        "magic number (not a complete Parquet file: truncated, or still being "
                        "written?)", path=path)
    return size


class _Batches:
    """A columnar file's schema and its batches of rows, whatever the format."""

    def __init__(self, path: str, fmt: str):
        self.path = path
        self.fmt = fmt
        if fmt == "npy":
            self._npy_header(path)
            return
        import pyarrow as pa

        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                # not memory-mapped: the mapped file's pages would count in the process's
                # resident set as they are read (RSS = matrix + file); a row group at a time
                self.file = pq.ParquetFile(path, memory_map=False)
                schema = self.file.schema_arrow
                self.n_rows = self.file.metadata.num_rows
            else:
                import pyarrow.ipc as ipc

                self.file = ipc.open_file(pa.OSFile(path, "r"))   # one batch read at a time
                schema = self.file.schema
                self.n_rows = sum(self.file.get_batch(i).num_rows
                                  for i in range(self.file.num_record_batches))
        except (pa.ArrowException, OSError, ValueError) as e:
            what = "Parquet" if fmt == "parquet" else "Feather (Arrow IPC)"
            raise DataError(f"cannot read the file as {what} ({e})", path=path) from None
        self.schema = schema
        self.names = [str(f.name) for f in schema]
        types = [f.type for f in schema]
        self.numeric = [pa.types.is_integer(t) or pa.types.is_floating(t)
                        or pa.types.is_boolean(t) or pa.types.is_decimal(t) for t in types]
        self.float32 = [pa.types.is_float32(t) or pa.types.is_float16(t) for t in types]

    def _npy_header(self, path: str) -> None:
        """Shape, type and layout from the .npy header; the data is read later in blocks with
        ordinary reads (a memory map's pages would count in the resident set)."""
        fmt = np.lib.format
        try:
            with open(path, "rb") as fh:
                version = fmt.read_magic(fh)
                if version == (1, 0):
                    shape, fortran, dtype = fmt.read_array_header_1_0(fh)
                else:
                    shape, fortran, dtype = fmt.read_array_header_2_0(fh)
                self.offset = fh.tell()
        except (ValueError, OSError, EOFError) as e:
            raise DataError(f"cannot read the file as a NumPy .npy array ({e})",
                            path=path) from None
        if dtype.hasobject:
            raise DataError("cannot read the file as a NumPy .npy array (it holds Python "
                            "objects, which would need pickle)", path=path)
        if dtype.kind not in "biuf":
            raise DataError(f"the .npy array holds {dtype} values, not numbers", path=path)
        if len(shape) == 1:
            shape = (shape[0], 1)
        if len(shape) != 2:
            raise DataError(f"the .npy array has {len(shape)} dimensions; a table is 2-D "
                            "(rows x columns)", path=path)
        n_bytes = math.prod(shape) * dtype.itemsize
        size = os.stat(path).st_size
        if self.offset + n_bytes > size:
            raise DataError(f"the file is shorter than its header says: shape "
                            f"{tuple(int(k) for k in shape)} of {dtype} is {n_bytes:,} bytes of "
                            f"data, the file holds {size - self.offset:,} after its header",
                            path=path)
        self.shape, self.fortran, self.dtype = shape, fortran, dtype
        self.names = [f"c{j}" for j in range(shape[1])]
        self.n_rows = shape[0]
        self.numeric = [True] * shape[1]
        self.float32 = [dtype in (np.float32, np.float16)] * shape[1]

    def _npy_batches(self, columns: list[int]):
        n, D = self.shape
        item = self.dtype.itemsize
        with open(self.path, "rb") as fh:
            for a in range(0, n, _NPY_BATCH_ROWS):
                m = min(n, a + _NPY_BATCH_ROWS) - a
                if not self.fortran:            # rows one after the other: read the block
                    fh.seek(self.offset + a * D * item)
                    block = np.fromfile(fh, dtype=self.dtype, count=m * D)
                    if len(block) < m * D:
                        raise DataError("the .npy file is shorter than its header says",
                                        path=self.path)
                    block = block.reshape(m, D)
                    yield a, {j: block[:, j] for j in columns}
                else:                           # column-major: each column's slice
                    cols = {}
                    for j in columns:
                        fh.seek(self.offset + (j * n + a) * item)
                        cols[j] = np.fromfile(fh, dtype=self.dtype, count=m)
                        if len(cols[j]) < m:
                            raise DataError("the .npy file is shorter than its header says",
                                            path=self.path)
                    yield a, cols

    def batches(self, columns: list[int]):
        """(first row, {column index: numpy array or arrow array}) for consecutive row batches."""
        if self.fmt == "npy":
            yield from self._npy_batches(columns)
            return
        if self.fmt == "parquet":
            row = 0
            unique = len(set(self.names)) == len(self.names)
            for g in range(self.file.num_row_groups):
                if unique:      # only the columns needed, found by name
                    t = self.file.read_row_group(g, columns=[self.names[j] for j in columns])
                    cols = {j: t.column(self.names[j]) for j in columns}
                else:           # repeated names: the whole row group, by position
                    t = self.file.read_row_group(g)
                    cols = {j: t.column(j) for j in columns}
                yield row, cols
                row += t.num_rows
            return
        row = 0
        for i in range(self.file.num_record_batches):
            b = self.file.get_batch(i)
            yield row, {j: b.column(j) for j in columns}
            row += b.num_rows


def _to_numpy(col) -> tuple[np.ndarray, np.ndarray | None]:
    """An arrow (chunked) array or numpy slice as numpy values and the mask of missing values."""
    if isinstance(col, np.ndarray):
        return col, None
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    missing = None
    if col.null_count:
        missing = col.is_null().to_numpy(zero_copy_only=False)
        col = pc.fill_null(col, 0)
    if pa.types.is_decimal(col.type) or pa.types.is_boolean(col.type):
        col = col.cast(pa.float64())
    return col.to_numpy(zero_copy_only=False), missing


def _text_column(col, n: int) -> np.ndarray:
    """Any column as stripped strings (object array), None where missing."""
    if isinstance(col, np.ndarray):
        return np.array([str(v) for v in col.tolist()], dtype=object)
    import pyarrow as pa

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    vals = col.to_pylist()
    return np.array([None if v is None else str(v).strip() for v in vals], dtype=object)


def _standardize_columns(X: np.ndarray, columns: list[str], notes: list[str]):
    """Each column to zero mean and unit variance in place, one column at a time (float64 sums,
    no full-size temporary); a constant column is left unscaled with a note."""
    D = X.shape[1]
    offset = np.zeros(D)
    scale = np.ones(D)
    flat = []
    for j in range(D):
        col = X[:, j]
        m = float(np.abs(col).max())
        s = m if m > 1e100 else 1.0          # as the CSV loader: divide large columns first
        mean = float(np.mean(col, dtype=np.float64) / s) * s if s == 1.0 else \
            float(np.mean(col / s, dtype=np.float64)) * s
        var = float(np.mean((col / s - mean / s) ** 2, dtype=np.float64)) * s * s
        std = var ** 0.5
        offset[j] = mean
        if std == 0:
            flat.append(columns[j])
        else:
            scale[j] = std
        col -= np.asarray(mean, dtype=X.dtype)
        col /= np.asarray(scale[j], dtype=X.dtype)
    if flat:
        notes.append("constant column(s) " + ", ".join(repr(c) for c in flat)
                     + " left unscaled (zero variance)")
    return offset, scale


def load_columnar(path, *, columns=None, labels=None, standardize: bool = False,
                  dtype: str | None = None, missing: str = "error",
                  progress=None) -> TableData:
    """Load a Parquet, Feather or ``.npy`` table (see the module docstring)."""
    from explorer.progress import Task

    fmt = format_of(path)
    if fmt is None:
        raise DataError("not a Parquet, Feather or .npy file", path=path)
    if dtype is not None and dtype not in DTYPES:
        raise DataError(f"unknown dtype {dtype!r} (expected float32 or float64)", path=path)
    if missing not in MISSING_CHOICES:
        raise DataError(f"missing = {missing!r}: expected one of {', '.join(MISSING_CHOICES)}",
                        path=path)
    _check_path(path, fmt)
    path = str(path)
    src = _Batches(path, fmt)       # the header or schema, checked before the hash starts
    pool = concurrent.futures.ThreadPoolExecutor(1)
    stop = threading.Event()
    sha = pool.submit(_hash, path, stop)
    try:
        return _load(path, fmt, src, columns, labels, standardize, dtype, missing, progress,
                     sha, Task)
    except BaseException:
        stop.set()              # a refused file: do not wait for its hash
        raise
    finally:
        pool.shutdown(wait=True)


def _load(path, fmt, src, columns, labels, standardize, dtype, missing, progress, sha,
          Task) -> TableData:
    notes: list[str] = []
    wanted = parse_names(columns)
    wanted_set = set(wanted)
    twice = named_twice(wanted)
    if twice:
        raise DataError(f"column(s) {', '.join(repr(c) for c in twice)} named twice in the "
                        "feature columns; name each once", path=path)
    label_name = None if labels is None else str(labels).strip()
    if fmt == "npy" and label_name:
        raise DataError("a .npy array has no named columns, so no label column; save the table "
                        "with its label column as Parquet or CSV", path=path)
    raw = src.names
    names = unique_names(raw)
    dup = repeats(raw)
    if dup:
        asked = [c for c in dict.fromkeys(dup) if c in wanted_set or c == label_name]
        if asked:
            raise DataError(f"the file names column {asked[0]!r} more than once: which one is "
                            "meant? rename the columns", path=path)
        renamed = ", ".join(n for n, c in zip(names, raw) if n != c)
        notes.append(f"the file repeats {', '.join(repr(c) for c in dict.fromkeys(dup))}; the "
                     f"repeats are called {renamed}")
    if src.n_rows == 0:
        raise DataError("no data rows", path=path)
    position = {c: j for j, c in enumerate(names)}       # names are unique
    unknown = [c for c in wanted if c not in position]
    if unknown:
        raise DataError(f"unknown feature column(s) {', '.join(repr(c) for c in unknown)}; the "
                        f"file has: {', '.join(names)}", path=path)
    if label_name and label_name not in names:
        raise DataError(f"unknown label column {label_name!r}; the file has: {', '.join(names)}",
                        path=path)
    if label_name and label_name in wanted_set:
        raise DataError(f"column {label_name!r} is both the label column and a feature",
                        path=path)
    id_name = next((c for c in names if c.lower() == "id" and c != label_name
                    and c not in wanted_set), None) if fmt != "npy" else None
    feats = list(wanted) if wanted else [c for c in names if c not in (label_name, id_name)]
    numeric = []
    # non-numeric columns: ground-truth candidates the window offers (as the CSV loader's)
    text_columns = [c for j, c in enumerate(names) if not src.numeric[j] and c != id_name]
    for c in feats:
        if src.numeric[position[c]]:
            numeric.append(c)
        elif wanted:
            raise DataError("column is not numeric", path=path, column=c)
        else:
            notes.append(f"column {c!r} is not numeric; excluded from the features")
    if not numeric:
        raise DataError("no numeric columns" + (f" ({'; '.join(notes)})" if notes else ""),
                        path=path)
    idx = [position[c] for c in numeric]
    if dtype is None:
        dtype = "float32" if all(src.float32[j] for j in idx) else "float64"
    try:
        X = np.empty((src.n_rows, len(idx)), dtype=np.dtype(dtype), order="F")
    except MemoryError:
        need = src.n_rows * len(idx) * np.dtype(dtype).itemsize
        raise DataError(f"not enough memory for the table: {src.n_rows:,} rows x {len(idx):,} "
                        f"columns of {dtype} need {need / 1e9:.2f} GB"
                        + (" (--dtype float32 halves it)" if dtype == "float64" else ""),
                        path=path) from None
    extra = [position[c] for c in (id_name, label_name) if c]
    id_parts: list[np.ndarray] = []
    label_parts: list[np.ndarray] = []
    kept_parts: list = []                   # with missing="drop": which file rows were kept
    w = 0                                   # rows written (fewer than read when rows drop)
    n_missing = 0
    first_missing = None                    # (row, column) of the first missing value
    with Task(f"reading {Path(path).name}", total=src.n_rows, unit="rows",
              callback=progress) as task:
        for row, cols in src.batches(idx + extra):
            values = [_to_numpy(cols[j]) for j in idx]
            n = len(values[0][0])
            miss = np.zeros(n, dtype=bool)
            for jj, (_, m) in enumerate(values):
                if m is not None:
                    if first_missing is None:
                        first_missing = (row + int(np.flatnonzero(m)[0]), names[idx[jj]])
                    miss |= m
            if miss.any():
                n_missing += int(miss.sum())
                if missing == "error":      # go on only to count them
                    task.update(n)
                    continue
            good = None if not miss.any() else ~miss
            # file row of written row r: row + r, or rows_in[r] when rows were dropped
            rows_in = None if good is None else row + np.flatnonzero(good)
            k = n if good is None else len(rows_in)
            if missing == "drop":
                kept_parts.append((row, n, rows_in))      # the kept rows, made if any dropped
            for jj, (vals, _) in enumerate(values):
                j = idx[jj]
                if good is not None:
                    vals = vals[good]
                out = X[w:w + k, jj]
                np.copyto(out, vals, casting="unsafe")
                finite = np.isfinite(out)
                if not finite.all():
                    r = int(np.flatnonzero(~finite)[0])
                    v = vals[r]
                    what = "out of float32 range" if np.isfinite(v) else \
                        "not a finite number (NaN and inf are not allowed)"
                    at = row + r if rows_in is None else rows_in[r]
                    raise DataError(f"value {float(v)!r} in row {at + 1} is {what}",
                                    path=path, column=names[j])
                if not standardize and X.dtype != np.float32:    # float32 ends at 3.4e38
                    big = np.abs(out) > MAX_MAGNITUDE
                    if big.any():
                        r = int(np.flatnonzero(big)[0])
                        at = row + r if rows_in is None else rows_in[r]
                        raise DataError(
                            f"value {float(out[r]):g} in row {at + 1} is too large: "
                            f"beyond {MAX_MAGNITUDE:g} in magnitude the models' squares and sums "
                            "overflow; rescale the column or standardise the columns "
                            "(--standardize)", path=path, column=names[j])
            if id_name:
                t = _text_column(cols[position[id_name]], n)
                id_parts.append(t if good is None else t[good])
            if label_name:
                t = _text_column(cols[position[label_name]], n)
                label_parts.append(t if good is None else t[good])
            w += k
            task.update(n)

    kept = None
    if n_missing:
        r, column = first_missing
        if missing == "error":
            rows = "1 row has" if n_missing == 1 else f"{n_missing} rows have"
            raise MissingValuesError(
                f"missing value in row {r + 1}; {rows} missing values: drop them (--missing "
                "drop; in the window 'Drop rows with missing values') or fill them in",
                rows=n_missing, path=path, column=column)
        if w == 0:
            raise DataError(f"every row has a missing value ({', '.join(numeric)})", path=path)
        notes.append(f"dropped {n_missing} of {src.n_rows} rows with missing values")
        X = np.asfortranarray(X[:w])        # one copy, only when rows were dropped
        kept = np.concatenate([np.arange(r0, r0 + n) if rows is None else rows
                               for r0, n, rows in kept_parts])
    if id_name:
        ids = np.concatenate(id_parts)
        if any(v is None for v in ids) or len(set(ids)) != len(ids):
            notes.append(f"column {id_name!r} has repeated or missing values; rows are numbered "
                         "instead")
            ids = RowNumbers(src.n_rows) if kept is None else kept.astype(str)
        else:
            ids = ids.astype(str)
            notes.append(f"column {id_name!r} used as row ids")
    else:   # row ids keep the file's numbering when rows were dropped
        ids = RowNumbers(src.n_rows) if kept is None else kept.astype(str)
    y = np.concatenate(label_parts) if label_name else None
    if fmt != "npy":
        # the row groups' buffers went back to Arrow's allocator, which keeps them for reuse:
        # hand them back to the system so the table costs its matrix and no more
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    label_candidates, calendar_columns = ([], []) if wanted else \
        flag_columns(X, numeric, notes)
    offset = scale = None
    if standardize:
        offset, scale = _standardize_columns(X, numeric, notes)
    if X.dtype == np.float32 and dtype == "float32":
        notes.append("features kept as float32 (K-means and the Gaussian mixture accumulate in "
                     "float64; other models convert to float64)")
    return TableData(X=X, columns=numeric, ids=ids, labels=y, label_name=label_name, path=path,
                     sha256=sha.result(), standardized=bool(standardize), offset=offset,
                     scale=scale, notes=notes, text_columns=text_columns,
                     label_candidates=label_candidates, calendar_columns=calendar_columns)
