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

from explorer.data import pipeline as steps
from explorer.data.table import binary_format, regular_file
from explorer.data.types import DataError, TableData

SUFFIXES = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".feather": "feather",
    ".arrow": "feather",
    ".ipc": "feather",
    ".npy": "npy",
}
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
        return (
            (np.arange(self.n)[idx]).astype(str)
            if idx.size > self.n // 4
            else np.where(idx < 0, idx + self.n, idx).astype(str)
        )

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
    """ "parquet", "feather" or "npy" from the file name, else None (a text file)."""
    return SUFFIXES.get(Path(path).suffix.lower())


def _hash(path: str, stop=None) -> str | None:
    """The file's sha256, read in 1 MiB blocks; None when ``stop`` (an Event) is set first (the
    load failed: nobody waits for the hash of a 5 GB file that was refused)."""
    h = hashlib.sha256()
    buf = bytearray(1 << 20)  # one reused buffer: no copy of the file in memory
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
_FORMAT_NAMES = {
    "parquet": "a Parquet file",
    "feather": "a Feather (Arrow IPC) file",
    "npy": "a NumPy .npy array",
}


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
        raise DataError(
            "cannot read the file as Parquet: it does not end with the format's "
            "magic number (not a complete Parquet file: truncated, or still being "
            "written?)",
            path=path,
        )
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

                self.file = ipc.open_file(pa.OSFile(path, "r"))  # one batch read at a time
                schema = self.file.schema
                self.n_rows = sum(
                    self.file.get_batch(i).num_rows for i in range(self.file.num_record_batches)
                )
        except (pa.ArrowException, OSError, ValueError) as e:
            what = "Parquet" if fmt == "parquet" else "Feather (Arrow IPC)"
            raise DataError(f"cannot read the file as {what} ({e})", path=path) from None
        self.schema = schema
        self.names = [str(f.name) for f in schema]
        types = [f.type for f in schema]
        self.numeric = [
            pa.types.is_integer(t)
            or pa.types.is_floating(t)
            or pa.types.is_boolean(t)
            or pa.types.is_decimal(t)
            for t in types
        ]
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
            raise DataError(
                f"cannot read the file as a NumPy .npy array ({e})", path=path
            ) from None
        if dtype.hasobject:
            raise DataError(
                "cannot read the file as a NumPy .npy array (it holds Python "
                "objects, which would need pickle)",
                path=path,
            )
        if dtype.kind not in "biuf":
            raise DataError(f"the .npy array holds {dtype} values, not numbers", path=path)
        if len(shape) == 1:
            shape = (shape[0], 1)
        if len(shape) != 2:
            raise DataError(
                f"the .npy array has {len(shape)} dimensions; a table is 2-D (rows x columns)",
                path=path,
            )
        n_bytes = math.prod(shape) * dtype.itemsize
        size = os.stat(path).st_size
        if self.offset + n_bytes > size:
            raise DataError(
                f"the file is shorter than its header says: shape "
                f"{tuple(int(k) for k in shape)} of {dtype} is {n_bytes:,} bytes of "
                f"data, the file holds {size - self.offset:,} after its header",
                path=path,
            )
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
                if not self.fortran:  # rows one after the other: read the block
                    fh.seek(self.offset + a * D * item)
                    block = np.fromfile(fh, dtype=self.dtype, count=m * D)
                    if len(block) < m * D:
                        raise DataError(
                            "the .npy file is shorter than its header says", path=self.path
                        )
                    block = block.reshape(m, D)
                    yield a, {j: block[:, j] for j in columns}
                else:  # column-major: each column's slice
                    cols = {}
                    for j in columns:
                        fh.seek(self.offset + (j * n + a) * item)
                        cols[j] = np.fromfile(fh, dtype=self.dtype, count=m)
                        if len(cols[j]) < m:
                            raise DataError(
                                "the .npy file is shorter than its header says", path=self.path
                            )
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
                if unique:  # only the columns needed, found by name
                    t = self.file.read_row_group(g, columns=[self.names[j] for j in columns])
                    cols = {j: t.column(self.names[j]) for j in columns}
                else:  # repeated names: the whole row group, by position
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
        s = m if m > 1e100 else 1.0  # as the CSV loader: divide large columns first
        mean = (
            float(np.mean(col, dtype=np.float64) / s) * s
            if s == 1.0
            else float(np.mean(col / s, dtype=np.float64)) * s
        )
        var = float(np.mean((col / s - mean / s) ** 2, dtype=np.float64)) * s * s
        std = var**0.5
        offset[j] = mean
        if std == 0:
            flat.append(columns[j])
        else:
            scale[j] = std
        col -= np.asarray(mean, dtype=X.dtype)
        col /= np.asarray(scale[j], dtype=X.dtype)
    if flat:
        notes.append(
            "constant column(s) "
            + ", ".join(repr(c) for c in flat)
            + " left unscaled (zero variance)"
        )
    return offset, scale


def _check_options(path, dtype: str | None, missing: str) -> str:
    """Step 1 (columnar): the format from the file name, a known ``dtype`` and ``missing``."""
    fmt = format_of(path)
    if fmt is None:
        raise DataError("not a Parquet, Feather or .npy file", path=path)
    if dtype is not None and dtype not in DTYPES:
        raise DataError(f"unknown dtype {dtype!r} (expected float32 or float64)", path=path)
    steps.check_missing(missing, path)
    return fmt


def load_columnar(
    path,
    *,
    columns=None,
    labels=None,
    standardize: bool = False,
    dtype: str | None = None,
    missing: str = "error",
    progress=None,
) -> TableData:
    """Load a Parquet, Feather or ``.npy`` table (see the module docstring, and
    :mod:`explorer.data.pipeline` for the steps)."""
    fmt = _check_options(path, dtype, missing)
    _check_path(path, fmt)
    path = str(path)
    src = _Batches(path, fmt)  # the header or schema, checked before the hash starts
    pool = concurrent.futures.ThreadPoolExecutor(1)
    stop = threading.Event()
    sha = pool.submit(_hash, path, stop)
    try:
        choice = steps.column_choice(columns, labels, path)
        return _load(src, choice, standardize, dtype, missing, progress, sha)
    except BaseException:
        stop.set()  # a refused file: do not wait for its hash
        raise
    finally:
        pool.shutdown(wait=True)


def _numeric_columns(
    src: _Batches,
    names: list[str],
    feats: list[str],
    id_name: str | None,
    choice: steps.ColumnChoice,
    notes: list[str],
) -> tuple[list[str], list[str]]:
    """Step 6 (columnar): the feature columns of a numeric type, and the file's text columns
    (ground-truth candidates the window offers, as the CSV loader's). A text feature column is
    excluded with a note, or an error when picked."""
    path = src.path
    position = {c: j for j, c in enumerate(names)}  # names are unique
    numeric = []
    text_columns = [c for j, c in enumerate(names) if not src.numeric[j] and c != id_name]
    for c in feats:
        if src.numeric[position[c]]:
            numeric.append(c)
        elif choice.wanted:
            raise DataError("column is not numeric", path=path, column=c)
        else:
            notes.append(f"column {c!r} is not numeric; excluded from the features")
    if not numeric:
        raise steps.no_numeric_columns(notes, path)
    return numeric, text_columns


def _allocate(n_rows: int, n_cols: int, dtype: str, path: str) -> np.ndarray:
    """Step 6 (columnar): the feature matrix, column-major, allocated once (a clear error when
    memory is short)."""
    try:
        return np.empty((n_rows, n_cols), dtype=np.dtype(dtype), order="F")
    except MemoryError:
        need = n_rows * n_cols * np.dtype(dtype).itemsize
        raise DataError(
            f"not enough memory for the table: {n_rows:,} rows x {n_cols:,} "
            f"columns of {dtype} need {need / 1e9:.2f} GB"
            + (" (--dtype float32 halves it)" if dtype == "float64" else ""),
            path=path,
        ) from None


class _Reading:
    """Steps 6-8 (columnar): the feature matrix filled batch by batch (:meth:`add`), each batch
    checked as it is written (missing, non-finite and too large values), then the missing rows
    dropped or refused and the row ids and labels gathered (:meth:`finish`)."""

    def __init__(
        self,
        src: _Batches,
        names: list[str],
        numeric: list[str],
        id_name: str | None,
        label: str | None,
        *,
        dtype: str,
        missing: str,
        standardize: bool,
    ):
        position = {c: j for j, c in enumerate(names)}
        self.path, self.n_rows, self.names, self.numeric = src.path, src.n_rows, names, numeric
        self.id_name, self.label = id_name, label
        self.missing, self.standardize = missing, standardize
        self.idx = [position[c] for c in numeric]
        self.id_at = position.get(id_name)
        self.label_at = position.get(label)
        self.columns = self.idx + [position[c] for c in (id_name, label) if c]
        self.X = _allocate(src.n_rows, len(self.idx), dtype, src.path)
        self.id_parts: list[np.ndarray] = []
        self.label_parts: list[np.ndarray] = []
        self.kept_parts: list = []  # with missing="drop": which file rows were kept
        self.w = 0  # rows written (fewer than read when rows drop)
        self.n_missing = 0
        self.first_missing = None  # (row, column) of the first missing value

    def add(self, row: int, cols: dict) -> int:
        """Write the batch of rows starting at file row ``row``; returns how many it holds."""
        values = [_to_numpy(cols[j]) for j in self.idx]
        n = len(values[0][0])
        miss = self._missing(row, values, n)
        if miss.any():
            self.n_missing += int(miss.sum())
            if self.missing == "error":  # go on only to count them
                return n
        good = None if not miss.any() else ~miss
        # file row of written row r: row + r, or rows_in[r] when rows were dropped
        rows_in = None if good is None else row + np.flatnonzero(good)
        k = n if good is None else len(rows_in)
        if self.missing == "drop":
            self.kept_parts.append((row, n, rows_in))  # the kept rows, made if any dropped
        for jj, (vals, _) in enumerate(values):
            self._write(jj, vals if good is None else vals[good], row, rows_in, k)
        self._text_parts(cols, n, good)
        self.w += k
        return n

    def _missing(self, row: int, values: list, n: int) -> np.ndarray:
        """The batch's rows with a missing feature value; the first one is remembered."""
        miss = np.zeros(n, dtype=bool)
        for jj, (_, m) in enumerate(values):
            if m is not None:
                if self.first_missing is None:
                    self.first_missing = (row + int(np.flatnonzero(m)[0]), self.names[self.idx[jj]])
                miss |= m
        return miss

    def _write(self, jj: int, vals: np.ndarray, row: int, rows_in, k: int) -> None:
        """Copy a batch of feature ``jj`` into the matrix, then check it: finite, within the
        dtype's range and, unless standardising, at most ``MAX_MAGNITUDE``."""
        out = self.X[self.w : self.w + k, jj]
        np.copyto(out, vals, casting="unsafe")
        column = self.names[self.idx[jj]]

        def file_row(r: int) -> int:
            return (row + r if rows_in is None else rows_in[r]) + 1

        finite = np.isfinite(out)
        if not finite.all():
            r = int(np.flatnonzero(~finite)[0])
            v = vals[r]
            what = (
                "out of float32 range"
                if np.isfinite(v)
                else "not a finite number (NaN and inf are not allowed)"
            )
            raise DataError(
                f"value {float(v)!r} in row {file_row(r)} is {what}", path=self.path, column=column
            )
        if not self.standardize and self.X.dtype != np.float32:  # float32 ends at 3.4e38
            big = np.abs(out) > steps.MAX_MAGNITUDE
            if big.any():
                r = int(np.flatnonzero(big)[0])
                raise steps.too_large(
                    float(out[r]), at=f" in row {file_row(r)}", path=self.path, column=column
                )

    def _text_parts(self, cols: dict, n: int, good) -> None:
        """The batch's id and label cells, as strings."""
        for at, parts in ((self.id_at, self.id_parts), (self.label_at, self.label_parts)):
            if at is not None:
                t = _text_column(cols[at], n)
                parts.append(t if good is None else t[good])

    def finish(self, notes: list[str]):
        """``(X, ids, labels)`` once every batch is in: rows with a missing value refused or
        dropped (the matrix then copied once to its size), row ids keeping the file's
        numbering."""
        kept = self._drop_or_refuse(notes)
        ids = self._ids(kept, notes)
        y = np.concatenate(self.label_parts) if self.label else None
        return self.X, ids, y

    def _drop_or_refuse(self, notes: list[str]):
        """Step 7 (columnar): the file rows kept (None: all of them)."""
        if not self.n_missing:
            return None
        r, column = self.first_missing
        if self.missing == "error":
            raise steps.missing_values_error(
                f"missing value in row {r + 1}", self.n_missing, path=self.path, column=column
            )
        steps.dropped_rows(self.n_missing, self.n_rows, self.w, self.numeric, notes, self.path)
        self.X = np.asfortranarray(self.X[: self.w])  # one copy, only when rows dropped
        return np.concatenate(
            [np.arange(r0, r0 + n) if rows is None else rows for r0, n, rows in self.kept_parts]
        )

    def _ids(self, kept, notes: list[str]):
        """Step 8 (columnar): the id column's values, or the file's row numbers."""

        def numbered():
            return RowNumbers(self.n_rows) if kept is None else kept.astype(str)

        if not self.id_name:
            return steps.row_ids_from(None, None, False, numbered, notes)
        ids = np.concatenate(self.id_parts)
        valid = not any(v is None for v in ids) and len(set(ids)) == len(ids)
        return steps.row_ids_from(
            ids.astype(str) if valid else ids,
            self.id_name,
            valid,
            numbered,
            notes,
            problem="repeated or missing values",
        )


def _load(
    src: _Batches,
    choice: steps.ColumnChoice,
    standardize: bool,
    dtype: str | None,
    missing: str,
    progress,
    sha,
) -> TableData:
    """Steps 3-9 for a columnar file whose header or schema ``src`` has read."""
    from explorer.progress import Task

    path = src.path
    notes: list[str] = []
    if src.fmt == "npy" and choice.label:
        raise DataError(
            "a .npy array has no named columns, so no label column; save the table "
            "with its label column as Parquet or CSV",
            path=path,
        )
    names = steps.name_columns(src.names, choice, notes, path=path, where="file")
    if src.n_rows == 0:
        raise DataError("no data rows", path=path)
    steps.check_choice(names, choice, path)
    id_name = steps.id_column(names, choice) if src.fmt != "npy" else None
    feats = steps.feature_columns(names, choice, id_name)
    numeric, text_columns = _numeric_columns(src, names, feats, id_name, choice, notes)
    if dtype is None:
        position = {c: j for j, c in enumerate(names)}
        dtype = "float32" if all(src.float32[position[c]] for c in numeric) else "float64"
    reading = _Reading(
        src,
        names,
        numeric,
        id_name,
        choice.label,
        dtype=dtype,
        missing=missing,
        standardize=standardize,
    )
    with Task(
        f"reading {Path(path).name}", total=src.n_rows, unit="rows", callback=progress
    ) as task:
        for row, cols in src.batches(reading.columns):
            task.update(reading.add(row, cols))
    X, ids, y = reading.finish(notes)
    if src.fmt != "npy":
        # the row groups' buffers went back to Arrow's allocator, which keeps them for reuse:
        # hand them back to the system so the table costs its matrix and no more
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    data = steps.build_table(
        X,
        numeric,
        choice=choice,
        ids=ids,
        labels=y,
        path=path,
        sha256=sha.result(),
        standardize=standardize,
        standardizer=_standardize_columns,
        notes=notes,
        text_columns=text_columns,
    )
    if X.dtype == np.float32:
        notes.append(
            "features kept as float32 (K-means and the Gaussian mixture accumulate in "
            "float64; other models convert to float64)"
        )
    return data
